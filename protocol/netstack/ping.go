package netstack

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/waiter"
)

// pingPayload is the size of an echo request's data.
const pingPayload = 56

// pingSeq numbers a process's echo requests.
var pingSeq atomic.Uint32

// Ping sends one ICMP echo request to dst from a ping socket of the stack
// (ICMP or ICMPv6 by dst's family) and waits, within ctx, for its reply.
// It returns the round-trip time. The stack answers others' echo requests
// itself.
func (s *Stack) Ping(ctx context.Context, dst netip.Addr) (time.Duration, error) {
	if s.isClosed() {
		return 0, ErrClosed
	}
	if !dst.IsValid() {
		return 0, fmt.Errorf("netstack: ping: no address")
	}
	trans, network := icmp.ProtocolNumber6, header.IPv6ProtocolNumber
	if dst = dst.Unmap(); dst.Is4() {
		trans, network = icmp.ProtocolNumber4, header.IPv4ProtocolNumber
	}
	var wq waiter.Queue
	ep, e := s.s.NewEndpoint(trans, network, &wq)
	if e != nil {
		return 0, tcpErr("ping "+dst.String(), e)
	}
	defer ep.Close()
	we, ready := waiter.NewChannelEntry(waiter.ReadableEvents | waiter.WritableEvents)
	wq.EventRegister(&we)
	defer wq.EventUnregister(&we)

	seq := uint16(pingSeq.Add(1))
	req := echoRequest(dst.Is4(), seq)
	start := time.Now()
	to := tcpip.FullAddress{Addr: tcpipAddr(dst)}
	for {
		var r bytes.Reader
		r.Reset(req)
		_, e = ep.Write(&r, tcpip.WriteOptions{To: &to})
		if _, wait := e.(*tcpip.ErrWouldBlock); !wait {
			break
		}
		if err := waitReady(ctx, ready); err != nil {
			return 0, err
		}
	}
	if e != nil {
		return 0, tcpErr("ping "+dst.String(), e)
	}
	for {
		var b bytes.Buffer
		_, e := ep.Read(&b, tcpip.ReadOptions{})
		switch e.(type) {
		case nil:
			if isEchoReply(dst.Is4(), b.Bytes(), req) {
				return time.Since(start), nil
			}
			continue
		case *tcpip.ErrWouldBlock:
			if err := waitReady(ctx, ready); err != nil {
				return 0, err
			}
			continue
		}
		return 0, tcpErr("ping "+dst.String(), e)
	}
}

func waitReady(ctx context.Context, ready <-chan struct{}) error {
	select {
	case <-ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// echoRequest builds an echo request; the ping socket sets its identifier
// and checksum.
func echoRequest(v4 bool, seq uint16) []byte {
	b := make([]byte, header.ICMPv4MinimumSize+pingPayload)
	for i := header.ICMPv4MinimumSize; i < len(b); i++ {
		b[i] = byte(i) ^ byte(seq)
	}
	if v4 {
		h := header.ICMPv4(b)
		h.SetType(header.ICMPv4Echo)
		h.SetSequence(seq)
		return b
	}
	h := header.ICMPv6(b)
	h.SetType(header.ICMPv6EchoRequest)
	h.SetSequence(seq)
	return b
}

// isEchoReply reports whether b, an ICMP message read from a ping socket,
// answers req: an echo reply with req's sequence number and data.
func isEchoReply(v4 bool, b, req []byte) bool {
	if len(b) != len(req) || !bytes.Equal(b[header.ICMPv4MinimumSize:], req[header.ICMPv4MinimumSize:]) {
		return false
	}
	if v4 {
		return header.ICMPv4(b).Type() == header.ICMPv4EchoReply && header.ICMPv4(b).Sequence() == header.ICMPv4(req).Sequence()
	}
	return header.ICMPv6(b).Type() == header.ICMPv6EchoReply && header.ICMPv6(b).Sequence() == header.ICMPv6(req).Sequence()
}
