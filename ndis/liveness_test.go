package ndis_test

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

// asyncResult collects OidRequestAsync completions.
type asyncResult struct {
	mu   sync.Mutex
	got  []ndis.Status
	reqs []*ndis.OidRequest
}

func (r *asyncResult) complete(req *ndis.OidRequest, s ndis.Status) {
	r.mu.Lock()
	r.got = append(r.got, s)
	r.reqs = append(r.reqs, req)
	r.mu.Unlock()
}

func (r *asyncResult) statuses() []ndis.Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// TestOidRequestAsync: a request that reaches the miniport answers
// StatusPending and completes exactly once with the results in the
// caller's request; one the runtime answers returns its final status and
// never runs the completion.
func TestOidRequestAsync(t *testing.T) {
	e := newEnv(t)
	e.fake.Queries = map[ndis.OID][]byte{ndis.OIDGenXmitOK: {7, 0, 0, 0, 0, 0, 0, 0}}
	e.fake.Clock, e.fake.OidDelay = e.clock, time.Second
	e.adapter("eth0")
	b, _ := e.bind("eth0")

	var res asyncResult
	r := &ndis.OidRequest{Type: ndis.RequestQuery, OID: ndis.OIDGenMaximumFrameSize, Buffer: make([]byte, 4)}
	if s := b.OidRequestAsync(r, res.complete); s != ndis.StatusSuccess || r.BytesWritten != 4 {
		t.Fatalf("runtime-answered query: %s, %d bytes", s, r.BytesWritten)
	}
	if s := b.OidRequestAsync(r, nil); s != ndis.StatusInvalidParameter {
		t.Errorf("no completion function: %s", s)
	}
	q := &ndis.OidRequest{Type: ndis.RequestQuery, OID: ndis.OIDGenXmitOK, Buffer: make([]byte, 8)}
	if s := b.OidRequestAsync(q, res.complete); s != ndis.StatusPending {
		t.Fatalf("query for the miniport: %s, want pending", s)
	}
	e.clock.WaitTimers(t, 2) // the check-for-hang tick and the OID's delay
	e.clock.Advance(time.Second)
	ndistest.Eventually(t, func() bool { return len(res.statuses()) == 1 }, "the completion")
	if got := res.statuses(); got[0] != ndis.StatusSuccess || res.reqs[0] != q || q.BytesWritten != 8 || q.Buffer[0] != 7 {
		t.Fatalf("completion %v, request %+v", got, q)
	}
	// A second request completes behind the first: still exactly one
	// completion each, in order.
	q2 := &ndis.OidRequest{Type: ndis.RequestQuery, OID: ndis.OIDGenXmitOK, Buffer: make([]byte, 8)}
	if s := b.OidRequestAsync(q2, res.complete); s != ndis.StatusPending {
		t.Fatal(s)
	}
	e.clock.WaitTimers(t, 2) // the check-for-hang tick and the OID's delay
	e.clock.Advance(time.Second)
	ndistest.Eventually(t, func() bool { return len(res.statuses()) == 2 }, "the second completion")
	if res.reqs[1] != q2 {
		t.Error("completions out of order")
	}
}

