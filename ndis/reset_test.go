package ndis_test

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

// One test per reset rule of docs/RESET.md, in strict verifier mode.

func (e *env) resetCounters(a *ndis.Adapter, c ndis.ResetCause) ndis.ResetCounters {
	return a.Stats().Resets[c]
}

// waitResets waits until the fake's Reset has been called n times and the
// recorder has seen n RESET_ENDs.
func waitResets(t *testing.T, e *env, rec *ndistest.Recorder, n int) {
	t.Helper()
	rec.WaitStatus(t, ndis.StatusResetEnd, n)
	if got := e.fake.Resets(); got != n {
		t.Fatalf("Reset called %d times, want %d", got, n)
	}
}

// TestR1ResetMiniportNeverBlocks: ResetMiniport from inside every miniport
// callback and from an interrupt goroutine holding the driver's lock that
// its own Reset takes; the reset always runs later, on the work goroutine.
// The completion calls likewise never wait for the work goroutine: the
// interrupt goroutine completes sends and indicates status while Reset
// waits for it.
func TestR1ResetMiniportNeverBlocks(t *testing.T) {
	e := newEnv(t)
	var driverMu sync.Mutex
	var caller atomic.Uint64 // the goroutine inside a checked ResetMiniport call
	irq := make(chan chan struct{})
	irqDone := make(chan struct{})
	e.fake.OnReset = func() (bool, ndis.Status) {
		if id := goroutineID(); id == caller.Load() {
			t.Errorf("Reset ran synchronously inside ResetMiniport (goroutine %d)", id)
		}
		driverMu.Lock() // the interrupt goroutine held it while calling ResetMiniport
		defer driverMu.Unlock()
		a := e.fake.Adapter
		a.ResetMiniport() // from inside Reset itself: dropped, never recursive
		// Wait for the interrupt goroutine to drain, as a real driver does.
		drained := make(chan struct{})
		irq <- drained
		<-drained
		return false, ndis.StatusSuccess
	}
	a := e.adapter("eth0")
	b, rec := e.bind("eth0")
	go func() {
		defer close(irqDone)
		for drained := range irq {
			e.fake.CompleteHeld(ndis.StatusRequestAborted)
			a.IndicateStatus(ndis.StatusMediaConnect, nil)
			a.ResetMiniport()
			close(drained)
		}
	}()
	defer func() { close(irq); <-irqDone }()

	call := func(where string) {
		caller.Store(goroutineID())
		a.ResetMiniport() // from where; it must return without calling Reset
		caller.Store(0)
	}
	// From the interrupt goroutine with the driver's lock held.
	driverMu.Lock()
	call("a goroutine holding the driver's lock")
	driverMu.Unlock()
	waitResets(t, e, rec, 1)

	e.fake.Do(func(f *ndistest.Fake) {
		f.OnSend = func(*ndis.NetBufferList) { call("SendNetBufferLists") }
		f.HoldSends = true
	})
	b.SendNetBufferLists(ndis.NewNetBufferList(frame(ndis.BroadcastAddress, "x")))
	waitResets(t, e, rec, 2)
	if rec.Completed() != 1 {
		t.Fatalf("held send completed %d times by the interrupt goroutine during Reset", rec.Completed())
	}
	e.fake.Do(func(f *ndistest.Fake) {
		f.OnSend, f.HoldSends = nil, false
		f.OnOid = func(r *ndis.OidRequest) ndis.Status { call("OidRequest"); return ndis.StatusSuccess }
	})
	ndistest.SetUlong(e.ctx, b, 0xFF000001, 1)
	waitResets(t, e, rec, 3)
	e.fake.Do(func(f *ndistest.Fake) {
		f.OnOid = nil
		f.OnHang = func() { call("CheckForHang") }
	})
	e.ticks(1, 2*time.Second)
	waitResets(t, e, rec, 4)
	e.fake.Do(func(f *ndistest.Fake) { f.OnHang = nil })
	if _, open, err := rec.CheckResetPairs(); err != nil || open {
		t.Fatalf("RESET_START/END: %v (open %v): %v", err, open, rec.Statuses())
	}
}

