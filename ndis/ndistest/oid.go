package ndistest

import (
	"context"
	"encoding/binary"

	"github.com/gondis/gondis/ndis"
)

// The OID helpers below issue one request through a binding
// ((*ndis.Binding).OidRequest) and block until it completes or ctx ends;
// they return the request's status, as the binding does. They are safe
// from any goroutine, and a test may run several at once.

// Query queries oid with a size-byte buffer and returns the bytes the
// miniport wrote: nil unless the status is StatusSuccess.
func Query(ctx context.Context, b *ndis.Binding, oid ndis.OID, size int) ([]byte, ndis.Status) {
	r := &ndis.OidRequest{Type: ndis.RequestQuery, OID: oid, Buffer: make([]byte, size)}
	if s := b.OidRequest(ctx, r); s != ndis.StatusSuccess {
		return nil, s
	}
	return r.Buffer[:r.BytesWritten], ndis.StatusSuccess
}

// QueryUlong queries a ULONG OID (OIDGenMaximumFrameSize ...). A success
// that wrote fewer than 4 bytes is StatusInvalidLength.
func QueryUlong(ctx context.Context, b *ndis.Binding, oid ndis.OID) (uint32, ndis.Status) {
	v, s := Query(ctx, b, oid, 4)
	if s != ndis.StatusSuccess {
		return 0, s
	}
	if len(v) < 4 {
		return 0, ndis.StatusInvalidLength
	}
	return binary.LittleEndian.Uint32(v), ndis.StatusSuccess
}

// QueryCounter queries a statistics OID (OIDGenXmitOK ...) with a
// ULONG64 buffer and reads the answer as NDIS lets a miniport give it: 8
// bytes, or a ULONG of 4. A success that wrote anything else is
// StatusInvalidLength.
func QueryCounter(ctx context.Context, b *ndis.Binding, oid ndis.OID) (uint64, ndis.Status) {
	v, s := Query(ctx, b, oid, 8)
	switch {
	case s != ndis.StatusSuccess:
		return 0, s
	case len(v) == 8:
		return binary.LittleEndian.Uint64(v), ndis.StatusSuccess
	case len(v) == 4:
		return uint64(binary.LittleEndian.Uint32(v)), ndis.StatusSuccess
	}
	return 0, ndis.StatusInvalidLength
}

// Set sets oid to buf, which the request uses as it is.
func Set(ctx context.Context, b *ndis.Binding, oid ndis.OID, buf []byte) ndis.Status {
	return b.OidRequest(ctx, &ndis.OidRequest{Type: ndis.RequestSet, OID: oid, Buffer: buf})
}

// SetUlong sets a ULONG OID to v.
func SetUlong(ctx context.Context, b *ndis.Binding, oid ndis.OID, v uint32) ndis.Status {
	return Set(ctx, b, oid, ndis.Ulong(v))
}

// SetPacketFilter sets the binding's packet filter
// (OIDGenCurrentPacketFilter) to the PacketType bits of filter.
func SetPacketFilter(ctx context.Context, b *ndis.Binding, filter uint32) ndis.Status {
	return SetUlong(ctx, b, ndis.OIDGenCurrentPacketFilter, filter)
}

// SetMulticastList sets the binding's multicast list (OID8023MulticastList)
// to list; an empty list clears it.
func SetMulticastList(ctx context.Context, b *ndis.Binding, list []ndis.MacAddress) ndis.Status {
	return Set(ctx, b, ndis.OID8023MulticastList, ndis.EncodeMulticastList(list))
}

// The Must helpers below issue the same requests for a test: each waits at
// most WaitTimeout and fails the test (Fatalf) unless the request succeeds,
// so they belong on the test's own goroutine.

// MustSet sets oid to buf, as Set does.
func MustSet(t TB, b *ndis.Binding, oid ndis.OID, buf []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
	defer cancel()
	if s := Set(ctx, b, oid, buf); s != ndis.StatusSuccess {
		t.Fatalf("ndistest: set %s: %s", oid, s)
	}
}

// MustSetPacketFilter sets the binding's packet filter, as SetPacketFilter
// does.
func MustSetPacketFilter(t TB, b *ndis.Binding, filter uint32) {
	t.Helper()
	MustSet(t, b, ndis.OIDGenCurrentPacketFilter, ndis.Ulong(filter))
}

// MustSetMulticastList sets the binding's multicast list, as
// SetMulticastList does.
func MustSetMulticastList(t TB, b *ndis.Binding, list []ndis.MacAddress) {
	t.Helper()
	MustSet(t, b, ndis.OID8023MulticastList, ndis.EncodeMulticastList(list))
}

// MustQueryCounter queries a statistics OID, as QueryCounter does, and
// returns the count.
func MustQueryCounter(t TB, b *ndis.Binding, oid ndis.OID) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), WaitTimeout)
	defer cancel()
	v, s := QueryCounter(ctx, b, oid)
	if s != ndis.StatusSuccess {
		t.Fatalf("ndistest: query %s: %s", oid, s)
	}
	return v
}
