package ndis

import (
	"sync"
	"sync/atomic"
)

// The datapath gate: one atomic word per adapter that every send batch
// reads once, on its way in.
//
//	bits  0–23  senders inside the gate (between the check and the
//	            return of MiniportSendNetBufferLists)
//	bit  56     sends closed: the adapter is not Running
//	bit  57     reset: a reset is starting or running
//	bit  58     receives closed: the adapter is neither Running nor Pausing
//
// A sender adds itself in one atomic add; if a closed bit is set it backs
// out and completes the batch inline. The work goroutine closes the gate
// with an atomic or, then waits for the sender count (a reset, a pause) to
// reach zero: the last sender out of a closed gate kicks it. NBLs in flight
// at the miniport are the difference of two counters, sent and completed;
// a completion that brings it to zero behind a closed gate kicks the work
// goroutine too (a pause, a halt wait for it).
const (
	gateSenderOne  = 1
	gateSenderMask = 1<<24 - 1
	gateSendClosed = 1 << 56
	gateReset      = 1 << 57
	gateRecvClosed = 1 << 58
	gateClosedMask = 0xFF << 56
)

// inflight returns how many NBLs the miniport holds: sent and not yet
// completed. Exact once the gate is closed and its senders are out.
func (a *Adapter) inflight() uint64 {
	completed := a.stats.sendCompleted.Load() // first: it never passes sent
	return a.stats.sentNBLs.Load() - completed
}

// rxHeld returns how many indicated NBLs protocols still hold: indicated
// without ReceiveFlagResources and not yet returned to the miniport. The
// counters are read so that the result is never too small.
func (a *Adapter) rxHeld() uint64 {
	returned := a.stats.rxReturned.Load()
	lent := a.stats.rxLent.Load()
	return a.stats.rxNBLs.Load() - lent - returned
}

// rxState is what the receive path reads without locks.
type rxState struct {
	bindings atomic.Pointer[[]*Binding] // copy-on-write, open bindings only
	mac      atomic.Pointer[MacAddress] // nil: no directed filtering
	// hw is the filter of the binding whose filter is exactly what the
	// miniport was last given (packet filter and multicast list), when
	// there is one: its receives need no filtering when the miniport
	// filters perfectly.
	hw     atomic.Pointer[PacketFilter]
	clones sync.Pool // *NetBufferList receive clones
}

// SendNetBufferLists is NdisSendNetBufferLists: it hands the chain to the
// miniport, or, when the adapter is not Running or is resetting, completes
// every NBL of it at once, inline, with StatusPaused or
// StatusResetInProgress (StatusClosing after Close). Every NBL comes back
// exactly once through the protocol's SendNetBufferListsComplete. Sends
// made while BindAdapter runs are held and reach the miniport once it has
// returned. It never blocks; it may be called from any goroutine,
// including inside the protocol's own callbacks.
func (b *Binding) SendNetBufferLists(l *NetBufferList) {
	if l == nil {
		return
	}
	if !b.ready.Load() && b.holdSend(l) {
		return
	}
	a := b.adapter
	var n, frames, bytes uint64
	for x := l; x != nil; x = x.Next {
		x.owner = b
		x.state = nblSent
		n++
		for _, f := range x.Frames {
			frames++
			bytes += uint64(len(f))
		}
	}
	// Count the batch in flight before looking at closed: a Close that
	// has seen nothing in flight has closed the binding first, so this
	// sender sees it closed (Close waits for what it counts).
	b.inflight.Add(int64(n))
	if b.closed.Load() {
		b.rejectSend(l, n, StatusClosing)
		return
	}
	// Check before entering, so that senders bouncing off a closed gate
	// never hold up the work goroutine waiting for it to empty; check again
	// after, for a gate that closed in between.
	v := a.gate.Load()
	if v&(gateSendClosed|gateReset) == 0 {
		if v = a.gate.Add(gateSenderOne); v&(gateSendClosed|gateReset) != 0 {
			a.leaveGate()
		}
	}
	if v&(gateSendClosed|gateReset) != 0 {
		s := StatusPaused
		if v&gateReset != 0 {
			s = StatusResetInProgress
		}
		a.stats.sendRejected.Add(n)
		b.rejectSend(l, n, s)
		return
	}
	a.stats.sentNBLs.Add(n)
	a.stats.sentFrames.Add(frames)
	a.stats.sentBytes.Add(bytes)
	a.mp.SendNetBufferLists(l)
	a.leaveGate()
}

