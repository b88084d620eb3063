package ndis

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
)

// Binding is an open binding between a protocol and an adapter: the handle
// of NdisOpenAdapterEx. Its methods may be called from any goroutine.
type Binding struct {
	adapter   *Adapter
	protoName string
	params    map[string]string // BindParams; never modified
	protocol  Protocol          // set once, under the adapter lock, when BindAdapter has returned
	ready     atomic.Bool       // protocol is set

	// Sends made while BindAdapter runs wait here, and reach the miniport
	// once it has returned a protocol to complete them to; a failed bind
	// drops them, so none of them ever reached the miniport.
	heldMu sync.Mutex
	held   List

	filter   atomic.Pointer[PacketFilter] // this binding's packet filter and multicast list; never modified
	closed   atomic.Bool
	unbound  atomic.Bool  // UnbindAdapter was called, or the protocol closed the binding itself
	inflight atomic.Int64 // NBLs sent and not yet completed
	oids     atomic.Int64 // OidRequestAsync requests whose completion has not run
	// calls counts protocol handlers: running in the low 32 bits, returned
	// in the high 32, so one atomic add enters or leaves and the watchdog
	// sees progress.
	calls    atomic.Uint64
	wd       bindingWatch  // the watchdog's, see watchdog.go
	done     chan struct{} // closed when the close is complete
	doneOnce sync.Once
}

// Protocol returns the binding's protocol name.
func (b *Binding) Protocol() string { return b.protoName }

// ProtocolContext returns the Protocol that BindAdapter returned for this
// binding (NDIS's ProtocolBindingContext), or nil while BindAdapter runs or
// after it failed. Programs use it to reach a protocol's own API.
func (b *Binding) ProtocolContext() Protocol {
	if !b.ready.Load() {
		return nil
	}
	return b.protocol
}

// Params returns a copy of the binding's parameters (BindParams): what
// NDIS_BIND_PARAMETERS gives ProtocolBindAdapterEx. It is never nil.
func (b *Binding) Params() map[string]string {
	p := maps.Clone(b.params)
	if p == nil {
		p = map[string]string{}
	}
	return p
}

// Adapter returns a read-only view of the adapter the binding is open on:
// what a protocol may know of it, not the miniport's handle.
func (b *Binding) Adapter() AdapterView { return AdapterView{b.adapter} }

// PacketFilter returns the binding's current packet filter.
func (b *Binding) PacketFilter() uint32 { return b.filter.Load().Types }

// MulticastList returns the binding's current multicast list.
func (b *Binding) MulticastList() []MacAddress {
	return append([]MacAddress(nil), b.filter.Load().Multicast...)
}

func (a *Adapter) bind(ctx context.Context, p *ProtocolDriver, params map[string]string) (*Binding, error) {
	b := &Binding{adapter: a, protoName: p.Name, params: params, done: make(chan struct{})}
	b.filter.Store(&PacketFilter{})
	// R12: a bind waits for a reset in progress to end.
	for {
		a.mu.Lock()
		switch {
		case a.exiting || a.reset.halting.Load():
			a.mu.Unlock()
			return nil, fmt.Errorf("%w: %q", ErrAdapterHalted, a.name)
		case a.state == AdapterShutdown || a.state == AdapterHalted || a.state == AdapterInitializing:
			st := a.state
			a.mu.Unlock()
			return nil, fmt.Errorf("%w: cannot bind to adapter %q in state %s", ErrInvalidState, a.name, st)
		}
		if !a.resetActiveLocked() {
			a.bindings = append(a.bindings, b)
			a.mu.Unlock()
			break
		}
		done := a.resetDoneLocked()
		a.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	proto, err := p.BindAdapter(b)
	if err == nil && proto == nil {
		err = fmt.Errorf("%w: BindAdapter returned no Protocol", StatusFailure)
	}
	if err != nil {
		// The sends it made meanwhile never reached the miniport: they go
		// with the protocol.
		b.unbound.Store(true)
		b.heldMu.Lock()
		b.held.Take()
		b.heldMu.Unlock()
		b.closeNow()
		return nil, fmt.Errorf("ndis: protocol %q failed to bind to %q: %w", p.Name, a.name, err)
	}
	a.mu.Lock()
	b.protocol = proto
	b.heldMu.Lock()
	b.ready.Store(true)
	held := b.held.Take()
	b.heldMu.Unlock()
	a.mu.Unlock()
	if held != nil {
		b.SendNetBufferLists(held)
	}
	// R12 again: a reset may have started while BindAdapter ran; the
	// binding joins the datapath, and hears of resets, once it is over.
	for {
		a.mu.Lock()
		if b.closed.Load() || a.exiting || a.reset.halting.Load() {
			a.mu.Unlock()
			b.unbind()
			return nil, fmt.Errorf("%w: %q", ErrAdapterHalted, a.name)
		}
		if !a.resetActiveLocked() && !a.rs.endPending {
			a.publishBindingsLocked()
			a.mu.Unlock()
			return b, nil
		}
		done := a.resetDoneLocked()
		a.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			b.unbind()
			return nil, ctx.Err()
		}
	}
}

