// Package traffic is a traffic-generating protocol driver: bound to an
// adapter, it sends request frames at a configured rate to a destination
// MAC address (or broadcast), keeps at most a window of NBLs outstanding,
// counts their completions by status and the replies that come back (from
// the echo protocol), and holds its sends while its binding is between
// NDIS_STATUS_RESET_START and NDIS_STATUS_RESET_END.
//
// # Plugging it in
//
//	rt.RegisterProtocolDriver(traffic.Driver())
//	b, err := rt.Bind(ctx, "traffic", "sim0",
//		ndis.BindParams(map[string]string{"dest": "02:00:00:00:01:01", "rate": "500"}))
//	g, _ := traffic.Of(b) // its counters: g.Stats(), or b.Details()
//
// # Parameters
//
// Per binding, from ndis.BindParams; every key is optional:
//
//	dest       destination MAC address, or "broadcast" (default broadcast)
//	rate       frames per second, 0…1000000; 0 sends nothing (default 100)
//	window     NBLs outstanding at most, 1…4096 (default 32)
//	size       frame length in bytes without FCS, 15…1514 (default 64)
//	ethertype  EtherType of the frames, decimal or 0x hex (default 0x88b5)
//
// An unknown key or a bad value fails BindAdapter with a *ndis.ParamError;
// the driver's ValidateParams (ndis.Runtime.ValidateBindParams) checks a
// map the same way, so a config file can be checked before anything runs.
//
// The generator starts when BindAdapter returns and stops in
// UnbindAdapter (ProtocolUnbindAdapterEx), before the adapter is halted.
// It reports its counters (ndis.Reporter): sent, completed by status,
// replies, requests, resets and the resetting flag.
package traffic
