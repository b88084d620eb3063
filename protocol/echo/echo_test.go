package echo_test

import (
	"context"
	"testing"

	"github.com/gondis/gondis/miniport/loopback"
	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
	"github.com/gondis/gondis/protocol/echo"
	"github.com/gondis/gondis/protocol/internal/prototest"
)

// other is the station the test's requests come from.
var other = ndis.MacAddress{0x02, 9, 9, 9, 9, 9}

// request returns a frame of the traffic protocol's format, from other.
func request(dst ndis.MacAddress, etherType uint16, op byte) []byte {
	return ndistest.Ethernet(dst, other, etherType, append([]byte{op}, make([]byte, 45)...))
}

// TestEchoAnswers: a request to the adapter comes back as a reply to the
// sender, with the addresses swapped; a reply and a foreign EtherType are
// not answered. The echo counts and reports all of it.
func TestEchoAnswers(t *testing.T) {
	ctx := context.Background()
	rec := ndistest.NewRecorderDriver("rec")
	rt := prototest.Start(t, loopback.Driver(), "loop0", echo.Driver(), rec.Driver())
	eb := prototest.Bind(t, rt, echo.Name, "loop0", nil)
	e, ok := echo.Of(eb)
	if !ok {
		t.Fatal("echo.Of: no echo")
	}
	b := prototest.Bind(t, rt, "rec", "loop0", nil)
	if _, ok := echo.Of(b); ok {
		t.Error("echo.Of took the recorder's binding")
	}
	if s := ndistest.SetPacketFilter(ctx, b, ndis.PacketTypePromiscuous); s != ndis.StatusSuccess {
		t.Fatal(s)
	}
	mac := b.Adapter().MacAddress()
	b.SendNetBufferLists(ndis.Chain(ndis.NewNetBufferList(request(mac, 0x88B5, 1)),
		ndis.NewNetBufferList(request(mac, 0x88B5, 2)), ndis.NewNetBufferList(request(mac, 0x0800, 1))))
	// The recorder sees its three frames and one reply.
	want := request(other, 0x88B5, 2)
	copy(want[6:12], mac[:])
	ndistest.Eventually(t, func() bool {
		var replies int
		for _, f := range frames(rec.Binding(b).Records()) {
			if string(f) == string(want) {
				replies++
			}
		}
		return replies == 1
	}, "one reply")
	ndistest.Eventually(t, func() bool { return len(e.Stats().Completed) > 0 }, "the reply's completion")
	st := e.Stats()
	if st.Requests != 1 || st.Answered != 1 || st.NoBuffer != 0 || st.Completed[ndis.StatusSuccess] != 1 {
		t.Errorf("stats %+v", st)
	}
	prototest.CheckReport(t, eb, map[string]float64{"requests": 1, "answered": 1, "no_buffer": 0,
		"completed{status=NDIS_STATUS_SUCCESS}": 1})
}

// TestEchoNoBuffer: a request that finds every reply NBL in flight is
// counted and not answered.
func TestEchoNoBuffer(t *testing.T) {
	fake := ndistest.NewFake()
	fake.General = &ndis.GeneralAttributes{CurrentMacAddress: ndis.MacAddress{2, 0, 0, 0, 0, 1}}
	fake.HoldSends = true
	rt := prototest.Start(t, fake.Driver("fake", ndis.Version630), "f0", echo.Driver())
	e, _ := echo.Of(prototest.Bind(t, rt, echo.Name, "f0", map[string]string{"window": "2"}))
	fake.Indicate(0, request(ndis.BroadcastAddress, 0x88B5, 1), request(ndis.BroadcastAddress, 0x88B5, 1),
		request(ndis.BroadcastAddress, 0x88B5, 1))
	ndistest.Eventually(t, func() bool { return fake.Held() == 2 }, "the window held")
	if st := e.Stats(); st.Requests != 3 || st.Answered != 2 || st.NoBuffer != 1 {
		t.Errorf("stats %+v", st)
	}
	fake.CompleteHeld(ndis.StatusSuccess)
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
