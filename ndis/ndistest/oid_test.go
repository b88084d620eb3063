package ndistest_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

// Private OIDs the fake answers in TestOIDHelpers.
const (
	oidWide   ndis.OID = 0xFF000010 // a ULONG64 counter, by PutCounter
	oidNarrow ndis.OID = 0xFF000011 // a counter answered as a ULONG
	oidShort  ndis.OID = 0xFF000012 // two bytes
)

// bindFake adds a fake adapter and binds a recorder to it.
func bindFake(t *testing.T, fake *ndistest.Fake) *ndis.Binding {
	t.Helper()
	rt := ndis.New(ndistest.NewVerifier(t).Options()...)
	t.Cleanup(func() {
		if err := rt.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	rec := ndistest.NewRecorderDriver("rec")
	if err := rt.RegisterMiniportDriver(fake.Driver("fake", ndis.Version630)); err != nil {
		t.Fatal(err)
	}
	if err := rt.RegisterProtocolDriver(rec.Driver()); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.AddAdapter(context.Background(), "eth0", "fake", nil); err != nil {
		t.Fatal(err)
	}
	b, err := rt.Bind(context.Background(), "rec", "eth0")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOIDHelpers(t *testing.T) {
	ctx := context.Background()
	fake := ndistest.NewFake()
	fake.OnOid = func(r *ndis.OidRequest) ndis.Status {
		switch {
		case r.Type == ndis.RequestSet:
			r.BytesWritten = len(r.Buffer)
			return ndis.StatusSuccess
		case r.OID == oidWide:
			return r.PutCounter(1 << 40)
		case r.OID == oidNarrow:
			return r.PutUlong(7)
		case r.OID == oidShort:
			return r.PutBytes([]byte{1, 2})
		}
		return ndis.StatusInvalidOid
	}
	b := bindFake(t, fake)

	if v, s := ndistest.QueryUlong(ctx, b, ndis.OIDGenMaximumFrameSize); s != ndis.StatusSuccess || v != 1500 {
		t.Errorf("QueryUlong(MaximumFrameSize) = %d, %s; want 1500", v, s)
	}
	if v, s := ndistest.QueryCounter(ctx, b, oidWide); s != ndis.StatusSuccess || v != 1<<40 {
		t.Errorf("QueryCounter(ULONG64) = %d, %s", v, s)
	}
	if v, s := ndistest.QueryCounter(ctx, b, oidNarrow); s != ndis.StatusSuccess || v != 7 {
		t.Errorf("QueryCounter(ULONG) = %d, %s", v, s)
	}
	if _, s := ndistest.QueryCounter(ctx, b, oidShort); s != ndis.StatusInvalidLength {
		t.Errorf("QueryCounter of 2 bytes: %s, want %s", s, ndis.StatusInvalidLength)
	}
	if _, s := ndistest.QueryUlong(ctx, b, oidShort); s != ndis.StatusInvalidLength {
		t.Errorf("QueryUlong of 2 bytes: %s, want %s", s, ndis.StatusInvalidLength)
	}
	if v, s := ndistest.Query(ctx, b, 0xFF0000FF, 4); s != ndis.StatusInvalidOid || v != nil {
		t.Errorf("Query of an unknown OID = %x, %s", v, s)
	}

	if s := ndistest.SetUlong(ctx, b, 0xFF000001, 0x01020304); s != ndis.StatusSuccess {
		t.Fatalf("SetUlong: %s", s)
	}
	sets := fake.Sets()
	if last := sets[len(sets)-1]; last.OID != 0xFF000001 || !slices.Equal(last.Buffer, []byte{4, 3, 2, 1}) {
		t.Errorf("SetUlong reached the miniport as %s %x", last.OID, last.Buffer)
	}
	if s := ndistest.SetPacketFilter(ctx, b, ndis.PacketTypeDirected|ndis.PacketTypeMulticast); s != ndis.StatusSuccess {
		t.Fatalf("SetPacketFilter: %s", s)
	}
	if f := b.PacketFilter(); f != ndis.PacketTypeDirected|ndis.PacketTypeMulticast {
		t.Errorf("PacketFilter = %#x", f)
	}
	group := []ndis.MacAddress{{0x01, 0, 0x5e, 0, 0, 1}, {0x33, 0x33, 0, 0, 0, 1}}
	if s := ndistest.SetMulticastList(ctx, b, group); s != ndis.StatusSuccess {
		t.Fatalf("SetMulticastList: %s", s)
	}
	if got := b.MulticastList(); !slices.Equal(got, group) {
		t.Errorf("MulticastList = %v, want %v", got, group)
	}
	if s := ndistest.SetMulticastList(ctx, b, []ndis.MacAddress{{0x02, 0, 0, 0, 0, 1}}); s != ndis.StatusInvalidData {
		t.Errorf("SetMulticastList of a unicast address: %s, want %s", s, ndis.StatusInvalidData)
	}
	if s := ndistest.SetMulticastList(ctx, b, nil); s != ndis.StatusSuccess || len(b.MulticastList()) != 0 {
		t.Errorf("SetMulticastList(nil): %s, list %v", s, b.MulticastList())
	}

	// The Must helpers make the same requests and fail the test on any
	// other status than success.
	ndistest.MustSetPacketFilter(t, b, ndis.PacketTypeBroadcast)
	ndistest.MustSetMulticastList(t, b, group)
	ndistest.MustSet(t, b, 0xFF000002, []byte{9})
	if f, l := b.PacketFilter(), b.MulticastList(); f != ndis.PacketTypeBroadcast || !slices.Equal(l, group) {
		t.Errorf("after the Must sets: filter %#x, list %v", f, l)
	}
	if last := fake.Sets()[len(fake.Sets())-1]; last.OID != 0xFF000002 || !slices.Equal(last.Buffer, []byte{9}) {
		t.Errorf("MustSet reached the miniport as %s %x", last.OID, last.Buffer)
	}
	if v := ndistest.MustQueryCounter(t, b, oidNarrow); v != 7 {
		t.Errorf("MustQueryCounter(ULONG) = %d", v)
	}
	for name, call := range map[string]func(ndistest.TB){
		"MustSetMulticastList(unicast)": func(ft ndistest.TB) {
			ndistest.MustSetMulticastList(ft, b, []ndis.MacAddress{{0x02, 0, 0, 0, 0, 1}})
		},
		"MustQueryCounter(2 bytes)": func(ft ndistest.TB) { ndistest.MustQueryCounter(ft, b, oidShort) },
	} {
		var ft fatalT
		call(&ft)
		if ft.fatal == "" {
			t.Errorf("%s did not fail the test", name)
		}
	}
}

// fatalT records a helper's Fatalf instead of failing the test.
type fatalT struct{ fatal string }

func (*fatalT) Helper()                          {}
func (*fatalT) Errorf(string, ...any)            {}
func (f *fatalT) Fatalf(format string, a ...any) { f.fatal = fmt.Sprintf(format, a...) }
