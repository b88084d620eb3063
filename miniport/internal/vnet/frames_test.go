package vnet_test

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"

	"pgregory.net/rapid"

	"github.com/gondis/gondis/miniport/internal/vnet"
)

// The test's own view of frames, written independently of the package:
// a naive checksum, a frame builder, a frame checker and a model of what
// Linux does with a frame written to a TAP with a virtio header.

var be = binary.BigEndian

// naiveSum is RFC 1071 as written: 16 bits at a time, end-around carry at
// every step.
func naiveSum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
		s = s&0xffff + s>>16
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// onesAdd is one's complement addition of 16-bit words.
func onesAdd(a, b uint16) uint16 {
	s := uint32(a) + uint32(b)
	return uint16(s&0xffff + s>>16)
}

// layout is where a test frame's headers are.
type layout struct {
	l3, l4, pay int
	ipv6, udp   bool
}

// pseudo is the pseudo-header of the frame f for a transport length n, as
// bytes; n < 0 leaves the length out (NDIS large send).
func pseudo(f []byte, lay layout, n int) []byte {
	var b []byte
	proto := byte(6)
	if lay.udp {
		proto = 17
	}
	if lay.ipv6 {
		b = append(b, f[lay.l3+8:lay.l3+40]...)
		if n < 0 {
			n = 0
		}
		return append(b, byte(n>>24), byte(n>>16), byte(n>>8), byte(n), 0, 0, 0, proto)
	}
	b = append(b, f[lay.l3+12:lay.l3+20]...)
	if n < 0 {
		return append(b, 0, proto, 0, 0)
	}
	return append(b, 0, proto, byte(n>>8), byte(n))
}

// csumField is the offset of the transport checksum field.
func (lay layout) csumField() int {
	if lay.udp {
		return lay.l4 + 6
	}
	return lay.l4 + 16
}

// spec describes a test frame.
type spec struct {
	ipv6, vlan, udp bool
	ipOpts, tcpOpts int // bytes, multiples of 4
	payload         []byte
	id              uint16
	seq             uint32
	flags           uint8
	seed            uint64 // for addresses, ports and the like
}

// maxPayload is the longest payload s can carry in one IP packet.
func (s spec) maxPayload() int {
	n := 0xffff - s.thLen()
	if !s.ipv6 {
		n -= 20 + s.ipOpts
	}
	return n
}

func (s spec) thLen() int {
	if s.udp {
		return 8
	}
	return 20 + s.tcpOpts
}

// build makes the frame: lengths and the IPv4 header checksum right, the
// transport checksum field 0.
func (s spec) build() ([]byte, layout) {
	r := rand.New(rand.NewPCG(s.seed, 1))
	lay := layout{l3: 14, ipv6: s.ipv6, udp: s.udp}
	if s.vlan {
		lay.l3 += 4
	}
	iph := 40
	if !s.ipv6 {
		iph = 20 + s.ipOpts
	}
	lay.l4 = lay.l3 + iph
	lay.pay = lay.l4 + s.thLen()
	f := make([]byte, lay.pay+len(s.payload))
	for i := range 12 {
		f[i] = byte(r.Uint32())
	}
	f[0] &^= 1 // unicast
	et := f[12:]
	if s.vlan {
		be.PutUint16(f[12:], 0x8100)
		be.PutUint16(f[14:], uint16(r.Uint32())&0xefff)
		et = f[16:]
	}
	ip := f[lay.l3:lay.l4]
	proto := byte(6)
	if s.udp {
		proto = 17
	}
	if s.ipv6 {
		be.PutUint16(et, 0x86dd)
		be.PutUint32(ip, 6<<28|r.Uint32()&0x0fffffff)
		be.PutUint16(ip[4:], uint16(len(f)-lay.l4))
		ip[6], ip[7] = proto, 64
		for i := 8; i < 40; i++ {
			ip[i] = byte(r.Uint32())
		}
	} else {
		be.PutUint16(et, 0x0800)
		ip[0] = 0x40 | byte(iph/4)
		ip[1] = byte(r.Uint32())
		be.PutUint16(ip[2:], uint16(len(f)-lay.l3))
		be.PutUint16(ip[4:], s.id)
		be.PutUint16(ip[6:], 0x4000) // DF
		ip[8], ip[9] = 64, proto
		for i := 12; i < iph; i++ {
			ip[i] = byte(r.Uint32())
		}
		be.PutUint16(ip[10:], ^naiveSum(ip))
	}
	th := f[lay.l4:lay.pay]
	be.PutUint32(th, r.Uint32())
	if s.udp {
		be.PutUint16(th[4:], uint16(len(f)-lay.l4))
	} else {
		be.PutUint32(th[4:], s.seq)
		be.PutUint32(th[8:], r.Uint32())
		th[12] = byte(len(th)/4) << 4
		th[13] = s.flags
		be.PutUint16(th[14:], uint16(r.Uint32()))
		be.PutUint16(th[18:], uint16(r.Uint32()))
		for i := 20; i < len(th); i++ {
			th[i] = 1 // NOP options
		}
	}
	copy(f[lay.pay:], s.payload)
	return f, lay
}

