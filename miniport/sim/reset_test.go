package sim_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/gondis/gondis/miniport/sim"
	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

// tickUntil advances the fake clock one check-for-hang period at a time,
// each time waiting until the adapter has run its check (or cond holds) and,
// when the check said hung, until cond holds, so that no tick is taken
// before the reset a check asked for; it fails after max periods. It
// returns the periods advanced.
func (e *env) tickUntil(d *sim.Device, period time.Duration, max int, what string, cond func() bool) int {
	e.t.Helper()
	for i := 1; i <= max; i++ {
		st := d.Stats()
		e.advance(period, fmt.Sprintf("check-for-hang tick %d (%s)", i, what), func() bool {
			return d.Stats().HangChecks > st.HangChecks || cond()
		})
		if d.Stats().HangsDetected > st.HangsDetected {
			ndistest.Eventually(e.t, cond, "%s, once a check said hung", what)
		}
		if cond() {
			return i
		}
	}
	e.t.Fatalf("%s: not after %d check-for-hang periods", what, max)
	return 0
}

func resets(a *ndis.Adapter, c ndis.ResetCause) ndis.ResetCounters { return a.Stats().Resets[c] }

// TestBackPressureIsNotAHang: a full transmit ring whose hardware makes
// progress (slowly: 100 ms a frame, 3 s of work for a 1 s send time-out)
// never makes CheckForHang say hung; the same ring with the hardware hung
// does, once its head descriptor has waited longer than the send time-out.
func TestBackPressureIsNotAHang(t *testing.T) {
	const tick = 500 * time.Millisecond
	e := newEnv(t, true, ndis.WithCheckForHangInterval(tick))
	a, d, r := e.up(map[string]string{"tx_ring": "4", "latency": "100ms", "send_timeout": "1s"})

	const n = 30
	send(r, frames(d.MAC(), d.MAC(), 0, n, 64)...)
	if st := d.Stats(); st.TxRing != 4 || st.TxQueued != n-4 || st.TxFrames != 0 {
		t.Fatalf("after the send: ring %d, queued %d, sent %d; want 4, %d, 0", st.TxRing, st.TxQueued, st.TxFrames, n-4)
	}
	for i := 1; i <= n; i++ {
		e.advance(100*time.Millisecond, fmt.Sprintf("frame %d on the wire", i), func() bool {
			st := d.Stats()
			return st.TxFrames >= uint64(i) && st.TxPosted >= uint64(min(i+4, n))
		})
	}
	waitCompleted(t, r, n)
	waitReceived(t, r, n)
	st := d.Stats()
	if st.HangChecks < 4 || st.HangsDetected != 0 {
		t.Fatalf("back-pressure: %d hang checks, %d said hung", st.HangChecks, st.HangsDetected)
	}
	if c := resets(a, ndis.CauseHang); c.Requested != 0 {
		t.Fatalf("back-pressure made the runtime reset: %+v", c)
	}
	if m := r.CompletedByStatus(); m[ndis.StatusSuccess] != n {
		t.Fatalf("completions %v", m)
	}

	// Now hang the hardware with the ring full again.
	d.Inject(sim.FaultHang)
	send(r, frames(d.MAC(), d.MAC(), 100, 10, 64)...)
	checks := d.Stats().HangChecks
	periods := e.tickUntil(d, tick, 10, "the hang detected", func() bool { return resets(a, ndis.CauseHang).Requested == 1 })
	// Posted now; hung once more than 1 s + 100 ms have passed: the third tick.
	if periods != 3 || d.Stats().HangChecks != checks+3 {
		t.Errorf("hang detected after %d periods (%d checks), want 3", periods, d.Stats().HangChecks-checks)
	}
	wantResetEnd(t, r, 1, ndis.StatusSuccess)
	waitCompleted(t, r, n+10)
	if m := r.CompletedByStatus(); m[ndis.StatusRequestAborted] != 10 {
		t.Fatalf("completions %v, want the 10 stuck sends aborted", m)
	}
	// The hardware works again, at its pace.
	st = d.Stats()
	send(r, frames(d.MAC(), d.MAC(), 1000, 6, 64)...)
	for i := 1; i <= 6; i++ {
		e.advance(100*time.Millisecond, fmt.Sprintf("frame %d after the reset", i), func() bool {
			s := d.Stats()
			return s.TxFrames >= st.TxFrames+uint64(i) && s.TxPosted >= st.TxPosted+uint64(min(i+4, 6))
		})
	}
	waitCompleted(t, r, n+10+6)
	if m := r.CompletedByStatus(); m[ndis.StatusSuccess] != n+6 {
		t.Fatalf("completions %v after the reset", m)
	}
}

