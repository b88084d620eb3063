package ndis

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Adapter is a miniport adapter: the handle NDIS passes to
// MiniportInitializeEx (MiniportAdapterHandle) and what the runtime manages
// for it. Every method a miniport calls on it may be called from any
// goroutine, inside any miniport callback, and none of them waits for the
// adapter's work goroutine. ResetMiniport, PauseComplete, RestartComplete,
// ResetComplete, OidRequestComplete and RemoveMiniport never call back into
// the driver and may be called with its locks held; the indications and
// SendNetBufferListsComplete may (a rejected receive goes straight back
// through ReturnNetBufferLists, a completion may make a protocol send
// again), so a driver does not hold its send or return locks across them.
type Adapter struct {
	rt     *Runtime
	name   string
	driver *MiniportDriver
	params map[string]string

	// Set once by Initialize, before the adapter leaves Initializing.
	mp       Miniport
	resetter Resetter
	hang     HangChecker

	// The datapath reads these without locks.
	gate   atomic.Uint64 // see datapath.go
	rx     rxState
	halted atomic.Bool // Halt returned: every handle call is a violation
	stats  adapterCounters
	snap   atomic.Uint32 // AdapterState, for State() and ResetMiniport
	reset  resetShared   // see reset.go

	wake chan struct{} // "there is work": capacity 1, never blocks a sender
	done chan struct{} // closed when the work goroutine has exited

	mu         sync.Mutex
	state      AdapterState
	ops        []*lifeOp // life-cycle requests not yet started
	op         *lifeOp   // the one in progress
	registered bool
	hangPeriod time.Duration
	general    GeneralAttributes
	generalSet bool
	link       LinkState
	bindings   []*Binding
	oidq       []*oidEntry // protocol OIDs not yet dispatched, FIFO
	oidActive  *oidEntry   // the one OID at the miniport
	oidDone    oidCompletions
	status     statusQueue  // indications on their way to protocols; see indicate.go
	wd         adapterWatch // see watchdog.go
	// handlerOnWork: the work goroutine is running protocol handlers
	// (RESET_START, RESET_END, UnbindAdapter), so a blocking OidRequest may
	// come from it and must be served inline (serveInline).
	handlerOnWork atomic.Bool
	cache         addressingCache
	rs            resetLocked // see reset.go
	watch         sendWatch   // see hang.go
	hangTimer     Timer
	tickDue       bool
	events        []Event // emitted by the work goroutine after unlocking
	eventSpare    []Event // the other event buffer, while events fills
	exiting       bool
	// Completion bookkeeping for the miniport's asynchronous answers.
	pauseOutstanding   bool
	pauseDone          bool
	restartOutstanding bool
	restartDone        bool
	restartStatus      Status
	removeRequested    bool   // RemoveMiniport or escalation: fail the adapter
	failureQueued      bool   // its removal is queued
	failure            string // why the adapter failed; "" while it has not
}

func newAdapter(rt *Runtime, name string, d *MiniportDriver, params map[string]string) *Adapter {
	a := &Adapter{
		rt:         rt,
		name:       name,
		driver:     d,
		params:     params,
		wake:       make(chan struct{}, 1),
		done:       make(chan struct{}),
		hangPeriod: defaultCheckForHangPeriod,
		general:    GeneralAttributes{MtuSize: defaultMTU, MaxMulticastListSize: defaultMaxMulticastList},
	}
	a.gate.Store(gateSendClosed | gateRecvClosed)
	a.rx.bindings.Store(&[]*Binding{})
	return a
}

// Name returns the adapter's name.
func (a *Adapter) Name() string { return a.name }

// Driver returns the name of the adapter's miniport driver.
func (a *Adapter) Driver() string { return a.driver.Name }

// MiniportContext returns the Miniport that Initialize returned for this
// adapter (NDIS's MiniportAdapterContext), or nil before Initialize has
// returned or when it failed. A driver package uses it to reach its own
// state from an *Adapter, with no table of its own.
func (a *Adapter) MiniportContext() Miniport {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.mp
}

// State returns the adapter's operational state.
func (a *Adapter) State() AdapterState { return AdapterState(a.snap.Load()) }

// Done is closed once the adapter has been halted (or failed to initialize)
// and its work goroutine has exited.
func (a *Adapter) Done() <-chan struct{} { return a.done }

