package ndis

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gondis/gondis/internal/enum"
)

// The reset engine: NdisMResetMiniport, MiniportResetEx and
// NdisMResetComplete, with the rules R1–R14 of docs/RESET.md.
//
// Per adapter a reset sub-state runs beside the operational state:
//
//	Idle ──request (CAS)──▶ Queued ──gate closed, senders out──▶ InMiniport ──Reset() returns──▶ Restoring ──▶ Idle
//	                                                              │  StatusPending                  ▲
//	                                                              └────▶ Pending ──ResetComplete────┘
//
// Requests only ever move Idle to Queued, with one compare-and-swap; the
// work goroutine does everything else.

// ResetCause says who asked for a reset.
type ResetCause uint8

// Reset causes.
const (
	CauseDriver     ResetCause = iota // the miniport called ResetMiniport
	CauseHang                         // CheckForHang returned true
	CauseOidTimeout                   // an OID pending at the miniport for two check-for-hang ticks
	CauseOperator                     // Runtime.ResetAdapter
	numCauses
)

var causeNames = [...]string{"driver", "hang", "oid-timeout", "operator"}

func (c ResetCause) String() string { return enum.Name(causeNames[:], c, "ResetCause") }

// ResetCauses lists every cause, in order.
func ResetCauses() []ResetCause {
	return []ResetCause{CauseDriver, CauseHang, CauseOidTimeout, CauseOperator}
}

type resetPhase uint32

const (
	resetIdle resetPhase = iota
	resetQueued
	resetInMiniport
	resetPending
	resetRestoring
)

// The phase word: the phase in the low byte, the queued cause above it.
const phaseMask = 0xFF

// Escalation is the policy that fails an adapter whose resets do not help
// (R9): after MaxConsecutiveFailures failed resets in a row, or more than
// MaxResets resets within Window, the adapter is failed and halted with
// HaltDeviceFailed. A zero field disables its test.
type Escalation struct {
	MaxConsecutiveFailures int
	MaxResets              int
	Window                 time.Duration
}

var defaultEscalation = Escalation{MaxConsecutiveFailures: 3, MaxResets: 20, Window: time.Minute}

const defaultResetTimeout = 10 * time.Second

// WithResetEscalation sets the escalation policy (default: 3 consecutive
// failures, or more than 20 resets in a minute).
func WithResetEscalation(e Escalation) Option { return func(c *config) { c.escalation = e } }

// WithResetTimeout sets how long a pending reset may take before the
// adapter is failed (R10; default 10 s).
func WithResetTimeout(d time.Duration) Option { return func(c *config) { c.resetTimeout = d } }

// resetShared is the part of the reset state read without the adapter lock.
type resetShared struct {
	phase    atomic.Uint32 // resetPhase | cause<<8
	halting  atomic.Bool   // a halt has begun: no new resets (R4)
	entered  atomic.Bool   // Reset() has been called and the reset has not completed
	counters [numCauses]causeCounters
	total    atomic.Uint64 // resets performed, for OIDGenResetCounts
}

type causeCounters struct {
	requested, coalesced, dropped, performed, failed atomic.Uint64
	last, max                                        atomic.Int64
}

// resetLocked is the part of the reset state guarded by the adapter lock.
type resetLocked struct {
	draining    bool // gate closed, waiting for senders already past it
	cause       ResetCause
	started     time.Time
	outstanding bool // Reset() was called and has not completed
	completed   bool // the completion is recorded below
	status      Status
	addressing  bool
	restore     []*oidEntry // restore requests not yet dispatched
	restoring   []*oidEntry // every restore request of this reset
	spare       []*oidEntry // restore requests of past resets, for reuse
	bound       []*Binding  // bindings that were told RESET_START
	timer       Timer
	gen         uint64 // which reset the timer is for
	timedOut    bool
	endPending  bool          // RESET_END is being delivered, off the work goroutine
	done        chan struct{} // closed at RESET_END, if a Bind waits on it
	failures    int           // consecutive failed resets
	history     []time.Time   // reset start times within the escalation window
	operator    []time.Time   // operator requests within the operator limit's window
	orphans     []*oidEntry   // OIDs given up after a reset (R7)
}

