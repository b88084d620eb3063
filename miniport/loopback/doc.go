// Package loopback is an in-memory loopback miniport: every Ethernet frame
// sent on one of its adapters is received back on the same adapter, as if
// the NIC's transmit port were wired to its own receive port. It needs no
// privileges and no device, so it is the adapter to test protocols against
// and to measure the runtime's datapath with.
//
// # Plugging it in
//
//	rt := ndis.New()
//	rt.RegisterMiniportDriver(loopback.Driver())
//	a, err := rt.AddAdapter(ctx, "loop0", "loopback", map[string]string{"mtu": "9000"})
//
// An adapter is configured only through the params map of AddAdapter (the
// same keys as the CLI's config file). Every key is optional:
//
//	mtu         largest payload without the Ethernet header, 68…65535 (default 1500)
//	mac         station address, unicast, as net.ParseMAC reads it (default 02:00:00:00:00:01)
//	link_speed  bits per second, both directions (default 10000000000)
//	batch       most NBLs in one receive indication, 1…4096 (default 64)
//
// An unknown key or a bad value fails the driver's ValidateParams (which
// AddAdapter calls first) and MiniportInitializeEx with an
// *ndis.ParamError, which wraps ndis.StatusInvalidParameter.
//
// # How it works
//
// Like a real NIC, the adapter has an "interrupt" goroutine (its DPC),
// started by Initialize and stopped by Halt. SendNetBufferLists only puts
// the chain on a pending queue, under one lock, and wakes that goroutine
// when it sleeps; it never blocks and never calls back. The interrupt
// goroutine takes everything pending at once and, for the whole chain:
// copies each frame that the hardware receive filter accepts into a receive
// NBL of its own pool (the sender gets its buffers back, so nothing is
// aliased), completes every send in one SendNetBufferListsComplete, then
// indicates the received NBLs in chains of at most batch, flagged
// ndis.ReceiveFlagPerfectFiltered: the hardware filter below applies the
// runtime's own rules. One sent NBL with several frames (NET_BUFFERs) is
// received as one NBL per frame, as a NIC receives frames. Frames shorter
// than an Ethernet header or longer than mtu+14 bytes are completed with
// ndis.StatusInvalidLength and not received.
//
// The receive pool holds at most 4096 NBLs. When protocols hold all of them,
// sends still complete successfully and the frames are dropped, counted by
// ndis.OIDGenRcvNoBuffer, as a NIC out of receive descriptors drops them.
//
// # The hardware filter
//
// The runtime hands the miniport the union of every binding's packet filter
// and multicast list and filters per binding itself. The loopback applies
// that union as the NIC's filter, with the runtime's own rule
// (ndis.PacketFilter.Accepts): promiscuous takes every frame; a unicast frame needs DIRECTED and the adapter's
// address; broadcast needs BROADCAST; multicast needs ALL_MULTICAST, or
// MULTICAST and the address in the list. With no filter set, nothing is
// received.
//
// # OIDs
//
// Set: OIDGenCurrentPacketFilter, OID8023MulticastList (at most 32
// addresses), OIDGenCurrentLookahead. Query: OIDGenXmitOK, OIDGenRcvOK,
// OIDGenXmitError and OIDGenRcvNoBuffer, counted in frames, as a ULONG64 when
// the buffer holds 8 bytes and a ULONG otherwise. The general OIDs (address,
// link state, MTU ...) are answered by the runtime from the adapter's
// attributes. Anything else is ndis.StatusInvalidOid.
//
// The miniport is an ndis.Reporter: Adapter.Details gives the same four
// counters as xmit_ok, xmit_error, rcv_ok and rcv_no_buffer.
//
// # Pause, reset, halt
//
// Pause answers ndis.StatusPending; the interrupt goroutine transmits (and
// loops back) what is still pending, then calls PauseComplete once nothing
// is pending and every indicated NBL has been returned. Reset completes the
// sends not yet taken by the interrupt goroutine with
// ndis.StatusRequestAborted, waits for the chain it is transmitting, and
// returns (false, ndis.StatusSuccess): the filter survives a reset, so no
// addressing restore is needed. Halt stops the interrupt goroutine and waits
// for it.
package loopback
