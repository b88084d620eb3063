package arpecho_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"sync"
	"testing"

	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
	"github.com/gondis/gondis/protocol/arpecho"
	"github.com/gondis/gondis/protocol/internal/prototest"
)

var (
	ourMAC   = ndis.MacAddress{0x02, 0, 0, 0, 0, 0x02}
	peerMAC  = ndis.MacAddress{0x02, 0, 0, 0, 0, 0x01}
	ourIP    = [4]byte{10, 9, 0, 2}
	peerIP   = [4]byte{10, 9, 0, 1}
	otherIP  = [4]byte{10, 9, 0, 3}
	otherMAC = ndis.MacAddress{0x02, 0, 0, 0, 0, 0x77}

	us   = ndistest.Host{MAC: ourMAC, IP: netip.AddrFrom4(ourIP)}
	peer = ndistest.Host{MAC: peerMAC, IP: netip.AddrFrom4(peerIP)}
)

// arpRequest builds an ARP request from the peer for target.
func arpRequest(target [4]byte) []byte { return ndistest.ARPRequest(peer, netip.AddrFrom4(target)) }

// echoRequest builds an ICMP echo request from the peer to dstMAC/dst.
func echoRequest(dstMAC ndis.MacAddress, dst [4]byte, id, seq uint16, payload []byte) []byte {
	return ndistest.EchoRequest(peer, ndistest.Host{MAC: dstMAC, IP: netip.AddrFrom4(dst)}, id, seq, payload)
}

func TestAnswerARP(t *testing.T) {
	out := make([]byte, 1514)
	n, k := arpecho.Answer(out, arpRequest(ourIP), ourMAC, ourIP)
	if k != arpecho.KindARPRequest || n != 42 {
		t.Fatalf("Answer = %d, %v", n, k)
	}
	if want := ndistest.ARPReply(us, peer); !bytes.Equal(out[:n], want) {
		t.Errorf("ARP reply\n%x, want\n%x", out[:n], want)
	}
	if n, k := arpecho.Answer(out, arpRequest(otherIP), ourMAC, ourIP); n != 0 || k != arpecho.KindOther {
		t.Errorf("ARP for another address answered: %d, %v", n, k)
	}
}

func TestAnswerEcho(t *testing.T) {
	payload := []byte("gondis ping payload, odd length!!!x")
	req := echoRequest(ourMAC, ourIP, 0x1234, 7, payload)
	out := make([]byte, 1514)
	n, k := arpecho.Answer(out, req, ourMAC, ourIP)
	if k != arpecho.KindEchoRequest || n != len(req) {
		t.Fatalf("Answer = %d, %v", n, k)
	}
	checkEchoReply(t, out[:n], 0x1234, 7, payload)

	for name, f := range map[string][]byte{
		"other MAC": echoRequest(otherMAC, ourIP, 1, 1, nil),
		"other IP":  echoRequest(ourMAC, otherIP, 1, 1, nil),
		"bad sum": func() []byte {
			f := echoRequest(ourMAC, ourIP, 1, 1, payload)
			f[len(f)-1] ^= 0xff
			return f
		}(),
		"fragment": func() []byte {
			f := echoRequest(ourMAC, ourIP, 1, 1, nil)
			f[14+6] = 0x20 // MF
			binary.BigEndian.PutUint16(f[14+10:], 0)
			binary.BigEndian.PutUint16(f[14+10:], ndistest.Checksum(f[14:34]))
			return f
		}(),
		"short": req[:30],
	} {
		if n, _ := arpecho.Answer(out, f, ourMAC, ourIP); n != 0 {
			t.Errorf("%s: answered", name)
		}
	}
}

func checkEchoReply(t *testing.T, r []byte, id, seq uint16, payload []byte) {
	t.Helper()
	p := r[ndis.EthernetHeaderSize:]
	if ndistest.Checksum(p[:20]) != 0 || ndistest.Checksum(p[20:]) != 0 {
		t.Errorf("IP or ICMP checksum wrong")
	}
	if want := ndistest.EchoReply(us, peer, id, seq, payload); !bytes.Equal(r, want) {
		t.Errorf("echo reply\n%x, want\n%x", r, want)
	}
}

