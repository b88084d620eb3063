package vnet_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/gondis/gondis/miniport/internal/vnet"
)

// buffers makes n buffers of capacity size each.
func buffers(n, size int) [][]byte {
	dst := make([][]byte, n)
	for i := range dst {
		dst[i] = make([]byte, 0, size)
	}
	return dst
}

// checkSegments checks that segs are what cutting the large frame orig
// (with headers up to lay.pay) at mss payload bytes must give: valid
// frames, the headers of orig with only the fields that change per segment
// changed, the payload in order.
func checkSegments(orig []byte, lay layout, mss int, segs [][]byte) error {
	data := orig[lay.pay:]
	want := max(1, (len(data)+mss-1)/mss)
	if len(segs) != want {
		return fmt.Errorf("%d segments, want %d", len(segs), want)
	}
	var joined []byte
	for i, s := range segs {
		sl, err := checkFrame(s, true)
		if err != nil {
			return fmt.Errorf("segment %d: %w", i, err)
		}
		if sl != lay {
			return fmt.Errorf("segment %d: layout %+v, want %+v", i, sl, lay)
		}
		n := min(mss, len(data)-i*mss)
		if len(s)-lay.pay != n {
			return fmt.Errorf("segment %d: %d payload bytes, want %d", i, len(s)-lay.pay, n)
		}
		joined = append(joined, s[lay.pay:]...)
		// The headers as they must be: orig's, with this segment's
		// lengths, ID, sequence number and flags, checksums zeroed (they
		// were checked above).
		h := append([]byte(nil), orig[:lay.pay]...)
		got := append([]byte(nil), s[:lay.pay]...)
		if lay.ipv6 {
			be.PutUint16(h[lay.l3+4:], uint16(len(s)-lay.l3-40))
		} else {
			be.PutUint16(h[lay.l3+2:], uint16(len(s)-lay.l3))
			be.PutUint16(h[lay.l3+4:], be.Uint16(orig[lay.l3+4:])+uint16(i))
			be.PutUint16(h[lay.l3+10:], 0)
			be.PutUint16(got[lay.l3+10:], 0)
		}
		if lay.udp {
			be.PutUint16(h[lay.l4+4:], uint16(len(s)-lay.l4))
		} else {
			be.PutUint32(h[lay.l4+4:], be.Uint32(orig[lay.l4+4:])+uint32(i*mss))
			if i != len(segs)-1 {
				h[lay.l4+13] &^= 0x01 | 0x08
			}
			if i != 0 {
				h[lay.l4+13] &^= 0x80
			}
		}
		be.PutUint16(h[lay.csumField():], 0)
		be.PutUint16(got[lay.csumField():], 0)
		if !bytes.Equal(h, got) {
			return fmt.Errorf("segment %d: headers\n% x\nwant\n% x", i, got, h)
		}
	}
	if !bytes.Equal(joined, data) {
		return errors.New("payloads joined differ from the original")
	}
	return nil
}

// drawMSS draws an MSS that cuts n bytes into at most 512 segments.
func drawMSS(t *rapid.T, n int) int {
	return rapid.IntRange(max(1, n/512), 9000).Draw(t, "mss")
}

func TestSplitProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := drawSpec(t, rapid.Bool().Draw(t, "udp"), 1<<16)
		mss := drawMSS(t, len(s.payload))
		f, h, lay := s.gsoFrame(mss)
		orig := append([]byte(nil), f...)
		if rapid.Bool().Draw(t, "hintless") {
			h.HdrLen = 0 // only a hint
		}
		if rapid.Bool().Draw(t, "nocsum") {
			h.Flags = 0 // the offsets are then not checked
			h.CsumStart, h.CsumOffset = 0, 0
		}
		n, err := vnet.Segments(f, h)
		if err != nil {
			t.Fatalf("Segments: %v", err)
		}
		dst := buffers(n, lay.pay+mss)
		got, err := vnet.Split(f, h, dst)
		if err != nil || got != n {
			t.Fatalf("Split = %d, %v; Segments said %d", got, err, n)
		}
		if !bytes.Equal(f, orig) {
			t.Fatal("Split modified its input")
		}
		if err := checkSegments(orig, lay, mss, dst[:n]); err != nil {
			t.Fatal(err)
		}
	})
}

