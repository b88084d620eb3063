package ndis_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

// TestLifecycleOperations drives every runtime operation from every state a
// program can leave an adapter in, and checks the result and the state
// after it.
func TestLifecycleOperations(t *testing.T) {
	type op string
	const (
		pause    op = "pause"
		restart  op = "restart"
		shutdown op = "shutdown"
		remove   op = "remove"
	)
	setups := map[ndis.AdapterState]func(e *env){
		ndis.AdapterRunning: func(e *env) {},
		ndis.AdapterPaused: func(e *env) {
			if err := e.rt.PauseAdapter(e.ctx, "eth0"); err != nil {
				e.t.Fatal(err)
			}
		},
		ndis.AdapterShutdown: func(e *env) {
			if err := e.rt.ShutdownAdapter(e.ctx, "eth0"); err != nil {
				e.t.Fatal(err)
			}
		},
	}
	cases := []struct {
		from    ndis.AdapterState
		op      op
		wantErr error
		want    ndis.AdapterState // state after; AdapterHalted means gone
	}{
		{ndis.AdapterRunning, pause, nil, ndis.AdapterPaused},
		{ndis.AdapterRunning, restart, ndis.ErrInvalidState, ndis.AdapterRunning},
		{ndis.AdapterRunning, shutdown, nil, ndis.AdapterShutdown},
		{ndis.AdapterRunning, remove, nil, ndis.AdapterHalted},
		{ndis.AdapterPaused, pause, ndis.ErrInvalidState, ndis.AdapterPaused},
		{ndis.AdapterPaused, restart, nil, ndis.AdapterRunning},
		{ndis.AdapterPaused, shutdown, nil, ndis.AdapterShutdown},
		{ndis.AdapterPaused, remove, nil, ndis.AdapterHalted},
		{ndis.AdapterShutdown, pause, ndis.ErrInvalidState, ndis.AdapterShutdown},
		{ndis.AdapterShutdown, restart, ndis.ErrInvalidState, ndis.AdapterShutdown},
		{ndis.AdapterShutdown, shutdown, ndis.ErrInvalidState, ndis.AdapterShutdown},
		{ndis.AdapterShutdown, remove, nil, ndis.AdapterHalted},
	}
	for _, c := range cases {
		t.Run(c.from.String()+"/"+string(c.op), func(t *testing.T) {
			e := newEnv(t)
			a := e.adapter("eth0")
			setups[c.from](e)
			if a.State() != c.from {
				t.Fatalf("setup: state %s, want %s", a.State(), c.from)
			}
			var err error
			switch c.op {
			case pause:
				err = e.rt.PauseAdapter(e.ctx, "eth0")
			case restart:
				err = e.rt.RestartAdapter(e.ctx, "eth0")
			case shutdown:
				err = e.rt.ShutdownAdapter(e.ctx, "eth0")
			case remove:
				err = e.rt.RemoveAdapter(e.ctx, "eth0")
			}
			if !errors.Is(err, c.wantErr) || (c.wantErr == nil) != (err == nil) {
				t.Fatalf("%s from %s: err %v, want %v", c.op, c.from, err, c.wantErr)
			}
			if got := a.State(); got != c.want {
				t.Errorf("%s from %s: state %s, want %s", c.op, c.from, got, c.want)
			}
			if c.op == remove {
				<-a.Done()
				if _, ok := e.rt.Adapter("eth0"); ok {
					t.Error("removed adapter still known")
				}
				// A shut-down miniport is halted too, to free what it holds.
				if !e.fake.IsHalted() {
					t.Errorf("MiniportHaltEx not called (calls %v)", e.fake.Calls())
				}
			}
		})
	}
}

