package ndis

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"

	"github.com/gondis/gondis/internal/enum"
)

// OID is an NDIS object identifier (NDIS_OID).
type OID uint32

// Object identifiers (ntddndis.h).
const (
	OIDGenMaximumLookahead     OID = 0x00010105
	OIDGenMaximumFrameSize     OID = 0x00010106
	OIDGenLinkSpeed            OID = 0x00010107
	OIDGenCurrentPacketFilter  OID = 0x0001010E
	OIDGenCurrentLookahead     OID = 0x0001010F
	OIDGenMaximumTotalSize     OID = 0x00010111
	OIDGenMacOptions           OID = 0x00010113
	OIDGenMediaConnectStatus   OID = 0x00010114
	OIDGenLinkState            OID = 0x00010207
	OIDGenLinkParameters       OID = 0x00010208
	OIDGenMediaConnectStatusEx OID = 0x0001028A
	OIDGenLinkSpeedEx          OID = 0x0001028B
	OIDGenXmitOK               OID = 0x00020101 // frames sent without error
	OIDGenRcvOK                OID = 0x00020102 // frames received without error
	OIDGenXmitError            OID = 0x00020103 // frames not sent: an error, an abort
	OIDGenRcvError             OID = 0x00020104 // frames received with an error
	OIDGenRcvNoBuffer          OID = 0x00020105 // frames dropped: no receive buffer free
	OIDGenResetCounts          OID = 0x00020214
	OID8023PermanentAddress    OID = 0x01010101
	OID8023CurrentAddress      OID = 0x01010102
	OID8023MulticastList       OID = 0x01010103
	OID8023MaximumListSize     OID = 0x01010104
	OIDOffloadEncapsulation    OID = 0x0101010A
	OIDPnpAddWakeUpPattern     OID = 0xFD010103
	OIDPmAddWolPattern         OID = 0xFD01010A
	OIDTCPOffloadParameters    OID = 0xFC01020C // set: NDIS_OFFLOAD_PARAMETERS
)

var oidNames = map[OID]string{
	OIDGenMaximumLookahead:     "OID_GEN_MAXIMUM_LOOKAHEAD",
	OIDGenMaximumFrameSize:     "OID_GEN_MAXIMUM_FRAME_SIZE",
	OIDGenLinkSpeed:            "OID_GEN_LINK_SPEED",
	OIDGenCurrentPacketFilter:  "OID_GEN_CURRENT_PACKET_FILTER",
	OIDGenCurrentLookahead:     "OID_GEN_CURRENT_LOOKAHEAD",
	OIDGenMaximumTotalSize:     "OID_GEN_MAXIMUM_TOTAL_SIZE",
	OIDGenMacOptions:           "OID_GEN_MAC_OPTIONS",
	OIDGenMediaConnectStatus:   "OID_GEN_MEDIA_CONNECT_STATUS",
	OIDGenLinkState:            "OID_GEN_LINK_STATE",
	OIDGenLinkParameters:       "OID_GEN_LINK_PARAMETERS",
	OIDGenMediaConnectStatusEx: "OID_GEN_MEDIA_CONNECT_STATUS_EX",
	OIDGenLinkSpeedEx:          "OID_GEN_LINK_SPEED_EX",
	OIDGenXmitOK:               "OID_GEN_XMIT_OK",
	OIDGenRcvOK:                "OID_GEN_RCV_OK",
	OIDGenXmitError:            "OID_GEN_XMIT_ERROR",
	OIDGenRcvError:             "OID_GEN_RCV_ERROR",
	OIDGenRcvNoBuffer:          "OID_GEN_RCV_NO_BUFFER",
	OIDGenResetCounts:          "OID_GEN_RESET_COUNTS",
	OID8023PermanentAddress:    "OID_802_3_PERMANENT_ADDRESS",
	OID8023CurrentAddress:      "OID_802_3_CURRENT_ADDRESS",
	OID8023MulticastList:       "OID_802_3_MULTICAST_LIST",
	OID8023MaximumListSize:     "OID_802_3_MAXIMUM_LIST_SIZE",
	OIDOffloadEncapsulation:    "OID_OFFLOAD_ENCAPSULATION",
	OIDPnpAddWakeUpPattern:     "OID_PNP_ADD_WAKE_UP_PATTERN",
	OIDPmAddWolPattern:         "OID_PM_ADD_WOL_PATTERN",
	OIDTCPOffloadParameters:    "OID_TCP_OFFLOAD_PARAMETERS",
}

