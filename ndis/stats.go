package ndis

import (
	"sync/atomic"
	"time"
)

// adapterCounters are the datapath counters, grouped so that the send side
// and the receive side do not share cache lines.
type adapterCounters struct {
	sentNBLs, sentFrames, sentBytes atomic.Uint64
	sendCompleted, sendFailed       atomic.Uint64
	sendRejected                    atomic.Uint64
	_                               [16]byte
	rxNBLs, rxFrames, rxBytes       atomic.Uint64
	rxReturned, rxDropped           atomic.Uint64
	rxDuringReset                   atomic.Uint64
	rxLent                          atomic.Uint64 // indicated with ReceiveFlagResources: never returned
	_                               [16]byte
	violations                      atomic.Uint64
}

// AdapterStats is a snapshot of an adapter's counters.
type AdapterStats struct {
	State AdapterState

	SentNBLs      uint64 // NBLs handed to the miniport
	SentFrames    uint64
	SentBytes     uint64
	SendCompleted uint64 // NBLs the miniport completed
	SendFailed    uint64 // of which with a status other than success
	SendRejected  uint64 // NBLs completed at the gate: paused or resetting

	ReceivedNBLs       uint64 // NBLs the miniport indicated
	ReceivedFrames     uint64
	ReceivedBytes      uint64
	ReturnedNBLs       uint64 // NBLs given back to the miniport
	ReceiveDropped     uint64 // indicated NBLs no binding took
	ReceiveDuringReset uint64 // indicated during a reset and returned at once (R12)

	OIDsQueued int // protocol OID requests waiting for the miniport
	Violations uint64

	Resets map[ResetCause]ResetCounters // per cause; see reset.go
}

// ResetCounters count what happened to reset requests of one cause (R14).
type ResetCounters struct {
	Requested    uint64        // accepted requests
	Coalesced    uint64        // requests folded into one already queued
	Dropped      uint64        // requests refused: a reset was running, or the state forbade it
	Performed    uint64        // resets that reached Reset()
	Failed       uint64        // of which ended with a failure status
	LastDuration time.Duration // RESET_START to RESET_END
	MaxDuration  time.Duration
}

// Stats returns a snapshot of the adapter's counters.
func (a *Adapter) Stats() AdapterStats {
	c := &a.stats
	st := AdapterStats{
		State:              a.State(),
		SentNBLs:           c.sentNBLs.Load(),
		SentFrames:         c.sentFrames.Load(),
		SentBytes:          c.sentBytes.Load(),
		SendCompleted:      c.sendCompleted.Load(),
		SendFailed:         c.sendFailed.Load(),
		SendRejected:       c.sendRejected.Load(),
		ReceivedNBLs:       c.rxNBLs.Load(),
		ReceivedFrames:     c.rxFrames.Load(),
		ReceivedBytes:      c.rxBytes.Load(),
		ReturnedNBLs:       c.rxReturned.Load(),
		ReceiveDropped:     c.rxDropped.Load(),
		ReceiveDuringReset: c.rxDuringReset.Load(),
		Violations:         c.violations.Load(),
		Resets:             a.resetStats(),
	}
	a.mu.Lock()
	st.OIDsQueued = len(a.oidq)
	a.mu.Unlock()
	return st
}