// TestCancelOidRequest: a queued request cancelled never reaches the
// miniport and completes once with StatusRequestAborted; one at the
// miniport is answered at once and its late result goes nowhere.
func TestCancelOidRequest(t *testing.T) {
	e := newEnv(t)
	e.fake.PendOIDs = true
	e.adapter("eth0")
	b, _ := e.bind("eth0")
	var res asyncResult
	first := &ndis.OidRequest{Type: ndis.RequestSet, OID: ndis.OIDGenCurrentLookahead, Buffer: ndis.Ulong(64)}
	second := &ndis.OidRequest{Type: ndis.RequestSet, OID: ndis.OIDGenCurrentLookahead, Buffer: ndis.Ulong(128)}
	b.OidRequestAsync(first, res.complete)
	ndistest.Eventually(t, func() bool { return e.fake.PendingOIDs() == 1 }, "the first OID at the miniport")
	b.OidRequestAsync(second, res.complete)
	if !b.CancelOidRequest(second) || b.CancelOidRequest(second) {
		t.Fatal("cancel of a queued request: want true once")
	}
	if !b.CancelOidRequest(first) {
		t.Fatal("cancel of the request at the miniport failed")
	}
	ndistest.Eventually(t, func() bool { return len(res.statuses()) == 2 }, "both completions")
	for _, s := range res.statuses() {
		if s != ndis.StatusRequestAborted {
			t.Errorf("cancelled request completed with %s", s)
		}
	}
	e.fake.CompleteOID(ndis.StatusSuccess) // the miniport finishes the first: nobody hears
	if n := len(e.fake.Sets()); n != 1 {
		t.Errorf("the miniport saw %d sets, want only the first", n)
	}
	// The adapter serves the next request normally.
	e.fake.Do(func(f *ndistest.Fake) { f.PendOIDs = false })
	if s := b.OidRequest(e.ctx, &ndis.OidRequest{Type: ndis.RequestSet, OID: ndis.OIDGenCurrentLookahead, Buffer: ndis.Ulong(1)}); s != ndis.StatusSuccess {
		t.Fatal(s)
	}
	if n := len(res.statuses()); n != 2 {
		t.Errorf("%d completions, want 2", n)
	}
}

// TestFilterAndMulticastSetTogether: a binding's packet filter and
// multicast list set while both are in flight end up both applied; the
// second set once copied the first half of the filter as it stood when it
// was queued and put the old packet filter back at commit.
func TestFilterAndMulticastSetTogether(t *testing.T) {
	e := newEnv(t)
	e.fake.PendOIDs = true
	e.adapter("eth0")
	b, _ := e.bind("eth0")
	var res asyncResult
	group := ndis.MacAddress{0x01, 0x00, 0x5e, 0, 0, 9}
	b.OidRequestAsync(&ndis.OidRequest{Type: ndis.RequestSet, OID: ndis.OIDGenCurrentPacketFilter,
		Buffer: ndis.Ulong(ndis.PacketTypeDirected | ndis.PacketTypeMulticast)}, res.complete)
	b.OidRequestAsync(&ndis.OidRequest{Type: ndis.RequestSet, OID: ndis.OID8023MulticastList, Buffer: group[:]}, res.complete)
	for range 2 {
		ndistest.Eventually(t, func() bool { return e.fake.PendingOIDs() == 1 }, "an OID at the miniport")
		e.fake.CompleteOID(ndis.StatusSuccess)
	}
	ndistest.Eventually(t, func() bool { return len(res.statuses()) == 2 }, "both completions")
	if got := b.PacketFilter(); got != ndis.PacketTypeDirected|ndis.PacketTypeMulticast {
		t.Errorf("packet filter %#x after both sets", got)
	}
	if got := b.MulticastList(); len(got) != 1 || got[0] != group {
		t.Errorf("multicast list %v after both sets", got)
	}
}

// TestLongMulticastList: a list far beyond the miniport's limit fails at
// once with StatusMulticastFull, without reaching the adapter's queue.
func TestLongMulticastList(t *testing.T) {
	e := newEnv(t)
	e.adapter("eth0")
	b, _ := e.bind("eth0")
	list := make([]byte, 0, 6*50000)
	for i := range 50000 {
		list = append(list, 0x01, 0x00, 0x5e, byte(i>>16), byte(i>>8), byte(i))
	}
	if s := b.OidRequest(e.ctx, &ndis.OidRequest{Type: ndis.RequestSet, OID: ndis.OID8023MulticastList, Buffer: list}); s != ndis.StatusMulticastFull {
		t.Fatalf("50,000 addresses: %s", s)
	}
	if n := len(e.fake.Sets()); n != 0 {
		t.Errorf("the miniport saw %d sets", n)
	}
}

