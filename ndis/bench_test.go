package ndis_test

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

// parkPause is how long each benchmark iteration lets the work goroutine
// (or the baseline's worker) go idle and park before the next one, so that
// both measure a wake-up from sleep, not a hand-off to a spinning goroutine.
var parkPause = 50 * time.Microsecond

// reportLatencies reports the p50 and p99 of samples as benchmark metrics.
func reportLatencies(b *testing.B, samples []time.Duration) {
	if len(samples) == 0 {
		return
	}
	slices.Sort(samples)
	p := func(q float64) float64 { return float64(samples[int(q*float64(len(samples)-1))].Nanoseconds()) }
	b.ReportMetric(p(0.50), "p50-ns")
	b.ReportMetric(p(0.99), "p99-ns")
}

// dispatchMiniport is the least a miniport can be: its Reset stamps the
// time it was entered and returns.
type dispatchMiniport struct{ entered chan time.Time }

func (m *dispatchMiniport) Halt(ndis.HaltAction)                     {}
func (m *dispatchMiniport) Pause() ndis.Status                       { return ndis.StatusSuccess }
func (m *dispatchMiniport) Restart() ndis.Status                     { return ndis.StatusSuccess }
func (m *dispatchMiniport) SendNetBufferLists(*ndis.NetBufferList)   {}
func (m *dispatchMiniport) ReturnNetBufferLists(*ndis.NetBufferList) {}
func (m *dispatchMiniport) OidRequest(*ndis.OidRequest) ndis.Status  { return ndis.StatusSuccess }
func (m *dispatchMiniport) Reset() (bool, ndis.Status) {
	m.entered <- time.Now()
	return false, ndis.StatusSuccess
}

// benchAdapter registers mp as the miniport driver "d" and the protocol
// driver p on rt, and adds the adapter "eth0" of "d".
func benchAdapter(b *testing.B, rt *ndis.Runtime, mp ndis.Miniport, p ndis.ProtocolDriver) *ndis.Adapter {
	b.Helper()
	if err := rt.RegisterMiniportDriver(ndis.MiniportDriver{Name: "d", Version: ndis.Version630,
		Initialize: func(*ndis.Adapter, ndis.InitParameters) (ndis.Miniport, error) { return mp, nil }}); err != nil {
		b.Fatal(err)
	}
	if err := rt.RegisterProtocolDriver(p); err != nil {
		b.Fatal(err)
	}
	a, err := rt.AddAdapter(context.Background(), "eth0", "d", nil)
	if err != nil {
		b.Fatal(err)
	}
	return a
}

// endProto signals every RESET_END.
type endProto struct{ end chan struct{} }

func (p *endProto) ReceiveNetBufferLists(*ndis.NetBufferList, ndis.ReceiveFlags) {}
func (p *endProto) SendNetBufferListsComplete(*ndis.NetBufferList)               {}
func (p *endProto) Status(code ndis.Status, _ []byte) {
	if code == ndis.StatusResetEnd {
		p.end <- struct{}{}
	}
}

// BenchmarkResetDispatch measures ResetMiniport() to Reset() entered, beside
// the bare wake-up of a parked goroutine by a buffered channel signal. Both
// let the worker park between iterations; both report p50 and p99.
func BenchmarkResetDispatch(b *testing.B) {
	b.Run("ResetMiniport", func(b *testing.B) {
		mp := &dispatchMiniport{entered: make(chan time.Time, 1)}
		ended := make(chan struct{}, 1)
		rt := ndis.New(ndis.WithResetEscalation(ndis.Escalation{}))
		ctx := context.Background()
		defer rt.Close(ctx)
		a := benchAdapter(b, rt, mp, ndis.ProtocolDriver{Name: "p", BindAdapter: func(*ndis.Binding) (ndis.Protocol, error) {
			return &endProto{end: ended}, nil
		}})
		if _, err := rt.Bind(ctx, "p", "eth0"); err != nil {
			b.Fatal(err)
		}
		samples := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for range b.N {
			time.Sleep(parkPause)
			t0 := time.Now()
			a.ResetMiniport()
			samples = append(samples, (<-mp.entered).Sub(t0))
			<-ended // the reset is over: the next request is not dropped
		}
		b.StopTimer()
		reportLatencies(b, samples)
	})
	b.Run("GoroutineWakeup", func(b *testing.B) {
		wake := make(chan struct{}, 1)
		woke := make(chan time.Time, 1)
		go func() {
			for range wake {
				woke <- time.Now()
			}
		}()
		defer close(wake)
		samples := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for range b.N {
			time.Sleep(parkPause)
			t0 := time.Now()
			wake <- struct{}{}
			samples = append(samples, (<-woke).Sub(t0))
		}
		b.StopTimer()
		reportLatencies(b, samples)
	})
}

