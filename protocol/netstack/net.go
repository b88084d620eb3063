package netstack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// The program-facing sockets: gVisor's gonet, as net.Listener, net.Conn
// and net.PacketConn. Addresses are numeric (no name resolution). A zero
// or unspecified address listens on every address of the stack: the zero
// AddrPort's address and "::" in both families, "0.0.0.0" in IPv4 only.

// ListenTCP listens for TCP connections on addr.
func (s *Stack) ListenTCP(addr netip.AddrPort) (net.Listener, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	full, proto := listenAddr(addr)
	l, err := gonet.ListenTCP(s.s, full, proto)
	if err != nil {
		return nil, fmt.Errorf("netstack: listen tcp %s: %w", addr, err)
	}
	return l, nil
}

// DialTCP connects to addr; ctx bounds the connection's establishment
// only. The source address is the one of the interface the route to addr
// goes through.
func (s *Stack) DialTCP(ctx context.Context, addr netip.AddrPort) (net.Conn, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	if !addr.Addr().IsValid() || addr.Port() == 0 {
		return nil, fmt.Errorf("netstack: dial tcp %s: want an address and a port", addr)
	}
	c, err := gonet.DialContextTCP(ctx, s.s, fullAddr(addr), netProto(addr.Addr()))
	if err != nil {
		return nil, fmt.Errorf("netstack: dial tcp %s: %w", addr, err)
	}
	return c, nil
}

// ListenUDP opens a UDP socket on addr that takes datagrams from anyone.
func (s *Stack) ListenUDP(addr netip.AddrPort) (net.PacketConn, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	full, proto := listenAddr(addr)
	c, err := gonet.DialUDP(s.s, &full, nil, proto)
	if err != nil {
		return nil, fmt.Errorf("netstack: listen udp %s: %w", addr, err)
	}
	return c, nil
}

// DialUDP opens a UDP socket connected to addr: it sends only there and
// takes datagrams only from there.
func (s *Stack) DialUDP(addr netip.AddrPort) (net.Conn, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	if !addr.Addr().IsValid() || addr.Port() == 0 {
		return nil, fmt.Errorf("netstack: dial udp %s: want an address and a port", addr)
	}
	remote := fullAddr(addr)
	c, err := gonet.DialUDP(s.s, nil, &remote, netProto(addr.Addr()))
	if err != nil {
		return nil, fmt.Errorf("netstack: dial udp %s: %w", addr, err)
	}
	return c, nil
}

// Listen is ListenTCP in the manner of net.Listen: network is "tcp",
// "tcp4" or "tcp6", address "host:port" with a numeric or empty host.
func (s *Stack) Listen(network, address string) (net.Listener, error) {
	ap, err := parseAddr("tcp", network, address)
	if err != nil {
		return nil, err
	}
	return s.ListenTCP(ap)
}

// ListenPacket is ListenUDP in the manner of net.ListenPacket: network is
// "udp", "udp4" or "udp6".
func (s *Stack) ListenPacket(network, address string) (net.PacketConn, error) {
	ap, err := parseAddr("udp", network, address)
	if err != nil {
		return nil, err
	}
	return s.ListenUDP(ap)
}

// DialContext is DialTCP or DialUDP in the manner of net.Dialer's: network
// is "tcp", "tcp4", "tcp6", "udp", "udp4" or "udp6".
func (s *Stack) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	kind, _, _ := strings.Cut(network, "4")
	kind, _, _ = strings.Cut(kind, "6")
	ap, err := parseAddr(kind, network, address)
	if err != nil {
		return nil, err
	}
	if kind == "udp" {
		return s.DialUDP(ap)
	}
	return s.DialTCP(ctx, ap)
}

// errNetwork is the error for a network the stack does not speak.
var errNetwork = errors.New("unknown network")

// parseAddr reads "host:port" for network, which must be kind, kind+"4"
// or kind+"6"; a 4 or 6 makes an empty host that family's unspecified
// address, and refuses an address of the other family.
func parseAddr(kind, network, address string) (netip.AddrPort, error) {
	fail := func(err error) (netip.AddrPort, error) {
		return netip.AddrPort{}, &net.OpError{Op: "parse", Net: network, Err: &net.AddrError{Err: err.Error(), Addr: address}}
	}
	if kind != "tcp" && kind != "udp" || network != kind && network != kind+"4" && network != kind+"6" {
		return fail(errNetwork)
	}
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return fail(err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return fail(errors.New("bad port"))
	}
	var a netip.Addr
	switch {
	case host != "":
		if a, err = netip.ParseAddr(host); err != nil {
			return fail(errors.New("want a numeric address"))
		}
		a = a.Unmap()
		if network == kind+"4" && !a.Is4() || network == kind+"6" && a.Is4() {
			return fail(errors.New("address of the other family"))
		}
	case network == kind+"4":
		a = netip.IPv4Unspecified()
	case network == kind+"6":
		a = netip.IPv6Unspecified()
	}
	return netip.AddrPortFrom(a, uint16(p)), nil
}

func fullAddr(ap netip.AddrPort) tcpip.FullAddress {
	return tcpip.FullAddress{Addr: tcpipAddr(ap.Addr()), Port: ap.Port()}
}

// listenAddr is where to bind a listening socket: no address when addr's
// is unspecified, and IPv6 (which takes IPv4 too) unless it is IPv4's.
func listenAddr(addr netip.AddrPort) (tcpip.FullAddress, tcpip.NetworkProtocolNumber) {
	a := addr.Addr().Unmap()
	full := tcpip.FullAddress{Port: addr.Port()}
	if a.IsValid() && !a.IsUnspecified() {
		full.Addr = tcpipAddr(a)
	}
	if a.Is4() {
		return full, header.IPv4ProtocolNumber
	}
	return full, header.IPv6ProtocolNumber
}