// TestHang: a hung transmit engine is found by CheckForHang after
// send_timeout; the runtime resets with cause hang, the stuck sends are
// aborted, and traffic flows again.
func TestHang(t *testing.T) {
	e := newEnv(t, true, ndis.WithCheckForHangInterval(time.Second))
	a, d, r := e.up(map[string]string{"hang": "once:500ms"})
	checkTraffic(t, r, d, 0, 5)
	e.clk.Advance(500 * time.Millisecond)
	if d.Stats().Fired[sim.FaultHang] != 1 {
		t.Fatal("hang=once:500ms did not fire")
	}
	send(r, frames(d.MAC(), d.MAC(), 10, 3, 64)...)
	ndistest.Eventually(t, func() bool { return d.Stats().TxRing == 3 }, "3 descriptors stuck")
	// Posted at 0.5 s; ticks at 1, 2, 3 s: hung once more than 2 s have passed.
	periods := e.tickUntil(d, time.Second, 5, "the hang detected", func() bool { return resets(a, ndis.CauseHang).Requested == 1 })
	if periods != 3 {
		t.Errorf("hang detected at tick %d, want 3", periods)
	}
	wantResetEnd(t, r, 1, ndis.StatusSuccess)
	if m := r.CompletedByStatus(); m[ndis.StatusRequestAborted] != 3 {
		t.Fatalf("completions %v", m)
	}
	if c := resets(a, ndis.CauseHang); c.Performed != 1 || c.Failed != 0 {
		t.Fatalf("hang resets %+v", c)
	}
	if st := d.Stats(); st.HangsDetected != 1 || st.Resets != 1 {
		t.Fatalf("stats %+v", st)
	}
	checkTraffic(t, r, d, 100, 5)
}

// TestFatal: a fatal error interrupt makes the driver call ResetMiniport
// (cause driver); a periodic one from the parameters does it every period.
func TestFatal(t *testing.T) {
	e := newEnv(t, true, ndis.WithCheckForHangInterval(time.Hour))
	a, d, r := e.up(map[string]string{"fatal": "every:1s"})
	for i := 1; i <= 3; i++ {
		e.clk.Advance(time.Second)
		wantResetEnd(t, r, i, ndis.StatusSuccess)
		checkTraffic(t, r, d, uint32(100*i), 5)
	}
	if c := resets(a, ndis.CauseDriver); c.Performed != 3 {
		t.Fatalf("driver resets %+v", c)
	}
	d.Inject(sim.FaultFatal)
	resetEnd(t, r, 4)
	if st := d.Stats(); st.Fired[sim.FaultFatal] != 4 || st.Resets != 4 {
		t.Fatalf("fired %d, resets %d", st.Fired[sim.FaultFatal], st.Resets)
	}
	checkTraffic(t, r, d, 1000, 5)
}

