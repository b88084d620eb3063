package ndis

import (
	"bytes"
	"context"
	"encoding/binary"
	"slices"
	"time"
)

// OID requests go through one FIFO queue per adapter, with at most one
// request at the miniport at a time, as NDIS serialises them. The runtime
// answers some requests itself, as NDIS 6 does: the per-binding packet
// filter and multicast list, the general OIDs from the miniport's
// attributes, and OIDGenResetCounts.

// oidEntry is one OID request in the queue or at the miniport.
type oidEntry struct {
	b      *Binding    // nil for the runtime's own restore requests
	caller *OidRequest // the protocol's request; results are copied back
	req    OidRequest  // what the miniport is given
	kind   oidKind
	// For a binding's filter or multicast set: the half of its filter it
	// sets. The other half is read at commit, so two sets in flight never
	// undo each other.
	types     uint32
	multicast []MacAddress

	complete   func(*OidRequest, Status) // OidRequestAsync's completion, or nil
	done       chan struct{}             // closed when complete
	status     Status
	dispatched bool // handed to the miniport
	pending    bool // the miniport answered StatusPending
	completed  bool
	abandoned  bool // the caller was answered already (cancelled); the result goes nowhere
	orphaned   bool // given up after a reset while the miniport still holds it (R7)
	since      time.Time
	ticks      int  // check-for-hang ticks seen while pending
	overdue    bool // reported as NdisTimedOidComplete
}

type oidKind uint8

const (
	oidPlain oidKind = iota
	oidPacketFilter
	oidMulticast
)

// addressingCache holds the addressing OIDs last set successfully, which a
// reset with addressingReset restores (R8).
type addressingCache struct {
	packetFilter    uint32
	packetFilterSet bool
	multicast       []MacAddress
	multicastSet    bool
	offload         []byte
	wakePatterns    [][]byte
	lookahead       []byte
}

// OIDPnpRemoveWakeUpPattern removes a pattern added with
// OIDPnpAddWakeUpPattern.
const OIDPnpRemoveWakeUpPattern OID = 0xFD010104

// OidRequestAsync is NdisOidRequest, in NDIS's shape: it queues the
// request for the adapter and returns StatusPending, after which complete
// runs exactly once, from a runtime goroutine, when the request is
// complete (ProtocolOidRequestComplete); or it returns a final status at
// once and complete never runs: a request the runtime answers itself, a
// malformed one, StatusResetInProgress during a reset (R5), StatusClosing
// on a closed binding or a halting adapter.
//
// The runtime owns r until complete runs: then r's Buffer, BytesWritten
// and BytesNeeded hold the results. The miniport is given a copy, so a
// request given up with CancelOidRequest may be reused at once. It never
// blocks and may be called from any goroutine, inside any handler.
func (b *Binding) OidRequestAsync(r *OidRequest, complete func(r *OidRequest, s Status)) Status {
	if complete == nil {
		return StatusInvalidParameter
	}
	e, s := b.queueOid(r, complete)
	if e == nil {
		return s
	}
	return StatusPending
}

// OidRequest is OidRequestAsync for programs that wait: it blocks until
// the request is complete or ctx ends (then StatusRequestAborted, as
// CancelOidRequest). r's Buffer, BytesWritten and BytesNeeded receive the
// results. Inside a protocol handler use OidRequestAsync: a handler that
// waits for a request its own adapter cannot serve until the handler
// returns (a status indicated from MiniportRestart, say) waits until ctx
// ends.
func (b *Binding) OidRequest(ctx context.Context, r *OidRequest) Status {
	e, s := b.queueOid(r, nil)
	if e == nil {
		return s
	}
	if a := b.adapter; a.handlerOnWork.Load() && a.onWorkGoroutine() {
		return a.serveInline(ctx, e)
	}
	select {
	case <-e.done:
	case <-ctx.Done():
		if b.adapter.cancelOid(e) {
			return StatusRequestAborted
		}
		<-e.done
	}
	return e.status
}

