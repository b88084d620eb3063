package vnet_test

import (
	"testing"

	"pgregory.net/rapid"

	"github.com/gondis/gondis/miniport/internal/vnet"
)

func TestSumKnown(t *testing.T) {
	for _, c := range []struct {
		in   []byte
		init uint16
		want uint16
	}{
		{nil, 0, 0},
		{[]byte{0x12}, 0, 0x1200},
		{[]byte{0x12, 0x34}, 0, 0x1234},
		{[]byte{0xff, 0xff}, 0, 0xffff},
		{[]byte{0xff, 0xff, 0x00, 0x01}, 0, 0x0001},
		{[]byte{0x80, 0x00, 0x80, 0x00}, 0, 0x0001},
		{[]byte{0x00, 0x01}, 0xffff, 0x0001},
		// RFC 1071, 3: the example's sum is ddf2.
		{[]byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}, 0, 0xddf2},
		// An IPv4 header whose checksum (b1e6) verifies.
		{[]byte{0x45, 0x00, 0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06,
			0xb1, 0xe6, 0xac, 0x10, 0x0a, 0x63, 0xac, 0x10, 0x0a, 0x0c}, 0, 0xffff},
	} {
		if got := vnet.Sum(c.in, c.init); got != c.want {
			t.Errorf("Sum(% x, %#x) = %#04x, want %#04x", c.in, c.init, got, c.want)
		}
	}
}

// TestSumMatchesNaive checks Sum against the 16-bit loop for every
// length, alignment and initial value, with all-ones runs that make the
// 64-bit accumulator carry.
func TestSumMatchesNaive(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 300).Draw(t, "n")
		off := rapid.IntRange(0, 7).Draw(t, "off")
		b := make([]byte, off+n)
		switch rapid.IntRange(0, 2).Draw(t, "fill") {
		case 0:
			copy(b, randomBytes(rapid.Uint64().Draw(t, "seed"), len(b)))
		case 1:
			for i := range b {
				b[i] = 0xff
			}
		case 2:
			copy(b, rapid.SliceOfN(rapid.Byte(), len(b), len(b)).Draw(t, "b"))
		}
		b = b[off:]
		init := rapid.Uint16().Draw(t, "init")
		want := onesAdd(naiveSum(b), init)
		if got := vnet.Sum(b, init); got != want {
			t.Fatalf("Sum(%d bytes, %#x) = %#04x, naive %#04x", len(b), init, got, want)
		}
	})
}

// TestSumZero: only all-zero data sums to 0, as with the naive loop.
func TestSumZero(t *testing.T) {
	if got := vnet.Sum(make([]byte, 100), 0); got != 0 {
		t.Errorf("Sum(zeros) = %#x", got)
	}
	b := []byte{0xff, 0xfe, 0x00, 0x01, 0, 0, 0, 0, 0, 0}
	if got, want := vnet.Sum(b, 0), naiveSum(b); got != want {
		t.Errorf("Sum = %#x, naive %#x", got, want)
	}
}

func TestPseudoHeaderSum(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		v6 := rapid.Bool().Draw(t, "v6")
		n := 4
		if v6 {
			n = 16
		}
		src := rapid.SliceOfN(rapid.Byte(), n, n).Draw(t, "src")
		dst := rapid.SliceOfN(rapid.Byte(), n, n).Draw(t, "dst")
		proto := rapid.SampledFrom([]uint8{6, 17}).Draw(t, "proto")
		length := rapid.IntRange(0, 0xffff).Draw(t, "length")
		// The pseudo-header as RFC 793 and RFC 8200 lay it out.
		ph := append(append([]byte(nil), src...), dst...)
		if v6 {
			ph = append(ph, 0, 0, byte(length>>8), byte(length), 0, 0, 0, proto)
		} else {
			ph = append(ph, 0, proto, byte(length>>8), byte(length))
		}
		if got, want := vnet.PseudoHeaderSum(src, dst, proto, uint32(length)), naiveSum(ph); got != want {
			t.Fatalf("PseudoHeaderSum = %#04x, want %#04x", got, want)
		}
	})
}