// TestStuckOid: an OID the device never completes is timed out by the
// runtime after two check-for-hang ticks; the reset aborts it.
func TestStuckOid(t *testing.T) {
	e := newEnv(t, true, ndis.WithCheckForHangInterval(time.Second))
	a, d, r := e.up(nil)
	done := stuckQuery(t, r, d, ndis.OIDGenRcvOK)
	periods := e.tickUntil(d, time.Second, 5, "the OID time-out", func() bool { return resets(a, ndis.CauseOidTimeout).Requested == 1 })
	if periods != 2 {
		t.Errorf("OID timed out at tick %d, want 2", periods)
	}
	wantResetEnd(t, r, 1, ndis.StatusSuccess)
	if s := <-done; s != ndis.StatusRequestAborted {
		t.Fatalf("stuck OID: %s", s)
	}
	if c := resets(a, ndis.CauseOidTimeout); c.Performed != 1 {
		t.Fatalf("oid-timeout resets %+v", c)
	}
	if n := ndistest.MustQueryCounter(t, r.B, ndis.OIDGenRcvOK); n != 0 {
		t.Fatalf("RCV_OK %d", n)
	}
	checkTraffic(t, r, d, 0, 5)
}

// TestLoseAddressing: a reset normally keeps the filter; one that loses it
// clears the registers, answers addressingReset, and by RESET_END the
// runtime has set them back to what the bindings set.
func TestLoseAddressing(t *testing.T) {
	e := newEnv(t, true, ndis.WithCheckForHangInterval(time.Hour))
	a, d := e.add("sim0", nil)
	r1 := e.bind("sim0")
	r2 := e.bind("sim0")
	ndistest.MustSetPacketFilter(t, r1.B, ndis.PacketTypeDirected|ndis.PacketTypeBroadcast)
	ndistest.MustSet(t, r1.B, ndis.OIDGenCurrentLookahead, ndis.Ulong(128))
	ndistest.MustSetPacketFilter(t, r2.B, ndis.PacketTypeMulticast)
	ndistest.MustSetMulticastList(t, r2.B, []ndis.MacAddress{mcastIn, mcastIn2})
	want := sim.Filter{
		PacketFilter: ndis.PacketTypeDirected | ndis.PacketTypeBroadcast | ndis.PacketTypeMulticast,
		Multicast:    []ndis.MacAddress{mcastIn, mcastIn2},
		Lookahead:    128,
	}
	if f := d.Filter(); !f.Equal(want) {
		t.Fatalf("filter %+v, want %+v", f, want)
	}

	// A plain reset keeps the filter: no restore.
	e.reset("sim0")
	resetEnd(t, r1, 1)
	if f := d.Filter(); !f.Equal(want) || e.eventCount(ndis.EventResetRestore) != 0 || d.Stats().AddressingLost != 0 {
		t.Fatalf("after a plain reset: filter %+v, %d restores", f, e.eventCount(ndis.EventResetRestore))
	}

	// One that loses it, started by a fatal error.
	d.Inject(sim.FaultLoseAddressing)
	d.Inject(sim.FaultFatal)
	for _, r := range []*ndistest.Recorder{r1, r2} {
		wantResetEnd(t, r, 2, ndis.StatusSuccess)
	}
	if f := d.Filter(); !f.Equal(want) {
		t.Fatalf("after RESET_END: filter %+v, want %+v", f, want)
	}
	if d.Stats().AddressingLost != 1 || e.eventCount(ndis.EventResetRestore) != 1 || resets(a, ndis.CauseDriver).Performed != 1 {
		t.Fatalf("lost %d, restores %d, driver resets %+v", d.Stats().AddressingLost, e.eventCount(ndis.EventResetRestore), resets(a, ndis.CauseDriver))
	}
	// The filter works: multicast to r2, directed to r1.
	b1, b2 := r1.Received(), r2.Received()
	d.Deliver(frame(mcastIn2, otherMAC, 1, 64), frame(d.MAC(), otherMAC, 2, 64), frame(mcastOut, otherMAC, 3, 64))
	waitReceived(t, r1, b1+1)
	waitReceived(t, r2, b2+1)
	checkTraffic(t, r1, d, 10, 3)
}

