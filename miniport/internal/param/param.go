// Package param parses the adapter parameters that several miniports take
// (the registry keywords of NDIS), so that they take them alike. Each
// function's error says what was wanted, for the driver's own parameter
// error that names the key.
package param

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/gondis/gondis/ndis"
)

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