// ResetMiniport is NdisMResetMiniport: the miniport asks for a reset of its
// adapter. It returns at once; a work item calls the miniport's Reset later
// on the adapter's work goroutine. It never blocks and never calls the
// miniport, so it may be called from any goroutine, inside any miniport
// callback (Reset included), with the driver's own locks held (R1). A
// request while one is queued is coalesced into it; one while a reset runs
// is dropped (R3). Drivers below NDIS 6.30 may not call it (R2).
func (a *Adapter) ResetMiniport() {
	if a.afterHalt("ResetMiniport") {
		return
	}
	if a.driver.Version.Less(Version630) {
		a.reset.counters[CauseDriver].requested.Add(1)
		a.reset.counters[CauseDriver].dropped.Add(1)
		a.violate(RuleResetMiniportUnsupportedVersion, "driver %q is written for NDIS %s; NdisMResetMiniport needs 6.30", a.driver.Name, a.driver.Version)
		return
	}
	a.requestReset(CauseDriver)
}

// Errors of an operator reset that did not reach the adapter.
var (
	// ErrResetInProgress: a reset is running; the request was dropped (R3).
	ErrResetInProgress = errors.New("ndis: a reset is in progress; the request was dropped")
	// ErrResetRateLimited: the operator asked for more resets than the
	// limit allows (WithOperatorResetLimit); the request was dropped.
	ErrResetRateLimited = errors.New("ndis: too many operator resets; the request was dropped")
)

// ResetOutcome is what became of an operator's reset request.
type ResetOutcome uint8

// Reset outcomes.
const (
	ResetQueued    ResetOutcome = iota // a reset is queued for the request
	ResetCoalesced                     // a reset was queued already; the request joined it
	ResetDropped                       // a reset is running, or the limit is reached: nothing more will happen
)

var resetOutcomeNames = [...]string{"queued", "coalesced", "dropped"}

func (o ResetOutcome) String() string { return enum.Name(resetOutcomeNames[:], o, "ResetOutcome") }

// OperatorResetLimit bounds operator resets per adapter: at most Max
// within Window. Zero fields disable the limit.
type OperatorResetLimit struct {
	Max    int
	Window time.Duration
}

// WithOperatorResetLimit bounds operator resets (ResetAdapter) per adapter;
// by default there is no bound. Operator resets do not count toward
// escalation (R9), so a program that exposes resets to people or scripts
// (the gondis daemon does) sets one, lest an adapter be reset without
// pause.
func WithOperatorResetLimit(l OperatorResetLimit) Option {
	return func(c *config) { c.operatorLimit = l }
}

// ResetAdapter asks for a reset of the named adapter on an operator's
// behalf: the same path as ResetMiniport, with cause "operator". It returns
// nil once a reset is queued for the request (its own, or one queued
// already that it joined); ErrResetInProgress when a reset is running (the
// request is dropped, R3), ErrResetRateLimited beyond the operator limit,
// and another error when the adapter cannot be reset.
func (rt *Runtime) ResetAdapter(name string) error {
	_, err := rt.RequestReset(name)
	return err
}

// RequestReset is ResetAdapter that also says what became of the request:
// ResetQueued, ResetCoalesced (with a nil error: the adapter will be
// reset), or ResetDropped (with ErrResetInProgress or ErrResetRateLimited).
func (rt *Runtime) RequestReset(name string) (ResetOutcome, error) {
	a, err := rt.lookup(name)
	if err != nil {
		return ResetDropped, err
	}
	a.mu.Lock()
	capable, state := a.resetter != nil, a.state
	limited := !a.operatorResetAllowedLocked(rt.cfg.clock.Now())
	a.mu.Unlock()
	switch {
	case a.reset.halting.Load() || state == AdapterHalted || state == AdapterShutdown:
		return ResetDropped, fmt.Errorf("%w: %q", ErrAdapterHalted, name)
	case !capable && state != AdapterInitializing:
		return ResetDropped, fmt.Errorf("%w: adapter %q has no MiniportResetEx", ErrResetUnsupported, name)
	case limited:
		c := &a.reset.counters[CauseOperator]
		c.requested.Add(1)
		c.dropped.Add(1)
		l := rt.cfg.operatorLimit
		return ResetDropped, fmt.Errorf("%w: adapter %q takes %d within %s", ErrResetRateLimited, name, l.Max, l.Window)
	}
	switch o := a.requestReset(CauseOperator); o {
	case ResetDropped:
		if a.reset.halting.Load() { // halted between the checks above and the request
			return o, fmt.Errorf("%w: %q", ErrAdapterHalted, name)
		}
		return o, fmt.Errorf("%w: adapter %q", ErrResetInProgress, name)
	default:
		return o, nil
	}
}

