// Package frame is the tiny wire format the traffic and echo protocols
// share: an Ethernet header, then one byte saying request or reply.
package frame

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"

	"github.com/gondis/gondis/ndis"
)

// Layout and defaults.
const (
	HeaderSize       = 14     // destination, source, EtherType
	OpOffset         = 14     // the operation byte
	MinSize          = 15     // a header and the operation byte
	MaxSize          = 1514   // an untagged Ethernet frame without FCS
	DefaultEtherType = 0x88B5 // IEEE 802 local experimental
)

// Operations.
const (
	OpRequest = 1 // sent by traffic; echo answers it
	OpReply   = 2 // sent by echo; nobody answers it
)

// Build returns a request frame of size bytes.
func Build(dst, src ndis.MacAddress, etherType uint16, size int) []byte {
	f := make([]byte, size)
	copy(f[0:6], dst[:])
	copy(f[6:12], src[:])
	binary.BigEndian.PutUint16(f[12:14], etherType)
	f[OpOffset] = OpRequest
	return f
}

// Parse reports a frame's destination, EtherType and operation; ok is
// false for a frame too short to carry them.
func Parse(f []byte) (dst ndis.MacAddress, etherType uint16, op byte, ok bool) {
	if len(f) < MinSize {
		return dst, 0, 0, false
	}
	copy(dst[:], f[0:6])
	return dst, binary.BigEndian.Uint16(f[12:14]), f[OpOffset], true
}

// SetFilter sets the binding's packet filter to directed and broadcast,
// blocking until the miniport answers or ctx ends.
func SetFilter(ctx context.Context, b *ndis.Binding) error {
	r := &ndis.OidRequest{Type: ndis.RequestSet, OID: ndis.OIDGenCurrentPacketFilter,
		Buffer: ndis.Ulong(ndis.PacketTypeDirected | ndis.PacketTypeBroadcast)}
	if s := b.OidRequest(ctx, r); s != ndis.StatusSuccess {
		return fmt.Errorf("set %s: %w", ndis.OIDGenCurrentPacketFilter, s)
	}
	return nil
}

// ParseEtherType reads an EtherType parameter: decimal or 0x-prefixed
// hexadecimal, at least 0x0600 (below that it is a length).
func ParseEtherType(v string) (uint16, error) {
	n, err := strconv.ParseUint(v, 0, 16)
	if err != nil || n < 0x0600 {
		return 0, fmt.Errorf("ethertype %q: want 0x0600…0xffff", v)
	}
	return uint16(n), nil
}
