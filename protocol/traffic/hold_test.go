package traffic_test

import (
	"context"
	"testing"
	"time"

	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
	"github.com/gondis/gondis/protocol/bindparams"
	"github.com/gondis/gondis/protocol/traffic"
)

// TestHoldsSendsDuringReset: between RESET_START and RESET_END the
// generator sends nothing; after RESET_END it sends again.
func TestHoldsSendsDuringReset(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fake := ndistest.NewFake()
	fake.OnReset = func() (bool, ndis.Status) { return false, ndis.StatusPending }
	reg := &bindparams.Registry{}
	reg.Set(traffic.Name, "f0", map[string]string{"rate": "5000"})
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
	v := ndistest.NewVerifier(t)
	rt := ndis.New(v.Options()...)
	defer rt.Close(context.Background())
	must(t, rt.RegisterMiniportDriver(fake.Driver("fake", ndis.Version630)))
	must(t, rt.RegisterProtocolDriver(td))
	_, err := rt.AddAdapter(ctx, "f0", "fake", nil)
	must(t, err)
	_, err = rt.Bind(ctx, traffic.Name, "f0")
	must(t, err)
	waitFor(t, ctx, func() bool { return gen.Stats().Sent > 0 })

	must(t, rt.ResetAdapter("f0"))
	waitFor(t, ctx, func() bool { return gen.Stats().Resetting })
	held := gen.Stats().Sent
	time.Sleep(100 * time.Millisecond) // 10 ticks at 5000 frames/s
	if st := gen.Stats(); st.Sent != held || !st.Resetting {
		t.Fatalf("sent %d NBLs during the reset (resetting %v)", st.Sent-held, st.Resetting)
	}
	fake.Adapter.ResetComplete(ndis.StatusSuccess, false)
	waitFor(t, ctx, func() bool { st := gen.Stats(); return st.Resets == 1 && st.Sent > held })
	must(t, rt.Close(ctx))
}
