package ndis

import "encoding/binary"

// EthernetHeaderSize is the length of an Ethernet II header: destination,
// source and EtherType. An adapter's largest frame is its MTU plus this.
const EthernetHeaderSize = 14

// PacketFilter is a receive filter as NDIS defines it: the NDIS_PACKET_TYPE
// bits of OID_GEN_CURRENT_PACKET_FILTER and the addresses of
// OID_802_3_MULTICAST_LIST. The runtime filters each binding's receives
// with its own PacketFilter; a miniport applies the union the runtime sets
// as its hardware filter, with the same rule, through Accepts.
//
// A PacketFilter handed to the runtime is never modified afterwards; a new
// one replaces it.
type PacketFilter struct {
	Types     uint32       // PacketTypeDirected | PacketTypeBroadcast ...
	Multicast []MacAddress // the multicast list
}

// Accepts reports whether a frame sent to dst passes the filter of an
// adapter whose station address is station:
//
//   - PacketTypePromiscuous takes every frame;
//   - a unicast frame needs PacketTypeDirected and dst equal to station
//     (any unicast frame when station is the zero address: the adapter
//     has no address to filter on);
//   - broadcast needs PacketTypeBroadcast;
//   - any other multicast needs PacketTypeAllMulticast, or
//     PacketTypeMulticast and dst in the multicast list.
//
// An empty filter (Types 0) takes nothing.
func (f *PacketFilter) Accepts(dst, station MacAddress) bool {
	return f.accepts(dst.bits(), station.bits())
}

// AcceptsFrame is Accepts for an Ethernet frame. A frame too short to
// hold a destination address passes a promiscuous filter only.
func (f *PacketFilter) AcceptsFrame(frame []byte, station MacAddress) bool {
	if len(frame) < 6 {
		return f.Types&PacketTypePromiscuous != 0
	}
	return f.accepts(frameDst(frame), station.bits())
}

// accepts is the rule on addresses as 48-bit words (see bits): the
// receive path compares one word, not six bytes.
func (f *PacketFilter) accepts(dst, station uint64) bool {
	t := f.Types
	switch {
	case t == 0:
		return false
	case t&PacketTypePromiscuous != 0:
		return true
	case dst&1 == 0: // the group bit of the first byte: unicast
		return t&PacketTypeDirected != 0 && (dst == station || station == 0)
	case dst == broadcastBits:
		return t&PacketTypeBroadcast != 0
	case t&PacketTypeAllMulticast != 0:
		return true
	case t&PacketTypeMulticast != 0:
		for i := range f.Multicast {
			if f.Multicast[i].bits() == dst {
				return true
			}
		}
	}
	return false
}

// bits packs an address into the low 48 bits of a word, first byte lowest,
// so the group bit of the address is bit 0.
func (m MacAddress) bits() uint64 { return frameDst(m[:]) }

// frameDst is the destination address of a frame of at least 6 bytes, as
// bits packs it: one 32-bit and one 16-bit load.
func frameDst(f []byte) uint64 {
	return uint64(binary.LittleEndian.Uint32(f)) | uint64(binary.LittleEndian.Uint16(f[4:6]))<<32
}

const broadcastBits = 1<<48 - 1

// sameAs reports whether two filters take the same frames for certain: the
// same bits and the same addresses, in any order.
func (f *PacketFilter) sameAs(g *PacketFilter) bool {
	if f.Types != g.Types || len(f.Multicast) != len(g.Multicast) {
		return false
	}
	for _, m := range f.Multicast {
		found := false
		for _, n := range g.Multicast {
			if m == n {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
