package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gondis/gondis/cmd/gondis/internal/config"
	"github.com/gondis/gondis/ndis"
)

var known = config.Known{
	Drivers:   map[string]config.Validator{"loopback": nil, "sim": nil},
	Protocols: map[string]config.Validator{"echo": nil, "traffic": nil},
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
		c.Runtime.Escalation.WindowTime != time.Minute || c.Metrics != "" ||
		c.Runtime.OperatorResetLimit != (ndis.OperatorResetLimit{Max: 10, Window: time.Minute}) {
		t.Errorf("runtime %+v, metrics %q", c.Runtime, c.Metrics)
	}
}

func TestErrorsNameTheLine(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"adapters:\n  - name: a\n    driver: loopback\n    colour: red\n", `f.yaml:4:5: unknown field "colour"`},
		{"verbose: true\n", `f.yaml:1:1: unknown field "verbose"`},
		{"adapters:\n  - name: a\n    driver: xdp\n", `f.yaml:3: adapter "a": unknown driver "xdp" (known: loopback, sim)`},
		{"adapters:\n  - name: a\n    driver: sim\n  - name: a\n    driver: sim\n", `f.yaml:4: duplicate adapter name "a"`},
		{"adapters:\n  - driver: sim\n", `f.yaml:2: adapter 1 has no name`},
		{"adapters:\n  - name: a\n    driver: sim\nbindings:\n  - protocol: pcap\n    adapter: a\n", `f.yaml:5: unknown protocol "pcap" (known: echo, traffic)`},
		{"adapters:\n  - name: a\n    driver: sim\nbindings:\n  - protocol: echo\n    adapter: b\n", `f.yaml:6: binding of "echo" to unknown adapter "b" (known: a)`},
		{"adapters:\n  - name: a\n    driver: sim\nbindings:\n  - protocol: echo\n    adapter: a\n  - protocol: echo\n    adapter: a\n", `f.yaml:7: duplicate binding of "echo" to "a"`},
		{"adapters:\n  - name: a\n    driver: sim\n    params:\n      fatal: [1]\n", `f.yaml:5: parameter "fatal": want a scalar value`},
		{"runtime:\n  verifier: loud\nadapters:\n  - name: a\n    driver: sim\n", `f.yaml:2: verifier "loud"`},
		{"runtime:\n  escalation:\n    window: 1 minute\nadapters:\n  - name: a\n    driver: sim\n", `f.yaml:3: "1 minute" is not a duration`},
		{"runtime:\n  operator_resets:\n    max: -1\nadapters:\n  - name: a\n    driver: sim\n", `f.yaml:3: must not be negative (0: no limit)`},
		{"runtime:\n  operator_resets:\n    max: 5\nadapters:\n  - name: a\n    driver: sim\n", `f.yaml:3: max 5 needs a window (like 1m)`},
		{"runtime:\n  operator_resets:\n    max: 5\n    window: often\nadapters:\n  - name: a\n    driver: sim\n", `f.yaml:4: "often" is not a duration`},
		{"runtime:\n  operator_resets:\n    max: 5\n    window: -1s\nadapters:\n  - name: a\n    driver: sim\n", `f.yaml:4: "-1s" is not a duration`},
		{"runtime:\n  operator_resets:\n    limit: 5\nadapters:\n  - name: a\n    driver: sim\n", `unknown field "limit"`},
		{"", `f.yaml: no adapters`},
	} {
		_, err := config.Parse("f.yaml", []byte(tc.yaml), known)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

// TestOperatorResets: the operator reset limit is 10 a minute unless the
// file says otherwise; max 0 lifts it.
func TestOperatorResets(t *testing.T) {
	for _, tc := range []struct {
		runtime string
		want    ndis.OperatorResetLimit
	}{
		{"", ndis.OperatorResetLimit{Max: 10, Window: time.Minute}},
		{"runtime:\n  verifier: log\n", ndis.OperatorResetLimit{Max: 10, Window: time.Minute}},
		{"runtime:\n  operator_resets:\n    max: 3\n    window: 30s\n", ndis.OperatorResetLimit{Max: 3, Window: 30 * time.Second}},
		{"runtime:\n  operator_resets:\n    max: 0\n", ndis.OperatorResetLimit{}},
	} {
		c, err := config.Parse("f.yaml", []byte(tc.runtime+"adapters:\n  - name: a\n    driver: sim\n"), known)
		if err != nil {
			t.Errorf("%q: %v", tc.runtime, err)
			continue
		}
		if got := c.Runtime.OperatorResetLimit; got != tc.want {
			t.Errorf("%q: limit %+v, want %+v", tc.runtime, got, tc.want)
		}
	}
}

// refuse is a Validator that refuses the parameter key, as a driver's
// ValidateParams does, and any parameter "broken" with an error that names
// no key.
func refuse(driver, key string) config.Validator {
	return func(p map[string]string) error {
		if _, ok := p["broken"]; ok {
			return errors.New("broken beyond words")
		}
		if v, ok := p[key]; ok {
			return &ndis.ParamError{Driver: driver, Key: key, Value: v, Reason: "want something else"}
		}
		return nil
	}
}

// TestParamsChecked: adapter and binding parameters go through their
// driver's Validator, and a refused one is reported once, at the line of
// its own key.
func TestParamsChecked(t *testing.T) {
	k := config.Known{
		Drivers:   map[string]config.Validator{"sim": refuse("sim", "mtu"), "loopback": nil},
		Protocols: map[string]config.Validator{"echo": refuse("echo", "window")},
	}
	for _, tc := range []struct{ yaml, want string }{
		{"adapters:\n  - name: a\n    driver: sim\nbindings:\n  - protocol: echo\n    adapter: a\n    params:\n      window: 3\n", "f.yaml:8:"},
		{"adapters:\n  - name: a\n    driver: sim\n    params:\n      wire: w0\n      mtu: 1\n",
			`f.yaml:6: adapter "a": sim: parameter mtu="1": want something else`},
		{"adapters:\n  - name: a\n    driver: sim\n    params:\n      wire: w0\n      broken: yes\n",
			`f.yaml:5: adapter "a": broken beyond words`},
		{"adapters:\n  - name: a\n    driver: sim\nbindings:\n  - protocol: echo\n    adapter: a\n    params:\n      size: 64\n      window: 3\n",
			`f.yaml:9: binding of "echo" to "a": echo: parameter window="3": want something else`},
		{"adapters:\n  - name: a\n    driver: loopback\n    params:\n      mtu: 1\n  - name: b\n    driver: sim\n    params:\n      mtu: 2\n",
			`f.yaml:9: adapter "b": sim: parameter mtu="2"`},
	} {
		_, err := config.Parse("f.yaml", []byte(tc.yaml), k)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want %q", tc.yaml, err, tc.want)
		}
		if err != nil && strings.Count(err.Error(), "parameter") > 1 {
			t.Errorf("%v: the parameter is named twice", err)
		}
	}
	if _, err := config.Parse("f.yaml", []byte("adapters:\n  - name: a\n    driver: sim\n    params:\n      wire: w0\n"), k); err != nil {
		t.Errorf("good parameters refused: %v", err)
	}
}

// TestParamWhere: the line of what a driver refuses only when it starts.
func TestParamWhere(t *testing.T) {
	c, err := config.Parse("f.yaml", []byte("adapters:\n  - name: a\n    driver: sim\n    params:\n      wire: w0\n      mtu: 1\n  - name: b\n    driver: sim\n"), known)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		at   string
		err  error
		want string
	}{
		{"$.adapters[0]", &ndis.ParamError{Driver: "sim", Key: "mtu", Value: "1"}, "f.yaml:6"},
		{"$.adapters[0]", &ndis.ParamError{Driver: "sim", Key: "speed", Value: "1"}, "f.yaml:5"},
		{"$.adapters[0]", errors.New("no"), "f.yaml:5"},
		{"$.adapters[1]", ndis.StatusFailure, "f.yaml:7"},
		{"$.adapters[5]", ndis.StatusFailure, "f.yaml"},
	} {
		if got := c.ParamWhere(tc.at, tc.err); got != tc.want {
			t.Errorf("ParamWhere(%s, %v) = %s, want %s", tc.at, tc.err, got, tc.want)
		}
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
