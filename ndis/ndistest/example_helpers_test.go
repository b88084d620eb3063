package ndistest_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

// A protocol's view of a fake adapter: the recorder sets its packet filter
// and reads the MTU with the OID helpers, and the fake indicates frames
// built with the frame builders. The ARP request is a broadcast, which the
// directed-only filter keeps from the recorder.
func Example_protocolView() {
	ctx := context.Background()
	us := ndistest.Host{MAC: ndis.MacAddress{2, 0, 0, 0, 0, 1}, IP: netip.MustParseAddr("192.0.2.1")}
	peer := ndistest.Host{MAC: ndis.MacAddress{2, 0, 0, 0, 0, 2}, IP: netip.MustParseAddr("192.0.2.2")}

	rt := ndis.New()
	defer rt.Close(ctx)
	fake := ndistest.NewFake()
	fake.General = &ndis.GeneralAttributes{CurrentMacAddress: us.MAC, MtuSize: 1500}
	rec := ndistest.NewRecorderDriver("rec")
	if err := rt.RegisterMiniportDriver(fake.Driver("fake", ndis.Version630)); err != nil {
		panic(err)
	}
	if err := rt.RegisterProtocolDriver(rec.Driver()); err != nil {
		panic(err)
	}
	if _, err := rt.AddAdapter(ctx, "eth0", "fake", nil); err != nil {
		panic(err)
	}
	b, err := rt.Bind(ctx, "rec", "eth0")
	if err != nil {
		panic(err)
	}

	fmt.Println(ndistest.SetPacketFilter(ctx, b, ndis.PacketTypeDirected))
	mtu, s := ndistest.QueryUlong(ctx, b, ndis.OIDGenMaximumFrameSize)
	fmt.Println(mtu, s)
	fake.Indicate(0, ndistest.EchoRequest(peer, us, 1, 1, []byte("ping")), ndistest.ARPRequest(peer, us.IP))
	fmt.Println(rec.Binding(b).Received(), "frame received")
	// Output:
	// NDIS_STATUS_SUCCESS
	// 1500 NDIS_STATUS_SUCCESS
	// 1 frame received
}