// String returns the NDIS name of the OID, or its value in hexadecimal.
func (o OID) String() string { return nameOf(oidNames, o, "OID") }

// nameOf returns the NDIS name of a code from its table, or the code in
// hexadecimal after prefix.
func nameOf[T ~uint32](names map[T]string, v T, prefix string) string {
	if n, ok := names[v]; ok {
		return n
	}
	return fmt.Sprintf("%s(0x%08X)", prefix, uint32(v))
}

// Packet filter bits (NDIS_PACKET_TYPE_*), the ULONG carried by
// OIDGenCurrentPacketFilter.
const (
	PacketTypeDirected      uint32 = 0x00000001
	PacketTypeMulticast     uint32 = 0x00000002
	PacketTypeAllMulticast  uint32 = 0x00000004
	PacketTypeBroadcast     uint32 = 0x00000008
	PacketTypeSourceRouting uint32 = 0x00000010
	PacketTypePromiscuous   uint32 = 0x00000020
	PacketTypeSMT           uint32 = 0x00000040
	PacketTypeAllLocal      uint32 = 0x00000080
	PacketTypeGroup         uint32 = 0x00001000
	PacketTypeAllFunctional uint32 = 0x00002000
	PacketTypeFunctional    uint32 = 0x00004000
	PacketTypeMacFrame      uint32 = 0x00008000
	PacketTypeNoLocal       uint32 = 0x00010000
)

// RequestType is NDIS_REQUEST_TYPE, with the values of the Windows headers.
type RequestType uint8

// Request types.
const (
	RequestQuery  RequestType = 0  // NdisRequestQueryInformation
	RequestSet    RequestType = 1  // NdisRequestSetInformation
	RequestMethod RequestType = 12 // NdisRequestMethod
)

var requestTypeNames = [...]string{RequestQuery: "Query", RequestSet: "Set", RequestMethod: "Method"}

func (t RequestType) String() string { return enum.Name(requestTypeNames[:], t, "RequestType") }

// OidRequest is an NDIS_OID_REQUEST: a query, set or method request for one
// OID. Buffer is the InformationBuffer, in NDIS's own layout (little-endian
// ULONGs; a multicast list as consecutive 6-byte addresses). For a query the
// miniport writes into Buffer[:BytesWritten]; when Buffer is too short it
// answers StatusBufferTooShort (query) or StatusInvalidLength (set) and sets
// BytesNeeded.
//
// A protocol keeps ownership of the OidRequest it passes to
// (*Binding).OidRequest: the runtime hands the miniport a copy of its own and
// copies the results back, so a caller that gave up (its context ended) may
// reuse its request at once.
type OidRequest struct {
	Type         RequestType
	OID          OID
	Buffer       []byte // InformationBuffer
	BytesWritten int    // BytesWritten (query) or BytesRead (set)
	BytesNeeded  int
}

func (r *OidRequest) String() string {
	return fmt.Sprintf("%s %s (%d bytes)", r.Type, r.OID, len(r.Buffer))
}

// Ulong decodes the 4-byte little-endian ULONG at the start of a set
// request's buffer. When the buffer is too short it sets BytesNeeded and
// returns StatusInvalidLength, which the caller returns as the request's
// status.
func (r *OidRequest) Ulong() (uint32, Status) {
	if len(r.Buffer) < 4 {
		r.BytesNeeded = 4
		return 0, StatusInvalidLength
	}
	r.BytesWritten = 4
	return binary.LittleEndian.Uint32(r.Buffer), StatusSuccess
}

// PacketFilter decodes a set of OIDGenCurrentPacketFilter for a miniport
// whose hardware knows the supported filter bits: StatusInvalidLength with
// BytesNeeded for a short buffer, StatusNotSupported for a bit it does not
// know.
func (r *OidRequest) PacketFilter(supported uint32) (uint32, Status) {
	v, s := r.Ulong()
	if s == StatusSuccess && v&^supported != 0 {
		return 0, StatusNotSupported
	}
	return v, s
}

