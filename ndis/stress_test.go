package ndis_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

// stressProto is a protocol that checks, per binding, that every NBL it
// sent comes back exactly once and that RESET_START and RESET_END strictly
// alternate.
type stressProto struct {
	b       *ndis.Binding
	mu      sync.Mutex
	inReset bool
	pairs   int
	errs    []string
}

// stressSender is one sending goroutine; its NBLs carry it in
// ProtocolReserved so that completions find their way back.
type stressSender struct {
	p         *stressProto
	completed chan *ndis.NetBufferList
}

func (p *stressProto) fail(format string, args ...any) {
	p.mu.Lock()
	if len(p.errs) < 10 {
		p.errs = append(p.errs, fmt.Sprintf(format, args...))
	}
	p.mu.Unlock()
}

func (p *stressProto) ReceiveNetBufferLists(l *ndis.NetBufferList, flags ndis.ReceiveFlags) {
	if flags&ndis.ReceiveFlagResources == 0 {
		p.b.ReturnNetBufferLists(l)
	}
}

func (p *stressProto) SendNetBufferListsComplete(l *ndis.NetBufferList) {
	for l != nil {
		next := l.Next
		l.Next = nil
		sender, _ := l.ProtocolReserved.(*stressSender)
		if sender == nil || sender.p != p {
			p.fail("NBL of another binding completed here")
			l = next
			continue
		}
		if l.Status == ndis.StatusPending {
			p.fail("NBL completed without a status")
		}
		sender.completed <- l
		l = next
	}
}

func (p *stressProto) Status(code ndis.Status, payload []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch code {
	case ndis.StatusResetStart:
		if p.inReset {
			p.errs = append(p.errs, "nested RESET_START")
		}
		p.inReset = true
	case ndis.StatusResetEnd:
		if !p.inReset {
			p.errs = append(p.errs, "RESET_END without RESET_START")
		}
		if len(payload) != 4 {
			p.errs = append(p.errs, "RESET_END without its status")
		}
		p.inReset = false
		p.pairs++
	}
}

// stressResets is the stress test's size, the resets it performs:
// GONDIS_STRESS_RESETS, or 2,000.
func stressResets(t *testing.T) uint64 {
	if v := os.Getenv("GONDIS_STRESS_RESETS"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			t.Fatalf("GONDIS_STRESS_RESETS=%q: want a positive count", v)
		}
		return n
	}
	return 2000
}

// hangDeadline is when a stress test that has not reached its size is
// hung: the test's deadline (-timeout) less a margin to stop and report,
// or 10 minutes from now when the test has none. It is no bound on speed:
// a busy machine only makes the test take longer.
func hangDeadline(t *testing.T) time.Time {
	d, ok := t.Deadline()
	if !ok {
		return time.Now().Add(10 * time.Minute)
	}
	return d.Add(-min(time.Minute, time.Until(d)/4))
}

