package kit

import (
	"slices"
	"testing"

	"github.com/gondis/gondis/ndis"
)

// TestSetFilter: the packet filter and the multicast list are set into the
// filter when the request is good, left alone when it is not, and every
// other request is the driver's.
func TestSetFilter(t *testing.T) {
	group := ndis.MacAddress{0x01, 0, 0x5e, 0, 0, 1}
	f := ndis.PacketFilter{Types: ndis.PacketTypeDirected}
	set := func(oid ndis.OID, buf []byte) (ndis.Status, bool) {
		return SetFilter(&ndis.OidRequest{Type: ndis.RequestSet, OID: oid, Buffer: buf}, &f, 2)
	}
	if s, ok := set(ndis.OIDGenCurrentPacketFilter, ndis.Ulong(ndis.PacketTypeBroadcast)); !ok || s != ndis.StatusSuccess || f.Types != ndis.PacketTypeBroadcast {
		t.Errorf("packet filter: %s, %v, types %#x", s, ok, f.Types)
	}
	if s, ok := set(ndis.OIDGenCurrentPacketFilter, ndis.Ulong(ndis.PacketTypeAllLocal)); !ok || s != ndis.StatusNotSupported || f.Types != ndis.PacketTypeBroadcast {
		t.Errorf("unsupported bit: %s, %v, types %#x", s, ok, f.Types)
	}
	if s, ok := set(ndis.OID8023MulticastList, ndis.EncodeMulticastList([]ndis.MacAddress{group})); !ok || s != ndis.StatusSuccess || !slices.Equal(f.Multicast, []ndis.MacAddress{group}) {
		t.Errorf("multicast list: %s, %v, %v", s, ok, f.Multicast)
	}
	if s, ok := set(ndis.OID8023MulticastList, ndis.EncodeMulticastList([]ndis.MacAddress{group, group, group})); !ok || s != ndis.StatusMulticastFull || len(f.Multicast) != 1 {
		t.Errorf("three addresses into two: %s, %v, %v", s, ok, f.Multicast)
	}
	if _, ok := set(ndis.OIDGenCurrentLookahead, ndis.Ulong(64)); ok {
		t.Error("SetFilter took the lookahead")
	}
	q := &ndis.OidRequest{Type: ndis.RequestQuery, OID: ndis.OIDGenCurrentPacketFilter, Buffer: make([]byte, 4)}
	if _, ok := SetFilter(q, &f, 2); ok {
		t.Error("SetFilter took a query")
	}
}
