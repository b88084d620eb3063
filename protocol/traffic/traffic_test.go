package traffic_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gondis/gondis/miniport/loopback"
	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/protocol/bindparams"
	"github.com/gondis/gondis/protocol/echo"
	"github.com/gondis/gondis/protocol/traffic"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestParseParams(t *testing.T) {
	for _, tc := range []struct {
		params map[string]string
		ok     bool
	}{
		{nil, true},
		{map[string]string{"dest": "broadcast", "rate": "0", "window": "1", "size": "15", "ethertype": "0x88b5"}, true},
		{map[string]string{"dest": "02:00:00:00:00:01"}, true},
		{map[string]string{"dest": "nope"}, false},
		{map[string]string{"rate": "-1"}, false},
		{map[string]string{"window": "0"}, false},
		{map[string]string{"size": "14"}, false},
		{map[string]string{"ethertype": "0x0100"}, false},
		{map[string]string{"colour": "red"}, false},
	} {
		if err := traffic.ValidateParams(tc.params); (err == nil) != tc.ok {
			t.Errorf("ValidateParams(%v) = %v, want ok %v", tc.params, err, tc.ok)
		}
	}
}

// TestTrafficEchoLoopback runs a generator and an echo on one loopback
// adapter through an operator reset: replies come back, completions are
// counted by status, the reset is seen, and unbinding stops everything.
func TestTrafficEchoLoopback(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	reg := &bindparams.Registry{}
	reg.Set(traffic.Name, "loop0", map[string]string{"dest": loopback.DefaultMAC, "rate": "2000", "window": "16"})
	var gen *traffic.Generator
	td := traffic.DriverWith(reg)
	inner := td.BindAdapter
	td.BindAdapter = func(b *ndis.Binding) (ndis.Protocol, error) {
		p, err := inner(b)
		if err == nil {
			gen = p.(*traffic.Generator)
		}
		return p, err
	}
	rt := ndis.New(ndis.WithViolationHandler(func(v ndis.Violation) { t.Errorf("violation: %v", v) }))
	defer rt.Close(context.Background())
	must(t, rt.RegisterMiniportDriver(loopback.Driver()))
	must(t, rt.RegisterProtocolDriver(td))
	must(t, rt.RegisterProtocolDriver(echo.DriverWith(reg)))
	_, err := rt.AddAdapter(ctx, "loop0", "loopback", nil)
	must(t, err)
	_, err = rt.Bind(ctx, "echo", "loop0")
	must(t, err)
	_, err = rt.Bind(ctx, traffic.Name, "loop0")
	must(t, err)

	waitFor(t, ctx, func() bool { return gen.Stats().Replies > 50 })
	must(t, rt.ResetAdapter("loop0"))
	waitFor(t, ctx, func() bool { return gen.Stats().Resets == 1 })
	before := gen.Stats().Replies
	waitFor(t, ctx, func() bool { return gen.Stats().Replies > before+50 })
	must(t, rt.Close(ctx))
	st := gen.Stats()
	var done uint64
	for _, n := range st.Completed {
		done += n
	}
	if done != st.Sent {
		t.Errorf("sent %d NBLs, %d completed (%v)", st.Sent, done, st.Completed)
	}
	if st.Completed[ndis.StatusSuccess] == 0 {
		t.Errorf("no successful completion: %v", st.Completed)
	}
}

func TestBindRejectsBadParams(t *testing.T) {
	ctx := context.Background()
	reg := &bindparams.Registry{}
	reg.Set(traffic.Name, "loop0", map[string]string{"rate": "fast"})
	rt := ndis.New()
	defer rt.Close(ctx)
	must(t, rt.RegisterMiniportDriver(loopback.Driver()))
	must(t, rt.RegisterProtocolDriver(traffic.DriverWith(reg)))
	_, err := rt.AddAdapter(ctx, "loop0", "loopback", nil)
	must(t, err)
	if _, err := rt.Bind(ctx, traffic.Name, "loop0"); err == nil {
		t.Fatal("Bind with rate=fast succeeded")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, ctx context.Context, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatal("timed out")
		case <-time.After(5 * time.Millisecond):
		}
	}
}
