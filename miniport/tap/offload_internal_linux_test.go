package tap

import (
	"testing"

	"github.com/gondis/gondis/ndis"
)

// TestSetOffloadParameters: the NDIS_OFFLOAD_PARAMETERS parsing and the
// switch semantics, without a device.
func TestSetOffloadParameters(t *testing.T) {
	m := &miniport{cfg: config{vnetHdr: true}}
	m.offload.Store(offTxChecksum | offLargeSend | offReceive)
	set := func(b []byte) ndis.Status {
		return m.setOffloadParameters(&ndis.OidRequest{Type: ndis.RequestSet, OID: ndis.OIDTCPOffloadParameters, Buffer: b})
	}
	if s := set(OffloadSet(ndis.OffloadParametersNoChange, ndis.OffloadParametersLSOv2Disabled)); s != ndis.StatusSuccess || m.offloadNow() != (Offload{TxChecksum: true, Receive: true}) {
		t.Errorf("LSOv2 off: %s, %+v", s, m.offloadNow())
	}
	if s := set(OffloadSet(ndis.OffloadParametersRxEnabled, ndis.OffloadParametersNoChange)); s != ndis.StatusSuccess || m.offloadNow() != (Offload{Receive: true}) {
		t.Errorf("checksums rx only: %s, %+v", s, m.offloadNow())
	}
	mixed := OffloadSet(ndis.OffloadParametersTxRxEnabled, ndis.OffloadParametersLSOv2Enabled)
	mixed[5] = ndis.OffloadParametersTxRxDisabled // TCPIPv4Checksum off: the one switch goes off
	if s := set(mixed); s != ndis.StatusSuccess || m.offloadNow() != (Offload{LargeSend: true}) {
		t.Errorf("one checksum field disabled: %s, %+v", s, m.offloadNow())
	}
	for name, b := range map[string][]byte{
		"short":            OffloadSet(ndis.OffloadParametersTxRxEnabled, 0)[:15],
		"wrong type":       func() []byte { b := OffloadSet(0, 0); b[0] = 0xA6; return b }(),
		"revision 0":       func() []byte { b := OffloadSet(0, 0); b[1] = 0; return b }(),
		"size under rev 1": func() []byte { b := OffloadSet(0, 0); b[2] = 16; return b }(),
		"size past buffer": func() []byte { b := OffloadSet(0, 0); b[2] = 40; return b }(),
		"checksum value 5": OffloadSet(5, 0),
		"LSOv2 value 3":    OffloadSet(0, 3),
	} {
		before := m.offloadNow()
		if s := set(b); s == ndis.StatusSuccess || m.offloadNow() != before {
			t.Errorf("%s: %s, switches %+v -> %+v", name, s, before, m.offloadNow())
		}
	}
	// Without vnet_hdr only disabling is possible.
	plain := &miniport{}
	if s := plain.setOffloadParameters(&ndis.OidRequest{Buffer: OffloadSet(ndis.OffloadParametersTxRxEnabled, 0)}); s != ndis.StatusNotSupported {
		t.Errorf("enable without vnet_hdr: %s", s)
	}
	if s := plain.setOffloadParameters(&ndis.OidRequest{Buffer: OffloadSet(ndis.OffloadParametersTxRxDisabled, ndis.OffloadParametersLSOv2Disabled)}); s != ndis.StatusSuccess {
		t.Errorf("disable without vnet_hdr: %s", s)
	}
}
