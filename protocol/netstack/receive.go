package netstack

import (
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/protocol/internal/kit"
)

// receive is the binding's receive indication. Every frame is copied into
// a packet buffer of the stack's, the chain goes back to the miniport at
// once (unless the runtime lent it), and then the packets are delivered, on
// the indicating goroutine: the stack queues TCP segments for its own
// goroutines, and what it answers inline (ARP, ICMP) goes to the NIC's
// queue, so nothing here waits.
func (l *link) receive(chain *ndis.NetBufferList, flags ndis.ReceiveFlags) {
	d := l.dispatcher.Load()
	var small [64]*stack.PacketBuffer
	pkts := small[:0]
	for f := range kit.Frames(chain) {
		switch {
		case d == nil:
			l.c.dropDetached.Add(1)
		case len(f) < header.EthernetMinimumSize:
			l.c.dropRunt.Add(1)
		default:
			pkts = append(pkts, stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(f)}))
		}
	}
	kit.Return(l.b, chain, flags)
	for i, pkt := range pkts {
		l.deliver(d, pkt)
		pkt.DecRef()
		pkts[i] = nil
	}
	l.c.received.Add(uint64(len(pkts)))
}

// deliver hands one frame to the stack, classified by its destination as
// an Ethernet NIC does.
func (l *link) deliver(d *dispatcher, pkt *stack.PacketBuffer) {
	l.ParseHeader(pkt)
	eth := header.Ethernet(pkt.LinkHeader().Slice())
	switch dst := eth.DestinationAddress(); {
	case dst == header.EthernetBroadcastAddress:
		pkt.PktType = tcpip.PacketBroadcast
	case header.IsMulticastEthernetAddress(dst):
		pkt.PktType = tcpip.PacketMulticast
	case dst == l.mac:
		pkt.PktType = tcpip.PacketHost
	default:
		pkt.PktType = tcpip.PacketOtherHost
	}
	d.DeliverNetworkPacket(eth.Type(), pkt)
}
