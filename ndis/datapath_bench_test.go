package ndis_test

import (
	"context"
	"testing"

	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

// The runtime's own datapath, without a device: one b.N iteration is one
// batch of benchBatch NBLs of one 64-byte frame. Beside it, the baseline of
// the same run: the same frames through a buffered channel, one packet per
// channel operation, producer to consumer goroutine.
//
//	go test -run '^$' -bench 'Runtime|PerPacketChannel' -benchtime 2s -count 5 ./ndis
const benchBatch = 64

// inlineMiniport completes every send inline, inside SendNetBufferLists,
// and takes returned NBLs back without doing anything.
type inlineMiniport struct {
	a *ndis.Adapter
}

func (m *inlineMiniport) Halt(ndis.HaltAction)                     {}
func (m *inlineMiniport) Pause() ndis.Status                       { return ndis.StatusSuccess }
func (m *inlineMiniport) Restart() ndis.Status                     { return ndis.StatusSuccess }
func (m *inlineMiniport) ReturnNetBufferLists(*ndis.NetBufferList) {}
func (m *inlineMiniport) OidRequest(*ndis.OidRequest) ndis.Status  { return ndis.StatusSuccess }
func (m *inlineMiniport) SendNetBufferLists(l *ndis.NetBufferList) {
	m.a.SendNetBufferListsComplete(l)
}

// sinkProto counts completions and receives, returning receives at once.
type sinkProto struct {
	b                   *ndis.Binding
	completed, received int
	back                *ndis.NetBufferList
}

func (p *sinkProto) ReceiveNetBufferLists(l *ndis.NetBufferList, _ ndis.ReceiveFlags) {
	for x := l; x != nil; x = x.Next {
		p.received++
	}
	p.b.ReturnNetBufferLists(l)
}
func (p *sinkProto) SendNetBufferListsComplete(l *ndis.NetBufferList) {
	for x := l; x != nil; x = x.Next {
		p.completed++
	}
	p.back = l
}
func (p *sinkProto) Status(ndis.Status, []byte) {}

// benchRuntime brings up one adapter of the inline miniport with one bound
// sink protocol that takes every broadcast frame.
func benchRuntime(b *testing.B) (*inlineMiniport, *sinkProto, func()) {
	mp := &inlineMiniport{}
	proto := &sinkProto{}
	rt := ndis.New(ndis.WithVerifier(ndis.VerifierOff))
	bd := attach(b, rt, ndis.MiniportDriver{Name: "inline", Version: ndis.Version630,
		Initialize: func(a *ndis.Adapter, _ ndis.InitParameters) (ndis.Miniport, error) {
			mp.a = a
			return mp, nil
		}},
		ndis.ProtocolDriver{Name: "sink", BindAdapter: func(bd *ndis.Binding) (ndis.Protocol, error) {
			proto.b = bd
			return proto, nil
		}})
	ctx := context.Background()
	if s := bd.OidRequest(ctx, &ndis.OidRequest{Type: ndis.RequestSet, OID: ndis.OIDGenCurrentPacketFilter, Buffer: ndis.Ulong(ndis.PacketTypeBroadcast)}); s != ndis.StatusSuccess {
		b.Fatal(s)
	}
	return mp, proto, func() { _ = rt.Close(ctx) }
}

func benchChain(pool *ndis.Pool) *ndis.NetBufferList {
	l, _ := pool.Get(benchBatch)
	for x := l; x != nil; x = x.Next {
		f := x.Frames[0][:64]
		copy(f, ndis.BroadcastAddress[:])
		x.Frames[0] = f
	}
	return l
}

// benchRuntimeBatches runs step b.N times, each on the batch the previous
// one returned, starting from one chain of benchBatch NBLs; then the
// protocol's count (what, in the failure) must be b.N × benchBatch.
func benchRuntimeBatches(b *testing.B, what string, count func(*sinkProto) int,
	step func(*inlineMiniport, *sinkProto, *ndis.NetBufferList) *ndis.NetBufferList) {
	mp, proto, closeRT := benchRuntime(b)
	defer closeRT()
	l := benchChain(ndis.NewPool(1514, benchBatch))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		l = step(mp, proto, l)
	}
	b.StopTimer()
	if n := count(proto); n != b.N*benchBatch {
		b.Fatalf("%d %s, want %d", n, what, b.N*benchBatch)
	}
	ndistest.ReportPackets(b, b.N*benchBatch)
}

// BenchmarkRuntimeSend: a protocol sends a batch; the miniport completes it
// inline; the completion comes back to the protocol, which sends it again.
// The runtime's send path: the gate, the counters, the completion routing.
func BenchmarkRuntimeSend(b *testing.B) {
	benchRuntimeBatches(b, "completed", func(p *sinkProto) int { return p.completed },
		func(_ *inlineMiniport, proto *sinkProto, l *ndis.NetBufferList) *ndis.NetBufferList {
			proto.b.SendNetBufferLists(l)
			l, proto.back = proto.back, nil
			return l
		})
}

// BenchmarkRuntimeReceive: the miniport indicates a batch; the runtime
// filters it and hands it to the protocol, which returns it from its
// handler; the return reaches the miniport. The runtime's receive path.
func BenchmarkRuntimeReceive(b *testing.B) {
	benchRuntimeBatches(b, "received", func(p *sinkProto) int { return p.received },
		func(mp *inlineMiniport, _ *sinkProto, l *ndis.NetBufferList) *ndis.NetBufferList {
			mp.a.IndicateReceiveNetBufferLists(l, 0)
			return l
		})
}

// BenchmarkPerPacketChannel is the baseline: 64-byte frames through a
// buffered channel of capacity benchBatch, one packet per operation, from a
// producer goroutine to a consumer goroutine that reads each frame.
func BenchmarkPerPacketChannel(b *testing.B) {
	frames := make([][]byte, benchBatch)
	for i := range frames {
		frames[i] = make([]byte, 64)
	}
	ndistest.PerPacketChannel(b, frames, benchBatch, benchBatch)
}
