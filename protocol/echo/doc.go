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
//
// # Parameters
//
// Per binding, from a bindparams.Registry (see package bindparams); every
// key is optional:
//
//	ethertype  EtherType answered, decimal or 0x hex (default 0x88b5)
//	window     replies outstanding at most, 1…4096 (default 256); a request
//	           that finds none free is counted and not answered
//
// An unknown key or a bad value fails BindAdapter; ValidateParams checks a
// map the same way.
package echo
