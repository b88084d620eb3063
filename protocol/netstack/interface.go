package netstack

import (
	"context"
	"fmt"
	"net/netip"
	"sync"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/link/qdisc/fifo"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/gondis/gondis/ndis"
)

// The interface's handlers.
var (
	_ ndis.Protocol = (*Interface)(nil)
	_ ndis.Unbinder = (*Interface)(nil)
	_ ndis.Reporter = (*Interface)(nil)
)

// queueLen is the length of a NIC's fifo queue: packets the stack has
// written and the link not yet taken.
const queueLen = 1000

// Interface is one binding of a netstack driver: a NIC of its Stack, with
// its addresses and routes. It is the binding's Protocol (what BindAdapter
// returns and Of finds). Its methods are safe from any goroutine.
type Interface struct {
	b      *ndis.Binding
	st     *Stack
	id     tcpip.NICID
	params Params
	link   *link

	detachOnce sync.Once
	detached   chan struct{} // closed once the NIC is removed
}

// attach makes b an interface of s: a NIC over a new link, with a fifo
// queueing discipline (one goroutine that hands the link batches), the
// addresses and gateways of p.
func (s *Stack) attach(b *ndis.Binding, p Params) (*Interface, error) {
	i := &Interface{b: b, st: s, params: p, link: newLink(b, p), detached: make(chan struct{})}
	if err := s.add(i); err != nil {
		return nil, err
	}
	q := fifo.New(i.link, 1, queueLen)
	if e := s.s.CreateNICWithOptions(i.id, i.link, stack.NICOptions{Name: b.Adapter().Name(), QDisc: q}); e != nil {
		q.Close()
		i.detach()
		return nil, tcpErr("create NIC for "+b.Adapter().Name(), e)
	}
	var err error
	for _, a := range p.Addrs {
		err = i.AddAddress(a)
		if err != nil {
			break
		}
	}
	for _, g := range p.Gateways {
		if err != nil {
			break
		}
		err = i.SetGateway(g)
	}
	if err != nil {
		i.detach()
		return nil, err
	}
	go i.watch()
	return i, nil
}

// watch removes the NIC when the binding closes without an UnbindAdapter:
// a program closed it (ndis.Binding.Close).
func (i *Interface) watch() {
	select {
	case <-i.b.Done():
		i.detach()
	case <-i.detached:
	}
}

// Name returns the name of the interface's adapter.
func (i *Interface) Name() string { return i.b.Adapter().Name() }

// Binding returns the interface's binding.
func (i *Interface) Binding() *ndis.Binding { return i.b }

// Stack returns the stack the interface belongs to.
func (i *Interface) Stack() *Stack { return i.st }

// Params returns the binding's parameters.
func (i *Interface) Params() Params { return i.params }

// Done is closed once the interface's NIC is removed: the binding was
// unbound or the stack closed.
func (i *Interface) Done() <-chan struct{} { return i.detached }

// up fails once the NIC is gone.
func (i *Interface) up() error {
	select {
	case <-i.detached:
		return ErrUnbound
	default:
		return nil
	}
}

// AddAddress gives the interface an address, and routes the address's
// subnet to it.
func (i *Interface) AddAddress(p netip.Prefix) error {
	if err := i.up(); err != nil {
		return err
	}
	pa := tcpip.ProtocolAddress{Protocol: netProto(p.Addr()), AddressWithPrefix: tcpipPrefix(p)}
	if e := i.st.s.AddProtocolAddress(i.id, pa, stack.AddressProperties{}); e != nil {
		return tcpErr(fmt.Sprintf("add address %s to %s", p, i.Name()), e)
	}
	i.st.s.AddRoute(tcpip.Route{Destination: tcpipSubnet(p), NIC: i.id})
	return nil
}

// RemoveAddress takes an address and its subnet's route off the interface.
func (i *Interface) RemoveAddress(p netip.Prefix) error {
	if err := i.up(); err != nil {
		return err
	}
	if e := i.st.s.RemoveAddress(i.id, tcpipAddr(p.Addr())); e != nil {
		return tcpErr(fmt.Sprintf("remove address %s from %s", p, i.Name()), e)
	}
	sub := tcpipSubnet(p)
	i.st.s.RemoveRoutes(func(r tcpip.Route) bool {
		return r.NIC == i.id && r.Destination.Equal(sub) && r.Gateway.Len() == 0
	})
	return nil
}

