package loopback_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gondis/gondis/miniport/loopback"
	"github.com/gondis/gondis/ndis"
)

// The datapath benchmark of DESIGN.md §7, beside its baseline. In both, one
// b.N iteration is one batch of benchBatch packets of benchFrameSize bytes:
// ns/op is the time per batch, allocs/op the allocations per batch, and
// pkts/s = b.N × benchBatch / elapsed.
//
//	go test -run '^$' -bench . -benchtime 2s -count 3 ./miniport/loopback
const (
	benchBatch     = 64 // NBLs per batch, one frame each
	benchFrameSize = 64
	benchInFlight  = 4 // batches the sender keeps in flight
)

// benchBatchOf is one reusable batch of the benchmark's sender: NBLs from
// the protocol's pool, relinked before every send.
type benchBatchOf struct {
	nbls      []*ndis.NetBufferList
	remaining int // NBLs not yet completed; only the completing goroutine touches it while in flight
}

// benchProto returns every receive at once, from its receive handler, and
// hands a batch back to the sender when its last NBL completes.
type benchProto struct {
	b        *ndis.Binding
	ready    chan *benchBatchOf // batches completed, ready to send again
	credits  chan struct{}      // one per batch's worth of packets received
	received atomic.Uint64
	failed   atomic.Uint64
}

func (p *benchProto) ReceiveNetBufferLists(l *ndis.NetBufferList, _ ndis.ReceiveFlags) {
	n := uint64(0)
	for x := l; x != nil; x = x.Next {
		n++
	}
	total := p.received.Add(n)
	for range total/benchBatch - (total-n)/benchBatch {
		p.credits <- struct{}{} // capacity benchInFlight: never blocks
	}
	p.b.ReturnNetBufferLists(l)
}

func (p *benchProto) SendNetBufferListsComplete(l *ndis.NetBufferList) {
	for x := l; x != nil; {
		next := x.Next
		if x.Status != ndis.StatusSuccess {
			p.failed.Add(1)
		}
		bt := x.ProtocolReserved.(*benchBatchOf)
		if bt.remaining--; bt.remaining == 0 {
			p.ready <- bt // capacity benchInFlight: never blocks
		}
		x = next
	}
}

func (p *benchProto) Status(ndis.Status, []byte) {}

// BenchmarkLoopback: send → loop back → receive → return → complete, with
// benchInFlight batches of benchBatch one-frame NBLs in flight; the sender
// resends a batch only once all of it has completed. b.N counts batches.
func BenchmarkLoopback(b *testing.B) {
	rt := ndis.New(ndis.WithVerifier(ndis.VerifierStrict),
		ndis.WithViolationHandler(func(v ndis.Violation) { b.Errorf("ndis verifier: %s", v) }))
	defer func() {
		if err := rt.Close(context.Background()); err != nil {
			b.Error(err)
		}
	}()
	ctx := context.Background()
	p := &benchProto{ready: make(chan *benchBatchOf, benchInFlight), credits: make(chan struct{}, benchInFlight)}
	must := func(err error) {
		if err != nil {
			b.Fatal(err)
		}
	}
	must(rt.RegisterMiniportDriver(loopback.Driver()))
	must(rt.RegisterProtocolDriver(ndis.ProtocolDriver{Name: "bench", BindAdapter: func(bd *ndis.Binding) (ndis.Protocol, error) {
		p.b = bd
		return p, nil
	}}))
	a, err := rt.AddAdapter(ctx, "loop0", "loopback", nil)
	must(err)
	_, err = rt.Bind(ctx, "bench", "loop0")
	must(err)
	if s := p.b.OidRequest(ctx, &ndis.OidRequest{Type: ndis.RequestSet, OID: ndis.OIDGenCurrentPacketFilter,
		Buffer: ndis.Ulong(ndis.PacketTypeDirected)}); s != ndis.StatusSuccess {
		b.Fatal(s)
	}

	// The sender's NBLs: one pool, benchInFlight batches, filled once.
	pool := ndis.NewPool(benchFrameSize, 0)
	f := frame(a.MacAddress(), 0, benchFrameSize)
	for range benchInFlight {
		chain, n := pool.Get(benchBatch)
		if n != benchBatch {
			b.Fatal("pool")
		}
		bt := &benchBatchOf{}
		for x := chain; x != nil; x = x.Next {
			copy(x.Frames[0], f)
			x.ProtocolReserved = bt
			bt.nbls = append(bt.nbls, x)
		}
		p.ready <- bt
		p.credits <- struct{}{}
	}
	// A batch goes out when the sender has one back from its completions
	// and a batch's worth of packets in flight has been received: at most
	// benchInFlight batches between send and receive, whether the miniport
	// completes sends before or after it indicates the receives.
	send := func() {
		<-p.credits
		bt := <-p.ready
		bt.remaining = benchBatch
		for i, x := range bt.nbls[:benchBatch-1] {
			x.Next = bt.nbls[i+1]
		}
		bt.nbls[benchBatch-1].Next = nil
		p.b.SendNetBufferLists(bt.nbls[0])
	}
	// wait waits for every batch to complete and for the receives of
	// sent packets (the loopback completes a chain, then indicates it).
	wait := func(sent uint64) {
		for range benchInFlight {
			p.ready <- <-p.ready
			p.credits <- <-p.credits
		}
		deadline := time.Now().Add(waitLimit)
		for p.received.Load() < sent {
			if time.Now().After(deadline) {
				b.Fatalf("received %d packets, sent %d", p.received.Load(), sent)
			}
			runtime.Gosched()
		}
	}
	// Warm up: fill the loopback's receive pool and every free list.
	const warmup = 200
	for range warmup {
		send()
	}
	wait(warmup * benchBatch)

	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		send()
	}
	wait(uint64(warmup+b.N) * benchBatch)
	b.StopTimer()

	if n := p.failed.Load(); n != 0 {
		b.Fatalf("%d sends failed", n)
	}
	if got, want := p.received.Load(), uint64(warmup+b.N)*benchBatch; got != want {
		b.Fatalf("received %d packets, sent %d", got, want)
	}
	b.ReportMetric(float64(b.N)*benchBatch/b.Elapsed().Seconds(), "pkts/s")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/(float64(b.N)*benchBatch), "ns/pkt")
}

// BenchmarkChannelBaseline: the same 64-byte frames through a buffered Go
// channel, one packet per channel operation, from a producer goroutine to a
// consumer goroutine that reads each frame. b.N counts batches of
// benchBatch packets, as in BenchmarkLoopback.
func BenchmarkChannelBaseline(b *testing.B) {
	for _, capacity := range []int{64, 256, 1024} {
		b.Run(fmt.Sprintf("cap=%d", capacity), func(b *testing.B) {
			frames := make([][]byte, capacity)
			for i := range frames {
				frames[i] = frame(ourMAC, uint32(i), benchFrameSize)
			}
			ch := make(chan []byte, capacity)
			done := make(chan uint64)
			go func() {
				var n uint64
				var sum byte
				for f := range ch {
					sum += f[0]
					n++
				}
				_ = sum
				done <- n
			}()
			b.ReportAllocs()
			b.ResetTimer()
			total := b.N * benchBatch
			for i := range total {
				ch <- frames[i%capacity]
			}
			close(ch)
			n := <-done
			b.StopTimer()
			if n != uint64(total) {
				b.Fatalf("received %d packets, sent %d", n, total)
			}
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "pkts/s")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(total), "ns/pkt")
		})
	}
}
