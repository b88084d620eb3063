package loopback_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gondis/gondis/internal/param/paramtest"
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

func TestParams(t *testing.T) {
	paramtest.DocLists(t, "loopback.go", loopback.ParamDoc())

	rt := newRuntime(t)
	n := 0
	refused := func(params map[string]string, key string) {
		t.Helper()
		n++
		a, err := rt.AddAdapter(context.Background(), fmt.Sprintf("bad%d", n), "loopback", params)
		if err == nil {
			t.Errorf("AddAdapter(%v) succeeded", params)
			_ = rt.RemoveAdapter(context.Background(), a.Name())
			return
		}
		if !errors.Is(err, ndis.StatusInvalidParameter) {
			t.Errorf("AddAdapter(%v) = %v; not NDIS_STATUS_INVALID_PARAMETER", params, err)
		}
		var pe *ndis.ParamError
		if !errors.As(err, &pe) || pe.Key != key || pe.Driver != "loopback" {
			t.Errorf("AddAdapter(%v) = %v; want a ParamError for %q", params, err, key)
		}
		// ValidateParams finds the same error without an adapter.
		if verr := rt.ValidateAdapterParams("loopback", params); verr == nil || verr.Error() != pe.Error() {
			t.Errorf("ValidateAdapterParams(%v) = %v, want %v", params, verr, pe)
		}
	}
	for _, c := range []struct {
		key    string
		values []string
	}{
		{"mtu", []string{"abc", "67", "65536", "-1500"}},
		{"mac", []string{"zz:zz", "01:00:5e:00:00:01", "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00", "02:00:5e:10:00:00:00:01" /* EUI-64 */}},
		{"link_speed", []string{"0", "-1", "10G", "18446744073709551615"}},
		{"batch", []string{"0", "4097", ""}},
		{"speed", []string{"1"}},
	} {
		for _, v := range c.values {
			refused(map[string]string{c.key: v}, c.key)
		}
	}
	refused(map[string]string{"mtu": "9000", "zz": "1"}, "zz") // an unknown key beside a good one

	params := map[string]string{"mtu": "9000", "mac": "0a-1b-2c-3d-4e-5f", "link_speed": "1000000000", "batch": "8"}
	if err := loopback.Driver().ValidateParams(params); err != nil {
		t.Fatalf("ValidateParams(%v): %v", params, err)
	}
	a, err := rt.AddAdapter(context.Background(), "loop0", "loopback", params)
	if err != nil {
		t.Fatal(err)
	}
	r := bind(t, rt, "rec")
	mac := ndis.MacAddress{0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f}
	if a.MacAddress() != mac {
		t.Errorf("MAC %s, want %s", a.MacAddress(), mac)
	}
	if l := a.Link(); l.MediaConnectState != ndis.MediaConnectStateConnected || l.MediaDuplexState != ndis.MediaDuplexStateFull ||
		l.XmitLinkSpeed != 1e9 || l.RcvLinkSpeed != 1e9 {
		t.Errorf("link %+v", l)
	}
	query := func(o ndis.OID, n int) []byte {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		v, s := ndistest.Query(ctx, r.B, o, n)
		if s != ndis.StatusSuccess {
			t.Fatalf("query %s: %s", o, s)
		}
		return v
	}
	if v := binary.LittleEndian.Uint32(query(ndis.OIDGenMaximumFrameSize, 4)); v != 9000 {
		t.Errorf("OID_GEN_MAXIMUM_FRAME_SIZE = %d", v)
	}
	if v := binary.LittleEndian.Uint32(query(ndis.OIDGenMaximumTotalSize, 4)); v != 9014 {
		t.Errorf("OID_GEN_MAXIMUM_TOTAL_SIZE = %d", v)
	}
	if v := query(ndis.OID8023CurrentAddress, 6); !bytes.Equal(v, mac[:]) {
		t.Errorf("OID_802_3_CURRENT_ADDRESS = % x", v)
	}
	if v := query(ndis.OID8023PermanentAddress, 6); !bytes.Equal(v, mac[:]) {
		t.Errorf("OID_802_3_PERMANENT_ADDRESS = % x", v)
	}
	if ls, s := ndis.ParseLinkState(query(ndis.OIDGenLinkState, ndis.LinkStateSize)); s != ndis.StatusSuccess ||
		ls.MediaConnectState != ndis.MediaConnectStateConnected || ls.XmitLinkSpeed != 1e9 {
		t.Errorf("OID_GEN_LINK_STATE = %+v, %s", ls, s)
	}

	// The MTU bounds the frames; batch bounds the receive indications.
	ndistest.MustSetPacketFilter(t, r.B, ndis.PacketTypeDirected)
	big, tooBig := ndis.NewNetBufferList(frame(mac, 1, 9014)), ndis.NewNetBufferList(frame(mac, 2, 9015))
	var small []*ndis.NetBufferList
	for i := range 20 {
		small = append(small, ndis.NewNetBufferList(frame(mac, uint32(3+i), 64)))
	}
	send(r, append([]*ndis.NetBufferList{big, tooBig}, small...)...)
	waitCompleted(t, r, 22)
	quiesce(t, rt)
	if big.Status != ndis.StatusSuccess || tooBig.Status != ndis.StatusInvalidLength {
		t.Errorf("9014-byte frame: %s; 9015-byte frame: %s", big.Status, tooBig.Status)
	}
	if got := len(r.ReceivedFrames()); got != 21 {
		t.Errorf("received %d frames, want 21", got)
	}
	maxChain := 0
	for _, x := range r.Records() {
		if x.Kind == ndistest.RecordReceive {
			maxChain = max(maxChain, x.NBLs)
		}
	}
	if maxChain > 8 {
		t.Errorf("a receive indication carried %d NBLs; batch is 8", maxChain)
	}
}

