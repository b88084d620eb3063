package netstack

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gondis/gondis/ndis"
)

// Name is the protocol driver's name.
const Name = "netstack"

// Driver returns a netstack protocol driver, named "netstack", with a
// Stack of its own: its bindings become interfaces of that stack, which
// closes (aborting its connections) when its last interface is unbound; a
// later binding starts a new one. Reach the stack through Of(b).Stack().
// A program that wants the stack before any binding, or beyond its last,
// makes one with New and registers its Driver instead.
func Driver() ndis.ProtocolDriver {
	var mu sync.Mutex
	var cur *Stack
	return newDriver(func() *Stack {
		mu.Lock()
		defer mu.Unlock()
		if cur == nil || cur.isClosed() {
			cur = New()
			cur.owned = true
		}
		return cur
	})
}

func newDriver(stackFor func() *Stack) ndis.ProtocolDriver {
	return ndis.ProtocolDriver{
		Name: Name,
		BindAdapter: func(b *ndis.Binding) (ndis.Protocol, error) {
			return bind(b, stackFor)
		},
		ValidateParams: table.Validate,
	}
}

// Of returns the interface of a binding of a netstack driver, what its
// BindAdapter returned; ok is false for another protocol's binding and
// while BindAdapter runs. It stays valid after the binding closes.
func Of(b *ndis.Binding) (*Interface, bool) {
	i, ok := b.ProtocolContext().(*Interface)
	return i, ok
}

// bindTimeout bounds the packet filter request of BindAdapter.
const bindTimeout = 5 * time.Second

// attachTries bounds how often a bind looks for a stack of Driver's that
// is not closing under it.
const attachTries = 3

// bind is ProtocolBindAdapterEx: it reads the parameters, sets the packet
// filter and makes the binding an interface of the driver's stack.
func bind(b *ndis.Binding, stackFor func() *Stack) (*Interface, error) {
	p, err := ParseParams(b.Params())
	if err != nil {
		return nil, err
	}
	if b.Adapter().MacAddress() == (ndis.MacAddress{}) {
		return nil, fmt.Errorf("netstack: adapter %s has no MAC address", b.Adapter().Name())
	}
	if err := setFilter(b); err != nil {
		return nil, err
	}
	for try := 1; ; try++ {
		s := stackFor()
		i, err := s.attach(b, p)
		if errors.Is(err, ErrClosed) && s.owned && try < attachTries {
			continue // its last interface went while this one came
		}
		return i, err
	}
}

// setFilter asks for directed, broadcast and all multicast frames (IPv6's
// neighbour discovery needs multicast), or, from a miniport that cannot
// filter multicast, for directed and broadcast frames: enough for IPv4.
func setFilter(b *ndis.Binding) error {
	ctx, cancel := context.WithTimeout(context.Background(), bindTimeout)
	defer cancel()
	var s ndis.Status
	for _, f := range []uint32{
		ndis.PacketTypeDirected | ndis.PacketTypeBroadcast | ndis.PacketTypeAllMulticast,
		ndis.PacketTypeDirected | ndis.PacketTypeBroadcast,
	} {
		r := &ndis.OidRequest{Type: ndis.RequestSet, OID: ndis.OIDGenCurrentPacketFilter, Buffer: ndis.Ulong(f)}
		if s = b.OidRequest(ctx, r); s == ndis.StatusSuccess {
			return nil
		}
	}
	return fmt.Errorf("netstack: set %s: %w", ndis.OIDGenCurrentPacketFilter, s)
}
