package vnet

import "encoding/binary"

// SendOffload is what an NDIS protocol asks of a frame it sends: the
// NDIS_TCP_LARGE_SEND_OFFLOAD_NET_BUFFER_LIST_INFO (LSOv2) and
// NDIS_TCP_IP_CHECKSUM_NET_BUFFER_LIST_INFO of its NBL, as plain fields.
type SendOffload struct {
	// LargeSend: an LSOv2 TCP frame to be cut into segments of MSS
	// payload bytes. Its IP length field may be 0, its TCP checksum field
	// holds the pseudo-header sum without the length, and it implies the
	// TCP and IPv4 header checksums.
	LargeSend bool
	MSS       int
	// IPv4, IPv6: the IP version the protocol says the frame is; neither
	// means the frame's ethertype decides.
	IPv4, IPv6 bool
	// TCPChecksum, UDPChecksum: the transport checksum is to be computed;
	// its field holds the pseudo-header sum with the length.
	TCPChecksum, UDPChecksum bool
	// IPChecksum: the IPv4 header checksum is to be computed (IPv4
	// only).
	IPChecksum bool
	// TransportOffset is NDIS's TcpHeaderOffset: the transport header's
	// offset from the start of the Ethernet header. It must agree with
	// the headers; 0 takes it from them.
	TransportOffset int
}

// asks reports whether o asks for any offload.
func (o *SendOffload) asks() bool {
	return o.LargeSend || o.transport() || o.IPChecksum
}

// transport reports whether o asks for a transport checksum.
func (o *SendOffload) transport() bool {
	return o.LargeSend || o.TCPChecksum || o.UDPChecksum
}

// parseSend parses frame and checks it against o, which asks for some
// offload.
func parseSend(frame []byte, o *SendOffload) (packet, error) {
	p, err := parseIP(frame)
	if err != nil {
		return packet{}, err
	}
	if o.IPv4 && p.ipv6 || o.IPv6 && !p.ipv6 {
		return packet{}, errOffloadIP
	}
	if o.IPChecksum && p.ipv6 {
		return packet{}, errOffloadIPv6
	}
	if !o.transport() {
		return p, nil
	}
	if o.UDPChecksum && (o.TCPChecksum || o.LargeSend) {
		return packet{}, errOffloadBoth
	}
	if err := p.transport(frame); err != nil {
		return packet{}, err
	}
	if o.UDPChecksum != (p.proto == protoUDP) {
		return packet{}, errOffloadProto
	}
	if o.TransportOffset != 0 && o.TransportOffset != p.l4 {
		return packet{}, errOffloadOffset
	}
	if o.LargeSend {
		if o.MSS < 1 || o.MSS > 0xffff {
			return packet{}, errMSS
		}
		if p.end != len(frame) {
			return packet{}, errPadding
		}
	}
	return p, nil
}

// PrepareSend readies a frame for a write with a virtio header: the kernel
// is to do what o asks. It leaves frame alone (it belongs to the protocol)
// and copies its first hdrLen bytes, the headers up to the end of the
// transport header (of the IP header for IPChecksum alone), into hdrs,
// which needs MaxHeadersLen bytes at most. In the copy it sets the IP
// length field from the frame, the IPv4 header checksum, and, for the
// kernel's CHECKSUM_PARTIAL, the transport checksum field to the folded
// pseudo-header sum with the length, computed from the addresses whatever
// the protocol left there. The caller writes h, hdrs[:hdrLen] and
// frame[hdrLen:], in that order. A frame without offload gives the zero
// Header and hdrLen 0; IPChecksum alone gives the zero Header too.
//
// A large send whose payload fits one MSS gets no GSO type, as the
// kernel's own stack would send it. ErrUnsupported says the kernel cannot
// take the frame this way (an IP packet too long for its length field, a
// padded frame with checksum offload): SegmentSend does it in software.
func PrepareSend(frame []byte, o SendOffload, hdrs []byte) (h Header, hdrLen int, err error) {
	if !o.asks() {
		return Header{}, 0, nil
	}
	p, err := parseSend(frame, &o)
	if err != nil {
		return Header{}, 0, err
	}
	n := p.l4
	if o.transport() {
		n = p.payload
		if p.end != len(frame) {
			return Header{}, 0, errPadded
		}
	}
	if !p.ipLengthFits(p.end - p.l3) {
		return Header{}, 0, errTooLong
	}
	if len(hdrs) < n {
		return Header{}, 0, errSmallBuf
	}
	c := hdrs[:n]
	copy(c, frame)
	p.setIPLength(c, p.end-p.l3, o.IPChecksum || o.LargeSend)
	if !o.transport() {
		return Header{}, n, nil
	}
	binary.BigEndian.PutUint16(c[p.l4+p.csumOffset():], p.pseudo(c, p.end-p.l4))
	h = Header{
		Flags:      FlagNeedsCsum,
		HdrLen:     uint16(n),
		CsumStart:  uint16(p.l4),
		CsumOffset: uint16(p.csumOffset()),
	}
	if o.LargeSend && p.end-p.payload > o.MSS {
		h.GSOType, h.GSOSize = GSOTCPv4, uint16(o.MSS)
		if p.ipv6 {
			h.GSOType = GSOTCPv6
		}
		if c[p.l4+13]&tcpCWR != 0 {
			h.GSOType |= GSOECN
		}
	}
	return h, n, nil
}

// SegmentSend does in software what o asks of frame, for when the kernel
// is not to: a large send becomes frames of at most MSS payload bytes, as
// Split makes them; a frame with checksum offload becomes one frame with
// its checksums computed in full (padding after the IP packet is kept and
// left out of the checksums); a frame without offload is copied. The i-th
// frame goes into dst[i], resliced to its length; n is how many.
// On an error neither dst nor its buffers were written to. dst must not
// overlap frame.
func SegmentSend(frame []byte, o SendOffload, dst [][]byte) (n int, err error) {
	var p packet
	if o.asks() {
		if p, err = parseSend(frame, &o); err != nil {
			return 0, err
		}
		if o.LargeSend {
			if !p.ipLengthFits(p.payload - p.l3 + min(o.MSS, p.end-p.payload)) {
				return 0, errSegmentLength
			}
			return p.split(frame, o.MSS, dst)
		}
		if !p.ipLengthFits(p.end - p.l3) {
			return 0, errSegmentLength
		}
	}
	d, err := copyFrame(frame, dst)
	if err != nil {
		return 0, err
	}
	if o.IPChecksum || o.transport() {
		p.setIPLength(d, p.end-p.l3, o.IPChecksum)
	}
	if o.transport() {
		p.setChecksum(d)
	}
	dst[0] = d
	return 1, nil
}
