package param

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gondis/gondis/ndis"
)

// MinMTU is the smallest MTU a gondis adapter takes: IPv4's minimum.
const MinMTU = 68

// Int parses a decimal integer from lo to hi.
func Int(v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("want an integer from %d to %d", lo, hi)
	}
	return n, nil
}

// BitsPerSecond parses a link speed: a positive number of bits per second.
func BitsPerSecond(v string) (uint64, error) {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n == 0 || n == ndis.LinkSpeedUnknown {
		return 0, errors.New("want a positive number of bits per second")
	}
	return n, nil
}

// Bool parses true/false (and on/off, yes/no, 1/0).
func Bool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "on", "yes":
		return true, nil
	case "off", "no":
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, errors.New("want true or false (on or off)")
	}
	return b, nil
}

// Duration parses a Go duration from lo to hi.
func Duration(v string, lo, hi time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < lo || d > hi {
		return 0, fmt.Errorf("want a duration from %s to %s (as 50us, 2s)", lo, hi)
	}
	return d, nil
}

// The Spec builders below declare the common kinds of parameter; field
// returns where in C the value goes.

// IntSpec declares an integer from lo to hi.
func IntSpec[C any](key, doc string, lo, hi int, field func(*C) *int) Spec[C] {
	return Spec[C]{Key: key, Doc: doc, Set: func(c *C, v string) (err error) {
		*field(c), err = Int(v, lo, hi)
		return err
	}}
}

// MTUSpec declares "mtu": the largest payload without the Ethernet header,
// from MinMTU to max.
func MTUSpec[C any](max, def int, field func(*C) *int) Spec[C] {
	return IntSpec("mtu", fmt.Sprintf("largest payload without the Ethernet header, %d…%d (default %d)", MinMTU, max, def),
		MinMTU, max, field)
}

// MACSpec declares "mac": the station address, unicast and not zero.
func MACSpec[C any](def string, field func(*C) *ndis.MacAddress) Spec[C] {
	return Spec[C]{Key: "mac", Doc: "station address, unicast, as net.ParseMAC reads it (default " + def + ")",
		Set: func(c *C, v string) (err error) {
			*field(c), err = ndis.ParseStationAddress(v)
			return err
		}}
}

// LinkSpeedSpec declares "link_speed" in bits per second.
func LinkSpeedSpec[C any](def uint64, field func(*C) *uint64) Spec[C] {
	return Spec[C]{Key: "link_speed", Doc: fmt.Sprintf("bits per second, both directions (default %d)", def),
		Set: func(c *C, v string) (err error) {
			*field(c), err = BitsPerSecond(v)
			return err
		}}
}

// BoolSpec declares a switch.
func BoolSpec[C any](key, doc string, field func(*C) *bool) Spec[C] {
	return Spec[C]{Key: key, Doc: doc, Set: func(c *C, v string) (err error) {
		*field(c), err = Bool(v)
		return err
	}}
}

// DurationSpec declares a duration from lo to hi.
func DurationSpec[C any](key, doc string, lo, hi time.Duration, field func(*C) *time.Duration) Spec[C] {
	return Spec[C]{Key: key, Doc: doc, Set: func(c *C, v string) (err error) {
		*field(c), err = Duration(v, lo, hi)
		return err
	}}
}
