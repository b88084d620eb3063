// Package inet holds the few pieces of Ethernet, ARP and IPv4 that gondis
// both writes and reads: the protocol/arpecho responder answers with them
// and ndis/ndistest builds test frames with them. It writes into buffers
// the caller owns and never allocates, so a responder can use it on its
// receive path.
//
// It is a toolkit, not part of the contract.
package inet

import (
	"encoding/binary"

	"github.com/gondis/gondis/ndis"
)

// EtherTypes.
const (
	EtherTypeIPv4 = 0x0800
	EtherTypeARP  = 0x0806
)

// ARP over Ethernet for IPv4 (RFC 826).
const (
	ARPSize       = 28 // the ARP packet after the Ethernet header
	ARPHardware   = 1  // htype: Ethernet
	ARPOpRequest  = 1
	ARPOpReply    = 2
	ARPHardLength = 6 // hlen
	ARPProtLength = 4 // plen
)

// IPv4 and what it carries.
const (
	IPv4HeaderSize  = 20 // without options
	ProtoICMP       = 1
	ProtoUDP        = 17
	DefaultTTL      = 64
	ICMPEchoReply   = 0 // ICMP type
	ICMPEchoRequest = 8 // ICMP type
	ICMPHeaderSize  = 8 // type, code, checksum, identifier, sequence
	UDPHeaderSize   = 8
)

// PutEthernet writes an Ethernet II header into b[:ndis.EthernetHeaderSize].
func PutEthernet(b []byte, dst, src ndis.MacAddress, etherType uint16) {
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
	binary.BigEndian.PutUint16(b[12:14], etherType)
}

// PutARP writes an ARP packet for IPv4 over Ethernet into b[:ARPSize]: op
// (ARPOpRequest or ARPOpReply) from the sender to the target. A request's
// target hardware address is the zero address.
func PutARP(b []byte, op uint16, senderMAC ndis.MacAddress, senderIP [4]byte, targetMAC ndis.MacAddress, targetIP [4]byte) {
	binary.BigEndian.PutUint16(b[0:], ARPHardware)
	binary.BigEndian.PutUint16(b[2:], EtherTypeIPv4)
	b[4], b[5] = ARPHardLength, ARPProtLength
	binary.BigEndian.PutUint16(b[6:], op)
	copy(b[8:14], senderMAC[:])
	copy(b[14:18], senderIP[:])
	copy(b[18:24], targetMAC[:])
	copy(b[24:28], targetIP[:])
}

// PutIPv4Header writes an IPv4 header without options into
// b[:IPv4HeaderSize], for a payload of payloadLen bytes: no fragmenting
// flags, identification 0, TTL DefaultTTL, and its checksum.
func PutIPv4Header(b []byte, proto uint8, src, dst [4]byte, payloadLen int) {
	h := b[:IPv4HeaderSize]
	clear(h)
	h[0] = 0x45 // version 4, 5 words
	binary.BigEndian.PutUint16(h[2:], uint16(IPv4HeaderSize+payloadLen))
	h[8] = DefaultTTL
	h[9] = proto
	copy(h[12:16], src[:])
	copy(h[16:20], dst[:])
	binary.BigEndian.PutUint16(h[10:], Checksum(h, 0))
}

// Sum returns the ones' complement sum of b, plus initial, folded to 16
// bits (RFC 1071). Over data that holds its right checksum it is 0xffff.
func Sum(b []byte, initial uint32) uint16 {
	s := initial
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// Checksum returns the Internet checksum of b plus initial (a partial sum,
// such as PseudoHeaderSum's): the value to write into a checksum field
// that is zero in b. Over data that holds its right checksum it is 0.
func Checksum(b []byte, initial uint32) uint16 { return ^Sum(b, initial) }

// PseudoHeaderSum returns the partial sum of the IPv4 pseudo-header that
// UDP's and TCP's checksums cover: the addresses, the protocol and the
// length of the UDP or TCP message.
func PseudoHeaderSum(src, dst [4]byte, proto uint8, length int) uint32 {
	be := binary.BigEndian
	return uint32(be.Uint16(src[0:])) + uint32(be.Uint16(src[2:])) +
		uint32(be.Uint16(dst[0:])) + uint32(be.Uint16(dst[2:])) +
		uint32(proto) + uint32(length)
}
