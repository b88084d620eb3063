package sim

import (
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/gondis/gondis/internal/param"
	"github.com/gondis/gondis/ndis"
)

// Defaults and limits of the adapter parameters (the MTU's floor is
// param.MinMTU, as for every gondis adapter).
const (
	DefaultMTU         = 1500
	DefaultLinkSpeed   = 10_000_000_000 // bits per second
	DefaultRing        = 256            // descriptors in each ring
	DefaultSendTimeout = 2 * time.Second
	MaxMTU             = 65535
	MaxRing            = 4096
	MaxLatency         = 10 * time.Second
	MaxSendTimeout     = time.Hour
	// MaxMulticastListSize is the size of the hardware multicast list.
	MaxMulticastListSize = 32
	maxWireName          = 64
)

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
	faults      []Fault // in key order
}

// params are the adapter parameters: the keys below, and one per fault
// kind. The package doc lists them with these Doc strings.
var params = param.Table[config]{
	Driver: "sim",
	Specs: []param.Spec[config]{
		param.MACSpec("02 and a hash of the adapter name", func(c *config) *ndis.MacAddress { return &c.mac }),
		param.MTUSpec(MaxMTU, DefaultMTU, func(c *config) *int { return &c.mtu }),
		param.LinkSpeedSpec(DefaultLinkSpeed, func(c *config) *uint64 { return &c.linkSpeed }),
		ringSpec("tx_ring", "transmit", func(c *config) *int { return &c.txRing }),
		ringSpec("rx_ring", "receive", func(c *config) *int { return &c.rxRing }),
		param.DurationSpec("latency", "time the hardware takes per frame, 0…10s (default 0)",
			0, MaxLatency, func(c *config) *time.Duration { return &c.latency }),
		{Key: "send_timeout", Doc: "how long a descriptor may wait before CheckForHang says hung, up to 1h (default 2s)",
			Set: setSendTimeout},
		param.BoolSpec("flow_control", "true: a full receive ring holds the transmitter back (802.3x PAUSE); false: it loses frames (default true)",
			func(c *config) *bool { return &c.flowControl }),
		{Key: "wire", Doc: "name of the wire to plug into (default none: the device is looped back to itself)", Set: setWire},
	},
	Other:    setFault,
	OtherDoc: "the faults " + strings.Join(faultNames[:], ", "),
}

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

// parseConfig reads the params map over the defaults.
func parseConfig(adapter string, p map[string]string) (config, error) {
	c := config{
		mac:         DefaultMAC(adapter),
		mtu:         DefaultMTU,
		linkSpeed:   DefaultLinkSpeed,
		txRing:      DefaultRing,
		rxRing:      DefaultRing,
		sendTimeout: DefaultSendTimeout,
		flowControl: true,
	}
	return c, params.Parse(&c, p)
}

// ringSpec declares a ring's size in descriptors.
func ringSpec(key, which string, field func(*config) *int) param.Spec[config] {
	return param.Spec[config]{
		Key: key,
		Doc: fmt.Sprintf("%s descriptors, 1…%d (default %d)", which, MaxRing, DefaultRing),
		Set: func(c *config, v string) error {
			n, err := param.Int(v, 1, MaxRing)
			if err != nil {
				return fmt.Errorf("want a number of descriptors from 1 to %d", MaxRing)
			}
			*field(c) = n
			return nil
		},
	}
}

func setSendTimeout(c *config, v string) error {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 || d > MaxSendTimeout {
		return fmt.Errorf("want a positive duration up to %s (as 2s)", MaxSendTimeout)
	}
	c.sendTimeout = d
	return nil
}

func setWire(c *config, v string) error {
	if !validWireName(v) {
		return fmt.Errorf("want a name of 1 to %d letters, digits, '.', '_' or '-'", maxWireName)
	}
	c.wire = v
	return nil
}

// setFault takes a fault parameter: its key is the kind (see ParseFault).
func setFault(c *config, key, v string) (known bool, err error) {
	kind, ok := ParseFaultKind(key)
	if !ok {
		return false, nil
	}
	f, err := ParseFault(kind, v)
	if err != nil {
		return true, err
	}
	c.faults = append(c.faults, f)
	return true, nil
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
