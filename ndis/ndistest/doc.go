// Package ndistest helps test gondis drivers and protocols without real
// devices or root: a fake clock for the runtime's timers, a scriptable fake
// miniport, a recording protocol, and a verifier handler that turns every
// violation into a test failure unless the test expects it. It also ships
// what tests keep writing: OID helpers that query and set through a binding
// (QueryUlong, QueryCounter, SetPacketFilter, SetMulticastList ..., and Must
// forms that fail the test) and frame builders with right checksums
// (Ethernet, ARPRequest, EchoRequest, UDP ...; Numbered payloads).
//
// A test puts them together like this (the package example is a whole test
// of a reset):
//
//	clk := ndistest.NewFakeClock()
//	v := ndistest.NewVerifier(t)
//	rt := ndis.New(append(v.Options(), ndis.WithClock(clk))...)
//	fake := ndistest.NewFake()
//	rec := ndistest.NewRecorderDriver("rec")
//	rt.RegisterMiniportDriver(fake.Driver("fake", ndis.Version630))
//	rt.RegisterProtocolDriver(rec.Driver())
//	a, _ := rt.AddAdapter(ctx, "eth0", "fake", nil)
//	b, _ := rt.Bind(ctx, "rec", "eth0")
//	ndistest.SetPacketFilter(ctx, b, ndis.PacketTypeDirected|ndis.PacketTypeBroadcast)
//	fake.Indicate(0, ndistest.EchoRequest(peer, us, 1, 1, nil))
//	...
//	a.ResetMiniport()
//	rec.Binding(b).WaitStatus(t, ndis.StatusResetEnd, 1)
//
// Fake drives the miniport side: its fields script how it answers, and
// Indicate, CompleteHeld and CompleteOID act as its device would. The
// Recorder of a binding records every protocol callback in order. Every
// wait gives up after WaitTimeout.
package ndistest