// goroutineID returns the running goroutine's number, from its stack
// header, for tests that must tell one goroutine from another.
func goroutineID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	id, _ := strconv.ParseUint(string(b[:bytes.IndexByte(b, ' ')]), 10, 64)
	return id
}

// TestR2VersionAndHandler: a 6.20 driver's ResetMiniport is a violation and
// does nothing; a driver without MiniportResetEx gets no reset.
func TestR2VersionAndHandler(t *testing.T) {
	e := newEnv(t)
	old, noReset := ndistest.NewFake(), ndistest.NewFake()
	e.register(old.Driver("old", ndis.Version620))
	e.register(noReset.DriverWithoutReset("plain", ndis.Version630))
	a1, a2 := e.adapterOf("old0", "old"), e.adapterOf("plain0", "plain")
	e.v.Expect(ndis.RuleResetMiniportUnsupportedVersion)
	a1.ResetMiniport()
	e.v.Wait(t, ndis.RuleResetMiniportUnsupportedVersion)
	a2.ResetMiniport()
	ndistest.Eventually(t, func() bool { return e.resetCounters(a2, ndis.CauseDriver).Dropped == 1 }, "request to a driver without Reset dropped")
	if old.Resets() != 0 || e.resetCounters(a1, ndis.CauseDriver).Performed != 0 {
		t.Errorf("a 6.20 driver was reset through ResetMiniport")
	}
	if err := e.rt.ResetAdapter("plain0"); !errors.Is(err, ndis.ErrResetUnsupported) {
		t.Errorf("operator reset of a driver without Reset: %v", err)
	}
	// NDIS itself may still reset a 6.20 driver that has MiniportResetEx.
	b, err := e.rt.Bind(e.ctx, "rec", "old0")
	if err != nil {
		t.Fatal(err)
	}
	e.reset("old0")
	e.rec.Binding(b).WaitStatus(t, ndis.StatusResetEnd, 1)
}

// TestR3Coalescing: 1,000 concurrent requests while one is queued give
// exactly one Reset; requests while it runs are dropped; the counters say
// how many of each.
func TestR3Coalescing(t *testing.T) {
	e := newEnv(t)
	a := e.adapter("eth0")
	_, rec := e.bind("eth0")

	// Keep the work goroutine busy inside a synchronous OID call, so the
	// first request stays Queued while the others arrive.
	inOid, release := make(chan struct{}), make(chan struct{})
	e.fake.Do(func(f *ndistest.Fake) {
		f.OnOid = func(*ndis.OidRequest) ndis.Status { close(inOid); <-release; return ndis.StatusSuccess }
	})
	b := a.Bindings()[0]
	go ndistest.SetUlong(context.Background(), b, 0xFF000001, 1)
	<-inOid
	var wg sync.WaitGroup
	for range 1000 {
		wg.Go(a.ResetMiniport)
	}
	wg.Wait()
	c := e.resetCounters(a, ndis.CauseDriver)
	if c.Requested != 1000 || c.Coalesced != 999 || c.Dropped != 0 {
		t.Fatalf("counters %+v, want 1000 requested, 999 coalesced", c)
	}
	e.fake.Do(func(f *ndistest.Fake) { f.OnOid = nil })

	// Now hold the reset inside Reset and request more: all dropped.
	inReset, releaseReset := make(chan struct{}), make(chan struct{})
	e.fake.Do(func(f *ndistest.Fake) {
		f.OnReset = func() (bool, ndis.Status) { close(inReset); <-releaseReset; return false, ndis.StatusSuccess }
	})
	close(release)
	<-inReset
	for range 100 {
		wg.Go(a.ResetMiniport)
	}
	wg.Wait()
	close(releaseReset)
	waitResets(t, e, rec, 1)
	c = e.resetCounters(a, ndis.CauseDriver)
	if c.Requested != 1100 || c.Coalesced != 999 || c.Dropped != 100 || c.Performed != 1 {
		t.Fatalf("counters %+v, want 1100 requested, 999 coalesced, 100 dropped, 1 performed", c)
	}
}

