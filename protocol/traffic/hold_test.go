package traffic_test

import (
	"testing"
	"time"

	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
	"github.com/gondis/gondis/protocol/internal/prototest"
	"github.com/gondis/gondis/protocol/traffic"
)

// TestHoldsSendsDuringReset: between RESET_START and RESET_END the
// generator sends nothing; after RESET_END it sends again.
func TestHoldsSendsDuringReset(t *testing.T) {
	fake := ndistest.NewFake()
	fake.OnReset = func() (bool, ndis.Status) { return false, ndis.StatusPending }
	rt := prototest.Start(t, fake.Driver("fake", ndis.Version630), "f0", traffic.Driver())
	gen, _ := traffic.Of(prototest.Bind(t, rt, traffic.Name, "f0", map[string]string{"rate": "5000"}))
	ndistest.Eventually(t, func() bool { return gen.Stats().Sent > 0 }, "a send")

	must(t, rt.ResetAdapter("f0"))
	ndistest.Eventually(t, func() bool { return gen.Stats().Resetting }, "RESET_START")
	held := gen.Stats().Sent
	time.Sleep(100 * time.Millisecond) // 10 ticks at 5000 frames/s
	if st := gen.Stats(); st.Sent != held || !st.Resetting {
		t.Fatalf("sent %d NBLs during the reset (resetting %v)", st.Sent-held, st.Resetting)
	}
	fake.Adapter.ResetComplete(ndis.StatusSuccess, false)
	ndistest.Eventually(t, func() bool { st := gen.Stats(); return st.Resets == 1 && st.Sent > held },
		"RESET_END and a send")
}