// TestSlowReset: a reset that answers StatusPending ends with ResetComplete
// when its time is up, not before.
func TestSlowReset(t *testing.T) {
	e := newEnv(t, true, ndis.WithCheckForHangInterval(time.Hour))
	a, d, r := e.up(map[string]string{"slow_reset": "once,for=3s"})
	e.reset("sim0")
	r.WaitStatus(t, ndis.StatusResetStart, 1)
	ndistest.Eventually(t, func() bool { return e.eventCount(ndis.EventResetPending) == 1 }, "the reset pending")
	e.clk.Advance(2 * time.Second)
	if n := r.Count(ndis.StatusResetEnd); n != 0 {
		t.Fatal("RESET_END before the slow reset's time")
	}
	e.clk.Advance(time.Second)
	wantResetEnd(t, r, 1, ndis.StatusSuccess)
	if c := resets(a, ndis.CauseOperator); c.Performed != 1 || c.LastDuration != 3*time.Second {
		t.Fatalf("operator resets %+v, want one of 3s", c)
	}
	if st := d.Stats(); st.ResetsPended != 1 {
		t.Fatalf("pended %d", st.ResetsPended)
	}
	checkTraffic(t, r, d, 0, 5)
}

// TestFailReset: failed resets end with StatusHardErrors in RESET_END; the
// dead device fails sends and says hung, so the runtime resets again until
// a reset succeeds.
func TestFailReset(t *testing.T) {
	e := newEnv(t, true, ndis.WithCheckForHangInterval(time.Second))
	a, d, r := e.up(map[string]string{"fail_reset": "once,count=2"})
	e.reset("sim0")
	wantResetEnd(t, r, 1, ndis.StatusHardErrors)
	if !d.Failed() {
		t.Fatal("device not dead after a failed reset")
	}
	send(r, frame(d.MAC(), d.MAC(), 1, 64))
	waitCompleted(t, r, 1)
	if m := r.CompletedByStatus(); m[ndis.StatusHardErrors] != 1 {
		t.Fatalf("send to a dead device: %v", m)
	}
	e.tickUntil(d, time.Second, 3, "a hang reset", func() bool { return r.Count(ndis.StatusResetEnd) == 2 })
	wantResetEnd(t, r, 2, ndis.StatusHardErrors)
	e.tickUntil(d, time.Second, 3, "another hang reset", func() bool { return r.Count(ndis.StatusResetEnd) == 3 })
	wantResetEnd(t, r, 3, ndis.StatusSuccess)
	if d.Failed() {
		t.Fatal("device dead after a good reset")
	}
	if o, h := resets(a, ndis.CauseOperator), resets(a, ndis.CauseHang); o.Failed != 1 || h.Performed != 2 || h.Failed != 1 {
		t.Fatalf("operator %+v, hang %+v", o, h)
	}
	if st := d.Stats(); st.ResetsFailed != 2 || st.Resets != 3 {
		t.Fatalf("stats %+v", st)
	}
	checkTraffic(t, r, d, 10, 5)
}

// TestFailResetEscalates: with an escalation policy of two consecutive
// failures, the runtime fails and halts an adapter whose resets keep
// failing.
func TestFailResetEscalates(t *testing.T) {
	e := newEnv(t, true, ndis.WithCheckForHangInterval(time.Second),
		ndis.WithResetEscalation(ndis.Escalation{MaxConsecutiveFailures: 2}))
	a, d := e.add("sim0", map[string]string{"fail_reset": "once,count=5"})
	r := e.bind("sim0")
	a.ResetMiniport() // the driver's: operator resets do not count toward escalation
	wantResetEnd(t, r, 1, ndis.StatusHardErrors)
	e.clk.Advance(time.Second)
	wantResetEnd(t, r, 2, ndis.StatusHardErrors)
	select {
	case <-a.Done():
	case <-time.After(waitLimit):
		t.Fatal("the adapter was not halted")
	}
	if _, ok := sim.DeviceOf(a); ok || e.eventCount(ndis.EventResetEscalated) != 1 {
		t.Fatalf("after escalation: device still there, or %d escalations", e.eventCount(ndis.EventResetEscalated))
	}
	if st := d.Stats(); st.ResetsFailed != 2 {
		t.Fatalf("failed resets %d", st.ResetsFailed)
	}
	if err := d.SetFault(sim.Fault{Kind: sim.FaultHang, Trigger: sim.TriggerOnce}); err != sim.ErrHalted {
		t.Fatalf("SetFault on a halted device: %v", err)
	}
}

