package ndis_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

// model is the reference model of one adapter's operational and reset
// state machines (state.go, docs/RESET.md), as seen from outside the runtime.
type model struct {
	state     ndis.AdapterState
	gone      bool // halted and forgotten (failed by escalation)
	resetting bool // Reset() has been called and not completed
	resets    int  // Reset() calls
	ends      int  // RESET_ENDs every binding has seen
	failures  int  // consecutive failed resets, operator resets aside
	operator  bool // the running reset is the operator's: no escalation
	bindings  []*modelBinding
}

type modelBinding struct {
	b      *ndis.Binding
	rec    *ndistest.Recorder
	starts int // RESET_STARTs this binding should have seen
	ends   int
}

const modelMaxFailures = 3

// modelEnv is the system under test for one rapid run.
type modelEnv struct {
	t     *rapid.T
	ctx   context.Context
	clock *ndistest.FakeClock
	v     *ndistest.Verifier
	rt    *ndis.Runtime
	fake  *ndistest.Fake
	rec   *ndistest.RecorderDriver
	a     *ndis.Adapter
	m     model
	ended atomic.Int64 // EventResetEnd events
	// pendingOid is the caller of an OID left at the miniport by an
	// oid-timeout reset; the reset's completion answers it (R7).
	pendingOid chan ndis.Status
}

