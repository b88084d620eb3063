package arpecho_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/netip"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
	"github.com/gondis/gondis/protocol/arpecho"
	"github.com/gondis/gondis/protocol/bindparams"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	ourMAC   = ndis.MacAddress{0x02, 0, 0, 0, 0, 0x02}
	peerMAC  = ndis.MacAddress{0x02, 0, 0, 0, 0, 0x01}
	ourIP    = [4]byte{10, 9, 0, 2}
	peerIP   = [4]byte{10, 9, 0, 1}
	otherIP  = [4]byte{10, 9, 0, 3}
	otherMAC = ndis.MacAddress{0x02, 0, 0, 0, 0, 0x77}
)

// arpRequest builds an ARP request from the peer for target.
func arpRequest(target [4]byte) []byte {
	f := make([]byte, 42)
	copy(f[0:6], ndis.BroadcastAddress[:])
	copy(f[6:12], peerMAC[:])
	binary.BigEndian.PutUint16(f[12:], 0x0806)
	a := f[14:]
	binary.BigEndian.PutUint16(a[0:], 1)
	binary.BigEndian.PutUint16(a[2:], 0x0800)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], 1)
	copy(a[8:14], peerMAC[:])
	copy(a[14:18], peerIP[:])
	copy(a[24:28], target[:])
	return f
}

func sum(b []byte) uint16 {
	var s uint32
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// echoRequest builds an ICMP echo request from the peer to dstMAC/dst.
func echoRequest(dstMAC ndis.MacAddress, dst [4]byte, id, seq uint16, payload []byte) []byte {
	total := 20 + 8 + len(payload)
	f := make([]byte, 14+total)
	copy(f[0:6], dstMAC[:])
	copy(f[6:12], peerMAC[:])
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	p := f[14:]
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], uint16(total))
	p[8] = 64
	p[9] = 1
	copy(p[12:16], peerIP[:])
	copy(p[16:20], dst[:])
	binary.BigEndian.PutUint16(p[10:], ^sum(p[:20]))
	i := p[20:]
	i[0] = 8
	binary.BigEndian.PutUint16(i[4:], id)
	binary.BigEndian.PutUint16(i[6:], seq)
	copy(i[8:], payload)
	binary.BigEndian.PutUint16(i[2:], ^sum(i))
	return f
}

