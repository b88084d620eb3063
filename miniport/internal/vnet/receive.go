package vnet

import "encoding/binary"

// Complete finishes the checksum of a frame the kernel handed over with
// FlagNeedsCsum (CHECKSUM_PARTIAL) and no GSO: the field at
// CsumStart+CsumOffset holds the pseudo-header sum, and the checksum is
// that folded with everything from CsumStart to the end of the frame,
// complemented, 0 written as 0xffff (as the kernel does, for UDP's sake).
// Without FlagNeedsCsum it does nothing. It checks only that the offsets
// lie in the frame; the frame's headers are not parsed.
func Complete(frame []byte, h Header) error {
	if h.Flags&FlagNeedsCsum == 0 {
		return nil
	}
	if err := checkCsumOffsets(frame, h); err != nil {
		return err
	}
	start := int(h.CsumStart)
	c := ^Sum(frame[start:], 0)
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(frame[start+int(h.CsumOffset):], c)
	return nil
}

func checkCsumOffsets(frame []byte, h Header) error {
	if h.Flags&FlagNeedsCsum != 0 && int(h.CsumStart)+int(h.CsumOffset)+2 > len(frame) {
		return errCsumOffsets
	}
	return nil
}

// Segments returns how many frames Split makes of frame, or the error
// Split would return for a reason other than dst.
func Segments(frame []byte, h Header) (int, error) {
	if h.GSOType == GSONone {
		return 1, checkCsumOffsets(frame, h)
	}
	p, err := parseGSO(frame, h)
	if err != nil {
		return 0, err
	}
	return segments(p.end-p.payload, int(h.GSOSize)), nil
}

// Split cuts a large frame the kernel handed over with GSO (TCPv4, TCPv6,
// with or without ECN, or UDP_L4) into frames of at most GSOSize payload
// bytes, the i-th into dst[i], which it reslices to the frame's length.
// Each is a complete frame: the headers of the large one with the IPv4
// total length, ID (one more each segment) and header checksum, or the
// IPv6 payload length, the TCP sequence number or UDP length set, FIN and
// PSH only on the last TCP segment, CWR only on the first, and the
// transport checksum computed in full. A segment is at most the frame's
// headers plus GSOSize bytes long; Segments says how many there are.
//
// Header lengths come from the packet itself; HdrLen is ignored, and
// CsumStart and CsumOffset, with FlagNeedsCsum, must point at the
// transport checksum, whose partial sum is not used. The IP length must be
// that of the frame, or 0.
//
// Without GSO, Split copies frame into dst[0] and finishes its checksum
// as Complete does, so the caller has one path; n is 1.
//
// On an error neither dst nor its buffers were written to. dst must not
// overlap frame.
func Split(frame []byte, h Header, dst [][]byte) (n int, err error) {
	if h.GSOType == GSONone {
		if err := checkCsumOffsets(frame, h); err != nil {
			return 0, err
		}
		d, err := copyFrame(frame, dst)
		if err != nil {
			return 0, err
		}
		if err := Complete(d, h); err != nil {
			return 0, err
		}
		dst[0] = d
		return 1, nil
	}
	p, err := parseGSO(frame, h)
	if err != nil {
		return 0, err
	}
	return p.split(frame, int(h.GSOSize), dst)
}

// copyFrame copies frame into the buffer of dst[0] and returns the copy,
// dst[0] resliced to the frame's length, without storing it in dst: the
// one-frame path of Split and SegmentSend.
func copyFrame(frame []byte, dst [][]byte) ([]byte, error) {
	if len(dst) < 1 {
		return nil, errFewBuffers
	}
	if cap(dst[0]) < len(frame) {
		return nil, errSmallBuf
	}
	d := dst[0][:len(frame)]
	copy(d, frame)
	return d, nil
}

// parseGSO parses a GSO frame and checks it against its virtio header.
func parseGSO(frame []byte, h Header) (packet, error) {
	if h.GSOSize == 0 {
		return packet{}, errGSOSize
	}
	p, err := parseIP(frame)
	if err != nil {
		return packet{}, err
	}
	if p.proto != protoTCP && p.proto != protoUDP {
		return packet{}, errTransport
	}
	switch h.GSOType &^ GSOECN {
	case GSOTCPv4:
		if p.ipv6 || p.proto != protoTCP {
			return packet{}, errGSOMismatch
		}
	case GSOTCPv6:
		if !p.ipv6 || p.proto != protoTCP {
			return packet{}, errGSOMismatch
		}
	case GSOUDPL4:
		if p.proto != protoUDP {
			return packet{}, errGSOMismatch
		}
	case GSOUDP:
		return packet{}, errUFO
	default:
		return packet{}, errGSOType
	}
	if err := p.transport(frame); err != nil {
		return packet{}, err
	}
	if p.end != len(frame) {
		return packet{}, errPadding
	}
	if h.Flags&FlagNeedsCsum != 0 && (int(h.CsumStart) != p.l4 || int(h.CsumOffset) != p.csumOffset()) {
		return packet{}, errCsumStart
	}
	if !p.ipLengthFits(p.payload - p.l3 + min(int(h.GSOSize), p.end-p.payload)) {
		return packet{}, errSegmentLength
	}
	return p, nil
}

// segments is how many segments of at most mss bytes n bytes of payload
// make; a packet without payload is one segment.
func segments(n, mss int) int {
	if n <= mss {
		return 1
	}
	return (n + mss - 1) / mss
}

// split cuts the parsed packet p in frame into segments of at most mss
// payload bytes, as Split describes. p.end is len(frame).
func (p *packet) split(frame []byte, mss int, dst [][]byte) (int, error) {
	hdr, data := frame[:p.payload], frame[p.payload:p.end]
	n := segments(len(data), mss)
	if len(dst) < n {
		return 0, errFewBuffers
	}
	for i := range n {
		if cap(dst[i]) < len(hdr)+min(mss, len(data)-i*mss) {
			return 0, errSmallBuf
		}
	}
	var id uint16
	if !p.ipv6 {
		id = binary.BigEndian.Uint16(frame[p.l3+4:])
	}
	var seq uint32
	var flags uint8
	if p.proto == protoTCP {
		seq = binary.BigEndian.Uint32(frame[p.l4+4:])
		flags = frame[p.l4+13]
	}
	seg := *p
	for i := range n {
		chunk := data[i*mss : min((i+1)*mss, len(data))]
		s := dst[i][:len(hdr)+len(chunk)]
		copy(s, hdr)
		copy(s[len(hdr):], chunk)
		seg.end = len(s)
		if !p.ipv6 {
			binary.BigEndian.PutUint16(s[p.l3+4:], id+uint16(i))
		}
		seg.setIPLength(s, len(s)-p.l3, true)
		l4 := s[p.l4:]
		if p.proto == protoTCP {
			binary.BigEndian.PutUint32(l4[4:], seq+uint32(i*mss))
			f := flags
			if i != n-1 {
				f &^= tcpFIN | tcpPSH
			}
			if i != 0 {
				f &^= tcpCWR
			}
			l4[13] = f
		} else {
			binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
		}
		seg.setChecksum(s)
		dst[i] = s
	}
	return n, nil
}
