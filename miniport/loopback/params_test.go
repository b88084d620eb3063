package loopback_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/gondis/gondis/internal/param/paramtest"
	"github.com/gondis/gondis/miniport/loopback"
	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

func TestParams(t *testing.T) {
	paramtest.DocLists(t, "doc.go", loopback.ParamDoc())

	rt := newRuntime(t)
	n := 0
	refused := func(params map[string]string, key string) {
		t.Helper()
		n++
		a, err := rt.AddAdapter(context.Background(), fmt.Sprintf("bad%d", n), "loopback", params)
		if err == nil {
			t.Errorf("AddAdapter(%v) succeeded", params)
			_ = rt.RemoveAdapter(context.Background(), a.Name())
			return
		}
		if !errors.Is(err, ndis.StatusInvalidParameter) {
			t.Errorf("AddAdapter(%v) = %v; not NDIS_STATUS_INVALID_PARAMETER", params, err)
		}
		var pe *ndis.ParamError
		if !errors.As(err, &pe) || pe.Key != key || pe.Driver != "loopback" {
			t.Errorf("AddAdapter(%v) = %v; want a ParamError for %q", params, err, key)
		}
		// ValidateParams finds the same error without an adapter.
		if verr := rt.ValidateAdapterParams("loopback", params); verr == nil || verr.Error() != pe.Error() {
			t.Errorf("ValidateAdapterParams(%v) = %v, want %v", params, verr, pe)
		}
	}
	for _, c := range []struct {
		key    string
		values []string
	}{
		{"mtu", []string{"abc", "67", "65536", "-1500"}},
		{"mac", []string{"zz:zz", "01:00:5e:00:00:01", "ff:ff:ff:ff:ff:ff", "00:00:00:00:00:00", "02:00:5e:10:00:00:00:01" /* EUI-64 */}},
		{"link_speed", []string{"0", "-1", "10G", "18446744073709551615"}},
		{"batch", []string{"0", "4097", ""}},
		{"speed", []string{"1"}},
	} {
		for _, v := range c.values {
			refused(map[string]string{c.key: v}, c.key)
		}
	}
	refused(map[string]string{"mtu": "9000", "zz": "1"}, "zz") // an unknown key beside a good one

	params := map[string]string{"mtu": "9000", "mac": "0a-1b-2c-3d-4e-5f", "link_speed": "1000000000", "batch": "8"}
	if err := loopback.Driver().ValidateParams(params); err != nil {
		t.Fatalf("ValidateParams(%v): %v", params, err)
	}
	a, err := rt.AddAdapter(context.Background(), "loop0", "loopback", params)
	if err != nil {
		t.Fatal(err)
	}
	r := bind(t, rt, "rec")
	mac := ndis.MacAddress{0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f}
	if a.MacAddress() != mac {
		t.Errorf("MAC %s, want %s", a.MacAddress(), mac)
	}
	if l := a.Link(); l.MediaConnectState != ndis.MediaConnectStateConnected || l.MediaDuplexState != ndis.MediaDuplexStateFull ||
		l.XmitLinkSpeed != 1e9 || l.RcvLinkSpeed != 1e9 {
		t.Errorf("link %+v", l)
	}
	query := func(o ndis.OID, n int) []byte {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		v, s := ndistest.Query(ctx, r.B, o, n)
		if s != ndis.StatusSuccess {
			t.Fatalf("query %s: %s", o, s)
		}
		return v
	}
	if v := binary.LittleEndian.Uint32(query(ndis.OIDGenMaximumFrameSize, 4)); v != 9000 {
		t.Errorf("OID_GEN_MAXIMUM_FRAME_SIZE = %d", v)
	}
	if v := binary.LittleEndian.Uint32(query(ndis.OIDGenMaximumTotalSize, 4)); v != 9014 {
		t.Errorf("OID_GEN_MAXIMUM_TOTAL_SIZE = %d", v)
	}
	if v := query(ndis.OID8023CurrentAddress, 6); !bytes.Equal(v, mac[:]) {
		t.Errorf("OID_802_3_CURRENT_ADDRESS = % x", v)
	}
	if v := query(ndis.OID8023PermanentAddress, 6); !bytes.Equal(v, mac[:]) {
		t.Errorf("OID_802_3_PERMANENT_ADDRESS = % x", v)
	}
	if ls, s := ndis.ParseLinkState(query(ndis.OIDGenLinkState, ndis.LinkStateSize)); s != ndis.StatusSuccess ||
		ls.MediaConnectState != ndis.MediaConnectStateConnected || ls.XmitLinkSpeed != 1e9 {
		t.Errorf("OID_GEN_LINK_STATE = %+v, %s", ls, s)
	}

	// The MTU bounds the frames; batch bounds the receive indications.
	ndistest.MustSetPacketFilter(t, r.B, ndis.PacketTypeDirected)
	big, tooBig := ndis.NewNetBufferList(frame(mac, 1, 9014)), ndis.NewNetBufferList(frame(mac, 2, 9015))
	var small []*ndis.NetBufferList
	for i := range 20 {
		small = append(small, ndis.NewNetBufferList(frame(mac, uint32(3+i), 64)))
	}
	send(r, append([]*ndis.NetBufferList{big, tooBig}, small...)...)
	waitCompleted(t, r, 22)
	quiesce(t, rt)
	if big.Status != ndis.StatusSuccess || tooBig.Status != ndis.StatusInvalidLength {
		t.Errorf("9014-byte frame: %s; 9015-byte frame: %s", big.Status, tooBig.Status)
	}
	if got := len(r.ReceivedFrames()); got != 21 {
		t.Errorf("received %d frames, want 21", got)
	}
	maxChain := 0
	for _, x := range r.Records() {
		if x.Kind == ndistest.RecordReceive {
			maxChain = max(maxChain, x.NBLs)
		}
	}
	if maxChain > 8 {
		t.Errorf("a receive indication carried %d NBLs; batch is 8", maxChain)
	}
}
