package traffic_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gondis/gondis/miniport/loopback"
	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
	"github.com/gondis/gondis/protocol/echo"
	"github.com/gondis/gondis/protocol/internal/prototest"
	"github.com/gondis/gondis/protocol/traffic"
)

// TestTrafficEchoLoopback runs a generator and an echo on one loopback
// adapter through an operator reset: replies come back, completions are
// counted by status, the reset is seen, and unbinding stops everything.
func TestTrafficEchoLoopback(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rt := prototest.Start(t, loopback.Driver(), "loop0", traffic.Driver(), echo.Driver())
	prototest.Bind(t, rt, echo.Name, "loop0", nil)
	b := prototest.Bind(t, rt, traffic.Name, "loop0",
		map[string]string{"dest": loopback.DefaultMAC, "rate": "2000", "window": "16"})
	gen, ok := traffic.Of(b)
	if !ok {
		t.Fatal("traffic.Of: no generator")
	}
	if p := gen.Params(); p.Rate != 2000 || p.Window != 16 {
		t.Errorf("Params = %+v", p)
	}

	ndistest.Eventually(t, func() bool { return gen.Stats().Replies > 50 }, "50 replies")
	must(t, rt.ResetAdapter("loop0"))
	ndistest.Eventually(t, func() bool { return gen.Stats().Resets == 1 }, "RESET_END")
	before := gen.Stats().Replies
	ndistest.Eventually(t, func() bool { return gen.Stats().Replies > before+50 }, "50 more replies")
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

// TestReport: the generator reports its counters, each as Stats has it.
func TestReport(t *testing.T) {
	rt := prototest.Start(t, loopback.Driver(), "loop0", traffic.Driver(), echo.Driver())
	prototest.Bind(t, rt, echo.Name, "loop0", nil)
	b := prototest.Bind(t, rt, traffic.Name, "loop0", map[string]string{"dest": loopback.DefaultMAC, "rate": "2000"})
	gen, _ := traffic.Of(b)
	ndistest.Eventually(t, func() bool { return gen.Stats().Replies > 10 }, "10 replies")
	must(t, rt.Close(context.Background())) // the counters stand still
	st := gen.Stats()
	want := map[string]float64{
		"sent":      float64(st.Sent),
		"replies":   float64(st.Replies),
		"requests":  float64(st.Requests),
		"resets":    0,
		"resetting": 0,
	}
	for s, n := range st.Completed {
		want["completed{status="+s.String()+"}"] = float64(n)
	}
	prototest.CheckReport(t, b, want)
	if k, _ := prototest.Kind(b, "resetting"); k != ndis.DetailGauge {
		t.Errorf("resetting is a %v", k)
	}
}

func TestBindRejectsBadParams(t *testing.T) {
	rt := prototest.Start(t, loopback.Driver(), "loop0", traffic.Driver())
	_, err := rt.Bind(context.Background(), traffic.Name, "loop0", ndis.BindParams(map[string]string{"rate": "fast"}))
	var pe *ndis.ParamError
	if !errors.As(err, &pe) || pe.Key != "rate" {
		t.Fatalf("Bind with rate=fast: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
