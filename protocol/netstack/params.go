package netstack

import (
	"errors"
	"net/netip"
	"strings"

	"github.com/gondis/gondis/internal/param"
)

// Defaults and limits of the binding parameters.
const (
	DefaultHold   = 1024 // frames held during a reset
	DefaultWindow = 4096 // send NBLs in flight or held
	MaxHold       = 65536
	MinWindow     = 16
	MaxWindow     = 65536
)

// Params are a binding's parsed parameters.
type Params struct {
	// Addrs are the interface's addresses with their prefix lengths; each
	// also routes its subnet to the interface.
	Addrs []netip.Prefix
	// Gateways are the interface's default gateways, at most one per
	// address family.
	Gateways []netip.Addr
	Hold     int // frames held between RESET_START and RESET_END, at most
	Window   int // send NBLs in flight or held, at most
}

// table declares the parameters; the package doc lists them.
var table = param.Table[Params]{
	Driver: Name,
	Specs: []param.Spec[Params]{
		{Key: "addr", Doc: "addresses with prefix lengths, comma-separated, as 10.0.0.2/24,fd00::2/64 (default none)",
			Set: setAddrs},
		{Key: "gateway", Doc: "default gateways, at most one IPv4 and one IPv6, comma-separated (default none)",
			Set: setGateways},
		param.IntSpec("hold", "frames held between RESET_START and RESET_END, 0…65536; more are dropped (default 1024)",
			0, MaxHold, func(p *Params) *int { return &p.Hold }),
		param.IntSpec("window", "send NBLs in flight or held at most, 16…65536; more are dropped (default 4096)",
			MinWindow, MaxWindow, func(p *Params) *int { return &p.Window }),
	},
}

func setAddrs(p *Params, v string) error {
	p.Addrs = nil
	for _, s := range strings.Split(v, ",") {
		pfx, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil || pfx.Addr().Zone() != "" || pfx.Addr().Is4In6() || !usable(pfx.Addr()) {
			return errors.New("want unicast addresses with prefix lengths, as 10.0.0.2/24")
		}
		p.Addrs = append(p.Addrs, pfx)
	}
	return nil
}

func setGateways(p *Params, v string) error {
	p.Gateways = nil
	var v4, v6 bool
	for _, s := range strings.Split(v, ",") {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil || a.Zone() != "" || !usable(a) {
			return errors.New("want unicast addresses, as 10.0.0.1")
		}
		a = a.Unmap()
		seen := &v6
		if a.Is4() {
			seen = &v4
		}
		if *seen {
			return errors.New("want at most one gateway per address family")
		}
		*seen = true
		p.Gateways = append(p.Gateways, a)
	}
	return nil
}

// usable reports whether a can be an interface's address or a gateway.
func usable(a netip.Addr) bool {
	return a.IsValid() && !a.IsUnspecified() && !a.IsMulticast() && !a.IsLoopback() &&
		a.Unmap() != netip.AddrFrom4([4]byte{255, 255, 255, 255})
}

// ParseParams reads a binding's parameters (see the package doc) over the
// defaults. A bad one is a *ndis.ParamError: the first unknown key or
// refused value, in sorted key order.
func ParseParams(params map[string]string) (Params, error) {
	p := Params{Hold: DefaultHold, Window: DefaultWindow}
	if err := table.Parse(&p, params); err != nil {
		return Params{}, err
	}
	return p, nil
}
