package loopback_test

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gondis/gondis/miniport/loopback"
	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

// traffic runs senders that keep up to 256 NBLs in flight on r's binding, in
// chains of 1..32 broadcast frames, until stop is called. stop returns every
// NBL they sent.
func traffic(t *testing.T, r *ndistest.Recorder, senders int) (stop func() []*ndis.NetBufferList) {
	// Each completed NBL frees a slot. The hook is set before the first
	// send, so no completion reads it meanwhile.
	slots := make(chan struct{}, 256)
	checkOnce := r.OnComplete
	r.OnComplete = func(l *ndis.NetBufferList) {
		checkOnce(l)
		for range l.Len() {
			<-slots
		}
	}
	var quit atomic.Bool
	var wg sync.WaitGroup
	var mu sync.Mutex
	var all []*ndis.NetBufferList
	var seq atomic.Uint32
	for i := range senders {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			var mine []*ndis.NetBufferList
			defer func() {
				mu.Lock()
				all = append(all, mine...)
				mu.Unlock()
			}()
			for !quit.Load() {
				k := 1 + rng.IntN(32)
				chain := make([]*ndis.NetBufferList, k)
				for j := range chain {
					select {
					case slots <- struct{}{}:
					default:
						select {
						case slots <- struct{}{}:
						case <-time.After(waitLimit):
							t.Errorf("sender: no completion for %s", waitLimit)
							return
						}
					}
					chain[j] = ndis.NewNetBufferList(frame(ndis.BroadcastAddress, seq.Add(1), 60+rng.IntN(100)))
				}
				mine = append(mine, chain...)
				send(r, chain...)
			}
		})
	}
	return func() []*ndis.NetBufferList {
		quit.Store(true)
		wg.Wait()
		return all
	}
}

// waitTraffic waits until more than 100 further sends have completed
// successfully.
func waitTraffic(t *testing.T, r *ndistest.Recorder) {
	t.Helper()
	n := r.CompletedByStatus()[ndis.StatusSuccess] + 100
	ndistest.Eventually(t, func() bool { return r.CompletedByStatus()[ndis.StatusSuccess] > n }, "traffic")
}

// checkReceivedOnce checks that no frame was received twice.
func checkReceivedOnce(t *testing.T, r *ndistest.Recorder) {
	t.Helper()
	seen := map[uint32]bool{}
	for _, f := range r.ReceivedFrames() {
		s := binary.BigEndian.Uint32(f[14:])
		if seen[s] {
			t.Fatalf("frame %d received twice", s)
		}
		seen[s] = true
	}
}

// TestPauseRestartRemoveWithTraffic: pauses complete with traffic flowing,
// nothing is indicated while paused, and removal completes every send.
func TestPauseRestartRemoveWithTraffic(t *testing.T) {
	rt, a, r := setup(t, nil)
	ndistest.MustSetPacketFilter(t, r.B, ndis.PacketTypeBroadcast)
	stop := traffic(t, r, 2)
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	for range 20 {
		waitTraffic(t, r)
		if err := rt.PauseAdapter(ctx, "loop0"); err != nil {
			t.Fatal(err)
		}
		if s := a.State(); s != ndis.AdapterPaused {
			t.Fatalf("state %s after pause", s)
		}
		rx, ind := len(r.ReceivedFrames()), a.Stats().ReceivedNBLs
		time.Sleep(2 * time.Millisecond) // senders keep trying meanwhile
		if len(r.ReceivedFrames()) != rx || a.Stats().ReceivedNBLs != ind {
			t.Fatal("the loopback indicated receives while paused")
		}
		if err := rt.RestartAdapter(ctx, "loop0"); err != nil {
			t.Fatal(err)
		}
	}
	waitTraffic(t, r)
	if err := rt.RemoveAdapter(ctx, "loop0"); err != nil {
		t.Fatal(err)
	}
	sent := stop()
	byStatus := checkCompletions(t, r, sent, ndis.StatusSuccess, ndis.StatusPaused, ndis.StatusClosing)
	ok, paused := byStatus[ndis.StatusSuccess], byStatus[ndis.StatusPaused]
	// Every frame sent successfully was received, the last ones while the
	// removal's pause drained them.
	if got := len(r.ReceivedFrames()); got != ok {
		t.Errorf("received %d frames; %d were sent successfully", got, ok)
	}
	checkReceivedOnce(t, r)
	if paused == 0 {
		t.Error("no send met a paused adapter")
	}
	t.Logf("%d sent, %d ok, %d paused", len(sent), ok, paused)
}

