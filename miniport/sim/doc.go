// Package sim is a fault-injecting simulated NIC: a miniport driver written
// the way a driver for a real NIC is written, against a simulated device
// with descriptor rings, a receive filter, interrupts and a wire, and a set
// of faults that make the device hang, fail, lose its addressing or wedge
// its requests, so the runtime's recovery (NdisMResetMiniport, check-for-
// hang, the OID time-out, escalation) can be exercised on demand and
// reproducibly.
//
// # Plugging it in
//
//	rt := ndis.New()
//	rt.RegisterMiniportDriver(sim.Driver())
//	a, err := rt.AddAdapter(ctx, "sim0", "sim", map[string]string{"fatal": "every:30s"})
//	d, _ := sim.DeviceOf(a)
//
// Two adapters with the same wire parameter are the two ends of one cable:
//
//	rt.AddAdapter(ctx, "a", "sim", map[string]string{"wire": "w0"})
//	rt.AddAdapter(ctx, "b", "sim", map[string]string{"wire": "w0"})
//
// Tests that drive time themselves register DriverWith(Options{Clock: clk})
// with the runtime's fake clock instead (also named "sim").
//
// # Parameters
//
// An adapter is configured only through the params map of AddAdapter (the
// keys of the CLI's config file). Every key is optional:
//
//	mac           station address, unicast, as net.ParseMAC reads it (default 02 and a hash of the adapter name)
//	mtu           largest payload without the Ethernet header, 68…65535 (default 1500)
//	link_speed    bits per second, both directions (default 10000000000)
//	tx_ring       transmit descriptors, 1…4096 (default 256)
//	rx_ring       receive descriptors, 1…4096 (default 256)
//	latency       time the hardware takes per frame, 0…10s (default 0)
//	send_timeout  how long a descriptor may wait before CheckForHang says hung, up to 1h (default 2s)
//	flow_control  true: a full receive ring holds the transmitter back (802.3x PAUSE); false: it loses frames (default true)
//	wire          name of the wire to plug into (default none: the device is looped back to itself)
//
// and one key per fault: hang, fatal, lose_addressing, slow_reset,
// fail_reset, stuck_oid, link_flap, rx_storm. Durations are Go durations
// (50us, 2s). An unknown key or a bad value fails the driver's
// ValidateParams (which AddAdapter calls first) and MiniportInitializeEx
// with an *ndis.ParamError, which wraps ndis.StatusInvalidParameter; so
// does a third adapter on one wire, in MiniportInitializeEx only.
//
// # Faults
//
// A fault parameter's value is a schedule and options (see Fault and
// ParseFault):
//
//	TRIGGER[,OPTION=VALUE]...
//
//	off                  never (the default)
//	once[:DURATION]      once, DURATION after Initialize (default at once)
//	every:DURATION       every DURATION, the first DURATION after Initialize
//	random:PROBABILITY   timed faults: at each check (every check=DURATION, default 100ms)
//	                     with that probability; event faults: at each event
//	seed=N               random: the seed of the fault's own generator (default 0)
//	count=N              once/every of an event fault: events each firing affects (default 1)
//	for=DURATION         hang: how long (default until a reset); slow_reset: how long the reset
//	                     pends (default 1s); link_flap: how long the link is down (default 100ms)
//	frames=N             rx_storm: frames per burst (default 256)
//
// for example hang=once:500ms, fatal=every:3s, fatal=random:0.01,seed=42,
// fail_reset=once,count=3 or link_flap=every:2s,for=50ms. Parsing is
// strict: an option that does not apply to the fault or the trigger is an
// error. Each random fault has its own generator, seeded by seed and its
// kind, so a run's decisions are reproducible.
//
// What each fault does, and what recovers from it:
//
//	hang             the transmit engine stops; CheckForHang sees the stuck ring after send_timeout:
//	                 a reset with cause hang
//	fatal            a fatal error interrupt stops the device; the driver calls ResetMiniport:
//	                 a reset with cause driver
//	lose_addressing  the next reset clears the filter registers and answers addressingReset=true;
//	                 the runtime sets them again before RESET_END
//	slow_reset       the next Reset answers StatusPending and calls ResetComplete after for
//	fail_reset       the next reset fails with StatusHardErrors; the device is dead (sends fail
//	                 with StatusHardErrors) and CheckForHang says hung until a reset succeeds,
//	                 so the runtime resets again, and escalates after enough failures
//	stuck_oid        the next OID request while the adapter runs is never completed: the
//	                 runtime's OID time-out resets
//	link_flap        the link goes down (frames are lost) and up again, each indicated with
//	                 StatusLinkState
//	rx_storm         a burst of minimum-size frames to the device's address arrives from the
//	                 wire; what the receive ring cannot hold is lost (RxNoBuffer)
//
// Fault.Provokes says which verifier rules a fault breaks by design (none,
// under the default limits). Bugs (Device.InjectBug) are deliberate driver
// bugs for testing the verifier, each reported under its Bug.Rule; no
// parameter sets them.
//
// # The device model
//
// The device has a transmit ring and a receive ring of descriptors, filter
// registers, an interrupt cause register with an interrupt line, a transmit
// doorbell, and a transmit engine goroutine (the "hardware"). The driver
// has an interrupt goroutine (its ISR and DPC). Frames move like this:
//
//   - SendNetBufferLists posts each frame (NET_BUFFER) of each NBL in a
//     transmit descriptor, the NBL riding on its last one, and rings the
//     doorbell. When the ring is full, the NBLs wait in order in a software
//     queue: back-pressure, never failure. Frames of a bad length fail the
//     NBL at once with StatusInvalidLength.
//   - The engine processes descriptors in order, each taking latency from
//     when it was posted or the previous one finished, puts their frames on
//     the wire and marks them done, then raises a transmit interrupt: one
//     per burst, not per frame.
//   - The wire delivers to the other end's device, or back to this one. A
//     device copies an arriving frame into the next posted receive buffer
//     (an NBL of the driver's ndis.Pool, so nothing aliases the sender's
//     buffers) if its length fits the MTU and its filter registers accept
//     it, with the runtime's own rule (ndis.PacketFilter.Accepts); then it
//     raises a receive interrupt. Without a posted buffer, flow control
//     holds the transmitting device back (its descriptors stay posted)
//     until the receiver posts buffers again; frames from outside (Deliver,
//     rx_storm) and, with flow_control=false, all frames are lost instead
//     (RxNoBuffer). A receiver that never gets its buffers back (a protocol
//     that keeps its receives) so holds its transmitter until the
//     transmitter's CheckForHang reports it. Every frame is lost while the
//     receiving device resets or is dead, or its link is down.
//   - The interrupt goroutine reaps done transmit descriptors and completes
//     their NBLs in one SendNetBufferListsComplete, posts queued frames,
//     reaps filled receive buffers and indicates them in one
//     IndicateReceiveNetBufferLists (ReceiveFlagPerfectFiltered) while the
//     adapter runs, and posts fresh buffers. Indicated NBLs come back
//     through ReturnNetBufferLists to the pool.
//   - A link change interrupt is indicated with StatusLinkState. A wired
//     device's link is up while the other end is plugged in: the first
//     adapter on a wire waits with its link down, the second brings both up,
//     and halting either takes the other's down. Wires belong to the
//     driver value that Driver or DriverWith returned: adapters of several
//     runtimes that registered the same value may share one, and another
//     call's driver has wires of its own.
//
// The driver answers OIDs inline: sets of OID_GEN_CURRENT_PACKET_FILTER
// (directed, multicast, all-multicast, broadcast, promiscuous),
// OID_802_3_MULTICAST_LIST (at most 32 addresses) and
// OID_GEN_CURRENT_LOOKAHEAD program the filter registers; queries of
// OID_GEN_XMIT_OK (frames put on the wire) and OID_GEN_RCV_OK (frames
// indicated) answer a ULONG64 into 8 bytes, a ULONG otherwise; anything else
// is ndis.StatusInvalidOid. The runtime answers the general OIDs (address,
// MTU, link state) from the attributes Initialize sets.
//
// # Pause, reset, halt
//
// Pause stops indicating, answers StatusPending and completes once the
// hardware has drained every send and every indicated NBL is back; a
// hardware that does not drain within send_timeout (hung, dead) has its
// ring taken back and its sends aborted. Pause also aborts OIDs held by
// stuck_oid, so a paused adapter can always be halted. Restart resumes
// indicating.
//
// Reset holds the interrupt goroutine off the rings, stops the engine,
// completes every send (StatusRequestAborted; those the hardware had
// finished, StatusSuccess) and every held OID (StatusRequestAborted),
// clears the rings and the error state, and powers the engine up again;
// faults make it lose the addressing, pend or fail, as above. The runtime's
// restore requests after an addressing reset are never held by stuck_oid:
// the driver does not stick OIDs between such a reset and the next
// CheckForHang, because nothing in the runtime times a restore request out;
// nor while the adapter is not running, because nothing times a request
// out once a halt has begun.
// CheckForHang reports a transmit descriptor that has waited longer than
// send_timeout, a dead device, or a fatal error older than send_timeout.
//
// Halt stops the faults' timers, unplugs the wire, stops the engine and the
// interrupt goroutine and waits for both.
//
// # The Go API
//
// DeviceOf gives the Device of an adapter, from the end of its Initialize
// to its Halt. With it a test reads Stats (ring, wire and reset counters,
// faults fired), Filter (the filter registers), LinkUp, Failed and Peer;
// injects a fault now (Inject) or changes a schedule (SetFault); hands
// frames to the device as if from the wire (Deliver); and arms a bug
// (InjectBug, tests only). Every method is safe from any goroutine. DeviceOf
// finds the Device through the adapter's own handle
// (ndis.Adapter.MiniportContext): the package keeps no table of adapters.
//
// The miniport is an ndis.Reporter: Adapter.Details gives the Stats under
// stable names (xmit_ok, xmit_error, rcv_ok and rcv_no_buffer first, then
// tx_*, rx_*, the reset and hang counters, and faults_fired by fault), so
// programs show them with no code of the sim's.
package sim
