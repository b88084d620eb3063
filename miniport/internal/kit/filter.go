package kit

import "github.com/gondis/gondis/ndis"

// SetFilter answers a set of the hardware filter: OIDGenCurrentPacketFilter
// (bits within HardwareFilters) into f.Types, or OID8023MulticastList (at
// most maxList addresses) into f.Multicast. f changes only when the
// request succeeds. ok is false, and nothing is done, for any other
// request: the driver answers it itself. The caller guards f as it guards
// its filter registers.
func SetFilter(r *ndis.OidRequest, f *ndis.PacketFilter, maxList int) (s ndis.Status, ok bool) {
	if r.Type != ndis.RequestSet {
		return 0, false
	}
	switch r.OID {
	case ndis.OIDGenCurrentPacketFilter:
		v, s := r.PacketFilter(HardwareFilters)
		if s == ndis.StatusSuccess {
			f.Types = v
		}
		return s, true
	case ndis.OID8023MulticastList:
		list, s := r.MulticastList(maxList)
		if s == ndis.StatusSuccess {
			f.Multicast = list
		}
		return s, true
	}
	return 0, false
}
