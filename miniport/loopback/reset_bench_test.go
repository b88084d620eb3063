package loopback_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gondis/gondis/miniport/loopback"
	"github.com/gondis/gondis/ndis"
)

// resetBenchProto counts what it receives and hands every completed batch
// back to the sender, whatever its status: during a reset sends come back
// with NDIS_STATUS_RESET_IN_PROGRESS and receives are dropped, so the
// sender is paced by completions, not by receives.
type resetBenchProto struct {
	b        *ndis.Binding
	ready    chan *benchBatchOf
	received atomic.Uint64
	refused  atomic.Uint64
}

func (p *resetBenchProto) ReceiveNetBufferLists(l *ndis.NetBufferList, _ ndis.ReceiveFlags) {
	p.received.Add(uint64(l.Len()))
	p.b.ReturnNetBufferLists(l)
}

func (p *resetBenchProto) SendNetBufferListsComplete(l *ndis.NetBufferList) {
	for x := l; x != nil; {
		next := x.Next
		if x.Status != ndis.StatusSuccess {
			p.refused.Add(1)
		}
		bt := x.ProtocolReserved.(*benchBatchOf)
		if bt.remaining--; bt.remaining == 0 {
			p.ready <- bt
		}
		x = next
	}
}

func (p *resetBenchProto) Status(ndis.Status, []byte) {}

// BenchmarkLoopbackResets measures loopback throughput (packets received
// per second) while an operator reset runs every millisecond, beside the
// same traffic without resets in the same run, and reports the ratio.
// b.N counts batches of benchBatch packets in each phase.
//
//	go test -run '^$' -bench LoopbackResets -benchtime 3s -count 3 ./miniport/loopback
func BenchmarkLoopbackResets(b *testing.B) {
	rt := ndis.New(ndis.WithResetEscalation(ndis.Escalation{}))
	defer rt.Close(context.Background())
	ctx := context.Background()
	p := &resetBenchProto{ready: make(chan *benchBatchOf, benchInFlight)}
	if err := rt.RegisterMiniportDriver(loopback.Driver()); err != nil {
		b.Fatal(err)
	}
	if err := rt.RegisterProtocolDriver(ndis.ProtocolDriver{Name: "bench", BindAdapter: func(bd *ndis.Binding) (ndis.Protocol, error) {
		p.b = bd
		return p, nil
	}}); err != nil {
		b.Fatal(err)
	}
	a, err := rt.AddAdapter(ctx, "loop0", "loopback", nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := rt.Bind(ctx, "bench", "loop0"); err != nil {
		b.Fatal(err)
	}
	if s := p.b.OidRequest(ctx, &ndis.OidRequest{Type: ndis.RequestSet, OID: ndis.OIDGenCurrentPacketFilter,
		Buffer: ndis.Ulong(ndis.PacketTypeDirected)}); s != ndis.StatusSuccess {
		b.Fatal(s)
	}
	pool := ndis.NewPool(benchFrameSize, 0)
	f := frame(a.MacAddress(), 0, benchFrameSize)
	for range benchInFlight {
		chain, _ := pool.Get(benchBatch)
		bt := &benchBatchOf{}
		for x := chain; x != nil; x = x.Next {
			copy(x.Frames[0], f)
			x.ProtocolReserved = bt
			bt.nbls = append(bt.nbls, x)
		}
		p.ready <- bt
	}
	send := func() {
		bt := <-p.ready
		bt.remaining = benchBatch
		for i, x := range bt.nbls[:benchBatch-1] {
			x.Next = bt.nbls[i+1]
		}
		bt.nbls[benchBatch-1].Next = nil
		p.b.SendNetBufferLists(bt.nbls[0])
	}
	drain := func() {
		for range benchInFlight {
			p.ready <- <-p.ready
		}
	}
	phase := func(resetEvery time.Duration) (pps float64, resets uint64) {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		if resetEvery > 0 {
			wg.Go(func() {
				t := time.NewTicker(resetEvery)
				defer t.Stop()
				for {
					select {
					case <-stop:
						return
					case <-t.C:
						if err := rt.ResetAdapter("loop0"); err != nil {
							b.Error(err)
							return
						}
					}
				}
			})
		}
		before := a.Stats().Resets[ndis.CauseOperator].Performed
		rx0 := p.received.Load()
		start := time.Now()
		for range b.N {
			send()
		}
		drain()
		elapsed := time.Since(start)
		close(stop)
		wg.Wait()
		return float64(p.received.Load()-rx0) / elapsed.Seconds(), a.Stats().Resets[ndis.CauseOperator].Performed - before
	}
	for range 50 { // warm up
		send()
	}
	drain()
	b.ResetTimer()
	base, _ := phase(0)
	withResets, resets := phase(time.Millisecond)
	b.StopTimer()
	b.ReportMetric(base, "pkts/s-no-resets")
	b.ReportMetric(withResets, "pkts/s-resets-1ms")
	b.ReportMetric(withResets/base, "ratio")
	b.ReportMetric(float64(resets), "resets")
}