// TestResetWithTraffic: operator resets while traffic flows; RESET_START and
// RESET_END alternate and every send is completed once.
func TestResetWithTraffic(t *testing.T) {
	rt, a, r := setup(t, nil)
	ndistest.MustSetPacketFilter(t, r.B, ndis.PacketTypeBroadcast)
	stop := traffic(t, r, 2)
	const resets = 10
	for i := range resets {
		waitTraffic(t, r)
		if err := rt.ResetAdapter("loop0"); err != nil {
			t.Fatal(err)
		}
		ndistest.Eventually(t, func() bool { return r.Count(ndis.StatusResetEnd) == i+1 }, "RESET_END %d", i+1)
	}
	sent := stop()
	quiesce(t, rt)

	byStatus := checkCompletions(t, r, sent, ndis.StatusSuccess, ndis.StatusResetInProgress, ndis.StatusRequestAborted)
	ok := byStatus[ndis.StatusSuccess]
	var seq []string
	for _, e := range r.Records() {
		if e.Kind != ndistest.RecordStatus {
			continue
		}
		seq = append(seq, e.Status.String())
		if e.Status == ndis.StatusResetEnd {
			if len(e.Payload) != 4 || ndis.Status(binary.LittleEndian.Uint32(e.Payload)) != ndis.StatusSuccess {
				t.Errorf("RESET_END payload % x, want NDIS_STATUS_SUCCESS", e.Payload)
			}
		}
	}
	t.Logf("%d sent, %v", len(sent), byStatus)
	if len(seq) != 2*resets {
		t.Fatalf("status indications %v, want %d RESET_START/RESET_END pairs", seq, resets)
	}
	for i, s := range seq {
		if want := [2]string{"NDIS_STATUS_RESET_START", "NDIS_STATUS_RESET_END"}[i%2]; s != want {
			t.Fatalf("status indication %d is %s, want %s (%v)", i, s, want, seq)
		}
	}
	// A frame sent successfully is either received or was indicated during
	// a reset, when the runtime returns it at once (R12).
	st := a.Stats()
	if got := uint64(len(r.ReceivedFrames())) + st.ReceiveDuringReset; got != uint64(ok) {
		t.Errorf("received %d + %d during resets; %d were sent successfully", len(r.ReceivedFrames()), st.ReceiveDuringReset, ok)
	}
	checkReceivedOnce(t, r)
	if p := st.Resets[ndis.CauseOperator].Performed; p != resets {
		t.Errorf("%d operator resets performed, want %d", p, resets)
	}
}

// TestResetAbortsHeldSends: sends the interrupt goroutine has not taken when
// the reset comes are completed with NDIS_STATUS_REQUEST_ABORTED; the chain
// it is transmitting finishes normally before the reset completes.
func TestResetAbortsHeldSends(t *testing.T) {
	entered, release, took := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var once sync.Once
	remove := loopback.SetTestHooks(func() {
		once.Do(func() {
			close(entered)
			<-release
		})
	}, func() { close(took) })
	defer remove()

	rt, a, r := setup(t, nil)
	ndistest.MustSetPacketFilter(t, r.B, ndis.PacketTypeBroadcast)
	mk := func(n int) []*ndis.NetBufferList {
		ls := make([]*ndis.NetBufferList, n)
		for i := range ls {
			ls[i] = ndis.NewNetBufferList(frame(ndis.BroadcastAddress, uint32(i), 60))
		}
		return ls
	}
	first, second := mk(4), mk(3)
	send(r, first...)
	<-entered // the interrupt goroutine holds the first chain
	send(r, second...)
	if err := rt.ResetAdapter("loop0"); err != nil {
		t.Fatal(err)
	}
	<-took // Reset has taken the second chain and waits for the first
	close(release)
	ndistest.Eventually(t, func() bool { return len(r.Statuses()) == 2 }, "RESET_END")
	checkCompletedOnce(t, r, append(first, second...))
	for _, x := range first {
		if x.Status != ndis.StatusSuccess {
			t.Errorf("transmitting NBL completed with %s", x.Status)
		}
	}
	for _, x := range second {
		if x.Status != ndis.StatusRequestAborted {
			t.Errorf("held NBL completed with %s", x.Status)
		}
	}
	if n := ndistest.MustQueryCounter(t, r.B, ndis.OIDGenXmitError); n != 3 {
		t.Errorf("OID_GEN_XMIT_ERROR = %d, want 3", n)
	}
	if d := details(t, a); d["xmit_error"] != 3 || d["xmit_ok"] != 4 {
		t.Errorf("reported xmit_error %v, xmit_ok %v; want 3, 4", d["xmit_error"], d["xmit_ok"])
	}
	// The first chain was indicated during the reset: returned at once.
	if st := a.Stats(); st.ReceiveDuringReset != 4 || len(r.ReceivedFrames()) != 0 {
		t.Errorf("%d receives during the reset, %d delivered; want 4, 0", st.ReceiveDuringReset, len(r.ReceivedFrames()))
	}
	// Traffic flows again.
	send(r, ndis.NewNetBufferList(frame(ndis.BroadcastAddress, 99, 60)))
	quiesce(t, rt)
	if n := len(r.ReceivedFrames()); n != 1 {
		t.Errorf("received %d frames after the reset, want 1", n)
	}
}

