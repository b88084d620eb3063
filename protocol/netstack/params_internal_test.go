package netstack

import (
	"testing"

	"github.com/gondis/gondis/internal/param/paramtest"
)

// TestDocListsParams: the package doc lists the parameters as declared.
func TestDocListsParams(t *testing.T) { paramtest.DocLists(t, "doc.go", table.Doc()) }
