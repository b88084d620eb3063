package vnet

import "encoding/binary"

// MaxHeadersLen is the longest run of headers PrepareSend copies: Ethernet
// with a VLAN tag (18), IPv4 with options (60), TCP with options (60).
const MaxHeadersLen = 138

const (
	etherLen  = 14
	vlanLen   = 4
	ipv6Len   = 40
	udpLen    = 8
	tcpMinLen = 20

	etherTypeIPv4 = 0x0800
	etherTypeIPv6 = 0x86dd
	etherTypeVLAN = 0x8100
	etherTypeQinQ = 0x88a8

	protoTCP = 6
	protoUDP = 17

	tcpCsumOffset = 16
	udpCsumOffset = 6

	tcpFIN = 0x01
	tcpPSH = 0x08
	tcpCWR = 0x80
)

// packet is where a frame's headers are. Offsets count from the start of
// the Ethernet header.
type packet struct {
	l3, l4  int // the IP header, the transport header
	payload int // the transport payload; set by transport
	end     int // the end of the IP packet; anything after it is padding
	ipv6    bool
	frag    bool // an IPv4 fragment
	proto   uint8
}

// parseIP finds the IP header of an Ethernet frame, with at most one VLAN
// tag, and the end of the IP packet. A length field of 0 means the packet
// runs to the end of the frame, as NDIS large sends and Linux's BIG TCP
// leave it.
func parseIP(f []byte) (packet, error) {
	if len(f) < etherLen {
		return packet{}, errShortFrame
	}
	p := packet{l3: etherLen}
	et := binary.BigEndian.Uint16(f[12:])
	if et == etherTypeVLAN {
		if len(f) < etherLen+vlanLen {
			return packet{}, errShortFrame
		}
		et = binary.BigEndian.Uint16(f[16:])
		p.l3 += vlanLen
	}
	b := f[p.l3:]
	switch et {
	case etherTypeIPv4:
		if len(b) < 20 {
			return packet{}, errShortFrame
		}
		if b[0]>>4 != 4 {
			return packet{}, errIPVersion
		}
		ihl := int(b[0]&0xf) * 4
		if ihl < 20 {
			return packet{}, errIHL
		}
		n := int(binary.BigEndian.Uint16(b[2:]))
		if n == 0 {
			n = len(b)
		}
		if n > len(b) || ihl > n {
			return packet{}, errIPLength
		}
		p.l4, p.end, p.proto = p.l3+ihl, p.l3+n, b[9]
		p.frag = binary.BigEndian.Uint16(b[6:])&0x3fff != 0 // MF or an offset
	case etherTypeIPv6:
		if len(b) < ipv6Len {
			return packet{}, errShortFrame
		}
		if b[0]>>4 != 6 {
			return packet{}, errIPVersion
		}
		n := ipv6Len + int(binary.BigEndian.Uint16(b[4:]))
		if n == ipv6Len {
			n = len(b)
		}
		if n > len(b) {
			return packet{}, errIPLength
		}
		p.l4, p.end, p.proto, p.ipv6 = p.l3+ipv6Len, p.l3+n, b[6], true
	case etherTypeVLAN, etherTypeQinQ:
		return packet{}, errStackedTag
	default:
		return packet{}, errNotIP
	}
	return p, nil
}

// transport finds the end of the TCP or UDP header, from the TCP data
// offset, never from a header length someone else computed.
func (p *packet) transport(f []byte) error {
	if p.frag {
		return errFragment
	}
	switch p.proto {
	case protoTCP:
		if p.end-p.l4 < tcpMinLen {
			return errShortFrame
		}
		n := int(f[p.l4+12]>>4) * 4
		if n < tcpMinLen {
			return errTCPOffset
		}
		if n > p.end-p.l4 {
			return errShortFrame
		}
		p.payload = p.l4 + n
	case protoUDP:
		if p.end-p.l4 < udpLen {
			return errShortFrame
		}
		p.payload = p.l4 + udpLen
	default:
		return errTransport
	}
	return nil
}

// csumOffset is where the transport's checksum field is in its header.
func (p *packet) csumOffset() int {
	if p.proto == protoTCP {
		return tcpCsumOffset
	}
	return udpCsumOffset
}

// pseudo is the pseudo-header sum of the packet in f for a transport
// length of n bytes.
func (p *packet) pseudo(f []byte, n int) uint16 {
	if p.ipv6 {
		return PseudoHeaderSum(f[p.l3+8:p.l3+24], f[p.l3+24:p.l3+40], p.proto, uint32(n))
	}
	return PseudoHeaderSum(f[p.l3+12:p.l3+16], f[p.l3+16:p.l3+20], p.proto, uint32(n))
}

// setIPLength writes the IP length field of the headers in f for an IP
// packet of n bytes, the caller having checked that it fits. For IPv4 it
// recomputes the header checksum when the field changed or force is set.
func (p *packet) setIPLength(f []byte, n int, force bool) {
	ip := f[p.l3:p.l4]
	if p.ipv6 {
		binary.BigEndian.PutUint16(ip[4:], uint16(n-ipv6Len))
		return
	}
	if binary.BigEndian.Uint16(ip[2:]) == uint16(n) && !force {
		return
	}
	binary.BigEndian.PutUint16(ip[2:], uint16(n))
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:], ^Sum(ip, 0))
}

// ipLengthFits reports whether an IP packet of n bytes fits the length
// field.
func (p *packet) ipLengthFits(n int) bool {
	if p.ipv6 {
		return n-ipv6Len <= 0xffff
	}
	return n <= 0xffff
}

// setChecksum computes the transport checksum of the packet in f in full
// and stores it; a UDP checksum of 0 is sent as 0xffff (0 means none).
func (p *packet) setChecksum(f []byte) {
	l4 := f[p.l4:p.end]
	field := p.csumOffset()
	l4[field], l4[field+1] = 0, 0
	c := ^Sum(l4, p.pseudo(f, len(l4)))
	if c == 0 && p.proto == protoUDP {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(l4[field:], c)
}