// kick wakes the work goroutine. It never blocks.
func (a *Adapter) kick() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// afterHalt reports (and flags as a violation) a handle call made after
// Halt returned.
func (a *Adapter) afterHalt(call string) bool {
	if !a.halted.Load() {
		return false
	}
	a.violate(RuleCallAfterHalt, "%s after MiniportHaltEx returned", call)
	return true
}

// setStateLocked moves the adapter to a new operational state and sets the
// datapath gate to match.
func (a *Adapter) setStateLocked(to AdapterState) {
	from := a.state
	if !legalTransition(from, to) {
		// A runtime bug, never a driver's: log it loudly and go on.
		a.rt.log.Error("ndis: illegal adapter state transition", slog.String("adapter", a.name),
			slog.String("from", from.String()), slog.String("to", to.String()))
	}
	a.state = to
	a.snap.Store(uint32(to))
	switch to {
	case AdapterRunning:
		a.gate.And(^uint64(gateSendClosed | gateRecvClosed))
	case AdapterPausing:
		a.gate.Or(gateSendClosed)
		a.gate.And(^uint64(gateRecvClosed))
	default:
		a.gate.Or(gateSendClosed | gateRecvClosed)
	}
	a.events = append(a.events, Event{Kind: EventState, State: to, Detail: from.String() + " -> " + to.String()})
}

// --- life-cycle operations ---------------------------------------------

type opKind uint8

const (
	opInitialize opKind = iota
	opPause
	opRestart
	opRemove // pause if running, unbind, halt
	opShutdown
)

var opNames = [...]string{"initialize", "pause", "restart", "remove", "shutdown"}

// lifeOp is one life-cycle request, run by the work goroutine in phases.
type lifeOp struct {
	kind   opKind
	action HaltAction
	phase  int
	done   chan error // capacity 1
}

// enqueue queues a life-cycle request; removal requests of a failed adapter
// go first. It never blocks.
func (a *Adapter) enqueue(op *lifeOp) {
	a.mu.Lock()
	if a.exiting {
		a.mu.Unlock()
		op.done <- fmt.Errorf("%w: %q", ErrAdapterHalted, a.name)
		return
	}
	if op.kind == opRemove && op.action == HaltDeviceFailed {
		a.ops = append([]*lifeOp{op}, a.ops...)
	} else {
		a.ops = append(a.ops, op)
	}
	a.mu.Unlock()
	a.kick()
}

