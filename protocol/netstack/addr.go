package netstack

import (
	"net/netip"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// The conversions between net/netip and gVisor's address types.

func tcpipAddr(a netip.Addr) tcpip.Address {
	if a = a.Unmap(); a.Is4() {
		return tcpip.AddrFrom4(a.As4())
	}
	return tcpip.AddrFrom16(a.As16())
}

func netipAddr(a tcpip.Address) netip.Addr {
	switch a.BitLen() {
	case 32:
		return netip.AddrFrom4(a.As4())
	case 128:
		return netip.AddrFrom16(a.As16())
	}
	return netip.Addr{}
}

func netProto(a netip.Addr) tcpip.NetworkProtocolNumber {
	if a.Unmap().Is4() {
		return header.IPv4ProtocolNumber
	}
	return header.IPv6ProtocolNumber
}

func tcpipPrefix(p netip.Prefix) tcpip.AddressWithPrefix {
	return tcpip.AddressWithPrefix{Address: tcpipAddr(p.Addr()), PrefixLen: p.Bits()}
}

func netipPrefix(p tcpip.AddressWithPrefix) netip.Prefix {
	return netip.PrefixFrom(netipAddr(p.Address), p.PrefixLen)
}

func netipSubnet(s tcpip.Subnet) netip.Prefix {
	return netip.PrefixFrom(netipAddr(s.ID()), s.Prefix())
}

// tcpipSubnet returns the subnet of p, its host bits cleared.
func tcpipSubnet(p netip.Prefix) tcpip.Subnet {
	return tcpipPrefix(p.Masked()).Subnet()
}

// defaultSubnet is the default route's destination in a's family.
func defaultSubnet(a netip.Addr) tcpip.Subnet {
	if a.Unmap().Is4() {
		return header.IPv4EmptySubnet
	}
	return header.IPv6EmptySubnet
}