// rejectSend completes a chain of n NBLs that never reached the miniport.
func (b *Binding) rejectSend(l *NetBufferList, n uint64, s Status) {
	for x := l; x != nil; x = x.Next {
		x.state = nblIdle
		x.Status = s
	}
	b.calls.Add(1)
	b.protocol.SendNetBufferListsComplete(l)
	b.leave()
	if b.inflight.Add(-int64(n)) == 0 {
		b.maybeDone()
	}
}

// leaveGate takes a sender out of the gate and kicks the work goroutine
// when it is the last one out of a closed gate.
func (a *Adapter) leaveGate() {
	v := a.gate.Add(^uint64(0))
	if v&gateClosedMask != 0 && v&gateSenderMask == 0 {
		a.kick()
	}
}

// SendNetBufferListsComplete is NdisMSendNetBufferListsComplete: the
// miniport hands back NBLs it was sent, in any grouping, with Status set.
// Each goes back to the binding that sent it. An NBL the miniport does not
// own is reported (SendDoubleComplete) and dropped from the chain.
func (a *Adapter) SendNetBufferListsComplete(l *NetBufferList) {
	if a.afterHalt("SendNetBufferListsComplete") {
		return
	}
	var n, failed uint64
	// A run is consecutive NBLs of one owner, left linked as the miniport
	// linked them: the chain is cut only where the owner changes.
	var run, tail *NetBufferList
	var runLen uint64
	for x := l; x != nil; {
		next := x.Next
		if x.state != nblSent || x.owner == nil || x.owner.adapter != a {
			a.violate(RuleSendDoubleComplete, "NBL %p completed but not held by the miniport", x)
			run = completeRun(run, tail, runLen)
			x = next
			continue
		}
		x.state = nblIdle
		n++
		if x.Status != StatusSuccess {
			failed++
		}
		if run == nil || x.owner != run.owner {
			completeRun(run, tail, runLen)
			run, runLen = x, 0
		}
		tail = x
		runLen++
		x = next
	}
	completeRun(run, tail, runLen)
	if n != 0 {
		if failed != 0 {
			a.stats.sendFailed.Add(failed)
		}
		completed := a.stats.sendCompleted.Add(n)
		if a.gate.Load()&gateClosedMask != 0 && completed == a.stats.sentNBLs.Load() {
			a.kick() // a pause or a halt may wait for the last completion
		}
	}
}

// completeRun cuts the run head…tail of n completed NBLs from the chain
// and hands it to the binding that sent them. It returns nil, for the
// caller's next run.
func completeRun(head, tail *NetBufferList, n uint64) *NetBufferList {
	if head == nil {
		return nil
	}
	tail.Next = nil
	b := head.owner
	b.calls.Add(1) // a handler: the watchdog sees it, Close waits for it
	b.protocol.SendNetBufferListsComplete(head)
	b.leave()
	if b.inflight.Add(-int64(n)) == 0 && b.closed.Load() {
		b.maybeDone()
	}
	return nil
}

// IndicateReceiveNetBufferLists is NdisMIndicateReceiveNetBufferLists. Each
// NBL goes to every binding whose packet filter and multicast list accept
// it; an NBL that no binding takes, and every NBL indicated while the
// adapter is resetting or not running, goes straight back through
// MiniportReturnNetBufferLists (R12), inline. Unless flags has
// ReceiveFlagResources, an NBL delivered to bindings returns to the
// miniport once every one of them has returned it; with it, the miniport
// owns the chain again, links intact, when this call returns.
func (a *Adapter) IndicateReceiveNetBufferLists(l *NetBufferList, flags ReceiveFlags) {
	if l == nil {
		a.violate(RuleInvalidCall, "IndicateReceiveNetBufferLists with no NBL")
		return
	}
	if a.afterHalt("IndicateReceiveNetBufferLists") {
		return
	}
	if a.State() == AdapterInitializing {
		// The chain stays the miniport's: there is nothing to give it back to.
		a.violate(RuleInvalidCall, "IndicateReceiveNetBufferLists before MiniportInitializeEx returned")
		return
	}
	resources := flags&ReceiveFlagResources != 0
	g := a.gate.Load()
	bs := *a.rx.bindings.Load()
	if g&(gateReset|gateRecvClosed) != 0 || len(bs) == 0 {
		n, frames, bytes := countChain(l)
		a.countReceived(n, frames, bytes)
		if g&gateReset != 0 {
			a.stats.rxDuringReset.Add(n)
		} else {
			a.stats.rxDropped.Add(n)
		}
		if !resources {
			a.stats.rxReturned.Add(n)
			a.mp.ReturnNetBufferLists(l)
		} else {
			a.stats.rxLent.Add(n)
		}
		return
	}
	station := a.MacAddress()
	if len(bs) == 1 && !resources {
		if flags&ReceiveFlagPerfectFiltered != 0 && a.coversFilter(bs[0]) {
			a.indicateAll(l, flags, bs[0])
			return
		}
		a.indicateOne(l, flags, bs[0], station)
		return
	}
	// Several deliveries of one chain: keep the miniport's own links.
	for x := l; x != nil; x = x.Next {
		x.mpNext = x.Next
	}
	n, frames, bytes := countChain(l)
	a.countReceived(n, frames, bytes)
	if resources {
		a.stats.rxLent.Add(n)
		a.indicateLent(l, flags, bs, station)
		return
	}
	a.indicateShared(l, flags, bs, station)
}