// TestLinkFlap: the link goes down and up, each change indicated; frames
// are lost while it is down; no reset.
func TestLinkFlap(t *testing.T) {
	e := newEnv(t, true, ndis.WithCheckForHangInterval(time.Hour))
	a, d, r := e.up(map[string]string{"link_flap": "once:1s,for=500ms"})
	e.clk.Advance(time.Second)
	ndistest.Eventually(t, func() bool { return len(linkStates(r)) == 1 }, "link down")
	if d.LinkUp() || a.Link().MediaConnectState != ndis.MediaConnectStateDisconnected {
		t.Fatal("link still up")
	}
	send(r, frame(d.MAC(), d.MAC(), 1, 64))
	waitCompleted(t, r, 1)
	if st := d.Stats(); st.TxLinkDown != 1 || r.Received() != 0 {
		t.Fatalf("while down: lost %d, received %d", st.TxLinkDown, r.Received())
	}
	e.clk.Advance(500 * time.Millisecond)
	ndistest.Eventually(t, func() bool { return len(linkStates(r)) == 2 }, "link up")
	if got := linkStates(r); got[0] != ndis.MediaConnectStateDisconnected || got[1] != ndis.MediaConnectStateConnected {
		t.Fatalf("link indications %v", got)
	}
	if a.Link().MediaConnectState != ndis.MediaConnectStateConnected || a.Link().XmitLinkSpeed != sim.DefaultLinkSpeed {
		t.Fatalf("link %+v", a.Link())
	}
	checkTraffic(t, r, d, 10, 5)
	if n := r.Count(ndis.StatusResetStart); n != 0 {
		t.Fatalf("%d resets", n)
	}
}

// TestRxStorm: a burst larger than the receive ring fills it; the rest is
// lost as an overrun.
func TestRxStorm(t *testing.T) {
	e := newEnv(t, true, ndis.WithCheckForHangInterval(time.Hour))
	_, d, r := e.up(map[string]string{"rx_ring": "16", "rx_storm": "off,frames=100"})
	d.Inject(sim.FaultRxStorm)
	waitReceived(t, r, 16)
	st := d.Stats()
	if st.RxFrames != 16 || st.RxNoBuffer != 84 || st.Fired[sim.FaultRxStorm] != 1 {
		t.Fatalf("storm: %d received, %d overrun", st.RxFrames, st.RxNoBuffer)
	}
	for i, f := range r.ReceivedFrames() {
		if ndis.MacAddress(f[:6]) != d.MAC() || f[12] != 0x88 || f[13] != 0xB5 || int(f[17]) != i+1 {
			t.Fatalf("storm frame %d: %x", i, f[:18])
		}
	}
	checkTraffic(t, r, d, 0, 5)
}

// TestRandomFaults: a random fault's decisions come from its own generator,
// seeded by seed and its kind: two devices with one schedule fire alike,
// and as often as the generator says.
func TestRandomFaults(t *testing.T) {
	e := newEnv(t, true, ndis.WithCheckForHangInterval(time.Hour))
	spec := "random:0.3,seed=7,check=10ms,frames=1"
	_, d1 := e.add("sim1", map[string]string{"rx_storm": spec})
	_, d2 := e.add("sim2", map[string]string{"rx_storm": spec})
	e.clk.Advance(time.Second)
	rng := rand.New(rand.NewPCG(7, uint64(sim.FaultRxStorm)))
	want := uint64(0)
	for range 100 {
		if rng.Float64() < 0.3 {
			want++
		}
	}
	if f1, f2 := d1.Stats().Fired[sim.FaultRxStorm], d2.Stats().Fired[sim.FaultRxStorm]; f1 != want || f2 != want {
		t.Fatalf("fired %d and %d times, want %d", f1, f2, want)
	}

	// An event fault rolls at each event: fail_reset=random:1 fails every reset.
	if err := d1.SetFault(sim.Fault{Kind: sim.FaultFailReset, Trigger: sim.TriggerRandom, Prob: 1}); err != nil {
		t.Fatal(err)
	}
	r := e.bind("sim1")
	e.reset("sim1")
	wantResetEnd(t, r, 1, ndis.StatusHardErrors)
	if err := d1.SetFault(sim.Fault{Kind: sim.FaultFailReset}); err != nil {
		t.Fatal(err)
	}
	e.reset("sim1")
	wantResetEnd(t, r, 2, ndis.StatusSuccess)
}