func TestRegistrationAndAddAdapterErrors(t *testing.T) {
	e := newEnv(t)
	if err := e.rt.RegisterMiniportDriver(e.fake.Driver("fake", ndis.Version630)); !errors.Is(err, ndis.ErrDuplicateName) {
		t.Errorf("duplicate miniport driver: %v", err)
	}
	if err := e.rt.RegisterProtocolDriver(e.rec.Driver()); !errors.Is(err, ndis.ErrDuplicateName) {
		t.Errorf("duplicate protocol driver: %v", err)
	}
	if err := e.rt.RegisterMiniportDriver(ndis.MiniportDriver{Name: "x"}); !errors.Is(err, ndis.ErrInvalidName) {
		t.Errorf("driver without Initialize: %v", err)
	}
	if _, err := e.rt.AddAdapter(e.ctx, "eth0", "nope", nil); !errors.Is(err, ndis.ErrUnknownDriver) {
		t.Errorf("unknown driver: %v", err)
	}
	if _, err := e.rt.AddAdapter(e.ctx, "", "fake", nil); !errors.Is(err, ndis.ErrInvalidName) {
		t.Errorf("empty name: %v", err)
	}
	e.adapter("eth0")
	if _, err := e.rt.AddAdapter(e.ctx, "eth0", "fake", nil); !errors.Is(err, ndis.ErrDuplicateName) {
		t.Errorf("duplicate adapter: %v", err)
	}
	if _, err := e.rt.Bind(e.ctx, "nope", "eth0"); !errors.Is(err, ndis.ErrUnknownProtocol) {
		t.Errorf("unknown protocol: %v", err)
	}
	if _, err := e.rt.Bind(e.ctx, "rec", "nope"); !errors.Is(err, ndis.ErrUnknownAdapter) {
		t.Errorf("unknown adapter: %v", err)
	}
	if err := e.rt.PauseAdapter(e.ctx, "nope"); !errors.Is(err, ndis.ErrUnknownAdapter) {
		t.Errorf("pause unknown adapter: %v", err)
	}
}

func TestInitializeFailure(t *testing.T) {
	e := newEnv(t)
	bad := ndistest.NewFake()
	bad.InitError = ndis.StatusResources
	e.register(bad.Driver("bad", ndis.Version630))
	_, err := e.rt.AddAdapter(e.ctx, "eth1", "bad", nil)
	if !errors.Is(err, ndis.StatusResources) {
		t.Fatalf("AddAdapter: %v, want it to wrap %v", err, ndis.StatusResources)
	}
	a := bad.Adapter
	<-a.Done()
	if a.State() != ndis.AdapterHalted {
		t.Errorf("state %s after failed Initialize", a.State())
	}
	if _, ok := e.rt.Adapter("eth1"); ok {
		t.Error("adapter whose Initialize failed is still known")
	}
	// The name is free again.
	bad.InitError = nil
	if _, err := e.rt.AddAdapter(e.ctx, "eth1", "fake", nil); err != nil {
		t.Errorf("AddAdapter after a failed one: %v", err)
	}
}

func TestPendingPauseAndRestart(t *testing.T) {
	e := newEnv(t)
	a := e.adapter("eth0")
	e.fake.Do(func(f *ndistest.Fake) { f.PauseStatus = ndis.StatusPending })
	done := make(chan error, 1)
	go func() { done <- e.rt.PauseAdapter(e.ctx, "eth0") }()
	ndistest.Eventually(t, func() bool { return slices.Contains(e.fake.Calls(), "Pause") }, "MiniportPause called")
	if a.State() != ndis.AdapterPausing {
		t.Fatalf("state %s while the pause is pending", a.State())
	}
	notWithin(t, done, 10*time.Millisecond, "PauseAdapter returned %v before PauseComplete")
	a.PauseComplete()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if a.State() != ndis.AdapterPaused {
		t.Fatalf("state %s after PauseComplete", a.State())
	}

	e.fake.Do(func(f *ndistest.Fake) { f.RestartStatus = ndis.StatusPending })
	go func() { done <- e.rt.RestartAdapter(e.ctx, "eth0") }()
	ndistest.Eventually(t, func() bool { return a.State() == ndis.AdapterRestarting }, "Restarting")
	a.RestartComplete(ndis.StatusFailure)
	if err := <-done; !errors.Is(err, ndis.StatusFailure) {
		t.Fatalf("failed restart: %v", err)
	}
	if a.State() != ndis.AdapterPaused {
		t.Fatalf("state %s after a failed restart, want Paused", a.State())
	}

	go func() { done <- e.rt.RestartAdapter(e.ctx, "eth0") }()
	ndistest.Eventually(t, func() bool { return a.State() == ndis.AdapterRestarting }, "Restarting")
	a.RestartComplete(ndis.StatusSuccess)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if a.State() != ndis.AdapterRunning {
		t.Fatalf("state %s after RestartComplete", a.State())
	}
	e.fake.Do(func(f *ndistest.Fake) { f.PauseStatus = ndis.StatusSuccess })
}

