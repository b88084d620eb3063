//go:build !linux

package tap

import (
	"errors"
	"fmt"

	"github.com/gondis/gondis/ndis"
)

// initialize is MiniportInitializeEx outside Linux: the parameters are
// checked, then it fails with errors.ErrUnsupported.
func initialize(a *ndis.Adapter, p ndis.InitParameters) (ndis.Miniport, error) {
	if _, err := parseConfig(p.Name, p.Params); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("tap: %w on this system", errors.ErrUnsupported)
}

// StatsOf reports false: there are no TAP adapters on this system.
func StatsOf(*ndis.Adapter) (Stats, bool) { return Stats{}, false }

// Interface reports false: there are no TAP adapters on this system.
func Interface(*ndis.Adapter) (string, bool) { return "", false }

// OffloadOf reports false: there are no TAP adapters on this system.
func OffloadOf(*ndis.Adapter) (Offload, bool) { return Offload{}, false }
