package netstack

import (
	"testing"

	"github.com/gondis/gondis/protocol/internal/prototest"
)

// TestDocListsParams: the package doc lists the parameters as declared.
func TestDocListsParams(t *testing.T) { prototest.DocLists(t, "doc.go", table.Doc()) }
