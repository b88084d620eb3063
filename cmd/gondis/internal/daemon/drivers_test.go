package daemon_test

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gondis/gondis/cmd/gondis/internal/config"
	"github.com/gondis/gondis/cmd/gondis/internal/daemon"
	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

// TestKnownIsTheTable: what a configuration may name is exactly what the
// daemon registers, arpecho included.
func TestKnownIsTheTable(t *testing.T) {
	b := daemon.Builtin()
	k := daemon.Known()
	var ms, ps []string
	for _, m := range b.Miniports {
		ms = append(ms, m.Name)
	}
	for _, p := range b.Protocols {
		ps = append(ps, p.Name)
	}
	slices.Sort(ms)
	slices.Sort(ps)
	if got := slices.Sorted(maps.Keys(k.Drivers)); !slices.Equal(got, ms) || !slices.Equal(ms, []string{"loopback", "sim", "tap"}) {
		t.Errorf("known drivers %v, registered %v", got, ms)
	}
	if got := slices.Sorted(maps.Keys(k.Protocols)); !slices.Equal(got, ps) || !slices.Equal(ps, []string{"arpecho", "echo", "traffic"}) {
		t.Errorf("known protocols %v, registered %v", got, ps)
	}
	b.Miniports[0].Name = "changed"
	if daemon.Builtin().Miniports[0].Name == "changed" {
		t.Error("Builtin hands out the table itself")
	}
}

// strictDriver is a fake miniport driver named "strict" whose ValidateParams
// refuses the parameter "mtu"; without validate it has none, and its
// Initialize refuses mtu instead, as a driver that checks only when it
// starts.
func strictDriver(validate bool) (ndis.MiniportDriver, *ndistest.Fake) {
	f := ndistest.NewFake()
	d := f.Driver("strict", ndis.Version630)
	refuse := func(p map[string]string) error {
		if v, ok := p["mtu"]; ok {
			return &ndis.ParamError{Driver: "strict", Key: "mtu", Value: v, Reason: "want 1500"}
		}
		return nil
	}
	if validate {
		d.ValidateParams = refuse
		return d, f
	}
	init := d.Initialize
	d.Initialize = func(a *ndis.Adapter, p ndis.InitParameters) (ndis.Miniport, error) {
		if err := refuse(p.Params); err != nil {
			return nil, err
		}
		return init(a, p)
	}
	return d, f
}

// withMiniport returns the builtin table plus d.
func withMiniport(d ndis.MiniportDriver) daemon.Drivers {
	t := daemon.Builtin()
	t.Miniports = append(t.Miniports, d)
	return t
}

// TestParamsCheckedBeforeStart: a parameter the driver's ValidateParams
// refuses stops the configuration at the line of its key, before any
// adapter exists.
func TestParamsCheckedBeforeStart(t *testing.T) {
	d, f := strictDriver(true)
	table := withMiniport(d)
	_, err := config.Parse("t.yaml", []byte("adapters:\n  - name: a\n    driver: loopback\n  - name: b\n    driver: strict\n"+
		"    params:\n      speed: 1\n      mtu: 9000\n"), table.Known())
	if want := `t.yaml:8: adapter "b": strict: parameter mtu="9000": want 1500`; err == nil || err.Error() != want {
		t.Errorf("Parse = %v, want %s", err, want)
	}
	if calls := f.Calls(); len(calls) != 0 {
		t.Errorf("the driver was called: %v", calls)
	}
}

