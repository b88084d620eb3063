package ndistest

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/gondis/gondis/internal/inet"
	"github.com/gondis/gondis/ndis"
)

// Host is one end of a test frame: a station address and an IPv4
// address.
type Host struct {
	MAC ndis.MacAddress
	IP  netip.Addr // an IPv4 address; the builders panic on any other
}

// The frame builders below return a new Ethernet frame each, without FCS
// and without padding: a frame shorter than Ethernet's 60 bytes stays short,
// as the runtime and gondis's miniports allow. Their IPv4 headers carry no
// options, identification 0, no fragmenting flags and a TTL of 64, and
// every checksum is right; a test that wants a bad one changes the bytes
// afterwards (Checksum recomputes one).

// Ethernet returns an Ethernet II frame from src to dst: the header, then
// a copy of payload.
func Ethernet(dst, src ndis.MacAddress, etherType uint16, payload []byte) []byte {
	f := make([]byte, ndis.EthernetHeaderSize+len(payload))
	inet.PutEthernet(f, dst, src, etherType)
	copy(f[ndis.EthernetHeaderSize:], payload)
	return f
}

// Numbered returns a payload of n bytes for a test's own frames: seq,
// big-endian, in its first four bytes when n is at least 4, then a filler
// that depends on seq, so that frames numbered apart differ. A test reads
// the number back from the four bytes after the Ethernet header.
func Numbered(seq uint32, n int) []byte {
	p := make([]byte, n)
	if n < 4 {
		return p
	}
	binary.BigEndian.PutUint32(p, seq)
	for i := 4; i < n; i++ {
		p[i] = byte(seq) + byte(i)
	}
	return p
}

// ARPRequest returns a broadcast ARP request from from asking who has
// target.
func ARPRequest(from Host, target netip.Addr) []byte {
	return arp(ndis.BroadcastAddress, inet.ARPOpRequest, from, Host{IP: target})
}

// ARPReply returns an ARP reply from from to to: from.IP is at from.MAC.
func ARPReply(from, to Host) []byte { return arp(to.MAC, inet.ARPOpReply, from, to) }

func arp(dst ndis.MacAddress, op uint16, sender, target Host) []byte {
	f := make([]byte, ndis.EthernetHeaderSize+inet.ARPSize)
	inet.PutEthernet(f, dst, sender.MAC, inet.EtherTypeARP)
	inet.PutARP(f[ndis.EthernetHeaderSize:], op, sender.MAC, ip4(sender.IP), target.MAC, ip4(target.IP))
	return f
}

// IPv4 returns an Ethernet frame from from to to carrying an IPv4 packet
// of protocol proto whose payload is a copy of payload.
func IPv4(from, to Host, proto uint8, payload []byte) []byte {
	f := make([]byte, ndis.EthernetHeaderSize+inet.IPv4HeaderSize+len(payload))
	inet.PutEthernet(f, to.MAC, from.MAC, inet.EtherTypeIPv4)
	inet.PutIPv4Header(f[ndis.EthernetHeaderSize:], proto, ip4(from.IP), ip4(to.IP), len(payload))
	copy(f[ndis.EthernetHeaderSize+inet.IPv4HeaderSize:], payload)
	return f
}

// EchoRequest returns an ICMP echo request (ping) from from to to with
// identifier id, sequence number seq and data payload.
func EchoRequest(from, to Host, id, seq uint16, payload []byte) []byte {
	return IPv4(from, to, inet.ProtoICMP, icmpEcho(inet.ICMPEchoRequest, id, seq, payload))
}

// EchoReply returns the ICMP echo reply from from to to that answers an
// echo request with identifier id, sequence number seq and data payload.
func EchoReply(from, to Host, id, seq uint16, payload []byte) []byte {
	return IPv4(from, to, inet.ProtoICMP, icmpEcho(inet.ICMPEchoReply, id, seq, payload))
}

func icmpEcho(typ uint8, id, seq uint16, payload []byte) []byte {
	m := make([]byte, inet.ICMPHeaderSize+len(payload))
	m[0] = typ
	binary.BigEndian.PutUint16(m[4:], id)
	binary.BigEndian.PutUint16(m[6:], seq)
	copy(m[inet.ICMPHeaderSize:], payload)
	binary.BigEndian.PutUint16(m[2:], inet.Checksum(m, 0))
	return m
}

// UDP returns a UDP datagram from from's port srcPort to to's port
// dstPort carrying payload, with its checksum over the IPv4
// pseudo-header.
func UDP(from, to Host, srcPort, dstPort uint16, payload []byte) []byte {
	m := make([]byte, inet.UDPHeaderSize+len(payload))
	binary.BigEndian.PutUint16(m[0:], srcPort)
	binary.BigEndian.PutUint16(m[2:], dstPort)
	binary.BigEndian.PutUint16(m[4:], uint16(len(m)))
	copy(m[inet.UDPHeaderSize:], payload)
	c := inet.Checksum(m, inet.PseudoHeaderSum(ip4(from.IP), ip4(to.IP), inet.ProtoUDP, len(m)))
	if c == 0 {
		c = 0xffff // 0 would say "no checksum" (RFC 768)
	}
	binary.BigEndian.PutUint16(m[6:], c)
	return IPv4(from, to, inet.ProtoUDP, m)
}

// Checksum returns the Internet checksum of b (RFC 1071): the value for a
// checksum field that is zero in b, and 0 over an IPv4 header or ICMP
// message that holds its right checksum.
func Checksum(b []byte) uint16 { return inet.Checksum(b, 0) }

func ip4(a netip.Addr) [4]byte {
	if !a.Is4() {
		panic(fmt.Sprintf("ndistest: %v is not an IPv4 address", a))
	}
	return a.As4()
}
