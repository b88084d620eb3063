package loopback_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
	if n := completeBatches(l, p.batchDone); n != 0 {
		p.refused.Add(n)
	}
}

// batchDone hands a batch whose last NBL has completed back to the sender.
func (p *resetBenchProto) batchDone(bt *benchBatchOf) { p.ready <- bt }

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
	p := &resetBenchProto{ready: make(chan *benchBatchOf, benchInFlight)}
	a := startBench(b, rt, func(bd *ndis.Binding) ndis.Protocol {
		p.b = bd
		return p
	})
	for _, bt := range newBatches(b, a.MacAddress()) {
		p.ready <- bt
	}
	send := func() { (<-p.ready).send(p.b) }
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
						// One still running drops the request; the next tick asks again.
						if err := rt.ResetAdapter("loop0"); err != nil && !errors.Is(err, ndis.ErrResetInProgress) {
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
