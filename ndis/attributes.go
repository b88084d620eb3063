package ndis

import (
	"errors"
	"time"
)

// MiniportAttributes is what NdisMSetMiniportAttributes takes:
// *RegistrationAttributes or *GeneralAttributes.
type MiniportAttributes interface{ miniportAttributes() }

// RegistrationAttributes is NDIS_MINIPORT_ADAPTER_REGISTRATION_ATTRIBUTES.
type RegistrationAttributes struct {
	// CheckForHangTimeInSeconds sets the check-for-hang period: 0 means
	// 2 s, and NDIS rounds it down to a multiple of 2 s (5 gives 4 s).
	CheckForHangTimeInSeconds uint32
}

// GeneralAttributes is NDIS_MINIPORT_ADAPTER_GENERAL_ATTRIBUTES. The runtime
// answers the general query OIDs from them (OIDGenMaximumFrameSize,
// OIDGenLinkState, OID8023CurrentAddress ...) as NDIS 6 does, and keeps the
// link state current from the miniport's StatusLinkState indications.
type GeneralAttributes struct {
	MtuSize                uint32 // the largest payload, without the Ethernet header; 0 means 1500
	MaxXmitLinkSpeed       uint64 // bits per second
	MaxRcvLinkSpeed        uint64
	XmitLinkSpeed          uint64
	RcvLinkSpeed           uint64
	MediaConnectState      MediaConnectState
	MediaDuplexState       MediaDuplexState
	LookaheadSize          uint32
	MacOptions             uint32
	SupportedPacketFilters uint32 // 0: every filter bit is supported
	MaxMulticastListSize   uint32 // 0 means 32
	// PermanentMacAddress and CurrentMacAddress: the zero address means the
	// adapter has none; then unicast frames are not filtered by address.
	PermanentMacAddress MacAddress
	CurrentMacAddress   MacAddress
}

func (*RegistrationAttributes) miniportAttributes() {}
func (*GeneralAttributes) miniportAttributes()      {}

// ErrAttributes is returned by SetMiniportAttributes for attributes that
// NDIS would reject.
var ErrAttributes = errors.New("ndis: invalid miniport attributes")

// Defaults of an adapter whose miniport sets no attributes.
const (
	defaultMTU                = 1500
	defaultMaxMulticastList   = 32
	defaultCheckForHangPeriod = 2 * time.Second
)

// checkForHangPeriod returns the check-for-hang period NDIS derives from
// CheckForHangTimeInSeconds: 0 means 2 s, otherwise the value rounded down to
// a multiple of 2 s, and never less than 2 s.
func checkForHangPeriod(seconds uint32) time.Duration {
	if seconds < 2 {
		return defaultCheckForHangPeriod
	}
	return time.Duration(seconds/2*2) * time.Second
}

// SetMiniportAttributes is NdisMSetMiniportAttributes. It is allowed only
// during Initialize, as in NDIS; the general attributes may be set once.
func (a *Adapter) SetMiniportAttributes(attrs MiniportAttributes) error {
	if a.afterHalt("SetMiniportAttributes") {
		return ErrAdapterHalted
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.state != AdapterInitializing {
		return errors.Join(ErrAttributes, errors.New("attributes are set only during Initialize"))
	}
	switch at := attrs.(type) {
	case *RegistrationAttributes:
		if at == nil {
			return ErrAttributes
		}
		a.registered = true
		a.hangPeriod = checkForHangPeriod(at.CheckForHangTimeInSeconds)
	case *GeneralAttributes:
		if at == nil {
			return ErrAttributes
		}
		g := *at
		if g.MtuSize == 0 {
			g.MtuSize = defaultMTU
		}
		if g.MaxMulticastListSize == 0 {
			g.MaxMulticastListSize = defaultMaxMulticastList
		}
		if g.CurrentMacAddress.IsMulticast() || g.PermanentMacAddress.IsMulticast() {
			return errors.Join(ErrAttributes, errors.New("a station address must be unicast"))
		}
		a.general, a.generalSet = g, true
		a.link = LinkState{
			MediaConnectState: g.MediaConnectState,
			MediaDuplexState:  g.MediaDuplexState,
			XmitLinkSpeed:     g.XmitLinkSpeed,
			RcvLinkSpeed:      g.RcvLinkSpeed,
		}
		a.rx.mac.Store(&g.CurrentMacAddress)
	default:
		return ErrAttributes
	}
	return nil
}