// operatorResetAllowedLocked applies the operator limit and, when the
// request is allowed, counts it.
func (a *Adapter) operatorResetAllowedLocked(now time.Time) bool {
	l := a.rt.cfg.operatorLimit
	if l.Max <= 0 || l.Window <= 0 {
		return true
	}
	h := a.rs.operator
	i := 0
	for i < len(h) && now.Sub(h[i]) >= l.Window {
		i++
	}
	h = append(h[:0], h[i:]...)
	if len(h) >= l.Max {
		a.rs.operator = h
		return false
	}
	a.rs.operator = append(h, now)
	return true
}

// requestReset moves the reset state from Idle to Queued, or counts the
// request as coalesced or dropped (R3, R4). Lock-free.
func (a *Adapter) requestReset(cause ResetCause) ResetOutcome {
	c := &a.reset.counters[cause]
	c.requested.Add(1)
	st := a.State()
	if a.reset.halting.Load() || st == AdapterHalted || st == AdapterShutdown {
		c.dropped.Add(1)
		return ResetDropped
	}
	if a.reset.phase.CompareAndSwap(uint32(resetIdle), uint32(resetQueued)|uint32(cause)<<8) {
		a.kick()
		return ResetQueued
	}
	if resetPhase(a.reset.phase.Load()&phaseMask) == resetQueued {
		c.coalesced.Add(1)
		return ResetCoalesced
	}
	c.dropped.Add(1)
	return ResetDropped
}

// resetActiveLocked reports whether a reset has closed the gate: from the
// moment the work item starts until just before RESET_END.
func (a *Adapter) resetActiveLocked() bool { return a.gate.Load()&gateReset != 0 }

// resetBlocksOIDsLocked reports whether protocol OIDs are refused and held
// back: while a reset is active (R5).
func (a *Adapter) resetBlocksOIDsLocked() bool { return a.resetActiveLocked() }

// dropQueuedResetLocked abandons a reset that is queued but has not told
// anyone RESET_START: a halt has begun (R4).
func (a *Adapter) dropQueuedResetLocked() {
	for {
		p := a.reset.phase.Load()
		if resetPhase(p&phaseMask) != resetQueued {
			return
		}
		if a.reset.phase.CompareAndSwap(p, uint32(resetIdle)) {
			a.reset.counters[ResetCause(p>>8)].dropped.Add(1)
			break
		}
	}
	if a.rs.draining {
		a.rs.draining = false
		a.gate.And(^uint64(gateReset))
		a.releaseBindWaitersLocked()
	}
}

// resetDoneLocked returns a channel closed when the active reset ends, for
// a Bind to wait on; it is made only when someone waits.
func (a *Adapter) resetDoneLocked() <-chan struct{} {
	if a.rs.done == nil {
		a.rs.done = make(chan struct{})
	}
	return a.rs.done
}

func (a *Adapter) releaseBindWaitersLocked() {
	if a.rs.done != nil {
		close(a.rs.done)
		a.rs.done = nil
	}
}

