package traffic

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/protocol/internal/frame"
)

// Defaults and limits of the binding parameters.
const (
	DefaultRate   = 100
	DefaultWindow = 32
	DefaultSize   = 64
	MaxRate       = 1_000_000
	MaxWindow     = 4096
)

// Params are a binding's parsed parameters.
type Params struct {
	Dest      ndis.MacAddress
	Rate      int // frames per second
	Window    int // NBLs outstanding at most
	Size      int // frame length
	EtherType uint16
}

// ValidateParams reports the first bad parameter of a binding, in sorted
// key order, or nil.
func ValidateParams(params map[string]string) error {
	_, err := ParseParams(params)
	return err
}

// ParseParams reads a binding's parameters (see the package doc).
func ParseParams(params map[string]string) (Params, error) {
	p := Params{Dest: ndis.BroadcastAddress, Rate: DefaultRate, Window: DefaultWindow, Size: DefaultSize,
		EtherType: frame.DefaultEtherType}
	for _, k := range slices.Sorted(maps.Keys(params)) {
		v := params[k]
		var err error
		switch k {
		case "dest":
			if strings.EqualFold(v, "broadcast") {
				p.Dest = ndis.BroadcastAddress
				break
			}
			hw, perr := net.ParseMAC(v)
			if perr != nil || len(hw) != 6 {
				err = fmt.Errorf("want a MAC address or broadcast")
				break
			}
			copy(p.Dest[:], hw)
		case "rate":
			p.Rate, err = intIn(v, 0, MaxRate)
		case "window":
			p.Window, err = intIn(v, 1, MaxWindow)
		case "size":
			p.Size, err = intIn(v, frame.MinSize, frame.MaxSize)
		case "ethertype":
			p.EtherType, err = frame.ParseEtherType(v)
		default:
			err = fmt.Errorf("unknown parameter")
		}
		if err != nil {
			return Params{}, fmt.Errorf("traffic: parameter %s=%q: %w", k, v, err)
		}
	}
	return p, nil
}

func intIn(v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("want an integer in %d…%d", lo, hi)
	}
	return n, nil
}