// FuzzAnswer feeds the parser arbitrary frames: it never panics, never
// writes past the reply it reports, and what it answers is a well-formed
// reply to us.
func FuzzAnswer(f *testing.F) {
	f.Add(arpRequest(ourIP))
	f.Add(echoRequest(ourMAC, ourIP, 1, 2, []byte("abc")))
	f.Add([]byte{})
	f.Add(make([]byte, 14))
	f.Fuzz(func(t *testing.T, frame []byte) {
		out := make([]byte, len(frame)+64)
		for i := range out {
			out[i] = 0xa5
		}
		n, k := arpecho.Answer(out, frame, ourMAC, ourIP)
		if n == 0 {
			return
		}
		if n > len(frame) && k == arpecho.KindEchoRequest || n > len(out) {
			t.Fatalf("reply of %d bytes to a frame of %d", n, len(frame))
		}
		for _, b := range out[n:] {
			if b != 0xa5 {
				t.Fatalf("wrote past the reply")
			}
		}
		r := out[:n]
		if !bytes.Equal(r[6:12], ourMAC[:]) {
			t.Fatalf("reply not from our MAC")
		}
		switch k {
		case arpecho.KindARPRequest:
			if !bytes.Equal(r[14+14:14+18], ourIP[:]) {
				t.Fatalf("ARP reply not from our IP")
			}
		case arpecho.KindEchoRequest:
			p := r[14:]
			if ndistest.Checksum(p[:int(p[0]&0xf)*4]) != 0 || !bytes.Equal(p[12:16], ourIP[:]) {
				t.Fatalf("bad IP header in reply")
			}
		default:
			t.Fatalf("answered a %v", k)
		}
		// Our own replies are never requests for us.
		if arpecho.Classify(r, ourMAC, ourIP) != arpecho.KindOther {
			t.Fatalf("reply classified as a request")
		}
	})
}

// setup binds the responder to a fake adapter with ourMAC and captures
// every frame the responder sends.
func setup(t *testing.T) (*ndistest.Fake, *ndis.Binding, *arpecho.Responder, func() [][]byte) {
	t.Helper()
	f := ndistest.NewFake()
	f.General = &ndis.GeneralAttributes{CurrentMacAddress: ourMAC, PermanentMacAddress: ourMAC,
		MediaConnectState: ndis.MediaConnectStateConnected}
	var mu sync.Mutex
	var sent [][]byte
	f.OnSend = func(l *ndis.NetBufferList) {
		mu.Lock()
		defer mu.Unlock()
		for x := l; x != nil; x = x.Next {
			for _, fr := range x.Frames {
				sent = append(sent, bytes.Clone(fr))
			}
		}
	}
	rt := prototest.Start(t, f.Driver("fake", ndis.Version630), "fake0", arpecho.Driver())
	b := prototest.Bind(t, rt, arpecho.Name, "fake0", map[string]string{"ip": us.IP.String()})
	r, ok := arpecho.Of(b)
	if !ok {
		t.Fatal("no responder for the binding")
	}
	return f, b, r, func() [][]byte {
		mu.Lock()
		defer mu.Unlock()
		return append([][]byte(nil), sent...)
	}
}

func TestResponderThroughRuntime(t *testing.T) {
	f, _, r, sent := setup(t)
	payload := []byte("hello")
	f.Indicate(0,
		arpRequest(ourIP),
		arpRequest(otherIP),
		echoRequest(ourMAC, ourIP, 9, 1, payload),
		echoRequest(otherMAC, ourIP, 9, 2, payload), // filtered by the runtime
	)
	ndistest.Eventually(t, func() bool { return r.Stats().Completed == 2 }, "two replies completed")
	got := sent()
	if len(got) != 2 {
		t.Fatalf("sent %d frames, want 2", len(got))
	}
	if binary.BigEndian.Uint16(got[0][12:]) != 0x0806 {
		t.Errorf("first reply is not ARP")
	}
	checkEchoReply(t, got[1], 9, 1, payload)
	st := r.Stats()
	if st.ARPRequests != 1 || st.EchoRequests != 1 || st.Replies != 2 || st.Failed != 0 {
		t.Errorf("stats %+v", st)
	}
	if n := f.ReturnedTotal(); n != 4 {
		t.Errorf("%d NBLs returned to the miniport, want all 4", n)
	}
	if r.Addr() != netip.AddrFrom4(ourIP) {
		t.Errorf("Addr = %v", r.Addr())
	}
}