// TestSplitNone: without GSO, Split copies and completes the checksum.
func TestSplitNoneProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := drawSpec(t, rapid.Bool().Draw(t, "udp"), 3000)
		f, h, _ := s.gsoFrame(1)
		h.GSOType, h.GSOSize = vnet.GSONone, 0
		orig := append([]byte(nil), f...)
		dst := buffers(1, len(f))
		n, err := vnet.Split(f, h, dst)
		if err != nil || n != 1 {
			t.Fatalf("Split = %d, %v", n, err)
		}
		if !bytes.Equal(f, orig) {
			t.Fatal("Split modified its input")
		}
		if _, err := checkFrame(dst[0], true); err != nil {
			t.Fatal(err)
		}
		if err := vnet.Complete(f, h); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(f, dst[0]) {
			t.Fatal("Complete and Split differ")
		}
	})
}

func TestCompleteProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := drawSpec(t, rapid.Bool().Draw(t, "udp"), 3000)
		f, h, _ := s.gsoFrame(1)
		h.GSOType, h.GSOSize = vnet.GSONone, 0
		if err := vnet.Complete(f, h); err != nil {
			t.Fatal(err)
		}
		if _, err := checkFrame(f, true); err != nil {
			t.Fatal(err)
		}
	})
}

// TestCompleteUDPZero: a UDP checksum that comes out 0 is sent as 0xffff.
func TestCompleteUDPZero(t *testing.T) {
	s := spec{udp: true, payload: []byte{0, 0}, seed: 1}
	f, h, lay := s.gsoFrame(1)
	h.GSOType = vnet.GSONone
	// Choose the last payload word so that the data sums to 0xffff.
	be.PutUint16(f[lay.csumField():], 0)
	rest := onesAdd(naiveSum(pseudo(f, lay, len(f)-lay.l4)), naiveSum(f[lay.l4:]))
	be.PutUint16(f[len(f)-2:], ^rest)
	be.PutUint16(f[lay.csumField():], naiveSum(pseudo(f, lay, len(f)-lay.l4)))
	if err := vnet.Complete(f, h); err != nil {
		t.Fatal(err)
	}
	if got := be.Uint16(f[lay.csumField():]); got != 0xffff {
		t.Fatalf("UDP checksum %#04x, want 0xffff", got)
	}
	if _, err := checkFrame(f, true); err != nil {
		t.Fatal(err)
	}
}

func TestSplitExample(t *testing.T) {
	// 3000 bytes at MSS 1448 over IPv4: 1448, 1448, 104, with PSH and FIN
	// on the last segment only, CWR on the first.
	s := spec{payload: randomBytes(7, 3000), id: 0xfffe, seq: 0xfffffc00, flags: 0x80 | 0x10 | 0x08 | 0x01, seed: 3}
	f, h, lay := s.gsoFrame(1448)
	dst := buffers(3, 1514)
	n, err := vnet.Split(f, h, dst)
	if err != nil || n != 3 {
		t.Fatalf("Split = %d, %v", n, err)
	}
	for i, want := range []struct {
		len   int
		id    uint16
		seq   uint32
		flags uint8
	}{
		{lay.pay + 1448, 0xfffe, 0xfffffc00, 0x90},
		{lay.pay + 1448, 0xffff, 0xfffffc00 + 1448 - 1<<32, 0x10},
		{lay.pay + 104, 0x0000, 0xfffffc00 + 2896 - 1<<32, 0x19},
	} {
		d := dst[i]
		if len(d) != want.len || be.Uint16(d[lay.l3+4:]) != want.id ||
			be.Uint32(d[lay.l4+4:]) != want.seq || d[lay.l4+13] != want.flags {
			t.Errorf("segment %d: len %d id %#x seq %#x flags %#x, want %+v", i,
				len(d), be.Uint16(d[lay.l3+4:]), be.Uint32(d[lay.l4+4:]), d[lay.l4+13], want)
		}
		if _, err := checkFrame(d, true); err != nil {
			t.Errorf("segment %d: %v", i, err)
		}
	}
}

