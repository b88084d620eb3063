package tap

import (
	"errors"
	"strings"
	"testing"

	"github.com/gondis/gondis/ndis"
)

func TestParseConfig(t *testing.T) {
	c, err := parseConfig("a0", map[string]string{"name": "gt0", "mtu": "1400", "mac": "02:00:00:00:00:05",
		"netns": "lab", "persist": "true", "queues": "4", "vnet_hdr": "on"})
	if err != nil {
		t.Fatal(err)
	}
	want := config{name: "gt0", mtu: 1400, mac: ndis.MacAddress{2, 0, 0, 0, 0, 5}, netns: "/var/run/netns/lab", persist: true,
		queues: 4, vnetHdr: true}
	if c != want {
		t.Errorf("config = %+v, want %+v", c, want)
	}
	if c, err := parseConfig("a0", map[string]string{"vnet_hdr": "off", "queues": "auto"}); err != nil || c.vnetHdr || c.queues != 0 {
		t.Errorf("vnet_hdr=off queues=auto: %+v, %v", c, err)
	}
	if c, _ := parseConfig("a0", map[string]string{"netns": "/proc/1/ns/net"}); c.netns != "/proc/1/ns/net" {
		t.Errorf("netns path = %q", c.netns)
	}
	if c, _ := parseConfig("a0", nil); c.mtu != DefaultMTU || c.mac != DefaultMAC("a0") || c.mac.IsMulticast() {
		t.Errorf("defaults = %+v", c)
	}
	validate := Driver().ValidateParams
	for _, bad := range []map[string]string{
		{"name": "a-name-that-is-too-long"},
		{"name": "a/b"},
		{"mtu": "67"},
		{"mtu": "65522"},
		{"mtu": "x"},
		{"mac": "01:00:5e:00:00:01"},
		{"mac": "00:00:00:00:00:00"},
		{"mac": "nope"},
		{"netns": ".."},
		{"persist": "maybe"},
		{"vnet_hdr": "x"},
		{"queues": "0"},
		{"queues": "17"},
		{"queues": "many"},
		{"bogus": "1"},
	} {
		_, err := parseConfig("a0", bad)
		var pe *ndis.ParamError
		if !errors.As(err, &pe) || !errors.Is(err, ndis.StatusInvalidParameter) || pe.Driver != "tap" || bad[pe.Key] != pe.Value {
			t.Errorf("%v: err = %v, want a *ndis.ParamError of the tap for the key", bad, err)
		}
		if verr := validate(bad); verr == nil || err == nil || verr.Error() != err.Error() {
			t.Errorf("%v: ValidateParams = %v, Initialize's parse = %v", bad, verr, err)
		}
	}
}

// TestValidateParams: ValidateParams takes what Initialize takes and
// touches nothing (a namespace that does not exist is no error here), and
// the unknown-key error names every key.
func TestValidateParams(t *testing.T) {
	validate := Driver().ValidateParams
	if err := validate(map[string]string{"name": "gt0", "netns": "no-such-namespace", "queues": "auto", "vnet_hdr": "off"}); err != nil {
		t.Errorf("ValidateParams: %v", err)
	}
	err := validate(map[string]string{"bogus": "1"})
	for _, k := range []string{"name", "mtu", "mac", "netns", "persist", "queues", "vnet_hdr"} {
		if err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("unknown key: %v does not name %s", err, k)
		}
	}
}
