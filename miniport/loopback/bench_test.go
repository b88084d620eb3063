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
	"github.com/gondis/gondis/ndis/ndistest"
)

// The datapath benchmark of docs/PERFORMANCE.md, beside its baseline. In
// both, one b.N iteration is one batch of benchBatch packets of
// benchFrameSize bytes: ns/op is the time per batch, allocs/op the
// allocations per batch, and pkts/s = b.N × benchBatch / elapsed.
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

// benchProto returns every receive at once, from its receive handler. When
// the last NBL of a batch completes it either hands the batch back to the
// sending goroutine (ready) or, completion-driven, sends it again itself.
type benchProto struct {
	b        *ndis.Binding
	ready    chan *benchBatchOf // batches completed, ready to send again
	credits  chan struct{}      // one per batch's worth of packets received
	received atomic.Uint64
	failed   atomic.Uint64

	// Completion-driven sending: budget is the batches still to send; the
	// last batch to finish closes done.
	completionDriven atomic.Bool // set while the warm-up's receives may still run
	budget           atomic.Int64
	inFlight         atomic.Int64
	done             chan struct{}
}

func (p *benchProto) ReceiveNetBufferLists(l *ndis.NetBufferList, _ ndis.ReceiveFlags) {
	n := uint64(0)
	for x := l; x != nil; x = x.Next {
		n++
	}
	total := p.received.Add(n)
	if !p.completionDriven.Load() {
		for range total/benchBatch - (total-n)/benchBatch {
			p.credits <- struct{}{} // capacity benchInFlight: never blocks
		}
	}
	p.b.ReturnNetBufferLists(l)
}

func (p *benchProto) SendNetBufferListsComplete(l *ndis.NetBufferList) {
	if n := completeBatches(l, p.batchDone); n != 0 {
		p.failed.Add(n)
	}
}

// batchDone takes a batch whose last NBL has completed.
func (p *benchProto) batchDone(bt *benchBatchOf) {
	switch {
	case !p.completionDriven.Load():
		p.ready <- bt // capacity benchInFlight: never blocks
	case p.budget.Add(-1) >= 0:
		bt.send(p.b)
	case p.inFlight.Add(-1) == 0:
		close(p.done)
	}
}

func (p *benchProto) Status(ndis.Status, []byte) {}

// send relinks the batch and sends it through b.
func (bt *benchBatchOf) send(b *ndis.Binding) {
	bt.remaining = benchBatch
	for i, x := range bt.nbls[:benchBatch-1] {
		x.Next = bt.nbls[i+1]
	}
	bt.nbls[benchBatch-1].Next = nil
	b.SendNetBufferLists(bt.nbls[0])
}

// completeBatches counts the completed NBLs of l against their batches,
// hands each batch whose last NBL is back to done (which may send it
// again), and returns how many of the NBLs did not succeed.
func completeBatches(l *ndis.NetBufferList, done func(*benchBatchOf)) (failed uint64) {
	for x := l; x != nil; {
		next := x.Next
		if x.Status != ndis.StatusSuccess {
			failed++
		}
		bt := x.ProtocolReserved.(*benchBatchOf)
		if bt.remaining--; bt.remaining == 0 {
			done(bt)
		}
		x = next
	}
	return failed
}

// startBench registers the loopback driver and a protocol "bench" on rt,
// adds loop0, binds the protocol bind returns to it and sets the directed
// filter; it returns the adapter.
func startBench(b *testing.B, rt *ndis.Runtime, bind func(*ndis.Binding) ndis.Protocol) *ndis.Adapter {
	b.Helper()
	ctx := context.Background()
	if err := rt.RegisterMiniportDriver(loopback.Driver()); err != nil {
		b.Fatal(err)
	}
	if err := rt.RegisterProtocolDriver(ndis.ProtocolDriver{Name: "bench", BindAdapter: func(bd *ndis.Binding) (ndis.Protocol, error) {
		return bind(bd), nil
	}}); err != nil {
		b.Fatal(err)
	}
	a, err := rt.AddAdapter(ctx, "loop0", "loopback", nil)
	if err != nil {
		b.Fatal(err)
	}
	bd, err := rt.Bind(ctx, "bench", "loop0")
	if err != nil {
		b.Fatal(err)
	}
	ndistest.MustSetPacketFilter(b, bd, ndis.PacketTypeDirected)
	return a
}