// randomBytes returns n pseudo-random bytes.
func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// drawSpec draws a frame; maxPayload bounds the payload further.
func drawSpec(t *rapid.T, udp bool, maxPayload int) spec {
	s := spec{
		ipv6:  rapid.Bool().Draw(t, "ipv6"),
		vlan:  rapid.Bool().Draw(t, "vlan"),
		udp:   udp,
		id:    rapid.Uint16().Draw(t, "id"),
		seq:   rapid.Uint32().Draw(t, "seq"),
		flags: rapid.Uint8().Draw(t, "flags"),
		seed:  rapid.Uint64().Draw(t, "seed"),
	}
	if !s.ipv6 {
		s.ipOpts = 4 * rapid.IntRange(0, 10).Draw(t, "ipOpts")
	}
	if !udp {
		s.tcpOpts = 4 * rapid.IntRange(0, 10).Draw(t, "tcpOpts")
	}
	n := rapid.IntRange(0, min(maxPayload, s.maxPayload())).Draw(t, "payload")
	s.payload = randomBytes(s.seed, n)
	return s
}

// gsoFrame makes the frame as the kernel hands a GSO packet to a TAP: IP
// lengths of the whole packet, the transport checksum field holding the
// folded pseudo-header sum with the whole length, FlagNeedsCsum.
func (s spec) gsoFrame(mss int) ([]byte, vnet.Header, layout) {
	f, lay := s.build()
	n := len(f) - lay.l4
	be.PutUint16(f[lay.csumField():], naiveSum(pseudo(f, lay, n)))
	h := vnet.Header{
		Flags:      vnet.FlagNeedsCsum,
		HdrLen:     uint16(lay.pay),
		GSOSize:    uint16(mss),
		CsumStart:  uint16(lay.l4),
		CsumOffset: uint16(lay.csumField() - lay.l4),
	}
	switch {
	case s.udp:
		h.GSOType = vnet.GSOUDPL4
	case s.ipv6:
		h.GSOType = vnet.GSOTCPv6
	default:
		h.GSOType = vnet.GSOTCPv4
	}
	if !s.udp && s.flags&0x80 != 0 {
		h.GSOType |= vnet.GSOECN
	}
	return f, h, lay
}

var errBad = errors.New("bad frame")

// parseFrame finds the headers of a frame, checking the IP header as
// ip_rcv would: the length field equals the frame's, the IPv4 header
// checksum verifies. With transport it also finds the TCP or UDP header.
func parseFrame(f []byte, transport bool) (layout, error) {
	var lay layout
	if len(f) < 14 {
		return lay, errBad
	}
	lay.l3 = 14
	et := be.Uint16(f[12:])
	if et == 0x8100 {
		if len(f) < 18 {
			return lay, errBad
		}
		et, lay.l3 = be.Uint16(f[16:]), 18
	}
	var proto byte
	switch et {
	case 0x0800:
		if len(f) < lay.l3+20 || f[lay.l3]>>4 != 4 {
			return lay, errBad
		}
		ihl := int(f[lay.l3]&15) * 4
		if ihl < 20 || len(f) < lay.l3+ihl || int(be.Uint16(f[lay.l3+2:])) != len(f)-lay.l3 {
			return lay, errBad
		}
		if naiveSum(f[lay.l3:lay.l3+ihl]) != 0xffff {
			return lay, errors.New("bad IPv4 header checksum")
		}
		if transport && be.Uint16(f[lay.l3+6:])&0x3fff != 0 {
			return lay, errBad
		}
		lay.l4, proto = lay.l3+ihl, f[lay.l3+9]
	case 0x86dd:
		lay.ipv6 = true
		if len(f) < lay.l3+40 || f[lay.l3]>>4 != 6 || int(be.Uint16(f[lay.l3+4:])) != len(f)-lay.l3-40 {
			return lay, errBad
		}
		lay.l4, proto = lay.l3+40, f[lay.l3+6]
	default:
		return lay, errBad
	}
	if !transport {
		return lay, nil
	}
	switch proto {
	case 6:
		if len(f) < lay.l4+20 {
			return lay, errBad
		}
		lay.pay = lay.l4 + int(f[lay.l4+12]>>4)*4
		if lay.pay < lay.l4+20 || lay.pay > len(f) {
			return lay, errBad
		}
	case 17:
		lay.udp, lay.pay = true, lay.l4+8
		if lay.pay > len(f) || int(be.Uint16(f[lay.l4+4:])) != len(f)-lay.l4 {
			return lay, errBad
		}
	default:
		return lay, errBad
	}
	return lay, nil
}

