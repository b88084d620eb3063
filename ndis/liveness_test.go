package ndis_test

import (
	"context"
	"errors"
	"slices"
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
				if err := e.rt.ResetAdapter("eth0"); err != nil {
					t.Fatal(err)
				}
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
			// The adapter is unharmed: the other binding sees a whole reset.
			n := other.Count(ndis.StatusResetEnd)
			if err := e.rt.ResetAdapter("eth0"); err != nil {
				t.Fatal(err)
			}
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