func TestResponderHearsResetAndLink(t *testing.T) {
	f, _, r, _ := setup(t)
	f.Adapter.IndicateStatus(ndis.StatusLinkState, ndis.LinkState{MediaConnectState: ndis.MediaConnectStateDisconnected}.Marshal())
	f.Adapter.ResetMiniport()
	ndistest.Eventually(t, func() bool { return r.Stats().ResetEnds == 1 }, "RESET_END")
	st := r.Stats()
	if st.ResetStarts != 1 || st.LinkDowns != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestResponderNoBuffer(t *testing.T) {
	f, _, r, _ := setup(t)
	f.HoldSends = true
	reqs := make([][]byte, arpecho.Window+5)
	for i := range reqs {
		reqs[i] = arpRequest(ourIP)
	}
	f.Indicate(0, reqs...)
	ndistest.Eventually(t, func() bool { return f.Held() == arpecho.Window }, "a full window held")
	if st := r.Stats(); st.NoBuffer != 5 {
		t.Errorf("NoBuffer = %d, want 5", st.NoBuffer)
	}
	f.CompleteHeld(ndis.StatusSuccess)
	ndistest.Eventually(t, func() bool { return r.Stats().Completed == arpecho.Window }, "the window back")
}

// TestDriverParams: a binding's address is its "ip" parameter, or
// DefaultAddr; a bad one fails the bind with a ParamError.
func TestDriverParams(t *testing.T) {
	f := ndistest.NewFake()
	f.General = &ndis.GeneralAttributes{CurrentMacAddress: ourMAC}
	d := arpecho.Driver()
	if d.Name != arpecho.Name {
		t.Fatalf("Driver().Name = %q", d.Name)
	}
	good, bad := prototest.ParamChecks(t, d)
	good(map[string]string{"ip": "10.1.2.3"})
	for _, v := range []string{"not-an-ip", "::1", ""} {
		bad("ip", map[string]string{"ip": v})
	}
	bad("addr", map[string]string{"addr": "10.1.2.3"})
	rt := prototest.Start(t, f.Driver("fake", ndis.Version630), "fake1", d)
	_, err := rt.Bind(t.Context(), arpecho.Name, "fake1", ndis.BindParams(map[string]string{"ip": "not-an-ip"}))
	var pe *ndis.ParamError
	if !errors.As(err, &pe) || pe.Driver != arpecho.Name || pe.Key != "ip" {
		t.Errorf("Bind with a bad ip: %v", err)
	}
	for ip, want := range map[string]netip.Addr{"10.1.2.3": netip.MustParseAddr("10.1.2.3"), "": arpecho.DefaultAddr} {
		params := map[string]string{"ip": ip}
		if ip == "" {
			params = nil
		}
		r, _ := arpecho.Of(prototest.Bind(t, rt, arpecho.Name, "fake1", params))
		if r == nil || r.Addr() != want {
			t.Errorf("ip %q: responder %v, want address %v", ip, r, want)
		}
	}
}

// TestReport: the responder reports its counters as Stats has them.
func TestReport(t *testing.T) {
	f, b, r, _ := setup(t)
	f.Indicate(0, arpRequest(ourIP), echoRequest(ourMAC, ourIP, 1, 1, nil), echoRequest(ourMAC, ourIP, 1, 2, nil),
		arpRequest(otherIP))
	f.Adapter.ResetMiniport()
	ndistest.Eventually(t, func() bool { st := r.Stats(); return st.Completed == 3 && st.ResetEnds == 1 },
		"three replies completed and a reset")
	st := r.Stats()
	if st.ARPReplies != 1 || st.EchoReplies != 2 || st.Replies != 3 || st.Ignored != 1 {
		t.Errorf("stats %+v", st)
	}
	want := map[string]float64{
		"arp_requests": float64(st.ARPRequests), "echo_requests": float64(st.EchoRequests),
		"arp_replies": float64(st.ARPReplies), "echo_replies": float64(st.EchoReplies),
		"no_buffer": float64(st.NoBuffer), "ignored": float64(st.Ignored),
		"reset_starts": float64(st.ResetStarts), "reset_ends": float64(st.ResetEnds),
		"link_ups": float64(st.LinkUps), "link_downs": float64(st.LinkDowns),
		"completed{status=NDIS_STATUS_SUCCESS}": 3,
	}
	prototest.CheckReport(t, b, want)
}
