package kit

import "github.com/gondis/gondis/ndis"

// Ethernet describes an Ethernet adapter for GeneralAttributes.
type Ethernet struct {
	MTU       int
	MAC       ndis.MacAddress
	LinkSpeed uint64 // bits per second, both directions
	Connected bool   // media connected at start
	// Filters are the packet filter bits the hardware filter knows; 0
	// means every bit.
	Filters       uint32
	MulticastList int // the hardware multicast list's size
}

// HardwareFilters are the packet filter bits gondis's miniports filter on:
// directed, multicast, all-multicast, broadcast and promiscuous.
const HardwareFilters = ndis.PacketTypeDirected | ndis.PacketTypeMulticast |
	ndis.PacketTypeAllMulticast | ndis.PacketTypeBroadcast | ndis.PacketTypePromiscuous

// GeneralAttributes returns the general attributes of a full-duplex
// Ethernet adapter: the MTU and lookahead, the address as both permanent
// and current, the link speed both ways, and the filter limits.
func (e Ethernet) GeneralAttributes() *ndis.GeneralAttributes {
	state := ndis.MediaConnectStateDisconnected
	if e.Connected {
		state = ndis.MediaConnectStateConnected
	}
	return &ndis.GeneralAttributes{
		MtuSize:                uint32(e.MTU),
		MaxXmitLinkSpeed:       e.LinkSpeed,
		MaxRcvLinkSpeed:        e.LinkSpeed,
		XmitLinkSpeed:          e.LinkSpeed,
		RcvLinkSpeed:           e.LinkSpeed,
		MediaConnectState:      state,
		MediaDuplexState:       ndis.MediaDuplexStateFull,
		LookaheadSize:          uint32(e.MTU),
		SupportedPacketFilters: e.Filters,
		MaxMulticastListSize:   uint32(e.MulticastList),
		PermanentMacAddress:    e.MAC,
		CurrentMacAddress:      e.MAC,
	}
}

// SetAttributes sets registration attributes (check-for-hang every
// hangSeconds; 0 means NDIS's 2 s) and e's general attributes: the
// attribute calls of a MiniportInitializeEx.
func SetAttributes(a *ndis.Adapter, hangSeconds uint32, e Ethernet) error {
	if err := a.SetMiniportAttributes(&ndis.RegistrationAttributes{CheckForHangTimeInSeconds: hangSeconds}); err != nil {
		return err
	}
	return a.SetMiniportAttributes(e.GeneralAttributes())
}
