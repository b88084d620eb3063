package arpecho

import (
	"encoding/binary"

	"github.com/gondis/gondis/ndis"
)

// Kind is what Classify finds in a frame.
type Kind uint8

// Frame kinds.
const (
	KindOther       Kind = iota // not a request for us
	KindARPRequest              // an ARP request for our address
	KindEchoRequest             // an ICMP echo request to our address and MAC
)

const (
	ethHeader     = 14
	etherTypeARP  = 0x0806
	etherTypeIPv4 = 0x0800
	arpSize       = 28
	protoICMP     = 1
	icmpEchoReq   = 8
	icmpEchoReply = 0
	defaultTTL    = 64
)

// Classify parses an Ethernet frame from the outside and reports whether
// it is a request the responder with address mac and ip answers. It never
// panics, whatever the bytes.
func Classify(f []byte, mac ndis.MacAddress, ip [4]byte) Kind {
	if len(f) < ethHeader {
		return KindOther
	}
	switch binary.BigEndian.Uint16(f[12:]) {
	case etherTypeARP:
		a := f[ethHeader:]
		if len(a) < arpSize ||
			binary.BigEndian.Uint16(a[0:]) != 1 || // Ethernet
			binary.BigEndian.Uint16(a[2:]) != etherTypeIPv4 ||
			a[4] != 6 || a[5] != 4 ||
			binary.BigEndian.Uint16(a[6:]) != 1 || // request
			[4]byte(a[24:28]) != ip ||
			a[8]&1 != 0 { // a group sender address
			return KindOther
		}
		return KindARPRequest
	case etherTypeIPv4:
		if ndis.MacAddress(f[0:6]) != mac || f[6]&1 != 0 {
			return KindOther
		}
		p := f[ethHeader:]
		if len(p) < 20 || p[0]>>4 != 4 {
			return KindOther
		}
		ihl := int(p[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(p[2:]))
		if ihl < 20 || total < ihl+8 || total > len(p) ||
			binary.BigEndian.Uint16(p[6:])&0x3fff != 0 || // a fragment
			p[9] != protoICMP || [4]byte(p[16:20]) != ip ||
			^checksum(p[:ihl], 0) != 0 {
			return KindOther
		}
		icmp := p[ihl:total]
		if icmp[0] != icmpEchoReq || icmp[1] != 0 || ^checksum(icmp, 0) != 0 {
			return KindOther
		}
		if src := [4]byte(p[12:16]); src[0] >= 224 || src == [4]byte{} { // multicast, broadcast, unspecified
			return KindOther
		}
		return KindEchoRequest
	}
	return KindOther
}

// replySize returns the size of the reply to a request frame (at most the
// frame's own size).
func replySize(f []byte) int { return len(f) }

// Answer writes into out the reply to the request frame f and returns its
// length, or 0 when f is not a request for mac and ip or out is too short.
func Answer(out, f []byte, mac ndis.MacAddress, ip [4]byte) (int, Kind) {
	k := Classify(f, mac, ip)
	switch k {
	case KindARPRequest:
		n := ethHeader + arpSize
		if len(out) < n {
			return 0, k
		}
		a := f[ethHeader:]
		copy(out[0:6], a[8:14]) // to the sender's hardware address
		copy(out[6:12], mac[:])
		binary.BigEndian.PutUint16(out[12:], etherTypeARP)
		r := out[ethHeader:n]
		copy(r[0:6], a[0:6]) // htype, ptype, hlen, plen
		binary.BigEndian.PutUint16(r[6:], 2)
		copy(r[8:14], mac[:])
		copy(r[14:18], ip[:])
		copy(r[18:24], a[8:14])
		copy(r[24:28], a[14:18])
		return n, k
	case KindEchoRequest:
		p := f[ethHeader:]
		ihl := int(p[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(p[2:]))
		n := ethHeader + total
		if len(out) < n {
			return 0, k
		}
		copy(out[0:6], f[6:12])
		copy(out[6:12], mac[:])
		binary.BigEndian.PutUint16(out[12:], etherTypeIPv4)
		q := out[ethHeader:n]
		copy(q, p[:total])
		q[8] = defaultTTL
		copy(q[12:16], ip[:])
		copy(q[16:20], p[12:16])
		q[10], q[11] = 0, 0
		binary.BigEndian.PutUint16(q[10:], ^checksum(q[:ihl], 0))
		icmp := q[ihl:]
		icmp[0] = icmpEchoReply
		icmp[2], icmp[3] = 0, 0
		binary.BigEndian.PutUint16(icmp[2:], ^checksum(icmp, 0))
		return n, k
	}
	return 0, k
}

// checksum returns the ones' complement sum of b plus initial, folded to 16
// bits (RFC 1071). Over data whose checksum field is right it is 0xffff; the
// field to write is its complement over data with the field zeroed.
func checksum(b []byte, initial uint32) uint16 {
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