// TestStartFailureTakesDown: an adapter that fails to initialize stops the
// start, and what was started is taken down. The error names the line of
// the refused key and says the adapter and the parameter once.
func TestStartFailureTakesDown(t *testing.T) {
	sd, _ := strictDriver(false)
	table := withMiniport(sd)
	cfg, err := config.Parse("t.yaml", []byte("adapters:\n  - name: a\n    driver: loopback\n  - name: b\n    driver: strict\n    params:\n      speed: 1\n      mtu: 1\n"),
		table.Known())
	if err != nil {
		t.Fatal(err)
	}
	d := daemon.New(cfg, slog.New(slog.DiscardHandler), daemon.WithDrivers(table))
	err = d.Start(context.Background())
	if err == nil || !errors.Is(err, ndis.StatusInvalidParameter) {
		t.Fatalf("Start = %v", err)
	}
	if want := `t.yaml:8: adapter "b": strict: parameter mtu="1": want 1500`; err.Error() != want {
		t.Errorf("Start = %q, want %q", err, want)
	}
	if as := d.Adapters(); len(as) != 0 {
		t.Errorf("adapters left: %v", as)
	}
	if h := d.Hosted(); len(h) != 1 || h[0] != [2]string{"a", "Halted"} {
		t.Errorf("hosted %v, want a halted", h)
	}
}

// TestStartErrorOnce: an error that is not a parameter's is the runtime's
// own, which names the adapter; Start does not name it again.
func TestStartErrorOnce(t *testing.T) {
	f := ndistest.NewFake()
	f.InitError = ndis.StatusResources
	table := withMiniport(f.Driver("broken", ndis.Version630))
	cfg, err := config.Parse("t.yaml", []byte("adapters:\n  - name: b0\n    driver: broken\n"), table.Known())
	if err != nil {
		t.Fatal(err)
	}
	err = daemon.New(cfg, slog.New(slog.DiscardHandler), daemon.WithDrivers(table)).Start(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "t.yaml:2: ") || strings.Count(err.Error(), `"b0"`) != 1 ||
		!errors.Is(err, ndis.StatusResources) {
		t.Errorf("Start = %v", err)
	}
}

// paramsProtocol is a protocol driver that keeps the parameters of each
// binding, as BindAdapter finds them, and refuses a "window" its
// ValidateParams does not like.
type paramsProtocol struct {
	rec *ndistest.RecorderDriver
	mu  sync.Mutex
	got map[string]map[string]string // by adapter
}

func newParamsProtocol() *paramsProtocol {
	return &paramsProtocol{rec: ndistest.NewRecorderDriver("params"), got: make(map[string]map[string]string)}
}

func (p *paramsProtocol) driver() ndis.ProtocolDriver {
	d := p.rec.Driver()
	bind := d.BindAdapter
	d.BindAdapter = func(b *ndis.Binding) (ndis.Protocol, error) {
		p.mu.Lock()
		p.got[b.Adapter().Name()] = b.Params()
		p.mu.Unlock()
		return bind(b)
	}
	d.ValidateParams = func(params map[string]string) error {
		if v, ok := params["window"]; ok && v != "8" {
			return &ndis.ParamError{Driver: "params", Key: "window", Value: v, Reason: "want 8"}
		}
		return nil
	}
	return d
}

// TestBindParams: each binding gets its own parameters through the
// runtime, and the protocol's ValidateParams checks them in the
// configuration, at the line of the key.
func TestBindParams(t *testing.T) {
	p := newParamsProtocol()
	table := daemon.Builtin()
	table.Protocols = append(table.Protocols, p.driver())
	yaml := "adapters:\n  - name: l0\n    driver: loopback\n  - name: l1\n    driver: loopback\n" +
		"    params:\n      mac: \"02:00:00:00:00:02\"\nbindings:\n  - protocol: params\n    adapter: l0\n    params:\n      window: 8\n" +
		"  - protocol: params\n    adapter: l1\n"
	cfg, err := config.Parse("t.yaml", []byte(yaml), table.Known())
	if err != nil {
		t.Fatal(err)
	}
	d := daemon.New(cfg, slog.New(slog.DiscardHandler), daemon.WithDrivers(table))
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.got["l0"]["window"] != "8" || len(p.got["l0"]) != 1 || len(p.got["l1"]) != 0 {
		t.Errorf("bindings got %v", p.got)
	}
	_, err = config.Parse("t.yaml", []byte(strings.Replace(yaml, "window: 8", "window: 9", 1)), table.Known())
	if want := `t.yaml:12: binding of "params" to "l0": params: parameter window="9": want 8`; err == nil || err.Error() != want {
		t.Errorf("Parse = %v, want %s", err, want)
	}
}