// serveInline waits for a request made by a protocol handler that runs on
// the adapter's own work goroutine (RESET_START, RESET_END, UnbindAdapter):
// the goroutine that would serve the request is the one waiting, so it
// serves the OID queue itself until the request is complete or ctx ends.
// Nothing else of the adapter moves meanwhile, as with any handler that
// waits.
func (a *Adapter) serveInline(ctx context.Context, e *oidEntry) Status {
	defer a.kick() // the outer loop may have missed a wake-up taken here
	for {
		select {
		case <-e.done:
			return e.status
		default:
		}
		if a.stepOID() {
			continue
		}
		select {
		case <-e.done:
			return e.status
		case <-a.wake: // an OID completion, most likely
		case <-ctx.Done():
			if a.cancelOid(e) {
				return StatusRequestAborted
			}
			<-e.done
			return e.status
		}
	}
}

// CancelOidRequest is NdisCancelOidRequest: a request of the binding that
// has not completed completes at once with StatusRequestAborted (its
// completion runs). A request still queued never reaches the miniport; one
// the miniport holds finishes there, and its result is dropped. It reports
// whether it cancelled anything.
func (b *Binding) CancelOidRequest(r *OidRequest) bool {
	a := b.adapter
	a.mu.Lock()
	var e *oidEntry
	if x := a.oidActive; x != nil && x.caller == r && x.b == b {
		e = x
	}
	for _, x := range a.oidq {
		if x.caller == r && x.b == b {
			e = x
		}
	}
	a.mu.Unlock()
	return e != nil && a.cancelOid(e)
}

// queueOid checks a protocol's request, answers it when the runtime can,
// and otherwise queues it: it returns the queued entry, or nil and the
// final status.
func (b *Binding) queueOid(r *OidRequest, complete func(*OidRequest, Status)) (*oidEntry, Status) {
	if r == nil {
		return nil, StatusInvalidParameter
	}
	switch r.Type {
	case RequestQuery, RequestSet, RequestMethod:
	default:
		return nil, StatusInvalidParameter
	}
	r.BytesWritten, r.BytesNeeded = 0, 0
	a := b.adapter
	a.mu.Lock()
	if s := a.refuseOidLocked(b); s != StatusSuccess {
		a.mu.Unlock()
		return nil, s
	}
	if s, ok := a.answerLocked(b, r); ok {
		a.mu.Unlock()
		return nil, s
	}
	maxList := int(a.general.MaxMulticastListSize)
	a.mu.Unlock()
	// Decoding a set's list happens outside the lock: a long multicast
	// list must not stall the adapter.
	e, s := newOidEntry(b, r, maxList)
	if s != StatusSuccess {
		return nil, s
	}
	e.complete = complete
	a.mu.Lock()
	if s := a.refuseOidLocked(b); s != StatusSuccess { // again: the lock was let go
		a.mu.Unlock()
		return nil, s
	}
	if complete != nil {
		b.oids.Add(1) // until its completion has run: Close waits for it
	}
	a.oidq = append(a.oidq, e)
	a.mu.Unlock()
	a.kick()
	return e, StatusPending
}

// refuseOidLocked says why a binding's request cannot be queued now, or
// StatusSuccess: a closed binding or a halting adapter (StatusClosing), a
// reset (StatusResetInProgress, R5).
func (a *Adapter) refuseOidLocked(b *Binding) Status {
	switch {
	case b.closed.Load() || a.exiting || a.reset.halting.Load():
		return StatusClosing
	case a.resetBlocksOIDsLocked():
		return StatusResetInProgress
	}
	return StatusSuccess
}

// cancelOid gives up on a request that has not completed: a queued one
// leaves the queue; one at the miniport stays there, abandoned. Its caller
// hears StatusRequestAborted now. It reports whether the request was still
// incomplete.
func (a *Adapter) cancelOid(e *oidEntry) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e.completed || e.abandoned {
		return false
	}
	if i := slices.Index(a.oidq, e); i >= 0 {
		a.oidq = slices.Delete(a.oidq, i, i+1)
		a.completeOidLocked(e, StatusRequestAborted)
		return true
	}
	// At the miniport: the entry stays active until the miniport completes
	// it; the caller is answered now and hears nothing more.
	e.status, e.abandoned = StatusRequestAborted, true
	a.wakeCallerLocked(e)
	return true
}

