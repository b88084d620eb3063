package loopback

import (
	"github.com/gondis/gondis/internal/param"
	"github.com/gondis/gondis/ndis"
)

// Defaults and limits of the adapter parameters (the MTU's floor is
// param.MinMTU, as for every gondis adapter).
const (
	DefaultMTU       = 1500
	DefaultLinkSpeed = 10_000_000_000 // bits per second
	DefaultBatch     = 64
	MaxMTU           = 65535
	// PoolLimit is the most receive NBLs an adapter has at once.
	PoolLimit = 4096
	// MaxMulticastListSize is the size of the hardware multicast list.
	MaxMulticastListSize = 32
)

// DefaultMAC is the station address of an adapter given no mac parameter:
// a locally administered unicast address.
const DefaultMAC = "02:00:00:00:00:01"

// config is an adapter's parsed parameters.
type config struct {
	mtu       int
	mac       ndis.MacAddress
	linkSpeed uint64
	batch     int
}

// params are the adapter parameters; the package doc lists them with these
// Doc strings.
var params = param.Table[config]{
	Driver: "loopback",
	Specs: []param.Spec[config]{
		param.MTUSpec(MaxMTU, DefaultMTU, func(c *config) *int { return &c.mtu }),
		param.MACSpec(DefaultMAC, func(c *config) *ndis.MacAddress { return &c.mac }),
		param.LinkSpeedSpec(DefaultLinkSpeed, func(c *config) *uint64 { return &c.linkSpeed }),
		param.IntSpec("batch", "most NBLs in one receive indication, 1…4096 (default 64)",
			1, PoolLimit, func(c *config) *int { return &c.batch }),
	},
}

// parseConfig reads the params map over the defaults.
func parseConfig(p map[string]string) (config, error) {
	mac, _ := ndis.ParseStationAddress(DefaultMAC) // valid: TestParams uses it
	c := config{mtu: DefaultMTU, mac: mac, linkSpeed: DefaultLinkSpeed, batch: DefaultBatch}
	return c, params.Parse(&c, p)
}
