package loopback_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/gondis/gondis/miniport/loopback"
	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

// waitLimit bounds every wait of these tests; nothing legitimately takes
// more than a few milliseconds.
const waitLimit = 10 * time.Second

var (
	ourMAC   = mustMAC(loopback.DefaultMAC)
	otherMAC = ndis.MacAddress{0x02, 0, 0, 0, 0, 0x99}
	mcastIn  = ndis.MacAddress{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}
	mcastOut = ndis.MacAddress{0x01, 0x00, 0x5e, 0x00, 0x00, 0x02}
)

func mustMAC(s string) ndis.MacAddress {
	hw, err := net.ParseMAC(s)
	if err != nil || len(hw) != 6 {
		panic(s)
	}
	return ndis.MacAddress(hw)
}

// frame builds a numbered Ethernet frame of n bytes (n >= 14) from the
// loopback's address to dst.
func frame(dst ndis.MacAddress, seq uint32, n int) []byte {
	return ndistest.Ethernet(dst, ourMAC, 0x88B5, ndistest.Numbered(seq, n-ndis.EthernetHeaderSize))
}

// --- the recording protocol ------------------------------------------------

// send hands the NBLs to the recorder's binding as one chain.
func send(r *ndistest.Recorder, ls ...*ndis.NetBufferList) {
	r.B.SendNetBufferLists(ndis.Chain(ls...))
}

func waitCompleted(t *testing.T, r *ndistest.Recorder, n int) {
	t.Helper()
	ndistest.Eventually(t, func() bool { return r.Completed() >= n }, "%d completions", n)
}

// checkCompletedOnce checks that each of sent was completed exactly once.
func checkCompletedOnce(t *testing.T, r *ndistest.Recorder, sent []*ndis.NetBufferList) {
	t.Helper()
	bad := 0
	for _, x := range sent {
		if n := r.CompletedTimes(x); n != 1 {
			bad++
			if bad <= 5 {
				t.Errorf("NBL %p completed %d times, want 1", x, n)
			}
		}
	}
	if n := r.Completed(); bad > 0 || n != len(sent) {
		t.Errorf("%d of %d NBLs not completed exactly once; %d completions in all", bad, len(sent), n)
	}
}

// checkCompletions checks that each of sent was completed exactly once, with
// one of the statuses allowed, and returns the completions by status.
func checkCompletions(t *testing.T, r *ndistest.Recorder, sent []*ndis.NetBufferList, allowed ...ndis.Status) map[ndis.Status]int {
	t.Helper()
	checkCompletedOnce(t, r, sent)
	byStatus := r.CompletedByStatus()
	for s, n := range byStatus {
		if !slices.Contains(allowed, s) {
			t.Errorf("%d sends completed with %s", n, s)
		}
	}
	return byStatus
}

// --- set-up ----------------------------------------------------------------

// newRuntime returns a strict runtime with the loopback driver registered,
// closed when the test ends.
func newRuntime(t *testing.T, drivers ...ndis.MiniportDriver) *ndis.Runtime {
	t.Helper()
	rt := ndis.New(
		ndis.WithVerifier(ndis.VerifierStrict),
		ndis.WithViolationHandler(func(v ndis.Violation) { t.Errorf("ndis verifier: %s", v) }),
	)
	for _, d := range append([]ndis.MiniportDriver{loopback.Driver()}, drivers...) {
		if err := rt.RegisterMiniportDriver(d); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := rt.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return rt
}

// setup adds adapter "loop0" with params and binds a recorder to it.
func setup(t *testing.T, params map[string]string) (*ndis.Runtime, *ndis.Adapter, *ndistest.Recorder) {
	t.Helper()
	rt := newRuntime(t)
	a, err := rt.AddAdapter(context.Background(), "loop0", "loopback", params)
	if err != nil {
		t.Fatal(err)
	}
	return rt, a, bind(t, rt, "rec")
}

// bind binds a recording protocol called name to loop0. Its recorder
// returns receives at once unless told to keep them, and fails the test
// when an NBL comes back twice.
func bind(t *testing.T, rt *ndis.Runtime, name string) *ndistest.Recorder {
	t.Helper()
	d := ndistest.NewRecorderDriver(name)
	d.Setup = func(r *ndistest.Recorder) {
		r.OnComplete = func(l *ndis.NetBufferList) {
			for x := l; x != nil; x = x.Next {
				if n := r.CompletedTimes(x); n > 1 {
					t.Errorf("NBL %p completed %d times", x, n)
				}
			}
		}
	}
	if err := rt.RegisterProtocolDriver(d.Driver()); err != nil {
		t.Fatal(err)
	}
	b, err := rt.Bind(context.Background(), name, "loop0")
	if err != nil {
		t.Fatal(err)
	}
	return d.Binding(b)
}

// details returns the counters the adapter reports (ndis.Reporter) by
// name, checking that each is a counter with help, reported once.
func details(t *testing.T, a *ndis.Adapter) map[string]float64 {
	t.Helper()
	got := make(map[string]float64)
	for _, d := range a.Details() {
		if d.Kind != ndis.DetailCounter || d.Help == "" || d.Labels != nil {
			t.Errorf("detail %+v: want a counter with help and no labels", d)
		}
		if _, dup := got[d.Name]; dup {
			t.Errorf("detail %s reported twice", d.Name)
		}
		got[d.Name] = d.Value
	}
	return got
}

// quiesce pauses and restarts the adapter: a pause completes only once the
// loopback has transmitted everything and every receive NBL is back, so
// afterwards every indication of earlier sends has been made.
func quiesce(t *testing.T, rt *ndis.Runtime) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := rt.PauseAdapter(ctx, "loop0"); err != nil {
		t.Fatalf("pause: %v", err)
	}
	if err := rt.RestartAdapter(ctx, "loop0"); err != nil {
		t.Fatalf("restart: %v", err)
	}
}

