package netstack_test

import (
	"context"
	"io"
	"net"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/link/pipe"
	"gvisor.dev/gvisor/pkg/tcpip/link/qdisc/fifo"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// BenchmarkTCP measures TCP throughput from one stack to another, 1 MiB
// an operation: over two sim adapters on one wire (gondis: the runtime, the
// sim's rings and wire, this package's link, two copies a frame), beside
// the baseline of two gVisor stacks joined by gVisor's own pipe link (no
// driver, no copy), with the same TCP settings and queueing discipline.
func BenchmarkTCP(b *testing.B) {
	b.Run("sim", func(b *testing.B) {
		x, y := pair(b, nil, nil)
		ca, cb := connect(b, x, y, 5001)
		benchTransfer(b, ca, cb)
	})
	b.Run("gvisor_pipe", func(b *testing.B) {
		ca, cb := pipePair(b)
		benchTransfer(b, ca, cb)
	})
}

func benchTransfer(b *testing.B, from, to net.Conn) {
	const chunk = 1 << 20
	done := make(chan error, 1)
	go func() {
		_, err := io.CopyN(io.Discard, to, int64(chunk)*int64(b.N))
		done <- err
	}()
	buf := make([]byte, 64<<10)
	b.SetBytes(chunk)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for sent := 0; sent < chunk; sent += len(buf) {
			if _, err := from.Write(buf); err != nil {
				b.Fatal(err)
			}
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// pipePair returns a TCP connection between two bare gVisor stacks on the
// two ends of a pipe link, with Ethernet framing and a fifo queue as this
// package's interfaces have.
func pipePair(b *testing.B) (ca, cb net.Conn) {
	e1, e2 := pipe.New("\x02\x00\x00\x00\x00\x01", "\x02\x00\x00\x00\x00\x02", 1500)
	s1, s2 := bareStack(b, ethernet.New(e1), "10.9.0.1"), bareStack(b, ethernet.New(e2), "10.9.0.2")
	l, err := gonet.ListenTCP(s2, tcpip.FullAddress{Port: 80}, ipv4.ProtocolNumber)
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	ca, err = gonet.DialContextTCP(context.Background(), s1,
		tcpip.FullAddress{Addr: tcpip.AddrFrom4([4]byte{10, 9, 0, 2}), Port: 80}, ipv4.ProtocolNumber)
	if err != nil {
		b.Fatal(err)
	}
	cb = <-accepted
	b.Cleanup(func() { ca.Close(); cb.Close() })
	return ca, cb
}

func bareStack(b *testing.B, ep stack.LinkEndpoint, ip string) *stack.Stack {
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol},
	})
	b.Cleanup(s.Destroy)
	sack := tcpip.TCPSACKEnabled(false)
	moderate := tcpip.TCPModerateReceiveBufferOption(true)
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &sack)
	s.SetTransportProtocolOption(tcp.ProtocolNumber, &moderate)
	if e := s.CreateNICWithOptions(1, ep, stack.NICOptions{QDisc: fifo.New(ep, 1, 1000)}); e != nil {
		b.Fatal(e)
	}
	a := tcpip.AddrFrom4([4]byte(net.ParseIP(ip).To4()))
	pa := tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: tcpip.AddressWithPrefix{Address: a, PrefixLen: 24}}
	if e := s.AddProtocolAddress(1, pa, stack.AddressProperties{}); e != nil {
		b.Fatal(e)
	}
	s.SetRouteTable([]tcpip.Route{{Destination: header.IPv4EmptySubnet, NIC: 1}})
	return s
}
