package netstack_test

import (
	"context"
	"io"
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/protocol/internal/prototest"
	"github.com/gondis/gondis/protocol/netstack"
)

// serveEcho accepts connections on l and echoes each until l is closed.
func serveEcho(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			io.Copy(c, c)
			c.Close()
		}()
	}
}

// roundTrip sends msg on c and reads it back.
func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo of %q: %q, %v", msg, buf, err)
	}
}

// TestAddressesAndRoutes: the binding's addresses and gateway become the
// interface's, with their routes; traffic to an address beyond the subnet
// goes to the gateway.
func TestAddressesAndRoutes(t *testing.T) {
	a, b := pair(t, nil, map[string]string{"gateway": "10.0.0.254"})
	if got := a.ifc.Addresses(); !slices.Equal(got, []netip.Prefix{netip.MustParsePrefix("10.0.0.1/24")}) {
		t.Errorf("addresses %v", got)
	}
	want := []netstack.Route{
		{Dst: netip.MustParsePrefix("10.0.0.0/24"), Interface: "a"},
		{Dst: netip.MustParsePrefix("0.0.0.0/0"), Gateway: netip.MustParseAddr("10.0.0.254"), Interface: "a"},
	}
	if got := a.st.Routes(); !slices.Equal(got, want) {
		t.Errorf("routes %v, want %v", got, want)
	}
	// b is a's gateway now, and holds an address beyond a's subnet.
	must(t, a.ifc.SetGateway(b.ip))
	far := netip.MustParseAddr("192.168.5.5")
	must(t, b.ifc.AddAddress(netip.PrefixFrom(far, 32)))
	l, err := b.st.Listen("tcp", ":7")
	must(t, err)
	defer l.Close()
	go serveEcho(l)
	ctx := context.Background()
	c, err := a.st.DialContext(ctx, "tcp", "192.168.5.5:7")
	must(t, err)
	roundTrip(t, c, "via the gateway")
	if got := c.LocalAddr().String(); got != "10.0.0.1:"+portOf(c.LocalAddr()) {
		t.Errorf("local address %s", got)
	}
	c.Close()
	must(t, a.ifc.AddRoute(netip.MustParsePrefix("192.168.5.0/28"), b.ip))
	if got := a.st.Routes()[0]; got.Dst != netip.MustParsePrefix("192.168.5.0/28") || got.Gateway != b.ip {
		t.Errorf("first route %v: want the longest prefix first", got)
	}
	if err := a.ifc.AddRoute(netip.MustParsePrefix("fd00::/64"), b.ip); err == nil {
		t.Error("an IPv6 route via an IPv4 gateway")
	}
	must(t, b.ifc.RemoveAddress(netip.PrefixFrom(far, 32)))
	if got := b.ifc.Addresses(); len(got) != 1 {
		t.Errorf("b's addresses after the removal: %v", got)
	}
}

func portOf(a net.Addr) string {
	_, p, _ := net.SplitHostPort(a.String())
	return p
}

// TestNetworks: Listen, ListenPacket and DialContext take net's network
// strings and numeric addresses, and refuse the rest.
func TestNetworks(t *testing.T) {
	a, b := pair(t, nil, nil)
	ctx := context.Background()
	l, err := b.st.Listen("tcp4", "10.0.0.2:8")
	must(t, err)
	defer l.Close()
	go serveEcho(l)
	pc, err := b.st.ListenPacket("udp", ":9")
	must(t, err)
	defer pc.Close()
	go udpEcho(pc)
	c, err := a.st.DialContext(ctx, "tcp", "10.0.0.2:8")
	must(t, err)
	roundTrip(t, c, "tcp")
	c.Close()
	u, err := a.st.DialContext(ctx, "udp4", "10.0.0.2:9")
	must(t, err)
	echoOnce(t, u, "udp")
	u.Close()
	for _, bad := range []struct{ network, address string }{
		{"tcp", "localhost:8"}, {"tcp4", "[fd00::1]:8"}, {"udp6", "10.0.0.2:9"}, {"ip", "10.0.0.2:0"},
		{"tcp", "10.0.0.2"}, {"udp", "10.0.0.2:x"}, {"tcp", "10.0.0.2:70000"},
	} {
		if c, err := a.st.DialContext(ctx, bad.network, bad.address); err == nil {
			c.Close()
			t.Errorf("DialContext(%s, %s) succeeded", bad.network, bad.address)
		}
	}
	if _, err := a.st.DialTCP(ctx, netip.MustParseAddrPort("10.0.0.2:0")); err == nil {
		t.Error("DialTCP to port 0")
	}
}

// TestReport: the interface reports its counters as Stats has them.
func TestReport(t *testing.T) {
	a, b := pair(t, nil, nil)
	a.ping(t, b.ip)
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	must(t, a.rt.Close(ctx)) // the counters stand still
	st, ss := a.ifc.Stats(), a.st.Stats()
	want := map[string]float64{
		"frames_sent": float64(st.FramesSent), "frames_received": float64(st.FramesReceived),
		"frames_dropped{reason=hold_full}": 0, "frames_dropped{reason=no_buffer}": 0,
		"frames_dropped{reason=too_long}": 0, "frames_dropped{reason=closed}": float64(st.Dropped.Closed),
		"frames_dropped{reason=runt}": 0, "frames_dropped{reason=detached}": 0,
		"frames_held": 0, "resets": 0, "holding": 0, "link_up": flag(st.LinkUp), "link_changes": float64(st.LinkChanges),
		"tcp_established": 0, "tcp_connections": float64(ss.TCPOpened), "tcp_retransmits": float64(ss.TCPRetransmits),
		"tcp_resets": float64(ss.TCPResets),
	}
	if !st.LinkUp && st.LinkChanges < 2 {
		t.Errorf("link down with %d changes seen", st.LinkChanges)
	}
	for s, n := range st.Completed {
		want["completed{status="+s.String()+"}"] = float64(n)
	}
	if st.FramesSent == 0 || st.FramesReceived == 0 || st.Completed[ndis.StatusSuccess] == 0 {
		t.Errorf("no traffic counted: %+v", st)
	}
	prototest.CheckReport(t, a.ifc.Binding(), want)
	for _, g := range []string{"holding", "link_up", "tcp_established"} {
		if k, _ := prototest.Kind(a.ifc.Binding(), g); k != ndis.DetailGauge {
			t.Errorf("%s is a %v", g, k)
		}
	}
}

func flag(on bool) float64 {
	if on {
		return 1
	}
	return 0
}
