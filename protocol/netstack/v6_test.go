package netstack_test

import (
	"context"
	"net/netip"
	"testing"
)

// TestIPv6: an interface with an IPv6 address finds its neighbour (NDP,
// through the all-multicast filter), answers pings and carries TCP.
func TestIPv6(t *testing.T) {
	a, b := pair(t, nil, nil)
	a6, b6 := netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::2")
	must(t, a.ifc.AddAddress(netip.PrefixFrom(a6, 64)))
	must(t, b.ifc.AddAddress(netip.PrefixFrom(b6, 64)))
	a.ping(t, b6)
	l, err := b.st.ListenTCP(netip.AddrPortFrom(b6, 7))
	must(t, err)
	defer l.Close()
	go serveEcho(l)
	c, err := a.st.DialTCP(context.Background(), netip.AddrPortFrom(b6, 7))
	must(t, err)
	defer c.Close()
	roundTrip(t, c, "v6")
}
