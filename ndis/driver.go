package ndis

import "fmt"

// Version is an NDIS version a driver is written against.
type Version struct{ Major, Minor uint8 }

// NDIS versions that change what the runtime does for a driver.
var (
	Version60  = Version{6, 0}
	Version620 = Version{6, 20}
	Version630 = Version{6, 30} // NdisMResetMiniport; sends and OIDs completed by reset
	Version683 = Version{6, 83}
)

// Less reports whether v is an older version than w.
func (v Version) Less(w Version) bool {
	return v.Major < w.Major || v.Major == w.Major && v.Minor < w.Minor
}

func (v Version) String() string { return fmt.Sprintf("%d.%d", v.Major, v.Minor) }

// MiniportDriver is what NdisMRegisterMiniportDriver registers: a driver
// name, the NDIS version it is written against, and its
// MiniportInitializeEx.
type MiniportDriver struct {
	Name    string
	Version Version
	// Initialize is MiniportInitializeEx. It runs on the adapter's work
	// goroutine, may call a.SetMiniportAttributes, and returns the
	// adapter's Miniport, or an error (a Status, for preference) that
	// leaves the adapter Halted. It must not wait for the runtime.
	Initialize func(a *Adapter, p InitParameters) (Miniport, error)
	// ValidateParams, optional, checks an adapter's parameters without
	// creating anything: nil, or a *ParamError for the first bad key in
	// sorted order. AddAdapter calls it before Initialize, and programs
	// call it (Runtime.ValidateAdapterParams) to check a configuration
	// before anything starts. It must not keep the map.
	ValidateParams func(params map[string]string) error
}

// InitParameters are the adapter's configuration: its name and the
// driver's parameters from AddAdapter (the registry keywords of NDIS).
type InitParameters struct {
	Name   string
	Params map[string]string
}

// HaltAction is NDIS_HALT_ACTION: why an adapter is halted.
type HaltAction uint32

// Halt actions.
const (
	HaltDeviceDisabled              HaltAction = 0
	HaltDeviceInstanceDeInitialized HaltAction = 1
	HaltDevicePoweredDown           HaltAction = 2
	HaltDeviceSurpriseRemoved       HaltAction = 3
	HaltDeviceFailed                HaltAction = 4
	HaltDeviceInitializationFailed  HaltAction = 5
	HaltDeviceStopped               HaltAction = 6
)

var haltActionNames = [...]string{"Disabled", "InstanceDeInitialized", "PoweredDown", "SurpriseRemoved", "Failed", "InitializationFailed", "Stopped"}

func (h HaltAction) String() string {
	if int(h) < len(haltActionNames) {
		return "NdisHaltDevice" + haltActionNames[h]
	}
	return fmt.Sprintf("HaltAction(%d)", uint32(h))
}

// Miniport is the set of MiniportXxx handlers of one adapter. The runtime
// calls Halt, Pause, Restart and OidRequest on the adapter's work goroutine,
// one at a time; SendNetBufferLists and ReturnNetBufferLists on the
// protocols' goroutines, concurrently with everything else, as NDIS does
// for a deserialized miniport.
//
// Every call may complete its work inline (inside the call) or later from
// any goroutine through the matching *Adapter completion method.
type Miniport interface {
	// Halt is MiniportHaltEx. It is called only from Paused, with no sends
	// or OIDs outstanding. After it returns, the adapter handle is dead.
	Halt(action HaltAction)
	// Pause is MiniportPause: StatusSuccess, or StatusPending and later
	// a.PauseComplete(). Pause cannot fail. The miniport completes every
	// send it holds before the pause completes.
	Pause() Status
	// Restart is MiniportRestart: StatusSuccess, a failure (the adapter
	// stays Paused), or StatusPending and later a.RestartComplete(s).
	Restart() Status
	// SendNetBufferLists is MiniportSendNetBufferLists. The miniport owns
	// the chain until it completes every NBL of it, exactly once, through
	// a.SendNetBufferListsComplete (in any grouping). It must not block.
	SendNetBufferLists(l *NetBufferList)
	// ReturnNetBufferLists is MiniportReturnNetBufferLists: NBLs that the
	// miniport indicated come back to it. It must not block.
	ReturnNetBufferLists(l *NetBufferList)
	// OidRequest is MiniportOidRequest: a status, or StatusPending and later
	// a.OidRequestComplete(r, s). The request is the runtime's; the
	// miniport may keep it until it completes it.
	OidRequest(r *OidRequest) Status
}