// TestR4States: a reset is accepted during Initialize (it runs once
// Initialize returns) and while Paused; it is ignored once a halt has
// begun, in Shutdown and after RemoveMiniport.
func TestR4States(t *testing.T) {
	e := newEnv(t)
	e.fake.OnInitialize = func(a *ndis.Adapter) { a.ResetMiniport() }
	a := e.adapter("eth0")
	ndistest.Eventually(t, func() bool { return e.fake.Resets() == 1 }, "the reset requested during Initialize")
	if calls := e.fake.Calls(); calls[0] != "Initialize" {
		t.Fatalf("calls %v", calls)
	}

	if err := e.rt.PauseAdapter(e.ctx, "eth0"); err != nil {
		t.Fatal(err)
	}
	a.ResetMiniport()
	ndistest.Eventually(t, func() bool { return e.fake.Resets() == 2 }, "a reset while Paused")
	if a.State() != ndis.AdapterPaused {
		t.Errorf("state %s after a reset while paused", a.State())
	}

	if err := e.rt.ShutdownAdapter(e.ctx, "eth0"); err != nil {
		t.Fatal(err)
	}
	a.ResetMiniport()
	if err := e.rt.ResetAdapter("eth0"); !errors.Is(err, ndis.ErrAdapterHalted) {
		t.Errorf("operator reset in Shutdown: %v", err)
	}
	if got := e.resetCounters(a, ndis.CauseDriver).Dropped; got != 1 {
		t.Errorf("request in Shutdown: %d dropped, want 1", got)
	}

	other := ndistest.NewFake()
	e.register(other.Driver("other", ndis.Version630))
	a2 := e.adapterOf("eth1", "other")
	// Hold the removal in its pause, so that the request below comes
	// after RemoveMiniport and before the halt.
	other.Do(func(f *ndistest.Fake) { f.PauseStatus = ndis.StatusPending })
	a2.RemoveMiniport()
	ndistest.Eventually(t, func() bool { return slices.Contains(other.Calls(), "Pause") }, "the removal's pause")
	a2.ResetMiniport()
	if got := a2.Stats().Resets[ndis.CauseDriver].Dropped; got != 1 {
		t.Errorf("request after RemoveMiniport: %d dropped, want 1", got)
	}
	a2.PauseComplete()
	<-a2.Done()
	if other.Resets() != 0 {
		t.Error("reset after RemoveMiniport")
	}
	if calls := other.Calls(); calls[len(calls)-1] != "Halt:NdisHaltDeviceFailed" {
		t.Errorf("RemoveMiniport: calls %v", calls)
	}
	e.fake.Do(func(f *ndistest.Fake) { f.OnInitialize = nil })
}

// TestR5Gate: between RESET_START and RESET_END no protocol send or OID
// reaches the miniport; sends complete inline with StatusResetInProgress,
// new OIDs fail with it, and OIDs queued before the reset are dispatched
// after RESET_END. RESET_START reaches the protocol before Reset runs.
func TestR5Gate(t *testing.T) {
	e := newEnv(t)
	a := e.adapter("eth0")
	b, rec := e.bind("eth0")

	// One OID at the miniport, one queued behind it.
	e.fake.Do(func(f *ndistest.Fake) { f.PendOIDs = true })
	first := make(chan ndis.Status, 1)
	go func() {
		first <- ndistest.SetUlong(context.Background(), b, 0xFF000001, 1)
	}()
	ndistest.Eventually(t, func() bool { return e.fake.PendingOIDs() == 1 }, "first OID at the miniport")
	second := make(chan ndis.Status, 1)
	go func() {
		second <- ndistest.SetUlong(context.Background(), b, 0xFF000002, 2)
	}()
	ndistest.Eventually(t, func() bool { return a.Stats().OIDsQueued == 1 }, "second OID queued")

	inReset, release := make(chan struct{}), make(chan struct{})
	e.fake.Do(func(f *ndistest.Fake) {
		f.PendOIDs = false
		f.OnReset = func() (bool, ndis.Status) {
			if rec.Count(ndis.StatusResetStart) != 1 {
				t.Error("Reset called before RESET_START reached the protocol")
			}
			for f.CompleteOID(ndis.StatusRequestAborted) {
			}
			close(inReset)
			<-release
			return false, ndis.StatusSuccess
		}
	})
	a.ResetMiniport()
	<-inReset
	if s := <-first; s != ndis.StatusRequestAborted {
		t.Errorf("OID held by the miniport at reset: %v", s)
	}
	l := ndis.NewNetBufferList(frame(ndis.BroadcastAddress, "during"))
	b.SendNetBufferLists(l)
	if l.Status != ndis.StatusResetInProgress || rec.CompletedTimes(l) != 1 {
		t.Errorf("send during reset: %v, completed %d times", l.Status, rec.CompletedTimes(l))
	}
	if _, s := ndistest.QueryUlong(e.ctx, b, ndis.OIDGenMaximumFrameSize); s != ndis.StatusResetInProgress {
		t.Errorf("new OID during reset: %v", s)
	}
	if e.fake.SendsDuringReset() != 0 {
		t.Error("a send reached the miniport during the reset")
	}
	close(release)
	if s := <-second; s != ndis.StatusSuccess {
		t.Errorf("OID queued before the reset: %v", s)
	}
	calls := e.fake.Calls()
	if i, j := slices.Index(calls, "Reset"), slices.Index(calls, "OidRequest:OID(0xFF000002)"); i < 0 || j < i {
		t.Errorf("queued OID dispatched before the reset ended: %v", calls)
	}
}

