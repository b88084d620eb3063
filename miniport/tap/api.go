package tap

import (
	"encoding/binary"
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

// OIDTCPOffloadParameters is OID_TCP_OFFLOAD_PARAMETERS: a set of an
// NDIS_OFFLOAD_PARAMETERS switches offloads on and off at run time.
const OIDTCPOffloadParameters ndis.OID = 0xFC01020C

// NDIS_OFFLOAD_PARAMETERS values.
const (
	OffloadNoChange = 0 // NDIS_OFFLOAD_PARAMETERS_NO_CHANGE
	// The checksum fields.
	OffloadTxRxDisabled = 1 // NDIS_OFFLOAD_PARAMETERS_TX_RX_DISABLED
	OffloadTxEnabled    = 2 // NDIS_OFFLOAD_PARAMETERS_TX_ENABLED_RX_DISABLED
	OffloadRxEnabled    = 3 // NDIS_OFFLOAD_PARAMETERS_RX_ENABLED_TX_DISABLED
	OffloadTxRxEnabled  = 4 // NDIS_OFFLOAD_PARAMETERS_TX_RX_ENABLED
	// The LsoV2IPv4 and LsoV2IPv6 fields.
	OffloadLSOv2Disabled = 1 // NDIS_OFFLOAD_PARAMETERS_LSOV2_DISABLED
	OffloadLSOv2Enabled  = 2 // NDIS_OFFLOAD_PARAMETERS_LSOV2_ENABLED
)

// offloadParametersSize is NDIS_SIZEOF_OFFLOAD_PARAMETERS_REVISION_1: the
// header, eleven UCHARs, padding and Flags.
const offloadParametersSize = 20

// OffloadParameters returns an NDIS_OFFLOAD_PARAMETERS (revision 1, 20
// bytes) with the same setting in each of its five checksum fields and its
// two LSOv2 fields; every other field says no change.
func OffloadParameters(checksum, lsoV2 uint8) []byte {
	b := make([]byte, offloadParametersSize)
	b[0], b[1] = 0x80, 1 // NDIS_OBJECT_TYPE_DEFAULT, NDIS_OFFLOAD_PARAMETERS_REVISION_1
	binary.LittleEndian.PutUint16(b[2:], offloadParametersSize)
	for i := 4; i <= 8; i++ { // IPv4Checksum … UDPIPv6Checksum
		b[i] = checksum
	}
	b[11], b[12] = lsoV2, lsoV2 // LsoV2IPv4, LsoV2IPv6
	return b
}
