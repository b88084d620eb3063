package ndis_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

// stuckOid is the fake with a MiniportOidRequest that blocks until
// released, as a driver waiting on a device that never answers.
type stuckOid struct {
	*ndistest.Fake
	entered, release chan struct{}
}

func (m *stuckOid) OidRequest(r *ndis.OidRequest) ndis.Status {
	if r.OID == ndis.OIDGenCurrentLookahead {
		close(m.entered)
		<-m.release
	}
	return m.Fake.OidRequest(r)
}

// TestWatchdogMiniportHandler: a miniport handler that never returns is
// reported with its stack, its adapter is failed and its protocols
// unbound, and RemoveAdapter returns within its context; once the handler
// returns, the adapter is halted.
func TestWatchdogMiniportHandler(t *testing.T) {
	e := newEnv(t, ndis.WithHandlerTimeout(50*time.Millisecond))
	m := &stuckOid{Fake: e.fake, entered: make(chan struct{}), release: make(chan struct{})}
	inner := e.fake.Driver("stuck", ndis.Version630)
	if err := e.rt.RegisterMiniportDriver(ndis.MiniportDriver{Name: "stuck", Version: ndis.Version630,
		Initialize: func(a *ndis.Adapter, p ndis.InitParameters) (ndis.Miniport, error) {
			if _, err := inner.Initialize(a, p); err != nil {
				return nil, err
			}
			return m, nil
		}}); err != nil {
		t.Fatal(err)
	}
	a, err := e.rt.AddAdapter(e.ctx, "eth0", "stuck", nil)
	if err != nil {
		t.Fatal(err)
	}
	b, rec := e.bind("eth0")
	e.v.Expect(ndis.RuleHandlerTimeout)
	var res asyncResult
	if s := b.OidRequestAsync(&ndis.OidRequest{Type: ndis.RequestSet, OID: ndis.OIDGenCurrentLookahead, Buffer: ndis.Ulong(1)}, res.complete); s != ndis.StatusPending {
		t.Fatal(s)
	}
	<-m.entered
	v := e.v.Wait(t, ndis.RuleHandlerTimeout)
	if !strings.Contains(v.Detail, "MiniportOidRequest") || !strings.Contains(v.Detail, "stuckOid") {
		t.Errorf("the report names neither the handler nor the stuck stack:\n%s", v.Detail)
	}
	ndistest.Eventually(t, func() bool { return a.FailureReason() != "" }, "the adapter failed")
	rec.WaitFor(t, "UnbindAdapter", func(r ndistest.Record) bool { return r.Kind == ndistest.RecordUnbind })

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := e.rt.RemoveAdapter(ctx, "eth0"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("RemoveAdapter of an adapter stuck in its miniport: %v", err)
	}
	close(m.release)
	<-a.Done()
	if !e.fake.IsHalted() {
		t.Error("the adapter was not halted once the handler returned")
	}
}

// TestWatchdogPendingPause: a pause the miniport answered StatusPending and
// never completed fails the adapter; the pause returns an error.
func TestWatchdogPendingPause(t *testing.T) {
	e := newEnv(t, ndis.WithHandlerTimeout(50*time.Millisecond))
	a := e.adapter("eth0")
	e.fake.Do(func(f *ndistest.Fake) { f.PauseStatus = ndis.StatusPending })
	e.v.Expect(ndis.RuleHandlerTimeout)
	if err := e.rt.PauseAdapter(e.ctx, "eth0"); !errors.Is(err, ndis.ErrAdapterHalted) {
		t.Fatalf("a pause never completed: %v", err)
	}
	v := e.v.Wait(t, ndis.RuleHandlerTimeout)
	if !strings.Contains(v.Detail, "MiniportPause") {
		t.Errorf("report: %s", v.Detail)
	}
	<-a.Done()
	if a.FailureReason() == "" || a.State() == ndis.AdapterRunning {
		t.Errorf("after the time-out: state %s, reason %q", a.State(), a.FailureReason())
	}
}