// newOidEntry checks a protocol's request and makes the runtime's copy.
func newOidEntry(b *Binding, r *OidRequest, maxList int) (*oidEntry, Status) {
	e := &oidEntry{b: b, caller: r, done: make(chan struct{})}
	e.req = OidRequest{Type: r.Type, OID: r.OID, Buffer: bytes.Clone(r.Buffer)}
	if e.req.Buffer == nil {
		e.req.Buffer = []byte{}
	}
	if r.Type != RequestSet {
		return e, StatusSuccess
	}
	switch r.OID {
	case OIDGenCurrentPacketFilter:
		v, s := r.Ulong()
		if s != StatusSuccess {
			return nil, s
		}
		e.kind, e.types = oidPacketFilter, v
	case OID8023MulticastList:
		// A list longer than the miniport takes fails here, before any
		// work on it; the union of every binding's list is checked against
		// the same limit at dispatch.
		list, s := r.MulticastList(maxList)
		if s != StatusSuccess {
			return nil, s
		}
		e.kind, e.multicast = oidMulticast, dedupe(list)
	}
	return e, StatusSuccess
}

// dedupe returns the list without repeated addresses, in first-seen
// order, in linear time.
func dedupe(list []MacAddress) []MacAddress {
	out := make([]MacAddress, 0, len(list))
	seen := make(map[MacAddress]struct{}, len(list))
	for _, m := range list {
		if _, ok := seen[m]; !ok {
			seen[m] = struct{}{}
			out = append(out, m)
		}
	}
	return out
}

// answerLocked answers the requests NDIS answers itself.
func (a *Adapter) answerLocked(b *Binding, r *OidRequest) (Status, bool) {
	g := &a.general
	switch r.Type {
	case RequestQuery:
		switch r.OID {
		case OIDGenCurrentPacketFilter:
			return r.PutUlong(b.filter.Load().Types), true
		case OID8023MulticastList:
			return r.PutBytes(EncodeMulticastList(b.filter.Load().Multicast)), true
		case OIDGenResetCounts:
			return r.PutUlong(uint32(a.resetCount())), true
		case OIDGenMaximumFrameSize:
			return r.PutUlong(g.MtuSize), true
		case OIDGenMaximumTotalSize:
			return r.PutUlong(g.MtuSize + EthernetHeaderSize), true
		case OID8023MaximumListSize:
			return r.PutUlong(g.MaxMulticastListSize), true
		}
		if !a.generalSet {
			return 0, false
		}
		switch r.OID {
		case OIDGenMaximumLookahead, OIDGenCurrentLookahead:
			return r.PutUlong(g.LookaheadSize), true
		case OIDGenMacOptions:
			return r.PutUlong(g.MacOptions), true
		case OIDGenLinkSpeed:
			return r.PutUlong(uint32(min(a.link.XmitLinkSpeed/100, 0xFFFFFFFF))), true
		case OIDGenLinkSpeedEx:
			var buf [16]byte
			binary.LittleEndian.PutUint64(buf[:], a.link.XmitLinkSpeed)
			binary.LittleEndian.PutUint64(buf[8:], a.link.RcvLinkSpeed)
			return r.PutBytes(buf[:]), true
		case OIDGenMediaConnectStatus:
			state := uint32(1) // NdisMediaStateDisconnected
			if a.link.MediaConnectState == MediaConnectStateConnected {
				state = 0
			}
			return r.PutUlong(state), true
		case OIDGenMediaConnectStatusEx:
			return r.PutUlong(uint32(a.link.MediaConnectState)), true
		case OIDGenLinkState:
			return r.PutBytes(a.link.Marshal()), true
		case OID8023CurrentAddress:
			if g.CurrentMacAddress != (MacAddress{}) {
				return r.PutBytes(g.CurrentMacAddress[:]), true
			}
		case OID8023PermanentAddress:
			if g.PermanentMacAddress != (MacAddress{}) {
				return r.PutBytes(g.PermanentMacAddress[:]), true
			}
		}
	case RequestSet:
		if r.OID == OIDGenCurrentPacketFilter {
			if v, s := r.Ulong(); s == StatusSuccess && g.SupportedPacketFilters != 0 && v&^g.SupportedPacketFilters != 0 {
				return StatusNotSupported, true
			}
		}
	}
	return 0, false
}