// stepReset advances the reset engine on the work goroutine.
func (a *Adapter) stepReset() bool {
	p := a.reset.phase.Load()
	switch resetPhase(p & phaseMask) {
	case resetIdle:
		return false
	case resetQueued:
		return a.startReset(ResetCause(p >> 8))
	case resetInMiniport, resetPending:
		a.mu.Lock()
		switch {
		case a.rs.timedOut: // set only if the timer fired before the completion
			return a.resetTimedOutLocked()
		case a.rs.completed:
			return a.resetCompletedLocked()
		}
		a.mu.Unlock()
		return false
	case resetRestoring:
		a.mu.Lock()
		if a.rs.timedOut {
			return a.restoreTimedOutLocked()
		}
		for _, e := range a.rs.restoring {
			if !e.completed {
				a.mu.Unlock()
				return false // the restore request's completion kicks us
			}
		}
		return a.endResetLocked()
	}
	return false
}

// startReset runs the work item (R5): close the gate, wait for senders
// already past it, tell every binding RESET_START, call Reset().
func (a *Adapter) startReset(cause ResetCause) bool {
	a.mu.Lock()
	if a.reset.halting.Load() || a.resetter == nil || !a.state.servesOIDs() {
		a.dropQueuedResetLocked()
		a.mu.Unlock()
		return true
	}
	if a.rs.endPending {
		a.mu.Unlock()
		return false // the last RESET_END is still being delivered; its end kicks us
	}
	if !a.rs.draining {
		a.rs.draining = true
		a.rs.cause = cause
		a.rs.started = a.rt.cfg.clock.Now()
		a.gate.Or(gateReset)
	}
	if a.gate.Load()&gateSenderMask != 0 {
		a.mu.Unlock()
		return false // the last sender out kicks us
	}
	a.rs.draining = false
	a.reset.phase.Store(uint32(resetInMiniport))
	a.rs.outstanding, a.rs.completed, a.rs.timedOut = true, false, false
	// The open bindings: the snapshot is immutable, so it is kept as is. A
	// binding that closes from here on gets no indication any more, so
	// every binding told RESET_START is told RESET_END (R12).
	bound := *a.rx.bindings.Load()
	a.rs.bound = bound
	a.reset.counters[cause].performed.Add(1)
	a.reset.total.Add(1)
	a.mu.Unlock()

	// The work item is one wake-up, RESET_START and the call, nothing
	// more: its events are queued after Reset has been called.
	// Behind indications the miniport made before, if any: in their order.
	if it := (statusItem{code: StatusResetStart, bound: bound}); !a.deliverInline(it) {
		a.queueStatus(it)
	}

	a.reset.entered.Store(true)
	a.enterMiniport("MiniportResetEx")
	addressing, s := a.resetter.Reset()
	a.leaveMiniport()

	a.mu.Lock()
	a.events = append(a.events,
		Event{Time: a.rs.started, Kind: EventResetRequested, Cause: cause},
		Event{Time: a.rs.started, Kind: EventResetStart, Cause: cause})
	if s == StatusPending {
		if !a.rs.completed {
			a.reset.phase.Store(uint32(resetPending))
			a.events = append(a.events, Event{Kind: EventResetPending, Cause: cause})
			a.armResetTimerLocked()
		}
		a.mu.Unlock()
		return true
	}
	if !a.rs.outstanding {
		a.mu.Unlock()
		a.violate(RuleResetCompleteWithoutPending, "MiniportResetEx returned %s after calling ResetComplete", s)
		return true
	}
	a.reset.entered.Store(false)
	a.rs.outstanding, a.rs.completed = false, true
	a.rs.status, a.rs.addressing = s, addressing
	a.mu.Unlock()
	return true
}

// ResetComplete is NdisMResetComplete: the miniport finishes a reset whose
// Reset returned StatusPending. It never blocks. A call with no reset
// pending, or a second one, is reported and ignored (R6).
func (a *Adapter) ResetComplete(s Status, addressingReset bool) {
	if a.afterHalt("ResetComplete") {
		return
	}
	a.mu.Lock()
	if !a.rs.outstanding || !a.reset.entered.Load() {
		a.mu.Unlock()
		a.violate(RuleResetCompleteWithoutPending, "ResetComplete(%s) with no reset pending", s)
		return
	}
	if s == StatusPending {
		s = StatusFailure
	}
	a.reset.entered.Store(false)
	a.rs.outstanding, a.rs.completed = false, true
	a.rs.status, a.rs.addressing = s, addressingReset
	a.mu.Unlock()
	a.kick()
}

