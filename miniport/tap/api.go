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
