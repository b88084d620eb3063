package daemon_test

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/gondis/gondis/cmd/gondis/internal/config"
	"github.com/gondis/gondis/cmd/gondis/internal/daemon"
	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

// startWith starts a daemon hosting the drivers of table with the
// configuration yaml, and closes it when the test ends.
func startWith(t *testing.T, table daemon.Drivers, yaml string) *daemon.Daemon {
	t.Helper()
	cfg, err := config.Parse("t.yaml", []byte(yaml), table.Known())
	if err != nil {
		t.Fatal(err)
	}
	d := daemon.New(cfg, slog.New(slog.DiscardHandler), daemon.WithDrivers(table))
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
		"runtime:\n  check_for_hang: 1ms\n  operator_resets:\n    max: 4\n    window: 1h\nadapters:\n  - name: f0\n    driver: fake\n")

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
