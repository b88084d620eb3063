package ndis

// ChecksumInfo is NDIS_TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO, bit for bit.
// On a send the protocol sets the Transmit bits: which checksums the
// miniport is to compute, and where the TCP header starts. On a receive the
// miniport sets the Receive bits: which checksums it verified. The two
// sets share the word, as in NDIS's union.
type ChecksumInfo uint32

// Transmit bits.
const (
	ChecksumTxIPv4     ChecksumInfo = 1 << 0 // IsIPv4
	ChecksumTxIPv6     ChecksumInfo = 1 << 1 // IsIPv6
	ChecksumTxTCP      ChecksumInfo = 1 << 2 // TcpChecksum
	ChecksumTxUDP      ChecksumInfo = 1 << 3 // UdpChecksum
	ChecksumTxIPHeader ChecksumInfo = 1 << 4 // IpHeaderChecksum
)

// Receive bits.
const (
	ChecksumRxTCPFailed       ChecksumInfo = 1 << 0
	ChecksumRxUDPFailed       ChecksumInfo = 1 << 1
	ChecksumRxIPFailed        ChecksumInfo = 1 << 2
	ChecksumRxTCPSucceeded    ChecksumInfo = 1 << 3
	ChecksumRxUDPSucceeded    ChecksumInfo = 1 << 4
	ChecksumRxIPSucceeded     ChecksumInfo = 1 << 5
	ChecksumRxLoopback        ChecksumInfo = 1 << 6
	ChecksumRxTCPValueInvalid ChecksumInfo = 1 << 7
	ChecksumRxIPValueInvalid  ChecksumInfo = 1 << 8
)

// TxChecksum returns the Transmit word for a send: the bits and the offset
// of the TCP (or UDP) header from the start of the frame.
func TxChecksum(bits ChecksumInfo, transportOffset int) ChecksumInfo {
	return bits&0xffff | ChecksumInfo(transportOffset&0x3ff)<<16
}

// TransportOffset returns Transmit.TcpHeaderOffset.
func (c ChecksumInfo) TransportOffset() int { return int(c>>16) & 0x3ff }

// LargeSendInfo is NDIS_TCP_LARGE_SEND_OFFLOAD_NET_BUFFER_LIST_INFO, bit
// for bit, as LsoV2Transmit: MSS in bits 0–19, TcpHeaderOffset in 20–29,
// Type in bit 30 (1: LSOv2), IPVersion in bit 31 (0: IPv4, 1: IPv6). An NBL
// that carries it has one frame, larger than the MTU, whose IPv4 Total
// Length (or IPv6 Payload Length) is 0 and whose TCP checksum field holds
// the pseudo-header sum without the TCP length; the miniport cuts it into
// segments of at most MSS payload bytes, each with its own headers and
// checksums. gondis supports LSOv2 only.
type LargeSendInfo uint32

// LargeSendV2 returns the LSOv2 word for a send.
func LargeSendV2(mss, tcpHeaderOffset int, ipv6 bool) LargeSendInfo {
	l := LargeSendInfo(mss&0xfffff) | LargeSendInfo(tcpHeaderOffset&0x3ff)<<20 | 1<<30
	if ipv6 {
		l |= 1 << 31
	}
	return l
}

// MSS returns the maximum segment size.
func (l LargeSendInfo) MSS() int { return int(l & 0xfffff) }

// TCPHeaderOffset returns the offset of the TCP header from the start of
// the frame.
func (l LargeSendInfo) TCPHeaderOffset() int { return int(l>>20) & 0x3ff }

// V2 reports whether the word is LSOv2 (Type 1).
func (l LargeSendInfo) V2() bool { return l&(1<<30) != 0 }

// IPv6 reports whether an LSOv2 send is IPv6 (IPVersion 1).
func (l LargeSendInfo) IPv6() bool { return l&(1<<31) != 0 }