// armResetTimerLocked arms the reset timeout (R10) for the current reset.
func (a *Adapter) armResetTimerLocked() {
	d := a.rt.cfg.resetTimeout
	if d <= 0 || a.rs.timer != nil {
		return
	}
	gen := a.rs.gen
	a.rs.timer = a.rt.cfg.clock.AfterFunc(d, func() { a.resetTimerFired(gen) })
}

func (a *Adapter) stopResetTimerLocked() {
	if a.rs.timer != nil {
		a.rs.timer.Stop()
		a.rs.timer = nil
	}
}

// resetTimerFired marks the reset it was armed for as timed out; a timer
// that lost the race with its reset's end finds another generation.
func (a *Adapter) resetTimerFired(gen uint64) {
	a.mu.Lock()
	// A reset completed before its timer fired is in time, even when the
	// work goroutine, busy with an overlapping pause, has not seen the
	// completion yet.
	inTime := a.rs.completed && resetPhase(a.reset.phase.Load()&phaseMask) != resetRestoring
	if gen == a.rs.gen && !inTime {
		a.rs.timedOut = true
	}
	a.mu.Unlock()
	a.kick()
}

// resetTimedOutLocked gives up on a pending reset (R10): report it, end it
// with StatusDeviceFailed and fail the adapter.
func (a *Adapter) resetTimedOutLocked() bool {
	a.reset.entered.Store(false)
	a.rs.outstanding, a.rs.completed = false, true
	a.rs.status, a.rs.addressing = StatusDeviceFailed, false
	return a.timedOutLocked("the reset")
}

// timedOutLocked reports a reset time-out (R10), fails the adapter and ends
// the reset. Called with a.mu held; returns with it released.
func (a *Adapter) timedOutLocked(what string) bool {
	a.rs.timedOut, a.rs.timer = false, nil
	why := fmt.Sprintf("%s was not completed within %s", what, a.rt.cfg.resetTimeout)
	a.failLocked(why)
	a.mu.Unlock()
	a.violate(RuleResetTimeout, "%s", why)
	a.enqueueFailure()
	a.mu.Lock()
	return a.endResetLocked()
}

// restoreTimedOutLocked gives up on an addressing restore the miniport does
// not finish (R10): the request at the miniport is orphaned, the rest are
// dropped, the reset ends with StatusDeviceFailed and the adapter fails.
func (a *Adapter) restoreTimedOutLocked() bool {
	if e := a.oidActive; e != nil && e.b == nil {
		a.rs.orphans = append(a.rs.orphans, e)
		e.orphaned = true
		a.completeOidLocked(e, StatusRequestAborted)
	}
	for _, e := range a.rs.restoring {
		if !e.completed {
			a.completeOidLocked(e, StatusRequestAborted)
		}
	}
	a.rs.restore = nil
	a.rs.status = StatusDeviceFailed
	return a.timedOutLocked("the addressing restore")
}