// MulticastList decodes a set of OID8023MulticastList for a miniport whose
// hardware holds at most max addresses: StatusInvalidLength (BytesNeeded
// the nearest whole list) for a ragged buffer, StatusInvalidData for a
// unicast address, StatusMulticastFull for too many.
func (r *OidRequest) MulticastList(max int) ([]MacAddress, Status) {
	if len(r.Buffer)%6 == 0 && len(r.Buffer)/6 > max {
		return nil, StatusMulticastFull // before decoding a list of any length
	}
	list, s := DecodeMulticastList(r.Buffer)
	switch {
	case s == StatusInvalidLength:
		r.BytesNeeded = len(r.Buffer) / 6 * 6
		return nil, s
	case s != StatusSuccess:
		return nil, s
	}
	r.BytesWritten = len(r.Buffer)
	return list, StatusSuccess
}

// PutUlong answers a query with a 4-byte little-endian ULONG. When the
// buffer is too short it sets BytesNeeded and returns StatusBufferTooShort.
func (r *OidRequest) PutUlong(v uint32) Status {
	if len(r.Buffer) < 4 {
		r.BytesNeeded = 4
		return StatusBufferTooShort
	}
	binary.LittleEndian.PutUint32(r.Buffer, v)
	r.BytesWritten = 4
	return StatusSuccess
}

// PutBytes answers a query with b copied into the buffer, or
// StatusBufferTooShort with BytesNeeded when it does not fit.
func (r *OidRequest) PutBytes(b []byte) Status {
	if len(r.Buffer) < len(b) {
		r.BytesNeeded = len(b)
		return StatusBufferTooShort
	}
	r.BytesWritten = copy(r.Buffer, b)
	return StatusSuccess
}

// PutCounter answers a statistics query (OIDGenXmitOK ...) as NDIS asks: a
// ULONG64 when the buffer holds one, else the low 32 bits as a ULONG with
// BytesNeeded 8, to say the full value is wider; StatusBufferTooShort below
// 4 bytes.
func (r *OidRequest) PutCounter(v uint64) Status {
	if len(r.Buffer) >= 8 {
		binary.LittleEndian.PutUint64(r.Buffer, v)
		r.BytesWritten = 8
		return StatusSuccess
	}
	s := r.PutUlong(uint32(v))
	r.BytesNeeded = 8
	return s
}

// MacAddress is an IEEE 802 MAC address as NDIS carries it in OID buffers.
type MacAddress [6]byte

// String formats the address as aa:bb:cc:dd:ee:ff.
func (m MacAddress) String() string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// IsMulticast reports whether the group bit of the address is set
// (broadcast is a multicast address too).
func (m MacAddress) IsMulticast() bool { return m[0]&1 == 1 }

// ParseStationAddress parses a station address as drivers take it from
// their parameters: a 48-bit address in any form net.ParseMAC reads, unicast
// and not zero. The error says what is wrong, for the driver's own
// parameter error.
func ParseStationAddress(s string) (MacAddress, error) {
	hw, err := net.ParseMAC(s)
	switch {
	case err != nil:
		return MacAddress{}, errors.New("not a MAC address")
	case len(hw) != 6:
		return MacAddress{}, errors.New("not a 48-bit MAC address")
	case hw[0]&1 != 0:
		return MacAddress{}, errors.New("a multicast address; the station address must be unicast")
	case MacAddress(hw) == MacAddress{}:
		return MacAddress{}, errors.New("the zero address")
	}
	return MacAddress(hw), nil
}

// BroadcastAddress is ff:ff:ff:ff:ff:ff.
var BroadcastAddress = MacAddress{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// DecodeMulticastList decodes an OID_802_3_MULTICAST_LIST buffer: zero or more
// consecutive 6-byte addresses, each of which must be a multicast address.
// A length that is not a multiple of 6 gives StatusInvalidLength; a unicast
// address gives StatusInvalidData.
func DecodeMulticastList(b []byte) ([]MacAddress, Status) {
	if len(b)%6 != 0 {
		return nil, StatusInvalidLength
	}
	list := make([]MacAddress, len(b)/6)
	for i := range list {
		copy(list[i][:], b[i*6:])
		if !list[i].IsMulticast() {
			return nil, StatusInvalidData
		}
	}
	return list, StatusSuccess
}

// EncodeMulticastList is the inverse of DecodeMulticastList.
func EncodeMulticastList(list []MacAddress) []byte {
	b := make([]byte, 0, 6*len(list))
	for _, m := range list {
		b = append(b, m[:]...)
	}
	return b
}

// Ulong returns v as a 4-byte little-endian buffer, for set requests.
func Ulong(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
