package sim

import (
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gondis/gondis/internal/param"
	"github.com/gondis/gondis/ndis"
)

// Defaults and limits of the adapter parameters.
const (
	DefaultMTU         = 1500
	DefaultLinkSpeed   = 10_000_000_000 // bits per second
	DefaultRing        = 256            // descriptors in each ring
	DefaultSendTimeout = 2 * time.Second
	MinMTU             = 68
	MaxMTU             = 65535
	MaxRing            = 4096
	MaxLatency         = 10 * time.Second
	MaxSendTimeout     = time.Hour
	// MaxMulticastListSize is the size of the hardware multicast list.
	MaxMulticastListSize = 32
	maxWireName          = 64
)

const ethernetHeaderSize = 14

// ParamError is the error Initialize returns for a bad adapter parameter. It
// wraps ndis.StatusInvalidParameter: errors.Is(err,
// ndis.StatusInvalidParameter) holds for it.
type ParamError struct {
	Key    string // the parameter's name
	Value  string // its value, as given
	Reason string // what is wrong with it
}

func (e *ParamError) Error() string {
	return fmt.Sprintf("sim: parameter %s=%q: %s", e.Key, e.Value, e.Reason)
}

// Unwrap returns ndis.StatusInvalidParameter.
func (e *ParamError) Unwrap() error { return ndis.StatusInvalidParameter }

// config is an adapter's parsed parameters.
type config struct {
	mac         ndis.MacAddress
	mtu         int
	linkSpeed   uint64
	txRing      int
	rxRing      int
	latency     time.Duration
	sendTimeout time.Duration
	flowControl bool
	wire        string
	faults      []Fault // in kind order
}

var paramKeys = []string{"mac", "mtu", "link_speed", "tx_ring", "rx_ring", "latency", "send_timeout", "flow_control", "wire"}

// DefaultMAC returns the station address of an adapter given no mac
// parameter: a locally administered unicast address derived from the
// adapter's name, so the two ends of a wire differ.
func DefaultMAC(adapter string) ndis.MacAddress {
	h := fnv.New64a()
	h.Write([]byte(adapter))
	sum := h.Sum64()
	m := ndis.MacAddress{0x02}
	for i := 1; i < 6; i++ {
		m[i] = byte(sum >> (8 * (i - 1)))
	}
	return m
}

// parseConfig reads the params map. Keys are checked in sorted order, so the
// error for several bad keys is always the same one.
func parseConfig(adapter string, params map[string]string) (config, error) {
	c := config{
		mac:         DefaultMAC(adapter),
		mtu:         DefaultMTU,
		linkSpeed:   DefaultLinkSpeed,
		txRing:      DefaultRing,
		rxRing:      DefaultRing,
		sendTimeout: DefaultSendTimeout,
		flowControl: true,
	}
	for _, k := range slices.Sorted(maps.Keys(params)) {
		v := params[k]
		bad := func(reason string) error { return &ParamError{Key: k, Value: v, Reason: reason} }
		if kind, ok := ParseFaultKind(k); ok {
			f, err := ParseFault(kind, v)
			if err != nil {
				return c, bad(err.Error())
			}
			c.faults = append(c.faults, f)
			continue
		}
		switch k {
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
		case "link_speed":
			n, err := param.BitsPerSecond(v)
			if err != nil {
				return c, bad(err.Error())
			}
			c.linkSpeed = n
		case "tx_ring", "rx_ring":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > MaxRing {
				return c, bad(fmt.Sprintf("want a number of descriptors from 1 to %d", MaxRing))
			}
			if k == "tx_ring" {
				c.txRing = n
			} else {
				c.rxRing = n
			}
		case "latency":
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 || d > MaxLatency {
				return c, bad(fmt.Sprintf("want a duration from 0 to %s (as 50us)", MaxLatency))
			}
			c.latency = d
		case "send_timeout":
			d, err := time.ParseDuration(v)
			if err != nil || d <= 0 || d > MaxSendTimeout {
				return c, bad(fmt.Sprintf("want a positive duration up to %s (as 2s)", MaxSendTimeout))
			}
			c.sendTimeout = d
		case "flow_control":
			on, err := strconv.ParseBool(v)
			if err != nil {
				return c, bad("want true or false")
			}
			c.flowControl = on
		case "wire":
			if !validWireName(v) {
				return c, bad(fmt.Sprintf("want a name of 1 to %d letters, digits, '.', '_' or '-'", maxWireName))
			}
			c.wire = v
		default:
			return c, bad("unknown parameter; the sim takes " + strings.Join(paramKeys, ", ") +
				" and the faults " + strings.Join(faultNames[:], ", "))
		}
	}
	return c, nil
}

func validWireName(s string) bool {
	if s == "" || len(s) > maxWireName {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}
