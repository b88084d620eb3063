// Package arpecho is a small ARP and ICMP echo responder written as a gondis
// protocol: bound to an adapter, it owns one IPv4 address at the adapter's
// MAC address, answers ARP requests for that address and ICMP echo
// requests sent to it, and nothing else. It is what the TAP miniport's
// tests ping through the kernel, and a minimal example of a protocol
// driver.
//
// # Plugging it in
//
//	rt.RegisterProtocolDriver(arpecho.Driver())
//	b, err := rt.Bind(ctx, "arpecho", "tap0", ndis.BindParams(map[string]string{"ip": "10.0.0.2"}))
//	r, _ := arpecho.Of(b) // its counters: r.Stats(), or b.Details()
//
// # Parameters
//
// Per binding, from ndis.BindParams:
//
//	ip  the IPv4 address answered for (default 192.0.2.1)
//
// An unknown key or a bad value fails BindAdapter with a *ndis.ParamError;
// the driver's ValidateParams (ndis.Runtime.ValidateBindParams) checks a
// map the same way.
//
// At bind time the responder sets its packet filter to directed and
// broadcast. It copies each answer into a reply NBL of its own (at most
// Window in flight; a request that finds none free is dropped and counted)
// and returns every received NBL at once. It counts the RESET_START,
// RESET_END and link-state indications it hears, and reports every
// counter (ndis.Reporter).
package arpecho

import (
	"errors"
	"net/netip"
	"sync/atomic"

	"github.com/gondis/gondis/internal/param"
	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/protocol/internal/kit"
)

// Name is the protocol driver's name.
const Name = "arpecho"

// Window is the most replies a binding has in flight.
const Window = 64

// DefaultAddr is the address of a binding given no "ip" parameter.
var DefaultAddr = netip.MustParseAddr("192.0.2.1")

// params are a binding's parsed parameters.
type params struct {
	ip netip.Addr
}

// table declares the parameters; the package doc lists them.
var table = param.Table[params]{
	Driver: Name,
	Specs: []param.Spec[params]{
		{Key: "ip", Doc: "the IPv4 address answered for (default 192.0.2.1)", Set: func(p *params, v string) error {
			a, err := netip.ParseAddr(v)
			if err != nil || !a.Is4() {
				return errors.New("want an IPv4 address")
			}
			p.ip = a
			return nil
		}},
	},
}

// Driver returns the responder driver, named "arpecho". Its BindAdapter
// reads the binding's address from its parameters (ndis.BindParams) and
// its ValidateParams checks them the same way.
func Driver() ndis.ProtocolDriver {
	return ndis.ProtocolDriver{Name: Name, BindAdapter: bind, ValidateParams: table.Validate}
}

func bind(b *ndis.Binding) (ndis.Protocol, error) {
	p := params{ip: DefaultAddr}
	if err := table.Parse(&p, b.Params()); err != nil {
		return nil, err
	}
	if err := kit.SetFilter(b); err != nil {
		return nil, err
	}
	return &Responder{mac: b.Adapter().MacAddress(), ip: p.ip.As4(), r: kit.NewReplier(b, Window)}, nil
}

// Of returns the responder of a binding of the arpecho driver, what its
// BindAdapter returned; ok is false for another protocol's binding and
// while BindAdapter runs. It stays valid after the binding closes.
func Of(b *ndis.Binding) (*Responder, bool) {
	r, ok := b.ProtocolContext().(*Responder)
	return r, ok
}

// The responder's handlers.
var (
	_ ndis.Protocol = (*Responder)(nil)
	_ ndis.Reporter = (*Responder)(nil)
)

// Responder is the protocol of one binding. Its methods are safe from any
// goroutine.
type Responder struct {
	mac ndis.MacAddress
	ip  [4]byte

	arpRequests, echoRequests, arpReplies, echoReplies, ignored atomic.Uint64
	resetStarts, resetEnds, linkUps, linkDowns                  atomic.Uint64

	r *kit.Replier // the replies; its window is Window
}