// stepOID hands the next request to the miniport: the reset engine's
// restore requests first, then the protocols' queue. It runs on the work
// goroutine.
func (a *Adapter) stepOID() bool {
	a.mu.Lock()
	if a.oidActive != nil || !a.state.servesOIDs() {
		a.mu.Unlock()
		return false
	}
	var e *oidEntry
	switch {
	case len(a.rs.restore) > 0:
		e = a.rs.restore[0]
		a.rs.restore = a.rs.restore[1:]
	case len(a.oidq) > 0 && !a.resetBlocksOIDsLocked():
		e = a.oidq[0]
		a.oidq = a.oidq[1:]
	default:
		a.mu.Unlock()
		return false
	}
	if !a.prepareLocked(e) {
		a.mu.Unlock()
		return true // answered without the miniport
	}
	e.dispatched, e.since = true, a.rt.cfg.clock.Now()
	a.oidActive = e
	a.mu.Unlock()

	a.enterMiniportOID(e.req.OID)
	s := a.mp.OidRequest(&e.req)
	a.leaveMiniport()
	if s != StatusPending {
		a.checkOidResult(&e.req)
	}

	a.mu.Lock()
	switch {
	case s == StatusPending:
		if !e.completed {
			e.pending = true
			if e.b == nil && resetPhase(a.reset.phase.Load()&phaseMask) == resetRestoring {
				a.armResetTimerLocked() // a restore the miniport may never finish (R10)
			}
		}
		a.mu.Unlock()
	case e.completed:
		a.mu.Unlock()
		a.violate(RuleOidDoubleComplete, "%s returned %s after OidRequestComplete", e.req.OID, s)
	default:
		a.completeOidLocked(e, s)
		a.mu.Unlock()
	}
	return true
}

// prepareLocked turns a filter or multicast set into the set of the union
// of every binding's value; when that union is what the miniport already
// has, the request completes here. It reports whether the miniport must
// see the request.
func (a *Adapter) prepareLocked(e *oidEntry) bool {
	switch e.kind {
	case oidPacketFilter:
		var union uint32
		for _, b := range a.bindings {
			if b != e.b {
				union |= b.filter.Load().Types
			}
		}
		union |= e.types
		e.req.Buffer = Ulong(union) // what is cached on success
		if a.cache.packetFilterSet && union == a.cache.packetFilter {
			a.completeOidLocked(e, StatusSuccess)
			return false
		}
	case oidMulticast:
		var union []MacAddress
		for _, b := range a.bindings {
			if b != e.b {
				union = append(union, b.filter.Load().Multicast...)
			}
		}
		union = append(union, e.multicast...)
		union = dedupe(union)
		if len(union) > int(a.general.MaxMulticastListSize) {
			e.req.Buffer = nil // nothing to commit
			a.completeOidLocked(e, StatusMulticastFull)
			return false
		}
		e.req.Buffer = EncodeMulticastList(union)
		if a.cache.multicastSet && slices.Equal(union, a.cache.multicast) {
			a.completeOidLocked(e, StatusSuccess)
			return false
		}
	}
	return true
}

// OidRequestComplete is NdisMOidRequestComplete: the miniport finishes a
// request it answered StatusPending (or is answering inline).
func (a *Adapter) OidRequestComplete(r *OidRequest, s Status) {
	if a.afterHalt("OidRequestComplete") {
		return
	}
	if r != nil {
		a.checkOidResult(r)
	}
	a.mu.Lock()
	e := a.oidActive
	if e == nil || &e.req != r || e.completed {
		a.mu.Unlock()
		if e2 := a.orphanedOID(r); e2 {
			return
		}
		a.violate(RuleOidDoubleComplete, "OidRequestComplete for a request the miniport does not hold")
		return
	}
	if s == StatusPending {
		a.mu.Unlock()
		a.violate(RuleOidComplete, "%s completed with NDIS_STATUS_PENDING", r.OID)
		a.mu.Lock()
		s = StatusFailure
	}
	a.completeOidLocked(e, s)
	a.mu.Unlock()
	a.kick()
}

