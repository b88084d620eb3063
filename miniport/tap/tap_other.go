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
