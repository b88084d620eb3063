package sim_test

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/gondis/gondis/miniport/sim/chaos"
)

// TestChaos is the soak of issue "miniport/sim": traffic both ways across a
// sim pair with several bindings, OIDs in flight, pause/restart cycles and
// every fault injected at random from a printed seed, until 5,000 resets
// have been performed, however long that takes on a busy machine; the rate
// is logged, never checked. Longer runs: GONDIS_CHAOS_RESETS (the size),
// GONDIS_CHAOS_DURATION (a Go duration: soak at least this long as well)
// and GONDIS_CHAOS_SEED (replay a run), within the test's -timeout, which
// only catches a hang (see package chaos).
func TestChaos(t *testing.T) {
	cfg := chaos.Config{Resets: 5000}
	if v := os.Getenv("GONDIS_CHAOS_RESETS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			t.Fatalf("GONDIS_CHAOS_RESETS=%q: want a positive count", v)
		}
		cfg.Resets = n
	}
	if v := os.Getenv("GONDIS_CHAOS_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			t.Fatalf("GONDIS_CHAOS_DURATION=%q: want a Go duration", v)
		}
		cfg.Duration = d
	}
	if v := os.Getenv("GONDIS_CHAOS_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("GONDIS_CHAOS_SEED: %v", err)
		}
		cfg.Seed = n
	}
	deadline := hangDeadline(t)
	if left := time.Until(deadline); cfg.Duration >= left {
		t.Fatalf("GONDIS_CHAOS_DURATION=%s does not fit in the test's time-out (%s left for the soak): raise -timeout",
			cfg.Duration, left.Round(time.Second))
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	r, err := chaos.Run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + r.String())
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
}

// hangDeadline is when a soak that has not reached its size is hung: the
// test's deadline (-timeout) less the time a soak takes to stop, settle
// and close, so that it reports rather than panics; 10 minutes from now
// when the test has no deadline.
func hangDeadline(t *testing.T) time.Time {
	d, ok := t.Deadline()
	if !ok {
		return time.Now().Add(10 * time.Minute)
	}
	return d.Add(-min(90*time.Second, time.Until(d)/4))
}