// captureDriver is the loopback driver under another name, which hands the
// test the Miniport its Initialize returns.
func captureDriver(name string, got *ndis.Miniport) ndis.MiniportDriver {
	d := loopback.Driver()
	init := d.Initialize
	d.Name = name
	d.Initialize = func(a *ndis.Adapter, p ndis.InitParameters) (ndis.Miniport, error) {
		mp, err := init(a, p)
		*got = mp
		return mp, err
	}
	return d
}

func TestOIDs(t *testing.T) {
	var mp ndis.Miniport
	rt := newRuntime(t, captureDriver("loopback-capture", &mp))
	if _, err := rt.AddAdapter(context.Background(), "loop0", "loopback-capture", nil); err != nil {
		t.Fatal(err)
	}
	r := bind(t, rt, "rec")

	cases := []struct {
		name       string
		typ        ndis.RequestType
		oid        ndis.OID
		buf        []byte
		status     ndis.Status
		written    int
		needed     int
		throughMp  bool // ask the miniport directly: the runtime screens these
		wantBuffer []byte
	}{
		{name: "unknown query", typ: ndis.RequestQuery, oid: 0x00010203, buf: make([]byte, 64), status: ndis.StatusInvalidOid},
		{name: "unknown set", typ: ndis.RequestSet, oid: 0x00010203, buf: make([]byte, 4), status: ndis.StatusInvalidOid},
		{name: "set of a statistic", typ: ndis.RequestSet, oid: ndis.OIDGenXmitOK, buf: make([]byte, 8), status: ndis.StatusInvalidOid},
		{name: "method", typ: ndis.RequestMethod, oid: ndis.OIDGenXmitOK, buf: make([]byte, 8), status: ndis.StatusInvalidOid},
		{name: "xmit ok 64-bit", typ: ndis.RequestQuery, oid: ndis.OIDGenXmitOK, buf: make([]byte, 12), written: 8, wantBuffer: make([]byte, 8)},
		{name: "xmit ok 32-bit", typ: ndis.RequestQuery, oid: ndis.OIDGenXmitOK, buf: make([]byte, 4), written: 4, needed: 8, wantBuffer: make([]byte, 4)},
		{name: "rcv ok short", typ: ndis.RequestQuery, oid: ndis.OIDGenRcvOK, buf: make([]byte, 2), status: ndis.StatusBufferTooShort, needed: 8},
		{name: "lookahead", typ: ndis.RequestSet, oid: ndis.OIDGenCurrentLookahead, buf: ndis.Ulong(256), written: 4},
		{name: "lookahead short", typ: ndis.RequestSet, oid: ndis.OIDGenCurrentLookahead, buf: make([]byte, 3), status: ndis.StatusInvalidLength, needed: 4},
		{name: "filter short", typ: ndis.RequestSet, oid: ndis.OIDGenCurrentPacketFilter, buf: make([]byte, 2), status: ndis.StatusInvalidLength, needed: 4},
		{name: "filter short at miniport", typ: ndis.RequestSet, oid: ndis.OIDGenCurrentPacketFilter, buf: make([]byte, 3), status: ndis.StatusInvalidLength, needed: 4, throughMp: true},
		{name: "filter unsupported", typ: ndis.RequestSet, oid: ndis.OIDGenCurrentPacketFilter, buf: ndis.Ulong(ndis.PacketTypeSMT), status: ndis.StatusNotSupported},
		{name: "filter unsupported at miniport", typ: ndis.RequestSet, oid: ndis.OIDGenCurrentPacketFilter, buf: ndis.Ulong(ndis.PacketTypeAllLocal), status: ndis.StatusNotSupported, throughMp: true},
		{name: "multicast ragged", typ: ndis.RequestSet, oid: ndis.OID8023MulticastList, buf: make([]byte, 13), status: ndis.StatusInvalidLength, needed: 12},
		{name: "multicast ragged at miniport", typ: ndis.RequestSet, oid: ndis.OID8023MulticastList, buf: make([]byte, 7), status: ndis.StatusInvalidLength, needed: 6, throughMp: true},
		{name: "multicast unicast at miniport", typ: ndis.RequestSet, oid: ndis.OID8023MulticastList, buf: ourMAC[:], status: ndis.StatusInvalidData, throughMp: true},
		{name: "multicast full", typ: ndis.RequestSet, oid: ndis.OID8023MulticastList, buf: manyMulticast(33), status: ndis.StatusMulticastFull},
		{name: "multicast full at miniport", typ: ndis.RequestSet, oid: ndis.OID8023MulticastList, buf: manyMulticast(33), status: ndis.StatusMulticastFull, throughMp: true},
		{name: "multicast 32", typ: ndis.RequestSet, oid: ndis.OID8023MulticastList, buf: manyMulticast(32), written: 32 * 6},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := &ndis.OidRequest{Type: c.typ, OID: c.oid, Buffer: c.buf}
			var s ndis.Status
			if c.throughMp {
				s = mp.OidRequest(req) // every answer of the loopback is inline
			} else {
				ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
				defer cancel()
				s = r.B.OidRequest(ctx, req)
			}
			if s != c.status || req.BytesNeeded != c.needed || (s == ndis.StatusSuccess && req.BytesWritten != c.written) {
				t.Errorf("status %s, written %d, needed %d; want %s, %d, %d", s, req.BytesWritten, req.BytesNeeded, c.status, c.written, c.needed)
			}
			if c.wantBuffer != nil && !bytes.Equal(req.Buffer[:req.BytesWritten], c.wantBuffer) {
				t.Errorf("buffer % x, want % x", req.Buffer[:req.BytesWritten], c.wantBuffer)
			}
		})
	}
}

