package ndis_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

// Regression tests for interleavings found in review.

// A protocol may issue an OID request from its RESET_END handler: RESET_END
// is not delivered on the work goroutine that serves the request.
func TestOidFromResetEndHandler(t *testing.T) {
	e := newEnv(t)
	e.adapter("eth0")
	b, rec := e.bind("eth0")
	res := make(chan ndis.Status, 1)
	rec.OnStatus = func(code ndis.Status, _ []byte) {
		if code != ndis.StatusResetEnd {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		res <- ndistest.SetPacketFilter(ctx, b, ndis.PacketTypeDirected)
	}
	e.reset("eth0")
	if s := <-res; s != ndis.StatusSuccess {
		t.Errorf("OID request from the RESET_END handler: %v", s)
	}
}

// An addressing restore the miniport never finishes is bounded by the reset
// timeout: the adapter fails and can be removed.
func TestRestoreTimeout(t *testing.T) {
	e := newEnv(t, ndis.WithResetTimeout(10*time.Second))
	e.fake.ResetAddressing = true
	a := e.adapter("eth0")
	_, rec := e.bindFiltered("eth0", ndis.PacketTypeDirected)
	e.fake.Do(func(f *ndistest.Fake) { f.PendOIDs = true })
	e.v.Expect(ndis.RuleResetTimeout)
	e.reset("eth0")
	ndistest.Eventually(t, func() bool { return e.fake.PendingOIDs() == 1 }, "restore request at the miniport")
	e.clock.WaitTimers(t, 2)
	e.clock.Advance(10 * time.Second)
	e.waitResetTimedOut(a, rec) // the miniport's late answer is a call after halt
	e.fake.CompleteOID(ndis.StatusSuccess)
}

// After a reset timeout nothing more reaches the miniport, not even a send
// from a RESET_END handler.
func TestTimeoutKeepsGateClosed(t *testing.T) {
	e := newEnv(t, ndis.WithResetTimeout(time.Second))
	e.v.Expect(ndis.RuleResetTimeout)
	var pending, sendsAfter atomic.Int32
	e.fake.OnReset = func() (bool, ndis.Status) { pending.Store(1); return false, ndis.StatusPending }
	e.fake.OnSend = func(*ndis.NetBufferList) {
		if pending.Load() == 1 {
			sendsAfter.Add(1)
		}
	}
	e.adapter("eth0")
	b, rec := e.bind("eth0")
	sent := make(chan *ndis.NetBufferList, 1)
	rec.OnStatus = func(code ndis.Status, _ []byte) {
		if code == ndis.StatusResetEnd {
			l := ndis.NewNetBufferList(frame(ndis.BroadcastAddress, "x"))
			b.SendNetBufferLists(l)
			sent <- l
		}
	}
	e.reset("eth0")
	ndistest.Eventually(t, func() bool { return pending.Load() == 1 }, "reset pending")
	e.clock.WaitTimers(t, 2)
	e.clock.Advance(time.Second)
	l := <-sent
	if n := sendsAfter.Load(); n != 0 || l.Status == ndis.StatusSuccess {
		t.Errorf("%d sends reached a miniport whose reset timed out (status %v)", n, l.Status)
	}
}

// A protocol may send from BindAdapter; the completion waits for its
// Protocol to exist.
func TestSendFromBindAdapter(t *testing.T) {
	e := newEnv(t)
	e.adapter("eth0")
	var l *ndis.NetBufferList
	e.rec.Setup = func(r *ndistest.Recorder) {
		l = ndis.NewNetBufferList(frame(ndis.BroadcastAddress, "garp"))
		r.B.SendNetBufferLists(l)
	}
	_, rec := e.bind("eth0")
	if rec.CompletedTimes(l) != 1 || l.Status != ndis.StatusSuccess {
		t.Errorf("send from BindAdapter: completed %d times, %v", rec.CompletedTimes(l), l.Status)
	}
}

// A reset that starts while BindAdapter runs: Bind returns after RESET_END,
// and the new binding's sends then go through.
func TestBindOverlappingReset(t *testing.T) {
	e := newEnv(t)
	var pending atomic.Bool
	e.fake.OnReset = func() (bool, ndis.Status) { pending.Store(true); return false, ndis.StatusPending }
	a := e.adapter("eth0")
	entered, release := make(chan struct{}), make(chan struct{})
	e.rec.Setup = func(*ndistest.Recorder) { close(entered); <-release }
	bound := e.bindAsync("eth0")
	<-entered
	e.reset("eth0")
	ndistest.Eventually(t, func() bool { return pending.Load() }, "reset pending")
	close(release)
	b := e.bindWaitsForReset(a, bound)
	l := ndis.NewNetBufferList(frame(ndis.BroadcastAddress, "x"))
	b.SendNetBufferLists(l)
	if l.Status != ndis.StatusSuccess {
		t.Errorf("send after Bind returned: %v", l.Status)
	}
}

// Two Binds at once (run with -race: the protocol is published under the
// adapter lock).
func TestConcurrentBinds(t *testing.T) {
	e := newEnv(t)
	e.adapter("eth0")
	var n atomic.Int32
	entered := make(chan struct{})
	e.rec.Setup = func(*ndistest.Recorder) {
		if n.Add(1) == 1 {
			close(entered)
			time.Sleep(20 * time.Millisecond)
		}
	}
	done := make(chan struct{})
	go func() { defer close(done); e.bind("eth0") }()
	<-entered
	e.bind("eth0")
	<-done
	if got := len(e.fake.Adapter.Bindings()); got != 2 {
		t.Errorf("%d bindings", got)
	}
}

// The runtime's own filter update after a Close is computed when it reaches
// the miniport, so a set queued before it still counts.
func TestRefilterAfterQueuedSet(t *testing.T) {
	e := newEnv(t)
	block, release := make(chan struct{}), make(chan struct{})
	e.fake.OnOid = func(r *ndis.OidRequest) ndis.Status {
		if r.OID == ndis.OIDGenLinkSpeed {
			close(block)
			<-release
		}
		return ndis.StatusSuccess
	}
	a := e.adapter("eth0")
	x, _ := e.bind("eth0")
	y, _ := e.bind("eth0")
	e.setFilter(x, ndis.PacketTypeBroadcast)
	e.setFilter(y, ndis.PacketTypeDirected)
	go y.OidRequest(e.ctx, query(ndis.OIDGenLinkSpeed, 4))
	<-block // the work goroutine is inside MiniportOidRequest
	done := make(chan ndis.Status, 1)
	go func() {
		done <- ndistest.SetPacketFilter(e.ctx, y, ndis.PacketTypePromiscuous)
	}()
	ndistest.Eventually(t, func() bool { return a.Stats().OIDsQueued == 1 }, "y's set queued")
	if err := x.Close(e.ctx); err != nil {
		t.Fatal(err)
	}
	close(release)
	if s := <-done; s != ndis.StatusSuccess {
		t.Fatal(s)
	}
	ndistest.Eventually(t, func() bool { return a.Stats().OIDsQueued == 0 }, "queue empty")
	var last []byte
	for _, s := range e.fake.Sets() {
		if s.OID == ndis.OIDGenCurrentPacketFilter {
			last = s.Buffer
		}
	}
	if string(last) != string(ndis.Ulong(ndis.PacketTypePromiscuous)) {
		t.Errorf("miniport filter % x, want y's PROMISCUOUS", last)
	}
}

// A miniport completing an NBL that another adapter was sent is caught.
func TestForeignCompletion(t *testing.T) {
	e := newEnv(t)
	f2 := ndistest.NewFake()
	var held *ndis.NetBufferList
	f2.HoldSends = true
	f2.OnSend = func(l *ndis.NetBufferList) { held = l }
	e.register(f2.Driver("fake2", ndis.Version630))
	a1 := e.adapter("eth0")
	e.adapterOf("eth1", "fake2")
	b2, _ := e.bind("eth1")
	b2.SendNetBufferLists(ndis.NewNetBufferList(frame(ndis.BroadcastAddress, "x")))
	e.v.Expect(ndis.RuleSendDoubleComplete)
	held.Status = ndis.StatusSuccess
	a1.SendNetBufferListsComplete(held)
	e.v.Wait(t, ndis.RuleSendDoubleComplete)
	if err := e.rt.PauseAdapter(e.ctx, "eth0"); err != nil {
		t.Errorf("pause after a refused completion: %v", err)
	}
	f2.CompleteHeld(ndis.StatusSuccess)
}

// A receive indicated before Initialize returned is refused, not a panic.
func TestReceiveDuringInitialize(t *testing.T) {
	e := newEnv(t)
	e.v.Expect(ndis.RuleInvalidCall)
	e.fake.OnInitialize = func(a *ndis.Adapter) {
		a.IndicateReceiveNetBufferLists(ndis.NewNetBufferList(frame(ndis.BroadcastAddress, "x")), 0)
	}
	e.adapter("eth0")
	if e.v.Count(ndis.RuleInvalidCall) != 1 {
		t.Error("no violation for a receive during Initialize")
	}
}

// The first tick that sees a send pending on an adapter that never
// completed one measures from that tick, not from the zero time.
func TestTimedDataHangFirstTick(t *testing.T) {
	e := newEnv(t)
	e.adapter("eth0")
	b, _ := e.bind("eth0")
	e.fake.Do(func(f *ndistest.Fake) { f.HoldSends = true })
	b.SendNetBufferLists(ndis.NewNetBufferList(frame(ndis.BroadcastAddress, "held")))
	e.ticks(2, 2*time.Second)
	if n := e.v.Count(ndis.RuleTimedDataHang); n != 0 {
		t.Fatalf("NdisTimedDataHang after 4 s")
	}
	e.fake.CompleteHeld(ndis.StatusSuccess)
}

// Shrunk by the model test (bind, reset, halt): a removal during a pending
// reset unbinds only after RESET_END, so the protocol hears START, END, then
// its unbinding.
func TestRemoveDuringResetUnbindsAfterEnd(t *testing.T) {
	e := newEnv(t)
	e.fake.PendResets = true
	a := e.adapter("eth0")
	_, rec := e.bind("eth0")
	a.ResetMiniport()
	ndistest.Eventually(t, func() bool { return e.fake.Resets() == 1 }, "Reset called")
	removed := make(chan error, 1)
	go func() { removed <- e.rt.RemoveAdapter(context.Background(), "eth0") }()
	ndistest.Eventually(t, func() bool { return a.State() == ndis.AdapterPaused }, "paused beside the reset")
	a.ResetComplete(ndis.StatusSuccess, false)
	if err := <-removed; err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, r := range rec.Records() {
		switch {
		case r.Kind == ndistest.RecordStatus:
			kinds = append(kinds, r.Status.String())
		case r.Kind == ndistest.RecordUnbind:
			kinds = append(kinds, "unbind")
		}
	}
	want := []string{"NDIS_STATUS_RESET_START", "NDIS_STATUS_RESET_END", "unbind"}
	if fmt.Sprint(kinds) != fmt.Sprint(want) {
		t.Errorf("the protocol saw %v, want %v", kinds, want)
	}
}

// When RemoveAdapter returns, the adapter's name is free again.
func TestRemoveFreesName(t *testing.T) {
	e := newEnv(t)
	for range 20 {
		e.adapter("eth0")
		if err := e.rt.RemoveAdapter(e.ctx, "eth0"); err != nil {
			t.Fatal(err)
		}
	}
}