// pauseHeldByReceive adds loop0 with a protocol that keeps the broadcast
// frame it receives, then starts a pause, which cannot complete while the
// receive NBL is held; the pause's result arrives on pause.
func pauseHeldByReceive(t *testing.T) (rt *ndis.Runtime, a *ndis.Adapter, r *ndistest.Recorder, pause <-chan error) {
	t.Helper()
	rt, a, r = setup(t, nil)
	ndistest.MustSetPacketFilter(t, r.B, ndis.PacketTypeBroadcast)
	r.KeepReceives(true)
	send(r, ndis.NewNetBufferList(frame(ndis.BroadcastAddress, 1, 60)))
	ndistest.Eventually(t, func() bool { return r.Received() == 1 }, "a receive")
	done := make(chan error, 1)
	go func() { done <- rt.PauseAdapter(context.Background(), "loop0") }()
	return rt, a, r, done
}

// releasePause checks that the pause has not completed, returns the held
// receive NBL and waits for the pause to complete.
func releasePause(t *testing.T, r *ndistest.Recorder, pause <-chan error) {
	t.Helper()
	select {
	case err := <-pause:
		t.Fatalf("pause completed (%v) while a receive NBL was held", err)
	default:
	}
	r.ReturnKept()
	select {
	case err := <-pause:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitLimit):
		t.Fatal("pause did not complete once the NBL was returned")
	}
}

// TestPauseWaitsForReturns: a pause does not complete while a protocol
// holds receive NBLs.
func TestPauseWaitsForReturns(t *testing.T) {
	_, a, r, pause := pauseHeldByReceive(t)
	time.Sleep(5 * time.Millisecond)
	if s := a.State(); s != ndis.AdapterPausing {
		t.Errorf("state %s, want Pausing", s)
	}
	releasePause(t, r, pause)
}

// TestResetDuringPendingPause: a reset may run while a pause waits for a
// protocol to return receive NBLs (R13); the pause completes after both.
func TestResetDuringPendingPause(t *testing.T) {
	rt, a, r, pause := pauseHeldByReceive(t)
	for deadline := time.Now().Add(waitLimit); a.State() != ndis.AdapterPausing; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("state %s, want Pausing", a.State())
		}
	}
	if err := rt.ResetAdapter("loop0"); err != nil {
		t.Fatal(err)
	}
	ndistest.Eventually(t, func() bool { return len(r.Statuses()) == 2 }, "RESET_END")
	releasePause(t, r, pause)
	if err := rt.RestartAdapter(context.Background(), "loop0"); err != nil {
		t.Fatal(err)
	}
	r.KeepReceives(false)
	send(r, ndis.NewNetBufferList(frame(ndis.BroadcastAddress, 2, 60)))
	quiesce(t, rt)
	if n := len(r.ReceivedFrames()); n != 2 {
		t.Errorf("received %d frames, want 2", n)
	}
}