func manyMulticast(n int) []byte {
	list := make([]ndis.MacAddress, n)
	for i := range list {
		list[i] = ndis.MacAddress{0x01, 0x00, 0x5e, 0x00, 0x01, byte(i)}
	}
	return ndis.EncodeMulticastList(list)
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

// traffic runs senders that keep up to 256 NBLs in flight on r's binding, in
// chains of 1..32 broadcast frames, until stop is called. stop returns every
// NBL they sent.
func traffic(t *testing.T, r *ndistest.Recorder, senders int) (stop func() []*ndis.NetBufferList) {
	// Each completed NBL frees a slot. The hook is set before the first
	// send, so no completion reads it meanwhile.
	slots := make(chan struct{}, 256)
	checkOnce := r.OnComplete
	r.OnComplete = func(l *ndis.NetBufferList) {
		checkOnce(l)
		for range l.Len() {
			<-slots
		}
	}
	var quit atomic.Bool
	var wg sync.WaitGroup
	var mu sync.Mutex
	var all []*ndis.NetBufferList
	var seq atomic.Uint32
	for i := range senders {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			var mine []*ndis.NetBufferList
			defer func() {
				mu.Lock()
				all = append(all, mine...)
				mu.Unlock()
			}()
			for !quit.Load() {
				k := 1 + rng.IntN(32)
				chain := make([]*ndis.NetBufferList, k)
				for j := range chain {
					select {
					case slots <- struct{}{}:
					default:
						select {
						case slots <- struct{}{}:
						case <-time.After(waitLimit):
							t.Errorf("sender: no completion for %s", waitLimit)
							return
						}
					}
					chain[j] = ndis.NewNetBufferList(frame(ndis.BroadcastAddress, seq.Add(1), 60+rng.IntN(100)))
				}
				mine = append(mine, chain...)
				send(r, chain...)
			}
		})
	}
	return func() []*ndis.NetBufferList {
		quit.Store(true)
		wg.Wait()
		return all
	}
}

