package ndistest

import "testing"

// ReportPackets reports a datapath benchmark's rate: packets per second and
// nanoseconds per packet, for packets moved in b's elapsed time.
func ReportPackets(b *testing.B, packets int) {
	b.ReportMetric(float64(packets)/b.Elapsed().Seconds(), "pkts/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(packets), "ns/pkt")
}

// PerPacketChannel is the baseline the datapath benchmarks run beside
// themselves: b.N batches of batch frames through a buffered Go channel of
// the given capacity, one frame per channel operation, from the benchmark's
// goroutine to a consumer goroutine that reads each frame. Frames are sent
// in turn from frames. It reports as ReportPackets does.
func PerPacketChannel(b *testing.B, frames [][]byte, capacity, batch int) {
	ch := make(chan []byte, capacity)
	done := make(chan int)
	go func() {
		n, sum := 0, byte(0)
		for f := range ch {
			sum += f[0]
			n++
		}
		_ = sum
		done <- n
	}()
	b.ReportAllocs()
	b.ResetTimer()
	total := b.N * batch
	for i := range total {
		ch <- frames[i%len(frames)]
	}
	close(ch)
	n := <-done
	b.StopTimer()
	if n != total {
		b.Fatalf("received %d packets, sent %d", n, total)
	}
	ReportPackets(b, total)
}
