package netstack

import (
	"sync"
	"sync/atomic"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/protocol/internal/kit"
)

// The gVisor side of an interface.
var _ stack.LinkEndpoint = (*link)(nil)

// link is the gVisor link endpoint of one binding: it frames packets in
// Ethernet itself, sends them on the binding in batches (send.go), holds
// them while the adapter resets (reset.go) and delivers what the binding
// receives (receive.go). Its methods are safe from any goroutine.
type link struct {
	b    *ndis.Binding
	mac  tcpip.LinkAddress
	pool *ndis.Pool // send NBLs; its limit is the window
	hold int        // frames held during a reset, at most

	mtu        atomic.Uint32
	dispatcher atomic.Pointer[dispatcher] // nil until Attach, and after the NIC is removed

	// mu guards the transmit path's phase and the frames it holds; the
	// atomic snapshot serves the hot path, which takes mu only off
	// phaseRunning.
	mu sync.Mutex
	// +checklocks:mu
	phase phase
	// +checklocks:mu
	held     ndis.List
	snapshot atomic.Uint32 // phase, written under mu

	onCloseMu sync.Mutex
	// +checklocks:onCloseMu
	onClose func()

	linkUp atomic.Bool
	c      counters
}

// dispatcher boxes the stack's NetworkDispatcher for an atomic pointer.
type dispatcher struct{ stack.NetworkDispatcher }

// counters are a link's counters; see Stats.
type counters struct {
	sent, received, held, resets, linkChanges atomic.Uint64
	dropHoldFull, dropNoBuffer, dropClosed    atomic.Uint64
	dropTooLong, dropRunt, dropDetached       atomic.Uint64
	completed                                 kit.StatusCounts
}

func newLink(b *ndis.Binding, p Params) *link {
	v := b.Adapter()
	mac := v.MacAddress()
	l := &link{b: b, mac: tcpip.LinkAddress(mac[:]), pool: ndis.NewPool(header.EthernetMinimumSize+v.MTU(), p.Window),
		hold: p.Hold}
	l.mtu.Store(uint32(v.MTU()))
	l.linkUp.Store(v.Link().MediaConnectState != ndis.MediaConnectStateDisconnected)
	return l
}

// MTU implements stack.LinkEndpoint: the adapter's MTU.
func (l *link) MTU() uint32 { return l.mtu.Load() }

// SetMTU implements stack.LinkEndpoint. A larger MTU than the adapter's
// would only get frames refused, so it is capped by the send buffers.
func (l *link) SetMTU(mtu uint32) {
	l.mtu.Store(min(mtu, uint32(l.b.Adapter().MTU())))
}

// MaxHeaderLength implements stack.LinkEndpoint: the Ethernet header.
func (*link) MaxHeaderLength() uint16 { return header.EthernetMinimumSize }

// LinkAddress implements stack.LinkEndpoint: the adapter's MAC address.
func (l *link) LinkAddress() tcpip.LinkAddress { return l.mac }

// SetLinkAddress implements stack.LinkEndpoint. The address is the
// adapter's: the packet filter below passes no other, so it is not changed.
func (*link) SetLinkAddress(tcpip.LinkAddress) {}

// Capabilities implements stack.LinkEndpoint: the stack resolves link
// addresses (ARP, NDP) and computes its own checksums.
func (*link) Capabilities() stack.LinkEndpointCapabilities {
	return stack.CapabilityResolutionRequired
}

// Attach implements stack.LinkEndpoint; nil detaches the NIC's stack.
func (l *link) Attach(d stack.NetworkDispatcher) {
	if d == nil {
		l.dispatcher.Store(nil)
		return
	}
	l.dispatcher.Store(&dispatcher{d})
}

// IsAttached implements stack.LinkEndpoint.
func (l *link) IsAttached() bool { return l.dispatcher.Load() != nil }

// Wait implements stack.LinkEndpoint. The link has no goroutine: it sends
// on the stack's and receives on the runtime's.
func (*link) Wait() {}

// ARPHardwareType implements stack.LinkEndpoint.
func (*link) ARPHardwareType() header.ARPHardwareType { return header.ARPHardwareEther }

// AddHeader implements stack.LinkEndpoint: the Ethernet header, from the
// route's link addresses.
func (*link) AddHeader(pkt *stack.PacketBuffer) {
	eth := header.Ethernet(pkt.LinkHeader().Push(header.EthernetMinimumSize))
	eth.Encode(&header.EthernetFields{
		SrcAddr: pkt.EgressRoute.LocalLinkAddress,
		DstAddr: pkt.EgressRoute.RemoteLinkAddress,
		Type:    pkt.NetworkProtocolNumber,
	})
}

// ParseHeader implements stack.LinkEndpoint.
func (*link) ParseHeader(pkt *stack.PacketBuffer) bool {
	_, ok := pkt.LinkHeader().Consume(header.EthernetMinimumSize)
	return ok
}

// Close implements stack.LinkEndpoint: the stack removed the NIC. The
// binding stays open; its frames are dropped from now on.
func (l *link) Close() {
	l.close()
	l.onCloseMu.Lock()
	f := l.onClose
	l.onClose = nil
	l.onCloseMu.Unlock()
	if f != nil {
		f()
	}
}

// SetOnCloseAction implements stack.LinkEndpoint.
func (l *link) SetOnCloseAction(f func()) {
	l.onCloseMu.Lock()
	l.onClose = f
	l.onCloseMu.Unlock()
}
