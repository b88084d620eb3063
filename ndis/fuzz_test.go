package ndis_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

func FuzzDecodeMulticastList(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0x5e, 0, 0, 1})
	f.Add([]byte{1, 0, 0x5e, 0, 0, 1, 2})
	f.Add([]byte{2, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		list, s := ndis.DecodeMulticastList(b)
		switch s {
		case ndis.StatusSuccess:
			if len(b)%6 != 0 || len(list) != len(b)/6 {
				t.Fatalf("accepted %d bytes as %d addresses", len(b), len(list))
			}
			for _, m := range list {
				if !m.IsMulticast() {
					t.Fatalf("accepted unicast %v", m)
				}
			}
			if !bytes.Equal(ndis.EncodeMulticastList(list), b) {
				t.Fatal("encode(decode(b)) != b")
			}
		case ndis.StatusInvalidLength:
			if len(b)%6 == 0 {
				t.Fatalf("length %d refused", len(b))
			}
		case ndis.StatusInvalidData:
		default:
			t.Fatalf("status %v", s)
		}
	})
}

func FuzzParseLinkState(f *testing.F) {
	f.Add(ndis.LinkState{MediaConnectState: ndis.MediaConnectStateConnected, XmitLinkSpeed: 1e9}.Marshal())
	f.Add([]byte{0x80, 1, 40, 0})
	f.Add(make([]byte, 40))
	f.Fuzz(func(t *testing.T, b []byte) {
		ls, s := ndis.ParseLinkState(b)
		if s != ndis.StatusSuccess {
			if s != ndis.StatusInvalidLength && s != ndis.StatusInvalidData {
				t.Fatalf("status %v", s)
			}
			return
		}
		again, s := ndis.ParseLinkState(ls.Marshal())
		if s != ndis.StatusSuccess || again != ls {
			t.Fatalf("round trip: %+v %v, want %+v", again, s, ls)
		}
	})
}

// FuzzOidRequest sends arbitrary requests through a binding: whatever the
// type, OID and buffer, the runtime answers with a status and never panics,
// and the binding's filter only changes on success.
func FuzzOidRequest(f *testing.F) {
	f.Add(uint8(ndis.RequestSet), uint32(ndis.OIDGenCurrentPacketFilter), []byte{1, 0, 0, 0})
	f.Add(uint8(ndis.RequestSet), uint32(ndis.OID8023MulticastList), []byte{1, 0, 0x5e, 0, 0, 1})
	f.Add(uint8(ndis.RequestQuery), uint32(ndis.OIDGenLinkState), make([]byte, 3))
	f.Add(uint8(ndis.RequestQuery), uint32(ndis.OID8023MulticastList), []byte{})
	f.Add(uint8(ndis.RequestMethod), uint32(0x12345678), []byte{9})
	f.Add(uint8(99), uint32(ndis.OIDGenCurrentPacketFilter), []byte{})

	rt := ndis.New(ndis.WithVerifier(ndis.VerifierStrict), ndis.WithViolationHandler(func(v ndis.Violation) {
		f.Errorf("violation: %v", v)
	}))
	fake := ndistest.NewFake()
	fake.General = &ndis.GeneralAttributes{CurrentMacAddress: ndis.MacAddress{2, 0, 0, 0, 0, 1}}
	rec := ndistest.NewRecorderDriver("rec")
	b := attach(f, rt, fake.Driver("fake", ndis.Version630), rec.Driver())
	ctx := context.Background()
	f.Cleanup(func() {
		if err := rt.Close(ctx); err != nil {
			f.Error(err)
		}
	})
	f.Fuzz(func(t *testing.T, typ uint8, oid uint32, buf []byte) {
		before := b.PacketFilter()
		r := &ndis.OidRequest{Type: ndis.RequestType(typ), OID: ndis.OID(oid), Buffer: bytes.Clone(buf)}
		s := b.OidRequest(ctx, r)
		if s == ndis.StatusPending {
			t.Fatal("a completed request reported StatusPending")
		}
		if r.BytesWritten < 0 || r.BytesWritten > len(buf) && r.Type != ndis.RequestSet {
			t.Fatalf("BytesWritten %d for a %d-byte buffer", r.BytesWritten, len(buf))
		}
		if s != ndis.StatusSuccess && b.PacketFilter() != before {
			t.Fatalf("filter changed by a failed request (%v)", s)
		}
	})
}