// TestR6PendingReset: Reset answers StatusPending and ResetComplete comes
// later from another goroutine; a second ResetComplete is a violation.
func TestR6PendingReset(t *testing.T) {
	e := newEnv(t)
	e.fake.PendResets = true
	a := e.adapter("eth0")
	_, rec := e.bind("eth0")
	a.ResetMiniport()
	rec.WaitStatus(t, ndis.StatusResetStart, 1)
	ndistest.Eventually(t, func() bool { return e.fake.Resets() == 1 }, "Reset called")
	time.Sleep(5 * time.Millisecond)
	if rec.Count(ndis.StatusResetEnd) != 0 {
		t.Fatal("RESET_END before ResetComplete")
	}
	go a.ResetComplete(ndis.StatusSuccess, false)
	end := rec.WaitStatus(t, ndis.StatusResetEnd, 1)
	if s, ok := ndistest.ResetEndStatus(end.Payload); !ok || s != ndis.StatusSuccess {
		t.Errorf("RESET_END payload %v", end.Payload)
	}
	e.v.Expect(ndis.RuleResetCompleteWithoutPending)
	a.ResetComplete(ndis.StatusSuccess, false)
	e.v.Wait(t, ndis.RuleResetCompleteWithoutPending)
	if rec.Count(ndis.StatusResetEnd) != 1 {
		t.Error("a second ResetComplete produced another RESET_END")
	}
}

// TestR7PendingRequests: a miniport that still holds sends or an OID when
// its reset completes breaks the NDIS 6.30 rule.
func TestR7PendingRequests(t *testing.T) {
	e := newEnv(t)
	e.fake.OnReset = func() (bool, ndis.Status) { return false, ndis.StatusSuccess } // completes nothing
	a := e.adapter("eth0")
	b, rec := e.bind("eth0")
	e.fake.Do(func(f *ndistest.Fake) { f.HoldSends, f.PendOIDs = true, true })
	b.SendNetBufferLists(ndis.NewNetBufferList(frame(ndis.BroadcastAddress, "held")))
	oid := make(chan ndis.Status, 1)
	go func() {
		oid <- ndistest.SetUlong(context.Background(), b, 0xFF000001, 1)
	}()
	ndistest.Eventually(t, func() bool { return e.fake.PendingOIDs() == 1 }, "OID at the miniport")
	e.v.Expect(ndis.RuleResetPendingRequests)
	a.ResetMiniport()
	v := e.v.Wait(t, ndis.RuleResetPendingRequests)
	t.Log(v.Detail)
	if s := <-oid; s != ndis.StatusRequestAborted {
		t.Errorf("the OID left at the miniport: %v", s)
	}
	rec.WaitStatus(t, ndis.StatusResetEnd, 1)
	// The late completions are taken without further findings.
	e.fake.CompleteOID(ndis.StatusSuccess)
	e.fake.CompleteHeld(ndis.StatusSuccess)
	if rec.Completed() != 1 {
		t.Errorf("held send completed %d times", rec.Completed())
	}
	if n := len(e.v.All()); n != 1 {
		t.Errorf("%d findings, want 1: %v", n, e.v.All())
	}
}