// newBatches returns benchInFlight batches of benchBatch one-frame NBLs to
// dst, from one pool, filled once.
func newBatches(b *testing.B, dst ndis.MacAddress) []*benchBatchOf {
	pool := ndis.NewPool(benchFrameSize, 0)
	f := frame(dst, 0, benchFrameSize)
	bts := make([]*benchBatchOf, benchInFlight)
	for i := range bts {
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
		bts[i] = bt
	}
	return bts
}

// BenchmarkLoopback: send → loop back → receive → return → complete, with
// benchInFlight batches of benchBatch one-frame NBLs in flight. b.N counts
// batches. Two ways of driving it:
//
//   - sender=goroutine: a sending goroutine resends a batch once all of it
//     has completed and a batch's worth of packets has been received; the
//     loopback's interrupt goroutine does the rest, so the packets cross
//     between two goroutines (and cores) as in the channel baseline.
//   - sender=completion: the protocol resends a batch from its send
//     completion handler, as an NDIS protocol that refills its send window
//     on completion does; everything then runs on the interrupt goroutine.
func BenchmarkLoopback(b *testing.B) {
	b.Run("sender=goroutine", func(b *testing.B) { benchLoopback(b, false) })
	b.Run("sender=completion", func(b *testing.B) { benchLoopback(b, true) })
}

func benchLoopback(b *testing.B, completionDriven bool) {
	rt := ndis.New(ndis.WithVerifier(ndis.VerifierStrict),
		ndis.WithViolationHandler(func(v ndis.Violation) { b.Errorf("ndis verifier: %s", v) }))
	defer func() {
		if err := rt.Close(context.Background()); err != nil {
			b.Error(err)
		}
	}()
	p := &benchProto{ready: make(chan *benchBatchOf, benchInFlight), credits: make(chan struct{}, benchInFlight)}
	a := startBench(b, rt, func(bd *ndis.Binding) ndis.Protocol {
		p.b = bd
		return p
	})
	for _, bt := range newBatches(b, a.MacAddress()) {
		p.ready <- bt
		p.credits <- struct{}{}
	}
	// A batch goes out when the sender has one back from its completions
	// and a batch's worth of packets in flight has been received: at most
	// benchInFlight batches between send and receive.
	send := func() {
		<-p.credits
		(<-p.ready).send(p.b)
	}
	// wait waits for every batch to complete and for the receives of
	// sent packets.
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
	if completionDriven {
		p.completionDriven.Store(true)
		p.done = make(chan struct{})
		p.budget.Store(int64(b.N) - benchInFlight)
		p.inFlight.Store(benchInFlight)
		for range benchInFlight {
			(<-p.ready).send(p.b)
		}
		<-p.done
		sent := uint64(warmup+max(b.N, benchInFlight)) * benchBatch
		deadline := time.Now().Add(waitLimit)
		for p.received.Load() < sent {
			if time.Now().After(deadline) {
				b.Fatalf("received %d packets, sent %d", p.received.Load(), sent)
			}
			runtime.Gosched()
		}
	} else {
		for range b.N {
			send()
		}
		wait(uint64(warmup+b.N) * benchBatch)
	}
	b.StopTimer()

	if n := p.failed.Load(); n != 0 {
		b.Fatalf("%d sends failed", n)
	}
	n := max(b.N, benchInFlight*bool2int(completionDriven))
	if got, want := p.received.Load(), uint64(warmup+n)*benchBatch; got != want {
		b.Fatalf("received %d packets, sent %d", got, want)
	}
	ndistest.ReportPackets(b, n*benchBatch)
}

func bool2int(v bool) int {
	if v {
		return 1
	}
	return 0
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
			ndistest.PerPacketChannel(b, frames, capacity, benchBatch)
		})
	}
}
