package ndis

import (
	"testing"
	"unsafe"
)

// TestLegalTransitions checks every pair of operational states against the
// NDIS state diagram.
func TestLegalTransitions(t *testing.T) {
	legal := map[[2]AdapterState]bool{
		{AdapterHalted, AdapterInitializing}: true,
		{AdapterInitializing, AdapterPaused}: true,
		{AdapterInitializing, AdapterHalted}: true,
		{AdapterPaused, AdapterRestarting}:   true,
		{AdapterPaused, AdapterHalted}:       true,
		{AdapterPaused, AdapterShutdown}:     true,
		{AdapterRestarting, AdapterRunning}:  true,
		{AdapterRestarting, AdapterPaused}:   true,
		{AdapterRestarting, AdapterShutdown}: true,
		{AdapterRunning, AdapterPausing}:     true,
		{AdapterRunning, AdapterShutdown}:    true,
		{AdapterPausing, AdapterPaused}:      true,
		{AdapterPausing, AdapterShutdown}:    true,
		{AdapterShutdown, AdapterHalted}:     true,
	}
	for from := AdapterHalted; from <= AdapterShutdown; from++ {
		for to := AdapterHalted; to <= AdapterShutdown; to++ {
			if got, want := legalTransition(from, to), legal[[2]AdapterState{from, to}]; got != want {
				t.Errorf("%s -> %s: legal = %v, want %v", from, to, got, want)
			}
		}
	}
}

func TestCheckForHangPeriod(t *testing.T) {
	for _, c := range []struct {
		in   uint32
		want int
	}{{0, 2}, {1, 2}, {2, 2}, {3, 2}, {4, 4}, {5, 4}, {7, 6}, {60, 60}} {
		if got := checkForHangPeriod(c.in); got.Seconds() != float64(c.want) {
			t.Errorf("CheckForHangTimeInSeconds %d: period %v, want %ds", c.in, got, c.want)
		}
	}
}

// TestNetBufferListLayout keeps the NBL at 192 bytes (64-byte aligned in
// its size class) with every per-hop field in the first cache line.
func TestNetBufferListLayout(t *testing.T) {
	var l NetBufferList
	if s := unsafe.Sizeof(l); s != 192 {
		t.Errorf("NetBufferList is %d bytes, want 192", s)
	}
	if end := unsafe.Offsetof(l.shared) + unsafe.Sizeof(l.shared); end > 64 {
		t.Errorf("the hot fields end at byte %d, past the first cache line", end)
	}
}
