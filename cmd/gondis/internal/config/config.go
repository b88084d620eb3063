// Package config reads the gondis daemon's configuration file: YAML with
// the adapters to host, the protocol bindings to open on them, runtime
// options and the metrics address. Parse checks everything — unknown keys,
// unknown drivers and protocols, duplicate names, bad values, adapter and
// binding parameters — before anything starts, and every error names the
// line: a bad parameter, the line of its own key.
package config

import (
	_ "embed"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/gondis/gondis/ndis"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultName is the name errors give the embedded default configuration.
const DefaultName = "(default config)"

// DefaultYAML returns the embedded default configuration's text.
func DefaultYAML() []byte { return append([]byte(nil), defaultYAML...) }

// Config is a parsed, checked configuration.
type Config struct {
	Runtime  Runtime   `yaml:"runtime"`
	Metrics  string    `yaml:"metrics"` // address of the Prometheus listener; empty: none
	Adapters []Adapter `yaml:"adapters"`
	Bindings []Binding `yaml:"bindings"`

	name string    // the file's name, for errors
	file *ast.File // the parsed file, for lines
}

// Where returns "FILE:LINE" for a YAML path into the configuration, such as
// "$.adapters[1].params", or just "FILE" when the path is not in it. It lets
// errors found after Parse — a driver refusing its parameters — name the
// line too.
func (c *Config) Where(path string) string {
	if c.file != nil {
		if line := lineOf(c.file, path); line > 0 {
			return fmt.Sprintf("%s:%d", c.name, line)
		}
	}
	return c.name
}

func lineOf(f *ast.File, path string) int {
	p, err := yaml.PathString(path)
	if err != nil {
		return 0
	}
	n, err := p.FilterFile(f)
	if err != nil || n == nil || n.GetToken() == nil {
		return 0
	}
	return n.GetToken().Position.Line
}

// Runtime are the ndis.Runtime options. Durations are Go durations ("2s").
type Runtime struct {
	Verifier       string          `yaml:"verifier"`       // off, log (default) or strict
	CheckForHang   string          `yaml:"check_for_hang"` // overrides the drivers' period
	ResetTimeout   string          `yaml:"reset_timeout"`
	Escalation     *Escalation     `yaml:"escalation"`
	OperatorResets *OperatorResets `yaml:"operator_resets"` // default: 10 per minute

	// Parsed from the strings above by Parse.
	VerifierMode     ndis.VerifierMode `yaml:"-"`
	CheckForHangTime time.Duration     `yaml:"-"`
	ResetTimeoutTime time.Duration     `yaml:"-"`
	// OperatorResetLimit is operator_resets, or the default without it.
	OperatorResetLimit ndis.OperatorResetLimit `yaml:"-"`
}

// defaultOperatorResets is the operator reset limit of a configuration
// that sets none. Operator resets do not count toward escalation, so the
// daemon, which lets people and scripts ask for them, bounds them itself.
var defaultOperatorResets = ndis.OperatorResetLimit{Max: 10, Window: time.Minute}

// OperatorResets is ndis.OperatorResetLimit in the file: at most Max
// operator resets per adapter within Window; requests beyond are dropped.
// Max 0 lifts the limit; otherwise Window is needed.
type OperatorResets struct {
	Max    int    `yaml:"max"`
	Window string `yaml:"window"`
}

// Escalation is ndis.Escalation in the file.
type Escalation struct {
	MaxConsecutiveFailures int    `yaml:"max_consecutive_failures"`
	MaxResets              int    `yaml:"max_resets"`
	Window                 string `yaml:"window"`

	WindowTime time.Duration `yaml:"-"`
}

// Adapter is one adapter to add: ndis.Runtime.AddAdapter's arguments.
type Adapter struct {
	Name   string         `yaml:"name"`
	Driver string         `yaml:"driver"`
	Params map[string]any `yaml:"params"` // scalars only; see Params

	// StringParams are Params as the driver gets them.
	StringParams map[string]string `yaml:"-"`
}

// Binding is one binding to open, with the protocol's parameters.
type Binding struct {
	Protocol string         `yaml:"protocol"`
	Adapter  string         `yaml:"adapter"`
	Params   map[string]any `yaml:"params"`

	StringParams map[string]string `yaml:"-"`
}

// Known says what Parse accepts: the miniport drivers and the protocols by
// name, each with the function that checks its parameters.
type Known struct {
	Drivers   map[string]Validator
	Protocols map[string]Validator
}

// Validator checks an adapter's or a binding's parameters without creating
// anything (ndis.MiniportDriver.ValidateParams, ndis.ProtocolDriver's): nil,
// or an error; an *ndis.ParamError names the bad key, and Parse reports the
// line of that key. A nil Validator accepts any parameters.
type Validator func(params map[string]string) error

// Error is a configuration error at a line of a file.
type Error struct {
	File string
	Line int // 0: unknown
	Col  int
	Msg  string
}

func (e *Error) Error() string {
	switch {
	case e.Line == 0:
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	case e.Col == 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// Default parses the embedded default configuration.
func Default(k Known) (*Config, error) { return Parse(DefaultName, defaultYAML, k) }

// Parse reads and checks a configuration; name is the file's name for
// errors. It returns an *Error.
func Parse(name string, data []byte, k Known) (*Config, error) {
	var c Config
	if err := yaml.UnmarshalWithOptions(data, &c, yaml.Strict()); err != nil {
		e := &Error{File: name, Msg: err.Error()}
		var ye yaml.Error
		if errors.As(err, &ye) {
			e.Msg = ye.GetMessage()
			if tk := ye.GetToken(); tk != nil {
				e.Line, e.Col = tk.Position.Line, tk.Position.Column
			}
		}
		return nil, e
	}
	f, err := parser.ParseBytes(data, 0)
	if err != nil { // cannot happen: Unmarshal parsed it
		return nil, &Error{File: name, Msg: err.Error()}
	}
	v := &checker{name: name, file: f}
	v.check(&c, k)
	if v.err != nil {
		return nil, v.err
	}
	c.name, c.file = name, f
	return &c, nil
}

type checker struct {
	name string
	file *ast.File
	err  *Error
}

// fail records the first error, at the line of the YAML path.
func (v *checker) fail(path, format string, args ...any) {
	if v.err != nil {
		return
	}
	v.err = &Error{File: v.name, Line: lineOf(v.file, path), Msg: fmt.Sprintf(format, args...)}
}

func (v *checker) duration(path, s string) time.Duration {
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		v.fail(path, "%q is not a duration (like 2s)", s)
	}
	return d
}

func (v *checker) check(c *Config, k Known) {
	r := &c.Runtime
	switch r.Verifier {
	case "", "log":
		r.VerifierMode = ndis.VerifierLog
	case "off":
		r.VerifierMode = ndis.VerifierOff
	case "strict":
		r.VerifierMode = ndis.VerifierStrict
	default:
		v.fail("$.runtime.verifier", "verifier %q: want off, log or strict", r.Verifier)
	}
	r.CheckForHangTime = v.duration("$.runtime.check_for_hang", r.CheckForHang)
	r.ResetTimeoutTime = v.duration("$.runtime.reset_timeout", r.ResetTimeout)
	if e := r.Escalation; e != nil {
		e.WindowTime = v.duration("$.runtime.escalation.window", e.Window)
		if e.MaxConsecutiveFailures < 0 {
			v.fail("$.runtime.escalation.max_consecutive_failures", "must not be negative")
		}
		if e.MaxResets < 0 {
			v.fail("$.runtime.escalation.max_resets", "must not be negative")
		}
	}
	r.OperatorResetLimit = v.operatorResets(r.OperatorResets)
	if len(c.Adapters) == 0 {
		v.fail("$", "no adapters")
	}
	names := make(map[string]bool)
	for i := range c.Adapters {
		a := &c.Adapters[i]
		at := fmt.Sprintf("$.adapters[%d]", i)
		switch {
		case a.Name == "":
			v.fail(at, "adapter %d has no name", i+1)
		case names[a.Name]:
			v.fail(at+".name", "duplicate adapter name %q", a.Name)
		case a.Driver == "":
			v.fail(at, "adapter %q has no driver", a.Name)
		}
		names[a.Name] = true
		a.StringParams = v.params(at+".params", a.Params)
		if a.Name != "" && a.Driver != "" {
			check, ok := k.Drivers[a.Driver]
			if !ok {
				v.fail(at+".driver", "adapter %q: unknown driver %q (known: %s)", a.Name, a.Driver, known(k.Drivers))
			}
			v.validate(at, fmt.Sprintf("adapter %q", a.Name), check, a.StringParams)
		}
	}
	bound := make(map[[2]string]bool)
	for i := range c.Bindings {
		b := &c.Bindings[i]
		at := fmt.Sprintf("$.bindings[%d]", i)
		b.StringParams = v.params(at+".params", b.Params)
		check, ok := k.Protocols[b.Protocol]
		switch {
		case b.Protocol == "" || b.Adapter == "":
			v.fail(at, "binding %d needs a protocol and an adapter", i+1)
		case !ok:
			v.fail(at+".protocol", "unknown protocol %q (known: %s)", b.Protocol, known(k.Protocols))
		case !names[b.Adapter]:
			v.fail(at+".adapter", "binding of %q to unknown adapter %q (known: %s)", b.Protocol, b.Adapter, known(names))
		case bound[[2]string{b.Protocol, b.Adapter}]:
			v.fail(at, "duplicate binding of %q to %q", b.Protocol, b.Adapter)
		default:
			v.validate(at, fmt.Sprintf("binding of %q to %q", b.Protocol, b.Adapter), check, b.StringParams)
		}
		bound[[2]string{b.Protocol, b.Adapter}] = true
	}
}

// operatorResets checks operator_resets and returns the limit it sets.
func (v *checker) operatorResets(o *OperatorResets) ndis.OperatorResetLimit {
	if o == nil {
		return defaultOperatorResets
	}
	l := ndis.OperatorResetLimit{Max: o.Max, Window: v.duration("$.runtime.operator_resets.window", o.Window)}
	switch {
	case o.Max < 0:
		v.fail("$.runtime.operator_resets.max", "must not be negative (0: no limit)")
	case o.Max > 0 && l.Window == 0:
		v.fail("$.runtime.operator_resets", "max %d needs a window (like 1m)", o.Max)
	}
	return l
}

// validate runs a driver's or protocol's Validator on the parameters of the
// entry at the YAML path at, what being the entry (`adapter "sim0"`).
func (v *checker) validate(at, what string, check Validator, params map[string]string) {
	if check == nil || v.err != nil {
		return
	}
	if err := check(params); err != nil {
		v.fail(paramPath(v.file, at, err), "%s: %v", what, err)
	}
}

// ParamWhere returns "FILE:LINE" of what err blames in the adapter or
// binding entry at ("$.adapters[1]"): the line of the parameter's own key
// for an *ndis.ParamError, else of the entry's params, else of the entry.
// The daemon uses it for what a driver refuses only when it starts.
func (c *Config) ParamWhere(at string, err error) string {
	if c.file == nil {
		return c.name
	}
	return c.Where(paramPath(c.file, at, err))
}

func paramPath(f *ast.File, at string, err error) string {
	var pe *ndis.ParamError
	if errors.As(err, &pe) && lineOf(f, at+".params."+pe.Key) > 0 {
		return at + ".params." + pe.Key
	}
	if lineOf(f, at+".params") > 0 {
		return at + ".params"
	}
	return at
}

// known lists the names of a set, sorted: "loopback, sim, tap".
func known[V any](m map[string]V) string {
	if len(m) == 0 {
		return "none"
	}
	return strings.Join(slices.Sorted(maps.Keys(m)), ", ")
}

// params turns scalar parameter values into the strings drivers read.
func (v *checker) params(path string, m map[string]any) map[string]string {
	out := make(map[string]string, len(m))
	for key, val := range m {
		switch x := val.(type) {
		case string:
			out[key] = x
		case bool:
			out[key] = strconv.FormatBool(x)
		case int, int64, uint64, uint, int32, float64:
			out[key] = fmt.Sprint(x)
		case nil:
			out[key] = ""
		default:
			v.fail(path+"."+key, "parameter %q: want a scalar value", key)
		}
	}
	return out
}