// TestPauseWaitsForSends: a pause completes only once the miniport has
// completed every send it holds, and sends during Pausing are refused.
func TestPauseWaitsForSends(t *testing.T) {
	e := newEnv(t)
	a := e.adapter("eth0")
	b, rec := e.bind("eth0")
	e.fake.Do(func(f *ndistest.Fake) { f.HoldSends = true })
	b.SendNetBufferLists(ndis.Chain(ndis.NewNetBufferList(frame(ndis.BroadcastAddress, "a")), ndis.NewNetBufferList(frame(ndis.BroadcastAddress, "b"))))
	done := make(chan error, 1)
	go func() { done <- e.rt.PauseAdapter(e.ctx, "eth0") }()
	ndistest.Eventually(t, func() bool { return slices.Contains(e.fake.Calls(), "Pause") }, "MiniportPause called")
	l := ndis.NewNetBufferList(frame(ndis.BroadcastAddress, "c"))
	b.SendNetBufferLists(l)
	if l.Status != ndis.StatusPaused || rec.CompletedTimes(l) != 1 {
		t.Fatalf("send while pausing: status %v, completed %d times", l.Status, rec.CompletedTimes(l))
	}
	notWithin(t, done, 10*time.Millisecond, "pause finished (%v) with sends held by the miniport")
	if a.State() != ndis.AdapterPausing {
		t.Fatalf("state %s", a.State())
	}
	e.fake.CompleteHeld(ndis.StatusSuccess)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if rec.Completed() != 3 {
		t.Errorf("completed %d NBLs, want 3", rec.Completed())
	}
}

func TestRemoveUnbindsProtocols(t *testing.T) {
	e := newEnv(t)
	a := e.adapter("eth0")
	b, rec := e.bind("eth0")
	if err := e.rt.RemoveAdapter(e.ctx, "eth0"); err != nil {
		t.Fatal(err)
	}
	<-a.Done()
	recs := rec.Records()
	if len(recs) == 0 || recs[len(recs)-1].Kind != ndistest.RecordUnbind {
		t.Errorf("protocol records %v: want an unbind", recs)
	}
	l := ndis.NewNetBufferList(frame(ndis.BroadcastAddress, "late"))
	b.SendNetBufferLists(l)
	if l.Status != ndis.StatusClosing {
		t.Errorf("send on a closed binding: %v", l.Status)
	}
	if _, s := ndistest.QueryUlong(e.ctx, b, ndis.OIDGenMaximumFrameSize); s != ndis.StatusClosing {
		t.Errorf("OID on a closed binding: %v", s)
	}
	if err := b.Close(e.ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
	want := []string{"Initialize", "Restart", "Pause", "Halt:NdisHaltDeviceDisabled"}
	if got := e.fake.Calls(); !slices.Equal(got, want) {
		t.Errorf("miniport calls %v, want %v", got, want)
	}
}

func TestCloseHonoursContext(t *testing.T) {
	e := newEnv(t)
	e.adapter("eth0")
	e.fake.Do(func(f *ndistest.Fake) { f.PauseStatus = ndis.StatusPending })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := e.rt.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with a pause that never completes: %v", err)
	}
	e.fake.Adapter.PauseComplete()
	if err := e.rt.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