// TestBytesWrittenPastBuffer: a miniport that claims more bytes than the
// buffer holds is reported, and the protocol sees the claim cut to the
// buffer.
func TestBytesWrittenPastBuffer(t *testing.T) {
	e := newEnv(t)
	e.fake.OnOid = func(r *ndis.OidRequest) ndis.Status {
		r.BytesWritten = len(r.Buffer) + 100
		return ndis.StatusSuccess
	}
	e.adapter("eth0")
	b, _ := e.bind("eth0")
	e.v.Expect(ndis.RuleInvalidCall)
	r := &ndis.OidRequest{Type: ndis.RequestQuery, OID: ndis.OIDGenXmitOK, Buffer: make([]byte, 8)}
	if s := b.OidRequest(e.ctx, r); s != ndis.StatusSuccess || r.BytesWritten != 8 {
		t.Fatalf("%s, BytesWritten %d", s, r.BytesWritten)
	}
	if e.v.Count(ndis.RuleInvalidCall) != 1 {
		t.Error("no violation reported")
	}
}

// TestCloseFromHandlers: Close called from inside the binding's own
// RESET_START, RESET_END, receive and completion handlers returns at once
// and the close completes when the handler returns; the adapter goes on
// (later resets, removal) with nothing stuck.
func TestCloseFromHandlers(t *testing.T) {
	for _, where := range []string{"reset-start", "reset-end", "receive", "completion"} {
		t.Run(where, func(t *testing.T) {
			e := newEnv(t)
			a := e.adapter("eth0")
			b, rec := e.bind("eth0")
			_, other := e.bind("eth0")
			e.setFilter(b, ndis.PacketTypePromiscuous)
			returned := make(chan error, 1)
			closeOnce := func() {
				select {
				case returned <- b.Close(context.Background()):
				default:
				}
			}
			switch where {
			case "reset-start", "reset-end":
				code := ndis.StatusResetStart
				if where == "reset-end" {
					code = ndis.StatusResetEnd
				}
				rec.OnStatus = func(c ndis.Status, _ []byte) {
					if c == code {
						closeOnce()
					}
				}
				e.reset("eth0")
			case "receive":
				rec.OnReceive = func(*ndis.NetBufferList, ndis.ReceiveFlags) { closeOnce() }
				e.fake.Indicate(0, frame(ndis.BroadcastAddress, "x"))
			case "completion":
				rec.OnComplete = func(*ndis.NetBufferList) { closeOnce() }
				b.SendNetBufferLists(ndis.NewNetBufferList(frame(ndis.BroadcastAddress, "x")))
			}
			select {
			case err := <-returned:
				if err != nil {
					t.Fatalf("Close from the %s handler: %v", where, err)
				}
			case <-time.After(ndistest.WaitTimeout):
				t.Fatalf("Close from the %s handler did not return", where)
			}
			select {
			case <-b.Done():
			case <-time.After(ndistest.WaitTimeout):
				t.Fatal("the close never completed after the handler returned")
			}
			// The adapter is unharmed: the other binding sees a whole reset
			// (after the first one's end, in the reset cases).
			if where == "reset-start" || where == "reset-end" {
				other.WaitStatus(t, ndis.StatusResetEnd, 1)
			}
			n := other.Count(ndis.StatusResetEnd)
			e.reset("eth0")
			other.WaitStatus(t, ndis.StatusResetEnd, n+1)
			if got := len(a.Bindings()); got != 1 {
				t.Errorf("%d bindings left, want 1", got)
			}
		})
	}
}