// Addresses returns the interface's unicast addresses.
func (i *Interface) Addresses() []netip.Prefix {
	var out []netip.Prefix
	for _, pa := range i.st.s.AllAddresses()[i.id] {
		if p := netipPrefix(pa.AddressWithPrefix); usable(p.Addr()) { // not the broadcast address IPv4 adds
			out = append(out, p)
		}
	}
	return out
}

// AddRoute routes dst through the interface: to gw, or on link when gw is
// the zero Addr.
func (i *Interface) AddRoute(dst netip.Prefix, gw netip.Addr) error {
	if err := i.up(); err != nil {
		return err
	}
	if !dst.IsValid() || gw.IsValid() && gw.Unmap().Is4() != dst.Addr().Unmap().Is4() {
		return fmt.Errorf("netstack: route %s via %s: want a prefix and a gateway of its family", dst, gw)
	}
	r := tcpip.Route{Destination: tcpipSubnet(dst), NIC: i.id}
	if gw.IsValid() {
		r.Gateway = tcpipAddr(gw)
	}
	i.st.s.AddRoute(r)
	return nil
}

// SetGateway makes gw the interface's default gateway for gw's address
// family, in place of any it had.
func (i *Interface) SetGateway(gw netip.Addr) error {
	if err := i.up(); err != nil {
		return err
	}
	def := defaultSubnet(gw)
	i.st.s.RemoveRoutes(func(r tcpip.Route) bool { return r.NIC == i.id && r.Destination.Equal(def) })
	i.st.s.AddRoute(tcpip.Route{Destination: def, Gateway: tcpipAddr(gw), NIC: i.id})
	return nil
}

// Status is ProtocolStatusEx: RESET_START holds the interface's frames,
// RESET_END sends them (reset.go), StatusLinkState records the link.
func (i *Interface) Status(code ndis.Status, payload []byte) {
	switch code {
	case ndis.StatusResetStart:
		i.link.resetStart()
	case ndis.StatusResetEnd:
		i.link.resetEnd()
	case ndis.StatusLinkState:
		i.link.linkState(payload)
	}
}

// ReceiveNetBufferLists is ProtocolReceiveNetBufferLists: the frames are
// copied into the stack's buffers, the NBLs returned at once, and the
// packets delivered to the stack.
func (i *Interface) ReceiveNetBufferLists(l *ndis.NetBufferList, flags ndis.ReceiveFlags) {
	i.link.receive(l, flags)
}

// SendNetBufferListsComplete is ProtocolSendNetBufferListsComplete: the
// NBLs are counted by status and go back to the interface's pool; none is
// sent again.
func (i *Interface) SendNetBufferListsComplete(l *ndis.NetBufferList) {
	i.link.complete(l)
}

// Close takes the interface out of its stack, as UnbindAdapter does, and
// closes its binding (NdisCloseAdapterEx), waiting for it within ctx.
func (i *Interface) Close(ctx context.Context) error {
	i.detach()
	return i.b.Close(ctx)
}

// UnbindAdapter is ProtocolUnbindAdapterEx: the NIC is removed and the
// connections that ran through it are aborted, so their readers and
// writers return an error instead of waiting for a peer they can no
// longer reach.
func (i *Interface) UnbindAdapter() { i.detach() }

// detach removes the NIC, once, and aborts its endpoints: those bound to
// it or to one of its addresses, and those it carried.
func (i *Interface) detach() {
	i.detachOnce.Do(func() {
		i.link.close()
		addrs := make(map[tcpip.Address]bool)
		for _, pa := range i.st.s.AllAddresses()[i.id] {
			addrs[pa.AddressWithPrefix.Address] = true
		}
		i.st.s.RemoveNIC(i.id) // the routes through it go too
		for _, e := range i.st.s.RegisteredEndpoints() {
			if ep, ok := e.(tcpip.Endpoint); ok {
				info, ok := ep.Info().(*stack.TransportEndpointInfo)
				if ok && (info.BindNICID == i.id || info.RegisterNICID == i.id || addrs[info.ID.LocalAddress]) {
					e.Abort()
				}
			}
		}
		close(i.detached)
		i.st.remove(i.id)
	})
}
