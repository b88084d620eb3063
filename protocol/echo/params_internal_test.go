package echo

import (
	"testing"

	"github.com/gondis/gondis/protocol/internal/prototest"
)

// TestParams: the package doc lists the parameters as declared;
// ValidateParams and ParseParams take what they should and refuse the rest.
func TestParams(t *testing.T) {
	good, bad := prototest.Params(t, Driver(), "doc.go", table.Doc())
	good(map[string]string{"ethertype": "34997", "window": "4096"})
	bad("window", map[string]string{"window": "0"})
	bad("window", map[string]string{"window": "x"})
	bad("ethertype", map[string]string{"ethertype": "0x10000"})
	bad("dest", map[string]string{"dest": "broadcast"})
	if p, err := ParseParams(map[string]string{"window": "7"}); err != nil ||
		p != (Params{EtherType: 0x88b5, Window: 7}) {
		t.Errorf("ParseParams = %+v, %v", p, err)
	}
}