// --- tests -----------------------------------------------------------------

func TestDriver(t *testing.T) {
	d := loopback.Driver()
	if d.Name != "loopback" || d.Version != ndis.Version630 || d.Initialize == nil || d.ValidateParams == nil {
		t.Fatalf("Driver() = %q %s, Initialize set %v, ValidateParams set %v", d.Name, d.Version, d.Initialize != nil, d.ValidateParams != nil)
	}
}

// TestEcho: frames come back identical and in order, each sent NBL is
// completed exactly once, bad lengths fail, and the counters agree.
func TestEcho(t *testing.T) {
	rt, a, r := setup(t, nil)
	ndistest.MustSetPacketFilter(t, r.B, ndis.PacketTypeDirected|ndis.PacketTypeBroadcast)

	rng := rand.New(rand.NewPCG(1, 2))
	var sent []*ndis.NetBufferList
	var want [][]byte
	var badFrames uint64
	seq := uint32(0)
	next := func(dst ndis.MacAddress, n int) []byte {
		seq++
		return frame(dst, seq, n)
	}
	for len(sent) < 600 {
		k := 1 + rng.IntN(50)
		chain := make([]*ndis.NetBufferList, 0, k)
		for range k {
			dst := ourMAC
			if rng.IntN(2) == 0 {
				dst = ndis.BroadcastAddress
			}
			var l *ndis.NetBufferList
			switch rng.IntN(20) {
			case 0: // several NET_BUFFERs: each is received as its own NBL
				fs := [][]byte{next(dst, 60), next(dst, 61), next(dst, 1514)}
				l = ndis.NewNetBufferList(fs...)
				want = append(want, fs...)
			case 1: // one frame too long: the whole NBL fails
				l = ndis.NewNetBufferList(next(dst, 100), next(dst, 1515))
				badFrames += 2
			case 2: // shorter than an Ethernet header
				l = ndis.NewNetBufferList(make([]byte, 13))
				badFrames++
			case 3: // no frame at all: completes, nothing received
				l = ndis.NewNetBufferList()
			default:
				f := next(dst, 14+rng.IntN(1501))
				l = ndis.NewNetBufferList(f)
				want = append(want, f)
			}
			chain = append(chain, l)
		}
		sent = append(sent, chain...)
		send(r, chain...)
	}
	waitCompleted(t, r, len(sent))
	quiesce(t, rt)

	checkCompletedOnce(t, r, sent)
	for _, x := range sent {
		wantStatus := ndis.StatusSuccess
		for _, f := range x.Frames {
			if len(f) < 14 || len(f) > 1514 {
				wantStatus = ndis.StatusInvalidLength
			}
		}
		if x.Status != wantStatus {
			t.Errorf("NBL with frames of %d bytes: status %s, want %s", len(x.Frames), x.Status, wantStatus)
		}
	}
	got := r.ReceivedFrames()
	if len(got) != len(want) {
		t.Fatalf("received %d frames, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("frame %d differs:\n got % x\nwant % x", i, got[i][:min(32, len(got[i]))], want[i][:min(32, len(want[i]))])
		}
	}
	n := uint64(len(want))
	if x := ndistest.MustQueryCounter(t, r.B, ndis.OIDGenXmitOK); x != n {
		t.Errorf("OID_GEN_XMIT_OK = %d, want %d", x, n)
	}
	if x := ndistest.MustQueryCounter(t, r.B, ndis.OIDGenRcvOK); x != n {
		t.Errorf("OID_GEN_RCV_OK = %d, want %d", x, n)
	}
	if x := ndistest.MustQueryCounter(t, r.B, ndis.OIDGenXmitError); x != badFrames {
		t.Errorf("OID_GEN_XMIT_ERROR = %d, want %d", x, badFrames)
	}
	if x := ndistest.MustQueryCounter(t, r.B, ndis.OIDGenRcvNoBuffer); x != 0 {
		t.Errorf("OID_GEN_RCV_NO_BUFFER = %d, want 0", x)
	}
	want2 := map[string]float64{"xmit_ok": float64(n), "xmit_error": float64(badFrames), "rcv_ok": float64(n), "rcv_no_buffer": 0}
	if got := details(t, a); !maps.Equal(got, want2) {
		t.Errorf("Details() = %v, want %v", got, want2)
	}
	st := a.Stats()
	if st.ReceivedNBLs != n || st.ReturnedNBLs != n || st.SendCompleted != uint64(len(sent)) {
		t.Errorf("stats: received %d, returned %d, completed %d; want %d, %d, %d",
			st.ReceivedNBLs, st.ReturnedNBLs, st.SendCompleted, n, n, len(sent))
	}
}