// holdSend keeps a send made while BindAdapter runs, and reports whether
// it did: false once the protocol exists.
func (b *Binding) holdSend(l *NetBufferList) bool {
	b.heldMu.Lock()
	defer b.heldMu.Unlock()
	if b.ready.Load() {
		return false
	}
	b.held.PushChain(l)
	return true
}

// publishBindingsLocked makes the open bindings with a protocol visible to
// the datapath.
func (a *Adapter) publishBindingsLocked() {
	bs := make([]*Binding, 0, len(a.bindings))
	for _, b := range a.bindings {
		if b.ready.Load() && !b.closed.Load() {
			bs = append(bs, b)
		}
	}
	a.rx.bindings.Store(&bs)
	a.refreshHWLocked()
}

func (a *Adapter) removeBindingLocked(b *Binding) {
	for i, x := range a.bindings {
		if x == b {
			a.bindings = append(a.bindings[:i:i], a.bindings[i+1:]...)
			break
		}
	}
	a.publishBindingsLocked()
}

// enter marks a protocol callback in progress, unless the binding is
// closed; leave ends it.
func (b *Binding) enter() bool {
	b.calls.Add(1)
	if b.closed.Load() {
		b.leave()
		return false
	}
	return true
}

func (b *Binding) leave() {
	if uint32(b.calls.Add(1<<32-1)) == 0 && b.closed.Load() {
		b.maybeDone()
	}
}

// maybeDone completes the close once the binding is closed, none of its
// sends is in flight and none of its handlers runs. Every decrement of
// those counts calls it, so the last one out completes the close.
func (b *Binding) maybeDone() {
	if b.closed.Load() && b.inflight.Load() == 0 && uint32(b.calls.Load()) == 0 && b.oids.Load() == 0 {
		b.doneOnce.Do(func() { close(b.done) })
	}
}

// Close is NdisCloseAdapterEx. Sends after Close complete at once with
// StatusClosing and its queued OIDs fail with StatusClosing; the protocol
// gets no UnbindAdapter. The close is complete once the binding's sends
// have all been completed and no handler of the protocol runs any more;
// then Done is closed and no receive or status indication reaches the
// protocol again. NBLs the protocol still holds may still be returned.
//
// Close waits, within ctx, for the close to complete, except when it is
// called from inside a handler the runtime runs (a Status, a receive, a
// completion, BindAdapter, UnbindAdapter): it cannot wait for the handler
// it runs in, so it returns at once and the close completes once the
// handler returns (NDIS's pending close). Close twice is fine.
func (b *Binding) Close(ctx context.Context) error {
	b.unbound.Store(true)
	b.closeNow()
	if calledFromRuntime() {
		return nil
	}
	b.maybeDone()
	select {
	case <-b.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Done is closed when the binding's close is complete: no send in flight,
// no handler running.
func (b *Binding) Done() <-chan struct{} { return b.done }

// unbind runs ProtocolUnbindAdapterEx, once, if the protocol has one and
// did not close the binding itself, then closes the binding. The adapter
// is paused, so no send is in flight.
func (b *Binding) unbind() {
	if b.ready.Load() && b.unbound.CompareAndSwap(false, true) {
		if u, ok := b.protocol.(Unbinder); ok {
			b.calls.Add(1) // a handler, even on a binding closed under it
			u.UnbindAdapter()
			b.leave()
		}
	}
	b.closeNow()
}

// closeNow closes the binding without waiting for anything.
func (b *Binding) closeNow() {
	if b.closed.Swap(true) {
		return
	}
	defer b.maybeDone()
	a := b.adapter
	a.mu.Lock()
	a.closeBindingLocked(b)
	a.mu.Unlock()
	a.kick()
}

// closeBindingLocked takes a closed binding out of the adapter: out of the
// datapath, its queued OIDs failed, its filter out of the miniport's union.
func (a *Adapter) closeBindingLocked(b *Binding) {
	a.removeBindingLocked(b)
	a.failBindingOIDsLocked(b, StatusClosing)
	if !a.exiting && !a.reset.halting.Load() {
		a.refilterLocked(b.filter.Load())
	}
}
