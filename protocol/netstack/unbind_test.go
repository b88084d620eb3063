package netstack_test

import (
	"context"
	"errors"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/gondis/gondis/miniport/loopback"
	"github.com/gondis/gondis/ndis/ndistest"
	"github.com/gondis/gondis/protocol/internal/prototest"
	"github.com/gondis/gondis/protocol/netstack"
)

// returnsSoon fails the test unless every call returns an error within the
// wait timeout.
func returnsSoon(t *testing.T, calls map[string]func() error) {
	t.Helper()
	done := make(chan string, len(calls))
	for name, call := range calls {
		go func() {
			if err := call(); err == nil {
				t.Errorf("%s returned no error", name)
			}
			done <- name
		}()
	}
	timeout := time.After(ndistest.WaitTimeout)
	for range calls {
		select {
		case <-done:
		case <-timeout:
			t.Fatal("a reader or writer still waits after the unbind")
		}
	}
}

// TestUnbindAbortsConnections: when a's adapter goes away, the NIC goes
// and every socket that used it returns an error: a reader waiting for
// data, a writer waiting for window, a UDP reader and a listener on its
// address. The stack itself stays open.
func TestUnbindAbortsConnections(t *testing.T) {
	a, b := pair(t, nil, nil)
	ca, _ := connect(t, a, b, 5002) // b never reads nor writes
	pc, err := a.st.ListenUDP(a.addr(7))
	must(t, err)
	defer pc.Close()
	l, err := a.st.ListenTCP(a.addr(80))
	must(t, err)
	defer l.Close()

	started := make(chan struct{}, 1)
	calls := map[string]func() error{
		"tcp read": func() error { _, err := ca.Read(make([]byte, 1)); return err },
		"tcp write": func() error {
			buf := make([]byte, 64<<10)
			for {
				if _, err := ca.Write(buf); err != nil {
					return err
				}
				select {
				case started <- struct{}{}:
				default:
				}
			}
		},
		"udp read": func() error { _, _, err := pc.ReadFrom(make([]byte, 1)); return err },
		"accept":   func() error { _, err := l.Accept(); return err },
	}
	go func() {
		<-started
		time.Sleep(50 * time.Millisecond) // let the writer fill the window
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		if err := a.rt.RemoveAdapter(ctx, a.name); err != nil {
			t.Errorf("RemoveAdapter: %v", err)
		}
	}()
	returnsSoon(t, calls)

	select {
	case <-a.ifc.Done():
	default:
		t.Error("the interface is not done")
	}
	if addrs := a.ifc.Addresses(); len(addrs) != 0 {
		t.Errorf("addresses after the unbind: %v", addrs)
	}
	if err := a.ifc.AddAddress(netip.MustParsePrefix("10.0.0.9/24")); !errors.Is(err, netstack.ErrUnbound) {
		t.Errorf("AddAddress after the unbind: %v", err)
	}
	if n := len(a.st.Interfaces()); n != 0 {
		t.Errorf("%d interfaces after the unbind", n)
	}
	if routes := a.st.Routes(); len(routes) != 0 {
		t.Errorf("routes after the unbind: %v", routes)
	}
	if _, err := a.st.ListenTCP(netip.AddrPort{}); err != nil {
		t.Errorf("the stack is closed: %v", err)
	}
}

// TestStackCloseAbortsConnections: closing a stack closes its bindings and
// aborts its sockets.
func TestStackCloseAbortsConnections(t *testing.T) {
	a, b := pair(t, nil, nil)
	ca, cb := connect(t, a, b, 5003)
	go func() {
		time.Sleep(50 * time.Millisecond)
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		if err := a.st.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	returnsSoon(t, map[string]func() error{
		"read": func() error { _, err := ca.Read(make([]byte, 1)); return err },
	})
	select {
	case <-a.ifc.Binding().Done():
	case <-time.After(ndistest.WaitTimeout):
		t.Fatal("the binding is still open")
	}
	if _, err := a.st.DialTCP(context.Background(), b.addr(5003)); !errors.Is(err, netstack.ErrClosed) {
		t.Errorf("DialTCP on a closed stack: %v", err)
	}
	// b hears of it: a's stack reset the connection on its way out, or b's
	// read waits; b closes its end either way.
	cb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	must(t, a.st.Close(ctx)) // twice is fine
}

// TestDriverStack: Driver's stack is the one of every binding of the
// driver, and closes with its last interface; a later binding gets a new
// one.
func TestDriverStack(t *testing.T) {
	rt := prototest.Start(t, loopback.Driver(), "loop0", netstack.Driver())
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	_, err := rt.AddAdapter(ctx, "loop1", loopback.Driver().Name, nil)
	must(t, err)
	i0, _ := netstack.Of(prototest.Bind(t, rt, netstack.Name, "loop0", map[string]string{"addr": "10.3.0.1/24"}))
	i1, _ := netstack.Of(prototest.Bind(t, rt, netstack.Name, "loop1", map[string]string{"addr": "10.4.0.1/24"}))
	st := i0.Stack()
	if i1.Stack() != st || len(st.Interfaces()) != 2 {
		t.Fatalf("two bindings, stacks %p and %p, %d interfaces", st, i1.Stack(), len(st.Interfaces()))
	}
	if got, ok := st.Interface("loop1"); !ok || got != i1 {
		t.Errorf("Interface(loop1) = %v, %v", got, ok)
	}
	l, err := st.ListenTCP(netip.MustParseAddrPort("10.4.0.1:80"))
	must(t, err)
	go func() {
		c, err := l.Accept()
		if err == nil {
			io.Copy(c, c)
			c.Close()
		}
	}()
	// Between two addresses of one stack: the stack itself carries it.
	c, err := st.DialContext(ctx, "tcp4", "10.4.0.1:80")
	must(t, err)
	c.Write([]byte("x"))
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	c.Close()

	must(t, rt.RemoveAdapter(ctx, "loop0"))
	if _, err := st.ListenTCP(netip.AddrPort{}); err != nil {
		t.Fatalf("the stack closed with an interface left: %v", err)
	}
	must(t, i1.Close(ctx))
	if _, err := st.ListenTCP(netip.AddrPort{}); !errors.Is(err, netstack.ErrClosed) {
		t.Fatalf("ListenTCP after the last interface went: %v", err)
	}
	if _, err := l.Accept(); err == nil {
		t.Error("the listener outlived its stack")
	}
	i2, _ := netstack.Of(prototest.Bind(t, rt, netstack.Name, "loop1", nil))
	if i2.Stack() == st {
		t.Error("a binding after the last one joined the closed stack")
	}
}

// TestBindingCloseDetaches: a binding a program closes itself gets no
// UnbindAdapter, yet its NIC goes and its connections are aborted.
func TestBindingCloseDetaches(t *testing.T) {
	a, b := pair(t, nil, nil)
	ca, _ := connect(t, a, b, 5004)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		if err := a.ifc.Binding().Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	}()
	returnsSoon(t, map[string]func() error{
		"read": func() error { _, err := ca.Read(make([]byte, 1)); return err },
	})
	select {
	case <-a.ifc.Done():
	case <-time.After(ndistest.WaitTimeout):
		t.Fatal("the interface outlived its binding")
	}
	if n := len(a.st.Interfaces()); n != 0 {
		t.Errorf("%d interfaces after the close", n)
	}
}