// TestWatchdogProtocolHandler: a protocol handler that never returns gets
// its binding torn down: it hears nothing more, a blocking OidRequest it
// waits in comes back, and the adapter and its other bindings go on.
func TestWatchdogProtocolHandler(t *testing.T) {
	e := newEnv(t, ndis.WithHandlerTimeout(50*time.Millisecond))
	a := e.adapter("eth0")
	b, rec := e.bind("eth0")
	_, other := e.bind("eth0")
	e.fake.Do(func(f *ndistest.Fake) { f.PendOIDs = true }) // the OID never completes at the miniport
	oidDone := make(chan ndis.Status, 1)
	rec.OnStatus = func(c ndis.Status, _ []byte) {
		if c == ndis.StatusLinkState {
			// A handler that waits for ever on its own adapter.
			oidDone <- b.OidRequest(context.Background(), &ndis.OidRequest{Type: ndis.RequestSet, OID: ndis.OIDGenCurrentLookahead, Buffer: ndis.Ulong(1)})
		}
	}
	e.v.Expect(ndis.RuleHandlerTimeout)
	a.IndicateStatus(ndis.StatusLinkState, ndis.LinkState{MediaConnectState: ndis.MediaConnectStateConnected}.Marshal())
	v := e.v.Wait(t, ndis.RuleHandlerTimeout)
	if !strings.Contains(v.Detail, `protocol "rec"`) || !strings.Contains(v.Detail, "Recorder") {
		t.Errorf("report:\n%s", v.Detail)
	}
	if s := <-oidDone; s != ndis.StatusClosing {
		t.Errorf("the stuck handler's OidRequest came back with %s", s)
	}
	<-b.Done()
	if n := len(a.Bindings()); n != 1 {
		t.Errorf("%d bindings left, want the other one", n)
	}
	e.fake.Do(func(f *ndistest.Fake) { f.PendOIDs = false })
	e.fake.CompleteOID(ndis.StatusSuccess)
	if err := e.rt.ResetAdapter("eth0"); err != nil {
		t.Fatal(err)
	}
	other.WaitStatus(t, ndis.StatusResetEnd, 1)
	if a.FailureReason() != "" {
		t.Errorf("the adapter failed: %s", a.FailureReason())
	}
}

// TestWatchdogStuckStatusHandler: a protocol stuck in its Status handler
// holds up no other binding: once the watchdog tears it down, the others
// hear what was queued behind it (here RESET_END), and the adapter can
// reset again and be removed.
func TestWatchdogStuckStatusHandler(t *testing.T) {
	e := newEnv(t, ndis.WithHandlerTimeout(50*time.Millisecond))
	a := e.adapter("eth0")
	_, stuck := e.bind("eth0")
	_, other := e.bind("eth0")
	release := make(chan struct{})
	defer close(release)
	stuck.OnStatus = func(c ndis.Status, _ []byte) {
		if c == ndis.StatusLinkState {
			<-release // never, while the test runs
		}
	}
	e.v.Expect(ndis.RuleHandlerTimeout)
	a.IndicateStatus(ndis.StatusLinkState, ndis.LinkState{MediaConnectState: ndis.MediaConnectStateConnected}.Marshal())
	stuck.WaitStatus(t, ndis.StatusLinkState, 1)
	if err := e.rt.ResetAdapter("eth0"); err != nil { // its RESET_START and END queue behind the stuck one
		t.Fatal(err)
	}
	e.v.Wait(t, ndis.RuleHandlerTimeout)
	other.WaitStatus(t, ndis.StatusResetEnd, 1)
	if err := e.rt.ResetAdapter("eth0"); err != nil {
		t.Fatal(err)
	}
	other.WaitStatus(t, ndis.StatusResetEnd, 2)
	if err := e.rt.RemoveAdapter(e.ctx, "eth0"); err != nil {
		t.Fatal(err)
	}
}