// TestR8AddressingRestore: with addressingReset the last successful packet
// filter, multicast list, offload encapsulation and wake-up patterns are set
// again, in that order, before RESET_END; without it nothing is.
func TestR8AddressingRestore(t *testing.T) {
	e := newEnv(t)
	a := e.adapter("eth0")
	b, rec := e.bind("eth0")
	set := func(oid ndis.OID, buf []byte) {
		if s := ndistest.Set(e.ctx, b, oid, buf); s != ndis.StatusSuccess {
			t.Fatalf("set %v: %v", oid, s)
		}
	}
	group := ndis.MacAddress{1, 0, 0x5e, 0, 0, 9}
	set(ndis.OIDPnpAddWakeUpPattern, []byte("pattern-1"))
	set(ndis.OID8023MulticastList, group[:])
	set(ndis.OIDOffloadEncapsulation, []byte("encap"))
	set(ndis.OIDGenCurrentPacketFilter, ndis.Ulong(ndis.PacketTypeDirected|ndis.PacketTypeMulticast))
	set(ndis.OIDPnpAddWakeUpPattern, []byte("pattern-2"))
	set(ndis.OIDPnpRemoveWakeUpPattern, []byte("pattern-1"))
	// A failed set is not restored.
	e.fake.Do(func(f *ndistest.Fake) {
		f.OnOid = func(r *ndis.OidRequest) ndis.Status { return ndis.StatusNotSupported }
	})
	if s := ndistest.SetPacketFilter(e.ctx, b, ndis.PacketTypePromiscuous); s != ndis.StatusNotSupported {
		t.Fatal(s)
	}
	e.fake.Do(func(f *ndistest.Fake) { f.OnOid = nil })

	before := len(e.fake.Sets())
	var atEnd atomic.Int64
	rec.OnStatus = func(code ndis.Status, _ []byte) {
		if code == ndis.StatusResetEnd {
			atEnd.Store(int64(len(e.fake.Sets())))
		}
	}
	e.fake.Do(func(f *ndistest.Fake) { f.ResetAddressing = true })
	a.ResetMiniport()
	rec.WaitStatus(t, ndis.StatusResetEnd, 1)
	restored := e.fake.Sets()[before:]
	var got []ndis.OID
	for _, r := range restored {
		got = append(got, r.OID)
	}
	want := []ndis.OID{ndis.OIDGenCurrentPacketFilter, ndis.OID8023MulticastList, ndis.OIDOffloadEncapsulation, ndis.OIDPnpAddWakeUpPattern}
	if !slices.Equal(got, want) {
		t.Fatalf("restored %v, want %v", got, want)
	}
	if n := int(atEnd.Load()) - before; n != len(want) {
		t.Errorf("RESET_END came after %d of %d restore requests", n, len(want))
	}
	if f := restored[0].Buffer; string(f) != string(ndis.Ulong(ndis.PacketTypeDirected|ndis.PacketTypeMulticast)) {
		t.Errorf("restored filter %v", f)
	}
	if p := restored[3].Buffer; string(p) != "pattern-2" {
		t.Errorf("restored pattern %q", p)
	}

	e.fake.Do(func(f *ndistest.Fake) { f.ResetAddressing = false })
	before = len(e.fake.Sets())
	a.ResetMiniport()
	rec.WaitStatus(t, ndis.StatusResetEnd, 2)
	if n := len(e.fake.Sets()) - before; n != 0 {
		t.Errorf("%d sets after a reset without addressingReset", n)
	}
}

