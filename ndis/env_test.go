package ndis_test

import (
	"context"
	"testing"
	"time"

	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

// fixture is one runtime with the fake miniport driver "fake" and the
// recording protocol "rec", on a fake clock, in strict verifier mode; the
// runtime closes when the test ends.
type fixture struct {
	ctx   context.Context
	clock *ndistest.FakeClock
	v     *ndistest.Verifier
	rt    *ndis.Runtime
	fake  *ndistest.Fake
	rec   *ndistest.RecorderDriver
}

// fixtureT is what a fixture needs of a test: a *testing.T or a *rapid.T.
type fixtureT interface {
	ndistest.TB
	Cleanup(func())
}

// newFixture builds a fixture with the runtime options opts. driver, if not
// nil, makes the miniport driver registered as "fake" from the fake (a
// model wraps its handlers); by default it is the fake's own.
func newFixture(t fixtureT, driver func(*ndistest.Fake) ndis.MiniportDriver, opts ...ndis.Option) fixture {
	t.Helper()
	f := fixture{ctx: context.Background(), clock: ndistest.NewFakeClock(), fake: ndistest.NewFake(),
		rec: ndistest.NewRecorderDriver("rec")}
	f.v = ndistest.NewVerifier(t)
	all := append(f.v.Options(), ndis.WithClock(f.clock))
	f.rt = ndis.New(append(all, opts...)...)
	d := f.fake.Driver("fake", ndis.Version630)
	if driver != nil {
		d = driver(f.fake)
	}
	if err := f.rt.RegisterMiniportDriver(d); err != nil {
		t.Fatalf("%v", err)
	}
	if err := f.rt.RegisterProtocolDriver(f.rec.Driver()); err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := f.rt.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return f
}

// env is a fixture for one test.
type env struct {
	t *testing.T
	fixture
}

func newEnv(t *testing.T, opts ...ndis.Option) *env {
	t.Helper()
	return &env{t: t, fixture: newFixture(t, nil, opts...)}
}

// adapter adds a Running adapter of the fake driver.
func (e *env) adapter(name string) *ndis.Adapter {
	e.t.Helper()
	return e.adapterOf(name, "fake")
}

// adapterOf adds a Running adapter of the driver.
func (e *env) adapterOf(name, driver string) *ndis.Adapter {
	e.t.Helper()
	a, err := e.rt.AddAdapter(e.ctx, name, driver, nil)
	if err != nil {
		e.t.Fatalf("AddAdapter: %v", err)
	}
	return a
}

// register registers another miniport driver.
func (e *env) register(d ndis.MiniportDriver) {
	e.t.Helper()
	if err := e.rt.RegisterMiniportDriver(d); err != nil {
		e.t.Fatalf("RegisterMiniportDriver: %v", err)
	}
}

// bind binds the recording protocol and returns the binding and its recorder.
func (e *env) bind(adapter string) (*ndis.Binding, *ndistest.Recorder) {
	e.t.Helper()
	b, err := e.rt.Bind(e.ctx, "rec", adapter)
	if err != nil {
		e.t.Fatalf("Bind: %v", err)
	}
	return b, e.rec.Binding(b)
}

// bindAsync binds the recording protocol on a goroutine of its own, for a
// Bind that has to wait; the binding arrives on the channel (nil, and the
// test failed, if Bind failed).
func (e *env) bindAsync(adapter string) <-chan *ndis.Binding {
	bound := make(chan *ndis.Binding, 1)
	go func() {
		b, err := e.rt.Bind(context.Background(), "rec", adapter)
		if err != nil {
			e.t.Error(err)
		}
		bound <- b
	}()
	return bound
}

// bindWaitsForReset checks that the Bind whose binding comes on bound
// (bindAsync) does not return while a's pending reset runs, then completes
// the reset and returns the binding.
func (e *env) bindWaitsForReset(a *ndis.Adapter, bound <-chan *ndis.Binding) *ndis.Binding {
	e.t.Helper()
	select {
	case <-bound:
		e.t.Fatal("Bind returned during a reset")
	case <-time.After(10 * time.Millisecond):
	}
	a.ResetComplete(ndis.StatusSuccess, false)
	return <-bound
}

// reset resets the adapter, as an operator does, and fails the test if the
// runtime refuses.
func (e *env) reset(adapter string) {
	e.t.Helper()
	if err := e.rt.ResetAdapter(adapter); err != nil {
		e.t.Fatalf("ResetAdapter: %v", err)
	}
}

// waitResetTimedOut waits for the outcome of a reset that has just timed
// out: the violation, RESET_END with StatusDeviceFailed to rec, the
// adapter halted. The miniport's late answer that follows is expected as a
// call after halt.
func (e *env) waitResetTimedOut(a *ndis.Adapter, rec *ndistest.Recorder) {
	e.t.Helper()
	e.v.Wait(e.t, ndis.RuleResetTimeout)
	end := rec.WaitStatus(e.t, ndis.StatusResetEnd, 1)
	if s, _ := ndistest.ResetEndStatus(end.Payload); s != ndis.StatusDeviceFailed {
		e.t.Errorf("RESET_END carries %v", s)
	}
	<-a.Done()
	e.v.Expect(ndis.RuleCallAfterHalt)
}

// setFilter sets a binding's packet filter and fails the test on error.
func (e *env) setFilter(b *ndis.Binding, f uint32) {
	e.t.Helper()
	if s := ndistest.SetPacketFilter(e.ctx, b, f); s != ndis.StatusSuccess {
		e.t.Fatalf("set packet filter: %v", s)
	}
}

// bindFiltered binds the recording protocol to adapter and sets the
// binding's packet filter to f.
func (e *env) bindFiltered(adapter string, f uint32) (*ndis.Binding, *ndistest.Recorder) {
	e.t.Helper()
	b, rec := e.bind(adapter)
	e.setFilter(b, f)
	return b, rec
}

// removeDuringReset starts RemoveAdapter(name) beside a running reset and
// fails t if it returns within d: a halt waits for the reset (R13). The
// channel delivers RemoveAdapter's result once the reset has ended.
func removeDuringReset(t ndistest.TB, rt *ndis.Runtime, name string, d time.Duration) <-chan error {
	t.Helper()
	removed := make(chan error, 1)
	go func() { removed <- rt.RemoveAdapter(context.Background(), name) }()
	notWithin(t, removed, d, "RemoveAdapter returned (%v) during a reset")
	return removed
}

// notWithin fails t with format, given the error, if done delivers
// within d: the call behind done must still be waiting.
func notWithin(t ndistest.TB, done <-chan error, d time.Duration, format string) {
	t.Helper()
	select {
	case err := <-done:
		t.Fatalf(format, err)
	case <-time.After(d):
	}
}

// frame returns a frame to dst carrying payload, from a station of its
// own.
func frame(dst ndis.MacAddress, payload string) []byte {
	return ndistest.Ethernet(dst, ndis.MacAddress{2, 0, 0, 0, 0, 9}, 0x88b5, []byte(payload))
}

// ticks advances the fake clock by n check-for-hang periods, each once the
// adapter's tick timer is armed again, so no tick is skipped.
func (e *env) ticks(n int, period time.Duration) {
	e.t.Helper()
	for range n {
		e.clock.WaitTimers(e.t, 1)
		e.clock.Advance(period)
	}
}

// repeat calls fn over and over on a goroutine of its own until fn returns
// false or stop is called; stop waits for the goroutine to end.
func repeat(fn func() bool) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-quit:
				return
			default:
			}
			if !fn() {
				return
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

// attach registers mp and proto on rt, adds the adapter eth0 of mp and
// binds proto to it, failing tb on any error.
func attach(tb testing.TB, rt *ndis.Runtime, mp ndis.MiniportDriver, proto ndis.ProtocolDriver) *ndis.Binding {
	tb.Helper()
	if err := rt.RegisterMiniportDriver(mp); err != nil {
		tb.Fatal(err)
	}
	if err := rt.RegisterProtocolDriver(proto); err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	if _, err := rt.AddAdapter(ctx, "eth0", mp.Name, nil); err != nil {
		tb.Fatal(err)
	}
	b, err := rt.Bind(ctx, proto.Name, "eth0")
	if err != nil {
		tb.Fatal(err)
	}
	return b
}
