// Package frame is the tiny wire format the traffic and echo protocols
// share: an Ethernet header, then one byte saying request or reply.
package frame

import (
	"encoding/binary"
	"errors"
	"strconv"

	"github.com/gondis/gondis/internal/inet"
	"github.com/gondis/gondis/internal/param"
	"github.com/gondis/gondis/ndis"
)

// Layout and defaults.
const (
	OpOffset         = ndis.EthernetHeaderSize // the operation byte
	MinSize          = OpOffset + 1            // a header and the operation byte
	MaxSize          = 1514                    // an untagged Ethernet frame without FCS
	DefaultEtherType = 0x88B5                  // IEEE 802 local experimental
)

// Operations.
const (
	OpRequest = 1 // sent by traffic; echo answers it
	OpReply   = 2 // sent by echo; nobody answers it
)

// Build returns a request frame of size bytes.
func Build(dst, src ndis.MacAddress, etherType uint16, size int) []byte {
	f := make([]byte, size)
	inet.PutEthernet(f, dst, src, etherType)
	f[OpOffset] = OpRequest
	return f
}

// Parse reports a frame's destination, EtherType and operation; ok is
// false for a frame too short to carry them.
func Parse(f []byte) (dst ndis.MacAddress, etherType uint16, op byte, ok bool) {
	if len(f) < MinSize {
		return dst, 0, 0, false
	}
	return ndis.MacAddress(f[0:6]), binary.BigEndian.Uint16(f[12:14]), f[OpOffset], true
}

// ParseEtherType reads an EtherType parameter: decimal or 0x-prefixed
// hexadecimal, at least 0x0600 (below that it is a length).
func ParseEtherType(v string) (uint16, error) {
	n, err := strconv.ParseUint(v, 0, 16)
	if err != nil || n < 0x0600 {
		return 0, errors.New("want an EtherType from 0x0600 to 0xffff, decimal or 0x hex")
	}
	return uint16(n), nil
}

// EtherTypeSpec declares the "ethertype" parameter of a protocol whose
// parsed parameters are a C.
func EtherTypeSpec[C any](doc string, field func(*C) *uint16) param.Spec[C] {
	return param.Spec[C]{Key: "ethertype", Doc: doc, Set: func(c *C, v string) (err error) {
		*field(c), err = ParseEtherType(v)
		return err
	}}
}
