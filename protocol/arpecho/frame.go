package arpecho

import (
	"encoding/binary"

	"github.com/gondis/gondis/internal/inet"
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

const hdr = ndis.EthernetHeaderSize

// directed is the packet filter an echo request passes: the runtime's
// filter lets broadcasts through for ARP, but a ping must be sent to us.
var directed = ndis.PacketFilter{Types: ndis.PacketTypeDirected}

// Classify parses an Ethernet frame from the outside and reports whether
// it is a request the responder with address mac and ip answers: an ARP
// request for ip, or an ICMP echo request to ip sent to mac (to any
// unicast address when mac is zero, as the packet filter has it). It never
// panics, whatever the bytes.
func Classify(f []byte, mac ndis.MacAddress, ip [4]byte) Kind {
	if len(f) < hdr {
		return KindOther
	}
	switch binary.BigEndian.Uint16(f[12:]) {
	case inet.EtherTypeARP:
		a := f[hdr:]
		if len(a) < inet.ARPSize ||
			binary.BigEndian.Uint16(a[0:]) != inet.ARPHardware ||
			binary.BigEndian.Uint16(a[2:]) != inet.EtherTypeIPv4 ||
			a[4] != inet.ARPHardLength || a[5] != inet.ARPProtLength ||
			binary.BigEndian.Uint16(a[6:]) != inet.ARPOpRequest ||
			[4]byte(a[24:28]) != ip ||
			a[8]&1 != 0 { // a group sender address
			return KindOther
		}
		return KindARPRequest
	case inet.EtherTypeIPv4:
		if !directed.AcceptsFrame(f, mac) || f[6]&1 != 0 {
			return KindOther
		}
		p := f[hdr:]
		if len(p) < inet.IPv4HeaderSize || p[0]>>4 != 4 {
			return KindOther
		}
		ihl := int(p[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(p[2:]))
		if ihl < inet.IPv4HeaderSize || total < ihl+inet.ICMPHeaderSize || total > len(p) ||
			binary.BigEndian.Uint16(p[6:])&0x3fff != 0 || // a fragment
			p[9] != inet.ProtoICMP || [4]byte(p[16:20]) != ip ||
			inet.Checksum(p[:ihl], 0) != 0 {
			return KindOther
		}
		icmp := p[ihl:total]
		if icmp[0] != inet.ICMPEchoRequest || icmp[1] != 0 || inet.Checksum(icmp, 0) != 0 {
			return KindOther
		}
		if src := [4]byte(p[12:16]); src[0] >= 224 || src == [4]byte{} { // multicast, broadcast, unspecified
			return KindOther
		}
		return KindEchoRequest
	}
	return KindOther
}

// Answer writes into out the reply to the request frame f and returns its
// length, or 0 when f is not a request for mac and ip or out is too short.
// The reply is never longer than f.
func Answer(out, f []byte, mac ndis.MacAddress, ip [4]byte) (int, Kind) {
	k := Classify(f, mac, ip)
	switch k {
	case KindARPRequest:
		n := hdr + inet.ARPSize
		if len(out) < n {
			return 0, k
		}
		a := f[hdr:]
		sender := ndis.MacAddress(a[8:14])
		inet.PutEthernet(out, sender, mac, inet.EtherTypeARP)
		inet.PutARP(out[hdr:n], inet.ARPOpReply, mac, ip, sender, [4]byte(a[14:18]))
		return n, k
	case KindEchoRequest:
		p := f[hdr:]
		ihl := int(p[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(p[2:]))
		n := hdr + total
		if len(out) < n {
			return 0, k
		}
		inet.PutEthernet(out, ndis.MacAddress(f[6:12]), mac, inet.EtherTypeIPv4)
		q := out[hdr:n]
		copy(q, p[:total]) // the request's header, options and ICMP message
		q[8] = inet.DefaultTTL
		copy(q[12:16], ip[:])
		copy(q[16:20], p[12:16])
		q[10], q[11] = 0, 0
		binary.BigEndian.PutUint16(q[10:], inet.Checksum(q[:ihl], 0))
		icmp := q[ihl:]
		icmp[0] = inet.ICMPEchoReply
		icmp[2], icmp[3] = 0, 0
		binary.BigEndian.PutUint16(icmp[2:], inet.Checksum(icmp, 0))
		return n, k
	}
	return 0, k
}