// waitTraffic waits until more than 100 further sends have completed
// successfully.
func waitTraffic(t *testing.T, r *ndistest.Recorder) {
	t.Helper()
	n := r.CompletedByStatus()[ndis.StatusSuccess] + 100
	ndistest.Eventually(t, func() bool { return r.CompletedByStatus()[ndis.StatusSuccess] > n }, "traffic")
}

// checkReceivedOnce checks that no frame was received twice.
func checkReceivedOnce(t *testing.T, r *ndistest.Recorder) {
	t.Helper()
	seen := map[uint32]bool{}
	for _, f := range r.ReceivedFrames() {
		s := binary.BigEndian.Uint32(f[14:])
		if seen[s] {
			t.Fatalf("frame %d received twice", s)
		}
		seen[s] = true
	}
}

// TestPauseRestartRemoveWithTraffic: pauses complete with traffic flowing,
// nothing is indicated while paused, and removal completes every send.
func TestPauseRestartRemoveWithTraffic(t *testing.T) {
	rt, a, r := setup(t, nil)
	ndistest.MustSetPacketFilter(t, r.B, ndis.PacketTypeBroadcast)
	stop := traffic(t, r, 2)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	for range 20 {
		waitTraffic(t, r)
		if err := rt.PauseAdapter(ctx, "loop0"); err != nil {
			t.Fatal(err)
		}
		if s := a.State(); s != ndis.AdapterPaused {
			t.Fatalf("state %s after pause", s)
		}
		rx, ind := len(r.ReceivedFrames()), a.Stats().ReceivedNBLs
		time.Sleep(2 * time.Millisecond) // senders keep trying meanwhile
		if len(r.ReceivedFrames()) != rx || a.Stats().ReceivedNBLs != ind {
			t.Fatal("the loopback indicated receives while paused")
		}
		if err := rt.RestartAdapter(ctx, "loop0"); err != nil {
			t.Fatal(err)
		}
	}
	waitTraffic(t, r)
	if err := rt.RemoveAdapter(ctx, "loop0"); err != nil {
		t.Fatal(err)
	}
	sent := stop()
	byStatus := checkCompletions(t, r, sent, ndis.StatusSuccess, ndis.StatusPaused, ndis.StatusClosing)
	ok, paused := byStatus[ndis.StatusSuccess], byStatus[ndis.StatusPaused]
	// Every frame sent successfully was received, the last ones while the
	// removal's pause drained them.
	if got := len(r.ReceivedFrames()); got != ok {
		t.Errorf("received %d frames; %d were sent successfully", got, ok)
	}
	checkReceivedOnce(t, r)
	if paused == 0 {
		t.Error("no send met a paused adapter")
	}
	t.Logf("%d sent, %d ok, %d paused", len(sent), ok, paused)
}

