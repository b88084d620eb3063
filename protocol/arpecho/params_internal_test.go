package arpecho

import (
	"testing"

	"github.com/gondis/gondis/protocol/internal/prototest"
)

// TestParams: the package doc lists the parameters as declared; none at all
// is fine (TestDriverParams tries values).
func TestParams(t *testing.T) { prototest.Params(t, Driver(), "arpecho.go", table.Doc()) }
