// Package arpecho is a small ARP and ICMP echo responder written as a gondis
// protocol: bound to an adapter, it owns one IPv4 address at the adapter's
// MAC address, answers ARP requests for that address and ICMP echo
// requests sent to it, and nothing else. It is what the TAP miniport's
// tests ping through the kernel, and a minimal example of a protocol
// driver.
//
// # Plugging it in
//
//	rt.RegisterProtocolDriver(arpecho.NewDriver("arpecho", netip.MustParseAddr("10.0.0.2")))
//	b, err := rt.Bind(ctx, "arpecho", "tap0")
//	r, _ := arpecho.ResponderOf(b) // its counters: r.Stats()
//
// Driver returns the driver named "arpecho", whose address comes from the
// "ip" parameter of bindparams.Default for the adapter (default
// DefaultAddr).
//
// At bind time the responder sets its packet filter to directed and
// broadcast. It copies each answer into a reply NBL of its own (at most
// Window in flight; a request that finds none free is dropped and counted)
// and returns every received NBL at once. It counts the RESET_START,
// RESET_END and link-state indications it hears.
package arpecho

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/protocol/bindparams"
)

// Name is the name of the driver Driver returns.
const Name = "arpecho"

// Window is the most replies a binding has in flight.
const Window = 64

// DefaultAddr is the address of Driver's bindings given no "ip" parameter.
var DefaultAddr = netip.MustParseAddr("192.0.2.1")

// Driver returns the responder driver named "arpecho". A binding's address
// is the "ip" parameter of bindparams.Default for its adapter, or
// DefaultAddr.
func Driver() ndis.ProtocolDriver {
	d := newDriver(Name, DefaultAddr)
	d.params = bindparams.Default
	return d.driver()
}

// NewDriver returns a responder driver called name whose bindings answer for
// the IPv4 address ip.
func NewDriver(name string, ip netip.Addr) ndis.ProtocolDriver {
	return newDriver(name, ip).driver()
}

type driverConfig struct {
	name   string
	ip     netip.Addr
	params *bindparams.Registry
}

func newDriver(name string, ip netip.Addr) *driverConfig {
	return &driverConfig{name: name, ip: ip}
}

func (c *driverConfig) driver() ndis.ProtocolDriver {
	return ndis.ProtocolDriver{Name: c.name, BindAdapter: c.bind}
}