// Stats is a snapshot of a responder's counters.
type Stats struct {
	ARPRequests, EchoRequests uint64 // requests for our address
	ARPReplies, EchoReplies   uint64 // replies sent, by kind
	Replies                   uint64 // replies sent
	Completed, Failed         uint64 // replies completed, and those with a failure status
	NoBuffer                  uint64 // requests dropped: every reply NBL in flight
	Ignored                   uint64 // frames that were not requests for us
	ResetStarts, ResetEnds    uint64
	LinkUps, LinkDowns        uint64 // StatusLinkState indications
}

// Stats returns the responder's counters.
func (r *Responder) Stats() Stats {
	var completed, failed uint64
	for s, n := range r.r.Completed.Snapshot() {
		completed += n
		if s != ndis.StatusSuccess {
			failed += n
		}
	}
	return Stats{
		ARPRequests: r.arpRequests.Load(), EchoRequests: r.echoRequests.Load(),
		ARPReplies: r.arpReplies.Load(), EchoReplies: r.echoReplies.Load(),
		Replies: r.r.Sent(), Completed: completed, Failed: failed,
		NoBuffer: r.r.NoBuffer(), Ignored: r.ignored.Load(),
		ResetStarts: r.resetStarts.Load(), ResetEnds: r.resetEnds.Load(),
		LinkUps: r.linkUps.Load(), LinkDowns: r.linkDowns.Load(),
	}
}

// Report implements ndis.Reporter: the responder's counters, and its
// replies completed by status.
func (r *Responder) Report() []ndis.Detail {
	d := []ndis.Detail{
		kit.Counter("arp_requests", "ARP requests for our address", r.arpRequests.Load()),
		kit.Counter("echo_requests", "ICMP echo requests to our address", r.echoRequests.Load()),
		kit.Counter("arp_replies", "ARP replies sent", r.arpReplies.Load()),
		kit.Counter("echo_replies", "ICMP echo replies sent", r.echoReplies.Load()),
		kit.Counter("no_buffer", "requests dropped: every reply NBL in flight", r.r.NoBuffer()),
		kit.Counter("ignored", "frames that were not requests for us", r.ignored.Load()),
		kit.Counter("reset_starts", "RESET_START indications", r.resetStarts.Load()),
		kit.Counter("reset_ends", "RESET_END indications", r.resetEnds.Load()),
		kit.Counter("link_ups", "link-state indications: connected", r.linkUps.Load()),
		kit.Counter("link_downs", "link-state indications: not connected", r.linkDowns.Load()),
	}
	return append(d, r.r.Completed.Details("completed", "replies completed, by status")...)
}

// Addr returns the responder's IPv4 address.
func (r *Responder) Addr() netip.Addr { return netip.AddrFrom4(r.ip) }

// ReceiveNetBufferLists is ProtocolReceiveNetBufferLists: it answers every
// request in the chain with one send of the replies, and returns the chain
// (unless the runtime lent it).
func (r *Responder) ReceiveNetBufferLists(l *ndis.NetBufferList, flags ndis.ReceiveFlags) {
	r.r.Receive(l, flags, r.isRequest, r.reply)
}

// isRequest reports whether f is a request for us, and counts it.
func (r *Responder) isRequest(f []byte) bool {
	switch Classify(f, r.mac, r.ip) {
	case KindARPRequest:
		r.arpRequests.Add(1)
	case KindEchoRequest:
		r.echoRequests.Add(1)
	default:
		r.ignored.Add(1)
		return false
	}
	return true
}

// reply writes the answer to the request f into out, and counts it.
func (r *Responder) reply(out, f []byte) int {
	n, k := Answer(out, f, r.mac, r.ip)
	switch {
	case n == 0:
	case k == KindARPRequest:
		r.arpReplies.Add(1)
	case k == KindEchoRequest:
		r.echoReplies.Add(1)
	}
	return n
}

// SendNetBufferListsComplete is ProtocolSendNetBufferListsComplete: the
// reply NBLs go back to the pool, counted by status.
func (r *Responder) SendNetBufferListsComplete(l *ndis.NetBufferList) { r.r.Complete(l) }

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
