package frame

import (
	"testing"

	"github.com/gondis/gondis/ndis"
)

func TestBuildParse(t *testing.T) {
	dst := ndis.MacAddress{2, 0, 0, 0, 1, 1}
	f := Build(dst, ndis.MacAddress{2, 0, 0, 0, 1, 0}, DefaultEtherType, 64)
	d, et, op, ok := Parse(f)
	if !ok || d != dst || et != DefaultEtherType || op != OpRequest || len(f) != 64 {
		t.Errorf("Parse(Build) = %v %#x %d %v, len %d", d, et, op, ok, len(f))
	}
	if _, _, _, ok := Parse(f[:MinSize-1]); ok {
		t.Error("a short frame parsed")
	}
}

func TestParseEtherType(t *testing.T) {
	for v, ok := range map[string]bool{"0x88b5": true, "34997": true, "0x0600": true, "0x05ff": false, "0x10000": false, "x": false, "": false} {
		if _, err := ParseEtherType(v); (err == nil) != ok {
			t.Errorf("ParseEtherType(%q) = %v", v, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(Build(ndis.BroadcastAddress, ndis.MacAddress{2}, DefaultEtherType, 60))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, _, ok := Parse(b)
		if ok != (len(b) >= MinSize) {
			t.Fatalf("ok %v for %d bytes", ok, len(b))
		}
	})
}