// cycleMiniport resets synchronously, asks for addressing restore and
// counts the sets it is given.
type cycleMiniport struct {
	dispatchMiniport
	sets atomic.Int64
}

func (m *cycleMiniport) OidRequest(r *ndis.OidRequest) ndis.Status {
	if r.Type == ndis.RequestSet {
		m.sets.Add(1)
	}
	return ndis.StatusSuccess
}
func (m *cycleMiniport) Reset() (bool, ndis.Status) { return true, ndis.StatusSuccess }

// cycleProto times RESET_START at the first binding to RESET_END at the
// last.
type cycleProto struct {
	first, last bool
	start       *atomic.Int64
	end         chan time.Duration
}

func (p *cycleProto) ReceiveNetBufferLists(*ndis.NetBufferList, ndis.ReceiveFlags) {}
func (p *cycleProto) SendNetBufferListsComplete(*ndis.NetBufferList)               {}
func (p *cycleProto) Status(code ndis.Status, _ []byte) {
	switch {
	case code == ndis.StatusResetStart && p.first:
		p.start.Store(time.Now().UnixNano())
	case code == ndis.StatusResetEnd && p.last:
		p.end <- time.Duration(time.Now().UnixNano() - p.start.Load())
	}
}

// BenchmarkResetCycle measures RESET_START to RESET_END for a synchronous
// reset that asks for addressing restore of a packet filter and a multicast
// list, with two bindings bound: back to back, and with every goroutine
// parked between resets (20 µs of sleep between iterations).
func BenchmarkResetCycle(b *testing.B) {
	b.Run("back-to-back", func(b *testing.B) { benchResetCycle(b, 0) })
	b.Run("parked", func(b *testing.B) { benchResetCycle(b, 20*time.Microsecond) })
}

func benchResetCycle(b *testing.B, pause time.Duration) {
	mp := &cycleMiniport{}
	rt := ndis.New(ndis.WithResetEscalation(ndis.Escalation{}))
	ctx := context.Background()
	defer rt.Close(ctx)
	var start atomic.Int64
	end := make(chan time.Duration, 1)
	n := 0
	a := benchAdapter(b, rt, mp, ndis.ProtocolDriver{Name: "cycle", BindAdapter: func(*ndis.Binding) (ndis.Protocol, error) {
		n++
		return &cycleProto{first: n == 1, last: n == 2, start: &start, end: end}, nil
	}})
	for i := range 2 {
		bd, err := rt.Bind(ctx, "cycle", "eth0")
		if err != nil {
			b.Fatal(err)
		}
		if s := ndistest.SetPacketFilter(ctx, bd, ndis.PacketTypeDirected<<i); s != ndis.StatusSuccess {
			b.Fatal(s)
		}
		group := ndis.MacAddress{1, 0, 0x5e, 0, 0, byte(i)}
		if s := ndistest.SetMulticastList(ctx, bd, []ndis.MacAddress{group}); s != ndis.StatusSuccess {
			b.Fatal(s)
		}
	}
	restores := mp.sets.Load()
	samples := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		if pause > 0 {
			time.Sleep(pause)
		}
		a.ResetMiniport()
		samples = append(samples, <-end)
	}
	b.StopTimer()
	if got := (mp.sets.Load() - restores) / int64(max(b.N, 1)); got != 2 {
		b.Fatalf("%d restore requests per reset, want 2", got)
	}
	reportLatencies(b, samples)
}
