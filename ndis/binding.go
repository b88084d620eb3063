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

	// Send completions that arrive while BindAdapter runs (a protocol may
	// send from it) wait here for the protocol to exist.
	earlyMu sync.Mutex
	early   List

	filter   atomic.Pointer[PacketFilter] // this binding's packet filter and multicast list; never modified
	closed   atomic.Bool
	inflight atomic.Int64 // NBLs sent and not yet completed
	active   atomic.Int64 // protocol callbacks in progress
	drained  chan struct{}
	closeMu  sync.Mutex // serialises Close
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
	b := &Binding{adapter: a, protoName: p.Name, params: params, drained: make(chan struct{}, 1)}
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
		// Completions of sends it made meanwhile have no protocol to go to.
		b.closed.Store(true)
		a.mu.Lock()
		a.closeBindingLocked(b)
		a.mu.Unlock()
		a.kick()
		return nil, fmt.Errorf("ndis: protocol %q failed to bind to %q: %w", p.Name, a.name, err)
	}
	a.mu.Lock()
	b.protocol = proto
	b.earlyMu.Lock()
	b.ready.Store(true)
	early := b.early.Take()
	b.earlyMu.Unlock()
	a.mu.Unlock()
	if early != nil {
		proto.SendNetBufferListsComplete(early)
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

// sendComplete hands completed sends to the protocol, or holds them until
// its BindAdapter has returned.
func (b *Binding) sendComplete(l *NetBufferList) {
	if !b.ready.Load() {
		b.earlyMu.Lock()
		if !b.ready.Load() {
			b.early.PushChain(l)
			b.earlyMu.Unlock()
			return
		}
		b.earlyMu.Unlock()
	}
	b.protocol.SendNetBufferListsComplete(l)
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
	b.active.Add(1)
	if b.closed.Load() {
		b.leave()
		return false
	}
	return true
}

func (b *Binding) leave() {
	if b.active.Add(-1) == 0 && b.closed.Load() {
		b.signalDrained()
	}
}

func (b *Binding) signalDrained() {
	select {
	case b.drained <- struct{}{}:
	default:
	}
}

// Close is NdisCloseAdapterEx. Sends after Close complete at once with
// StatusClosing and its queued OIDs fail with StatusClosing. Close waits,
// within ctx, for the binding's sends to be completed and for protocol
// callbacks in progress to return; after it returns the protocol gets no
// more receive or status indications. NBLs the protocol still holds may
// still be returned. Close twice is fine.
func (b *Binding) Close(ctx context.Context) error {
	b.closeMu.Lock()
	defer b.closeMu.Unlock()
	a := b.adapter
	if !b.closed.Swap(true) {
		a.mu.Lock()
		a.closeBindingLocked(b)
		a.mu.Unlock()
		a.kick()
	}
	for b.inflight.Load() != 0 || b.active.Load() != 0 {
		select {
		case <-b.drained:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// unbind runs ProtocolUnbindAdapterEx, if the protocol has one, then
// closes the binding. The adapter is paused, so no send is in flight.
func (b *Binding) unbind() {
	if b.ready.Load() && !b.closed.Load() {
		if u, ok := b.protocol.(Unbinder); ok {
			u.UnbindAdapter()
		}
	}
	b.closeNow()
}

// closeNow closes the binding without waiting for anything.
func (b *Binding) closeNow() {
	if b.closed.Swap(true) {
		return
	}
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
