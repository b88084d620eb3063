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
// every fault injected at random from a printed seed, until at least 5,000
// resets (at most 60 s). Longer runs: GONDIS_CHAOS_RESETS,
// GONDIS_CHAOS_DURATION (a Go duration) and GONDIS_CHAOS_SEED.
func TestChaos(t *testing.T) {
	cfg := chaos.Config{Resets: 5000, Duration: 60 * time.Second}
	if v := os.Getenv("GONDIS_CHAOS_RESETS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("GONDIS_CHAOS_RESETS: %v", err)
		}
		cfg.Resets = n
	}
	if v := os.Getenv("GONDIS_CHAOS_DURATION"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("GONDIS_CHAOS_DURATION: %v", err)
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
	r, err := chaos.Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + r.String())
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
}
