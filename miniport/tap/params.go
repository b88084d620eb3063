package tap

import (
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/gondis/gondis/internal/param"
	"github.com/gondis/gondis/ndis"
)

// Defaults and limits.
const (
	DefaultMTU = 1500
	MinMTU     = 68
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

// ParamError is the error Initialize returns for a bad adapter parameter. It
// wraps ndis.StatusInvalidParameter.
type ParamError struct {
	Key, Value, Reason string
}

func (e *ParamError) Error() string {
	return fmt.Sprintf("tap: parameter %s=%q: %s", e.Key, e.Value, e.Reason)
}

// Unwrap returns ndis.StatusInvalidParameter.
func (e *ParamError) Unwrap() error { return ndis.StatusInvalidParameter }

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

// parseConfig reads the params map, keys in sorted order.
func parseConfig(adapter string, params map[string]string) (config, error) {
	c := config{mtu: DefaultMTU, mac: DefaultMAC(adapter)}
	for _, k := range slices.Sorted(maps.Keys(params)) {
		v := params[k]
		bad := func(reason string) error { return &ParamError{Key: k, Value: v, Reason: reason} }
		switch k {
		case "name":
			if len(v) > maxNameLen || !validName(v) {
				return c, bad("want an interface name of at most 15 bytes, no '/', ':' or space")
			}
			c.name = v
		case "mtu":
			n, err := param.Int(v, MinMTU, MaxMTU)
			if err != nil {
				return c, bad(err.Error())
			}
			c.mtu = n
		case "mac":
			mac, err := ndis.ParseStationAddress(v)
			if err != nil {
				return c, bad(err.Error())
			}
			c.mac = mac
		case "netns":
			switch {
			case v == "":
			case slices.Contains([]byte(v), '/'):
				c.netns = v
			case v == "." || v == "..":
				return c, bad("not a namespace name")
			default:
				c.netns = "/var/run/netns/" + v
			}
		case "persist":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return c, bad("want true or false")
			}
			c.persist = b
		case "queues":
			if v == "auto" {
				c.queues = 0
				break
			}
			n, err := param.Int(v, 1, MaxQueues)
			if err != nil {
				return c, bad(err.Error() + `, or "auto"`)
			}
			c.queues = n
		case "vnet_hdr":
			switch v {
			case "on":
				c.vnetHdr = true
			case "off":
				c.vnetHdr = false
			default:
				b, err := strconv.ParseBool(v)
				if err != nil {
					return c, bad("want on or off")
				}
				c.vnetHdr = b
			}
		default:
			return c, bad("unknown parameter; the tap takes name, mtu, mac, netns, persist, queues and vnet_hdr")
		}
	}
	return c, nil
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