// TestResetWithTraffic: operator resets while traffic flows; RESET_START and
// RESET_END alternate and every send is completed once.
func TestResetWithTraffic(t *testing.T) {
	rt, a, r := setup(t, nil)
	ndistest.MustSetPacketFilter(t, r.B, ndis.PacketTypeBroadcast)
	stop := traffic(t, r, 2)
	const resets = 10
	for i := range resets {
		waitTraffic(t, r)
		if err := rt.ResetAdapter("loop0"); err != nil {
			t.Fatal(err)
		}
		ndistest.Eventually(t, func() bool { return r.Count(ndis.StatusResetEnd) == i+1 }, "RESET_END %d", i+1)
	}
	sent := stop()
	quiesce(t, rt)

	byStatus := checkCompletions(t, r, sent, ndis.StatusSuccess, ndis.StatusResetInProgress, ndis.StatusRequestAborted)
	ok := byStatus[ndis.StatusSuccess]
	var seq []string
	for _, e := range r.Records() {
		if e.Kind != ndistest.RecordStatus {
			continue
		}
		seq = append(seq, e.Status.String())
		if e.Status == ndis.StatusResetEnd {
			if len(e.Payload) != 4 || ndis.Status(binary.LittleEndian.Uint32(e.Payload)) != ndis.StatusSuccess {
				t.Errorf("RESET_END payload % x, want NDIS_STATUS_SUCCESS", e.Payload)
			}
		}
	}
	t.Logf("%d sent, %v", len(sent), byStatus)
	if len(seq) != 2*resets {
		t.Fatalf("status indications %v, want %d RESET_START/RESET_END pairs", seq, resets)
	}
	for i, s := range seq {
		if want := [2]string{"NDIS_STATUS_RESET_START", "NDIS_STATUS_RESET_END"}[i%2]; s != want {
			t.Fatalf("status indication %d is %s, want %s (%v)", i, s, want, seq)
		}
	}
	// A frame sent successfully is either received or was indicated during
	// a reset, when the runtime returns it at once (R12).
	st := a.Stats()
	if got := uint64(len(r.ReceivedFrames())) + st.ReceiveDuringReset; got != uint64(ok) {
		t.Errorf("received %d + %d during resets; %d were sent successfully", len(r.ReceivedFrames()), st.ReceiveDuringReset, ok)
	}
	checkReceivedOnce(t, r)
	if p := st.Resets[ndis.CauseOperator].Performed; p != resets {
		t.Errorf("%d operator resets performed, want %d", p, resets)
	}
}

// TestResetAbortsHeldSends: sends the interrupt goroutine has not taken when
// the reset comes are completed with NDIS_STATUS_REQUEST_ABORTED; the chain
// it is transmitting finishes normally before the reset completes.
func TestResetAbortsHeldSends(t *testing.T) {
	entered, release, took := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var once sync.Once
	remove := loopback.SetTestHooks(func() {
		once.Do(func() {
			close(entered)
			<-release
		})
	}, func() { close(took) })
	defer remove()

	rt, a, r := setup(t, nil)
	ndistest.MustSetPacketFilter(t, r.B, ndis.PacketTypeBroadcast)
	mk := func(n int) []*ndis.NetBufferList {
		ls := make([]*ndis.NetBufferList, n)
		for i := range ls {
			ls[i] = ndis.NewNetBufferList(frame(ndis.BroadcastAddress, uint32(i), 60))
		}
		return ls
	}
	first, second := mk(4), mk(3)
	send(r, first...)
	<-entered // the interrupt goroutine holds the first chain
	send(r, second...)
	if err := rt.ResetAdapter("loop0"); err != nil {
		t.Fatal(err)
	}
	<-took // Reset has taken the second chain and waits for the first
	close(release)
	ndistest.Eventually(t, func() bool { return len(r.Statuses()) == 2 }, "RESET_END")
	checkCompletedOnce(t, r, append(first, second...))
	for _, x := range first {
		if x.Status != ndis.StatusSuccess {
			t.Errorf("transmitting NBL completed with %s", x.Status)
		}
	}
	for _, x := range second {
		if x.Status != ndis.StatusRequestAborted {
			t.Errorf("held NBL completed with %s", x.Status)
		}
	}
	if n := ndistest.MustQueryCounter(t, r.B, ndis.OIDGenXmitError); n != 3 {
		t.Errorf("OID_GEN_XMIT_ERROR = %d, want 3", n)
	}
	if d := details(t, a); d["xmit_error"] != 3 || d["xmit_ok"] != 4 {
		t.Errorf("reported xmit_error %v, xmit_ok %v; want 3, 4", d["xmit_error"], d["xmit_ok"])
	}
	// The first chain was indicated during the reset: returned at once.
	if st := a.Stats(); st.ReceiveDuringReset != 4 || len(r.ReceivedFrames()) != 0 {
		t.Errorf("%d receives during the reset, %d delivered; want 4, 0", st.ReceiveDuringReset, len(r.ReceivedFrames()))
	}
	// Traffic flows again.
	send(r, ndis.NewNetBufferList(frame(ndis.BroadcastAddress, 99, 60)))
	quiesce(t, rt)
	if n := len(r.ReceivedFrames()); n != 1 {
		t.Errorf("received %d frames after the reset, want 1", n)
	}
}