// TestR9FailureAndEscalation: a failed reset still ends with RESET_END
// carrying its status; consecutive failures fail the adapter, as do too
// many resets in the window.
func TestR9FailureAndEscalation(t *testing.T) {
	t.Run("consecutive", func(t *testing.T) {
		var events []ndis.Event
		var mu sync.Mutex
		e := newEnv(t, ndis.WithResetEscalation(ndis.Escalation{MaxConsecutiveFailures: 2}),
			ndis.WithEventHandler(func(ev ndis.Event) { mu.Lock(); events = append(events, ev); mu.Unlock() }))
		e.fake.OnReset = func() (bool, ndis.Status) { return false, ndis.StatusHardErrors }
		a := e.adapter("eth0")
		_, rec := e.bind("eth0")
		a.ResetMiniport()
		end := rec.WaitStatus(t, ndis.StatusResetEnd, 1)
		if s, _ := ndistest.ResetEndStatus(end.Payload); s != ndis.StatusHardErrors {
			t.Errorf("RESET_END carries %v", s)
		}
		if a.State() != ndis.AdapterRunning {
			t.Fatalf("one failure took the adapter to %s", a.State())
		}
		a.ResetMiniport()
		<-a.Done()
		if calls := e.fake.Calls(); calls[len(calls)-1] != "Halt:NdisHaltDeviceFailed" {
			t.Errorf("calls %v", calls)
		}
		if c := e.resetCounters(a, ndis.CauseDriver); c.Failed != 2 || c.Performed != 2 {
			t.Errorf("counters %+v", c)
		}
		mu.Lock()
		defer mu.Unlock()
		if !slices.ContainsFunc(events, func(ev ndis.Event) bool { return ev.Kind == ndis.EventResetEscalated }) {
			t.Errorf("no escalation event in %v", events)
		}
	})
	t.Run("window", func(t *testing.T) {
		e := newEnv(t, ndis.WithResetEscalation(ndis.Escalation{MaxResets: 3, Window: time.Minute}))
		a := e.adapter("eth0")
		_, rec := e.bind("eth0")
		for i := 1; i <= 3; i++ {
			a.ResetMiniport()
			rec.WaitStatus(t, ndis.StatusResetEnd, i)
			e.clock.Advance(25 * time.Second) // the first falls out of the window before the fourth
		}
		a.ResetMiniport()
		rec.WaitStatus(t, ndis.StatusResetEnd, 4)
		if a.State() != ndis.AdapterRunning {
			t.Fatalf("3 resets within a minute failed the adapter: %s", a.State())
		}
		a.ResetMiniport() // the fourth within the last minute
		<-a.Done()
		if c := e.resetCounters(a, ndis.CauseDriver); c.Performed != 5 || c.Failed != 0 {
			t.Errorf("counters %+v", c)
		}
	})
}

// TestR10ResetTimeout: a pending reset not completed in time fails the
// adapter; its bindings still get RESET_END.
func TestR10ResetTimeout(t *testing.T) {
	e := newEnv(t, ndis.WithResetTimeout(10*time.Second))
	e.fake.PendResets = true
	a := e.adapter("eth0")
	_, rec := e.bind("eth0")
	e.v.Expect(ndis.RuleResetTimeout)
	a.ResetMiniport()
	ndistest.Eventually(t, func() bool { return e.clock.Timers() == 2 }, "reset timer armed")
	e.clock.Advance(9 * time.Second)
	if e.v.Count(ndis.RuleResetTimeout) != 0 {
		t.Fatal("timed out early")
	}
	e.clock.Advance(time.Second)
	e.waitResetTimedOut(a, rec) // the miniport's late completion is a call after halt
	a.ResetComplete(ndis.StatusSuccess, false)
}

