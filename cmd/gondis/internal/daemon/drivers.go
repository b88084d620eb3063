package daemon

import (
	"slices"

	"github.com/gondis/gondis/cmd/gondis/internal/config"
	"github.com/gondis/gondis/miniport/loopback"
	"github.com/gondis/gondis/miniport/sim"
	"github.com/gondis/gondis/miniport/tap"
	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/protocol/arpecho"
	"github.com/gondis/gondis/protocol/echo"
	"github.com/gondis/gondis/protocol/traffic"
)

// The registration table: every driver the daemon hosts. Start registers
// these and a configuration may name these, nothing else; a new driver is
// one line here.
var (
	miniports = []ndis.MiniportDriver{loopback.Driver(), sim.Driver(), tap.Driver()}
	protocols = []ndis.ProtocolDriver{traffic.Driver(), echo.Driver(), arpecho.Driver()}
)

// Drivers is a registration table: the miniport and protocol drivers a
// daemon registers, which are all its configuration may name.
type Drivers struct {
	Miniports []ndis.MiniportDriver
	Protocols []ndis.ProtocolDriver
}

// Builtin returns the daemon's own table: the drivers of this repository.
func Builtin() Drivers {
	return Drivers{Miniports: slices.Clone(miniports), Protocols: slices.Clone(protocols)}
}

// Known returns what a configuration may name: the builtin drivers with
// their parameter checks.
func Known() config.Known { return Builtin().Known() }

// Known returns what a configuration may name with these drivers: their
// names, each with its ValidateParams, so that config.Parse checks every
// adapter's and binding's parameters before anything starts.
func (t Drivers) Known() config.Known {
	k := config.Known{
		Drivers:   make(map[string]config.Validator, len(t.Miniports)),
		Protocols: make(map[string]config.Validator, len(t.Protocols)),
	}
	for _, m := range t.Miniports {
		k.Drivers[m.Name] = m.ValidateParams
	}
	for _, p := range t.Protocols {
		k.Protocols[p.Name] = p.ValidateParams
	}
	return k
}

// register registers every driver of the table with rt.
func (t Drivers) register(rt *ndis.Runtime) error {
	for _, m := range t.Miniports {
		if err := rt.RegisterMiniportDriver(m); err != nil {
			return err
		}
	}
	for _, p := range t.Protocols {
		if err := rt.RegisterProtocolDriver(p); err != nil {
			return err
		}
	}
	return nil
}
