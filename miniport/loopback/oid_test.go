package loopback_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/gondis/gondis/miniport/loopback"
	"github.com/gondis/gondis/ndis"
)

// captureDriver is the loopback driver under another name, which hands the
// test the Miniport its Initialize returns.
func captureDriver(name string, got *ndis.Miniport) ndis.MiniportDriver {
	d := loopback.Driver()
	init := d.Initialize
	d.Name = name
	d.Initialize = func(a *ndis.Adapter, p ndis.InitParameters) (ndis.Miniport, error) {
		mp, err := init(a, p)
		*got = mp
		return mp, err
	}
	return d
}

func TestOIDs(t *testing.T) {
	var mp ndis.Miniport
	rt := newRuntime(t, captureDriver("loopback-capture", &mp))
	if _, err := rt.AddAdapter(context.Background(), "loop0", "loopback-capture", nil); err != nil {
		t.Fatal(err)
	}
	r := bind(t, rt, "rec")

	cases := []struct {
		name       string
		typ        ndis.RequestType
		oid        ndis.OID
		buf        []byte
		status     ndis.Status
		written    int
		needed     int
		throughMp  bool // ask the miniport directly: the runtime screens these
		wantBuffer []byte
	}{
		{name: "unknown query", typ: ndis.RequestQuery, oid: 0x00010203, buf: make([]byte, 64), status: ndis.StatusInvalidOid},
		{name: "unknown set", typ: ndis.RequestSet, oid: 0x00010203, buf: make([]byte, 4), status: ndis.StatusInvalidOid},
		{name: "set of a statistic", typ: ndis.RequestSet, oid: ndis.OIDGenXmitOK, buf: make([]byte, 8), status: ndis.StatusInvalidOid},
		{name: "method", typ: ndis.RequestMethod, oid: ndis.OIDGenXmitOK, buf: make([]byte, 8), status: ndis.StatusInvalidOid},
		{name: "xmit ok 64-bit", typ: ndis.RequestQuery, oid: ndis.OIDGenXmitOK, buf: make([]byte, 12), written: 8, wantBuffer: make([]byte, 8)},
		{name: "xmit ok 32-bit", typ: ndis.RequestQuery, oid: ndis.OIDGenXmitOK, buf: make([]byte, 4), written: 4, needed: 8, wantBuffer: make([]byte, 4)},
		{name: "rcv ok short", typ: ndis.RequestQuery, oid: ndis.OIDGenRcvOK, buf: make([]byte, 2), status: ndis.StatusBufferTooShort, needed: 8},
		{name: "lookahead", typ: ndis.RequestSet, oid: ndis.OIDGenCurrentLookahead, buf: ndis.Ulong(256), written: 4},
		{name: "lookahead short", typ: ndis.RequestSet, oid: ndis.OIDGenCurrentLookahead, buf: make([]byte, 3), status: ndis.StatusInvalidLength, needed: 4},
		{name: "filter short", typ: ndis.RequestSet, oid: ndis.OIDGenCurrentPacketFilter, buf: make([]byte, 2), status: ndis.StatusInvalidLength, needed: 4},
		{name: "filter short at miniport", typ: ndis.RequestSet, oid: ndis.OIDGenCurrentPacketFilter, buf: make([]byte, 3), status: ndis.StatusInvalidLength, needed: 4, throughMp: true},
		{name: "filter unsupported", typ: ndis.RequestSet, oid: ndis.OIDGenCurrentPacketFilter, buf: ndis.Ulong(ndis.PacketTypeSMT), status: ndis.StatusNotSupported},
		{name: "filter unsupported at miniport", typ: ndis.RequestSet, oid: ndis.OIDGenCurrentPacketFilter, buf: ndis.Ulong(ndis.PacketTypeAllLocal), status: ndis.StatusNotSupported, throughMp: true},
		{name: "multicast ragged", typ: ndis.RequestSet, oid: ndis.OID8023MulticastList, buf: make([]byte, 13), status: ndis.StatusInvalidLength, needed: 12},
		{name: "multicast ragged at miniport", typ: ndis.RequestSet, oid: ndis.OID8023MulticastList, buf: make([]byte, 7), status: ndis.StatusInvalidLength, needed: 6, throughMp: true},
		{name: "multicast unicast at miniport", typ: ndis.RequestSet, oid: ndis.OID8023MulticastList, buf: ourMAC[:], status: ndis.StatusInvalidData, throughMp: true},
		{name: "multicast full", typ: ndis.RequestSet, oid: ndis.OID8023MulticastList, buf: manyMulticast(33), status: ndis.StatusMulticastFull},
		{name: "multicast full at miniport", typ: ndis.RequestSet, oid: ndis.OID8023MulticastList, buf: manyMulticast(33), status: ndis.StatusMulticastFull, throughMp: true},
		{name: "multicast 32", typ: ndis.RequestSet, oid: ndis.OID8023MulticastList, buf: manyMulticast(32), written: 32 * 6},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := &ndis.OidRequest{Type: c.typ, OID: c.oid, Buffer: c.buf}
			var s ndis.Status
			if c.throughMp {
				s = mp.OidRequest(req) // every answer of the loopback is inline
			} else {
				ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
				defer cancel()
				s = r.B.OidRequest(ctx, req)
			}
			if s != c.status || req.BytesNeeded != c.needed || (s == ndis.StatusSuccess && req.BytesWritten != c.written) {
				t.Errorf("status %s, written %d, needed %d; want %s, %d, %d", s, req.BytesWritten, req.BytesNeeded, c.status, c.written, c.needed)
			}
			if c.wantBuffer != nil && !bytes.Equal(req.Buffer[:req.BytesWritten], c.wantBuffer) {
				t.Errorf("buffer % x, want % x", req.Buffer[:req.BytesWritten], c.wantBuffer)
			}
		})
	}
}

func manyMulticast(n int) []byte {
	list := make([]ndis.MacAddress, n)
	for i := range list {
		list[i] = ndis.MacAddress{0x01, 0x00, 0x5e, 0x00, 0x01, byte(i)}
	}
	return ndis.EncodeMulticastList(list)
}
