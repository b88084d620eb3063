package vnet

import (
	"encoding/binary"
	"math/bits"
)

// Sum returns the one's complement sum of the Internet checksum (RFC 1071)
// over b, read as big-endian 16-bit words with an odd last byte padded with
// zero, added to initial and folded to 16 bits. It is not complemented: a
// checksum field takes ^Sum, and data with a right checksum sums to 0xffff.
// Sums chain, Sum(b, Sum(a, 0)), when a has an even length.
//
// It reads 8 bytes at a time into a 64-bit accumulator with end-around
// carry; the sum does not depend on the byte order of the reads (RFC 1071,
// 2.B), so it reads little-endian, which is a plain load on common hosts,
// and swaps the folded result.
func Sum(b []byte, initial uint16) uint16 {
	return add16(bits.ReverseBytes16(fold(sum64(b))), initial)
}

// PseudoHeaderSum returns the one's complement sum of a TCP or UDP
// pseudo-header, folded and not complemented: src and dst are the IPv4 (4
// bytes) or IPv6 (16 bytes) addresses as they are in the IP header, length
// the transport header and payload in bytes. Pass length 0 for NDIS's
// large-send convention, which leaves the length out.
func PseudoHeaderSum(src, dst []byte, proto uint8, length uint32) uint16 {
	s := add16(uint16(proto), uint16(length>>16))
	s = add16(s, uint16(length))
	return Sum(dst, Sum(src, s))
}

// sum64 is the one's complement sum of b in 64-bit lanes of little-endian
// 16-bit words, not folded.
func sum64(b []byte) uint64 {
	var s, c uint64
	for len(b) >= 32 {
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[8:]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[16:]), c)
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b[24:]), c)
		b = b[32:]
	}
	for len(b) >= 8 {
		s, c = bits.Add64(s, binary.LittleEndian.Uint64(b), c)
		b = b[8:]
	}
	// The tail, at most 7 bytes, into distinct 16-bit lanes of one word.
	var t uint64
	if len(b) >= 4 {
		t = uint64(binary.LittleEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		t |= uint64(binary.LittleEndian.Uint16(b)) << 32
		b = b[2:]
	}
	if len(b) == 1 {
		t |= uint64(b[0]) << 48 // the high byte of a big-endian word
	}
	s, c = bits.Add64(s, t, c)
	return s + c // cannot carry: t < 1<<56, so s <= 1<<56 when c is 1
}

// fold folds a 64-bit one's complement sum to 16 bits.
func fold(s uint64) uint16 {
	s = s&0xffffffff + s>>32
	s = s&0xffff + s>>16
	s = s&0xffff + s>>16
	s = s&0xffff + s>>16
	return uint16(s)
}

// add16 is one's complement addition.
func add16(a, b uint16) uint16 {
	s := uint32(a) + uint32(b)
	return uint16(s + s>>16)
}