// Resetter is the optional MiniportResetEx handler. Reset runs on the
// adapter's work goroutine. It returns the reset's status, or StatusPending
// and later a.ResetComplete(s, addressingReset). addressingReset asks the
// runtime to set the packet filter, multicast list, offload encapsulation
// and wake-up patterns again. Before the reset completes the miniport
// completes every send and OID it holds (NDIS 6.30).
type Resetter interface {
	Reset() (addressingReset bool, s Status)
}

// HangChecker is the optional MiniportCheckForHangEx handler, called on the
// work goroutine every check-for-hang period. True asks for a reset.
type HangChecker interface {
	CheckForHang() bool
}

// ProtocolDriver is what NdisRegisterProtocolDriver registers.
type ProtocolDriver struct {
	Name string
	// BindAdapter is ProtocolBindAdapterEx. It is called on the goroutine
	// that called Runtime.Bind. The binding is open for OID requests
	// during the call; receive and status indications start once it has
	// returned its Protocol.
	BindAdapter func(b *Binding) (Protocol, error)
	// ValidateParams, optional, checks a binding's parameters (BindParams)
	// as MiniportDriver.ValidateParams does an adapter's.
	ValidateParams func(params map[string]string) error
}

// Protocol is the set of ProtocolXxx handlers of one binding. The runtime
// calls them on the goroutines of the miniport's completions and
// indications, concurrently; they must not block.
type Protocol interface {
	// ReceiveNetBufferLists is ProtocolReceiveNetBufferLists. Unless flags
	// has ReceiveFlagResources, the protocol owns the NBLs until it hands
	// them back with b.ReturnNetBufferLists; with it, it must copy what it
	// needs before returning and not return them.
	ReceiveNetBufferLists(l *NetBufferList, flags ReceiveFlags)
	// SendNetBufferListsComplete is ProtocolSendNetBufferListsComplete:
	// NBLs the protocol sent come back with their Status set.
	SendNetBufferListsComplete(l *NetBufferList)
	// Status is ProtocolStatusEx: StatusResetStart, StatusResetEnd (payload:
	// the reset's final status, 4 bytes little-endian), StatusLinkState
	// (payload: an NDIS_LINK_STATE) and any indication of the miniport.
	// The payload is valid only during the call.
	Status(code Status, payload []byte)
}

// Unbinder is the optional ProtocolUnbindAdapterEx handler: the runtime
// calls it when the adapter goes away (RemoveAdapter, a failed adapter,
// Close), after the adapter is paused and before it is halted. The runtime
// closes the binding itself after it returns.
type Unbinder interface {
	UnbindAdapter()
}

// ReceiveFlags are the NDIS_RECEIVE_FLAGS_* of a receive indication.
type ReceiveFlags uint32

// Receive flags.
const (
	ReceiveFlagDispatchLevel   ReceiveFlags = 0x0001
	ReceiveFlagResources       ReceiveFlags = 0x0002 // the protocol must not keep the NBLs
	ReceiveFlagSingleEtherType ReceiveFlags = 0x0100
	ReceiveFlagSingleVlan      ReceiveFlags = 0x0200
	ReceiveFlagPerfectFiltered ReceiveFlags = 0x0400
	ReceiveFlagSingleQueue     ReceiveFlags = 0x0800
	ReceiveFlagMoreNBLs        ReceiveFlags = 0x2000
)
