package ndis_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

func query(oid ndis.OID, n int) *ndis.OidRequest {
	return &ndis.OidRequest{Type: ndis.RequestQuery, OID: oid, Buffer: make([]byte, n)}
}

// TestOidQueueFIFO: requests reach the miniport one at a time, in order,
// and each caller gets its own answer.
func TestOidQueueFIFO(t *testing.T) {
	e := newEnv(t)
	a := e.adapter("eth0")
	b, _ := e.bind("eth0")
	e.fake.Do(func(f *ndistest.Fake) { f.PendOIDs = true })
	const n = 5
	results := make(chan int, n)
	for i := range n {
		oid := ndis.OID(0xFF000000 + i)
		go func() {
			r := &ndis.OidRequest{Type: ndis.RequestSet, OID: oid, Buffer: ndis.Ulong(uint32(i))}
			if s := b.OidRequest(context.Background(), r); s != ndis.StatusSuccess {
				t.Errorf("request %d: %v", i, s)
			}
			results <- i
		}()
		if i == 0 {
			ndistest.Eventually(t, func() bool { return e.fake.PendingOIDs() == 1 }, "first request at the miniport")
		} else {
			ndistest.Eventually(t, func() bool { return a.Stats().OIDsQueued == i }, "request %d queued", i)
		}
	}
	for i := range n {
		ndistest.Eventually(t, func() bool { return e.fake.PendingOIDs() == 1 }, "request %d at the miniport", i)
		time.Sleep(time.Millisecond) // give a wrongly-parallel dispatcher the chance to show itself
		if got := e.fake.PendingOIDs(); got != 1 {
			t.Fatalf("%d requests at the miniport at once", got)
		}
		e.fake.CompleteOID(ndis.StatusSuccess)
		<-results
	}
	var got []ndis.OID
	for _, s := range e.fake.Sets() {
		got = append(got, s.OID)
	}
	for i := range n {
		if got[i] != ndis.OID(0xFF000000+i) {
			t.Fatalf("dispatch order %v", got)
		}
	}
}

// TestOidCancellation: a caller whose context ends gets
// StatusRequestAborted; a queued request leaves the queue, one already at
// the miniport finishes there and its late result goes nowhere.
func TestOidCancellation(t *testing.T) {
	e := newEnv(t)
	a := e.adapter("eth0")
	b, _ := e.bind("eth0")
	e.fake.Do(func(f *ndistest.Fake) { f.PendOIDs = true })

	ctx1, cancel1 := context.WithCancel(context.Background())
	r1 := &ndis.OidRequest{Type: ndis.RequestQuery, OID: 0xFF000001, Buffer: make([]byte, 4)}
	done1 := make(chan ndis.Status, 1)
	go func() { done1 <- b.OidRequest(ctx1, r1) }()
	ndistest.Eventually(t, func() bool { return e.fake.PendingOIDs() == 1 }, "first request at the miniport")

	ctx2, cancel2 := context.WithCancel(context.Background())
	done2 := make(chan ndis.Status, 1)
	go func() { done2 <- b.OidRequest(ctx2, query(0xFF000002, 4)) }()
	ndistest.Eventually(t, func() bool { return a.Stats().OIDsQueued == 1 }, "second request queued")
	cancel2()
	if s := <-done2; s != ndis.StatusRequestAborted {
		t.Fatalf("cancelled queued request: %v", s)
	}
	if q := a.Stats().OIDsQueued; q != 0 {
		t.Fatalf("%d requests still queued after cancellation", q)
	}

	cancel1()
	if s := <-done1; s != ndis.StatusRequestAborted {
		t.Fatalf("cancelled dispatched request: %v", s)
	}
	copy(r1.Buffer, []byte{7, 7, 7, 7}) // the caller reuses its buffer at once
	// The miniport answers late; the runtime takes it quietly.
	e.fake.Do(func(f *ndistest.Fake) { f.PendOIDs = false })
	e.fake.CompleteOID(ndis.StatusSuccess)
	if !bytes.Equal(r1.Buffer, []byte{7, 7, 7, 7}) {
		t.Errorf("late completion wrote into the caller's buffer: %v", r1.Buffer)
	}
	// The queue works on.
	if s := b.OidRequest(e.ctx, &ndis.OidRequest{Type: ndis.RequestSet, OID: 0xFF000003, Buffer: ndis.Ulong(1)}); s != ndis.StatusSuccess {
		t.Errorf("request after cancellations: %v", s)
	}
}

