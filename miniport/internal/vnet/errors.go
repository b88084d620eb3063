package vnet

import "errors"

// The sentinels every error of the package wraps; callers test with
// errors.Is.
var (
	// ErrMalformed: the frame or the virtio header contradicts itself
	// (truncated, a header length that lies, an offset out of the frame).
	ErrMalformed = errors.New("vnet: malformed packet")
	// ErrUnsupported: a well-formed packet this package does not handle
	// (UFO, IPv6 extension headers, stacked VLAN tags, or, from
	// PrepareSend, a frame the kernel cannot take with offload). A sender
	// falls back to SegmentSend where it can.
	ErrUnsupported = errors.New("vnet: unsupported packet")
	// ErrShortBuffer: a destination has too few buffers or one is too
	// small.
	ErrShortBuffer = errors.New("vnet: buffer too small")
)

// packetError says what is wrong and wraps one of the sentinels. The
// package's errors are made once, so that failing is as free of
// allocations as succeeding.
type packetError struct {
	msg  string
	kind error
}

func (e *packetError) Error() string { return "vnet: " + e.msg }
func (e *packetError) Unwrap() error { return e.kind }

func malformed(msg string) error   { return &packetError{msg, ErrMalformed} }
func unsupported(msg string) error { return &packetError{msg, ErrUnsupported} }
func short(msg string) error       { return &packetError{msg, ErrShortBuffer} }

var (
	errShortHeader   = malformed("virtio header shorter than 10 bytes")
	errShortFrame    = malformed("frame truncated")
	errIPVersion     = malformed("IP version does not match the ethertype")
	errIHL           = malformed("IPv4 header length below 20 bytes")
	errIPLength      = malformed("IP length beyond the frame")
	errFragment      = malformed("transport offload of an IP fragment")
	errTCPOffset     = malformed("TCP data offset below 20 bytes")
	errPadding       = malformed("frame longer than its IP packet")
	errCsumOffsets   = malformed("checksum offsets beyond the frame")
	errCsumStart     = malformed("checksum offsets do not match the transport header")
	errGSOSize       = malformed("GSO size is 0")
	errGSOMismatch   = malformed("GSO type does not match the packet")
	errSegmentLength = malformed("segment too long for the IP length field")
	errOffloadIP     = malformed("offload IP version does not match the frame")
	errOffloadIPv6   = malformed("IPv4 header checksum requested for IPv6")
	errOffloadProto  = malformed("offload transport protocol does not match the frame")
	errOffloadBoth   = malformed("offload asks for both TCP and UDP")
	errOffloadOffset = malformed("transport header offset does not match the frame")
	errMSS           = malformed("MSS out of 1…65535")

	errNotIP      = unsupported("ethertype is neither IPv4 nor IPv6")
	errStackedTag = unsupported("more than one VLAN tag")
	errTransport  = unsupported("IP protocol is neither TCP nor UDP (or IPv6 extension headers)")
	errUFO        = unsupported("UDP fragmentation offload (GSO type 3)")
	errGSOType    = unsupported("unknown GSO type")
	errTooLong    = unsupported("IP packet longer than its length field can say")
	errPadded     = unsupported("checksum offload of a padded frame")

	errHeaderBuf  = short("virtio header needs 10 bytes")
	errFewBuffers = short("fewer buffers than segments")
	errSmallBuf   = short("buffer smaller than the segment")
)
