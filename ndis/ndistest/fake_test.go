package ndistest_test

import (
	"context"
	"testing"
	"time"

	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

// TestFakeDelays: the fake's delayed operations complete when the fake
// clock passes their delay, not before.
func TestFakeDelays(t *testing.T) {
	clk := ndistest.NewFakeClock()
	v := ndistest.NewVerifier(t)
	rt := ndis.New(append(v.Options(), ndis.WithClock(clk), ndis.WithResetTimeout(time.Hour))...)
	fake := ndistest.NewFake()
	fake.Clock = clk
	fake.RestartDelay = time.Second
	if err := rt.RegisterMiniportDriver(fake.Driver("fake", ndis.Version630)); err != nil {
		t.Fatal(err)
	}
	rec := ndistest.NewRecorderDriver("rec")
	if err := rt.RegisterProtocolDriver(rec.Driver()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	added := make(chan error, 1)
	go func() {
		_, err := rt.AddAdapter(ctx, "eth0", "fake", nil)
		added <- err
	}()
	// The tick and the restart's completion are armed.
	clk.WaitTimers(t, 2)
	select {
	case err := <-added:
		t.Fatalf("AddAdapter returned (%v) before the restart's delay", err)
	default:
	}
	clk.Advance(time.Second)
	if err := <-added; err != nil {
		t.Fatal(err)
	}
	b, err := rt.Bind(ctx, "rec", "eth0")
	if err != nil {
		t.Fatal(err)
	}
	fake.Do(func(f *ndistest.Fake) {
		f.OidDelay, f.ResetDelay, f.PauseDelay = 3*time.Second, 5*time.Second, 2*time.Second
	})
	done := make(chan ndis.Status, 1)
	go func() {
		done <- b.OidRequest(ctx, &ndis.OidRequest{Type: ndis.RequestSet, OID: 0xFF000001, Buffer: ndis.Ulong(1)})
	}()
	clk.WaitTimers(t, 2)
	clk.Advance(3 * time.Second)
	if s := <-done; s != ndis.StatusSuccess {
		t.Fatalf("delayed OID: %v", s)
	}
	fake.Adapter.ResetMiniport()
	rec.Binding(b).WaitStatus(t, ndis.StatusResetStart, 1)
	clk.WaitTimers(t, 3) // the tick, the reset timeout, the fake's completion
	clk.Advance(5 * time.Second)
	rec.Binding(b).WaitStatus(t, ndis.StatusResetEnd, 1)
	closed := make(chan error, 1)
	go func() { closed <- rt.Close(ctx) }()
	ndistest.Eventually(t, func() bool { return fake.Adapter.State() == ndis.AdapterPausing }, "pausing")
	clk.WaitTimers(t, 2) // the tick and the fake's pause completion: the tick alone would not do
	clk.Advance(2 * time.Second)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}