// checkOidResult reports a miniport's answer that claims more bytes than
// the request's buffer holds and cuts the claim to the buffer, so that no
// protocol slices past it.
func (a *Adapter) checkOidResult(r *OidRequest) {
	if r.BytesWritten > len(r.Buffer) || r.BytesWritten < 0 {
		a.violate(RuleInvalidCall, "%s answered with BytesWritten %d for a %d-byte buffer", r.OID, r.BytesWritten, len(r.Buffer))
		r.BytesWritten = min(max(r.BytesWritten, 0), len(r.Buffer))
	}
}

// orphanedOID reports whether r is a request the runtime gave up on after
// a reset (R7) and forgets it: its late completion is accepted quietly.
func (a *Adapter) orphanedOID(r *OidRequest) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, e := range a.rs.orphans {
		if &e.req == r {
			a.rs.orphans = slices.Delete(a.rs.orphans, i, i+1)
			return true
		}
	}
	return false
}

// completeOidLocked finishes a request: it commits what a successful set
// changes, records the status and wakes the caller.
func (a *Adapter) completeOidLocked(e *oidEntry, s Status) {
	if a.oidActive == e {
		a.oidActive = nil
	}
	e.completed = true
	if s == StatusSuccess && e.req.Type == RequestSet {
		a.commitLocked(e) // the miniport did it, whoever still listens
	}
	if e.abandoned {
		return // the caller has its answer (cancelOid), which stays as given
	}
	e.status = s
	if r := e.caller; r != nil && !e.orphaned {
		r.BytesWritten, r.BytesNeeded = e.req.BytesWritten, e.req.BytesNeeded
		if r.Type != RequestSet {
			n := min(max(e.req.BytesWritten, 0), len(r.Buffer), len(e.req.Buffer))
			copy(r.Buffer, e.req.Buffer[:n])
			r.BytesWritten = n
		}
	}
	a.wakeCallerLocked(e)
}

// wakeCallerLocked wakes the protocol whose request is answered: the
// waiting OidRequest, or OidRequestAsync's completion, which a runtime
// goroutine runs, in the order the requests were answered.
func (a *Adapter) wakeCallerLocked(e *oidEntry) {
	if e.done != nil {
		close(e.done)
	}
	if e.complete != nil {
		a.oidDone.push(e)
		if !a.oidDone.running {
			a.oidDone.running = true
			go a.deliverOidCompletions(a.oidDone.gen)
		}
	}
}

// oidCompletions are OidRequestAsync completions waiting for delivery, in
// the order the requests completed; guarded by the adapter lock.
type oidCompletions struct {
	q       []*oidEntry
	running bool      // a goroutine is delivering them
	gen     uint64    // bumped when a stuck delivery is abandoned
	cur     *oidEntry // the one being delivered
}

func (c *oidCompletions) push(e *oidEntry) { c.q = append(c.q, e) }

// deliverOidCompletions runs OidRequestAsync completions, in order, with
// no lock held, until none is left or its delivery is abandoned.
func (a *Adapter) deliverOidCompletions(gen uint64) {
	for {
		a.mu.Lock()
		c := &a.oidDone
		if c.gen != gen {
			a.mu.Unlock()
			return
		}
		if len(c.q) == 0 {
			c.running, c.cur = false, nil
			a.mu.Unlock()
			return
		}
		e := c.q[0]
		c.q[0] = nil
		c.q = c.q[1:]
		c.cur = e
		a.mu.Unlock()
		b := e.b
		b.calls.Add(1)
		e.complete(e.caller, e.status)
		b.leave()
		if b.oids.Add(-1) == 0 {
			b.maybeDone()
		}
	}
}

