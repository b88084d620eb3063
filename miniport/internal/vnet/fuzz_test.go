package vnet_test

import (
	"bytes"
	"testing"

	"github.com/gondis/gondis/miniport/internal/vnet"
)

// seedFrames are valid frames of every kind the package handles.
func seedFrames() []spec {
	return []spec{
		{payload: randomBytes(1, 3000), flags: 0x99, seed: 1},
		{ipOpts: 12, tcpOpts: 20, vlan: true, payload: randomBytes(2, 1000), seed: 2},
		{ipv6: true, payload: randomBytes(3, 2000), flags: 0x80, seed: 3},
		{ipv6: true, vlan: true, tcpOpts: 40, payload: randomBytes(4, 10), seed: 4},
		{udp: true, payload: randomBytes(5, 1500), seed: 5},
		{udp: true, ipv6: true, payload: randomBytes(6, 999), seed: 6},
		{payload: nil, seed: 7},
	}
}

// trim cuts a frame that parseFrame accepts but for padding after the IP
// packet to the IP packet.
func trim(f []byte) []byte {
	l3 := 14
	if len(f) >= 18 && be.Uint16(f[12:]) == 0x8100 {
		l3 = 18
	}
	if len(f) < l3+40 {
		if len(f) >= l3+20 && f[l3]>>4 == 4 {
			if n := l3 + int(be.Uint16(f[l3+2:])); n <= len(f) {
				return f[:n]
			}
		}
		return f
	}
	var n int
	switch f[l3] >> 4 {
	case 4:
		n = l3 + int(be.Uint16(f[l3+2:]))
	case 6:
		n = l3 + 40 + int(be.Uint16(f[l3+4:]))
	default:
		return f
	}
	if n <= len(f) {
		return f[:n]
	}
	return f
}

func FuzzSplit(f *testing.F) {
	for i, s := range seedFrames() {
		fr, h, _ := s.gsoFrame(100 + 300*i)
		f.Add(fr, h.Flags, h.GSOType, h.HdrLen, h.GSOSize, h.CsumStart, h.CsumOffset)
		f.Add(fr, uint8(0), uint8(0), uint16(0), uint16(0), uint16(0), uint16(0))
		f.Add(fr, vnet.FlagNeedsCsum, uint8(0), uint16(0), uint16(0), h.CsumStart, h.CsumOffset)
		f.Add(fr[:len(fr)/2], h.Flags, h.GSOType, h.HdrLen, h.GSOSize, h.CsumStart, h.CsumOffset)
		f.Add(fr, h.Flags, vnet.GSOUDP, h.HdrLen, uint16(1), h.CsumStart, h.CsumOffset)
	}
	f.Add([]byte{}, uint8(1), uint8(1), uint16(0), uint16(1), uint16(0), uint16(0))
	f.Fuzz(func(t *testing.T, frame []byte, flags, gsoType uint8, hdrLen, gsoSize, csumStart, csumOffset uint16) {
		h := vnet.Header{Flags: flags, GSOType: gsoType, HdrLen: hdrLen, GSOSize: gsoSize, CsumStart: csumStart, CsumOffset: csumOffset}
		orig := append([]byte(nil), frame...)
		n, serr := vnet.Segments(frame, h)
		size := len(frame)
		if h.GSOType != vnet.GSONone {
			size = min(size, vnet.MaxHeadersLen+int(gsoSize))
		}
		if serr == nil && n*size > 1<<23 {
			return // a frame the fuzzer made huge: keep the buffers small
		}
		dst := buffers(max(n, 1), size)
		got, err := vnet.Split(frame, h, dst)
		if !bytes.Equal(frame, orig) {
			t.Fatal("Split modified its input")
		}
		if serr != nil {
			if err != serr {
				t.Fatalf("Segments: %v, but Split: %v", serr, err)
			}
			return
		}
		if err != nil || got != n {
			t.Fatalf("Split = %d, %v; Segments said %d", got, err, n)
		}
		if h.GSOType == vnet.GSONone {
			return
		}
		for i, s := range dst[:n] {
			if _, err := checkFrame(s, true); err != nil {
				t.Fatalf("segment %d of %d: %v", i, n, err)
			}
		}
		if n > 0 {
			if _, err := vnet.Split(frame, h, dst[:n-1]); err == nil {
				t.Fatal("Split into too few buffers succeeded")
			}
		}
	})
}