// resetCompletedLocked checks the NDIS 6.30 rule (R7), then restores
// addressing (R8) or ends the reset.
func (a *Adapter) resetCompletedLocked() bool {
	a.stopResetTimerLocked()
	a.rs.gen++ // a timer of the reset phase that fires late finds another generation
	a.rs.timedOut = false
	var problems []string
	if n := a.inflight(); n != 0 {
		problems = append(problems, fmt.Sprintf("%d sends", n))
	}
	// A protocol's request or the runtime's own (a filter set again after
	// a binding closed): either way the miniport should have completed it.
	if e := a.oidActive; e != nil && e.dispatched {
		problems = append(problems, "OID "+e.req.OID.String())
		// Give the caller its answer; a late completion is accepted quietly.
		a.rs.orphans = append(a.rs.orphans, e)
		e.orphaned = true
		a.completeOidLocked(e, StatusRequestAborted)
	}
	if len(problems) != 0 && !a.driver.Version.Less(Version630) {
		a.mu.Unlock()
		a.violate(RuleResetPendingRequests, "the reset completed while the miniport still held %v", problems)
		a.mu.Lock()
	}
	if resetSucceeded(a.rs.status) && a.rs.addressing {
		a.rs.restoring = a.restoreRequestsLocked(a.rs.restoring[:0])
		a.rs.restore = a.rs.restoring // stepOID takes them from the front
		if n := len(a.rs.restore); n > 0 {
			// The restore is bounded too: its timer is armed when a request
			// of it goes pending at the miniport (stepOID).
			a.reset.phase.Store(uint32(resetRestoring))
			a.events = append(a.events, Event{Kind: EventResetRestore, Cause: a.rs.cause, Detail: restoreDetail(n)})
			a.mu.Unlock()
			return true
		}
	}
	return a.endResetLocked()
}

// resetSucceeded reports whether a reset status means the adapter works.
func resetSucceeded(s Status) bool { return s == StatusSuccess || s == StatusSoftErrors }

// restoreRequestsLocked builds the sets that put addressing back (R8), in
// NDIS's order: packet filter, multicast list, offload encapsulation,
// wake-up patterns, then the lookahead.
// The entries and buffers of a completed restore are kept for the next one
// (not those the miniport may still hold), so a reset allocates nothing
// for its restore in steady state.
func (a *Adapter) restoreRequestsLocked(es []*oidEntry) []*oidEntry {
	c := &a.cache
	add := func(oid OID) *oidEntry {
		var e *oidEntry
		if n := len(a.rs.spare); n > 0 {
			e, a.rs.spare = a.rs.spare[n-1], a.rs.spare[:n-1]
			*e = oidEntry{req: OidRequest{Buffer: e.req.Buffer[:0]}}
		} else {
			e = new(oidEntry)
		}
		e.req.Type, e.req.OID = RequestSet, oid
		es = append(es, e)
		return e
	}
	if c.packetFilterSet {
		e := add(OIDGenCurrentPacketFilter)
		e.req.Buffer = binary.LittleEndian.AppendUint32(e.req.Buffer, c.packetFilter)
	}
	if c.multicastSet {
		e := add(OID8023MulticastList)
		for _, m := range c.multicast {
			e.req.Buffer = append(e.req.Buffer, m[:]...)
		}
	}
	if c.offload != nil {
		e := add(OIDOffloadEncapsulation)
		e.req.Buffer = append(e.req.Buffer, c.offload...)
	}
	for _, p := range c.wakePatterns {
		e := add(OIDPnpAddWakeUpPattern)
		e.req.Buffer = append(e.req.Buffer, p...)
	}
	if c.lookahead != nil {
		e := add(OIDGenCurrentLookahead)
		e.req.Buffer = append(e.req.Buffer, c.lookahead...)
	}
	return es
}

// restoreDetail is the detail of an EventResetRestore: how many requests.
func restoreDetail(n int) string {
	if n < len(restoreDetails) {
		return restoreDetails[n]
	}
	return strconv.Itoa(n) + " addressing requests"
}

var restoreDetails = [...]string{"0 addressing requests", "1 addressing request", "2 addressing requests",
	"3 addressing requests", "4 addressing requests", "5 addressing requests", "6 addressing requests"}

