package daemon_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gondis/gondis/cmd/gondis/internal/config"
	"github.com/gondis/gondis/cmd/gondis/internal/daemon"
	"github.com/gondis/gondis/ndis"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T, cfg *config.Config) *daemon.Daemon {
	t.Helper()
	d := daemon.New(cfg, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestDefaultConfig starts the default configuration in process, resets,
// pauses and restarts through the daemon, and closes it: every adapter
// halts and no goroutine is left (TestMain).
func TestDefaultConfig(t *testing.T) {
	cfg, err := config.Default(daemon.Known())
	if err != nil {
		t.Fatal(err)
	}
	d := start(t, cfg)
	ctx := context.Background()
	as := d.Adapters()
	if len(as) != 3 {
		t.Fatalf("%d adapters", len(as))
	}
	for _, a := range as {
		if a.State != "Running" {
			t.Errorf("%s: %s", a.Name, a.State)
		}
	}
	if a, _ := d.Adapter("sim1"); len(a.Bindings) != 1 || a.Bindings[0].Protocol != "echo" {
		t.Errorf("sim1 bindings %v", a.Bindings)
	}
	past, sub := d.Follow()
	if len(past) == 0 {
		t.Error("no history")
	}
	if _, err := d.Reset("loop0"); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(5 * time.Second)
	for done := false; !done; {
		select {
		case e := <-sub.C:
			done = e.Adapter == "loop0" && e.Kind == "reset-end"
			if done && (e.Status != "NDIS_STATUS_SUCCESS" || e.Duration <= 0 || e.Cause != "operator") {
				t.Errorf("reset-end %+v", e)
			}
		case <-deadline:
			t.Fatal("no reset-end")
		}
	}
	sub.Close()
	sub.Close()
	if _, err := d.Reset("nope"); !errors.Is(err, daemon.ErrUnknownAdapter) {
		t.Errorf("Reset(nope) = %v", err)
	}
	if err := d.Pause(ctx, "sim1"); err != nil {
		t.Fatal(err)
	}
	if err := d.Pause(ctx, "sim1"); !errors.Is(err, daemon.ErrConflict) {
		t.Errorf("second pause: %v", err)
	}
	if err := d.Restart(ctx, "sim1"); err != nil {
		t.Fatal(err)
	}
	if a, _ := d.Adapter("loop0"); a.Resets["operator"].Performed != 1 || a.LastResetStatus != ndis.StatusSuccess.String() {
		t.Errorf("loop0 after the reset: %+v", a)
	}
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if as := d.Adapters(); len(as) != 0 {
		t.Errorf("adapters after Close: %v", as)
	}
}