// abandonOidCompletions gives up on a delivery stuck in binding b's
// completion handler (the watchdog has torn b down): a new goroutine
// delivers the other bindings' completions.
func (a *Adapter) abandonOidCompletions(b *Binding) {
	a.mu.Lock()
	c := &a.oidDone
	if !c.running || c.cur == nil || c.cur.b != b {
		a.mu.Unlock()
		return
	}
	c.gen++
	c.cur = nil
	gen := c.gen
	a.mu.Unlock()
	go a.deliverOidCompletions(gen)
}

// commitLocked records the effect of a successful set.
func (a *Adapter) commitLocked(e *oidEntry) {
	c := &a.cache
	switch e.req.OID {
	case OIDGenCurrentPacketFilter:
		if len(e.req.Buffer) >= 4 {
			c.packetFilter, c.packetFilterSet = binary.LittleEndian.Uint32(e.req.Buffer), true
		}
	case OID8023MulticastList:
		if e.b == nil && e.kind == oidPlain {
			break // a restore sets again what is cached (R8)
		}
		if list, s := DecodeMulticastList(e.req.Buffer); s == StatusSuccess {
			c.multicast, c.multicastSet = list, true
		}
	case OIDOffloadEncapsulation:
		c.offload = bytes.Clone(e.req.Buffer)
	case OIDGenCurrentLookahead:
		c.lookahead = bytes.Clone(e.req.Buffer)
	case OIDPnpAddWakeUpPattern:
		if e.b != nil { // a restore re-adds what is cached already
			c.wakePatterns = append(c.wakePatterns, bytes.Clone(e.req.Buffer))
		}
	case OIDPnpRemoveWakeUpPattern:
		for i, p := range c.wakePatterns {
			if bytes.Equal(p, e.req.Buffer) {
				c.wakePatterns = slices.Delete(c.wakePatterns, i, i+1)
				break
			}
		}
	}
	if e.b != nil && e.kind != oidPlain {
		f := *e.b.filter.Load()
		if e.kind == oidPacketFilter {
			f.Types = e.types
		} else {
			f.Multicast = e.multicast
		}
		e.b.filter.Store(&f)
	}
	a.refreshHWLocked()
}

// refreshHWLocked finds the open binding whose filter is exactly what the
// miniport was given, if any (see rxState.hw).
func (a *Adapter) refreshHWLocked() {
	c := &a.cache
	var hw *PacketFilter
	if c.packetFilterSet {
		given := PacketFilter{Types: c.packetFilter, Multicast: c.multicast}
		for _, b := range a.bindings {
			if f := b.filter.Load(); !b.closed.Load() && f.sameAs(&given) {
				hw = f
				break
			}
		}
	}
	a.rx.hw.Store(hw)
}

// refilterLocked queues the runtime's own sets of the packet filter and
// multicast list after a binding with a filter of its own closed, so that
// the miniport stops receiving what nobody wants any more. The unions are
// computed when the requests reach the front of the queue, so that sets
// queued before them count.
func (a *Adapter) refilterLocked(gone *PacketFilter) {
	if gone.Types != 0 && a.cache.packetFilterSet {
		a.oidq = append(a.oidq, &oidEntry{kind: oidPacketFilter,
			req: OidRequest{Type: RequestSet, OID: OIDGenCurrentPacketFilter}})
	}
	if len(gone.Multicast) != 0 && a.cache.multicastSet {
		a.oidq = append(a.oidq, &oidEntry{kind: oidMulticast,
			req: OidRequest{Type: RequestSet, OID: OID8023MulticastList}})
	}
}

// failQueuedOIDsLocked completes every queued protocol request with s.
func (a *Adapter) failQueuedOIDsLocked(s Status) {
	for _, e := range a.oidq {
		a.completeOidLocked(e, s)
	}
	a.oidq = nil
}

// failBindingOIDsLocked completes the queued requests of one binding.
func (a *Adapter) failBindingOIDsLocked(b *Binding, s Status) {
	a.oidq = slices.DeleteFunc(a.oidq, func(e *oidEntry) bool {
		if e.b == b {
			a.completeOidLocked(e, s)
			return true
		}
		return false
	})
}
