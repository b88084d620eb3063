package netstack

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv6"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/udp"

	"github.com/gondis/gondis/ndis"
)

// Errors of the program-facing API.
var (
	// ErrClosed: the stack is closed.
	ErrClosed = errors.New("netstack: stack closed")
	// ErrUnbound: the interface's binding is gone; its NIC was removed.
	ErrUnbound = errors.New("netstack: interface unbound")
)

// Stack is one user-space TCP/IP host (a gVisor stack): every binding of
// its driver is one of its interfaces, with addresses and routes, and
// programs listen and dial on it (net.go). A program has one Stack per
// host it plays, usually one per runtime. Its methods are safe from any
// goroutine.
type Stack struct {
	s     *stack.Stack
	owned bool // made by Driver: it closes with its last interface

	mu sync.Mutex
	// +checklocks:mu
	closed bool
	// +checklocks:mu
	nextID tcpip.NICID
	// +checklocks:mu
	ifaces map[tcpip.NICID]*Interface
}

// New returns a stack with IPv4, IPv6, ARP, TCP, UDP and ICMP (it answers
// pings itself), and no interface: bind its Driver to adapters to give it
// some. Close it when done: it runs goroutines of its own.
func New() *Stack {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, ipv6.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, udp.NewProtocol, icmp.NewProtocol4, icmp.NewProtocol6},
		// Traffic between two addresses of this stack never leaves it.
		HandleLocal: true,
	})
	// SACK off: with it, gVisor's RACK loss detection recovers from the
	// burst a reset loses one segment per retransmission time-out (seconds
	// for a window); NewReno's recovery takes a round trip or one time-out.
	sack := tcpip.TCPSACKEnabled(false)
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack)
	moderate := tcpip.TCPModerateReceiveBufferOption(true)
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &moderate)
	return &Stack{s: s, ifaces: make(map[tcpip.NICID]*Interface)}
}

// Driver returns a protocol driver, named "netstack", whose bindings
// become interfaces of s. Register it with one runtime.
func (s *Stack) Driver() ndis.ProtocolDriver { return newDriver(func() *Stack { return s }) }

// Interfaces returns the stack's interfaces, in the order they were bound.
func (s *Stack) Interfaces() []*Interface {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.interfacesLocked()
}

// +checklocks:s.mu
func (s *Stack) interfacesLocked() []*Interface {
	out := make([]*Interface, 0, len(s.ifaces))
	for _, i := range s.ifaces {
		out = append(out, i)
	}
	slices.SortFunc(out, func(a, b *Interface) int { return int(a.id) - int(b.id) })
	return out
}

// Interface returns the interface on the adapter called name.
func (s *Stack) Interface(name string) (*Interface, bool) {
	for _, i := range s.Interfaces() {
		if i.Name() == name {
			return i, true
		}
	}
	return nil, false
}

// Route is one entry of a stack's routing table.
type Route struct {
	Dst       netip.Prefix
	Gateway   netip.Addr // invalid: on link
	Interface string     // the adapter's name
}

// Routes returns the stack's routing table, longest prefixes first, as
// the stack looks routes up.
func (s *Stack) Routes() []Route {
	names := make(map[tcpip.NICID]string)
	for _, i := range s.Interfaces() {
		names[i.id] = i.Name()
	}
	var out []Route
	for _, r := range s.s.GetRouteTable() {
		out = append(out, Route{Dst: netipSubnet(r.Destination), Gateway: netipAddr(r.Gateway), Interface: names[r.NIC]})
	}
	return out
}

// Close closes the stack: it closes the bindings of its interfaces
// (NdisCloseAdapterEx; their protocols get no UnbindAdapter), aborts every
// connection and listener, so their readers and writers return an error,
// and stops the stack's goroutines. It waits, within ctx, for the bindings
// to close. Close twice is fine.
func (s *Stack) Close(ctx context.Context) error {
	ifaces, ok := s.shut()
	if !ok {
		return nil
	}
	var err error
	for _, i := range ifaces {
		i.detach()
		if e := i.b.Close(ctx); e != nil && err == nil {
			err = fmt.Errorf("netstack: close binding to %s: %w", i.Name(), e)
		}
	}
	s.destroy()
	return err
}

// shut marks the stack closed and returns its interfaces; false if it was
// closed already.
func (s *Stack) shut() ([]*Interface, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, false
	}
	s.closed = true
	return s.interfacesLocked(), true
}

// destroy aborts every endpoint and waits for the stack's goroutines. The
// NICs are gone by then.
func (s *Stack) destroy() {
	s.s.Close()
	s.s.Wait()
}

// add registers a new interface, unless the stack is closed, and gives it
// its NIC ID.
func (s *Stack) add(i *Interface) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.nextID++
	i.id = s.nextID
	s.ifaces[i.id] = i
	return nil
}

// remove forgets an interface whose NIC is gone; a stack of Driver's
// closes with its last one.
func (s *Stack) remove(id tcpip.NICID) {
	s.mu.Lock()
	delete(s.ifaces, id)
	last := s.owned && len(s.ifaces) == 0 && !s.closed
	if last {
		s.closed = true
	}
	s.mu.Unlock()
	if last {
		s.destroy()
	}
}

// isClosed reports whether the stack is closed.
func (s *Stack) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// tcpErr turns a gVisor error into a Go one.
func tcpErr(op string, e tcpip.Error) error {
	return fmt.Errorf("netstack: %s: %s", op, e)
}
