package param

import (
	"errors"
	"strings"
	"testing"

	"github.com/gondis/gondis/ndis"
)

type testConfig struct {
	mtu   int
	mac   ndis.MacAddress
	on    bool
	other []string
}

var testTable = Table[testConfig]{
	Driver: "test",
	Specs: []Spec[testConfig]{
		MTUSpec(9000, 1500, func(c *testConfig) *int { return &c.mtu }),
		MACSpec("02:00:00:00:00:01", func(c *testConfig) *ndis.MacAddress { return &c.mac }),
		BoolSpec("on", "a switch", func(c *testConfig) *bool { return &c.on }),
	},
	Other: func(c *testConfig, k, v string) (bool, error) {
		if !strings.HasPrefix(k, "x_") {
			return false, nil
		}
		if v == "" {
			return true, errors.New("want a value")
		}
		c.other = append(c.other, k)
		return true, nil
	},
	OtherDoc: "any x_ key",
}

func TestTable(t *testing.T) {
	c := testConfig{mtu: 1500}
	if err := testTable.Parse(&c, map[string]string{"mtu": "9000", "mac": "02:aa:00:00:00:02", "on": "on", "x_a": "1"}); err != nil {
		t.Fatal(err)
	}
	if c.mtu != 9000 || c.mac != (ndis.MacAddress{2, 0xaa, 0, 0, 0, 2}) || !c.on || len(c.other) != 1 {
		t.Fatalf("parsed %+v", c)
	}
	// The first bad key in sorted order is the one reported.
	err := testTable.Validate(map[string]string{"zzz": "1", "mtu": "1", "x_b": ""})
	var pe *ndis.ParamError
	if !errors.As(err, &pe) || pe.Key != "mtu" || pe.Driver != "test" || !errors.Is(err, ndis.StatusInvalidParameter) {
		t.Fatalf("Validate: %v", err)
	}
	if want := `test: parameter mtu="1": want an integer from 68 to 9000`; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	err = testTable.Validate(map[string]string{"speed": "1"})
	if want := `test: parameter speed="1": unknown parameter; test takes mtu, mac and on and any x_ key`; err == nil || err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if err := testTable.Validate(map[string]string{"x_b": ""}); err == nil || !strings.Contains(err.Error(), "want a value") {
		t.Errorf("Other's error: %v", err)
	}
	if doc := testTable.Doc(); !strings.HasPrefix(doc, "mtu  largest payload") || strings.Count(doc, "\n") != 3 {
		t.Errorf("Doc:\n%s", doc)
	}
}
