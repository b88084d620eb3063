// Package tap is a miniport on a Linux TAP interface: the kernel's network
// stack is the peer on the other end of the wire. Where other Go libraries
// give up on a TAP file descriptor error, this adapter asks the runtime for a
// reset (NdisMResetMiniport) and comes back, with the same interface name,
// MTU and addresses, in the same network namespace.
//
// # Plugging it in
//
//	rt := ndis.New()
//	rt.RegisterMiniportDriver(tap.Driver())
//	a, err := rt.AddAdapter(ctx, "tap0", "tap", map[string]string{"name": "gtap0", "netns": "lab"})
//
// The adapter needs CAP_NET_ADMIN (and CAP_SYS_ADMIN for netns). On systems
// other than Linux the package builds and Initialize fails with
// errors.ErrUnsupported.
//
// # Parameters
//
// An adapter is configured only through the params map of AddAdapter (the
// keys of the CLI's config file). Every key is optional:
//
//	name      the interface name, at most 15 bytes (default: the kernel picks tapN)
//	mtu       largest payload without the Ethernet header, 68…65521 (default 1500)
//	mac       the adapter's own station address: the user-space end of the
//	          wire, answered for OID_802_3_CURRENT_ADDRESS and used for
//	          directed filtering. The kernel's side of the TAP keeps its own
//	          address. Unicast (default: a locally administered address
//	          derived from the adapter's name)
//	netns     a named network namespace (/var/run/netns/NAME) or the path of
//	          a namespace file, in which the interface is created and
//	          re-created; the process itself stays in its own namespace
//	persist   true: TUNSETPERSIST, the interface outlives the adapter
//	          (default false: it goes away when the adapter halts)
//	queues    how many queues (descriptors) to open, 1…16, or auto (the
//	          default): one per core (GOMAXPROCS), or one when an existing
//	          single-queue interface is attached. More than one makes a
//	          multi-queue interface (IFF_MULTI_QUEUE)
//	vnet_hdr  on: every frame crosses the descriptor with a virtio-net
//	          header (IFF_VNET_HDR), so that large segments and checksums
//	          are left to the kernel (see Offload); off (the default): plain
//	          frames, every offload done by the adapter
//
// The switches persist and vnet_hdr take true or false, on or off. An
// existing TAP interface of that name is attached to rather than created.
// An unknown key or a bad value fails Initialize with an *ndis.ParamError,
// which wraps ndis.StatusInvalidParameter; the driver's ValidateParams
// finds it first, without touching the system, so a configuration can be
// checked whole before any adapter starts.
//
// # How it works
//
// Each queue of the interface is a TAP file descriptor (IFF_TAP|IFF_NO_PI),
// non-blocking and driven by the Go runtime's poller, so closing it wakes a
// blocked read or write. Each queue has a reader goroutine, which reads
// frames until the descriptor is empty, into NBLs of a bounded ndis.Pool
// shared by the queues, and indicates them in one call per batch (at most
// 64 frames, or more when a large segment is cut), and a writer goroutine. The kernel spreads its frames over the
// queues by a hash of their flow; SendNetBufferLists does the same with the
// NBLs of a chain (IP addresses and TCP/UDP ports, else the MAC addresses),
// so that one flow's frames stay in order, and only queues them; each
// queue's writer writes its share frame by frame, one system call each, and
// completes it in one call. With one queue per core the system calls of
// both directions run on every core at once, which one descriptor cannot.
// On a multi-queue interface the adapter attaches a BPF steering program
// (TUNSETSTEERINGEBPF) that picks the queue of each frame for the kernel
// by the same hash, so that the kernel need not hash every frame written
// to it to keep its own table of flows; a kernel that refuses the program
// picks the queues itself (Stats.Steering says which). Small frames are
// read and written with RawSyscall: the descriptors never block, and the
// scheduler's hand-off of a system call costs a fifth of a 64-byte
// frame's time. The TAP passes every frame: the packet filter and multicast list set
// by OID are accepted and recorded, and the runtime filters per binding
// against the adapter's address.
//
// Link state comes from the kernel over rtnetlink (RTM_NEWLINK/RTM_DELLINK
// in the interface's namespace): administratively up with carrier is
// Connected, anything else Disconnected, indicated as ndis.StatusLinkState.
// The link speed reported is 10 Mb/s, what the kernel's tun driver says
// through ethtool.
//
// # Offload
//
// A protocol asks for offload per NBL, as in NDIS: ndis.LargeSendInfo
// (LSOv2: one TCP frame up to 64 KiB, IPv4 Total Length 0, the TCP
// checksum field holding the pseudo-header sum without the length) and
// ndis.ChecksumInfo (TCP, UDP and IPv4 header checksums to compute). With
// vnet_hdr and the switch on, the adapter rewrites a copy of the headers
// as Linux wants them (lengths, IPv4 header checksum, the pseudo-header
// sum with the length) and hands the frame to the kernel in one write,
// as a GSO packet for a large send; otherwise it does the work itself, a
// large send becoming frames of MSS payload bytes with every checksum
// computed. Either way nothing a protocol sends is lost to a switch: NDIS
// lets a miniport drop LSO sends once LSO is off, this adapter segments
// them instead. A request that does not fit its frame (a large send that
// is not TCP, without its TCP header offset, with an MSS under 88 or more
// than an IP packet of 64 KiB; offsets that disagree with the headers)
// completes with StatusInvalidParameter; a frame, or a large send's
// segment, larger than the MTU with StatusInvalidLength, whatever the
// switches say.
//
// With vnet_hdr and receive offload on, the kernel may hand over partial
// checksums and large TCP (and, from Linux 6.2, UDP) segments of up to
// 64 KiB in one read (TUNSETOFFLOAD); the adapter finishes the checksums
// and cuts large segments into frames of the MTU before it indicates
// them, and marks the NBLs whose checksums are thus known good
// (ChecksumRxTCPSucceeded, …) while receive offload is on. Protocols
// never see a frame larger than the MTU: one the kernel hands over without
// GSO is counted as a receive error and dropped.
//
// The switches are set at run time with ndis.OIDTCPOffloadParameters (an
// NDIS_OFFLOAD_PARAMETERS; ndis.OffloadParameters builds one): its checksum
// fields drive the transmit-checksum and receive switches, its LsoV2
// fields the large-send switch; a set that disables a switch for any IP
// version or protocol disables it. Kernels get offload wrong in the
// field; switching it off is the remedy, and it takes effect at once.
// OffloadOf reports the switches. Without vnet_hdr they are off and a set
// that enables one answers StatusNotSupported.
//
// # Errors
//
// Every system call error is sorted into one of these:
//
//	EAGAIN, EINTR, ENOBUFS          transient: retried and counted
//	                                (Stats.Retries), never a reset. EAGAIN
//	                                waits for the poller; ENOBUFS 100 µs,
//	                                and after 100 in a row the NBL fails
//	                                with StatusResources
//	EIO on write                    the interface is administratively down:
//	                                the NBL completes with
//	                                StatusMediaDisconnected, a link-down
//	                                indication follows, no reset
//	EBADFD, ENODEV, EBADF, ENXIO,   the interface was deleted or the
//	EPIPE, RTM_DELLINK              descriptor is dead: ResetMiniport()
//	EINVAL, EMSGSIZE on write       a bad frame: StatusInvalidLength
//
// Reset closes the descriptor, completes every send it holds with
// StatusRequestAborted, opens (or re-creates) the interface of the same name
// in the same namespace, puts back the kernel side's MAC address and the
// MTU, brings it up and answers addressingReset = true, so the runtime sets
// the bindings' packet filters and multicast lists again. An interface that
// still exists is kept across the reset (TUNSETPERSIST for the moment of
// the close), so the kernel side keeps its addresses and routes; one that
// was deleted comes back without them, and whoever configured them (a
// script, the test) puts them back. A reset that
// cannot re-create the interface answers StatusHardErrors; while the
// adapter has no interface, sends complete with StatusRequestAborted and
// CheckForHang asks for another reset every period (the runtime's
// escalation policy fails the adapter eventually).
//
// CheckForHang is also true when a write has waited for room (EAGAIN) with
// no progress for SendTimeout while the link is up: back-pressure alone is
// not a hang, and neither is a link that is down.
//
// # Statistics
//
// StatsOf returns the adapter's counters (frames, retries, errors that
// asked for resets, resets and the last one's duration) and Interface its
// interface name, for programs and tests; the OIDs below carry the frame
// counters. The miniport is an ndis.Reporter: Adapter.Details returns the
// same, one ndis.Detail each (interface, steering, the offload switches,
// xmit_ok and rcv_ok with a "queue" label, retries, dead_errors, resets,
// reset_failures, last_error, rcv_gso, rcv_segments, xmit_gso,
// xmit_soft_segments, resubscribes, and the error counters), so that a
// program shows them without code of its own for the TAP.
//
// # OIDs
//
// Set: OIDGenCurrentPacketFilter, OID8023MulticastList (at most 32),
// OIDGenCurrentLookahead, OIDTCPOffloadParameters. Query: OIDGenXmitOK, OIDGenRcvOK, OIDGenXmitError,
// OIDGenRcvError, OIDGenRcvNoBuffer, in frames, as a ULONG64 when the buffer
// holds 8 bytes. The runtime answers the general OIDs (addresses, MTU,
// link state and speed) from the attributes and link indications.
package tap