// TestPacketFilter: the hardware filter passes only what the filter (the
// union the runtime sets) accepts; frames it drops never reach the runtime.
func TestPacketFilter(t *testing.T) {
	rt, a, r := setup(t, nil)
	const (
		D  = ndis.PacketTypeDirected
		M  = ndis.PacketTypeMulticast
		AM = ndis.PacketTypeAllMulticast
		B  = ndis.PacketTypeBroadcast
		P  = ndis.PacketTypePromiscuous
	)
	dsts := []struct {
		name string
		mac  ndis.MacAddress
	}{{"us", ourMAC}, {"other", otherMAC}, {"broadcast", ndis.BroadcastAddress}, {"mcast-in", mcastIn}, {"mcast-out", mcastOut}}
	cases := []struct {
		name   string
		filter uint32
		list   []ndis.MacAddress
		want   []string
	}{
		{"none", 0, []ndis.MacAddress{mcastIn}, nil},
		{"directed", D, nil, []string{"us"}},
		{"broadcast", B, nil, []string{"broadcast"}},
		{"multicast-empty-list", M, nil, nil},
		{"multicast", M, []ndis.MacAddress{mcastIn}, []string{"mcast-in"}},
		{"multicast-broadcast", M | B, []ndis.MacAddress{mcastIn}, []string{"broadcast", "mcast-in"}},
		{"all-multicast", AM, nil, []string{"mcast-in", "mcast-out"}},
		{"directed-broadcast", D | B, nil, []string{"us", "broadcast"}},
		{"promiscuous", P, nil, []string{"us", "other", "broadcast", "mcast-in", "mcast-out"}},
	}
	seq := uint32(0)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ndistest.MustSetMulticastList(t, r.B, c.list)
			ndistest.MustSetPacketFilter(t, r.B, c.filter)
			before, rxBefore := len(r.ReceivedFrames()), a.Stats().ReceivedNBLs
			names := map[uint32]string{}
			var ls []*ndis.NetBufferList
			for _, d := range dsts {
				seq++
				names[seq] = d.name
				ls = append(ls, ndis.NewNetBufferList(frame(d.mac, seq, 64)))
			}
			send(r, ls...)
			quiesce(t, rt)
			var got []string
			for _, f := range r.ReceivedFrames()[before:] {
				got = append(got, names[binary.BigEndian.Uint32(f[14:])])
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("received %v, want %v", got, c.want)
			}
			if d := a.Stats().ReceivedNBLs - rxBefore; d != uint64(len(c.want)) {
				t.Errorf("the loopback indicated %d frames, want %d: the hardware filter let through frames no filter takes", d, len(c.want))
			}
		})
	}
}

