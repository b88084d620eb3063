package tap

import (
	"errors"
	"hash/fnv"
	"strings"
	"time"

	"github.com/gondis/gondis/internal/param"
	"github.com/gondis/gondis/ndis"
)

// Defaults and limits.
const (
	DefaultMTU = 1500
	MinMTU     = param.MinMTU
	MaxMTU     = 65521 // 65535 less the Ethernet header
	// LinkSpeed is what the kernel's tun driver reports (10 Mb/s).
	LinkSpeed = 10_000_000
	// Batch is the most NBLs in one receive indication.
	Batch = 64
	// PoolLimit is the most receive NBLs an adapter has at once, unless it
	// has more than four queues: then it has 4×Batch a queue.
	PoolLimit = 1024
	// MaxQueues is the most queues (descriptors, each with a reader and a
	// writer) an adapter opens on a multi-queue interface.
	MaxQueues = 16
	// MaxMulticastListSize is the size of the multicast list.
	MaxMulticastListSize = 32
	// SendTimeout is how long a write may make no progress, with the link
	// up, before CheckForHang reports a hang.
	SendTimeout = 8 * time.Second
	maxNameLen  = 15 // IFNAMSIZ - 1
)

// config is an adapter's parsed parameters.
type config struct {
	name    string
	mtu     int
	mac     ndis.MacAddress
	netns   string // a path, or "" for the process's own namespace
	persist bool
	queues  int  // 0: one per core ("auto")
	vnetHdr bool // IFF_VNET_HDR with offloads
}

// DefaultMAC returns the station address of an adapter given no mac
// parameter: locally administered, unicast, derived from the adapter name.
func DefaultMAC(adapter string) ndis.MacAddress {
	h := fnv.New32a()
	h.Write([]byte(adapter))
	s := h.Sum32()
	return ndis.MacAddress{0x02, 0x67, byte(s >> 24), byte(s >> 16), byte(s >> 8), byte(s)}
}

// parameters are the adapter's parameters, as the package doc describes
// them. Parsing them touches nothing, so that Driver's ValidateParams can
// check a configuration before anything is created.
var parameters = param.Table[config]{
	Driver: "tap",
	Specs: []param.Spec[config]{
		{Key: "name", Doc: "interface name, at most 15 bytes (default: the kernel picks tapN)", Set: setName},
		param.MTUSpec(MaxMTU, DefaultMTU, func(c *config) *int { return &c.mtu }),
		param.MACSpec("derived from the adapter's name", func(c *config) *ndis.MacAddress { return &c.mac }),
		{Key: "netns", Doc: "named network namespace, or the path of a namespace file (default: the process's own)", Set: setNetns},
		param.BoolSpec("persist", "the interface outlives the adapter (default false)", func(c *config) *bool { return &c.persist }),
		{Key: "queues", Doc: `queues (descriptors) to open, 1…16, or "auto": one per core (default)`, Set: setQueues},
		param.BoolSpec("vnet_hdr", "frames cross with a virtio-net header, so offloads go to the kernel (default off)",
			func(c *config) *bool { return &c.vnetHdr }),
	},
}

// parseConfig reads an adapter's parameters over the defaults; the error
// is a *ndis.ParamError for the first bad key in sorted order.
func parseConfig(adapter string, p map[string]string) (config, error) {
	c := config{mtu: DefaultMTU, mac: DefaultMAC(adapter)}
	err := parameters.Parse(&c, p)
	return c, err
}

func setName(c *config, v string) error {
	if len(v) > maxNameLen || !validName(v) {
		return errors.New("want an interface name of at most 15 bytes, no '/', ':' or space")
	}
	c.name = v
	return nil
}

// setNetns takes a name under /var/run/netns (ip netns's) or a path.
func setNetns(c *config, v string) error {
	switch {
	case v == "":
	case strings.Contains(v, "/"):
		c.netns = v
	case v == "." || v == "..":
		return errors.New("not a namespace name")
	default:
		c.netns = "/var/run/netns/" + v
	}
	return nil
}

func setQueues(c *config, v string) error {
	if v == "auto" {
		c.queues = 0
		return nil
	}
	n, err := param.Int(v, 1, MaxQueues)
	if err != nil {
		return errors.New(err.Error() + `, or "auto"`)
	}
	c.queues = n
	return nil
}

func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '/' || c == ':' || c <= ' ' || c >= 0x7f:
			return false
		}
	}
	return s != "." && s != ".."
}