// endResetLocked finishes a reset (R8, R9): count it, reopen the gate, tell
// every binding RESET_END with the final status, and escalate when resets
// keep failing. Called with a.mu held; returns with it released.
func (a *Adapter) endResetLocked() bool {
	status := a.rs.status
	for _, e := range a.rs.restoring {
		if e.status != StatusSuccess && resetSucceeded(status) {
			status = e.status // addressing was not restored: the reset failed
		}
	}
	for _, e := range a.rs.restoring {
		if !e.orphaned { // the miniport may still hold an orphan
			a.rs.spare = append(a.rs.spare, e)
		}
	}
	clear(a.rs.restoring)
	a.rs.restoring, a.rs.restore = a.rs.restoring[:0], nil
	now := a.rt.cfg.clock.Now()
	dur := now.Sub(a.rs.started)
	cause := a.rs.cause
	c := &a.reset.counters[cause]
	c.last.Store(int64(dur))
	if int64(dur) > c.max.Load() {
		c.max.Store(int64(dur))
	}
	failed := !resetSucceeded(status)
	if failed {
		c.failed.Add(1)
	}
	// Operator resets do not count toward escalation: a script that resets
	// often must not fail a healthy adapter (they are rate-limited instead).
	escalate := ""
	if cause != CauseOperator {
		if failed {
			a.rs.failures++
		} else {
			a.rs.failures = 0
		}
		escalate = a.escalateLocked(now)
	}
	if escalate != "" {
		// Failed before the gate reopens: nothing more reaches the miniport.
		a.failLocked(escalate)
	}

	a.stopResetTimerLocked()
	a.rs.gen++
	bound := a.rs.bound
	a.rs.bound = nil
	a.reset.phase.Store(uint32(resetIdle))
	a.gate.And(^uint64(gateReset))
	a.releaseBindWaitersLocked()
	a.events = append(a.events, Event{Kind: EventResetEnd, Cause: cause, Status: status, Duration: dur})
	if escalate != "" {
		a.events = append(a.events, Event{Kind: EventResetEscalated, Cause: cause, Status: status, Detail: escalate})
	}
	// RESET_END goes out from the work goroutine, as RESET_START does,
	// unless indications are queued ahead of it; a protocol may resume
	// from its handler, blocking OID requests included, which the work
	// goroutine then serves inline (see serveInline). The next RESET_START
	// waits for its delivery (R12).
	a.rs.endPending = true
	a.mu.Unlock()
	a.flushEvents()
	it := statusItem{code: StatusResetEnd, payload: Ulong(uint32(status)), bound: bound, endOfReset: true}
	if !a.deliverInline(it) {
		a.queueStatus(it)
	}
	if escalate != "" {
		a.enqueueFailure()
	}
	return true
}

// resetEndDelivered runs once every binding told RESET_START has been
// told RESET_END: the next reset, a Bind and a removal may go on (R12).
func (a *Adapter) resetEndDelivered() {
	a.mu.Lock()
	a.rs.endPending = false
	a.releaseBindWaitersLocked()
	a.mu.Unlock()
	a.kick()
}

// escalateLocked applies the escalation policy (R9) and says why the adapter
// must fail, or "".
func (a *Adapter) escalateLocked(now time.Time) string {
	e := a.rt.cfg.escalation
	if e.MaxConsecutiveFailures > 0 && a.rs.failures >= e.MaxConsecutiveFailures {
		return fmt.Sprintf("%d consecutive resets failed", a.rs.failures)
	}
	if e.MaxResets > 0 && e.Window > 0 {
		h := append(a.rs.history, a.rs.started)
		i := 0
		for i < len(h) && now.Sub(h[i]) > e.Window {
			i++
		}
		a.rs.history = append(h[:0], h[i:]...)
		if len(a.rs.history) > e.MaxResets {
			return fmt.Sprintf("%d resets within %s", len(a.rs.history), e.Window)
		}
	}
	return ""
}

// resetCount is the number of resets performed, for OIDGenResetCounts.
func (a *Adapter) resetCount() uint64 { return a.reset.total.Load() }

func (a *Adapter) resetStats() map[ResetCause]ResetCounters {
	m := make(map[ResetCause]ResetCounters, numCauses)
	for i := range a.reset.counters {
		c := &a.reset.counters[i]
		m[ResetCause(i)] = ResetCounters{
			Requested:    c.requested.Load(),
			Coalesced:    c.coalesced.Load(),
			Dropped:      c.dropped.Load(),
			Performed:    c.performed.Load(),
			Failed:       c.failed.Load(),
			LastDuration: time.Duration(c.last.Load()),
			MaxDuration:  time.Duration(c.max.Load()),
		}
	}
	return m
}