func newModelEnv(t *rapid.T) *modelEnv {
	e := &modelEnv{t: t, ctx: context.Background(), clock: ndistest.NewFakeClock(), fake: ndistest.NewFake(),
		rec: ndistest.NewRecorderDriver("rec")}
	e.v = ndistest.NewVerifier(t)
	e.rt = ndis.New(append(e.v.Options(), ndis.WithClock(e.clock), ndis.WithResetTimeout(time.Hour),
		ndis.WithEventHandler(func(ev ndis.Event) {
			if ev.Kind == ndis.EventResetEnd {
				e.ended.Add(1)
			}
		}),
		ndis.WithResetEscalation(ndis.Escalation{MaxConsecutiveFailures: modelMaxFailures}))...)
	// The oid-timeout cause is a stuck OID that the fake's pending resets
	// leave held: the NDIS 6.30 rule breaks by design (R7).
	e.v.Expect(ndis.RuleResetPendingRequests)
	// Every reset pends: the model decides when and how it completes.
	e.fake.OnReset = func() (bool, ndis.Status) { return false, ndis.StatusPending }
	if err := e.rt.RegisterMiniportDriver(e.fake.Driver("fake", ndis.Version630)); err != nil {
		t.Fatal(err)
	}
	if err := e.rt.RegisterProtocolDriver(e.rec.Driver()); err != nil {
		t.Fatal(err)
	}
	a, err := e.rt.AddAdapter(e.ctx, "eth0", "fake", nil)
	if err != nil {
		t.Fatal(err)
	}
	e.a = a
	e.m.state = ndis.AdapterRunning
	t.Cleanup(func() {
		if e.m.resetting {
			a.ResetComplete(ndis.StatusSuccess, false)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.rt.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return e
}

// waitResetStarted waits until the fake's Reset has been called n times.
func (e *modelEnv) waitResets(n int) {
	ndistest.Eventually(e.t, func() bool { return e.fake.Resets() == n }, "Reset called %d times", n)
}

func (e *modelEnv) requestReset(cause string) {
	switch cause {
	case "driver":
		e.a.ResetMiniport()
	case "operator":
		// A request while a reset runs is dropped, and now says so.
		if err := e.rt.ResetAdapter("eth0"); err != nil && !errors.Is(err, ndis.ErrResetInProgress) {
			e.t.Fatalf("ResetAdapter: %v", err)
		}
	case "hang":
		e.fake.Hung.Store(true)
		e.clock.WaitTimers(e.t, 1)
		e.clock.Advance(2 * time.Second)
	case "oid-timeout":
		// An OID the miniport never completes, seen pending by two ticks.
		e.fake.Do(func(f *ndistest.Fake) { f.PendOIDs = true })
		mb := e.m.bindings[0]
		done := make(chan ndis.Status, 1)
		go func() {
			done <- ndistest.SetUlong(context.Background(), mb.b, 0xFF000002, 2)
		}()
		ndistest.Eventually(e.t, func() bool { return e.fake.PendingOIDs() == 1 }, "OID pending")
		e.fake.Do(func(f *ndistest.Fake) { f.PendOIDs = false })
		for range 2 {
			e.clock.WaitTimers(e.t, 1)
			e.clock.Advance(2 * time.Second)
		}
		e.resetStarted()
		e.m.operator = false
		// The pending reset holds the OID; R7 gives its caller up at completion.
		e.pendingOid = done
		return
	}
	if e.m.resetting {
		// Dropped: a reset is running. Nothing may happen.
		time.Sleep(time.Millisecond)
		return
	}
	e.resetStarted()
	e.m.operator = cause == "operator"
	if cause == "hang" {
		e.fake.Hung.Store(false)
	}
}

// resetStarted records a reset in the model and waits for its Reset call.
func (e *modelEnv) resetStarted() {
	e.m.resetting = true
	e.m.resets++
	for _, mb := range e.m.bindings {
		mb.starts++
	}
	e.waitResets(e.m.resets)
}

func (e *modelEnv) actions() map[string]func(*rapid.T) {
	return map[string]func(*rapid.T){
		"send": func(t *rapid.T) {
			if len(e.m.bindings) == 0 {
				t.Skip("no binding")
			}
			mb := rapid.SampledFrom(e.m.bindings).Draw(t, "binding")
			n := rapid.IntRange(1, 8).Draw(t, "nbls")
			ls := make([]*ndis.NetBufferList, n)
			for i := range ls {
				ls[i] = ndis.NewNetBufferList(frame(ndis.BroadcastAddress, "m"))
			}
			mb.b.SendNetBufferLists(ndis.Chain(ls...))
			want := ndis.StatusSuccess
			switch {
			case e.m.gone:
				want = ndis.StatusClosing
			case e.m.resetting:
				want = ndis.StatusResetInProgress
			case e.m.state != ndis.AdapterRunning:
				want = ndis.StatusPaused
			}
			for _, l := range ls {
				if l.Status != want || mb.rec.CompletedTimes(l) != 1 {
					t.Fatalf("send: status %v completed %d times, want %v once", l.Status, mb.rec.CompletedTimes(l), want)
				}
			}
		},
		"oid": func(t *rapid.T) {
			if len(e.m.bindings) == 0 {
				t.Skip("no binding")
			}
			mb := rapid.SampledFrom(e.m.bindings).Draw(t, "binding")
			s := ndistest.SetUlong(e.ctx, mb.b, 0xFF000001, 1)
			want := ndis.StatusSuccess
			switch {
			case e.m.gone:
				want = ndis.StatusClosing
			case e.m.resetting:
				want = ndis.StatusResetInProgress
			}
			if s != want {
				t.Fatalf("OID: %v, want %v", s, want)
			}
		},
		"pause": func(t *rapid.T) {
			if e.m.gone {
				t.Skip("gone")
			}
			err := e.rt.PauseAdapter(e.ctx, "eth0")
			if e.m.state == ndis.AdapterRunning {
				if err != nil {
					t.Fatalf("pause: %v", err)
				}
				e.m.state = ndis.AdapterPaused
			} else if !errors.Is(err, ndis.ErrInvalidState) {
				t.Fatalf("pause from %s: %v", e.m.state, err)
			}
		},
		"restart": func(t *rapid.T) {
			if e.m.gone || e.m.resetting {
				t.Skip("a restart waits for the reset to end")
			}
			err := e.rt.RestartAdapter(e.ctx, "eth0")
			if e.m.state == ndis.AdapterPaused {
				if err != nil {
					t.Fatalf("restart: %v", err)
				}
				e.m.state = ndis.AdapterRunning
			} else if !errors.Is(err, ndis.ErrInvalidState) {
				t.Fatalf("restart from %s: %v", e.m.state, err)
			}
		},
		"reset": func(t *rapid.T) {
			if e.m.gone {
				t.Skip("gone")
			}
			cause := rapid.SampledFrom([]string{"driver", "operator", "hang", "oid-timeout"}).Draw(t, "cause")
			if (cause == "hang" || cause == "oid-timeout") && e.m.resetting {
				t.Skip("no check-for-hang while a reset runs")
			}
			if cause == "oid-timeout" && (len(e.m.bindings) == 0 || e.m.state != ndis.AdapterRunning) {
				t.Skip("an OID needs a binding")
			}
			e.requestReset(cause)
		},
		"completeReset": func(t *rapid.T) {
			if e.m.gone {
				t.Skip("gone")
			}
			fail := rapid.Bool().Draw(t, "fail")
			s := ndis.StatusSuccess
			if fail {
				s = ndis.StatusHardErrors
			}
			if !e.m.resetting {
				e.v.Expect(ndis.RuleResetCompleteWithoutPending)
				before := e.v.Count(ndis.RuleResetCompleteWithoutPending)
				e.a.ResetComplete(s, false)
				if e.v.Count(ndis.RuleResetCompleteWithoutPending) != before+1 {
					t.Fatal("ResetComplete without a reset pending was not reported")
				}
				return
			}
			if e.pendingOid != nil {
				e.v.Expect(ndis.RuleResetPendingRequests) // the fake left the OID pending
			}
			e.a.ResetComplete(s, false)
			e.m.resetting = false
			e.m.ends++
			if e.pendingOid != nil {
				if st := <-e.pendingOid; st != ndis.StatusRequestAborted {
					t.Fatalf("OID left at the miniport by the reset: %v", st)
				}
				e.pendingOid = nil
				e.fake.CompleteOID(ndis.StatusSuccess) // late, taken quietly
			}
			// The reset runs until RESET_END; a request before it is dropped.
			ndistest.Eventually(t, func() bool { return e.ended.Load() == int64(e.m.ends) }, "RESET_END %d", e.m.ends)
			for _, mb := range e.m.bindings {
				mb.ends++
				mb.rec.WaitStatus(t, ndis.StatusResetEnd, mb.ends)
			}
			switch {
			case e.m.operator: // operator resets do not count toward escalation
			case fail:
				e.m.failures++
			default:
				e.m.failures = 0
			}
			if e.m.failures >= modelMaxFailures {
				<-e.a.Done()
				e.m.gone, e.m.state = true, ndis.AdapterHalted
			}
		},
		"bind": func(t *rapid.T) {
			if e.m.gone || e.m.resetting || len(e.m.bindings) >= 3 {
				t.Skip("a bind waits for the reset to end")
			}
			b, err := e.rt.Bind(e.ctx, "rec", "eth0")
			if err != nil {
				t.Fatalf("bind: %v", err)
			}
			e.m.bindings = append(e.m.bindings, &modelBinding{b: b, rec: e.rec.Binding(b)})
		},
		"unbind": func(t *rapid.T) {
			if len(e.m.bindings) == 0 {
				t.Skip("no binding")
			}
			i := rapid.IntRange(0, len(e.m.bindings)-1).Draw(t, "index")
			if err := e.m.bindings[i].b.Close(e.ctx); err != nil {
				t.Fatalf("close: %v", err)
			}
			e.m.bindings = append(e.m.bindings[:i], e.m.bindings[i+1:]...)
		},
		"halt": func(t *rapid.T) {
			if e.m.gone {
				t.Skip("gone")
			}
			if e.m.resetting {
				// A halt waits for the reset (R13): complete it meanwhile.
				done := make(chan error, 1)
				go func() { done <- e.rt.RemoveAdapter(context.Background(), "eth0") }()
				select {
				case err := <-done:
					t.Fatalf("RemoveAdapter returned (%v) during a reset", err)
				case <-time.After(2 * time.Millisecond):
				}
				if e.pendingOid != nil {
					e.v.Expect(ndis.RuleResetPendingRequests)
				}
				e.a.ResetComplete(ndis.StatusSuccess, false)
				if err := <-done; err != nil {
					t.Fatalf("RemoveAdapter: %v", err)
				}
				e.m.resetting = false
				e.m.ends++
				for _, mb := range e.m.bindings {
					mb.ends++
				}
				if e.pendingOid != nil {
					<-e.pendingOid
					e.pendingOid = nil
				}
			} else if err := e.rt.RemoveAdapter(context.Background(), "eth0"); err != nil {
				t.Fatalf("RemoveAdapter: %v", err)
			}
			<-e.a.Done()
			if !e.fake.IsHalted() {
				t.Fatal("MiniportHaltEx not called")
			}
			e.m.gone, e.m.state = true, ndis.AdapterHalted
		},
		"audit": func(t *rapid.T) { // always valid, and first by name: rapid falls back on it
			st := e.a.Stats()
			var performed uint64
			for _, c := range st.Resets {
				performed += c.Performed
			}
			if performed != uint64(e.m.resets) {
				t.Fatalf("%d resets performed, model %d", performed, e.m.resets)
			}
		},
		"": func(t *rapid.T) {
			if got := e.a.State(); got != e.m.state {
				t.Fatalf("state %s, model %s", got, e.m.state)
			}
			if got := e.fake.Resets(); got != e.m.resets {
				t.Fatalf("Reset called %d times, model %d", got, e.m.resets)
			}
			for i, mb := range e.m.bindings {
				pairs, open, err := mb.rec.CheckResetPairs()
				if err != nil {
					t.Fatalf("binding %d: %v", i, err)
				}
				if pairs != mb.ends || open != (mb.starts > mb.ends) {
					t.Fatalf("binding %d: %d pairs (open %v), model %d starts %d ends", i, pairs, open, mb.starts, mb.ends)
				}
			}
			if n := e.fake.SendsDuringReset(); n != 0 {
				t.Fatalf("%d sends reached the miniport inside Reset", n)
			}
		},
	}
}

// TestModel runs random operation sequences against the runtime and checks
// each step against the reference model. A failing sequence shrinks to a
// minimal one; shrunk failures are kept below as regression tests.
func TestModel(t *testing.T) {
	defer func(d time.Duration) { ndistest.WaitTimeout = d }(ndistest.WaitTimeout)
	ndistest.WaitTimeout = 2 * time.Second // fail fast, so that shrinking is quick
	rapid.Check(t, func(t *rapid.T) {
		e := newModelEnv(t)
		t.Repeat(e.actions())
	})
}

// TestModelString makes sure the model's failure messages name states.
func TestModelString(t *testing.T) {
	if s := fmt.Sprint(ndis.AdapterPausing); s != "Pausing" {
		t.Fatal(s)
	}
}