// TestBindOverlappingRemoval: a protocol whose BindAdapter returns while
// its adapter is being removed is unbound (UnbindAdapter), not leaked.
func TestBindOverlappingRemoval(t *testing.T) {
	e := newEnv(t)
	e.adapter("eth0")
	inBind, release := make(chan struct{}), make(chan struct{})
	e.rec.Setup = func(r *ndistest.Recorder) {
		close(inBind)
		<-release
	}
	bound := make(chan error, 1)
	go func() {
		_, err := e.rt.Bind(e.ctx, "rec", "eth0")
		bound <- err
	}()
	<-inBind
	removed := make(chan error, 1)
	go func() { removed <- e.rt.RemoveAdapter(e.ctx, "eth0") }()
	ndistest.Eventually(t, e.fake.IsHalted, "the adapter halted under the bind")
	close(release)
	if err := <-bound; err == nil {
		t.Fatal("Bind succeeded on an adapter being removed")
	}
	if err := <-removed; err != nil {
		t.Fatal(err)
	}
	recs := e.rec.All()
	if len(recs) != 1 {
		t.Fatalf("%d recorders", len(recs))
	}
	unbinds := 0
	for _, r := range recs[0].Records() {
		if r.Kind == ndistest.RecordUnbind {
			unbinds++
		}
	}
	if unbinds != 1 {
		t.Errorf("UnbindAdapter called %d times, want 1", unbinds)
	}
}

