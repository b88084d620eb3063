package traffic

import (
	"errors"
	"net"
	"strings"

	"github.com/gondis/gondis/internal/param"
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

// table declares the parameters; the package doc lists them.
var table = param.Table[Params]{
	Driver: Name,
	Specs: []param.Spec[Params]{
		{Key: "dest", Doc: `destination MAC address, or "broadcast" (default broadcast)`, Set: setDest},
		param.IntSpec("rate", "frames per second, 0…1000000; 0 sends nothing (default 100)",
			0, MaxRate, func(p *Params) *int { return &p.Rate }),
		param.IntSpec("window", "NBLs outstanding at most, 1…4096 (default 32)",
			1, MaxWindow, func(p *Params) *int { return &p.Window }),
		param.IntSpec("size", "frame length in bytes without FCS, 15…1514 (default 64)",
			frame.MinSize, frame.MaxSize, func(p *Params) *int { return &p.Size }),
		frame.EtherTypeSpec("EtherType of the frames, decimal or 0x hex (default 0x88b5)",
			func(p *Params) *uint16 { return &p.EtherType }),
	},
}

func setDest(p *Params, v string) error {
	if strings.EqualFold(v, "broadcast") {
		p.Dest = ndis.BroadcastAddress
		return nil
	}
	hw, err := net.ParseMAC(v)
	if err != nil || len(hw) != 6 {
		return errors.New("want a MAC address or broadcast")
	}
	p.Dest = ndis.MacAddress(hw)
	return nil
}

// ParseParams reads a binding's parameters (see the package doc) over the
// defaults. A bad one is a *ndis.ParamError: the first unknown key or
// refused value, in sorted key order.
func ParseParams(params map[string]string) (Params, error) {
	p := Params{Dest: ndis.BroadcastAddress, Rate: DefaultRate, Window: DefaultWindow, Size: DefaultSize,
		EtherType: frame.DefaultEtherType}
	if err := table.Parse(&p, params); err != nil {
		return Params{}, err
	}
	return p, nil
}