// countChain counts the NBLs, frames and bytes of a chain.
func countChain(l *NetBufferList) (n, frames, bytes uint64) {
	for x := l; x != nil; x = x.Next {
		n++
		for _, f := range x.Frames {
			frames++
			bytes += uint64(len(f))
		}
	}
	return n, frames, bytes
}

func (a *Adapter) countReceived(n, frames, bytes uint64) {
	a.stats.rxNBLs.Add(n)
	a.stats.rxFrames.Add(frames)
	a.stats.rxBytes.Add(bytes)
}

// indicateOne delivers to a single binding, in one pass: no reference
// counts, no clones.
func (a *Adapter) indicateOne(l *NetBufferList, flags ReceiveFlags, b *Binding, station MacAddress) {
	f := b.filter.Load()
	st := station.bits()
	var rej List
	var head, tail *NetBufferList // what the binding takes, relinked only around what it refuses
	var n, frames, bytes uint64
	for x := l; x != nil; {
		next := x.Next
		n++
		for _, fr := range x.Frames {
			frames++
			bytes += uint64(len(fr))
		}
		if accepts(f, x, st) {
			x.state, x.rxBinding, x.shared = nblIndicated, b, false
			head, tail = relink(head, tail, x)
		} else {
			rej.Push(x)
		}
		x = next
	}
	a.countReceived(n, frames, bytes)
	a.returnRejected(&rej)
	if head != nil {
		tail.Next = nil
		b.deliver(head, flags)
	}
}

// coversFilter reports whether the binding takes everything the miniport's
// filter lets through: then frames the miniport filtered perfectly
// (ReceiveFlagPerfectFiltered) need no second look.
func (a *Adapter) coversFilter(b *Binding) bool {
	hw := a.rx.hw.Load()
	return hw != nil && hw == b.filter.Load()
}

// indicateAll delivers a perfectly filtered chain to the one binding whose
// filter is the miniport's: no frame is read.
func (a *Adapter) indicateAll(l *NetBufferList, flags ReceiveFlags, b *Binding) {
	var n, frames, bytes uint64
	for x := l; x != nil; x = x.Next {
		x.state, x.rxBinding, x.shared = nblIndicated, b, false
		n++
		for _, fr := range x.Frames {
			frames++
			bytes += uint64(len(fr))
		}
	}
	a.countReceived(n, frames, bytes)
	b.deliver(l, flags)
}

// indicateShared delivers to several bindings: the first binding that takes
// an NBL gets the NBL itself, every other one a clone that shares its
// frames; the NBL goes back to the miniport when the last one returns.
func (a *Adapter) indicateShared(l *NetBufferList, flags ReceiveFlags, bs []*Binding, station MacAddress) {
	st := station.bits()
	var fs [8]*PacketFilter
	var ls [8]List
	filters, taken := fs[:0], ls[:0]
	if len(bs) > len(fs) {
		filters, taken = make([]*PacketFilter, 0, len(bs)), make([]List, 0, len(bs))
	}
	for _, b := range bs {
		filters = append(filters, b.filter.Load())
		taken = append(taken, List{})
	}
	var rej List
	for x := l; x != nil; x = x.mpNext {
		k := int32(0)
		for i, b := range bs {
			if !accepts(filters[i], x, st) {
				continue
			}
			d := x
			if k == 0 {
				x.rxBinding = b
			} else {
				d = a.clone(x, b)
			}
			k++
			taken[i].Push(d)
		}
		switch k {
		case 0:
			rej.Push(x)
		case 1:
			x.state, x.shared = nblIndicated, false
		default:
			x.state, x.shared = nblIndicated, true
			x.refs.Store(k)
		}
	}
	a.returnRejected(&rej)
	for i, b := range bs {
		if !taken[i].Empty() {
			b.deliver(taken[i].Take(), flags)
		}
	}
}

