package ndis_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

// TestSendExactlyOnce: goroutines send through two bindings while the
// adapter is paused and restarted over and over, and the miniport completes
// from its own "interrupt" goroutine. Every NBL comes back to the binding
// that sent it exactly once, with a status.
func TestSendExactlyOnce(t *testing.T) {
	e := newEnv(t)
	a := e.adapter("eth0")
	b1, r1 := e.bind("eth0")
	b2, r2 := e.bind("eth0")

	// The interrupt goroutine completes held sends in batches.
	e.fake.Do(func(f *ndistest.Fake) { f.HoldSends = true })
	stopIRQ := repeat(func() bool {
		e.fake.CompleteHeld(ndis.StatusSuccess)
		return true
	})

	const senders, batches, batch = 4, 300, 8
	var owner sync.Map // *NetBufferList -> *ndis.Binding
	var wg sync.WaitGroup
	for i := range senders {
		b := b1
		if i%2 == 1 {
			b = b2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range batches {
				ls := make([]*ndis.NetBufferList, batch)
				for k := range ls {
					ls[k] = ndis.NewNetBufferList(frame(ndis.BroadcastAddress, "p"))
					owner.Store(ls[k], b)
				}
				b.SendNetBufferLists(ndis.Chain(ls...))
			}
		}()
	}
	var cycles atomic.Int32
	stopLC := repeat(func() bool {
		if err := e.rt.PauseAdapter(context.Background(), "eth0"); err != nil {
			t.Errorf("pause: %v", err)
			return false
		}
		if err := e.rt.RestartAdapter(context.Background(), "eth0"); err != nil {
			t.Errorf("restart: %v", err)
			return false
		}
		cycles.Add(1)
		return true
	})
	wg.Wait()
	stopLC()
	stopIRQ()
	e.fake.CompleteHeld(ndis.StatusSuccess) // what the last pass left

	total := senders * batches * batch
	ndistest.Eventually(t, func() bool { return r1.Completed()+r2.Completed() == total }, "all %d sends completed", total)
	var bad int
	owner.Range(func(k, v any) bool {
		l, b := k.(*ndis.NetBufferList), v.(*ndis.Binding)
		rec, other := r1, r2
		if b == b2 {
			rec, other = r2, r1
		}
		if rec.CompletedTimes(l) != 1 || other.CompletedTimes(l) != 0 {
			bad++
		}
		if l.Status != ndis.StatusSuccess && l.Status != ndis.StatusPaused {
			bad++
		}
		return true
	})
	if bad != 0 {
		t.Fatalf("%d NBLs not completed exactly once to their sender with a status", bad)
	}
	st := a.Stats()
	if st.SentNBLs+st.SendRejected != uint64(total) || st.SendCompleted != st.SentNBLs {
		t.Errorf("stats %+v do not add up to %d", st, total)
	}
	t.Logf("%d pause/restart cycles; %d NBLs reached the miniport, %d were refused while paused", cycles.Load(), st.SentNBLs, st.SendRejected)
}

// TestReceiveFiltering: each binding gets only what its packet filter and
// multicast list accept; what nobody takes goes back to the miniport.
func TestReceiveFiltering(t *testing.T) {
	mac := ndis.MacAddress{2, 0, 0, 0, 0, 1}
	e := newEnv(t)
	e.fake.General = &ndis.GeneralAttributes{CurrentMacAddress: mac, PermanentMacAddress: mac}
	e.adapter("eth0")
	bDirected, rDirected := e.bind("eth0")
	bMulti, rMulti := e.bind("eth0")
	_, rNone := e.bind("eth0")
	e.setFilter(bDirected, ndis.PacketTypeDirected|ndis.PacketTypeBroadcast)
	e.setFilter(bMulti, ndis.PacketTypeMulticast)
	group := ndis.MacAddress{0x01, 0x00, 0x5e, 0, 0, 1}
	if s := ndistest.SetMulticastList(e.ctx, bMulti, []ndis.MacAddress{group}); s != ndis.StatusSuccess {
		t.Fatal(s)
	}

	other := ndis.MacAddress{2, 0, 0, 0, 0, 2}
	otherGroup := ndis.MacAddress{0x01, 0x00, 0x5e, 0, 0, 2}
	chain := e.fake.Indicate(0,
		frame(mac, "to-us"), frame(other, "to-other"), frame(ndis.BroadcastAddress, "bcast"),
		frame(group, "group"), frame(otherGroup, "other-group"), []byte{1, 2})
	var all []*ndis.NetBufferList
	for x := chain; x != nil; x = x.Next {
		all = append(all, x)
	}
	// chain links are the runtime's now; use the originals we kept.
	payloads := func(r *ndistest.Recorder) []string {
		var out []string
		for _, rec := range r.Records() {
			if rec.Kind == ndistest.RecordReceive {
				for _, f := range rec.Frames {
					out = append(out, string(f[14:]))
				}
			}
		}
		return out
	}
	if got := payloads(rDirected); len(got) != 2 || got[0] != "to-us" || got[1] != "bcast" {
		t.Errorf("directed+broadcast binding got %q", got)
	}
	if got := payloads(rMulti); len(got) != 1 || got[0] != "group" {
		t.Errorf("multicast binding got %q", got)
	}
	if got := rNone.Received(); got != 0 {
		t.Errorf("binding with no filter got %d NBLs", got)
	}
	_ = all
	if n := e.fake.ReturnedTotal(); n != 6 {
		t.Errorf("%d NBLs returned to the miniport, want all 6", n)
	}
	// Promiscuous takes everything, the runt included.
	e.setFilter(bDirected, ndis.PacketTypePromiscuous)
	before := rDirected.Received()
	e.fake.Indicate(0, frame(other, "x"), []byte{9})
	if got := rDirected.Received() - before; got != 2 {
		t.Errorf("promiscuous binding got %d of 2", got)
	}
}