// submit queues a life-cycle request and waits for it, or for ctx.
func (a *Adapter) submit(ctx context.Context, op *lifeOp) error {
	op.done = make(chan error, 1)
	a.enqueue(op)
	select {
	case err := <-op.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run is the adapter's work goroutine: NDIS's work queue for this adapter.
// It runs Initialize, Pause, Restart, Halt, Reset, CheckForHang and OID
// dispatch one at a time, and never blocks on an asynchronous completion:
// a pending operation stays parked in the adapter's state until its
// completion call kicks the goroutine again.
func (a *Adapter) run() {
	defer close(a.done)
	a.wd.mu.Lock()
	a.wd.goid = goroutineID() // for the watchdog's report and onWorkGoroutine
	a.wd.mu.Unlock()
	for range a.wake {
		for a.step() {
		}
		if a.finished() {
			return
		}
	}
}

// step makes one piece of progress and reports whether it did.
func (a *Adapter) step() bool {
	progressed := a.stepReset() || a.stepTick() || a.stepLifecycle() || a.stepOID()
	a.flushEvents()
	return progressed
}

// flushEvents emits the events queued under the lock. Work goroutine only;
// the two event buffers take turns, so steady state allocates nothing.
func (a *Adapter) flushEvents() {
	a.mu.Lock()
	evs := a.events
	if len(evs) == 0 {
		a.mu.Unlock()
		return
	}
	a.events, a.eventSpare = a.eventSpare, nil
	a.mu.Unlock()
	for _, ev := range evs {
		a.emit(ev)
	}
	clear(evs)
	a.mu.Lock()
	a.eventSpare = evs[:0]
	a.mu.Unlock()
}

// stepLifecycle advances the life-cycle operation in progress, or starts
// the next one.
func (a *Adapter) stepLifecycle() bool {
	a.mu.Lock()
	if a.op == nil {
		if len(a.ops) == 0 {
			a.mu.Unlock()
			return false
		}
		a.op = a.ops[0]
		a.ops = a.ops[1:]
	}
	op := a.op
	switch op.kind {
	case opInitialize:
		return a.initializeLocked(op)
	case opPause:
		return a.pauseLocked(op)
	case opRestart:
		return a.restartLocked(op)
	case opRemove:
		return a.removeLocked(op)
	case opShutdown:
		return a.shutdownLocked(op)
	}
	a.mu.Unlock()
	return false
}

// finishOpLocked ends the operation in progress with err.
func (a *Adapter) finishOpLocked(err error) {
	if a.op != nil {
		a.op.done <- err
		a.op = nil
	}
}

func (a *Adapter) stateError(op *lifeOp) error {
	return fmt.Errorf("%w: cannot %s adapter %q in state %s", ErrInvalidState, opNames[op.kind], a.name, a.state)
}

// initializeLocked runs MiniportInitializeEx. Called with a.mu held; returns
// with it released.
func (a *Adapter) initializeLocked(op *lifeOp) bool {
	if a.state != AdapterHalted || a.mp != nil {
		a.finishOpLocked(a.stateError(op))
		a.mu.Unlock()
		return true
	}
	a.setStateLocked(AdapterInitializing)
	a.mu.Unlock()
	a.flushEvents()

	a.enterMiniport("MiniportInitializeEx")
	mp, err := a.driver.Initialize(a, InitParameters{Name: a.name, Params: a.params})
	a.leaveMiniport()
	if err == nil && mp == nil {
		err = fmt.Errorf("%w: Initialize returned no Miniport", StatusFailure)
	}

	a.mu.Lock()
	if err != nil {
		a.setStateLocked(AdapterHalted)
		a.exiting = true
		a.finishOpLocked(fmt.Errorf("MiniportInitializeEx of %q failed: %w", a.driver.Name, err))
		a.mu.Unlock()
		return true
	}
	a.mp = mp
	a.resetter, _ = mp.(Resetter)
	a.hang, _ = mp.(HangChecker)
	a.setStateLocked(AdapterPaused)
	a.armTickLocked()
	a.finishOpLocked(nil)
	a.mu.Unlock()
	return true
}

// pauseLocked runs a pause: close the send gate, wait for senders inside it,
// call MiniportPause, wait for its completion and for every send to be
// completed. Called with a.mu held; returns with it released.
func (a *Adapter) pauseLocked(op *lifeOp) bool {
	switch op.phase {
	case 0:
		if a.state != AdapterRunning {
			a.finishOpLocked(a.stateError(op))
			a.mu.Unlock()
			return true
		}
		a.setStateLocked(AdapterPausing)
		op.phase = 1
		a.mu.Unlock()
		return true
	case 1:
		if a.gate.Load()&gateSenderMask != 0 {
			a.mu.Unlock()
			return false // the last sender out kicks us
		}
		a.pauseOutstanding, a.pauseDone = true, false
		op.phase = 2
		a.mu.Unlock()
		a.enterMiniport("MiniportPause")
		s := a.mp.Pause()
		a.leaveMiniport()
		a.mu.Lock()
		switch {
		case s == StatusPending:
			if a.pauseOutstanding {
				a.pendingOp("MiniportPause")
			}
		case !a.pauseOutstanding:
			a.mu.Unlock()
			a.violate(RulePauseCompleteWithoutPending, "MiniportPause returned %s after calling PauseComplete", s)
			return true
		default:
			if s != StatusSuccess {
				a.mu.Unlock()
				a.violate(RuleInvalidCall, "MiniportPause returned %s; a pause cannot fail", s)
				a.mu.Lock()
			}
			a.pauseOutstanding, a.pauseDone = false, true
		}
		a.mu.Unlock()
		if s != StatusPending {
			a.checkPauseReceives()
		}
		return true
	default:
		// NDIS: a pause completes once every send is completed and every
		// receive indication is back.
		if !a.pauseDone || a.inflight() != 0 || a.rxHeld() != 0 {
			a.mu.Unlock()
			return false // PauseComplete, the last send completion or the last return kicks us
		}
		a.pauseDone = false
		a.setStateLocked(AdapterPaused)
		a.finishOpLocked(nil)
		a.mu.Unlock()
		return true
	}
}

// PauseComplete is NdisMPauseComplete.
func (a *Adapter) PauseComplete() {
	if a.afterHalt("PauseComplete") {
		return
	}
	a.mu.Lock()
	if !a.pauseOutstanding {
		a.mu.Unlock()
		a.violate(RulePauseCompleteWithoutPending, "PauseComplete with no pause pending")
		return
	}
	a.pauseOutstanding, a.pauseDone = false, true
	a.mu.Unlock()
	a.pendingOp("")
	a.checkPauseReceives()
	a.kick()
}

// checkPauseReceives reports a miniport that completes its pause while
// protocols still hold NBLs it indicated: NDIS has it wait for them. The
// runtime waits for them anyway before the adapter is Paused.
func (a *Adapter) checkPauseReceives() {
	if n := a.rxHeld(); n != 0 {
		a.violate(RulePauseReceivesOutstanding, "the pause completed with %d receive NBLs not yet returned", n)
	}
}

// restartLocked runs MiniportRestart. A restart waits for a reset in
// progress to end (a pause may overlap one; a restart does not, see
// docs/RESET.md). Called with a.mu held; returns with it released.
func (a *Adapter) restartLocked(op *lifeOp) bool {
	switch op.phase {
	case 0:
		if a.state != AdapterPaused {
			a.finishOpLocked(a.stateError(op))
			a.mu.Unlock()
			return true
		}
		if a.removeRequested {
			a.finishOpLocked(fmt.Errorf("%w: %q failed", ErrAdapterHalted, a.name))
			a.mu.Unlock()
			return true
		}
		if a.resetActiveLocked() {
			a.mu.Unlock()
			return false // RESET_END kicks us
		}
		a.setStateLocked(AdapterRestarting)
		a.restartOutstanding, a.restartDone = true, false
		op.phase = 1
		a.mu.Unlock()
		a.flushEvents()
		a.enterMiniport("MiniportRestart")
		s := a.mp.Restart()
		a.leaveMiniport()
		a.mu.Lock()
		switch {
		case s == StatusPending:
			if a.restartOutstanding {
				a.pendingOp("MiniportRestart")
			}
		case !a.restartOutstanding:
			a.mu.Unlock()
			a.violate(RuleRestartCompleteWithoutPending, "MiniportRestart returned %s after calling RestartComplete", s)
			return true
		default:
			a.restartOutstanding, a.restartDone, a.restartStatus = false, true, s
		}
		a.mu.Unlock()
		return true
	default:
		if !a.restartDone {
			a.mu.Unlock()
			return false
		}
		a.restartDone = false
		if s := a.restartStatus; s != StatusSuccess {
			a.setStateLocked(AdapterPaused)
			a.finishOpLocked(fmt.Errorf("ndis: MiniportRestart of %q failed: %w", a.name, s))
		} else if a.removeRequested {
			// Failed while restarting (R9): the miniport declared itself
			// dead, so its gate stays shut; the queued removal halts it.
			a.setStateLocked(AdapterPaused)
			a.finishOpLocked(fmt.Errorf("%w: %q failed while restarting", ErrAdapterHalted, a.name))
		} else {
			a.setStateLocked(AdapterRunning)
			a.finishOpLocked(nil)
		}
		a.mu.Unlock()
		return true
	}
}

// RestartComplete is NdisMRestartComplete.
func (a *Adapter) RestartComplete(s Status) {
	if a.afterHalt("RestartComplete") {
		return
	}
	a.mu.Lock()
	if !a.restartOutstanding {
		a.mu.Unlock()
		a.violate(RuleRestartCompleteWithoutPending, "RestartComplete(%s) with no restart pending", s)
		return
	}
	if s == StatusPending {
		s = StatusFailure
	}
	a.restartOutstanding, a.restartDone, a.restartStatus = false, true, s
	a.mu.Unlock()
	a.pendingOp("")
	a.kick()
}

// shutdownLocked runs MiniportShutdownEx, when the miniport has one.
func (a *Adapter) shutdownLocked(op *lifeOp) bool {
	if a.state != AdapterPaused && a.state != AdapterRunning {
		a.finishOpLocked(a.stateError(op))
		a.mu.Unlock()
		return true
	}
	a.beginHaltLocked()
	a.setStateLocked(AdapterShutdown)
	a.mu.Unlock()
	if sd, ok := a.mp.(Shutdowner); ok {
		a.enterMiniport("MiniportShutdownEx")
		sd.Shutdown(ShutdownPowerOff)
		a.leaveMiniport()
	}
	a.mu.Lock()
	a.finishOpLocked(nil)
	a.mu.Unlock()
	return true
}

// Shutdowner is the optional MiniportShutdownEx handler: put the device in
// a quiet state at once, without waiting for anything.
type Shutdowner interface {
	Shutdown(action ShutdownAction)
}

// ShutdownAction is NDIS_SHUTDOWN_ACTION.
type ShutdownAction uint32

// Shutdown actions.
const (
	ShutdownPowerOff ShutdownAction = 0
	ShutdownBugCheck ShutdownAction = 1
)

// removeLocked takes the adapter down: pause it if it runs, unbind every
// protocol, wait for a reset in progress (R13) and for outstanding OIDs,
// then call MiniportHaltEx. Called with a.mu held; returns with it
// released.
func (a *Adapter) removeLocked(op *lifeOp) bool {
	switch op.phase {
	case 0:
		a.beginHaltLocked()
		switch a.state {
		case AdapterRunning:
			a.ops = append([]*lifeOp{op}, a.ops...) // resume after the pause
			a.op = &lifeOp{kind: opPause, done: make(chan error, 1)}
			op.phase = 1
			a.mu.Unlock()
			return true
		case AdapterShutdown, AdapterHalted:
			op.phase = 2
		default:
			op.phase = 1
		}
		a.mu.Unlock()
		return true
	case 1:
		if a.resetActiveLocked() || a.rs.endPending {
			a.mu.Unlock()
			return false // protocols hear RESET_END before they are unbound
		}
		bs := append([]*Binding(nil), a.bindings...)
		op.phase = 2
		a.mu.Unlock()
		a.handlerOnWork.Store(true)
		for _, b := range bs {
			b.unbind()
		}
		a.handlerOnWork.Store(false)
		return true
	case 2:
		if a.resetActiveLocked() || a.oidActive != nil {
			a.mu.Unlock()
			return false // RESET_END or the OID's completion kicks us
		}
		a.failQueuedOIDsLocked(StatusClosing)
		if a.state != AdapterPaused && a.state != AdapterShutdown {
			// Never initialized: nothing to halt.
			a.exiting = true
			a.finishOpLocked(nil)
			a.mu.Unlock()
			return true
		}
		// After MiniportShutdownEx NDIS halts nothing, as the machine
		// stops; a gondis process goes on, so removal halts a shut-down
		// miniport too, to free its goroutines and devices (docs/RESET.md).
		op.phase = 3
		a.mu.Unlock()
		a.enterMiniport("MiniportHaltEx")
		a.mp.Halt(op.action)
		a.leaveMiniport()
		a.mu.Lock()
		a.halted.Store(true)
		a.setStateLocked(AdapterHalted)
		a.exiting = true
		a.finishOpLocked(nil)
		a.mu.Unlock()
		return true
	}
	a.mu.Unlock()
	return false
}

// beginHaltLocked marks the start of a halt: no reset is accepted from now
// on (R4) and a queued one is dropped.
func (a *Adapter) beginHaltLocked() {
	a.reset.halting.Store(true)
	a.dropQueuedResetLocked()
}

// finished reports whether the work goroutine should exit, and if so
// releases everything the adapter still holds.
func (a *Adapter) finished() bool {
	a.mu.Lock()
	if !a.exiting {
		a.mu.Unlock()
		return false
	}
	a.reset.halting.Store(true)
	if a.hangTimer != nil {
		a.hangTimer.Stop()
		a.hangTimer = nil
	}
	a.stopResetTimerLocked()
	if a.op != nil {
		a.finishOpLocked(nil)
	}
	ops := a.ops
	a.ops = nil
	a.failQueuedOIDsLocked(StatusClosing)
	bs := append([]*Binding(nil), a.bindings...)
	a.mu.Unlock()
	for _, op := range ops {
		if op.kind == opRemove {
			op.done <- nil // removed, as asked
		} else {
			op.done <- fmt.Errorf("%w: %q", ErrAdapterHalted, a.name)
		}
	}
	for _, b := range bs {
		b.closeNow()
	}
	a.flushEvents()
	a.mu.Lock()
	failed := a.failure != ""
	a.mu.Unlock()
	if !failed {
		a.rt.forget(a)
	}
	// A failed adapter stays listed, Halted, with its reason, until it is
	// removed or initialized again (Runtime.ReinitializeAdapter).
	return true
}

// FailureReason says why the adapter failed (RemoveMiniport, escalation,
// a reset or handler time-out), or "" when it has not. A failed adapter
// stays in Runtime.Adapters, Halted, until RemoveAdapter forgets it or
// ReinitializeAdapter replaces it.
func (a *Adapter) FailureReason() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.failure
}

// RemoveMiniport is NdisMRemoveMiniport: the miniport declares its adapter
// unrecoverable. The runtime stops accepting resets, then pauses, unbinds
// and halts the adapter with HaltDeviceFailed. It never blocks.
func (a *Adapter) RemoveMiniport() {
	if a.afterHalt("RemoveMiniport") {
		return
	}
	a.fail("the miniport called NdisMRemoveMiniport")
}

// fail takes a failed adapter down with HaltDeviceFailed, once.
func (a *Adapter) fail(why string) {
	a.mu.Lock()
	a.failLocked(why)
	a.mu.Unlock()
	a.enqueueFailure()
}

// failLocked marks the adapter failed: no resets, and no sends or protocol
// OIDs reach the miniport any more; enqueueFailure, after unlocking, then
// takes it down.
func (a *Adapter) failLocked(why string) {
	if a.removeRequested || a.exiting {
		return
	}
	a.removeRequested = true
	a.failure = why
	a.reset.halting.Store(true)
	a.dropQueuedResetLocked()
	a.gate.Or(gateSendClosed)
	a.failQueuedOIDsLocked(StatusClosing)
	a.events = append(a.events, Event{Kind: EventFailed, Detail: why})
}

// enqueueFailure queues the removal of a failed adapter, once.
func (a *Adapter) enqueueFailure() {
	a.mu.Lock()
	queue := a.removeRequested && !a.failureQueued && !a.exiting
	a.failureQueued = true
	a.mu.Unlock()
	if queue {
		a.enqueue(&lifeOp{kind: opRemove, action: HaltDeviceFailed, done: make(chan error, 1)})
	}
}

// IndicateStatus is NdisMIndicateStatusEx: the indication goes to every
// binding's Status handler, in the order the miniport made its
// indications, from a runtime goroutine: it only queues, so it never
// waits for a protocol (see indicate.go). The payload is copied. A
// StatusLinkState
// payload must be an NDIS_LINK_STATE; the runtime keeps the link state it
// carries for the general OIDs. A miniport must not indicate
// StatusResetStart or StatusResetEnd itself.
func (a *Adapter) IndicateStatus(code Status, payload []byte) {
	if a.afterHalt("IndicateStatus") {
		return
	}
	switch code {
	case StatusResetStart, StatusResetEnd:
		a.violate(RuleInvalidCall, "the miniport indicated %s; only NDIS indicates reset statuses", code)
		return
	case StatusLinkState:
		ls, s := ParseLinkState(payload)
		if s != StatusSuccess {
			a.violate(RuleInvalidCall, "StatusLinkState with a payload that is not an NDIS_LINK_STATE: %s", s)
			return
		}
		a.mu.Lock()
		changed := a.link.MediaConnectState != ls.MediaConnectState
		a.link = ls
		if changed {
			a.events = append(a.events, Event{Kind: EventLinkState, Detail: ls.MediaConnectState.String()})
		}
		a.mu.Unlock()
		if changed {
			a.kick()
		}
	}
	// The bindings open now hear it; one bound later does not.
	bound := *a.rx.bindings.Load()
	if bound == nil {
		bound = []*Binding{}
	}
	a.queueStatus(statusItem{code: code, payload: append([]byte(nil), payload...), bound: bound})
}

// Link returns the adapter's current link state: the general attributes'
// values, updated by every StatusLinkState indication.
func (a *Adapter) Link() LinkState {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.link
}

// MacAddress returns the adapter's current MAC address, or the zero address
// when the miniport set none.
func (a *Adapter) MacAddress() MacAddress {
	if m := a.rx.mac.Load(); m != nil {
		return *m
	}
	return MacAddress{}
}

// Bindings returns the adapter's open bindings.
func (a *Adapter) Bindings() []*Binding {
	return append([]*Binding(nil), *a.rx.bindings.Load()...)
}