func TestAnswerARP(t *testing.T) {
	out := make([]byte, 1514)
	n, k := arpecho.Answer(out, arpRequest(ourIP), ourMAC, ourIP)
	if k != arpecho.KindARPRequest || n != 42 {
		t.Fatalf("Answer = %d, %v", n, k)
	}
	r := out[:n]
	if !bytes.Equal(r[0:6], peerMAC[:]) || !bytes.Equal(r[6:12], ourMAC[:]) {
		t.Errorf("Ethernet header %x", r[:14])
	}
	a := r[14:]
	if binary.BigEndian.Uint16(a[6:]) != 2 || !bytes.Equal(a[8:14], ourMAC[:]) || !bytes.Equal(a[14:18], ourIP[:]) ||
		!bytes.Equal(a[18:24], peerMAC[:]) || !bytes.Equal(a[24:28], peerIP[:]) {
		t.Errorf("ARP reply %x", a)
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
			binary.BigEndian.PutUint16(f[14+10:], ^sum(f[14:34]))
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
	if !bytes.Equal(r[0:6], peerMAC[:]) || !bytes.Equal(r[6:12], ourMAC[:]) {
		t.Errorf("Ethernet header %x", r[:14])
	}
	p := r[14:]
	if sum(p[:20]) != 0xffff {
		t.Errorf("IP checksum wrong")
	}
	if !bytes.Equal(p[12:16], ourIP[:]) || !bytes.Equal(p[16:20], peerIP[:]) {
		t.Errorf("addresses %v -> %v", p[12:16], p[16:20])
	}
	i := p[20:]
	if i[0] != 0 || sum(i) != 0xffff {
		t.Errorf("ICMP type %d or checksum wrong", i[0])
	}
	if binary.BigEndian.Uint16(i[4:]) != id || binary.BigEndian.Uint16(i[6:]) != seq || !bytes.Equal(i[8:], payload) {
		t.Errorf("ICMP body %x", i[4:])
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
			if sum(p[:int(p[0]&0xf)*4]) != 0xffff || !bytes.Equal(p[12:16], ourIP[:]) {
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
func setup(t *testing.T) (*ndistest.Fake, *arpecho.Responder, func() [][]byte) {
	t.Helper()
	v := ndistest.NewVerifier(t)
	rt := ndis.New(v.Options()...)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rt.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
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
	if err := rt.RegisterMiniportDriver(f.Driver("fake", ndis.Version630)); err != nil {
		t.Fatal(err)
	}
	if err := rt.RegisterProtocolDriver(arpecho.NewDriver("arpecho", netip.AddrFrom4(ourIP))); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := rt.AddAdapter(ctx, "fake0", "fake", nil); err != nil {
		t.Fatal(err)
	}
	b, err := rt.Bind(ctx, "arpecho", "fake0")
	if err != nil {
		t.Fatal(err)
	}
	r, ok := arpecho.ResponderOf(b)
	if !ok {
		t.Fatal("no responder for the binding")
	}
	return f, r, func() [][]byte {
		mu.Lock()
		defer mu.Unlock()
		return append([][]byte(nil), sent...)
	}
}

func TestResponderThroughRuntime(t *testing.T) {
	f, r, sent := setup(t)
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
	f, r, _ := setup(t)
	f.Adapter.IndicateStatus(ndis.StatusLinkState, ndis.LinkState{MediaConnectState: ndis.MediaConnectStateDisconnected}.Marshal())
	f.Adapter.ResetMiniport()
	ndistest.Eventually(t, func() bool { return r.Stats().ResetEnds == 1 }, "RESET_END")
	st := r.Stats()
	if st.ResetStarts != 1 || st.LinkDowns != 1 {
		t.Errorf("stats %+v", st)
	}
}

func TestResponderNoBuffer(t *testing.T) {
	f, r, _ := setup(t)
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

// TestDriverParams: Driver's bindings read their address from
// bindparams.Default, and refuse a bad one.
func TestDriverParams(t *testing.T) {
	v := ndistest.NewVerifier(t)
	rt := ndis.New(v.Options()...)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rt.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	f := ndistest.NewFake()
	f.General = &ndis.GeneralAttributes{CurrentMacAddress: ourMAC}
	if err := rt.RegisterMiniportDriver(f.Driver("fake", ndis.Version630)); err != nil {
		t.Fatal(err)
	}
	d := arpecho.Driver()
	if d.Name != arpecho.Name {
		t.Fatalf("Driver().Name = %q", d.Name)
	}
	if err := rt.RegisterProtocolDriver(d); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := rt.AddAdapter(ctx, "fake1", "fake", nil); err != nil {
		t.Fatal(err)
	}
	bindparams.Default.Set(arpecho.Name, "fake1", map[string]string{"ip": "not-an-ip"})
	defer bindparams.Default.Delete(arpecho.Name, "fake1")
	if _, err := rt.Bind(ctx, arpecho.Name, "fake1"); err == nil {
		t.Error("Bind with a bad ip succeeded")
	}
	bindparams.Default.Set(arpecho.Name, "fake1", map[string]string{"ip": "10.1.2.3"})
	b, err := rt.Bind(ctx, arpecho.Name, "fake1")
	if err != nil {
		t.Fatal(err)
	}
	r, _ := arpecho.ResponderOf(b)
	if r == nil || r.Addr() != netip.MustParseAddr("10.1.2.3") {
		t.Errorf("responder address %v", r)
	}
}
