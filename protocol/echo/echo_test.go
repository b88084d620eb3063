package echo_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gondis/gondis/miniport/loopback"
	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
	"github.com/gondis/gondis/protocol/bindparams"
	"github.com/gondis/gondis/protocol/echo"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseParams(t *testing.T) {
	for _, tc := range []struct {
		params map[string]string
		ok     bool
	}{
		{nil, true},
		{map[string]string{"ethertype": "34997", "window": "4096"}, true},
		{map[string]string{"window": "0"}, false},
		{map[string]string{"window": "x"}, false},
		{map[string]string{"ethertype": "0x10000"}, false},
		{map[string]string{"dest": "broadcast"}, false},
	} {
		if err := echo.ValidateParams(tc.params); (err == nil) != tc.ok {
			t.Errorf("ValidateParams(%v) = %v, want ok %v", tc.params, err, tc.ok)
		}
	}
}

// TestEchoAnswers: a request to the adapter comes back as a reply to the
// sender, with the addresses swapped; a reply and a foreign EtherType are
// not answered.
func TestEchoAnswers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rt := ndis.New(ndis.WithViolationHandler(func(v ndis.Violation) { t.Errorf("violation: %v", v) }))
	defer rt.Close(context.Background())
	rec := ndistest.NewRecorderDriver("rec")
	if err := rt.RegisterMiniportDriver(loopback.Driver()); err != nil {
		t.Fatal(err)
	}
	if err := rt.RegisterProtocolDriver(echo.DriverWith(&bindparams.Registry{})); err != nil {
		t.Fatal(err)
	}
	if err := rt.RegisterProtocolDriver(rec.Driver()); err != nil {
		t.Fatal(err)
	}
	a, err := rt.AddAdapter(ctx, "loop0", "loopback", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Bind(ctx, "echo", "loop0"); err != nil {
		t.Fatal(err)
	}
	b, err := rt.Bind(ctx, "rec", "loop0")
	if err != nil {
		t.Fatal(err)
	}
	if s := b.OidRequest(ctx, &ndis.OidRequest{Type: ndis.RequestSet, OID: ndis.OIDGenCurrentPacketFilter,
		Buffer: ndis.Ulong(ndis.PacketTypePromiscuous)}); s != ndis.StatusSuccess {
		t.Fatal(s)
	}
	mac := a.MacAddress()
	other := ndis.MacAddress{0x02, 9, 9, 9, 9, 9}
	mk := func(etherType uint16, op byte) []byte {
		f := make([]byte, 60)
		copy(f[0:6], mac[:])
		copy(f[6:12], other[:])
		f[12], f[13], f[14] = byte(etherType>>8), byte(etherType), op
		return f
	}
	b.SendNetBufferLists(ndis.Chain(ndis.NewNetBufferList(mk(0x88B5, 1)), ndis.NewNetBufferList(mk(0x88B5, 2)),
		ndis.NewNetBufferList(mk(0x0800, 1))))
	// The recorder sees its three frames and one reply.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var replies int
		for _, f := range frames(rec.Binding(b).Records()) {
			if len(f) > 14 && f[14] == 2 && ndis.MacAddress(f[0:6]) == other && ndis.MacAddress(f[6:12]) == mac {
				replies++
			}
		}
		if replies == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replies = %d, want 1", replies)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := rt.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func frames(rs []ndistest.Record) [][]byte {
	var fs [][]byte
	for _, r := range rs {
		if r.Kind == ndistest.RecordReceive {
			fs = append(fs, r.Frames...)
		}
	}
	return fs
}