func FuzzPrepareSend(f *testing.F) {
	for i, s := range seedFrames() {
		fr, lay := s.build()
		for _, o := range []vnet.SendOffload{
			{LargeSend: true, MSS: 100 + 200*i, TransportOffset: lay.l4},
			{TCPChecksum: !s.udp, UDPChecksum: s.udp, IPChecksum: !s.ipv6},
			{IPChecksum: true},
			{},
		} {
			g := append([]byte(nil), fr...)
			ndisFrame(g, lay, o, false, 0xdead)
			f.Add(g, offloadBits(o), uint16(o.MSS), uint16(o.TransportOffset))
		}
	}
	f.Add([]byte("0"), uint8(0), uint16(100), uint16(108))
	f.Add([]byte{}, uint8(0x0f), uint16(1), uint16(0))
	f.Fuzz(func(t *testing.T, frame []byte, bits uint8, mss, offset uint16) {
		o := vnet.SendOffload{
			LargeSend:       bits&1 != 0,
			TCPChecksum:     bits&2 != 0,
			UDPChecksum:     bits&4 != 0,
			IPChecksum:      bits&8 != 0,
			IPv4:            bits&16 != 0,
			IPv6:            bits&32 != 0,
			MSS:             int(mss),
			TransportOffset: int(offset),
		}
		transport := o.LargeSend || o.TCPChecksum || o.UDPChecksum
		orig := append([]byte(nil), frame...)
		var hdrs [vnet.MaxHeadersLen]byte
		h, n, err := vnet.PrepareSend(frame, o, hdrs[:])
		if !bytes.Equal(frame, orig) {
			t.Fatal("PrepareSend modified the frame")
		}
		if err == nil && (transport || o.IPChecksum) {
			wire := append(append([]byte(nil), hdrs[:n]...), frame[n:]...)
			frames, err := kernel(wire, h)
			// The kernel drops a bad IPv4 header checksum that was not
			// the miniport's to compute.
			ipCsum := o.IPChecksum || o.LargeSend
			if err != nil && (ipCsum || !badIPv4Checksum(trim(frame))) {
				t.Fatalf("the kernel model refuses %+v, hdrLen %d: %v", h, n, err)
			}
			for i, fr := range frames {
				if _, err := checkFrame(trim(fr), transport); err != nil && (ipCsum || !badIPv4Checksum(trim(frame))) {
					t.Fatalf("frame %d of %d: %v", i, len(frames), err)
				}
			}
		}
		if len(frame) > 1<<17 {
			return // a frame the fuzzer made huge: keep the buffers small
		}
		dst := buffers(1, len(frame))
		if o.LargeSend && o.MSS > 0 {
			dst = buffers(len(frame)/o.MSS+1, min(len(frame), vnet.MaxHeadersLen+o.MSS))
		}
		cnt, serr := vnet.SegmentSend(frame, o, dst)
		if !bytes.Equal(frame, orig) {
			t.Fatal("SegmentSend modified the frame")
		}
		if serr != nil {
			return
		}
		for i, fr := range dst[:cnt] {
			if o.IPChecksum || transport {
				if _, err := checkFrame(trim(fr), transport); err != nil && (o.IPChecksum || o.LargeSend || !badIPv4Checksum(trim(frame))) {
					t.Fatalf("frame %d of %d: %v", i, cnt, err)
				}
			} else if !bytes.Equal(fr, frame) {
				t.Fatal("a frame without offload changed")
			}
		}
	})
}

func offloadBits(o vnet.SendOffload) uint8 {
	var b uint8
	for i, v := range []bool{o.LargeSend, o.TCPChecksum, o.UDPChecksum, o.IPChecksum, o.IPv4, o.IPv6} {
		if v {
			b |= 1 << i
		}
	}
	return b
}

// badIPv4Checksum reports whether f is IPv4 with a header checksum that
// does not verify, or with a length field of 0 (which the miniport fills
// in, and so the checksum with it).
func badIPv4Checksum(f []byte) bool {
	l3 := 14
	if len(f) >= 18 && be.Uint16(f[12:]) == 0x8100 {
		l3 = 18
	}
	if len(f) < l3+20 || f[l3]>>4 != 4 {
		return false
	}
	ihl := int(f[l3]&15) * 4
	return ihl >= 20 && len(f) >= l3+ihl && naiveSum(f[l3:l3+ihl]) != 0xffff
}