// TestOidFilterMerging: the miniport is given the union of the bindings'
// packet filters and multicast lists; each binding reads back its own.
func TestOidFilterMerging(t *testing.T) {
	e := newEnv(t)
	e.fake.General = &ndis.GeneralAttributes{MaxMulticastListSize: 3}
	e.adapter("eth0")
	b1, _ := e.bind("eth0")
	b2, _ := e.bind("eth0")
	e.setFilter(b1, ndis.PacketTypeDirected)
	e.setFilter(b2, ndis.PacketTypeBroadcast|ndis.PacketTypeMulticast)
	e.setFilter(b1, ndis.PacketTypeDirected) // the union does not change: no miniport call
	var filters []uint32
	for _, s := range e.fake.Sets() {
		if s.OID == ndis.OIDGenCurrentPacketFilter {
			filters = append(filters, binary.LittleEndian.Uint32(s.Buffer))
		}
	}
	want := []uint32{ndis.PacketTypeDirected, ndis.PacketTypeDirected | ndis.PacketTypeBroadcast | ndis.PacketTypeMulticast}
	if !slices.Equal(filters, want) {
		t.Errorf("miniport saw filters %#x, want %#x", filters, want)
	}
	if v, s := ndistest.QueryUlong(e.ctx, b2, ndis.OIDGenCurrentPacketFilter); s != ndis.StatusSuccess || v != ndis.PacketTypeBroadcast|ndis.PacketTypeMulticast {
		t.Errorf("binding 2 reads back %v %#x", s, v)
	}

	g := func(i byte) ndis.MacAddress { return ndis.MacAddress{1, 0, 0x5e, 0, 0, i} }
	set := func(b *ndis.Binding, list ...ndis.MacAddress) ndis.Status {
		return ndistest.SetMulticastList(e.ctx, b, list)
	}
	if s := set(b1, g(1), g(2)); s != ndis.StatusSuccess {
		t.Fatal(s)
	}
	if s := set(b2, g(2), g(3)); s != ndis.StatusSuccess {
		t.Fatal(s)
	}
	if s := set(b2, g(3), g(4)); s != ndis.StatusMulticastFull {
		t.Errorf("union of 4 addresses with a limit of 3: %v", s)
	}
	sets := e.fake.Sets()
	last := sets[len(sets)-1]
	if got, _ := ndis.DecodeMulticastList(last.Buffer); !slices.Equal(got, []ndis.MacAddress{g(1), g(2), g(3)}) {
		t.Errorf("miniport multicast list %v", got)
	}
	if got := b2.MulticastList(); !slices.Equal(got, []ndis.MacAddress{g(2), g(3)}) {
		t.Errorf("binding 2 kept %v after a refused set", got)
	}
}

