package ndis

import "encoding/binary"

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

// OffloadParameters is NDIS_OFFLOAD_PARAMETERS (revision 1), the buffer of a
// set of OIDTCPOffloadParameters: each field switches one offload, or says
// OffloadParametersNoChange. Marshal and ParseOffloadParameters convert it
// to and from NDIS's 20-byte layout.
type OffloadParameters struct {
	// Checksum fields: OffloadParametersTxRxDisabled … TxRxEnabled.
	IPv4Checksum, TCPIPv4Checksum, UDPIPv4Checksum uint8
	TCPIPv6Checksum, UDPIPv6Checksum               uint8
	LsoV1                                          uint8 // LSOv1: OffloadParametersLSOv1Disabled/Enabled
	IPsecV1                                        uint8 // IPsec task offload, 0…4
	LsoV2IPv4, LsoV2IPv6                           uint8 // OffloadParametersLSOv2Disabled/Enabled
	TCPConnectionIPv4, TCPConnectionIPv6           uint8 // TCP chimney, 0…2
	Flags                                          uint32
}

// NDIS_OFFLOAD_PARAMETERS field values.
const (
	OffloadParametersNoChange = 0 // NDIS_OFFLOAD_PARAMETERS_NO_CHANGE, in every field
	// The checksum fields.
	OffloadParametersTxRxDisabled = 1 // NDIS_OFFLOAD_PARAMETERS_TX_RX_DISABLED
	OffloadParametersTxEnabled    = 2 // NDIS_OFFLOAD_PARAMETERS_TX_ENABLED_RX_DISABLED
	OffloadParametersRxEnabled    = 3 // NDIS_OFFLOAD_PARAMETERS_RX_ENABLED_TX_DISABLED
	OffloadParametersTxRxEnabled  = 4 // NDIS_OFFLOAD_PARAMETERS_TX_RX_ENABLED
	// LsoV1, LsoV2IPv4 and LsoV2IPv6 (and the TCP connection fields).
	OffloadParametersLSOv1Disabled = 1 // NDIS_OFFLOAD_PARAMETERS_LSOV1_DISABLED
	OffloadParametersLSOv1Enabled  = 2 // NDIS_OFFLOAD_PARAMETERS_LSOV1_ENABLED
	OffloadParametersLSOv2Disabled = 1 // NDIS_OFFLOAD_PARAMETERS_LSOV2_DISABLED
	OffloadParametersLSOv2Enabled  = 2 // NDIS_OFFLOAD_PARAMETERS_LSOV2_ENABLED
)

// OffloadParametersSize is NDIS_SIZEOF_OFFLOAD_PARAMETERS_REVISION_1: the
// object header, eleven UCHARs, padding and Flags.
const OffloadParametersSize = 20

const offloadParametersRevision1 = 1

// Marshal encodes the parameters in NDIS's revision-1 layout, object header
// included.
func (p OffloadParameters) Marshal() []byte {
	b := make([]byte, OffloadParametersSize)
	b[0], b[1] = objectTypeDefault, offloadParametersRevision1
	binary.LittleEndian.PutUint16(b[2:], OffloadParametersSize)
	copy(b[4:15], []byte{p.IPv4Checksum, p.TCPIPv4Checksum, p.UDPIPv4Checksum, p.TCPIPv6Checksum,
		p.UDPIPv6Checksum, p.LsoV1, p.IPsecV1, p.LsoV2IPv4, p.LsoV2IPv6, p.TCPConnectionIPv4, p.TCPConnectionIPv6})
	binary.LittleEndian.PutUint32(b[16:], p.Flags)
	return b
}

// ParseOffloadParameters decodes an NDIS_OFFLOAD_PARAMETERS: StatusInvalidLength
// for a buffer shorter than revision 1; StatusInvalidParameter for a header
// that is not NDIS_OBJECT_TYPE_DEFAULT with a revision of 1 or later and a
// Size that covers revision 1 and fits the buffer, or for a field value
// NDIS does not define.
func ParseOffloadParameters(b []byte) (OffloadParameters, Status) {
	if len(b) < OffloadParametersSize {
		return OffloadParameters{}, StatusInvalidLength
	}
	if size := int(binary.LittleEndian.Uint16(b[2:])); b[0] != objectTypeDefault || b[1] < offloadParametersRevision1 ||
		size < OffloadParametersSize || size > len(b) {
		return OffloadParameters{}, StatusInvalidParameter
	}
	p := OffloadParameters{
		IPv4Checksum: b[4], TCPIPv4Checksum: b[5], UDPIPv4Checksum: b[6], TCPIPv6Checksum: b[7], UDPIPv6Checksum: b[8],
		LsoV1: b[9], IPsecV1: b[10], LsoV2IPv4: b[11], LsoV2IPv6: b[12],
		TCPConnectionIPv4: b[13], TCPConnectionIPv6: b[14],
		Flags: binary.LittleEndian.Uint32(b[16:]),
	}
	for _, v := range p.Checksums() {
		if v > OffloadParametersTxRxEnabled {
			return OffloadParameters{}, StatusInvalidParameter
		}
	}
	for _, v := range []uint8{p.LsoV1, p.LsoV2IPv4, p.LsoV2IPv6, p.TCPConnectionIPv4, p.TCPConnectionIPv6} {
		if v > OffloadParametersLSOv2Enabled {
			return OffloadParameters{}, StatusInvalidParameter
		}
	}
	if p.IPsecV1 > 4 {
		return OffloadParameters{}, StatusInvalidParameter
	}
	return p, StatusSuccess
}

// Checksums returns the five checksum fields, IPv4 header first.
func (p OffloadParameters) Checksums() [5]uint8 {
	return [5]uint8{p.IPv4Checksum, p.TCPIPv4Checksum, p.UDPIPv4Checksum, p.TCPIPv6Checksum, p.UDPIPv6Checksum}
}

// OffloadParameters decodes a set of OIDTCPOffloadParameters, as
// ParseOffloadParameters does; for a short buffer it also sets BytesNeeded.
func (r *OidRequest) OffloadParameters() (OffloadParameters, Status) {
	p, s := ParseOffloadParameters(r.Buffer)
	switch s {
	case StatusInvalidLength:
		r.BytesNeeded = OffloadParametersSize
	case StatusSuccess:
		r.BytesWritten = OffloadParametersSize
	}
	return p, s
}
