package ndis

import "github.com/gondis/gondis/internal/enum"

// AdapterState is a miniport adapter's operational state, as NDIS defines
// it:
//
//	Halted ──Initialize──▶ Initializing ──ok──▶ Paused ──Restart──▶ Restarting ──ok──▶ Running
//	   ▲                        │ fail            ▲ ▲                     │ fail              │
//	   │                        ▼                 │ └─────────────────────┘                   │ Pause
//	   └──────── Halt ──────── Halted             └───────────── Pausing ◀────────────────────┘
//
// Halt only from Paused, and, in gondis, from Shutdown when the adapter is
// removed. Paused, Restarting, Running and Pausing may go to Shutdown
// (MiniportShutdownEx). Sends and receives flow in Running and
// drain in Pausing; OIDs are served in Paused, Restarting, Running and
// Pausing. A reset is not a state: it runs beside these (see reset.go).
type AdapterState uint32

// Adapter states.
const (
	AdapterHalted AdapterState = iota
	AdapterInitializing
	AdapterPaused
	AdapterRestarting
	AdapterRunning
	AdapterPausing
	AdapterShutdown
)

var adapterStateNames = [...]string{"Halted", "Initializing", "Paused", "Restarting", "Running", "Pausing", "Shutdown"}

func (s AdapterState) String() string { return enum.Name(adapterStateNames[:], s, "AdapterState") }

// legalTransition reports whether NDIS allows an adapter to go from one
// operational state to another.
func legalTransition(from, to AdapterState) bool {
	switch from {
	case AdapterHalted:
		return to == AdapterInitializing
	case AdapterInitializing:
		return to == AdapterPaused || to == AdapterHalted
	case AdapterPaused:
		return to == AdapterRestarting || to == AdapterHalted || to == AdapterShutdown
	case AdapterRestarting:
		return to == AdapterRunning || to == AdapterPaused || to == AdapterShutdown
	case AdapterRunning:
		return to == AdapterPausing || to == AdapterShutdown
	case AdapterPausing:
		return to == AdapterPaused || to == AdapterShutdown
	case AdapterShutdown:
		return to == AdapterHalted // removal halts a shut-down miniport
	}
	return false
}

// servesOIDs reports whether OID requests reach the miniport in state s.
func (s AdapterState) servesOIDs() bool {
	return s == AdapterPaused || s == AdapterRestarting || s == AdapterRunning || s == AdapterPausing
}
