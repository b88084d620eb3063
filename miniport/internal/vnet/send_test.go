package vnet_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/gondis/gondis/miniport/internal/vnet"
)

// ndisFrame turns a built frame into what an NDIS protocol hands a
// miniport with the offload o: for a large send the IP length field 0
// (LSOv2) or whole (LSOv1), the IPv4 header checksum left to the miniport
// and the TCP checksum field holding the pseudo-header sum without the
// length; for checksum offload the pseudo-header sum with the length; the
// checksums not offloaded computed by the protocol. garbage fills the
// fields the miniport is to compute.
func ndisFrame(f []byte, lay layout, o vnet.SendOffload, lsov1 bool, garbage uint16) {
	field := lay.csumField()
	switch {
	case o.LargeSend:
		be.PutUint16(f[field:], naiveSum(pseudo(f, lay, -1)))
	case o.TCPChecksum || o.UDPChecksum:
		be.PutUint16(f[field:], naiveSum(pseudo(f, lay, len(f)-lay.l4)))
	default:
		be.PutUint16(f[field:], 0)
		c := ^naiveSum(append(pseudo(f, lay, len(f)-lay.l4), f[lay.l4:]...))
		if c == 0 && lay.udp {
			c = 0xffff
		}
		be.PutUint16(f[field:], c)
	}
	if o.LargeSend && !lsov1 {
		if lay.ipv6 {
			be.PutUint16(f[lay.l3+4:], 0)
		} else {
			be.PutUint16(f[lay.l3+2:], 0)
		}
	}
	if !lay.ipv6 && (o.LargeSend || o.IPChecksum) {
		be.PutUint16(f[lay.l3+10:], garbage)
	}
}

type sendCase struct {
	f   []byte
	lay layout
	o   vnet.SendOffload
}

// drawSend draws a frame as an NDIS protocol sends it, with offload.
func drawSend(t *rapid.T) sendCase {
	var o vnet.SendOffload
	kind := rapid.SampledFrom([]string{"lso", "tcp", "udp", "ip", "none"}).Draw(t, "kind")
	udp := kind == "udp" || (kind == "ip" || kind == "none") && rapid.Bool().Draw(t, "udp")
	s := drawSpec(t, udp, 1<<16)
	f, lay := s.build()
	switch kind {
	case "lso":
		o.LargeSend = true
		o.MSS = drawMSS(t, len(s.payload))
		o.TCPChecksum = rapid.Bool().Draw(t, "tcpcsum")
		o.IPChecksum = !s.ipv6 && rapid.Bool().Draw(t, "ipcsum")
	case "tcp":
		o.TCPChecksum = true
		o.IPChecksum = !s.ipv6 && rapid.Bool().Draw(t, "ipcsum")
	case "udp":
		o.UDPChecksum = true
		o.IPChecksum = !s.ipv6 && rapid.Bool().Draw(t, "ipcsum")
	case "ip":
		o.IPChecksum = !s.ipv6
	}
	if rapid.Bool().Draw(t, "declared") {
		o.IPv4, o.IPv6 = !s.ipv6, s.ipv6
	}
	if rapid.Bool().Draw(t, "offset") {
		o.TransportOffset = lay.l4
	}
	ndisFrame(f, lay, o, rapid.Bool().Draw(t, "lsov1"), rapid.Uint16().Draw(t, "garbage"))
	return sendCase{f, lay, o}
}

// checkSend checks the frames that result from sending c: those of the
// kernel model after PrepareSend, or those of SegmentSend.
func checkSend(c sendCase, orig []byte, frames [][]byte) error {
	if c.o.LargeSend {
		return checkSegments(orig, c.lay, c.o.MSS, frames)
	}
	if len(frames) != 1 {
		return fmt.Errorf("%d frames, want 1", len(frames))
	}
	got := frames[0]
	if _, err := checkFrame(got, true); err != nil {
		return err
	}
	// Only checksums (and the length fields, already right) may change.
	want, gotz := append([]byte(nil), orig...), append([]byte(nil), got...)
	for _, b := range [][]byte{want, gotz} {
		be.PutUint16(b[c.lay.csumField():], 0)
		if !c.lay.ipv6 {
			be.PutUint16(b[c.lay.l3+10:], 0)
		}
	}
	if !bytes.Equal(want, gotz) {
		return errors.New("frame changed beyond its checksums")
	}
	if !c.o.TCPChecksum && !c.o.UDPChecksum && !c.o.IPChecksum && !bytes.Equal(got, orig) {
		return errors.New("frame without offload changed")
	}
	return nil
}

func TestPrepareSendProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := drawSend(t)
		orig := append([]byte(nil), c.f...)
		var hdrs [vnet.MaxHeadersLen]byte
		h, n, err := vnet.PrepareSend(c.f, c.o, hdrs[:])
		if err != nil {
			t.Fatalf("PrepareSend: %v", err)
		}
		if !bytes.Equal(c.f, orig) {
			t.Fatal("PrepareSend modified the frame")
		}
		o := c.o
		transport := o.LargeSend || o.TCPChecksum || o.UDPChecksum
		switch {
		case transport:
			want := vnet.Header{Flags: vnet.FlagNeedsCsum, HdrLen: uint16(c.lay.pay),
				CsumStart: uint16(c.lay.l4), CsumOffset: uint16(c.lay.csumField() - c.lay.l4)}
			if o.LargeSend && len(c.f)-c.lay.pay > o.MSS {
				want.GSOType, want.GSOSize = vnet.GSOTCPv4, uint16(o.MSS)
				if c.lay.ipv6 {
					want.GSOType = vnet.GSOTCPv6
				}
				if c.f[c.lay.l4+13]&0x80 != 0 {
					want.GSOType |= vnet.GSOECN
				}
			}
			if h != want || n != c.lay.pay {
				t.Fatalf("PrepareSend = %+v, %d; want %+v, %d", h, n, want, c.lay.pay)
			}
		case o.IPChecksum:
			if h != (vnet.Header{}) || n != c.lay.l4 {
				t.Fatalf("PrepareSend = %+v, %d; want the zero header, %d", h, n, c.lay.l4)
			}
		default:
			if h != (vnet.Header{}) || n != 0 {
				t.Fatalf("PrepareSend = %+v, %d; want the zero header, 0", h, n)
			}
		}
		wire := append(append([]byte(nil), hdrs[:n]...), c.f[n:]...)
		frames, err := kernel(wire, h)
		if err != nil {
			t.Fatalf("the kernel model refuses the frame: %v", err)
		}
		if err := checkSend(c, orig, frames); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSegmentSendProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := drawSend(t)
		orig := append([]byte(nil), c.f...)
		count := 1
		if c.o.LargeSend {
			count = max(1, (len(c.f)-c.lay.pay+c.o.MSS-1)/c.o.MSS)
		}
		dst := buffers(count, max(len(c.f), c.lay.pay+c.o.MSS))
		n, err := vnet.SegmentSend(c.f, c.o, dst)
		if err != nil || n != count {
			t.Fatalf("SegmentSend = %d, %v; want %d", n, err, count)
		}
		if !bytes.Equal(c.f, orig) {
			t.Fatal("SegmentSend modified the frame")
		}
		if err := checkSend(c, orig, dst[:n]); err != nil {
			t.Fatal(err)
		}
	})
}

// TestPrepareSendConvention pins the checksum field of a large send down
// to the value Linux wants, computed by hand for a fixed frame: the
// folded, not complemented, pseudo-header sum with the TCP length.
func TestPrepareSendConvention(t *testing.T) {
	s := spec{payload: randomBytes(1, 4000), seed: 1}
	f, lay := s.build()
	o := vnet.SendOffload{LargeSend: true, MSS: 1460, IPv4: true, TransportOffset: lay.l4}
	ndisFrame(f, lay, o, false, 0)
	var hdrs [vnet.MaxHeadersLen]byte
	h, n, err := vnet.PrepareSend(f, o, hdrs[:])
	if err != nil {
		t.Fatal(err)
	}
	// Source and destination, 0 and protocol 6, TCP length 20 + 4000.
	var ph []byte
	ph = append(ph, f[lay.l3+12:lay.l3+20]...)
	ph = append(ph, 0, 6, byte(4020>>8), byte(4020&0xff))
	if got, want := be.Uint16(hdrs[lay.csumField():]), naiveSum(ph); got != want {
		t.Errorf("TCP checksum field %#04x, want %#04x (its complement would be %#04x)", got, want, ^want)
	}
	if got := be.Uint16(hdrs[lay.l3+2:]); got != uint16(len(f)-lay.l3) {
		t.Errorf("IPv4 total length %d, want %d", got, len(f)-lay.l3)
	}
	if naiveSum(hdrs[lay.l3:lay.l4]) != 0xffff {
		t.Error("IPv4 header checksum does not verify")
	}
	want := vnet.Header{Flags: vnet.FlagNeedsCsum, GSOType: vnet.GSOTCPv4, HdrLen: 54, GSOSize: 1460, CsumStart: 34, CsumOffset: 16}
	if h != want || n != 54 {
		t.Errorf("PrepareSend = %+v, %d; want %+v, 54", h, n, want)
	}
}

