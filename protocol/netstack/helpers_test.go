package netstack_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gondis/gondis/miniport/sim"
	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
	"github.com/gondis/gondis/protocol/netstack"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// closeTimeout bounds a runtime's and a stack's Close at the end of a test.
const closeTimeout = 10 * time.Second

// host is one end of a sim pair: a runtime of its own (two hosts), one sim
// adapter and a stack whose interface is bound to it.
type host struct {
	name string
	ip   netip.Addr
	rt   *ndis.Runtime
	st   *netstack.Stack
	ifc  *netstack.Interface
	dev  *sim.Device
}

// pair returns two hosts, a (10.0.0.1/24) and b (10.0.0.2/24), whose sim
// adapters share a wire. simParams and nsParams add to each adapter's and
// binding's parameters, opts to each runtime's options. Everything is
// closed when the test ends.
func pair(t testing.TB, simParams, nsParams map[string]string, opts ...ndis.Option) (a, b *host) {
	t.Helper()
	d := sim.Driver() // one driver value: the two runtimes share its wires
	a = newHost(t, d, "a", "10.0.0.1", simParams, nsParams, opts)
	b = newHost(t, d, "b", "10.0.0.2", simParams, nsParams, opts)
	return a, b
}

func newHost(t testing.TB, d ndis.MiniportDriver, name, ip string, simParams, nsParams map[string]string, opts []ndis.Option) *host {
	t.Helper()
	h := &host{name: name, ip: netip.MustParseAddr(ip), st: netstack.New(),
		rt: ndis.New(append(ndistest.NewVerifier(t).Options(), opts...)...)}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		if err := h.rt.Close(ctx); err != nil {
			t.Errorf("%s: runtime Close: %v", name, err)
		}
		if err := h.st.Close(ctx); err != nil {
			t.Errorf("%s: stack Close: %v", name, err)
		}
	})
	must(t, h.rt.RegisterMiniportDriver(d))
	must(t, h.rt.RegisterProtocolDriver(h.st.Driver()))
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	sp := map[string]string{"wire": "w"}
	for k, v := range simParams {
		sp[k] = v
	}
	a, err := h.rt.AddAdapter(ctx, name, "sim", sp)
	must(t, err)
	h.dev, _ = sim.DeviceOf(a)
	np := map[string]string{"addr": ip + "/24"}
	for k, v := range nsParams {
		np[k] = v
	}
	bd, err := h.rt.Bind(ctx, netstack.Name, name, ndis.BindParams(np))
	must(t, err)
	var ok bool
	if h.ifc, ok = netstack.Of(bd); !ok {
		t.Fatalf("Of(%s): no interface", name)
	}
	return h
}

// addr returns the host's address with port.
func (h *host) addr(port uint16) netip.AddrPort { return netip.AddrPortFrom(h.ip, port) }

// ping pings to from h until a reply comes, for the wait timeout at most,
// and returns the round-trip time of the answered ping.
func (h *host) ping(t testing.TB, to netip.Addr) time.Duration {
	t.Helper()
	deadline := time.Now().Add(ndistest.WaitTimeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		rtt, err := h.st.Ping(ctx, to)
		cancel()
		if err == nil {
			return rtt
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: ping %s: %v", h.name, to, err)
		}
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// udpEcho answers every datagram on pc with itself until pc is closed.
func udpEcho(pc net.PacketConn) {
	buf := make([]byte, 2048)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			return
		}
		pc.WriteTo(buf[:n], from)
	}
}

// echoOnce sends msg on c and waits for it to come back.
func echoOnce(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	deadline := time.Now().Add(ndistest.WaitTimeout)
	buf := make([]byte, 2048)
	for {
		// UDP may lose the datagram: send again every half second.
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatalf("udp write %q: %v", msg, err)
		}
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, err := c.Read(buf)
		if err == nil && string(buf[:n]) == msg {
			return
		}
		var ne net.Error
		if err != nil && (!errors.As(err, &ne) || !ne.Timeout()) || time.Now().After(deadline) {
			t.Fatalf("udp echo %q: got %q, %v", msg, buf[:n], err)
		}
	}
}

// connect returns a connection from a to b and its accepted end.
func connect(t testing.TB, a, b *host, port uint16) (ca, cb net.Conn) {
	t.Helper()
	l, err := b.st.ListenTCP(b.addr(port))
	must(t, err)
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		accepted <- c
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ca, err = a.st.DialTCP(ctx, b.addr(port))
	if err != nil {
		l.Close()
		<-accepted
		t.Fatal(err)
	}
	cb = <-accepted
	if cb == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { ca.Close(); cb.Close() })
	return ca, cb
}