// TestBugs: each deliberate driver bug is reported by its verifier rule,
// and the adapter carries on.
func TestBugs(t *testing.T) {
	for _, bug := range sim.Bugs() {
		t.Run(bug.String(), func(t *testing.T) {
			e := newEnv(t, true, ndis.WithCheckForHangInterval(time.Second))
			a, d, r := e.up(nil)
			e.v.Expect(bug.Rule())
			switch bug {
			case sim.BugSendDoubleComplete:
				d.InjectBug(bug)
				send(r, frame(d.MAC(), d.MAC(), 1, 64))
			case sim.BugOidDoubleComplete:
				d.InjectBug(bug)
				ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
				defer cancel()
				if _, s := ndistest.Query(ctx, r.B, ndis.OIDGenXmitOK, 8); s != ndis.StatusSuccess {
					t.Fatalf("the bugged OID: %s", s)
				}
			case sim.BugResetCompleteWithoutPending:
				d.InjectBug(bug)
				e.reset("sim0")
				resetEnd(t, r, 1)
			case sim.BugResetPendingRequests:
				// Traffic first: ndis's NdisTimedDataHang check reports any
				// sends pending at a tick on an adapter that has never
				// completed one (sendWatch.lastProgress starts at the zero
				// time, ndis/hang.go:126).
				checkTraffic(t, r, d, 0, 1)
				d.Inject(sim.FaultHang)
				send(r, frames(d.MAC(), d.MAC(), 1, 3, 64)...)
				ndistest.Eventually(t, func() bool { return d.Stats().TxRing == 3 }, "sends in the ring")
				d.InjectBug(bug)
				e.reset("sim0")
				resetEnd(t, r, 1)
				// The forgotten sends come back at the next hang check.
				e.clk.Advance(time.Second)
				waitCompleted(t, r, 1+3)
			case sim.BugCallAfterHalt:
				d.InjectBug(bug)
				ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
				defer cancel()
				if err := e.rt.RemoveAdapter(ctx, "sim0"); err != nil {
					t.Fatal(err)
				}
			}
			v := e.v.Wait(t, bug.Rule())
			if v.Adapter != "sim0" {
				t.Fatalf("violation %s", v)
			}
			if bug != sim.BugCallAfterHalt {
				checkTraffic(t, r, d, 100, 5)
				if a.State() != ndis.AdapterRunning {
					t.Fatalf("state %s", a.State())
				}
			}
		})
	}
}

// TestPauseDuringSlowReset: a pause overlaps a pending reset and completes
// first (R13); the reset completes later; the adapter restarts.
func TestPauseDuringSlowReset(t *testing.T) {
	e := newEnv(t, true, ndis.WithCheckForHangInterval(time.Hour))
	a, d, r := e.up(map[string]string{"slow_reset": "once,for=2s"})
	e.reset("sim0")
	ndistest.Eventually(t, func() bool { return e.eventCount(ndis.EventResetPending) == 1 }, "the reset pending")
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := e.rt.PauseAdapter(ctx, "sim0"); err != nil {
		t.Fatal(err)
	}
	if a.State() != ndis.AdapterPaused || r.Count(ndis.StatusResetEnd) != 0 {
		t.Fatalf("state %s, %d RESET_END", a.State(), r.Count(ndis.StatusResetEnd))
	}
	e.clk.Advance(2 * time.Second)
	wantResetEnd(t, r, 1, ndis.StatusSuccess)
	if err := e.rt.RestartAdapter(ctx, "sim0"); err != nil {
		t.Fatal(err)
	}
	checkTraffic(t, r, d, 0, 5)
}

