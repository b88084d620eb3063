// Package ndistest helps test gondis drivers and protocols without real
// devices or root: a fake clock for the runtime's timers, a scriptable fake
// miniport, a recording protocol, and a verifier handler that turns every
// violation into a test failure unless the test expects it.
//
// A typical test:
//
//	clk := ndistest.NewFakeClock()
//	v := ndistest.NewVerifier(t)
//	rt := ndis.New(append(v.Options(), ndis.WithClock(clk))...)
//	fake := ndistest.NewFake()
//	rt.RegisterMiniportDriver(fake.Driver("fake", ndis.Version630))
//	rec := ndistest.NewRecorderDriver("rec")
//	rt.RegisterProtocolDriver(rec.Driver())
//	a, _ := rt.AddAdapter(ctx, "eth0", "fake", nil)
//	b, _ := rt.Bind(ctx, "rec", "eth0")
//	...
//	rec.Binding(b).WaitStatus(t, ndis.StatusResetEnd)
package ndistest