// TestResetStress: four goroutines send through two bindings, one issues
// OIDs, the miniport completes sends from its own interrupt goroutine and
// asks for resets from the datapath at random, until the miniport has
// asked for and been given GONDIS_STRESS_RESETS resets (2,000), however
// long that takes; the rate is logged, never checked. Every NBL comes back
// exactly once to its own binding, RESET_START/END pair strictly per
// binding, nothing reaches the miniport while its Reset runs, and nothing
// leaks.
func TestResetStress(t *testing.T) {
	target := stressResets(t)
	v := ndistest.NewVerifier(t)
	rt := ndis.New(append(v.Options(), ndis.WithResetEscalation(ndis.Escalation{}))...)
	fake := ndistest.NewFake()
	fake.HoldSends = true
	var resetting atomic.Bool
	var sendsInReset, oidsInReset atomic.Int64
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	var rngMu sync.Mutex
	rng := rand.New(rand.NewPCG(seed, 1))
	chance := func(n int) bool { rngMu.Lock(); defer rngMu.Unlock(); return rng.IntN(n) == 0 }
	fake.OnSend = func(*ndis.NetBufferList) {
		if resetting.Load() {
			sendsInReset.Add(1)
		}
		if chance(6) {
			fake.Adapter.ResetMiniport()
		}
	}
	fake.OnOid = func(r *ndis.OidRequest) ndis.Status {
		if resetting.Load() {
			oidsInReset.Add(1)
		}
		return ndis.StatusSuccess
	}
	fake.OnReset = func() (bool, ndis.Status) {
		resetting.Store(true)
		fake.CompleteHeld(ndis.StatusRequestAborted)
		resetting.Store(false)
		return chance(2), ndis.StatusSuccess
	}
	if err := rt.RegisterMiniportDriver(fake.Driver("fake", ndis.Version630)); err != nil {
		t.Fatal(err)
	}
	var protos []*stressProto
	var pmu sync.Mutex
	if err := rt.RegisterProtocolDriver(ndis.ProtocolDriver{Name: "stress", BindAdapter: func(b *ndis.Binding) (ndis.Protocol, error) {
		p := &stressProto{b: b}
		pmu.Lock()
		protos = append(protos, p)
		pmu.Unlock()
		return p, nil
	}}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := rt.AddAdapter(ctx, "eth0", "fake", nil)
	if err != nil {
		t.Fatal(err)
	}
	var bs []*ndis.Binding
	for range 2 {
		b, err := rt.Bind(ctx, "stress", "eth0")
		if err != nil {
			t.Fatal(err)
		}
		bs = append(bs, b)
	}

	stop, stopSenders := make(chan struct{}), make(chan struct{})
	var wg, senders sync.WaitGroup
	// The interrupt goroutine.
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				if fake.CompleteHeld(ndis.StatusSuccess) == 0 {
					time.Sleep(10 * time.Microsecond)
				}
			}
		}
	})
	// The OID issuer.
	var oids atomic.Uint64
	wg.Go(func() {
		for i := uint32(0); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			s := ndistest.SetPacketFilter(ctx, bs[i%2], ndis.PacketTypeDirected|i%2*ndis.PacketTypeBroadcast)
			oids.Add(1)
			if s != ndis.StatusSuccess && s != ndis.StatusResetInProgress {
				t.Errorf("OID: %v", s)
			}
		}
	})
	// The senders: each keeps 4 batches of 8 NBLs in flight and checks that
	// every NBL comes back exactly once before it sends it again.
	const perBatch, batches = 8, 4
	var sent, back atomic.Uint64
	for i := range 4 {
		p := protos[i%2]
		b := bs[i%2]
		me := &stressSender{p: p, completed: make(chan *ndis.NetBufferList, perBatch*batches)}
		senders.Go(func() {
			own := make(map[*ndis.NetBufferList]bool)
			var free []*ndis.NetBufferList
			for range perBatch * batches {
				l := ndis.NewNetBufferList(frame(ndis.BroadcastAddress, "stress"))
				l.ProtocolReserved = me
				free = append(free, l)
			}
			outstanding := 0
			for {
				for len(free) >= perBatch {
					batch := free[:perBatch]
					free = free[perBatch:]
					for _, l := range batch {
						own[l] = true
					}
					outstanding += perBatch
					sent.Add(perBatch)
					b.SendNetBufferLists(ndis.Chain(batch...))
				}
				select {
				case l := <-me.completed:
					if !own[l] {
						p.fail("NBL completed twice, or never sent")
					}
					delete(own, l)
					free = append(free, l)
					outstanding--
					back.Add(1)
					if l.Status == ndis.StatusResetInProgress {
						// As a protocol should: hold the data while the
						// adapter resets instead of spinning on it.
						time.Sleep(20 * time.Microsecond)
					}
				case <-stopSenders:
					// Drain what is still in flight, then stop.
					for outstanding > 0 {
						select {
						case l := <-me.completed:
							delete(own, l)
							outstanding--
							back.Add(1)
						case <-time.After(10 * time.Second):
							p.fail("%d NBLs never came back", outstanding)
							return
						}
					}
					return
				}
			}
		})
	}
	start := time.Now()
	deadline := time.After(time.Until(hangDeadline(t)))
	for a.Stats().Resets[ndis.CauseDriver].Performed < target {
		select {
		case <-deadline:
			t.Errorf("hung: %d of %d resets when the deadline came, after %s",
				a.Stats().Resets[ndis.CauseDriver].Performed, target, time.Since(start).Round(time.Millisecond))
			close(stopSenders)
			senders.Wait()
			close(stop)
			wg.Wait()
			t.FailNow()
		case <-time.After(time.Millisecond):
		}
	}
	elapsed := time.Since(start)
	close(stopSenders)
	senders.Wait()
	close(stop)
	wg.Wait()

	st := a.Stats()
	c := st.Resets[ndis.CauseDriver]
	t.Logf("resets: %d performed in %s, %.0f a second (for information); %d coalesced, %d dropped; NBLs sent %d (to the miniport %d, refused %d); OIDs %d; max reset %v",
		c.Performed, elapsed.Round(time.Millisecond), float64(c.Performed)/elapsed.Seconds(), c.Coalesced, c.Dropped,
		sent.Load(), st.SentNBLs, st.SendRejected, oids.Load(), c.MaxDuration)
	if sent.Load() != back.Load() {
		t.Errorf("sent %d NBLs, %d came back", sent.Load(), back.Load())
	}
	if n := sendsInReset.Load(); n != 0 {
		t.Errorf("%d sends reached the miniport during Reset", n)
	}
	if n := oidsInReset.Load(); n != 0 {
		t.Errorf("%d OIDs reached the miniport during Reset", n)
	}
	if err := rt.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// The last sends may have asked for a reset that ran after the
	// counters above were read: count again, now that nothing runs.
	var performed uint64
	for _, rc := range a.Stats().Resets {
		performed += rc.Performed
	}
	for i, p := range protos {
		p.mu.Lock()
		if len(p.errs) != 0 {
			t.Errorf("binding %d: %v", i, p.errs)
		}
		if p.inReset {
			t.Errorf("binding %d: RESET_START without RESET_END", i)
		}
		if uint64(p.pairs) != performed {
			t.Errorf("binding %d saw %d reset pairs, %d resets were performed", i, p.pairs, performed)
		}
		p.mu.Unlock()
	}
}
