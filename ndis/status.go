package ndis

// Status is an NDIS_STATUS: the 32-bit result code every driver-facing call
// speaks. The constants carry the real values of the Windows headers, so a
// Status logged by gondis can be looked up in NDIS documentation as is.
//
// Status implements error, so program-facing code may return it directly and
// callers may compare with errors.Is.
type Status uint32

// NDIS status codes (ndis.h, ntddndis.h). Several are NTSTATUS aliases.
const (
	StatusSuccess              Status = 0x00000000
	StatusPending              Status = 0x00000103
	StatusNotRecognized        Status = 0x00010001 // success severity
	StatusNotAccepted          Status = 0x00010003 // success severity
	StatusResetStart           Status = 0x40010004 // indication
	StatusResetEnd             Status = 0x40010005 // indication
	StatusMediaConnect         Status = 0x4001000B // NDIS 5 style indication
	StatusMediaDisconnect      Status = 0x4001000C // NDIS 5 style indication
	StatusLinkSpeedChange      Status = 0x40010013 // indication
	StatusLinkState            Status = 0x40010017 // indication, payload NDIS_LINK_STATE
	StatusBufferOverflow       Status = 0x80000005
	StatusNotResettable        Status = 0x80010001
	StatusSoftErrors           Status = 0x80010003
	StatusHardErrors           Status = 0x80010004
	StatusFailure              Status = 0xC0000001
	StatusInvalidParameter     Status = 0xC000000D
	StatusInvalidDeviceRequest Status = 0xC0000010
	StatusResources            Status = 0xC000009A
	StatusNotSupported         Status = 0xC00000BB
	StatusClosing              Status = 0xC0010002
	StatusDeviceFailed         Status = 0xC0010008
	StatusMulticastFull        Status = 0xC0010009
	StatusRequestAborted       Status = 0xC001000C
	StatusResetInProgress      Status = 0xC001000D
	StatusAdapterNotReady      Status = 0xC0010011
	StatusInvalidLength        Status = 0xC0010014
	StatusInvalidData          Status = 0xC0010015
	StatusBufferTooShort       Status = 0xC0010016
	StatusInvalidOid           Status = 0xC0010017
	StatusAdapterRemoved       Status = 0xC0010018
	StatusSendAborted          Status = 0xC023000C // STATUS_NDIS_REQUEST_ABORTED; not StatusRequestAborted
	StatusMediaDisconnected    Status = 0xC023001F // error code, not the MEDIA_DISCONNECT indication
	StatusPaused               Status = 0xC023002A
	StatusLowPowerState        Status = 0xC023002F
)

var statusNames = map[Status]string{
	StatusSuccess:              "NDIS_STATUS_SUCCESS",
	StatusPending:              "NDIS_STATUS_PENDING",
	StatusNotRecognized:        "NDIS_STATUS_NOT_RECOGNIZED",
	StatusNotAccepted:          "NDIS_STATUS_NOT_ACCEPTED",
	StatusResetStart:           "NDIS_STATUS_RESET_START",
	StatusResetEnd:             "NDIS_STATUS_RESET_END",
	StatusMediaConnect:         "NDIS_STATUS_MEDIA_CONNECT",
	StatusMediaDisconnect:      "NDIS_STATUS_MEDIA_DISCONNECT",
	StatusLinkSpeedChange:      "NDIS_STATUS_LINK_SPEED_CHANGE",
	StatusLinkState:            "NDIS_STATUS_LINK_STATE",
	StatusBufferOverflow:       "NDIS_STATUS_BUFFER_OVERFLOW",
	StatusNotResettable:        "NDIS_STATUS_NOT_RESETTABLE",
	StatusSoftErrors:           "NDIS_STATUS_SOFT_ERRORS",
	StatusHardErrors:           "NDIS_STATUS_HARD_ERRORS",
	StatusFailure:              "NDIS_STATUS_FAILURE",
	StatusInvalidParameter:     "NDIS_STATUS_INVALID_PARAMETER",
	StatusInvalidDeviceRequest: "NDIS_STATUS_INVALID_DEVICE_REQUEST",
	StatusResources:            "NDIS_STATUS_RESOURCES",
	StatusNotSupported:         "NDIS_STATUS_NOT_SUPPORTED",
	StatusClosing:              "NDIS_STATUS_CLOSING",
	StatusDeviceFailed:         "NDIS_STATUS_DEVICE_FAILED",
	StatusMulticastFull:        "NDIS_STATUS_MULTICAST_FULL",
	StatusRequestAborted:       "NDIS_STATUS_REQUEST_ABORTED",
	StatusResetInProgress:      "NDIS_STATUS_RESET_IN_PROGRESS",
	StatusAdapterNotReady:      "NDIS_STATUS_ADAPTER_NOT_READY",
	StatusInvalidLength:        "NDIS_STATUS_INVALID_LENGTH",
	StatusInvalidData:          "NDIS_STATUS_INVALID_DATA",
	StatusBufferTooShort:       "NDIS_STATUS_BUFFER_TOO_SHORT",
	StatusInvalidOid:           "NDIS_STATUS_INVALID_OID",
	StatusAdapterRemoved:       "NDIS_STATUS_ADAPTER_REMOVED",
	StatusSendAborted:          "NDIS_STATUS_SEND_ABORTED",
	StatusMediaDisconnected:    "NDIS_STATUS_MEDIA_DISCONNECTED",
	StatusPaused:               "NDIS_STATUS_PAUSED",
	StatusLowPowerState:        "NDIS_STATUS_LOW_POWER_STATE",
}

// String returns the NDIS name of the status, or its value in hexadecimal
// when gondis does not know the code.
func (s Status) String() string { return nameOf(statusNames, s, "NDIS_STATUS") }

// Error makes Status an error; the text is the NDIS name.
func (s Status) Error() string { return s.String() }

// IsSuccess reports whether s has success or informational severity, as the
// NT_SUCCESS macro does: the two top bits are 00 or 01. Warning codes such
// as StatusSoftErrors are not success by this test, though a reset that
// ends with one succeeded (docs/RESET.md, R8).
func (s Status) IsSuccess() bool { return s>>30 <= 1 }

// IsError reports whether s has error severity (the two top bits are 11).
func (s Status) IsError() bool { return s>>30 == 3 }
