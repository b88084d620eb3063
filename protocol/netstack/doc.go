// Package netstack is a user-space TCP/IP host on gondis adapters: a
// protocol driver that binds gVisor's network stack (gvisor.dev/gvisor) to
// any adapter, and a Go API that gives programs net.Listener, net.Conn and
// net.PacketConn on it. Its connections ride out the adapter's resets.
//
// # Plugging it in
//
//	s := netstack.New()
//	defer s.Close(ctx)
//	rt.RegisterProtocolDriver(s.Driver())
//	rt.Bind(ctx, netstack.Name, "sim0", ndis.BindParams(map[string]string{
//		"addr": "10.0.0.2/24", "gateway": "10.0.0.1"}))
//	l, err := s.ListenTCP(netip.MustParseAddrPort("10.0.0.2:80"))
//	c, err := s.DialTCP(ctx, netip.MustParseAddrPort("10.0.0.1:80"))
//
// A Stack is one host: every binding of its driver is one of its
// interfaces (Interface, found with Of), with addresses, routes and a
// default gateway of its own. Driver, without a Stack, makes one for the
// driver, which closes with its last interface. The stack answers pings
// and ARP itself; Ping sends an echo request, DialUDP and ListenUDP give
// UDP sockets, Listen, ListenPacket and DialContext take net's network
// strings. Addresses are numeric: the stack resolves no names.
//
// # Parameters
//
// Per binding, from ndis.BindParams; every key is optional:
//
//	addr     addresses with prefix lengths, comma-separated, as 10.0.0.2/24,fd00::2/64 (default none)
//	gateway  default gateways, at most one IPv4 and one IPv6, comma-separated (default none)
//	hold     frames held between RESET_START and RESET_END, 0…65536; more are dropped (default 1024)
//	window   send NBLs in flight or held at most, 16…65536; more are dropped (default 4096)
//
// An unknown key or a bad value fails BindAdapter with a *ndis.ParamError;
// the driver's ValidateParams (ndis.Runtime.ValidateBindParams) checks a
// map the same way. The adapter must have a MAC address; the interface
// takes its MTU and its address from the adapter (ndis.AdapterView) and
// sets the packet filter to directed, broadcast and all-multicast frames
// (directed and broadcast only, for IPv4, on a miniport that refuses it).
//
// # The datapath
//
// Each interface is a gVisor NIC over a link endpoint of this package that
// does its own Ethernet framing. The stack's packets go through the NIC's
// fifo queueing discipline, whose goroutine hands the link batches: each
// batch is copied into NBLs of the interface's ndis.Pool (window NBLs at
// most; a packet that finds none is dropped and counted, and TCP
// retransmits it) and sent as one chain, one SendNetBufferLists. The
// completions return the NBLs to the pool. Received frames are copied into
// the stack's packet buffers, the NBLs returned at once, and the packets
// delivered on the indicating goroutine. Link state indications are
// recorded and reported; the stack keeps sending while the link is down
// (the miniport loses the frames, as hardware does).
//
// # Resets
//
// Between NDIS_STATUS_RESET_START and NDIS_STATUS_RESET_END the interface
// holds what the stack sends, up to hold frames (more are dropped and
// counted; held frames occupy NBLs of the window), and sends it after
// RESET_END, in order, before anything newer. A send that completes with
// NDIS_STATUS_RESET_IN_PROGRESS, NDIS_STATUS_PAUSED or any other failure is
// never sent again: it was lost as a frame is lost on a wire, and the
// stack's TCP retransmits it. A reset does not disable the NIC, which
// would flush the neighbour cache and restart duplicate address detection.
// TCP runs without SACK: with it, gVisor's RACK loss detection recovers
// from a reset's burst of losses one segment per time-out.
//
// # Unbinding
//
// UnbindAdapter (ProtocolUnbindAdapterEx) removes the NIC, its addresses
// and routes, and aborts the connections and sockets that used it (bound
// to it or to one of its addresses, or routed through it), so that their
// readers and writers return an error instead of waiting for a peer they
// can no longer reach. A binding closed by a program (Interface.Close, or
// ndis.Binding.Close, which gets no UnbindAdapter) takes its NIC out the
// same way. Stack.Close closes every binding of the stack and aborts
// everything.
//
// # Counters
//
// An Interface is an ndis.Reporter (Binding.Details): frames sent and
// received, send completions by status, frames held by resets and dropped
// by reason, RESET_END indications, the link, and its stack's TCP
// connections, retransmits and resets. Stats and Stack.Stats give the same
// numbers to programs.
package netstack
