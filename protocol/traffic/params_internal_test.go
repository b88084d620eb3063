package traffic

import (
	"testing"

	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/protocol/internal/prototest"
)

// TestParams: the package doc lists the parameters as declared;
// ValidateParams and ParseParams take what they should and refuse the rest.
func TestParams(t *testing.T) {
	good, bad := prototest.Params(t, Driver(), "doc.go", table.Doc())
	good(map[string]string{"dest": "broadcast", "rate": "0", "window": "1", "size": "15", "ethertype": "0x88b5"})
	good(map[string]string{"dest": "02:00:00:00:00:01"})
	bad("dest", map[string]string{"dest": "nope"})
	bad("rate", map[string]string{"rate": "-1"})
	bad("window", map[string]string{"window": "0"})
	bad("size", map[string]string{"size": "14"})
	bad("ethertype", map[string]string{"ethertype": "0x0100"})
	bad("colour", map[string]string{"colour": "red"})
	bad("rate", map[string]string{"window": "0", "rate": "x"}) // the first in sorted order
	p, err := ParseParams(map[string]string{"dest": "02:00:00:00:00:01", "ethertype": "2048"})
	want := Params{Dest: ndis.MacAddress{2, 0, 0, 0, 0, 1}, Rate: DefaultRate,
		Window: DefaultWindow, Size: DefaultSize, EtherType: 0x0800}
	if err != nil || p != want {
		t.Errorf("ParseParams = %+v, %v; want %+v", p, err, want)
	}
}
