// Package echo is an echo protocol driver: bound to an adapter, it answers
// every request frame addressed to the adapter (or broadcast) with the
// EtherType it is configured for — the traffic protocol's frames — by
// sending it back with the addresses swapped and the operation byte turned
// into a reply. Replies are never answered, so two echoes, or an echo on a
// loopback, cannot ping-pong. It returns every receive at once.
//
// # Plugging it in
//
//	rt.RegisterProtocolDriver(echo.Driver())
//	b, err := rt.Bind(ctx, "echo", "sim1")
//	e, _ := echo.Of(b) // its counters: e.Stats(), or b.Details()
//
// # Parameters
//
// Per binding, from ndis.BindParams; every key is optional:
//
//	ethertype  EtherType answered, decimal or 0x hex (default 0x88b5)
//	window     replies outstanding at most, 1…4096 (default 256)
//
// A request that finds the window full is counted (no_buffer) and not
// answered. An unknown key or a bad value fails BindAdapter with a
// *ndis.ParamError; the driver's ValidateParams
// (ndis.Runtime.ValidateBindParams) checks a map the same way.
//
// The echo reports its counters (ndis.Reporter): requests, answered,
// no_buffer, and its replies completed by status.
package echo