// TestReceiveSharedReturn: an NBL indicated to two bindings goes back to
// the miniport only once both have returned it, exactly once.
func TestReceiveSharedReturn(t *testing.T) {
	e := newEnv(t)
	e.adapter("eth0")
	_, r1 := e.bindFiltered("eth0", ndis.PacketTypePromiscuous)
	_, r2 := e.bindFiltered("eth0", ndis.PacketTypePromiscuous)
	r1.KeepReceives(true)
	r2.KeepReceives(true)
	l := e.fake.Indicate(0, frame(ndis.BroadcastAddress, "one"), frame(ndis.BroadcastAddress, "two"))
	second := l.Next
	if r1.Received() != 2 || r2.Received() != 2 {
		t.Fatalf("received %d and %d, want 2 each", r1.Received(), r2.Received())
	}
	r1.ReturnKept()
	if e.fake.ReturnedTotal() != 0 {
		t.Fatalf("returned to the miniport after one of two bindings returned")
	}
	r2.ReturnKept()
	if e.fake.Returned(l) != 1 || e.fake.Returned(second) != 1 || e.fake.ReturnedTotal() != 2 {
		t.Fatalf("returns to the miniport: %d, %d (total %d), want 1 each", e.fake.Returned(l), e.fake.Returned(second), e.fake.ReturnedTotal())
	}
}

// TestReceiveResources: with ReceiveFlagResources the protocols may not
// keep the NBLs, nothing is returned, and the miniport's chain is intact.
func TestReceiveResources(t *testing.T) {
	e := newEnv(t)
	e.adapter("eth0")
	_, r1 := e.bindFiltered("eth0", ndis.PacketTypeBroadcast)
	_, r2 := e.bindFiltered("eth0", ndis.PacketTypePromiscuous)
	other := ndis.MacAddress{2, 0, 0, 0, 0, 7}
	l := e.fake.Indicate(ndis.ReceiveFlagResources, frame(ndis.BroadcastAddress, "a"), frame(other, "b"), frame(ndis.BroadcastAddress, "c"))
	if l.Len() != 3 {
		t.Fatalf("miniport chain has %d NBLs after the indication, want 3", l.Len())
	}
	if r1.Received() != 2 || r2.Received() != 3 {
		t.Errorf("received %d and %d, want 2 and 3", r1.Received(), r2.Received())
	}
	if e.fake.ReturnedTotal() != 0 {
		t.Errorf("%d NBLs returned for an indication with ReceiveFlagResources", e.fake.ReturnedTotal())
	}
}

// TestStatusFanOut: a miniport's indication reaches every binding, and a
// link-state indication updates what the general OIDs answer.
func TestStatusFanOut(t *testing.T) {
	e := newEnv(t)
	e.fake.General = &ndis.GeneralAttributes{MediaConnectState: ndis.MediaConnectStateConnected, XmitLinkSpeed: 1e9, RcvLinkSpeed: 1e9}
	a := e.adapter("eth0")
	b, r1 := e.bind("eth0")
	_, r2 := e.bind("eth0")
	down := ndis.LinkState{MediaConnectState: ndis.MediaConnectStateDisconnected, XmitLinkSpeed: ndis.LinkSpeedUnknown, RcvLinkSpeed: ndis.LinkSpeedUnknown}
	a.IndicateStatus(ndis.StatusLinkState, down.Marshal())
	for _, r := range []*ndistest.Recorder{r1, r2} {
		r.WaitStatus(t, ndis.StatusLinkState, 1) // delivered from the adapter's status goroutine
		if r.Count(ndis.StatusLinkState) != 1 {
			t.Errorf("binding saw %v", r.Statuses())
		}
	}
	if v, s := ndistest.QueryUlong(e.ctx, b, ndis.OIDGenMediaConnectStatus); s != ndis.StatusSuccess || v != 1 {
		t.Errorf("media connect status after link down: %v %v", s, v)
	}
	raw, s := ndistest.Query(e.ctx, b, ndis.OIDGenLinkState, ndis.LinkStateSize)
	if s != ndis.StatusSuccess {
		t.Fatal(s)
	}
	if got, s := ndis.ParseLinkState(raw); s != ndis.StatusSuccess || got != down {
		t.Errorf("OID_GEN_LINK_STATE: %+v %v, want %+v", got, s, down)
	}
}