func TestSplitErrors(t *testing.T) {
	tcp4, h4, lay4 := spec{payload: randomBytes(1, 3000), seed: 1}.gsoFrame(1000)
	tcp6, h6, lay6 := spec{ipv6: true, tcpOpts: 12, payload: randomBytes(2, 3000), seed: 2}.gsoFrame(1000)
	udp4, hu, _ := spec{udp: true, payload: randomBytes(3, 3000), seed: 3}.gsoFrame(1000)
	edit := func(f []byte, fn func(f []byte)) []byte {
		f = append([]byte(nil), f...)
		fn(f)
		return f
	}
	hdr := func(h vnet.Header, fn func(h *vnet.Header)) vnet.Header {
		fn(&h)
		return h
	}
	arp := edit(tcp4, func(f []byte) { be.PutUint16(f[12:], 0x0806) })
	for _, c := range []struct {
		name  string
		frame []byte
		h     vnet.Header
		dst   [][]byte
		want  error
	}{
		{"ok", tcp4, h4, buffers(3, 1514), nil},
		{"ok v6", tcp6, h6, buffers(3, 1514), nil},
		{"ok udp", udp4, hu, buffers(3, 1514), nil},
		{"gso size 0", tcp4, hdr(h4, func(h *vnet.Header) { h.GSOSize = 0 }), buffers(3, 1514), vnet.ErrMalformed},
		{"few buffers", tcp4, h4, buffers(2, 1514), vnet.ErrShortBuffer},
		{"no buffers", tcp4, h4, nil, vnet.ErrShortBuffer},
		{"small buffer", tcp4, h4, buffers(3, lay4.pay+999), vnet.ErrShortBuffer},
		{"none, no buffer", tcp4, vnet.Header{}, nil, vnet.ErrShortBuffer},
		{"none, small buffer", tcp4, vnet.Header{}, buffers(1, len(tcp4)-1), vnet.ErrShortBuffer},
		{"none, csum beyond the end", tcp4, vnet.Header{Flags: vnet.FlagNeedsCsum, CsumStart: uint16(len(tcp4) - 1)}, buffers(1, len(tcp4)), vnet.ErrMalformed},
		{"none, field beyond the end", tcp4, vnet.Header{Flags: vnet.FlagNeedsCsum, CsumStart: 34, CsumOffset: uint16(len(tcp4) - 35)}, buffers(1, len(tcp4)), vnet.ErrMalformed},
		{"csum start off", tcp4, hdr(h4, func(h *vnet.Header) { h.CsumStart++ }), buffers(3, 1514), vnet.ErrMalformed},
		{"csum offset of UDP", tcp4, hdr(h4, func(h *vnet.Header) { h.CsumOffset = 6 }), buffers(3, 1514), vnet.ErrMalformed},
		{"csum start beyond", tcp4, hdr(h4, func(h *vnet.Header) { h.CsumStart = 0xffff }), buffers(3, 1514), vnet.ErrMalformed},
		{"UFO", udp4, hdr(hu, func(h *vnet.Header) { h.GSOType = vnet.GSOUDP }), buffers(3, 1514), vnet.ErrUnsupported},
		{"unknown type", tcp4, hdr(h4, func(h *vnet.Header) { h.GSOType = 2 }), buffers(3, 1514), vnet.ErrUnsupported},
		{"TCPv4 on IPv6", tcp6, hdr(h6, func(h *vnet.Header) { h.GSOType = vnet.GSOTCPv4 }), buffers(3, 1514), vnet.ErrMalformed},
		{"TCPv6 on IPv4", tcp4, hdr(h4, func(h *vnet.Header) { h.GSOType = vnet.GSOTCPv6 }), buffers(3, 1514), vnet.ErrMalformed},
		{"UDP_L4 on TCP", tcp4, hdr(h4, func(h *vnet.Header) { h.GSOType = vnet.GSOUDPL4 }), buffers(3, 1514), vnet.ErrMalformed},
		{"TCP on UDP", udp4, hdr(hu, func(h *vnet.Header) { h.GSOType = vnet.GSOTCPv4 }), buffers(3, 1514), vnet.ErrMalformed},
		{"ARP", arp, h4, buffers(3, 1514), vnet.ErrUnsupported},
		{"QinQ", edit(tcp4, func(f []byte) { be.PutUint16(f[12:], 0x88a8) }), h4, buffers(3, 1514), vnet.ErrUnsupported},
		{"IPv6 hop-by-hop", edit(tcp6, func(f []byte) { f[lay6.l3+6] = 0 }), h6, buffers(3, 1514), vnet.ErrUnsupported},
		{"IPv6 version 4", edit(tcp6, func(f []byte) { f[lay6.l3] = 0x40 }), h6, buffers(3, 1514), vnet.ErrMalformed},
		{"IPv4 version 6", edit(tcp4, func(f []byte) { f[lay4.l3] = 0x65 }), h4, buffers(3, 1514), vnet.ErrMalformed},
		{"IHL 4", edit(tcp4, func(f []byte) { f[lay4.l3] = 0x44 }), h4, buffers(3, 1514), vnet.ErrMalformed},
		{"IHL beyond the IP length", edit(tcp4, func(f []byte) { f[lay4.l3] = 0x4f; be.PutUint16(f[lay4.l3+2:], 56) })[:lay4.l3+56], h4, buffers(3, 1514), vnet.ErrMalformed},
		{"IHL beyond the frame", tcp4[:lay4.l3+19], h4, buffers(3, 1514), vnet.ErrMalformed},
		{"IPv4 length beyond", edit(tcp4, func(f []byte) { be.PutUint16(f[lay4.l3+2:], uint16(len(f)-lay4.l3+1)) }), h4, buffers(3, 1514), vnet.ErrMalformed},
		{"IPv4 length short (padding)", edit(tcp4, func(f []byte) { be.PutUint16(f[lay4.l3+2:], uint16(len(f)-lay4.l3-1)) }), h4, buffers(3, 1514), vnet.ErrMalformed},
		{"IPv6 length beyond", edit(tcp6, func(f []byte) { be.PutUint16(f[lay6.l3+4:], uint16(len(f)-lay6.l4+1)) }), h6, buffers(3, 1514), vnet.ErrMalformed},
		{"fragment", edit(tcp4, func(f []byte) { f[lay4.l3+6] |= 0x20 }), h4, buffers(3, 1514), vnet.ErrMalformed},
		{"TCP offset 4", edit(tcp4, func(f []byte) { f[lay4.l4+12] = 0x40 }), h4, buffers(3, 1514), vnet.ErrMalformed},
		{"TCP offset beyond", edit(tcp4, func(f []byte) { f[lay4.l4+12] = 0xf0; be.PutUint16(f[lay4.l3+2:], 60) })[:lay4.l4+40], h4, buffers(3, 1514), vnet.ErrMalformed},
		{"TCP header beyond", edit(tcp4, func(f []byte) { be.PutUint16(f[lay4.l3+2:], 39) })[:lay4.l4+19], h4, buffers(3, 1514), vnet.ErrMalformed},
		{"UDP header beyond", edit(udp4, func(f []byte) { be.PutUint16(f[lay4.l3+2:], 27) })[:lay4.l4+7], hu, buffers(3, 1514), vnet.ErrMalformed},
		{"IPv6 header beyond", tcp6[:lay6.l3+39], h6, buffers(3, 1514), vnet.ErrMalformed},
		{"VLAN tag beyond", edit(tcp4, func(f []byte) { be.PutUint16(f[12:], 0x8100) })[:17], h4, buffers(3, 1514), vnet.ErrMalformed},
		{"no Ethernet header", tcp4[:13], h4, buffers(3, 1514), vnet.ErrMalformed},
		{"segment over 64K", tcp6, hdr(h6, func(h *vnet.Header) { h.GSOSize = 0xffff }), buffers(1, 1<<17), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			orig := append([]byte(nil), c.frame...)
			n, err := vnet.Split(c.frame, c.h, c.dst)
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Fatalf("Split = %d, %v; want %v", n, err, c.want)
			}
			if !bytes.Equal(c.frame, orig) {
				t.Fatal("Split modified its input")
			}
			if _, serr := vnet.Segments(c.frame, c.h); c.want != vnet.ErrShortBuffer && !errors.Is(serr, c.want) {
				t.Fatalf("Segments: %v, Split: %v", serr, err)
			}
		})
	}
}

