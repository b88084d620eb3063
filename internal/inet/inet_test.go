package inet

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/gondis/gondis/ndis"
)

// A captured IPv4 header (UDP, DF set) with its checksum, 0xb861.
var goldenIPv4 = []byte{0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61,
	0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7}

func TestChecksum(t *testing.T) {
	if c := Checksum(goldenIPv4, 0); c != 0 {
		t.Errorf("Checksum over a right header = %#04x, want 0", c)
	}
	if s := Sum(goldenIPv4, 0); s != 0xffff {
		t.Errorf("Sum over a right header = %#04x, want 0xffff", s)
	}
	h := bytes.Clone(goldenIPv4)
	h[10], h[11] = 0, 0
	if c := Checksum(h, 0); c != 0xb861 {
		t.Errorf("Checksum = %#04x, want 0xb861", c)
	}
	// An odd length pads with a zero byte; a carry folds back in.
	if c := Checksum([]byte{0xff, 0xff, 0x01}, 0); c != ^uint16(0x0100) {
		t.Errorf("odd length: %#04x", c)
	}
	if s := Sum(nil, 0x1ffff); s != 1 { // 0xffff + 1, folded twice
		t.Errorf("fold: %#04x", s)
	}
}

func TestPutIPv4Header(t *testing.T) {
	b := bytes.Repeat([]byte{0xa5}, IPv4HeaderSize+1)
	PutIPv4Header(b, ProtoUDP, [4]byte{192, 168, 0, 1}, [4]byte{192, 168, 0, 199}, 0x73-IPv4HeaderSize)
	want := bytes.Clone(goldenIPv4)
	want[6] = 0 // no DF
	binary.BigEndian.PutUint16(want[10:], 0)
	binary.BigEndian.PutUint16(want[10:], Checksum(want, 0))
	if !bytes.Equal(b[:IPv4HeaderSize], want) {
		t.Errorf("header\n%x, want\n%x", b[:IPv4HeaderSize], want)
	}
	if b[IPv4HeaderSize] != 0xa5 {
		t.Error("wrote past the header")
	}
}

func TestPutEthernetARP(t *testing.T) {
	mac := ndis.MacAddress{2, 0, 0, 0, 0, 1}
	b := make([]byte, ndis.EthernetHeaderSize+ARPSize)
	PutEthernet(b, ndis.BroadcastAddress, mac, EtherTypeARP)
	PutARP(b[ndis.EthernetHeaderSize:], ARPOpRequest, mac, [4]byte{10, 0, 0, 1}, ndis.MacAddress{}, [4]byte{10, 0, 0, 2})
	want := []byte{
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06,
		0, 1, 0x08, 0x00, 6, 4, 0, 1,
		2, 0, 0, 0, 0, 1, 10, 0, 0, 1,
		0, 0, 0, 0, 0, 0, 10, 0, 0, 2,
	}
	if !bytes.Equal(b, want) {
		t.Errorf("frame\n%x, want\n%x", b, want)
	}
}

// TestPseudoHeaderSum checks the sum against the pseudo-header written out
// byte by byte.
func TestPseudoHeaderSum(t *testing.T) {
	src, dst := [4]byte{10, 255, 0, 1}, [4]byte{172, 16, 254, 3}
	ph := append(append(append(src[:0:0], src[:]...), dst[:]...), 0, ProtoUDP, 0x01, 0x2c)
	if got, want := Sum(nil, PseudoHeaderSum(src, dst, ProtoUDP, 300)), Sum(ph, 0); got != want {
		t.Errorf("PseudoHeaderSum folds to %#04x, the pseudo-header sums to %#04x", got, want)
	}
}