// TestR11CheckForHang: the period follows CheckForHangTimeInSeconds as NDIS
// rounds it; CheckForHang true resets with cause hang; an OID pending for
// two ticks resets with cause oid-timeout; no check while a reset runs.
func TestR11CheckForHang(t *testing.T) {
	e := newEnv(t)
	e.fake.Registration = &ndis.RegistrationAttributes{CheckForHangTimeInSeconds: 5}
	a := e.adapter("eth0")
	b, rec := e.bind("eth0")
	if p := a.CheckForHangPeriod(); p != 4*time.Second {
		t.Fatalf("period %v for 5 s, want 4s", p)
	}
	count := func() int {
		n := 0
		for _, c := range e.fake.Calls() {
			if c == "CheckForHang" {
				n++
			}
		}
		return n
	}
	e.clock.WaitTimers(t, 1)
	e.clock.Advance(3 * time.Second)
	if count() != 0 {
		t.Fatal("CheckForHang before its period")
	}
	e.clock.Advance(time.Second)
	ndistest.Eventually(t, func() bool { return count() == 1 }, "first CheckForHang")

	e.fake.Hung.Store(true)
	e.ticks(1, 4*time.Second)
	waitResets(t, e, rec, 1)
	e.fake.Hung.Store(false)
	if c := e.resetCounters(a, ndis.CauseHang); c.Performed != 1 {
		t.Errorf("hang counters %+v", c)
	}

	// An OID pending at the miniport for two ticks.
	e.fake.Do(func(f *ndistest.Fake) { f.PendOIDs = true })
	oid := make(chan ndis.Status, 1)
	go func() {
		oid <- ndistest.SetUlong(context.Background(), b, 0xFF000001, 1)
	}()
	ndistest.Eventually(t, func() bool { return e.fake.PendingOIDs() == 1 }, "OID pending")
	e.ticks(1, 4*time.Second)
	if e.fake.Resets() != 1 {
		t.Fatal("reset after one tick of a pending OID")
	}
	e.ticks(1, 4*time.Second)
	waitResets(t, e, rec, 2)
	if s := <-oid; s != ndis.StatusRequestAborted {
		t.Errorf("the timed-out OID: %v", s)
	}
	if c := e.resetCounters(a, ndis.CauseOidTimeout); c.Performed != 1 {
		t.Errorf("oid-timeout counters %+v", c)
	}
	e.fake.Do(func(f *ndistest.Fake) { f.PendOIDs = false })

	// No CheckForHang while a reset is pending.
	e.fake.Do(func(f *ndistest.Fake) { f.OnReset = func() (bool, ndis.Status) { return false, ndis.StatusPending } })
	a.ResetMiniport()
	ndistest.Eventually(t, func() bool { return e.fake.Resets() == 3 }, "third reset")
	before := count()
	for range 2 { // the tick and the reset timeout are armed
		e.clock.WaitTimers(t, 2)
		e.clock.Advance(4 * time.Second)
	}
	e.clock.WaitTimers(t, 2)
	if count() != before {
		t.Error("CheckForHang called while a reset was pending")
	}
	a.ResetComplete(ndis.StatusSuccess, false)
	rec.WaitStatus(t, ndis.StatusResetEnd, 3)
	e.fake.Do(func(f *ndistest.Fake) { f.OnReset = nil })
}

func TestR11IntervalOverride(t *testing.T) {
	e := newEnv(t, ndis.WithCheckForHangInterval(100*time.Millisecond))
	e.fake.Registration = &ndis.RegistrationAttributes{CheckForHangTimeInSeconds: 10}
	a := e.adapter("eth0")
	_, rec := e.bind("eth0")
	if p := a.CheckForHangPeriod(); p != 100*time.Millisecond {
		t.Fatalf("period %v", p)
	}
	e.fake.Hung.Store(true)
	e.ticks(1, 100*time.Millisecond)
	waitResets(t, e, rec, 1)
	e.fake.Hung.Store(false)
}

// TestR12BindAndReceiveDuringReset: a Bind during a reset waits for
// RESET_END; receives during a reset go straight back to the miniport.
func TestR12BindAndReceiveDuringReset(t *testing.T) {
	e := newEnv(t)
	e.fake.PendResets = true
	a := e.adapter("eth0")
	_, rec := e.bindFiltered("eth0", ndis.PacketTypePromiscuous)
	a.ResetMiniport()
	rec.WaitStatus(t, ndis.StatusResetStart, 1)
	ndistest.Eventually(t, func() bool { return e.fake.Resets() == 1 }, "Reset called")

	l := e.fake.Indicate(0, frame(ndis.BroadcastAddress, "during reset"))
	if rec.Received() != 0 || e.fake.Returned(l) != 1 || a.Stats().ReceiveDuringReset != 1 {
		t.Errorf("receive during reset: delivered %d, returned %d, counted %d", rec.Received(), e.fake.Returned(l), a.Stats().ReceiveDuringReset)
	}

	b2 := e.bindWaitsForReset(a, e.bindAsync("eth0"))
	if got := e.rec.Binding(b2).Statuses(); len(got) != 0 {
		t.Errorf("the new binding saw %v", got)
	}
	if _, open, err := rec.CheckResetPairs(); err != nil || open {
		t.Errorf("pairs: %v %v", open, err)
	}
}

