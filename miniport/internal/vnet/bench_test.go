package vnet_test

import (
	"fmt"
	"testing"

	"github.com/gondis/gondis/miniport/internal/vnet"
)

// bigTCPv4 is the largest IPv4 GSO frame with timestamps (TCP header of
// 32 bytes), as the kernel hands it over at MSS 1448: 65483 payload bytes,
// 46 segments.
func bigTCPv4() ([]byte, vnet.Header, layout) {
	s := spec{tcpOpts: 12, flags: 0x18, seed: 1}
	s.payload = randomBytes(1, s.maxPayload())
	return s.gsoFrame(1448)
}

func BenchmarkSum(b *testing.B) {
	for _, n := range []int{40, 1500, 65536} {
		buf := randomBytes(1, n)
		b.Run(fmt.Sprintf("%d/fast", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				vnet.Sum(buf, 0)
			}
		})
		b.Run(fmt.Sprintf("%d/naive", n), func(b *testing.B) {
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				naiveSum(buf)
			}
		})
	}
}

// BenchmarkSplit cuts a 64 KiB TCPv4 GSO frame at MSS 1448; the baseline
// only copies the same bytes into the same buffers.
func BenchmarkSplit(b *testing.B) {
	f, h, lay := bigTCPv4()
	n, _ := vnet.Segments(f, h)
	dst := buffers(n, 1514)
	b.Run("split", func(b *testing.B) {
		b.SetBytes(int64(len(f)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := vnet.Split(f, h, dst); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "segments/s")
	})
	b.Run("copy-baseline", func(b *testing.B) {
		b.SetBytes(int64(len(f)))
		b.ReportAllocs()
		hdr, data := f[:lay.pay], f[lay.pay:]
		for b.Loop() {
			for i := range n {
				chunk := data[i*1448 : min((i+1)*1448, len(data))]
				d := dst[i][:len(hdr)+len(chunk)]
				copy(d, hdr)
				copy(d[len(hdr):], chunk)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "segments/s")
	})
}

func BenchmarkComplete(b *testing.B) {
	s := spec{payload: randomBytes(1, 1448), seed: 1}
	f, h, _ := s.gsoFrame(1)
	h.GSOType = vnet.GSONone
	b.SetBytes(int64(len(f)))
	b.ReportAllocs()
	for b.Loop() {
		if err := vnet.Complete(f, h); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPrepareSend(b *testing.B) {
	f, _, lay := bigTCPv4()
	o := vnet.SendOffload{LargeSend: true, MSS: 1448, IPv4: true, TransportOffset: lay.l4}
	ndisFrame(f, lay, o, false, 0)
	var hdrs [vnet.MaxHeadersLen]byte
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := vnet.PrepareSend(f, o, hdrs[:]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSegmentSend(b *testing.B) {
	f, _, lay := bigTCPv4()
	o := vnet.SendOffload{LargeSend: true, MSS: 1448, IPv4: true, TransportOffset: lay.l4}
	ndisFrame(f, lay, o, false, 0)
	dst := buffers(46, 1514)
	b.SetBytes(int64(len(f)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := vnet.SegmentSend(f, o, dst); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(46*b.N)/b.Elapsed().Seconds(), "segments/s")
}

// TestAllocs: the hot paths, and failing, allocate nothing.
func TestAllocs(t *testing.T) {
	f, h, _ := bigTCPv4()
	n, _ := vnet.Segments(f, h)
	dst := buffers(n, 1514)
	small := spec{udp: true, payload: randomBytes(2, 500), seed: 2}
	u, uh, _ := small.gsoFrame(1)
	uh.GSOType = vnet.GSONone
	lso, llay := spec{payload: randomBytes(3, 5000), seed: 3}.build()
	o := vnet.SendOffload{LargeSend: true, MSS: 1448}
	ndisFrame(lso, llay, o, false, 0)
	var hdrs [vnet.MaxHeadersLen]byte
	var vh [vnet.HeaderLen]byte
	if _, err := vnet.Split(f, h, dst); err != nil {
		t.Fatal(err)
	}
	if _, _, err := vnet.PrepareSend(lso, o, hdrs[:]); err != nil {
		t.Fatal(err)
	}
	for name, fn := range map[string]func(){
		"Split":       func() { vnet.Split(f, h, dst) },
		"Split none":  func() { vnet.Split(u, uh, dst) },
		"Split error": func() { vnet.Split(f[:100], h, dst) },
		"Segments":    func() { vnet.Segments(f, h) },
		"Complete":    func() { vnet.Complete(u, uh) },
		"PrepareSend": func() { vnet.PrepareSend(lso, o, hdrs[:]) },
		"SegmentSend": func() { vnet.SegmentSend(lso, o, dst) },
		"codec":       func() { h.Encode(vh[:]); vnet.Decode(vh[:]) },
	} {
		if a := testing.AllocsPerRun(100, fn); a != 0 {
			t.Errorf("%s: %v allocations", name, a)
		}
	}
}
