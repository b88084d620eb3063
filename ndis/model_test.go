package ndis_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
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
	b        *ndis.Binding
	rec      *ndistest.Recorder
	hooks    *hookSlot // its handlers' calls back into the runtime
	starts   int       // RESET_STARTs this binding should have seen
	ends     int
	links    int      // link-state indications it should have seen
	received int      // NBLs indicated to it
	armed    *reentry // the call its handler is to make, until the model sees it made
}

// closedBinding is a binding the model or a handler closed: once its close
// is complete no indication reaches it.
type closedBinding struct {
	rec         *ndistest.Recorder
	indications int // receives and statuses when the close completed
}

// indications counts the receives and status indications a recorder saw.
func indications(rec *ndistest.Recorder) int {
	n := 0
	for _, x := range rec.Records() {
		if x.Kind == ndistest.RecordReceive || x.Kind == ndistest.RecordStatus {
			n++
		}
	}
	return n
}

// sentNBL is an NBL the model sent, or a handler did, and the recorder it
// must come back to exactly once.
type sentNBL struct {
	l   *ndis.NetBufferList
	rec *ndistest.Recorder
}

const modelMaxFailures = 3

// modelEnv is the system under test for one rapid run.
type modelEnv struct {
	t *rapid.T
	fixture
	a     *ndis.Adapter
	m     model
	ended atomic.Int64 // EventResetEnd events
	// pendingOid is the caller of an OID left at the miniport by an
	// oid-timeout reset; the reset's completion answers it (R7).
	pendingOid chan ndis.Status

	slotsMu   sync.Mutex
	slots     map[*ndistest.Recorder]*hookSlot
	linkIn    atomic.Uint32 // the miniport handler to indicate a link state from (linkFrom), until it has
	linkArmed linkFrom      // the model's copy: what the action armed
	flips     atomic.Uint32 // link states indicated, by the model or the miniport

	sent   []sentNBL       // every NBL sent, by the model or a handler
	asyncs []*asyncOid     // every OidRequestAsync a handler made
	closed []closedBinding // bindings closed, by the model or a handler
}

func newModelEnv(t *rapid.T) *modelEnv {
	e := &modelEnv{t: t, slots: make(map[*ndistest.Recorder]*hookSlot)}
	driver := func(f *ndistest.Fake) ndis.MiniportDriver {
		// Every reset pends: the model decides when and how it completes.
		f.OnReset = func() (bool, ndis.Status) { return false, ndis.StatusPending }
		d := f.Driver("fake", ndis.Version630)
		initialize := d.Initialize
		d.Initialize = func(a *ndis.Adapter, p ndis.InitParameters) (ndis.Miniport, error) {
			if _, err := initialize(a, p); err != nil {
				return nil, err
			}
			return &modelMiniport{Fake: f, a: a, from: &e.linkIn, flips: &e.flips}, nil
		}
		return d
	}
	e.fixture = newFixture(t, driver, ndis.WithResetTimeout(time.Hour),
		ndis.WithEventHandler(func(ev ndis.Event) {
			if ev.Kind == ndis.EventResetEnd {
				e.ended.Add(1)
			}
		}),
		ndis.WithResetEscalation(ndis.Escalation{MaxConsecutiveFailures: modelMaxFailures}))
	e.rec.Setup = func(r *ndistest.Recorder) {
		h := &hookSlot{b: r.B}
		h.install(r)
		e.slotsMu.Lock()
		e.slots[r] = h
		e.slotsMu.Unlock()
	}
	// The oid-timeout cause is a stuck OID that the fake's pending resets
	// leave held: the NDIS 6.30 rule breaks by design (R7).
	e.v.Expect(ndis.RuleResetPendingRequests)
	a, err := e.rt.AddAdapter(e.ctx, "eth0", "fake", nil)
	if err != nil {
		t.Fatal(err)
	}
	e.a = a
	e.m.state = ndis.AdapterRunning
	// Cleanups run last first: the reset completes before the runtime closes.
	t.Cleanup(func() {
		if e.m.resetting {
			a.ResetComplete(ndis.StatusSuccess, false)
		}
	})
	return e
}

