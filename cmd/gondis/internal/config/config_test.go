package config_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gondis/gondis/cmd/gondis/internal/config"
	"github.com/gondis/gondis/ndis"
)

var known = config.Known{
	Drivers: map[string]bool{"loopback": true, "sim": true},
	Protocols: map[string]func(map[string]string) error{
		"echo":    nil,
		"traffic": nil,
	},
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestDefault(t *testing.T) {
	c, err := config.Default(known)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range c.Adapters {
		names = append(names, a.Name+"/"+a.Driver)
	}
	if got := strings.Join(names, " "); got != "loop0/loopback sim0/sim sim1/sim" {
		t.Errorf("adapters %s", got)
	}
	if c.Adapters[1].StringParams["fatal"] != "every:3s" || c.Adapters[1].StringParams["wire"] != "w0" {
		t.Errorf("sim0 params %v", c.Adapters[1].StringParams)
	}
	if c.Bindings[1].StringParams["rate"] != "1000" {
		t.Errorf("an integer parameter became %q", c.Bindings[1].StringParams["rate"])
	}
	if c.Runtime.VerifierMode != ndis.VerifierLog || c.Runtime.CheckForHangTime != 2*time.Second ||
		c.Runtime.Escalation.WindowTime != time.Minute || c.Metrics != "" {
		t.Errorf("runtime %+v, metrics %q", c.Runtime, c.Metrics)
	}
}

func TestErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"adapters:\n  - name: a\n    driver: loopback\n    colour: red\n", `f.yaml:4:5: unknown field "colour"`},
		{"verbose: true\n", `f.yaml:1:1: unknown field "verbose"`},
		{"adapters:\n  - name: a\n    driver: xdp\n", `f.yaml:3: adapter "a": unknown driver "xdp"`},
		{"adapters:\n  - name: a\n    driver: sim\n  - name: a\n    driver: sim\n", `f.yaml:4: duplicate adapter name "a"`},
		{"adapters:\n  - driver: sim\n", `f.yaml:2: adapter 1 has no name`},
		{"adapters:\n  - name: a\n    driver: sim\nbindings:\n  - protocol: pcap\n    adapter: a\n", `f.yaml:5: unknown protocol "pcap"`},
		{"adapters:\n  - name: a\n    driver: sim\nbindings:\n  - protocol: echo\n    adapter: b\n", `f.yaml:6: binding of "echo" to unknown adapter "b"`},
		{"adapters:\n  - name: a\n    driver: sim\nbindings:\n  - protocol: echo\n    adapter: a\n  - protocol: echo\n    adapter: a\n", `f.yaml:7: duplicate binding of "echo" to "a"`},
		{"adapters:\n  - name: a\n    driver: sim\n    params:\n      fatal: [1]\n", `f.yaml:5: parameter "fatal": want a scalar value`},
		{"runtime:\n  verifier: loud\nadapters:\n  - name: a\n    driver: sim\n", `f.yaml:2: verifier "loud"`},
		{"runtime:\n  escalation:\n    window: 1 minute\nadapters:\n  - name: a\n    driver: sim\n", `f.yaml:3: "1 minute" is not a duration`},
		{"", `f.yaml: no adapters`},
	} {
		_, err := config.Parse("f.yaml", []byte(tc.yaml), known)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

func TestProtocolParamsChecked(t *testing.T) {
	k := known
	k.Protocols = map[string]func(map[string]string) error{"echo": func(p map[string]string) error {
		if p["window"] != "" {
			return os.ErrInvalid
		}
		return nil
	}}
	_, err := config.Parse("f.yaml", []byte("adapters:\n  - name: a\n    driver: sim\nbindings:\n  - protocol: echo\n    adapter: a\n    params:\n      window: 3\n"), k)
	if err == nil || !strings.Contains(err.Error(), "f.yaml:8:") {
		t.Errorf("got %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(config.DefaultYAML())
	f.Add([]byte("adapters: [\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := config.Parse("fuzz.yaml", data, known)
		if err == nil && len(c.Adapters) == 0 {
			t.Fatal("a config without adapters passed")
		}
	})
}