// TestSplitTruncated: every strict prefix of a GSO frame is an error, not
// a panic.
func TestSplitTruncated(t *testing.T) {
	for _, s := range []spec{
		{payload: randomBytes(1, 300), ipOpts: 8, tcpOpts: 12, seed: 1},
		{ipv6: true, vlan: true, payload: randomBytes(2, 300), seed: 2},
		{udp: true, vlan: true, payload: randomBytes(3, 300), seed: 3},
	} {
		f, h, _ := s.gsoFrame(100)
		dst := buffers(4, len(f))
		for k := range len(f) {
			if n, err := vnet.Split(f[:k], h, dst); err == nil {
				t.Fatalf("Split of %d of %d bytes = %d, nil", k, len(f), n)
			}
		}
	}
}

// TestSplitIPv4Limit: a segment must fit IPv4's total length.
func TestSplitIPv4Limit(t *testing.T) {
	s := spec{payload: randomBytes(1, 0xffff-40), seed: 1}
	f, h, _ := s.gsoFrame(0xffff)
	be.PutUint16(f[14+2:], 0) // BIG TCP: the length from the frame
	f = append(f, randomBytes(2, 100)...)
	if _, err := vnet.Split(f, h, buffers(2, 1<<17)); !errors.Is(err, vnet.ErrMalformed) {
		t.Fatalf("Split: %v", err)
	}
	h.GSOSize = 0xffff - 40
	n, err := vnet.Split(f, h, buffers(2, 1<<17))
	if err != nil || n != 2 {
		t.Fatalf("Split = %d, %v", n, err)
	}
}

func TestHeaderCodec(t *testing.T) {
	h := vnet.Header{Flags: 1, GSOType: 0x84, HdrLen: 0x0102, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	var b [vnet.HeaderLen]byte
	if err := h.Encode(b[:]); err != nil {
		t.Fatal(err)
	}
	// The host's order: compare with the fields written by hand.
	var want [vnet.HeaderLen]byte
	want[0], want[1] = 1, 0x84
	for i, v := range []uint16{0x0102, 1448, 34, 16} {
		nativePut(want[2+2*i:], v)
	}
	if b != want {
		t.Fatalf("Encode = % x, want % x", b, want)
	}
	got, err := vnet.Decode(b[:])
	if err != nil || got != h {
		t.Fatalf("Decode = %+v, %v", got, err)
	}
	if _, err := vnet.Decode(b[:9]); !errors.Is(err, vnet.ErrMalformed) {
		t.Errorf("Decode(9 bytes): %v", err)
	}
	if err := h.Encode(b[:9]); !errors.Is(err, vnet.ErrShortBuffer) {
		t.Errorf("Encode(9 bytes): %v", err)
	}
}