// TestFilterUnion: with two bindings the hardware takes the union of their
// filters and the runtime sorts the frames out per binding.
func TestFilterUnion(t *testing.T) {
	rt, a, ra := setup(t, nil)
	rb := bind(t, rt, "rec2")
	ndistest.MustSetPacketFilter(t, ra.B, ndis.PacketTypeDirected)
	ndistest.MustSetMulticastList(t, rb.B, []ndis.MacAddress{mcastIn})
	ndistest.MustSetPacketFilter(t, rb.B, ndis.PacketTypeBroadcast|ndis.PacketTypeMulticast)

	send(ra,
		ndis.NewNetBufferList(frame(ourMAC, 1, 64)),
		ndis.NewNetBufferList(frame(ndis.BroadcastAddress, 2, 64)),
		ndis.NewNetBufferList(frame(mcastIn, 3, 64)),
		ndis.NewNetBufferList(frame(mcastOut, 4, 64)),
		ndis.NewNetBufferList(frame(otherMAC, 5, 64)),
	)
	quiesce(t, rt)
	seqs := func(r *ndistest.Recorder) (s []uint32) {
		for _, f := range r.ReceivedFrames() {
			s = append(s, binary.BigEndian.Uint32(f[14:]))
		}
		return s
	}
	if got := fmt.Sprint(seqs(ra)); got != "[1]" {
		t.Errorf("binding A (DIRECTED) received %s, want [1]", got)
	}
	if got := fmt.Sprint(seqs(rb)); got != "[2 3]" {
		t.Errorf("binding B (BROADCAST|MULTICAST) received %s, want [2 3]", got)
	}
	if st := a.Stats(); st.ReceivedNBLs != 3 || st.ReceiveDropped != 0 {
		t.Errorf("indicated %d, dropped by the runtime %d; want 3, 0", st.ReceivedNBLs, st.ReceiveDropped)
	}
}

// TestPoolExhaustion: with every receive NBL held by the protocol, sends
// still complete and the frames are dropped and counted.
func TestPoolExhaustion(t *testing.T) {
	rt, a, r := setup(t, nil)
	ndistest.MustSetPacketFilter(t, r.B, ndis.PacketTypeBroadcast)
	r.KeepReceives(true)
	const extra = 10
	var sent []*ndis.NetBufferList
	for len(sent) < loopback.PoolLimit+extra {
		chain := make([]*ndis.NetBufferList, 0, 100)
		for range 100 {
			chain = append(chain, ndis.NewNetBufferList(frame(ndis.BroadcastAddress, uint32(len(sent)), 60)))
			sent = append(sent, chain[len(chain)-1])
			if len(sent) == loopback.PoolLimit+extra {
				break
			}
		}
		send(r, chain...)
	}
	waitCompleted(t, r, len(sent))
	ndistest.Eventually(t, func() bool { return r.Received() >= loopback.PoolLimit }, "the pool's worth of receives")
	checkCompletedOnce(t, r, sent)
	if n := r.CompletedByStatus()[ndis.StatusSuccess]; n != len(sent) {
		t.Errorf("%d sends succeeded, want %d", n, len(sent))
	}
	if n := ndistest.MustQueryCounter(t, r.B, ndis.OIDGenRcvNoBuffer); n != extra {
		t.Errorf("OID_GEN_RCV_NO_BUFFER = %d, want %d", n, extra)
	}
	if d := details(t, a); d["rcv_no_buffer"] != extra || d["rcv_ok"] != loopback.PoolLimit {
		t.Errorf("reported rcv_no_buffer %v, rcv_ok %v; want %d, %d", d["rcv_no_buffer"], d["rcv_ok"], extra, loopback.PoolLimit)
	}
	if n := a.Stats().ReceivedNBLs; n != loopback.PoolLimit {
		t.Errorf("indicated %d, want %d", n, loopback.PoolLimit)
	}

	// Give them back: the loopback receives again.
	r.KeepReceives(false)
	r.ReturnKept()
	send(r, ndis.NewNetBufferList(frame(ndis.BroadcastAddress, 1<<30, 60)))
	quiesce(t, rt)
	if n := len(r.ReceivedFrames()); n != loopback.PoolLimit+1 {
		t.Errorf("received %d frames, want %d", n, loopback.PoolLimit+1)
	}
}