// indicateLent delivers NBLs the protocols may not keep: each binding gets a
// chain of the NBLs it accepts, in turn, and the miniport's own chain is
// put back together afterwards.
func (a *Adapter) indicateLent(l *NetBufferList, flags ReceiveFlags, bs []*Binding, station MacAddress) {
	st := station.bits()
	for _, b := range bs {
		f := b.filter.Load()
		var taken List
		for x := l; x != nil; x = x.mpNext {
			if accepts(f, x, st) {
				x.state, x.rxBinding = nblLent, b
				taken.Push(x)
			}
		}
		if !taken.Empty() {
			b.deliver(taken.Take(), flags)
		}
	}
	for x := l; x != nil; x = x.mpNext {
		x.Next = x.mpNext
		x.state, x.rxBinding = nblIdle, nil
	}
}

// accepts applies a binding's filter to a received NBL: its first frame's
// destination decides, as every frame of an NBL shares one header.
func accepts(f *PacketFilter, x *NetBufferList, station uint64) bool {
	if len(x.Frames) == 0 || len(x.Frames[0]) < 6 {
		return f.Types&PacketTypePromiscuous != 0
	}
	return f.accepts(frameDst(x.Frames[0]), station)
}

// relink appends x to the chain head…tail that is being kept out of a
// chain walked in order, writing a link only where a left-out NBL sat in
// between. The caller ends the kept chain with tail.Next = nil.
func relink(head, tail, x *NetBufferList) (*NetBufferList, *NetBufferList) {
	switch {
	case head == nil:
		head = x
	case tail.Next != x:
		tail.Next = x
	}
	return head, x
}

// returnRejected gives the NBLs no binding took back to the miniport.
func (a *Adapter) returnRejected(rej *List) {
	if rej.Empty() {
		return
	}
	n := uint64(rej.Len())
	a.stats.rxDropped.Add(n)
	a.stats.rxReturned.Add(n)
	a.mp.ReturnNetBufferLists(rej.Take())
}

func (a *Adapter) clone(x *NetBufferList, b *Binding) *NetBufferList {
	c, _ := a.rx.clones.Get().(*NetBufferList)
	if c == nil {
		c = new(NetBufferList)
	}
	c.Frames, c.Status, c.parent = x.Frames, x.Status, x
	c.Checksum, c.LargeSend = x.Checksum, x.LargeSend
	c.state, c.rxBinding = nblIndicated, b
	return c
}

// deliver indicates a chain to the binding's protocol, unless the binding
// closed meanwhile; then the chain is returned as if the protocol had.
func (b *Binding) deliver(l *NetBufferList, flags ReceiveFlags) {
	if !b.enter() {
		if flags&ReceiveFlagResources == 0 {
			b.ReturnNetBufferLists(l)
		}
		return
	}
	b.protocol.ReceiveNetBufferLists(l, flags)
	b.leave()
}

// ReturnNetBufferLists is NdisReturnNetBufferLists: the protocol hands back
// NBLs indicated to it without ReceiveFlagResources. An NBL goes back to the
// miniport once every binding it was indicated to has returned it. It never
// blocks; a protocol may call it from inside its receive handler.
func (b *Binding) ReturnNetBufferLists(l *NetBufferList) {
	a := b.adapter
	var head, tail *NetBufferList // back to the miniport, relinked only where needed
	var n uint64
	for x := l; x != nil; {
		next := x.Next
		if x.state != nblIndicated || x.rxBinding != b {
			a.violate(RuleReturnNotIndicated, "NBL %p returned by protocol %q but not indicated to it", x, b.protoName)
			x = next
			continue
		}
		x.rxBinding = nil
		if p := x.parent; p != nil {
			*x = NetBufferList{}
			a.rx.clones.Put(x)
			x = p
		}
		if x.shared && x.refs.Add(-1) > 0 {
			x = next
			continue
		}
		x.state, x.shared = nblIdle, false
		head, tail = relink(head, tail, x)
		n++
		x = next
	}
	if head == nil {
		return
	}
	tail.Next = nil
	a.stats.rxReturned.Add(n)
	if a.halted.Load() {
		return // the miniport is gone; nothing to give them back to
	}
	a.mp.ReturnNetBufferLists(head)
	if g := a.gate.Load(); g&gateSendClosed != 0 && g&gateRecvClosed == 0 {
		a.kick() // Pausing: the pause may wait for this return
	}
}
