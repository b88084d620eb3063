// Package ndis is the Windows NDIS 6.x miniport model run in user space: the
// contract between network drivers and the programs that use them, and the
// runtime that holds them to it.
//
// A [Runtime] is the NDIS library. Miniport drivers register with it and get
// adapters (AddAdapter); protocol drivers register and are bound to adapters
// (Bind). The runtime owns each adapter's life cycle ([AdapterState]: Halted,
// Initializing, Paused, Restarting, Running, Pausing, Shutdown) on one work
// goroutine per adapter, moves chains of [NetBufferList] both ways through
// one atomic gate per batch, serialises OID requests, fans status
// indications out to every binding, resets wedged adapters, and checks every
// driver and protocol call against a verifier.
//
// # Names
//
// A Go name is the NDIS DDI's name without its Ndis, NdisM, Miniport or
// Protocol prefix and without a trailing Ex: NdisMResetMiniport is
// [Adapter.ResetMiniport], MiniportInitializeEx is
// [MiniportDriver].Initialize, ProtocolBindAdapterEx is
// [ProtocolDriver].BindAdapter. Every DDI-shaped method names its DDI in its
// doc comment. [Status], [OID] and the NDIS structures carry the values of
// the Windows headers, so a logged code can be looked up as is.
// Driver-facing calls speak Status; program-facing calls return an error
// (a Status or one of the Err sentinels, for errors.Is).
//
// # Files
//
//   - runtime.go: the Runtime, its options, registration, AddAdapter, Bind
//     and the life-cycle calls; param.go: ParamError and parameter checks.
//   - driver.go: MiniportDriver, ProtocolDriver and the handler interfaces
//     (Miniport, Resetter, HangChecker, Protocol, Unbinder).
//   - adapter.go: the Adapter handle and its work goroutine; state.go: the
//     state machine; attributes.go: SetMiniportAttributes.
//   - binding.go: the Binding handle; view.go: AdapterView, what a protocol
//     may see of its adapter.
//   - datapath.go: sends, completions, receive indications and returns, and
//     the gate; nbl.go: NetBufferList, Chain and Pool; list.go: List, the
//     one type for building chains; offload.go: per-NBL offload information
//     and NDIS_OFFLOAD_PARAMETERS.
//   - oid.go: OIDs, OidRequest and its encoders; oidqueue.go: the
//     per-adapter OID queue and the OIDs the runtime answers itself;
//     ethernet.go: PacketFilter, the one receive-filter rule.
//   - status.go: Status codes; linkstate.go: NDIS_LINK_STATE.
//   - reset.go: the reset engine; hang.go: check-for-hang and the verifier's
//     time limits; verifier.go: verifier modes and rules.
//   - event.go, stats.go, report.go: events, counters, and Reporter, through
//     which a driver shows its own counters; clock.go: the Clock every timer
//     uses.
//
// # Writing a miniport
//
// Register a [MiniportDriver]: a name, the NDIS [Version] it is written
// against (6.30 or later to call ResetMiniport), and Initialize. Initialize
// runs on the adapter's work goroutine with the adapter's parameters; it
// calls [Adapter.SetMiniportAttributes] (RegistrationAttributes for the
// check-for-hang period, GeneralAttributes for the MTU, address, link and
// filters the runtime answers OIDs from) and returns the adapter's
// [Miniport]. A bad parameter is a *[ParamError]; give the driver a
// ValidateParams so that AddAdapter and [Runtime.ValidateAdapterParams]
// refuse it before anything is created.
//
// Each handler's doc says which goroutine calls it: Halt, Pause, Restart,
// OidRequest, Reset and CheckForHang come one at a time from the work
// goroutine, sends and returns from the protocols' goroutines, concurrently.
// None is called with a runtime lock held, and none may wait for the
// runtime. Pause, Restart, OidRequest and Reset finish inline or answer
// StatusPending and complete later; every sent NBL comes back through
// SendNetBufferListsComplete, inline or later. The completions, the
// indications and ResetMiniport never block and never wait for the work
// goroutine, so a driver calls them from any goroutine (its interrupt
// goroutine, a timer), inside any handler. A send completion or a receive
// indication runs protocol handlers on the caller's goroutine, and they may
// send or return NBLs at once: make those calls without holding a lock that
// the driver's SendNetBufferLists or ReturnNetBufferLists takes.
//
// Optional interfaces on the Miniport add handlers: [Resetter]
// (MiniportResetEx), [HangChecker] (MiniportCheckForHangEx), [Shutdowner]
// and [Reporter]. Assert each at compile time,
//
//	var _ ndis.Resetter = (*miniport)(nil)
//
// so that a typo in a signature cannot make a driver silently unresettable.
// [Adapter.MiniportContext] returns the Miniport of an adapter, so a driver
// package needs no table of its own from adapters to its state.
//
// # Writing a protocol
//
// Register a [ProtocolDriver]: a name and BindAdapter, which [Runtime.Bind]
// calls with the new [Binding]. It reads its parameters (given to Bind with
// [BindParams]) from [Binding.Params], may send and issue OID requests at
// once, and returns the binding's [Protocol]; ValidateParams, optional,
// refuses bad parameters first. The Protocol's handlers are called
// concurrently and must not block. Received NBLs are the protocol's until it
// hands them back with [Binding.ReturnNetBufferLists] (with
// ReceiveFlagResources it copies what it needs instead); sent NBLs come back
// through SendNetBufferListsComplete with their Status set. A binding
// receives nothing until it sets its packet filter (a set of
// OIDGenCurrentPacketFilter); the runtime filters each binding's receives by
// its own filter and gives the miniport the union. [Binding.OidRequest]
// blocks until the miniport, or the runtime, has answered. Status brings
// StatusResetStart and StatusResetEnd around every reset, and link changes.
// [Unbinder] adds ProtocolUnbindAdapterEx; a protocol sees its adapter only
// through the read-only [AdapterView], and a program reaches the protocol
// again with [Binding.ProtocolContext].
//
// The package example is a miniport and a protocol end to end.
//
// # Resets
//
// A reset is asked for by the driver (ResetMiniport), by check-for-hang, by
// an OID that does not complete, or by an operator ([Runtime.ResetAdapter]).
// The runtime closes the gate, tells every binding RESET_START, calls Reset,
// restores the addressing OIDs, and tells RESET_END. The rules R1–R14 (what
// NDIS says, and what gondis decides where NDIS is silent) are written down
// in docs/RESET.md and carried out by reset.go.
//
// # Testing
//
// Package [github.com/gondis/gondis/ndis/ndistest] has a fake clock, a
// scriptable fake miniport, a recording protocol and a strict verifier, for
// testing a driver or a protocol without devices or root.
package ndis