// TestOidBufferChecks: short buffers and malformed values get the NDIS
// statuses with BytesNeeded, answered by the runtime where NDIS answers.
func TestOidBufferChecks(t *testing.T) {
	mac := ndis.MacAddress{2, 0, 0, 0, 0, 5}
	e := newEnv(t)
	e.fake.General = &ndis.GeneralAttributes{CurrentMacAddress: mac, MtuSize: 9000}
	e.adapter("eth0")
	b, _ := e.bind("eth0")
	cases := []struct {
		name   string
		r      *ndis.OidRequest
		status ndis.Status
		needed int
	}{
		{"short set filter", &ndis.OidRequest{Type: ndis.RequestSet, OID: ndis.OIDGenCurrentPacketFilter, Buffer: []byte{1}}, ndis.StatusInvalidLength, 4},
		{"short query filter", query(ndis.OIDGenCurrentPacketFilter, 2), ndis.StatusBufferTooShort, 4},
		{"short query address", query(ndis.OID8023CurrentAddress, 5), ndis.StatusBufferTooShort, 6},
		{"short query link state", query(ndis.OIDGenLinkState, 8), ndis.StatusBufferTooShort, ndis.LinkStateSize},
		{"ragged multicast list", &ndis.OidRequest{Type: ndis.RequestSet, OID: ndis.OID8023MulticastList, Buffer: make([]byte, 7)}, ndis.StatusInvalidLength, 6},
		{"unicast in multicast list", &ndis.OidRequest{Type: ndis.RequestSet, OID: ndis.OID8023MulticastList, Buffer: mac[:]}, ndis.StatusInvalidData, 0},
		{"unknown OID", query(0x00FFFFFF, 4), ndis.StatusInvalidOid, 0},
		{"bad request type", &ndis.OidRequest{Type: 7, OID: ndis.OIDGenMaximumFrameSize}, ndis.StatusInvalidParameter, 0},
	}
	for _, c := range cases {
		if s := b.OidRequest(e.ctx, c.r); s != c.status || c.r.BytesNeeded != c.needed {
			t.Errorf("%s: %v BytesNeeded %d, want %v %d", c.name, s, c.r.BytesNeeded, c.status, c.needed)
		}
	}
	if s := b.OidRequest(e.ctx, nil); s != ndis.StatusInvalidParameter {
		t.Errorf("nil request: %v", s)
	}
	if v, s := ndistest.Query(e.ctx, b, ndis.OID8023CurrentAddress, 6); s != ndis.StatusSuccess || !bytes.Equal(v, mac[:]) {
		t.Errorf("current address: %v %v", s, v)
	}
	if v, s := ndistest.QueryUlong(e.ctx, b, ndis.OIDGenMaximumFrameSize); s != ndis.StatusSuccess || v != 9000 {
		t.Errorf("maximum frame size: %v %v", s, v)
	}
	if calls := e.fake.Calls(); slices.ContainsFunc(calls, func(c string) bool { return c == "OidRequest:OID_802_3_CURRENT_ADDRESS" }) {
		t.Errorf("the runtime passed a query it answers to the miniport: %v", calls)
	}
}

// TestFilterUnionKeptExact: the miniport and the reset cache always hold the
// union of the bindings' filters, also when a set leaves the union as it was,
// and when a binding closes.
func TestFilterUnionKeptExact(t *testing.T) {
	e := newEnv(t)
	e.fake.ResetAddressing = true
	a := e.adapter("eth0")
	b1, _ := e.bind("eth0")
	b2, rec := e.bind("eth0")
	lastFilter := func() uint32 {
		var v uint32
		for _, s := range e.fake.Sets() {
			if s.OID == ndis.OIDGenCurrentPacketFilter {
				v = binary.LittleEndian.Uint32(s.Buffer)
			}
		}
		return v
	}
	const d, bc = ndis.PacketTypeDirected, ndis.PacketTypeBroadcast
	e.setFilter(b1, d|bc)
	e.setFilter(b2, d) // union unchanged: not sent, but the cache keeps the union
	a.ResetMiniport()
	rec.WaitStatus(t, ndis.StatusResetEnd, 1)
	if got := lastFilter(); got != d|bc {
		t.Fatalf("restored filter %#x, want %#x", got, d|bc)
	}
	e.setFilter(b1, d)
	if got := lastFilter(); got != d {
		t.Fatalf("miniport filter %#x after the union shrank, want %#x", got, d)
	}
	e.setFilter(b1, d|bc)
	if err := b1.Close(e.ctx); err != nil {
		t.Fatal(err)
	}
	ndistest.Eventually(t, func() bool { return lastFilter() == d }, "miniport filter %#x after closing the binding that wanted broadcasts", lastFilter())
}