func (c *driverConfig) bind(b *ndis.Binding) (ndis.Protocol, error) {
	ip := c.ip
	if c.params != nil {
		if v, ok := c.params.Get(c.name, b.Adapter().Name())["ip"]; ok {
			a, err := netip.ParseAddr(v)
			if err != nil {
				return nil, fmt.Errorf("arpecho: parameter ip=%q: %w", v, err)
			}
			ip = a
		}
	}
	if !ip.Is4() {
		return nil, fmt.Errorf("arpecho: %v is not an IPv4 address", ip)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r := &ndis.OidRequest{Type: ndis.RequestSet, OID: ndis.OIDGenCurrentPacketFilter,
		Buffer: ndis.Ulong(ndis.PacketTypeDirected | ndis.PacketTypeBroadcast)}
	if s := b.OidRequest(ctx, r); s != ndis.StatusSuccess {
		return nil, fmt.Errorf("arpecho: set %s: %w", ndis.OIDGenCurrentPacketFilter, s)
	}
	resp := &Responder{b: b, mac: b.Adapter().MacAddress(), ip: ip.As4(), pool: ndis.NewPool(1514, Window)}
	registry.Store(b, resp)
	return resp, nil
}

var registry sync.Map // *ndis.Binding -> *Responder

// ResponderOf returns the responder of a binding of one of this package's
// drivers, until the adapter unbinds it.
func ResponderOf(b *ndis.Binding) (*Responder, bool) {
	r, ok := registry.Load(b)
	if !ok {
		return nil, false
	}
	return r.(*Responder), true
}

// Responder is the protocol of one binding. Its methods are safe from any
// goroutine.
type Responder struct {
	b   *ndis.Binding
	mac ndis.MacAddress
	ip  [4]byte

	arpRequests, echoRequests, replies, noBuffer, ignored atomic.Uint64
	resetStarts, resetEnds, linkUps, linkDowns            atomic.Uint64
	completed                                             atomic.Uint64
	failed                                                atomic.Uint64

	pool *ndis.Pool // reply NBLs; its limit is the window
}

// Stats is a snapshot of a responder's counters.
type Stats struct {
	ARPRequests, EchoRequests uint64 // requests for our address
	Replies                   uint64 // replies sent
	Completed, Failed         uint64 // replies completed, and those with a failure status
	NoBuffer                  uint64 // requests dropped: every reply NBL in flight
	Ignored                   uint64 // frames that were not requests for us
	ResetStarts, ResetEnds    uint64
	LinkUps, LinkDowns        uint64 // StatusLinkState indications
}

// Stats returns the responder's counters.
func (r *Responder) Stats() Stats {
	return Stats{
		ARPRequests: r.arpRequests.Load(), EchoRequests: r.echoRequests.Load(),
		Replies: r.replies.Load(), Completed: r.completed.Load(), Failed: r.failed.Load(),
		NoBuffer: r.noBuffer.Load(), Ignored: r.ignored.Load(),
		ResetStarts: r.resetStarts.Load(), ResetEnds: r.resetEnds.Load(),
		LinkUps: r.linkUps.Load(), LinkDowns: r.linkDowns.Load(),
	}
}

// Addr returns the responder's IPv4 address.
func (r *Responder) Addr() netip.Addr { return netip.AddrFrom4(r.ip) }

// ReceiveNetBufferLists is ProtocolReceiveNetBufferLists: it answers every
// request in the chain with one send of the replies, and returns the chain
// (unless the runtime lent it).
func (r *Responder) ReceiveNetBufferLists(l *ndis.NetBufferList, flags ndis.ReceiveFlags) {
	var head, tail *ndis.NetBufferList
	for x := l; x != nil; x = x.Next {
		for _, f := range x.Frames {
			kind := Classify(f, r.mac, r.ip)
			switch kind {
			case KindARPRequest:
				r.arpRequests.Add(1)
			case KindEchoRequest:
				r.echoRequests.Add(1)
			default:
				r.ignored.Add(1)
				continue
			}
			reply, _ := r.pool.Get(1)
			if reply == nil {
				r.noBuffer.Add(1)
				continue
			}
			buf := reply.Frames[0][:cap(reply.Frames[0])]
			if need := replySize(f); need > len(buf) {
				buf = make([]byte, need)
			}
			n, _ := Answer(buf, f, r.mac, r.ip)
			if n == 0 {
				r.pool.Put(reply)
				continue
			}
			reply.Frames[0] = buf[:n]
			if head == nil {
				head = reply
			} else {
				tail.Next = reply
			}
			tail = reply
		}
	}
	if flags&ndis.ReceiveFlagResources == 0 {
		r.b.ReturnNetBufferLists(l)
	}
	if head != nil {
		r.replies.Add(uint64(head.Len()))
		r.b.SendNetBufferLists(head)
	}
}

// SendNetBufferListsComplete is ProtocolSendNetBufferListsComplete: the
// reply NBLs go back to the pool.
func (r *Responder) SendNetBufferListsComplete(l *ndis.NetBufferList) {
	for x := l; x != nil; x = x.Next {
		r.completed.Add(1)
		if x.Status != ndis.StatusSuccess {
			r.failed.Add(1)
		}
	}
	r.pool.Put(l)
}

// Status is ProtocolStatusEx: it counts reset and link-state indications.
func (r *Responder) Status(code ndis.Status, payload []byte) {
	switch code {
	case ndis.StatusResetStart:
		r.resetStarts.Add(1)
	case ndis.StatusResetEnd:
		r.resetEnds.Add(1)
	case ndis.StatusLinkState:
		if ls, s := ndis.ParseLinkState(payload); s == ndis.StatusSuccess {
			if ls.MediaConnectState == ndis.MediaConnectStateConnected {
				r.linkUps.Add(1)
			} else {
				r.linkDowns.Add(1)
			}
		}
	}
}

// UnbindAdapter is ProtocolUnbindAdapterEx.
func (r *Responder) UnbindAdapter() { registry.Delete(r.b) }