// checkFrame checks that f is a complete, valid frame: IP header as
// parseFrame checks it and, with transport, the TCP or UDP checksum.
func checkFrame(f []byte, transport bool) (layout, error) {
	lay, err := parseFrame(f, transport)
	if err != nil || !transport {
		return lay, err
	}
	if lay.udp && be.Uint16(f[lay.l4+6:]) == 0 {
		return lay, errors.New("UDP checksum 0")
	}
	if naiveSum(append(pseudo(f, lay, len(f)-lay.l4), f[lay.l4:]...)) != 0xffff {
		return lay, errors.New("bad transport checksum")
	}
	return lay, nil
}

// kernel models what Linux does with a frame written to a TAP with the
// virtio header h, when it routes it, up to the frames it would put on a
// wire without offload: virtio_net_hdr_to_skb, ip_rcv's trimming and
// header checks, GSO (the
// segment's checksum field gets the whole packet's swapped for its own
// length, as tcp_gso_segment does) and skb_checksum_help. It returns the
// frames, not yet checked.
func kernel(f []byte, h vnet.Header) ([][]byte, error) {
	f = trim(f) // ip_rcv: padding after the IP packet goes
	csum := h.Flags&vnet.FlagNeedsCsum != 0
	start, field := int(h.CsumStart), int(h.CsumStart)+int(h.CsumOffset)
	if csum && field+2 > len(f) {
		return nil, errBad
	}
	lay, err := parseFrame(f, false)
	if err != nil {
		return nil, err
	}
	if h.GSOType != vnet.GSONone {
		if lay, err = parseFrame(f, true); err != nil {
			return nil, err
		}
		want := vnet.GSOTCPv4
		if lay.ipv6 {
			want = vnet.GSOTCPv6
		}
		if !csum || start != lay.l4 || h.CsumOffset != 16 || h.GSOSize == 0 || lay.udp ||
			h.GSOType&^vnet.GSOECN != want {
			return nil, errBad // the model covers TCP large sends only
		}
	}
	if h.GSOType == vnet.GSONone || len(f)-lay.pay <= int(h.GSOSize) {
		// Not really GSO (virtio_net_hdr_to_skb drops the GSO type).
		seg := append([]byte(nil), f...)
		if csum {
			// The field holds the partial sum: it is summed, not zeroed.
			c := ^naiveSum(seg[start:])
			if c == 0 {
				c = 0xffff
			}
			be.PutUint16(seg[field:], c)
		}
		return [][]byte{seg}, nil
	}
	mss, data := int(h.GSOSize), f[lay.pay:]
	old := be.Uint16(f[field:])
	var segs [][]byte
	for i := 0; i*mss < len(data); i++ {
		chunk := data[i*mss : min((i+1)*mss, len(data))]
		seg := append(append([]byte(nil), f[:lay.pay]...), chunk...)
		if lay.ipv6 {
			be.PutUint16(seg[lay.l3+4:], uint16(len(seg)-lay.l3-40))
		} else {
			ip := seg[lay.l3:lay.l4]
			be.PutUint16(ip[2:], uint16(len(seg)-lay.l3))
			be.PutUint16(ip[4:], be.Uint16(f[lay.l3+4:])+uint16(i))
			be.PutUint16(ip[10:], 0)
			be.PutUint16(ip[10:], ^naiveSum(ip))
		}
		th := seg[lay.l4:]
		be.PutUint32(th[4:], be.Uint32(f[lay.l4+4:])+uint32(i*mss))
		if (i+1)*mss < len(data) {
			th[13] &^= 0x09 // FIN, PSH
		}
		if i > 0 {
			th[13] &^= 0x80 // CWR
		}
		// tcp_gso_segment: check + ~oldlen + newlen.
		c := onesAdd(onesAdd(old, ^uint16(len(f)-lay.l4)), uint16(len(th)))
		be.PutUint16(th[16:], c)
		c = ^naiveSum(th)
		if c == 0 {
			c = 0xffff
		}
		be.PutUint16(th[16:], c)
		segs = append(segs, seg)
	}
	return segs, nil
}