func TestPrepareSendErrors(t *testing.T) {
	tcp4, lay4 := spec{payload: randomBytes(1, 3000), seed: 1}.build()
	tcp6, lay6 := spec{ipv6: true, payload: randomBytes(2, 3000), seed: 2}.build()
	udp4, _ := spec{udp: true, payload: randomBytes(3, 100), seed: 3}.build()
	big4, _ := spec{payload: randomBytes(4, 70000), seed: 4}.build()
	be.PutUint16(big4[lay4.l3+2:], 0)
	lso := vnet.SendOffload{LargeSend: true, MSS: 1000}
	padded := append(append([]byte(nil), udp4...), 0, 0, 0, 0)
	for _, c := range []struct {
		name    string
		frame   []byte
		o       vnet.SendOffload
		hdrs    int
		want    error
		segWant error // SegmentSend's, when it differs
	}{
		{"ok", tcp4, lso, vnet.MaxHeadersLen, nil, nil},
		{"no offload", tcp4, vnet.SendOffload{}, 0, nil, nil},
		{"short hdrs", tcp4, lso, lay4.pay - 1, vnet.ErrShortBuffer, nil},
		{"MSS 0", tcp4, vnet.SendOffload{LargeSend: true}, vnet.MaxHeadersLen, vnet.ErrMalformed, vnet.ErrMalformed},
		{"MSS too big", tcp4, vnet.SendOffload{LargeSend: true, MSS: 1 << 16}, vnet.MaxHeadersLen, vnet.ErrMalformed, vnet.ErrMalformed},
		{"IPv4 said of IPv6", tcp6, vnet.SendOffload{LargeSend: true, MSS: 1000, IPv4: true}, vnet.MaxHeadersLen, vnet.ErrMalformed, vnet.ErrMalformed},
		{"IPv6 said of IPv4", tcp4, vnet.SendOffload{TCPChecksum: true, IPv6: true}, vnet.MaxHeadersLen, vnet.ErrMalformed, vnet.ErrMalformed},
		{"IP checksum of IPv6", tcp6, vnet.SendOffload{IPChecksum: true}, vnet.MaxHeadersLen, vnet.ErrMalformed, vnet.ErrMalformed},
		{"UDP large send", udp4, vnet.SendOffload{LargeSend: true, MSS: 1000}, vnet.MaxHeadersLen, vnet.ErrMalformed, vnet.ErrMalformed},
		{"TCP and UDP", udp4, vnet.SendOffload{TCPChecksum: true, UDPChecksum: true}, vnet.MaxHeadersLen, vnet.ErrMalformed, vnet.ErrMalformed},
		{"UDP said of TCP", tcp4, vnet.SendOffload{UDPChecksum: true}, vnet.MaxHeadersLen, vnet.ErrMalformed, vnet.ErrMalformed},
		{"offset off", tcp4, vnet.SendOffload{TCPChecksum: true, TransportOffset: lay4.l4 + 4}, vnet.MaxHeadersLen, vnet.ErrMalformed, vnet.ErrMalformed},
		{"IPv6 extension header", func() []byte {
			f := append([]byte(nil), tcp6...)
			f[lay6.l3+6] = 43
			return f
		}(), vnet.SendOffload{TCPChecksum: true}, vnet.MaxHeadersLen, vnet.ErrUnsupported, vnet.ErrUnsupported},
		{"not IP", append([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x08, 0x06}, make([]byte, 28)...), vnet.SendOffload{IPChecksum: true}, vnet.MaxHeadersLen, vnet.ErrUnsupported, vnet.ErrUnsupported},
		{"padded checksum offload", padded, vnet.SendOffload{UDPChecksum: true}, vnet.MaxHeadersLen, vnet.ErrUnsupported, nil},
		{"padded large send", append(append([]byte(nil), tcp4...), 0, 0), lso, vnet.MaxHeadersLen, vnet.ErrMalformed, vnet.ErrMalformed},
		{"over 64K", big4, lso, vnet.MaxHeadersLen, vnet.ErrUnsupported, nil},
		{"truncated", tcp4[:lay4.l4+10], lso, vnet.MaxHeadersLen, vnet.ErrMalformed, vnet.ErrMalformed},
	} {
		t.Run(c.name, func(t *testing.T) {
			orig := append([]byte(nil), c.frame...)
			hdrs := make([]byte, c.hdrs)
			if _, _, err := vnet.PrepareSend(c.frame, c.o, hdrs); !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Errorf("PrepareSend: %v, want %v", err, c.want)
			}
			n, err := vnet.SegmentSend(c.frame, c.o, buffers(80, 1<<17))
			if !errors.Is(err, c.segWant) || (c.segWant == nil) != (err == nil) {
				t.Errorf("SegmentSend = %d, %v; want %v", n, err, c.segWant)
			}
			if !bytes.Equal(c.frame, orig) {
				t.Error("the frame was modified")
			}
		})
	}
}

func TestSegmentSendShortBuffers(t *testing.T) {
	tcp4, lay4 := spec{payload: randomBytes(1, 3000), seed: 1}.build()
	lso := vnet.SendOffload{LargeSend: true, MSS: 1000}
	for _, c := range []struct {
		name string
		o    vnet.SendOffload
		dst  [][]byte
	}{
		{"few", lso, buffers(2, 1514)},
		{"small", lso, buffers(3, lay4.pay+999)},
		{"none", vnet.SendOffload{TCPChecksum: true}, nil},
		{"small one", vnet.SendOffload{TCPChecksum: true}, buffers(1, len(tcp4)-1)},
		{"no offload", vnet.SendOffload{}, buffers(1, len(tcp4)-1)},
	} {
		if _, err := vnet.SegmentSend(tcp4, c.o, c.dst); !errors.Is(err, vnet.ErrShortBuffer) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}