// waitResets waits until the fake's Reset has been called n times.
func (e *modelEnv) waitResets(n int) {
	ndistest.Eventually(e.t, func() bool { return e.fake.Resets() == n }, "Reset called %d times", n)
}

// requestReset asks for a reset for cause; with link, the miniport
// indicates a link state from inside its Reset.
func (e *modelEnv) requestReset(cause string, link bool) {
	if link {
		e.linkIn.Store(uint32(linkFromReset))
		e.linkArmed = linkFromReset
	}
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
		mb := e.m.bindings[0]
		// Requests queued before, a handler's or the runtime's own, reach
		// the miniport first: the one left pending must be this one.
		if s := ndistest.SetUlong(e.ctx, mb.b, 0xFF000001, 1); s != ndis.StatusSuccess {
			e.t.Fatalf("OID before the stuck one: %v", s)
		}
		// An OID the miniport never completes, seen pending by two ticks.
		e.fake.Do(func(f *ndistest.Fake) { f.PendOIDs = true })
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

// resetStarted records a reset in the model, waits for its Reset call and
// its RESET_STARTs, and checks what the handlers did: from RESET_START, and
// from a link state the miniport indicated inside Reset.
func (e *modelEnv) resetStarted() {
	e.m.resetting = true
	e.m.resets++
	for _, mb := range e.m.bindings {
		mb.starts++
	}
	e.waitResets(e.m.resets)
	for _, mb := range e.m.bindings {
		ndistest.Eventually(e.t, func() bool { return mb.hooks.hasRun(onResetStart, mb.starts) }, "RESET_START %d", mb.starts)
	}
	e.reentered(e.t, onResetStart, sceneResetting)
	e.armedLinkDelivered(e.t, sceneResetting)
}

// completeReset completes the pending reset, waits for RESET_END and
// checks what the handlers did from it. With again, the miniport asks for
// the next reset as soon as this one has ended, while the bindings hear
// RESET_END: it starts once they all have (R12).
func (e *modelEnv) completeReset(t *rapid.T, fail, again bool) {
	s := ndis.StatusSuccess
	if fail {
		s = ndis.StatusHardErrors
	}
	if e.pendingOid != nil {
		e.v.Expect(ndis.RuleResetPendingRequests) // the fake left the OID pending
	}
	switch {
	case e.m.operator: // operator resets do not count toward escalation
	case fail:
		e.m.failures++
	default:
		e.m.failures = 0
	}
	escalated := e.m.failures >= modelMaxFailures
	e.a.ResetComplete(s, false)
	e.m.resetting = false
	e.m.ends++
	if e.pendingOid != nil {
		if st := <-e.pendingOid; st != ndis.StatusRequestAborted {
			t.Fatalf("OID left at the miniport by the reset: %v", st)
		}
		e.pendingOid = nil
		if !escalated { // a failed adapter's miniport is halted: it completes nothing more
			e.fake.CompleteOID(ndis.StatusSuccess) // late, taken quietly
		}
	}
	// The reset runs until RESET_END; a request before it is dropped.
	ndistest.Eventually(t, func() bool { return e.ended.Load() == int64(e.m.ends) }, "RESET_END %d", e.m.ends)
	sc := e.sceneNow()
	if escalated {
		sc = sceneFailed
	}
	again = again && !escalated
	if again {
		e.mayReenter(t, onResetStart)
		e.a.ResetMiniport()
	}
	for _, mb := range e.m.bindings {
		mb.ends++
		ndistest.Eventually(t, func() bool { return mb.hooks.hasRun(onResetEnd, mb.ends) }, "RESET_END %d", mb.ends)
	}
	e.reentered(t, onResetEnd, sc)
	if escalated {
		<-e.a.Done()
		e.m.gone, e.m.state = true, ndis.AdapterHalted
		return
	}
	if again {
		e.resetStarted()
		e.m.operator = false
	}
}

// sceneNow is what a handler running now sees.
func (e *modelEnv) sceneNow() scene {
	switch {
	case e.m.gone:
		return sceneClosed
	case e.m.resetting:
		return sceneResetting
	case e.m.state == ndis.AdapterRunning:
		return sceneRunning
	}
	return scenePaused
}

// armLink draws whether the miniport indicates a link state from inside
// handler h, which the action about to run calls, and arms it.
func (e *modelEnv) armLink(t *rapid.T, h linkFrom) bool {
	if len(e.m.bindings) == 0 || !rapid.Bool().Draw(t, "link") {
		return false
	}
	e.mayReenter(t, onLinkState)
	e.linkIn.Store(uint32(h))
	e.linkArmed = h
	return true
}

// change runs the pause or restart op, legal only from the model's state
// from, and moves the model to state to; from another state op must fail
// with ErrInvalidState. When legal, the miniport may be armed to indicate a
// link state from handler h, which op calls; change reports whether it was.
func (e *modelEnv) change(t *rapid.T, name string, op func(context.Context, string) error, from, to ndis.AdapterState, h linkFrom) bool {
	link := e.m.state == from && e.armLink(t, h)
	err := op(e.ctx, "eth0")
	if e.m.state == from {
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		e.m.state = to
	} else if !errors.Is(err, ndis.ErrInvalidState) {
		t.Fatalf("%s from %s: %v", name, e.m.state, err)
	}
	return link
}

// armedLinkDelivered checks the link state the miniport was armed to
// indicate from inside one of its handlers, if it was: the handler ran,
// the indication reached every binding, and what their handlers did from
// it.
func (e *modelEnv) armedLinkDelivered(t *rapid.T, sc scene) {
	h := e.linkArmed
	if h == linkNowhere {
		return
	}
	e.linkArmed = linkNowhere
	if linkFrom(e.linkIn.Load()) != linkNowhere {
		t.Fatalf("the miniport's %s handler was not called", h)
	}
	e.linkDelivered(t, sc)
}

// linkDelivered waits for a link state indicated now to reach every
// binding, and checks what their handlers did from it.
func (e *modelEnv) linkDelivered(t *rapid.T, sc scene) {
	for _, mb := range e.m.bindings {
		mb.links++
		ndistest.Eventually(t, func() bool { return mb.hooks.hasRun(onLinkState, mb.links) }, "link state %d", mb.links)
	}
	e.reentered(t, onLinkState, sc)
}

// arm arms a call back into the runtime from mb's handler for on, the next
// time it runs.
func (e *modelEnv) arm(t *rapid.T, mb *modelBinding, on trigger) {
	if mb.armed != nil && mb.armed.fired() {
		t.Fatalf("%s ran when the model did not expect it", mb.armed)
	}
	r := newReentry(on, rapid.SampledFrom(callKinds).Draw(t, "call"))
	switch r.call {
	case callOid:
		r.wait = rapid.SampledFrom([]time.Duration{0, time.Millisecond, ndistest.WaitTimeout}).Draw(t, "wait")
	case callSend:
		r.nbls = rapid.IntRange(1, 3).Draw(t, "nbls")
	}
	mb.armed = r
	mb.hooks.arm(r)
}

// mayReenter draws, for every binding (of only, if any) with no call
// armed, whether its handler for on, which the action is about to run,
// calls back into the runtime, and arms the call.
func (e *modelEnv) mayReenter(t *rapid.T, on trigger, only ...*modelBinding) {
	for _, mb := range e.m.bindings {
		if mb.armed != nil || len(only) > 0 && !slices.Contains(only, mb) {
			continue
		}
		if rapid.Bool().Draw(t, "reenter") {
			e.arm(t, mb, on)
		}
	}
}

// reentered waits for the calls the handlers for on of the bindings (only
// of those in only, if any) were armed to make, which the action has just
// caused to run, and checks each against the scene. A binding a handler
// closed leaves the model.
func (e *modelEnv) reentered(t *rapid.T, on trigger, sc scene, only ...*modelBinding) {
	var gone []*modelBinding
	for _, mb := range e.m.bindings {
		if len(only) > 0 && !slices.Contains(only, mb) {
			continue
		}
		if mb.armed == nil || mb.armed.on != on {
			continue
		}
		r := mb.armed
		mb.armed = nil
		select {
		case <-r.done:
		case <-time.After(2 * ndistest.WaitTimeout):
			t.Fatalf("%s (%s): the handler never made it or never returned: the adapter is wedged", r, sc)
		}
		if e.checkReentry(t, mb, r, sc) {
			gone = append(gone, mb)
		}
	}
	e.m.bindings = slices.DeleteFunc(e.m.bindings, func(mb *modelBinding) bool { return slices.Contains(gone, mb) })
}

// checkReentry checks what a handler's call saw; it reports whether the
// call closed the binding.
func (e *modelEnv) checkReentry(t *rapid.T, mb *modelBinding, r *reentry, sc scene) bool {
	switch r.call {
	case callClose:
		if r.closeErr != nil {
			t.Fatalf("%s (%s): %v: Close waited for its own handler", r, sc, r.closeErr)
		}
		if r.doneInside && !sc.closed {
			t.Fatalf("%s (%s): Done was closed while the handler ran", r, sc)
		}
		select {
		case <-mb.b.Done():
		case <-time.After(ndistest.WaitTimeout):
			t.Fatalf("%s (%s): the close never completed after the handler returned", r, sc)
		}
		e.closed = append(e.closed, closedBinding{rec: mb.rec, indications: indications(mb.rec)})
		return true
	case callOid:
		ok := sc.oid
		if r.wait < ndistest.WaitTimeout {
			ok = append(slices.Clone(ok), ndis.StatusRequestAborted) // its context may end first
		}
		if !slices.Contains(ok, r.status) {
			t.Fatalf("%s (%s): %s, want one of %v", r, sc, r.status, ok)
		}
	case callOidAsync, callOidCancel:
		x := r.async
		switch {
		case r.status == ndis.StatusPending:
			// Queued: served, even after a reset (R5), or given up when
			// the binding or the adapter closes first.
			x.allowed = statuses(ndis.StatusSuccess, ndis.StatusClosing)
			if x.cancelled {
				// CancelOidRequest gave it up: it completes with
				// StatusRequestAborted, whatever the miniport answers.
				x.allowed = statuses(ndis.StatusRequestAborted)
			}
		case r.status != ndis.StatusSuccess && slices.Contains(sc.oid, r.status):
			x.final = true
		default:
			t.Fatalf("%s (%s): answered %s at once, want pending or one of %v", r, sc, r.status, sc.oid)
		}
		e.asyncs = append(e.asyncs, x)
	case callSend:
		for _, l := range r.sent {
			if n := mb.rec.CompletedTimes(l); n != 1 || !slices.Contains(sc.send, l.Status) {
				t.Fatalf("%s (%s): an NBL completed %d times with %s, want once with one of %v", r, sc, n, l.Status, sc.send)
			}
			e.sent = append(e.sent, sentNBL{l, mb.rec})
		}
	}
	return false
}

func (e *modelEnv) actions() map[string]func(*rapid.T) {
	actions := map[string]func(*rapid.T){
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
			sc := e.sceneNow()
			want := sc.send[0]
			e.mayReenter(t, onComplete, mb)
			// The miniport may ask for a reset from inside its send, before
			// it completes the chain: the completion handler then runs
			// while the reset waits for the sender to leave.
			resetInSend := sc.name == sceneRunning.name && rapid.Bool().Draw(t, "reset")
			if resetInSend {
				sc = sceneSendReset
				e.mayReenter(t, onResetStart)
				if r := mb.armed; r != nil && r.on == onComplete && r.call == callOid {
					// It cannot be served before the sender has left.
					mb.hooks.mu.Lock()
					r.wait = min(r.wait, time.Millisecond)
					mb.hooks.mu.Unlock()
				}
				var once atomic.Bool
				e.fake.Do(func(f *ndistest.Fake) {
					f.OnSend = func(*ndis.NetBufferList) {
						if once.CompareAndSwap(false, true) {
							e.a.ResetMiniport()
						}
					}
				})
			}
			mb.b.SendNetBufferLists(ndis.Chain(ls...))
			if resetInSend {
				e.fake.Do(func(f *ndistest.Fake) { f.OnSend = nil })
			}
			for _, l := range ls {
				if l.Status != want || mb.rec.CompletedTimes(l) != 1 {
					t.Fatalf("send: status %v completed %d times, want %v once", l.Status, mb.rec.CompletedTimes(l), want)
				}
				e.sent = append(e.sent, sentNBL{l, mb.rec})
			}
			e.reentered(t, onComplete, sc, mb)
			if resetInSend {
				e.resetStarted()
				e.m.operator = false
			}
		},
		"receive": func(t *rapid.T) {
			n := rapid.IntRange(1, 3).Draw(t, "nbls")
			frames := make([][]byte, n)
			for i := range frames {
				frames[i] = frame(ndis.BroadcastAddress, "r")
			}
			delivered := !e.m.resetting && e.m.state == ndis.AdapterRunning
			if delivered {
				e.mayReenter(t, onReceive)
			}
			before := e.fake.ReturnedTotal()
			e.fake.Indicate(0, frames...)
			// Delivered or not, every NBL is back at the miniport, once,
			// when the indication returns.
			if got := e.fake.ReturnedTotal() - before; got != n {
				t.Fatalf("receive: %d of %d NBLs returned to the miniport", got, n)
			}
			if !delivered {
				return // returned at once, delivered to nobody (R12)
			}
			for _, mb := range e.m.bindings {
				mb.received += n
			}
			e.reentered(t, onReceive, sceneRunning)
		},
		"link": func(t *rapid.T) {
			// With no binding open, nobody can tell when the indication has
			// gone by: a binding opened meanwhile may hear it.
			if len(e.m.bindings) == 0 {
				t.Skip("no binding")
			}
			e.mayReenter(t, onLinkState)
			indicateLink(e.a, &e.flips)
			e.linkDelivered(t, e.sceneNow())
		},
		"reenter": func(t *rapid.T) {
			if len(e.m.bindings) == 0 {
				t.Skip("no binding")
			}
			mb := rapid.SampledFrom(e.m.bindings).Draw(t, "binding")
			e.arm(t, mb, rapid.SampledFrom(triggers).Draw(t, "from"))
		},
		"oid": func(t *rapid.T) {
			if len(e.m.bindings) == 0 {
				t.Skip("no binding")
			}
			mb := rapid.SampledFrom(e.m.bindings).Draw(t, "binding")
			sc := e.sceneNow()
			link := !e.m.gone && !e.m.resetting && e.armLink(t, linkFromOid)
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
			if link {
				e.armedLinkDelivered(t, sc)
			}
		},
		"pause": func(t *rapid.T) {
			if e.change(t, "pause", e.rt.PauseAdapter, ndis.AdapterRunning, ndis.AdapterPaused, linkFromPause) {
				sc := scenePausing
				if e.m.resetting {
					sc = sceneResetting
				}
				e.armedLinkDelivered(t, sc)
			}
		},
		"restart": func(t *rapid.T) {
			if e.m.resetting {
				t.Skip("a restart waits for the reset to end")
			}
			if e.change(t, "restart", e.rt.RestartAdapter, ndis.AdapterPaused, ndis.AdapterRunning, linkFromRestart) {
				e.armedLinkDelivered(t, sceneRestarting)
			}
		},
		"reset": func(t *rapid.T) {
			cause := rapid.SampledFrom([]string{"driver", "operator", "hang", "oid-timeout"}).Draw(t, "cause")
			if (cause == "hang" || cause == "oid-timeout") && e.m.resetting {
				t.Skip("no check-for-hang while a reset runs")
			}
			if cause == "oid-timeout" && (len(e.m.bindings) == 0 || e.m.state != ndis.AdapterRunning) {
				t.Skip("an OID needs a binding")
			}
			link := false
			if !e.m.resetting { // the reset starts
				e.mayReenter(t, onResetStart)
				link = len(e.m.bindings) > 0 && rapid.Bool().Draw(t, "link")
				if link {
					e.mayReenter(t, onLinkState)
				}
			}
			e.requestReset(cause, link)
		},
		"completeReset": func(t *rapid.T) {
			fail := rapid.Bool().Draw(t, "fail")
			if !e.m.resetting {
				s := ndis.StatusSuccess
				if fail {
					s = ndis.StatusHardErrors
				}
				e.v.Expect(ndis.RuleResetCompleteWithoutPending)
				before := e.v.Count(ndis.RuleResetCompleteWithoutPending)
				e.a.ResetComplete(s, false)
				if e.v.Count(ndis.RuleResetCompleteWithoutPending) != before+1 {
					t.Fatal("ResetComplete without a reset pending was not reported")
				}
				return
			}
			e.mayReenter(t, onResetEnd)
			e.completeReset(t, fail, rapid.Bool().Draw(t, "again"))
		},
		"bind": func(t *rapid.T) {
			if e.m.resetting || len(e.m.bindings) >= 3 {
				t.Skip("a bind waits for the reset to end")
			}
			b, err := e.rt.Bind(e.ctx, "rec", "eth0")
			if err != nil {
				t.Fatalf("bind: %v", err)
			}
			rec := e.rec.Binding(b)
			e.slotsMu.Lock()
			hooks := e.slots[rec]
			e.slotsMu.Unlock()
			// Broadcasts reach it: the receives the model indicates.
			if s := ndistest.SetPacketFilter(e.ctx, b, ndis.PacketTypeDirected|ndis.PacketTypeBroadcast); s != ndis.StatusSuccess {
				t.Fatalf("packet filter: %v", s)
			}
			e.m.bindings = append(e.m.bindings, &modelBinding{b: b, rec: rec, hooks: hooks})
		},
		"unbind": func(t *rapid.T) {
			if len(e.m.bindings) == 0 {
				t.Skip("no binding")
			}
			i := rapid.IntRange(0, len(e.m.bindings)-1).Draw(t, "index")
			mb := e.m.bindings[i]
			if err := mb.b.Close(e.ctx); err != nil {
				t.Fatalf("close: %v", err)
			}
			if mb.armed != nil && mb.armed.fired() {
				t.Fatalf("%s ran unexpectedly", mb.armed)
			}
			e.closed = append(e.closed, closedBinding{rec: mb.rec, indications: indications(mb.rec)})
			e.m.bindings = append(e.m.bindings[:i], e.m.bindings[i+1:]...)
		},
		"halt": func(t *rapid.T) {
			if e.m.resetting {
				e.mayReenter(t, onResetEnd)
				// A halt waits for the reset (R13): complete it meanwhile.
				done := removeDuringReset(t, e.rt, "eth0", 2*time.Millisecond)
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
				// Protocols hear RESET_END before they are unbound.
				e.reentered(t, onResetEnd, sceneHalting)
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
		"": e.check,
	}
	// Once the adapter is gone, only its closed bindings have anything left
	// to check; every other action does nothing rather than skip, lest
	// rapid find no valid action in the rest of a long sequence.
	for name, action := range actions {
		if name == "" {
			continue
		}
		actions[name] = func(t *rapid.T) {
			if e.m.gone && !afterGone[name] {
				return
			}
			action(t)
		}
	}
	return actions
}

// afterGone are the actions that still check something once the adapter
// is gone, on its closed bindings, and the audit.
var afterGone = map[string]bool{"send": true, "oid": true, "unbind": true, "reenter": true, "audit": true}

// check holds the model's invariants after every action.
func (e *modelEnv) check(t *rapid.T) {
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
		if n := mb.rec.Count(ndis.StatusLinkState); n != mb.links {
			t.Fatalf("binding %d: %d link states, model %d", i, n, mb.links)
		}
		if n := mb.rec.Received(); n != mb.received {
			t.Fatalf("binding %d: %d NBLs received, model %d", i, n, mb.received)
		}
		if mb.armed != nil && mb.armed.fired() {
			t.Fatalf("binding %d: %s ran when the model did not expect it", i, mb.armed)
		}
	}
	if n := e.fake.SendsDuringReset(); n != 0 {
		t.Fatalf("%d sends reached the miniport inside Reset", n)
	}
	for _, x := range e.sent {
		if n := x.rec.CompletedTimes(x.l); n != 1 {
			t.Fatalf("an NBL completed %d times", n)
		}
	}
	for _, c := range e.closed {
		if n := indications(c.rec); n != c.indications {
			t.Fatalf("a closed binding had %d indications after its close completed", n-c.indications)
		}
	}
	// A request a handler left pending completes exactly once; unless a
	// reset holds it back, it completes now.
	for _, x := range e.asyncs {
		if !e.m.resetting {
			ndistest.Eventually(t, x.completed, "%s: the completion", x.what)
		}
		if err := x.check(); err != nil {
			t.Fatal(err)
		}
	}
}

// coda ends a sequence: with no call armed any more, a reset requested
// after everything the handlers did still runs from RESET_START to
// RESET_END, and a request of every binding is served.
func (e *modelEnv) coda(t *rapid.T) {
	for _, mb := range e.m.bindings {
		mb.hooks.arm(nil)
		if mb.armed != nil && mb.armed.fired() {
			t.Fatalf("%s ran when the model did not expect it", mb.armed)
		}
		mb.armed = nil
	}
	if e.m.gone {
		return
	}
	if e.m.resetting {
		e.completeReset(t, false, false)
	}
	e.requestReset("operator", false)
	e.completeReset(t, false, false)
	for i, mb := range e.m.bindings {
		if s := ndistest.SetUlong(e.ctx, mb.b, 0xFF000001, 1); s != ndis.StatusSuccess {
			t.Fatalf("binding %d: OID after the last reset: %v", i, s)
		}
	}
	e.check(t)
}

// TestModel runs random operation sequences against the runtime and checks
// each step against the reference model. The protocol's handlers call back
// into the runtime from RESET_START, RESET_END, link states (indicated by
// the miniport's interrupt or from inside its Pause, Restart, Reset and
// OidRequest), receives and send completions: Close of their own binding,
// OID requests pending, cancelled or blocking, and sends. Every NBL comes
// back exactly once, RESET_START and RESET_END pair per binding, no call
// from a handler wedges the adapter, and a reset requested after them all
// still reaches RESET_END. A failing sequence shrinks to a minimal one;
// shrunk failures are kept below as regression tests.
func TestModel(t *testing.T) {
	defer func(d time.Duration) { ndistest.WaitTimeout = d }(ndistest.WaitTimeout)
	ndistest.WaitTimeout = 2 * time.Second // fail fast, so that shrinking is quick
	rapid.Check(t, func(t *rapid.T) {
		e := newModelEnv(t)
		t.Repeat(e.actions())
		e.coda(t)
	})
}

// TestModelString makes sure the model's failure messages name states.
func TestModelString(t *testing.T) {
	if s := fmt.Sprint(ndis.AdapterPausing); s != "Pausing" {
		t.Fatal(s)
	}
}

// TestModelResetLeavesRuntimeOid is a sequence the model's oid-timeout step
// could run into: the request the miniport holds when its reset completes
// is the runtime's own (the packet filter set again after a binding with
// a filter closed), not a protocol's. The NDIS 6.30 rule must hold for it
// as for a protocol's request (R7): the violation is reported, the request
// is given up, and the adapter's requests flow again.
func TestModelResetLeavesRuntimeOid(t *testing.T) {
	e := newEnv(t)
	e.adapter("eth0")
	b1, rec1 := e.bind("eth0")
	b2, _ := e.bind("eth0")
	e.setFilter(b1, ndis.PacketTypeDirected)
	e.setFilter(b2, ndis.PacketTypeBroadcast)
	// A miniport that keeps its requests and forgets them in its reset.
	e.fake.Do(func(f *ndistest.Fake) {
		f.PendOIDs = true
		f.OnReset = func() (bool, ndis.Status) { return false, ndis.StatusSuccess }
	})
	if err := b2.Close(e.ctx); err != nil {
		t.Fatal(err)
	}
	ndistest.Eventually(t, func() bool { return e.fake.PendingOIDs() == 1 }, "the runtime's packet filter set at the miniport")
	e.fake.Do(func(f *ndistest.Fake) { f.PendOIDs = false })
	e.v.Expect(ndis.RuleResetPendingRequests)
	if err := e.rt.ResetAdapter("eth0"); err != nil {
		t.Fatal(err)
	}
	rec1.WaitStatus(t, ndis.StatusResetEnd, 1)
	ctx, cancel := context.WithTimeout(e.ctx, ndistest.WaitTimeout)
	defer cancel()
	if s := ndistest.SetUlong(ctx, b1, 0xFF000001, 1); s != ndis.StatusSuccess {
		t.Errorf("a request after the reset: %s; the queue waits behind the runtime's forgotten one", s)
	}
	if e.v.Count(ndis.RuleResetPendingRequests) == 0 {
		t.Error("the reset completed while the miniport held the runtime's request: not reported")
	}
	e.fake.CompleteOID(ndis.StatusSuccess)
}

// TestModelCancelAtMiniport is a failure the model found: a request of
// OidRequestAsync that CancelOidRequest gives up while the miniport holds
// it completes with StatusRequestAborted, as CancelOidRequest promises,
// even when the miniport answers it before the completion has run.
func TestModelCancelAtMiniport(t *testing.T) {
	e := newEnv(t)
	e.fake.PendOIDs = true
	e.adapter("eth0")
	b, _ := e.bind("eth0")
	// The first request's completion holds up the ones behind it.
	release := make(chan struct{})
	first := &ndis.OidRequest{Type: ndis.RequestSet, OID: reentryOID, Buffer: ndis.Ulong(1)}
	if s := b.OidRequestAsync(first, func(*ndis.OidRequest, ndis.Status) { <-release }); s != ndis.StatusPending {
		t.Fatal(s)
	}
	ndistest.Eventually(t, func() bool { return e.fake.PendingOIDs() == 1 }, "the first request at the miniport")
	e.fake.CompleteOID(ndis.StatusSuccess)
	var res asyncResult
	second := &ndis.OidRequest{Type: ndis.RequestSet, OID: reentryOID, Buffer: ndis.Ulong(2)}
	if s := b.OidRequestAsync(second, res.complete); s != ndis.StatusPending {
		t.Fatal(s)
	}
	ndistest.Eventually(t, func() bool { return e.fake.PendingOIDs() == 1 }, "the second request at the miniport")
	if !b.CancelOidRequest(second) {
		t.Fatal("CancelOidRequest of the request at the miniport: false")
	}
	e.fake.CompleteOID(ndis.StatusSuccess) // the miniport answers it anyway
	close(release)
	ndistest.Eventually(t, func() bool { return len(res.statuses()) == 1 }, "the cancelled request's completion")
	if got := res.statuses(); got[0] != ndis.StatusRequestAborted {
		t.Errorf("the cancelled request completed with %s, want %s", got[0], ndis.StatusRequestAborted)
	}
}