// TestR13PauseAndHaltDuringReset: a pause overlaps a pending reset and both
// complete in either order; a halt waits for the reset to end.
func TestR13PauseAndHaltDuringReset(t *testing.T) {
	for _, pauseFirst := range []bool{true, false} {
		name := "reset-first"
		if pauseFirst {
			name = "pause-first"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			e.fake.PendResets = true
			e.fake.PauseStatus = ndis.StatusPending
			a := e.adapter("eth0")
			_, rec := e.bind("eth0")
			a.ResetMiniport()
			ndistest.Eventually(t, func() bool { return e.fake.Resets() == 1 }, "Reset called")
			paused := make(chan error, 1)
			go func() { paused <- e.rt.PauseAdapter(context.Background(), "eth0") }()
			ndistest.Eventually(t, func() bool { return slices.Contains(e.fake.Calls(), "Pause") }, "Pause called during the reset")
			if pauseFirst {
				a.PauseComplete()
				if err := <-paused; err != nil {
					t.Fatal(err)
				}
				a.ResetComplete(ndis.StatusSuccess, false)
				rec.WaitStatus(t, ndis.StatusResetEnd, 1)
			} else {
				a.ResetComplete(ndis.StatusSuccess, false)
				rec.WaitStatus(t, ndis.StatusResetEnd, 1)
				a.PauseComplete()
				if err := <-paused; err != nil {
					t.Fatal(err)
				}
			}
			if a.State() != ndis.AdapterPaused {
				t.Errorf("state %s", a.State())
			}
			// Halt waits for a running reset.
			a.ResetMiniport()
			ndistest.Eventually(t, func() bool { return e.fake.Resets() == 2 }, "second Reset")
			removed := removeDuringReset(t, e.rt, "eth0", 10*time.Millisecond)
			if e.fake.IsHalted() {
				t.Fatal("halted during a reset")
			}
			a.ResetComplete(ndis.StatusSuccess, false)
			if err := <-removed; err != nil {
				t.Fatal(err)
			}
			calls := e.fake.Calls()
			if calls[len(calls)-1] != "Halt:NdisHaltDeviceDisabled" {
				t.Errorf("calls %v", calls)
			}
		})
	}
}

// TestR14CountersAndEvents: OID_GEN_RESET_COUNTS, per-cause counters and
// durations, and an event for every step.
func TestR14CountersAndEvents(t *testing.T) {
	var mu sync.Mutex
	var kinds []ndis.EventKind
	e := newEnv(t, ndis.WithEventHandler(func(ev ndis.Event) {
		mu.Lock()
		defer mu.Unlock()
		if ev.Kind >= ndis.EventResetRequested && ev.Kind <= ndis.EventResetEnd {
			kinds = append(kinds, ev.Kind)
		}
	}))
	e.fake.ResetAddressing = true
	e.fake.OnReset = func() (bool, ndis.Status) {
		e.clock.Advance(3 * time.Millisecond)
		return true, ndis.StatusPending
	}
	a := e.adapter("eth0")
	b, rec := e.bindFiltered("eth0", ndis.PacketTypeDirected)
	e.reset("eth0")
	ndistest.Eventually(t, func() bool { return e.fake.Resets() == 1 }, "Reset called")
	a.ResetComplete(ndis.StatusSuccess, true)
	rec.WaitStatus(t, ndis.StatusResetEnd, 1)
	if n, s := ndistest.QueryUlong(e.ctx, b, ndis.OIDGenResetCounts); s != ndis.StatusSuccess || n != 1 {
		t.Errorf("OID_GEN_RESET_COUNTS: %v %v", s, n)
	}
	c := e.resetCounters(a, ndis.CauseOperator)
	if c.Requested != 1 || c.Performed != 1 || c.LastDuration != 3*time.Millisecond || c.MaxDuration != 3*time.Millisecond {
		t.Errorf("operator counters %+v", c)
	}
	want := []ndis.EventKind{ndis.EventResetRequested, ndis.EventResetStart, ndis.EventResetPending, ndis.EventResetRestore, ndis.EventResetEnd}
	ndistest.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(kinds) >= len(want) }, "events")
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(kinds, want) {
		t.Errorf("events %v, want %v", kinds, want)
	}
}
