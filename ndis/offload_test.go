package ndis_test

import (
	"testing"

	"github.com/gondis/gondis/ndis"
)

// TestOffloadInfoBits: the words have NDIS's bit layout.
func TestOffloadInfoBits(t *testing.T) {
	l := ndis.LargeSendV2(1448, 34, false)
	if uint32(l) != 1448|34<<20|1<<30 || l.MSS() != 1448 || l.TCPHeaderOffset() != 34 || !l.V2() || l.IPv6() {
		t.Errorf("LargeSendV2(1448, 34, v4) = %#x", uint32(l))
	}
	if l := ndis.LargeSendV2(1220, 54, true); uint32(l) != 1220|54<<20|1<<30|1<<31 || !l.IPv6() {
		t.Errorf("LargeSendV2(1220, 54, v6) = %#x", uint32(l))
	}
	c := ndis.TxChecksum(ndis.ChecksumTxIPv4|ndis.ChecksumTxTCP|ndis.ChecksumTxIPHeader, 34)
	if uint32(c) != 1|4|16|34<<16 || c.TransportOffset() != 34 {
		t.Errorf("TxChecksum = %#x", uint32(c))
	}
	if ndis.ChecksumRxTCPSucceeded != 8 || ndis.ChecksumRxIPValueInvalid != 256 {
		t.Error("receive bits moved")
	}
}

// TestPoolClearsOffloadInfo: an NBL back from a send carries no offload
// request into its next use.
func TestPoolClearsOffloadInfo(t *testing.T) {
	p := ndis.NewPool(64, 0)
	l, _ := p.Get(1)
	l.Checksum, l.LargeSend = ndis.ChecksumTxIPv4, ndis.LargeSendV2(1000, 34, false)
	p.Put(l)
	l, _ = p.Get(1)
	if l.Checksum != 0 || l.LargeSend != 0 {
		t.Errorf("a pooled NBL kept its offload info: %#x %#x", l.Checksum, l.LargeSend)
	}
}
