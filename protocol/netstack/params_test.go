package netstack_test

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/gondis/gondis/protocol/internal/prototest"
	"github.com/gondis/gondis/protocol/netstack"
)

func TestParseParams(t *testing.T) {
	good, bad := prototest.ParamChecks(t, netstack.Driver())
	good(nil)
	good(map[string]string{"addr": "10.0.0.2/24", "gateway": "10.0.0.1", "hold": "0", "window": "16"})
	good(map[string]string{"addr": "10.0.0.2/24, fd00::2/64", "gateway": "fd00::1,10.0.0.1", "hold": "65536", "window": "65536"})
	bad("addr", map[string]string{"addr": "10.0.0.2"})
	bad("addr", map[string]string{"addr": "10.0.0.2/33"})
	bad("addr", map[string]string{"addr": "224.0.0.1/24"})
	bad("addr", map[string]string{"addr": "0.0.0.0/0"})
	bad("addr", map[string]string{"addr": "fe80::1%eth0/64"})
	bad("addr", map[string]string{"addr": ""})
	bad("addr", map[string]string{"addr": "::ffff:10.0.0.2/120"})
	bad("gateway", map[string]string{"gateway": "10.0.0.1/24"})
	bad("gateway", map[string]string{"gateway": "10.0.0.1,10.0.0.254"})
	bad("gateway", map[string]string{"gateway": "255.255.255.255"})
	bad("hold", map[string]string{"hold": "-1"})
	bad("hold", map[string]string{"hold": "65537"})
	bad("window", map[string]string{"window": "15"})
	bad("mtu", map[string]string{"mtu": "1500"})
	bad("addr", map[string]string{"window": "0", "addr": "x"}) // the first in sorted order

	p, err := netstack.ParseParams(map[string]string{"addr": "10.0.0.2/24,fd00::2/64", "gateway": "::ffff:10.0.0.9,fd00::1"})
	want := netstack.Params{Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.2/24"), netip.MustParsePrefix("fd00::2/64")},
		Gateways: []netip.Addr{netip.MustParseAddr("10.0.0.9"), netip.MustParseAddr("fd00::1")}, Hold: netstack.DefaultHold, Window: netstack.DefaultWindow}
	if err != nil || !slices.Equal(p.Addrs, want.Addrs) || !slices.Equal(p.Gateways, want.Gateways) ||
		p.Hold != want.Hold || p.Window != want.Window {
		t.Errorf("ParseParams = %+v, %v; want %+v", p, err, want)
	}
}