// TestResetUnderTraffic: resets of one end of a pair while frames flow both
// ways, on the wall clock: every NBL completes exactly once, and every frame
// that arrives is one that was sent, intact, in order, once.
func TestResetUnderTraffic(t *testing.T) {
	e := newEnv(t, false)
	w := wireName(t)
	a, da := e.add("a", map[string]string{"wire": w, "tx_ring": "32", "rx_ring": "32"})
	_, db := e.add("b", map[string]string{"wire": w, "tx_ring": "32", "rx_ring": "32"})
	ra, rb := e.bind("a"), e.bind("b")
	ndistest.MustSetPacketFilter(t, ra.B, ndis.PacketTypeDirected)
	ndistest.MustSetPacketFilter(t, rb.B, ndis.PacketTypeDirected)

	type side struct {
		r        *ndistest.Recorder
		dst, src ndis.MacAddress
		seq      uint32
		size     int
		fs       [][]byte
		sent     []*ndis.NetBufferList
	}
	sides := []*side{
		{r: ra, dst: db.MAC(), src: da.MAC(), seq: 0, size: 200},
		{r: rb, dst: da.MAC(), src: db.MAC(), seq: 1 << 30, size: 300},
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, s := range sides {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				fs := frames(s.dst, s.src, s.seq, 16, s.size)
				s.seq += 16
				ls := send(s.r, fs...)
				s.fs, s.sent = append(s.fs, fs...), append(s.sent, ls...)
				for s.r.Completed() < len(s.sent)-128 {
					runtime.Gosched()
				}
				if s.r.CompletedTimes(ls[0]) == 1 && ls[0].Status == ndis.StatusResetInProgress {
					time.Sleep(100 * time.Microsecond) // bounced off a reset: let it finish
				}
			}
		})
	}
	// Each reset, and the end, only once frames have flowed both ways.
	flowed := func() {
		a0, b0 := ra.Received(), rb.Received()
		ndistest.Eventually(t, func() bool { return ra.Received() >= a0+64 && rb.Received() >= b0+64 }, "traffic both ways")
	}
	const resetsWanted = 5
	for i := 1; i <= resetsWanted; i++ {
		flowed()
		da.Inject(sim.FaultFatal)
		resetEnd(t, ra, i)
	}
	flowed()
	close(stop)
	wg.Wait()
	if c := resets(a, ndis.CauseDriver); c.Performed != resetsWanted {
		t.Fatalf("driver resets %+v", c)
	}
	for _, s := range sides {
		waitCompleted(t, s.r, len(s.sent))
		for _, x := range s.sent {
			if n := s.r.CompletedTimes(x); n != 1 {
				t.Fatalf("NBL completed %d times", n)
			}
			switch x.Status {
			case ndis.StatusSuccess, ndis.StatusRequestAborted, ndis.StatusResetInProgress:
			default:
				t.Fatalf("NBL completed with %s", x.Status)
			}
		}
	}
	// What arrived is a subsequence of what was sent, intact.
	for _, c := range []struct {
		name string
		got  [][]byte
		sent [][]byte
	}{{"b", rb.ReceivedFrames(), sides[0].fs}, {"a", ra.ReceivedFrames(), sides[1].fs}} {
		j := 0
		for i, f := range c.got {
			for j < len(c.sent) && !bytes.Equal(c.sent[j], f) {
				j++
			}
			if j == len(c.sent) {
				t.Fatalf("%s: frame %d received is not the next one sent", c.name, i)
			}
			j++
		}
	}
}