// TestBindAdapterSends: sends made inside BindAdapter reach the miniport
// only once it has returned a protocol, and are completed to it; a failed
// BindAdapter's sends never reach the miniport.
func TestBindAdapterSends(t *testing.T) {
	for _, fail := range []bool{false, true} {
		e := newEnv(t)
		var sent atomic.Int32
		e.fake.OnSend = func(l *ndis.NetBufferList) { sent.Add(int32(l.Len())) }
		e.adapter("eth0")
		var rec *ndistest.Recorder
		err := e.rt.RegisterProtocolDriver(ndis.ProtocolDriver{Name: "sender", BindAdapter: func(b *ndis.Binding) (ndis.Protocol, error) {
			b.SendNetBufferLists(ndis.Chain(ndis.NewNetBufferList(frame(ndis.BroadcastAddress, "a")), ndis.NewNetBufferList(frame(ndis.BroadcastAddress, "b"))))
			if sent.Load() != 0 {
				t.Error("a send reached the miniport while BindAdapter ran")
			}
			if fail {
				return nil, errors.New("no")
			}
			p, err := ndistest.NewRecorderDriver("inner").Driver().BindAdapter(b)
			rec, _ = p.(*ndistest.Recorder)
			return p, err
		}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.rt.Bind(e.ctx, "sender", "eth0")
		if fail {
			if err == nil || sent.Load() != 0 {
				t.Fatalf("failed bind: err %v, %d sends reached the miniport", err, sent.Load())
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if sent.Load() != 2 || rec.Completed() != 2 {
			t.Errorf("%d sent, %d completed; want 2 and 2", sent.Load(), rec.Completed())
		}
	}
}

// slowPause is the fake with a Pause that blocks until released: the work
// goroutine is busy inside MiniportPause meanwhile.
type slowPause struct {
	*ndistest.Fake
	entered, release chan struct{}
}

func (m *slowPause) Pause() ndis.Status {
	close(m.entered)
	<-m.release
	return m.Fake.Pause()
}

// TestResetCompletedDuringPause: a pending reset completed in time while
// the work goroutine is busy in an overlapping pause ends with success and
// its addressing restored, even when its timer fires before the work
// goroutine gets to the completion.
func TestResetCompletedDuringPause(t *testing.T) {
	e := newEnv(t, ndis.WithResetTimeout(10*time.Second))
	sp := &slowPause{Fake: e.fake, entered: make(chan struct{}), release: make(chan struct{})}
	inner := e.fake.Driver("slowpause", ndis.Version630)
	err := e.rt.RegisterMiniportDriver(ndis.MiniportDriver{Name: "slowpause", Version: ndis.Version630,
		Initialize: func(a *ndis.Adapter, p ndis.InitParameters) (ndis.Miniport, error) {
			if _, err := inner.Initialize(a, p); err != nil {
				return nil, err
			}
			return sp, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := e.rt.AddAdapter(e.ctx, "eth0", "slowpause", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, rec := e.bindFiltered("eth0", ndis.PacketTypeDirected)
	e.fake.PendResets = true
	e.reset("eth0")
	rec.WaitStatus(t, ndis.StatusResetStart, 1)
	ndistest.Eventually(t, func() bool { return e.fake.Resets() == 1 }, "Reset called")
	paused := make(chan error, 1)
	go func() { paused <- e.rt.PauseAdapter(e.ctx, "eth0") }()
	<-sp.entered
	a.ResetComplete(ndis.StatusSuccess, true) // in time
	e.clock.Advance(11 * time.Second)         // the timer fires; the work goroutine is still in Pause
	close(sp.release)
	if err := <-paused; err != nil {
		t.Fatal(err)
	}
	end := rec.WaitStatus(t, ndis.StatusResetEnd, 1)
	if s, _ := ndistest.ResetEndStatus(end.Payload); s != ndis.StatusSuccess {
		t.Fatalf("RESET_END carried %s", s)
	}
	if st := a.State(); st != ndis.AdapterPaused {
		t.Fatalf("adapter %s, want Paused (not failed)", st)
	}
	if n := e.v.Count(ndis.RuleResetTimeout); n != 0 {
		t.Errorf("%d reset time-outs reported", n)
	}
}

// TestFailedDuringRestart: an adapter failed while a restart is pending
// never goes Running: no send reaches the miniport that declared itself
// dead, and the adapter is halted.
func TestFailedDuringRestart(t *testing.T) {
	e := newEnv(t)
	a := e.adapter("eth0")
	b, rec := e.bind("eth0")
	if err := e.rt.PauseAdapter(e.ctx, "eth0"); err != nil {
		t.Fatal(err)
	}
	e.fake.Do(func(f *ndistest.Fake) { f.RestartStatus = ndis.StatusPending })
	restarted := make(chan error, 1)
	go func() { restarted <- e.rt.RestartAdapter(e.ctx, "eth0") }()
	ndistest.Eventually(t, func() bool { return a.State() == ndis.AdapterRestarting }, "restart pending")
	a.RemoveMiniport()
	a.RestartComplete(ndis.StatusSuccess)
	if err := <-restarted; err == nil {
		t.Fatal("the restart of a failed adapter succeeded")
	}
	var sent atomic.Int32
	e.fake.Do(func(f *ndistest.Fake) { f.OnSend = func(*ndis.NetBufferList) { sent.Add(1) } })
	b.SendNetBufferLists(ndis.NewNetBufferList(frame(ndis.BroadcastAddress, "x")))
	<-a.Done()
	if sent.Load() != 0 {
		t.Errorf("%d sends reached a failed miniport", sent.Load())
	}
	if rec.Completed() != 1 {
		t.Errorf("%d sends completed, want 1", rec.Completed())
	}
	if !e.fake.IsHalted() {
		t.Error("the failed adapter was not halted")
	}
}

// TestFailedAdapterStaysListed: a failed adapter stays in Adapters,
// Halted, with its reason, until it is initialized again or removed.
func TestFailedAdapterStaysListed(t *testing.T) {
	e := newEnv(t)
	a := e.adapter("eth0")
	e.v.Expect(ndis.RuleCallAfterHalt)
	a.RemoveMiniport()
	<-a.Done()
	got, ok := e.rt.Adapter("eth0")
	if !ok || got != a || a.State() != ndis.AdapterHalted || a.FailureReason() == "" {
		t.Fatalf("failed adapter: listed %v, state %s, reason %q", ok, a.State(), a.FailureReason())
	}
	if as := e.rt.Adapters(); len(as) != 1 {
		t.Fatalf("%d adapters listed", len(as))
	}
	if _, err := e.rt.AddAdapter(e.ctx, "eth0", "fake", nil); !errors.Is(err, ndis.ErrDuplicateName) {
		t.Errorf("AddAdapter over a failed adapter: %v", err)
	}

	// Initialized again: a new adapter, Running, that works.
	again, err := e.rt.ReinitializeAdapter(e.ctx, "eth0")
	if err != nil {
		t.Fatal(err)
	}
	if again == a || again.State() != ndis.AdapterRunning || again.FailureReason() != "" {
		t.Fatalf("reinitialized: same %v, state %s, reason %q", again == a, again.State(), again.FailureReason())
	}
	if _, err := e.rt.ReinitializeAdapter(e.ctx, "eth0"); !errors.Is(err, ndis.ErrInvalidState) {
		t.Errorf("reinitializing a running adapter: %v", err)
	}
	_, rec := e.bind("eth0")
	e.reset("eth0")
	rec.WaitStatus(t, ndis.StatusResetEnd, 1)

	// Failed again, then removed: forgotten, the name free.
	again.RemoveMiniport()
	<-again.Done()
	if err := e.rt.RemoveAdapter(e.ctx, "eth0"); err != nil {
		t.Fatal(err)
	}
	if _, ok := e.rt.Adapter("eth0"); ok {
		t.Error("a removed failed adapter is still listed")
	}
}

// TestOperatorResets: RequestReset says what became of each request;
// operator resets do not count toward escalation, and the operator limit
// drops requests beyond it.
func TestOperatorResets(t *testing.T) {
	e := newEnv(t,
		ndis.WithResetEscalation(ndis.Escalation{MaxResets: 2, Window: time.Hour}),
		ndis.WithOperatorResetLimit(ndis.OperatorResetLimit{Max: 5, Window: time.Hour}))
	a := e.adapter("eth0")
	_, rec := e.bind("eth0")
	hold := make(chan struct{})
	e.fake.OnReset = func() (bool, ndis.Status) { <-hold; return false, ndis.StatusSuccess }
	if o, err := e.rt.RequestReset("eth0"); o != ndis.ResetQueued || err != nil {
		t.Fatalf("first: %s, %v", o, err)
	}
	rec.WaitStatus(t, ndis.StatusResetStart, 1)
	ndistest.Eventually(t, func() bool { return e.fake.Resets() == 1 }, "in Reset")
	if o, err := e.rt.RequestReset("eth0"); o != ndis.ResetDropped || !errors.Is(err, ndis.ErrResetInProgress) {
		t.Fatalf("during a reset: %s, %v", o, err)
	}
	close(hold)
	rec.WaitStatus(t, ndis.StatusResetEnd, 1)
	// Three more: more than the escalation's two per window, yet the
	// adapter lives, since they are the operator's.
	for i := 2; i <= 4; i++ {
		e.reset("eth0")
		rec.WaitStatus(t, ndis.StatusResetEnd, i)
	}
	if a.State() != ndis.AdapterRunning || a.FailureReason() != "" {
		t.Fatalf("after operator resets: %s, %q", a.State(), a.FailureReason())
	}
	// Five requests counted (the dropped one too): the sixth is refused.
	if o, err := e.rt.RequestReset("eth0"); o != ndis.ResetDropped || !errors.Is(err, ndis.ErrResetRateLimited) {
		t.Fatalf("beyond the limit: %s, %v", o, err)
	}
	c := a.Stats().Resets[ndis.CauseOperator]
	if c.Performed != 4 || c.Dropped != 2 {
		t.Errorf("operator counters %+v", c)
	}
}

// TestPauseWaitsForReceives: a pause completes only once every receive
// indication is back; a miniport that completes its pause before that is
// reported.
func TestPauseWaitsForReceives(t *testing.T) {
	e := newEnv(t)
	a := e.adapter("eth0")
	_, rec := e.bindFiltered("eth0", ndis.PacketTypeBroadcast)
	rec.KeepReceives(true)
	e.fake.Indicate(0, frame(ndis.BroadcastAddress, "held"), frame(ndis.BroadcastAddress, "held too"))
	e.v.Expect(ndis.RulePauseReceivesOutstanding)
	paused := make(chan error, 1)
	go func() { paused <- e.rt.PauseAdapter(e.ctx, "eth0") }()
	e.v.Wait(t, ndis.RulePauseReceivesOutstanding) // the fake's Pause does not wait
	notWithin(t, paused, 20*time.Millisecond, "the pause completed with receives outstanding: %v")
	if a.State() != ndis.AdapterPausing {
		t.Fatalf("state %s while receives are held", a.State())
	}
	if n := rec.ReturnKept(); n != 2 {
		t.Fatalf("returned %d", n)
	}
	if err := <-paused; err != nil || a.State() != ndis.AdapterPaused {
		t.Fatalf("pause: %v, state %s", err, a.State())
	}
}

// linkOnRestart is the fake with the usual NDIS pattern: MiniportRestart
// indicates the link state.
type linkOnRestart struct {
	*ndistest.Fake
	a *ndis.Adapter
}

func (m *linkOnRestart) Restart() ndis.Status {
	m.a.IndicateStatus(ndis.StatusLinkState, ndis.LinkState{MediaConnectState: ndis.MediaConnectStateConnected}.Marshal())
	return m.Fake.Restart()
}

// TestBlockingOidInStatusHandlers: a protocol whose Status handler makes a
// blocking OID request, for a link state indicated from MiniportRestart
// and for RESET_END, gets its answer at once; nothing waits for its
// context to end.
func TestBlockingOidInStatusHandlers(t *testing.T) {
	e := newEnv(t)
	inner := e.fake.Driver("linky", ndis.Version630)
	if err := e.rt.RegisterMiniportDriver(ndis.MiniportDriver{Name: "linky", Version: ndis.Version630,
		Initialize: func(a *ndis.Adapter, p ndis.InitParameters) (ndis.Miniport, error) {
			if _, err := inner.Initialize(a, p); err != nil {
				return nil, err
			}
			return &linkOnRestart{Fake: e.fake, a: a}, nil
		}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.rt.AddAdapter(e.ctx, "eth0", "linky", nil); err != nil {
		t.Fatal(err)
	}
	answers := make(chan ndis.Status, 4)
	e.rec.Setup = func(r *ndistest.Recorder) {
		r.OnStatus = func(c ndis.Status, _ []byte) {
			if c != ndis.StatusLinkState && c != ndis.StatusResetEnd {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			answers <- r.B.OidRequest(ctx, &ndis.OidRequest{Type: ndis.RequestSet, OID: ndis.OIDGenCurrentLookahead, Buffer: ndis.Ulong(128)})
		}
	}
	e.bind("eth0")
	// The link indication from MiniportRestart.
	if err := e.rt.PauseAdapter(e.ctx, "eth0"); err != nil {
		t.Fatal(err)
	}
	if err := e.rt.RestartAdapter(e.ctx, "eth0"); err != nil {
		t.Fatal(err)
	}
	for _, what := range []string{"link state from Restart", "RESET_END"} {
		if what == "RESET_END" { // delivered on the work goroutine
			if err := e.rt.ResetAdapter("eth0"); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case s := <-answers:
			if s != ndis.StatusSuccess {
				t.Errorf("OID from the %s handler: %s", what, s)
			}
		case <-time.After(ndistest.WaitTimeout):
			t.Fatalf("the OID from the %s handler never completed", what)
		}
	}
}

// lateCompletions counts completions that arrive after Close returned.
type lateCompletions struct {
	ndistest.Recorder
	closed atomic.Bool
	late   atomic.Int32
}

func (p *lateCompletions) SendNetBufferListsComplete(l *ndis.NetBufferList) {
	// A send made after Close completes inline with StatusClosing; any
	// other completion after Close returned is of a send that raced it.
	for x := l; x != nil; x = x.Next {
		if p.closed.Load() && x.Status != ndis.StatusClosing {
			p.late.Add(1)
		}
	}
}

// TestCloseWaitsForConcurrentSends: Close returns only once every send
// made concurrently with it has been completed; no completion arrives
// after it returned.
func TestCloseWaitsForConcurrentSends(t *testing.T) {
	e := newEnv(t)
	e.fake.HoldSends = true // completed later, by the "device" goroutine below
	e.adapter("eth0")
	device := make(chan struct{})
	deviceDone := make(chan struct{})
	go func() {
		defer close(deviceDone)
		for {
			select {
			case <-device:
				e.fake.CompleteHeld(ndis.StatusSuccess)
				return
			default:
			}
			e.fake.CompleteHeld(ndis.StatusSuccess)
			runtime.Gosched()
		}
	}()
	defer func() { close(device); <-deviceDone }()
	var proto *lateCompletions
	if err := e.rt.RegisterProtocolDriver(ndis.ProtocolDriver{Name: "late", BindAdapter: func(b *ndis.Binding) (ndis.Protocol, error) {
		proto = &lateCompletions{}
		return proto, nil
	}}); err != nil {
		t.Fatal(err)
	}
	for round := range 50 {
		b, err := e.rt.Bind(e.ctx, "late", "eth0")
		if err != nil {
			t.Fatal(err)
		}
		p := proto
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					b.SendNetBufferLists(ndis.NewNetBufferList(frame(ndis.BroadcastAddress, "x")))
				}
			}()
		}
		if err := b.Close(e.ctx); err != nil {
			t.Fatal(err)
		}
		p.closed.Store(true)
		close(stop)
		wg.Wait()
		if n := p.late.Load(); n != 0 {
			t.Fatalf("round %d: %d sends completed after Close returned", round, n)
		}
	}
}

// TestReinitializeFails: an adapter initialized again whose Initialize
// fails stays listed as failed, with the new reason.
func TestReinitializeFails(t *testing.T) {
	e := newEnv(t)
	a := e.adapter("eth0")
	e.v.Expect(ndis.RuleCallAfterHalt)
	a.RemoveMiniport()
	<-a.Done()
	e.fake.Do(func(f *ndistest.Fake) { f.InitError = errors.New("the device is gone") })
	if _, err := e.rt.ReinitializeAdapter(e.ctx, "eth0"); err == nil {
		t.Fatal("ReinitializeAdapter succeeded with a failing Initialize")
	}
	ndistest.Eventually(t, func() bool {
		got, ok := e.rt.Adapter("eth0")
		return ok && got != a && strings.Contains(got.FailureReason(), "the device is gone")
	}, "the adapter listed as failed again")
	if err := e.rt.RemoveAdapter(e.ctx, "eth0"); err != nil {
		t.Fatal(err)
	}
}

// TestCloseWaitsForOidCompletions: Close returns, and Done closes, only
// once the completions of the binding's OidRequestAsync requests have run.
func TestCloseWaitsForOidCompletions(t *testing.T) {
	e := newEnv(t)
	e.fake.PendOIDs = true
	e.adapter("eth0")
	b, _ := e.bind("eth0")
	ran := make(chan ndis.Status, 2)
	for i := range 2 {
		if s := b.OidRequestAsync(&ndis.OidRequest{Type: ndis.RequestSet, OID: ndis.OIDGenCurrentLookahead, Buffer: ndis.Ulong(uint32(i))},
			func(_ *ndis.OidRequest, s ndis.Status) { ran <- s }); s != ndis.StatusPending {
			t.Fatal(s)
		}
	}
	ndistest.Eventually(t, func() bool { return e.fake.PendingOIDs() == 1 }, "the first request at the miniport")
	closed := make(chan error, 1)
	go func() { closed <- b.Close(e.ctx) }()
	if s := <-ran; s != ndis.StatusClosing { // the queued one fails at once
		t.Fatalf("queued request: %s", s)
	}
	select {
	case <-b.Done():
		t.Fatal("the close completed while a request's completion was still to run")
	case <-time.After(20 * time.Millisecond):
	}
	e.fake.CompleteOID(ndis.StatusSuccess)
	if s := <-ran; s != ndis.StatusSuccess {
		t.Fatalf("request at the miniport: %s", s)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}
