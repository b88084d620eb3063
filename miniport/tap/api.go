package tap

import (
	"time"

	"github.com/gondis/gondis/ndis"
)

// Driver returns the TAP miniport driver, named "tap", written against
// NDIS 6.30 (so it may be reset). Its ValidateParams checks an adapter's
// parameters without touching the system. Outside Linux its Initialize
// fails with errors.ErrUnsupported once the parameters are checked.
func Driver() ndis.MiniportDriver {
	return ndis.MiniportDriver{
		Name:           "tap",
		Version:        ndis.Version630,
		Initialize:     initialize,
		ValidateParams: parameters.Validate,
	}
}

// StatsOf returns the counters of a TAP adapter's miniport, or false when
// the adapter is not a TAP adapter (or is halted).
func StatsOf(a *ndis.Adapter) (Stats, bool) {
	m, ok := tapOf(a)
	if !ok {
		return Stats{}, false
	}
	return m.stats(), true
}

// Interface returns the name of a TAP adapter's interface, or false when
// the adapter is not a TAP adapter (or is halted).
func Interface(a *ndis.Adapter) (string, bool) {
	m, ok := tapOf(a)
	if !ok {
		return "", false
	}
	return m.interfaceName(), true
}

// OffloadOf returns the current offload settings of a TAP adapter, or
// false when the adapter is not a TAP adapter (or is halted).
func OffloadOf(a *ndis.Adapter) (Offload, bool) {
	m, ok := tapOf(a)
	if !ok {
		return Offload{}, false
	}
	return m.offloadNow(), true
}

// tapMiniport is what StatsOf, Interface and OffloadOf read of a TAP
// adapter's miniport. It is an interface so that they are declared once
// for every system: outside Linux nothing implements it, and they report
// false.
type tapMiniport interface {
	ndis.Miniport
	stats() Stats
	interfaceName() string
	offloadNow() Offload
	halted() bool // Halt has begun
}

// tapOf returns the TAP miniport of a (NDIS's MiniportAdapterContext), or
// false when a is not a TAP adapter or is halted.
func tapOf(a *ndis.Adapter) (tapMiniport, bool) {
	m, ok := a.MiniportContext().(tapMiniport)
	if !ok || m.halted() {
		return nil, false
	}
	return m, true
}

// Stats are a TAP adapter's own counters, in frames.
type Stats struct {
	XmitOK, XmitError, RcvOK, RcvError, RcvNoBuffer uint64
	Retries                                         uint64 // EAGAIN, EINTR, ENOBUFS
	DeadErrors                                      uint64 // errors that asked for a reset
	Resets, ResetFailures                           uint64
	LastResetDuration                               time.Duration // Reset entered to returned
	LastError                                       string        // the last error that asked for a reset
	RcvGSO, RcvSegments                             uint64        // large frames the kernel handed over, and the frames cut from them
	XmitGSO                                         uint64        // large sends handed to the kernel whole
	XmitSoftSegments                                uint64        // frames cut from large sends in software
	Resubscribes                                    uint64        // netlink subscriptions made again after one failed
	Steering                                        bool          // a steering program, not the kernel, picks the queue of each frame read
	Queues                                          []QueueStats  // one a queue of the current interface
}

// QueueStats are one queue's frame counters, for the interface it belongs
// to now.
type QueueStats struct {
	XmitOK, RcvOK uint64
}

// Offload is what an adapter hands to the kernel rather than doing itself.
// Without vnet_hdr every part is off, and the adapter does all of it in
// software.
type Offload struct {
	// TxChecksum: the checksums a send asks for (ndis.ChecksumInfo) are
	// left to the kernel, else computed by the adapter.
	TxChecksum bool
	// LargeSend: an LSOv2 send (ndis.LargeSendInfo) goes to the kernel in
	// one write as a GSO packet, else the adapter cuts it into segments.
	LargeSend bool
	// Receive: the kernel may hand over partial checksums and large TCP
	// and UDP segments (TUNSETOFFLOAD), which the adapter finishes and cuts
	// into frames of the MTU, so that reads carry up to 64 KiB each.
	Receive bool
}
