package daemon_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gondis/gondis/cmd/gondis/internal/api"
	"github.com/gondis/gondis/cmd/gondis/internal/config"
	"github.com/gondis/gondis/cmd/gondis/internal/daemon"
	"github.com/gondis/gondis/cmd/gondis/internal/logtest"
	"github.com/gondis/gondis/cmd/gondis/internal/metrics"
	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

// startWith starts a daemon hosting the drivers of table with the
// configuration yaml, logging to log when it is not nil, and closes it
// when the test ends.
func startWith(t *testing.T, table daemon.Drivers, yaml string, log *logtest.Buffer) *daemon.Daemon {
	t.Helper()
	cfg, err := config.Parse("t.yaml", []byte(yaml), table.Known())
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	if log != nil {
		logger = slog.New(slog.NewTextHandler(log, nil))
	}
	d := daemon.New(cfg, logger, daemon.WithDrivers(table))
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return d
}

// gate holds a fake's handler once, when armed: entered says it is held,
// release lets it go.
type gate struct {
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func newGate() *gate { return &gate{entered: make(chan struct{}, 1), release: make(chan struct{})} }

func (g *gate) hold() {
	if g.armed.CompareAndSwap(true, false) {
		g.entered <- struct{}{}
		<-g.release
	}
}

// TestResetOutcomes: an operator reset says what became of it — queued,
// joined to the reset already queued, dropped while a reset runs, dropped
// beyond the operator limit of the configuration.
func TestResetOutcomes(t *testing.T) {
	f := ndistest.NewFake()
	busy, resetting := newGate(), newGate() // the work goroutine in CheckForHang; the miniport in Reset
	f.OnHang = busy.hold
	f.OnReset = func() (bool, ndis.Status) { resetting.hold(); return false, ndis.StatusSuccess }
	d := startWith(t, withMiniport(f.Driver("fake", ndis.Version630)),
		"runtime:\n  check_for_hang: 1ms\n  operator_resets:\n    max: 4\n    window: 1h\nadapters:\n  - name: f0\n    driver: fake\n", nil)

	want := func(outcome, message string) {
		t.Helper()
		r, err := d.Reset("f0")
		if err != nil || r.Outcome != outcome || r.Message != message || r.Name != "f0" || r.State != "Running" {
			t.Fatalf("Reset = %+v, %v; want %s, %q", r, err, outcome, message)
		}
	}
	dropped := func(why error, message string) {
		t.Helper()
		_, err := d.Reset("f0")
		if !errors.Is(err, daemon.ErrConflict) || !errors.Is(err, why) || err.Error() != message {
			t.Fatalf("Reset = %v, want %q", err, message)
		}
	}

	busy.armed.Store(true)
	resetting.armed.Store(true)
	<-busy.entered // the reset waits for the work goroutine
	want("queued", "reset queued")
	want("coalesced", "joined the reset already queued")
	close(busy.release)
	<-resetting.entered
	dropped(ndis.ErrResetInProgress, "dropped: a reset is in progress")
	close(resetting.release)
	ndistest.Eventually(t, func() bool {
		a, _ := d.Adapter("f0")
		return a.LastResetStatus == ndis.StatusSuccess.String()
	}, "the reset to end")
	want("queued", "reset queued")
	dropped(ndis.ErrResetRateLimited, "dropped: rate limit (4 per 1h0m0s)")

	if _, err := d.Reset("nope"); !errors.Is(err, daemon.ErrUnknownAdapter) {
		t.Errorf("Reset(nope) = %v", err)
	}
	a, _ := d.Adapter("f0")
	if r := a.Resets["operator"]; r.Requested != 5 || r.Coalesced != 1 || r.Dropped != 2 {
		t.Errorf("operator resets %+v", r)
	}
}

// fail makes the fake's adapter fail, as a driver that gives up on its
// device does (NdisMRemoveMiniport), and waits until it is halted.
func fail(f *ndistest.Fake) *ndis.Adapter {
	var a *ndis.Adapter
	f.Do(func(f *ndistest.Fake) { a = f.Adapter })
	a.RemoveMiniport()
	<-a.Done()
	return a
}

const removed = "the miniport called NdisMRemoveMiniport"

// TestFailedAdapterListed: a failed adapter stays in every list of the
// daemon — status, the hosted adapters, the metrics — Halted, with its
// reason; the failure is an event and a log line, and actions on it say it
// has failed.
func TestFailedAdapterListed(t *testing.T) {
	f := ndistest.NewFake()
	log := &logtest.Buffer{}
	d := startWith(t, withMiniport(f.Driver("fake", ndis.Version630)),
		"adapters:\n  - name: f0\n    driver: fake\n  - name: l0\n    driver: loopback\n", log)
	fail(f)

	a, ok := d.Adapter("f0")
	if !ok || a.State != "Halted" || a.FailureReason != removed {
		t.Fatalf("f0 after failing: listed %v, %+v", ok, a)
	}
	if as := d.Adapters(); len(as) != 2 || as[0].Name != "f0" || as[0].FailureReason != removed || as[1].FailureReason != "" {
		t.Errorf("adapters %+v", as)
	}
	if h := d.Hosted(); len(h) != 2 || h[0] != [2]string{"f0", "Halted"} || h[1] != [2]string{"l0", "Running"} {
		t.Errorf("hosted %v", h)
	}
	if names := d.Names(); strings.Join(names, " ") != "f0 l0" {
		t.Errorf("names %v", names)
	}
	ndistest.Eventually(t, func() bool {
		for _, e := range d.Events() {
			if e.Adapter == "f0" && e.Kind == "failed" && e.Detail == removed {
				return true
			}
		}
		return false
	}, "a failed event")
	if !strings.Contains(log.String(), `level=WARN msg="adapter failed" adapter=f0 reason="`+removed+`"`) {
		t.Errorf("no failure logged:\n%s", log.String())
	}

	want := `adapter "f0" has failed: ` + removed
	if _, err := d.Reset("f0"); !errors.Is(err, daemon.ErrConflict) || err.Error() != want {
		t.Errorf("Reset(f0) = %v, want %q", err, want)
	}
	if err := d.Pause(context.Background(), "f0"); !errors.Is(err, daemon.ErrConflict) || err.Error() != want {
		t.Errorf("Pause(f0) = %v, want %q", err, want)
	}

	rec := httptest.NewRecorder()
	metrics.New(d).Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, want := range []string{`gondis_adapter_failed{adapter="f0",reason="` + removed + `"} 1`,
		`gondis_adapter_failed{adapter="l0",reason=""} 0`, `gondis_adapter_state{adapter="f0",driver="fake",state="Halted"} 1`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// flakyProtocol is a recording protocol driver named "flaky" whose
// BindAdapter fails while refuse is set.
func flakyProtocol(refuse *atomic.Bool) ndis.ProtocolDriver {
	d := ndistest.NewRecorderDriver("flaky").Driver()
	bind := d.BindAdapter
	d.BindAdapter = func(b *ndis.Binding) (ndis.Protocol, error) {
		if refuse.Load() {
			return nil, ndis.StatusResources
		}
		return bind(b)
	}
	return d
}

// TestReinitialize: an operator initializes a failed adapter again without
// restarting the daemon: a new adapter, Running, with the configuration's
// bindings and their parameters, in every list in place of the failed one;
// an event and a log line say so. An adapter that has not failed is a
// conflict; a binding that cannot be opened again is an ErrRebind.
func TestReinitialize(t *testing.T) {
	f := ndistest.NewFake()
	p := newParamsProtocol()
	var refuse atomic.Bool
	table := withMiniport(f.Driver("fake", ndis.Version630))
	table.Protocols = append(table.Protocols, p.driver(), flakyProtocol(&refuse))
	log := &logtest.Buffer{}
	d := startWith(t, table, "adapters:\n  - name: f0\n    driver: fake\n  - name: l0\n    driver: loopback\n"+
		"bindings:\n  - protocol: params\n    adapter: f0\n    params:\n      window: 8\n  - protocol: params\n    adapter: l0\n"+
		"  - protocol: flaky\n    adapter: f0\n", log)
	ctx := context.Background()

	if err := d.Reinitialize(ctx, "f0"); !errors.Is(err, daemon.ErrConflict) ||
		err.Error() != `adapter "f0" has not failed (state Running): nothing to initialize again` {
		t.Errorf("Reinitialize(running f0) = %v", err)
	}
	if err := d.Reinitialize(ctx, "nope"); !errors.Is(err, daemon.ErrUnknownAdapter) {
		t.Errorf("Reinitialize(nope) = %v", err)
	}
	if _, err := d.Reset("f0"); err != nil {
		t.Fatal(err)
	}
	ndistest.Eventually(t, func() bool { a, _ := d.Adapter("f0"); return a.LastResetStatus != "" }, "the reset to end")

	old := fail(f)
	p.mu.Lock()
	clear(p.got)
	p.mu.Unlock()
	if err := d.Reinitialize(ctx, "f0"); err != nil {
		t.Fatal(err)
	}
	a, _ := d.Adapter("f0")
	if a.State != "Running" || a.FailureReason != "" || a.LastResetStatus != "" || a.Resets["operator"].Performed != 0 {
		t.Errorf("f0 initialized again: %+v", a)
	}
	var protocols []string
	for _, b := range a.Bindings {
		protocols = append(protocols, b.Protocol)
	}
	if strings.Join(protocols, " ") != "params flaky" {
		t.Errorf("f0 bound to %v, want params and flaky", protocols)
	}
	p.mu.Lock()
	if got := p.got; len(got) != 1 || len(got["f0"]) != 1 || got["f0"]["window"] != "8" {
		t.Errorf("bound again with %v, want f0's own parameters only", got)
	}
	p.mu.Unlock()
	if h := d.Hosted(); h[0] != [2]string{"f0", "Running"} {
		t.Errorf("hosted %v", h)
	}
	if now, _ := d.Runtime().Adapter("f0"); now == old || old.State() != ndis.AdapterHalted {
		t.Errorf("the runtime holds the failed adapter still")
	}
	var ev api.Event
	for _, e := range d.Events() {
		if e.Kind == api.KindReinitialized {
			ev = e
		}
	}
	if ev.Adapter != "f0" || ev.Detail != "bound: params, flaky" || ev.Time.IsZero() || ev.Seq == 0 {
		t.Errorf("reinitialized event %+v", ev)
	}
	if !strings.Contains(log.String(), `msg="adapter initialized again" adapter=f0 bindings="[params flaky]"`) {
		t.Errorf("not logged:\n%s", log.String())
	}
	if _, err := d.Reset("f0"); err != nil {
		t.Errorf("resetting f0 after: %v", err)
	}

	// A binding that cannot be opened again.
	refuse.Store(true)
	fail(f)
	err := d.Reinitialize(ctx, "f0")
	if !errors.Is(err, daemon.ErrRebind) || !errors.Is(err, ndis.StatusResources) || !strings.Contains(err.Error(), `t.yaml:13: `) {
		t.Errorf("Reinitialize with a refusing protocol = %v", err)
	}
	if a, _ := d.Adapter("f0"); a.State != "Running" || len(a.Bindings) != 1 || a.Bindings[0].Protocol != "params" {
		t.Errorf("f0 after a binding failed: %s, %+v", a.State, a.Bindings)
	}
	if !strings.Contains(log.String(), `level=WARN msg="binding not opened again" protocol=flaky adapter=f0`) {
		t.Errorf("the binding's failure is not logged:\n%s", log.String())
	}
}