// pauseHeldByReceive adds loop0 with a protocol that keeps the broadcast
// frame it receives, then starts a pause, which cannot complete while the
// receive NBL is held; the pause's result arrives on pause.
func pauseHeldByReceive(t *testing.T) (rt *ndis.Runtime, a *ndis.Adapter, r *ndistest.Recorder, pause <-chan error) {
	t.Helper()
	rt, a, r = setup(t, nil)
	ndistest.MustSetPacketFilter(t, r.B, ndis.PacketTypeBroadcast)
	r.KeepReceives(true)
	send(r, ndis.NewNetBufferList(frame(ndis.BroadcastAddress, 1, 60)))
	ndistest.Eventually(t, func() bool { return r.Received() == 1 }, "a receive")
	done := make(chan error, 1)
	go func() { done <- rt.PauseAdapter(context.Background(), "loop0") }()
	return rt, a, r, done
}

// releasePause checks that the pause has not completed, returns the held
// receive NBL and waits for the pause to complete.
func releasePause(t *testing.T, r *ndistest.Recorder, pause <-chan error) {
	t.Helper()
	select {
	case err := <-pause:
		t.Fatalf("pause completed (%v) while a receive NBL was held", err)
	default:
	}
	r.ReturnKept()
	select {
	case err := <-pause:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitLimit):
		t.Fatal("pause did not complete once the NBL was returned")
	}
}

// TestPauseWaitsForReturns: a pause does not complete while a protocol
// holds receive NBLs.
func TestPauseWaitsForReturns(t *testing.T) {
	_, a, r, pause := pauseHeldByReceive(t)
	time.Sleep(5 * time.Millisecond)
	if s := a.State(); s != ndis.AdapterPausing {
		t.Errorf("state %s, want Pausing", s)
	}
	releasePause(t, r, pause)
}

// TestResetDuringPendingPause: a reset may run while a pause waits for a
// protocol to return receive NBLs (R13); the pause completes after both.
func TestResetDuringPendingPause(t *testing.T) {
	rt, a, r, pause := pauseHeldByReceive(t)
	for deadline := time.Now().Add(waitLimit); a.State() != ndis.AdapterPausing; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("state %s, want Pausing", a.State())
		}
	}
	if err := rt.ResetAdapter("loop0"); err != nil {
		t.Fatal(err)
	}
	ndistest.Eventually(t, func() bool { return len(r.Statuses()) == 2 }, "RESET_END")
	releasePause(t, r, pause)
	if err := rt.RestartAdapter(context.Background(), "loop0"); err != nil {
		t.Fatal(err)
	}
	r.KeepReceives(false)
	send(r, ndis.NewNetBufferList(frame(ndis.BroadcastAddress, 2, 60)))
	quiesce(t, rt)
	if n := len(r.ReceivedFrames()); n != 2 {
		t.Errorf("received %d frames, want 2", n)
	}
}
