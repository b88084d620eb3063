package vnet

import "encoding/binary"

// HeaderLen is the length of a virtio_net_hdr without num_buffers, as the
// tun driver reads and writes it with IFF_VNET_HDR and the default
// TUNSETVNETHDRSZ.
const HeaderLen = 10

// Header flags (virtio_net_hdr.flags).
const (
	// FlagNeedsCsum: the checksum at CsumStart+CsumOffset is to be
	// finished over everything from CsumStart on (CHECKSUM_PARTIAL).
	FlagNeedsCsum uint8 = 1
	// FlagDataValid: the kernel verified the checksums
	// (CHECKSUM_UNNECESSARY); receive side only.
	FlagDataValid uint8 = 2
)

// GSO types (virtio_net_hdr.gso_type).
const (
	GSONone  uint8 = 0
	GSOTCPv4 uint8 = 1
	GSOUDP   uint8 = 3 // UFO: IP fragmentation of a UDP datagram, not supported
	GSOTCPv6 uint8 = 4
	GSOUDPL4 uint8 = 5    // USO: UDP segmentation
	GSOECN   uint8 = 0x80 // or'ed with a TCP type: the first segment has CWR set
)

// Header is a struct virtio_net_hdr. Offsets count from the first byte
// after it, which on a TAP is the Ethernet header.
type Header struct {
	Flags      uint8
	GSOType    uint8
	HdrLen     uint16 // the headers' length: a hint, never trusted
	GSOSize    uint16 // payload bytes a segment, without headers
	CsumStart  uint16 // where the checksummed data begins
	CsumOffset uint16 // the checksum field, counted from CsumStart
}

// Decode reads a Header from the first HeaderLen bytes of b, in the host's
// byte order: the tun driver's legacy virtio endianness is the host's
// unless TUNSETVNETBE or TUNSETVNETLE say otherwise.
func Decode(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, errShortHeader
	}
	return Header{
		Flags:      b[0],
		GSOType:    b[1],
		HdrLen:     binary.NativeEndian.Uint16(b[2:]),
		GSOSize:    binary.NativeEndian.Uint16(b[4:]),
		CsumStart:  binary.NativeEndian.Uint16(b[6:]),
		CsumOffset: binary.NativeEndian.Uint16(b[8:]),
	}, nil
}

// Encode writes h into the first HeaderLen bytes of b, in the host's byte
// order.
func (h Header) Encode(b []byte) error {
	if len(b) < HeaderLen {
		return errHeaderBuf
	}
	b[0], b[1] = h.Flags, h.GSOType
	binary.NativeEndian.PutUint16(b[2:], h.HdrLen)
	binary.NativeEndian.PutUint16(b[4:], h.GSOSize)
	binary.NativeEndian.PutUint16(b[6:], h.CsumStart)
	binary.NativeEndian.PutUint16(b[8:], h.CsumOffset)
	return nil
}
