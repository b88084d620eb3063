package ndis

import (
	"encoding/binary"

	"github.com/gondis/gondis/internal/enum"
)

// MediaConnectState is NET_IF_MEDIA_CONNECT_STATE.
type MediaConnectState uint32

// Media connect states.
const (
	MediaConnectStateUnknown      MediaConnectState = 0
	MediaConnectStateConnected    MediaConnectState = 1
	MediaConnectStateDisconnected MediaConnectState = 2
)

var mediaConnectStateNames = [...]string{MediaConnectStateUnknown: "Unknown", MediaConnectStateConnected: "Connected", MediaConnectStateDisconnected: "Disconnected"}

func (s MediaConnectState) String() string {
	return enum.Name(mediaConnectStateNames[:], s, "MediaConnectState")
}

// MediaDuplexState is NET_IF_MEDIA_DUPLEX_STATE.
type MediaDuplexState uint32

// Media duplex states.
const (
	MediaDuplexStateUnknown MediaDuplexState = 0
	MediaDuplexStateHalf    MediaDuplexState = 1
	MediaDuplexStateFull    MediaDuplexState = 2
)

// PauseFunctions is NDIS_SUPPORTED_PAUSE_FUNCTIONS.
type PauseFunctions uint32

// Pause functions.
const (
	PauseFunctionsUnsupported    PauseFunctions = 0
	PauseFunctionsSendOnly       PauseFunctions = 1
	PauseFunctionsReceiveOnly    PauseFunctions = 2
	PauseFunctionsSendAndReceive PauseFunctions = 3
	PauseFunctionsUnknown        PauseFunctions = 4
)

// LinkSpeedUnknown is NDIS_LINK_SPEED_UNKNOWN.
const LinkSpeedUnknown = ^uint64(0)

// NDIS_OBJECT_HEADER values of an NDIS_LINK_STATE.
const (
	objectTypeDefault  = 0x80 // NDIS_OBJECT_TYPE_DEFAULT
	linkStateRevision1 = 1    // NDIS_LINK_STATE_REVISION_1
	LinkStateSize      = 40   // NDIS_SIZEOF_LINK_STATE_REVISION_1
)

// LinkState is NDIS_LINK_STATE: the payload of a StatusLinkState indication
// and the answer to OIDGenLinkState. Speeds are in bits per second.
type LinkState struct {
	MediaConnectState    MediaConnectState
	MediaDuplexState     MediaDuplexState
	XmitLinkSpeed        uint64
	RcvLinkSpeed         uint64
	PauseFunctions       PauseFunctions
	AutoNegotiationFlags uint32
}

// Marshal encodes the link state in the 40-byte x64 layout of NDIS_LINK_STATE
// revision 1, object header included.
func (l LinkState) Marshal() []byte {
	b := make([]byte, LinkStateSize)
	b[0], b[1] = objectTypeDefault, linkStateRevision1
	binary.LittleEndian.PutUint16(b[2:], LinkStateSize)
	binary.LittleEndian.PutUint32(b[4:], uint32(l.MediaConnectState))
	binary.LittleEndian.PutUint32(b[8:], uint32(l.MediaDuplexState))
	binary.LittleEndian.PutUint64(b[16:], l.XmitLinkSpeed)
	binary.LittleEndian.PutUint64(b[24:], l.RcvLinkSpeed)
	binary.LittleEndian.PutUint32(b[32:], uint32(l.PauseFunctions))
	binary.LittleEndian.PutUint32(b[36:], l.AutoNegotiationFlags)
	return b
}

// ParseLinkState decodes an NDIS_LINK_STATE. It checks the object header
// (type NDIS_OBJECT_TYPE_DEFAULT, revision 1 or later, a size that covers
// revision 1) and returns StatusInvalidLength or StatusInvalidData when the
// buffer is not a link state.
func ParseLinkState(b []byte) (LinkState, Status) {
	if len(b) < LinkStateSize {
		return LinkState{}, StatusInvalidLength
	}
	size := int(binary.LittleEndian.Uint16(b[2:]))
	if b[0] != objectTypeDefault || b[1] < linkStateRevision1 || size < LinkStateSize || size > len(b) {
		return LinkState{}, StatusInvalidData
	}
	return LinkState{
		MediaConnectState:    MediaConnectState(binary.LittleEndian.Uint32(b[4:])),
		MediaDuplexState:     MediaDuplexState(binary.LittleEndian.Uint32(b[8:])),
		XmitLinkSpeed:        binary.LittleEndian.Uint64(b[16:]),
		RcvLinkSpeed:         binary.LittleEndian.Uint64(b[24:]),
		PauseFunctions:       PauseFunctions(binary.LittleEndian.Uint32(b[32:])),
		AutoNegotiationFlags: binary.LittleEndian.Uint32(b[36:]),
	}, StatusSuccess
}
