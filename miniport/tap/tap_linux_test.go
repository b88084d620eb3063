package tap_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/gondis/gondis/miniport/tap"
	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
	"github.com/gondis/gondis/protocol/arpecho"
)

// These tests need root: they create network namespaces and TAP interfaces
// inside them, and never send a frame outside the namespaces they create.

var (
	adapterMAC = ndis.MacAddress{0x02, 0x67, 0x6e, 0x64, 0x00, 0x02}
	kernelIP   = "10.77.0.1"
	gondisIP   = netip.MustParseAddr("10.77.0.2")
	nsSeq      atomic.Uint32
)

const testMTU = 1400

func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("tap: skipped, needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) to create network namespaces and TAP interfaces")
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skipf("tap: skipped, no /dev/net/tun: %v", err)
	}
	for _, tool := range []string{"ip", "ping"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("tap: skipped, %s is not installed (iproute2, iputils-ping)", tool)
		}
	}
}

func run(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// bench is one test's namespace, runtime, TAP adapter and responder.
type bench struct {
	t      testing.TB
	ns     string
	ifname string
	rt     *ndis.Runtime
	a      *ndis.Adapter
	b      *ndis.Binding
	r      *arpecho.Responder
	v      *ndistest.Verifier
}

// newBench creates a namespace (removed by Cleanup, whatever happens), a
// runtime with the strict verifier, a TAP adapter in the namespace with the
// responder bound to it, and gives the kernel's side its address.
func newBench(t testing.TB) *bench { return newBenchWith(t, nil) }

// newBenchWith is newBench with more adapter parameters and runtime options.
func newBenchWith(t testing.TB, extra map[string]string, opts ...ndis.Option) *bench {
	requireRoot(t)
	n := nsSeq.Add(1)
	bn := &bench{t: t, ns: fmt.Sprintf("gondis-t%d-%d", os.Getpid(), n), ifname: fmt.Sprintf("gt%d", n)}
	run(t, "ip", "netns", "add", bn.ns)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", bn.ns).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v\n%s", bn.ns, err, out)
		}
	})
	run(t, "ip", "-n", bn.ns, "link", "set", "lo", "up")
	bn.v = ndistest.NewVerifier(t)
	var evMu sync.Mutex
	var events []string
	onEvent := func(ev ndis.Event) {
		evMu.Lock()
		events = append(events, fmt.Sprintf("%s %s %s cause=%s status=%s %v %s", ev.Time.Format("15:04:05.000000"),
			ev.Adapter, ev.Kind, ev.Cause, ev.Status, ev.Duration, ev.Detail))
		evMu.Unlock()
	}
	bn.rt = ndis.New(append(append(bn.v.Options(), ndis.WithCheckForHangInterval(500*time.Millisecond),
		ndis.WithEventHandler(onEvent)), opts...)...)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := bn.rt.Close(ctx); err != nil {
			t.Errorf("runtime Close: %v", err)
		}
	})
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		evMu.Lock()
		defer evMu.Unlock()
		t.Logf("runtime events:\n%s", strings.Join(events, "\n"))
		if bn.r != nil {
			t.Logf("responder: %+v", bn.r.Stats())
		}
		if bn.a != nil {
			ts, _ := tap.StatsOf(bn.a)
			t.Logf("tap: %+v\nadapter: %+v", ts, bn.a.Stats())
		}
	})
	if err := bn.rt.RegisterMiniportDriver(tap.Driver()); err != nil {
		t.Fatal(err)
	}
	if err := bn.rt.RegisterProtocolDriver(arpecho.Driver()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	params := map[string]string{
		"name": bn.ifname, "netns": bn.ns, "mtu": strconv.Itoa(testMTU), "mac": adapterMAC.String(),
	}
	maps.Copy(params, extra)
	a, err := bn.rt.AddAdapter(ctx, "tap0", "tap", params)
	if err != nil {
		t.Fatalf("AddAdapter: %v", err)
	}
	bn.a = a
	if bn.b, err = bn.rt.Bind(ctx, arpecho.Name, "tap0", ndis.BindParams(map[string]string{"ip": gondisIP.String()})); err != nil {
		t.Fatalf("Bind: %v", err)
	}
	var ok bool
	if bn.r, ok = arpecho.Of(bn.b); !ok {
		t.Fatal("no responder")
	}
	bn.addAddress()
	return bn
}

func (bn *bench) addAddress() {
	run(bn.t, "ip", "-n", bn.ns, "addr", "replace", kernelIP+"/24", "dev", bn.ifname)
}

var pingStats = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)

// ping pings the responder from the namespace and returns how many of
// count were answered.
func (bn *bench) ping(count int, interval string, deadline int) (sent, received int, out string) {
	args := []string{"netns", "exec", bn.ns, "ping", "-n", "-i", interval, "-W", "1"}
	if deadline > 0 {
		args = append(args, "-w", strconv.Itoa(deadline))
	} else {
		args = append(args, "-c", strconv.Itoa(count))
	}
	b, _ := exec.Command("ip", append(args, gondisIP.String())...).CombinedOutput()
	m := pingStats.FindStringSubmatch(string(b))
	if m == nil {
		return 0, 0, string(b)
	}
	sent, _ = strconv.Atoi(m[1])
	received, _ = strconv.Atoi(m[2])
	return sent, received, string(b)
}

// inNamespace runs f on a goroutine locked to an OS thread switched into
// the namespace ns, where the sockets and interfaces f makes are created;
// they serve any goroutine afterwards. The thread is never switched back:
// it dies with the goroutine.
func inNamespace(ns string, f func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked
		h, err := netns.GetFromName(ns)
		if err != nil {
			ch <- err
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			ch <- err
			return
		}
		ch <- f()
	}()
	return <-ch
}

func (bn *bench) nlHandle() *netlink.Handle {
	bn.t.Helper()
	ns, err := netns.GetFromName(bn.ns)
	if err != nil {
		bn.t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		bn.t.Fatal(err)
	}
	bn.t.Cleanup(h.Close)
	return h
}

// recorder binds a recording protocol, "rec", to the bench's adapter and,
// unless filter is 0, sets its packet filter.
func (bn *bench) recorder(filter uint32) (*ndis.Binding, *ndistest.Recorder) {
	bn.t.Helper()
	rd := ndistest.NewRecorderDriver("rec")
	if err := bn.rt.RegisterProtocolDriver(rd.Driver()); err != nil {
		bn.t.Fatal(err)
	}
	ctx := context.Background()
	b, err := bn.rt.Bind(ctx, "rec", "tap0")
	if err != nil {
		bn.t.Fatal(err)
	}
	if filter != 0 {
		set := &ndis.OidRequest{Type: ndis.RequestSet, OID: ndis.OIDGenCurrentPacketFilter, Buffer: ndis.Ulong(filter)}
		if s := b.OidRequest(ctx, set); s != ndis.StatusSuccess {
			bn.t.Fatalf("set filter: %s", s)
		}
	}
	return b, rd.Binding(b)
}

func query(t *testing.T, b *ndis.Binding, oid ndis.OID, size int) []byte {
	t.Helper()
	r := &ndis.OidRequest{Type: ndis.RequestQuery, OID: oid, Buffer: make([]byte, size)}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if s := b.OidRequest(ctx, r); s != ndis.StatusSuccess {
		t.Fatalf("query %s: %s", oid, s)
	}
	return r.Buffer[:r.BytesWritten]
}

func TestPingThroughGondis(t *testing.T) {
	bn := newBench(t)
	sent, got, out := bn.ping(3, "0.2", 0)
	if sent != 3 || got != 3 {
		t.Fatalf("ping: %d/%d answered\n%s", got, sent, out)
	}
	st := bn.r.Stats()
	if st.ARPRequests == 0 || st.EchoRequests < 3 || st.Failed != 0 {
		t.Errorf("responder stats %+v", st)
	}
	if got := query(t, bn.b, ndis.OID8023CurrentAddress, 6); !bytes.Equal(got, adapterMAC[:]) {
		t.Errorf("OID_802_3_CURRENT_ADDRESS = %x, want %s", got, adapterMAC)
	}
	xmit := binary.LittleEndian.Uint64(query(t, bn.b, ndis.OIDGenXmitOK, 8))
	rcv := binary.LittleEndian.Uint64(query(t, bn.b, ndis.OIDGenRcvOK, 8))
	if xmit < 4 || rcv < 4 {
		t.Errorf("OID_GEN_XMIT_OK %d, OID_GEN_RCV_OK %d: want at least 4 each", xmit, rcv)
	}
	// The interface is in the test's namespace, not in the process's.
	if _, err := net.InterfaceByName(bn.ifname); err == nil {
		t.Errorf("interface %s appeared in the process's own namespace", bn.ifname)
	}
	l, err := bn.nlHandle().LinkByName(bn.ifname)
	if err != nil {
		t.Fatal(err)
	}
	if l.Attrs().MTU != testMTU {
		t.Errorf("MTU %d, want %d", l.Attrs().MTU, testMTU)
	}
	if ts, ok := tap.StatsOf(bn.a); !ok || ts.Resets != 0 {
		t.Errorf("tap stats %+v", ts)
	}
}

// TestFramesBothWays sends an ARP request for the kernel's address from a
// recording protocol with a directed-only filter: the kernel's reply comes
// back to it with the right content, and no broadcast reaches it.
func TestFramesBothWays(t *testing.T) {
	bn := newBench(t)
	b, rec := bn.recorder(ndis.PacketTypeDirected)
	kip := netip.MustParseAddr(kernelIP).As4()
	gip := gondisIP.As4()
	req := make([]byte, 60)
	copy(req[0:6], ndis.BroadcastAddress[:])
	copy(req[6:12], adapterMAC[:])
	binary.BigEndian.PutUint16(req[12:], 0x0806)
	binary.BigEndian.PutUint16(req[14:], 1)
	binary.BigEndian.PutUint16(req[16:], 0x0800)
	req[18], req[19] = 6, 4
	binary.BigEndian.PutUint16(req[20:], 1)
	copy(req[22:28], adapterMAC[:])
	copy(req[28:32], gip[:])
	copy(req[38:42], kip[:])
	b.SendNetBufferLists(ndis.NewNetBufferList(req))
	rec.WaitFor(t, "the send completed", func(r ndistest.Record) bool { return r.Kind == ndistest.RecordComplete })
	r := rec.WaitFor(t, "the kernel's ARP reply", func(r ndistest.Record) bool {
		if r.Kind != ndistest.RecordReceive {
			return false
		}
		for _, f := range r.Frames {
			if len(f) >= 42 && binary.BigEndian.Uint16(f[12:]) == 0x0806 && binary.BigEndian.Uint16(f[20:]) == 2 {
				return true
			}
		}
		return false
	})
	for _, f := range r.Frames {
		if binary.BigEndian.Uint16(f[12:]) != 0x0806 {
			continue
		}
		if !bytes.Equal(f[0:6], adapterMAC[:]) || !bytes.Equal(f[28:32], kip[:]) ||
			!bytes.Equal(f[32:38], adapterMAC[:]) || !bytes.Equal(f[38:42], gip[:]) {
			t.Errorf("ARP reply %x", f[:42])
		}
	}
	for _, c := range rec.Records() {
		if c.Kind == ndistest.RecordComplete && c.Statuses[0] != ndis.StatusSuccess {
			t.Errorf("send completed with %s", c.Statuses[0])
		}
		if c.Kind != ndistest.RecordReceive {
			continue
		}
		for _, f := range c.Frames {
			if !bytes.Equal(f[0:6], adapterMAC[:]) {
				t.Errorf("a directed-only binding received a frame to %x", f[0:6])
			}
		}
	}
	// The responder, with broadcast in its filter, answers as before.
	if sent, got, out := bn.ping(2, "0.2", 0); got != sent || sent != 2 {
		t.Errorf("ping: %d/%d\n%s", got, sent, out)
	}
}

func TestAdminDownUp(t *testing.T) {
	bn := newBench(t)
	if bn.a.Link().MediaConnectState != ndis.MediaConnectStateConnected {
		t.Fatalf("link %v at start", bn.a.Link().MediaConnectState)
	}
	run(t, "ip", "-n", bn.ns, "link", "set", bn.ifname, "down")
	ndistest.Eventually(t, func() bool { return bn.r.Stats().LinkDowns >= 1 }, "a link-down indication")
	if s := bn.a.Link().MediaConnectState; s != ndis.MediaConnectStateDisconnected {
		t.Errorf("link %v after down", s)
	}
	// A write while down fails with EIO: the send completes as
	// disconnected and nothing resets.
	b, rec := bn.recorder(0)
	f := make([]byte, 60)
	copy(f, ndis.BroadcastAddress[:])
	copy(f[6:], adapterMAC[:])
	binary.BigEndian.PutUint16(f[12:], 0x88B5)
	b.SendNetBufferLists(ndis.NewNetBufferList(f))
	c := rec.WaitFor(t, "the send while down completed", func(r ndistest.Record) bool { return r.Kind == ndistest.RecordComplete })
	if c.Statuses[0] != ndis.StatusMediaDisconnected {
		t.Errorf("send while down completed with %s, want %s", c.Statuses[0], ndis.StatusMediaDisconnected)
	}

	run(t, "ip", "-n", bn.ns, "link", "set", bn.ifname, "up")
	ndistest.Eventually(t, func() bool { return bn.r.Stats().LinkUps >= 1 }, "a link-up indication")
	if s := bn.a.Link().MediaConnectState; s != ndis.MediaConnectStateConnected {
		t.Errorf("link %v after up", s)
	}
	if sent, got, out := bn.ping(3, "0.2", 0); got != sent || sent != 3 {
		t.Errorf("ping after up: %d/%d\n%s", got, sent, out)
	}
	st := bn.r.Stats()
	ts, _ := tap.StatsOf(bn.a)
	if st.ResetStarts != 0 || ts.Resets != 0 || func() bool { n, _ := resets(bn.a); return n != 0 }() {
		t.Errorf("admin down/up caused a reset: responder %+v, tap %+v", st, ts)
	}
}

func TestRecoveryAfterDelete(t *testing.T) {
	bn := newBench(t)
	h := bn.nlHandle()
	l, err := h.LinkByName(bn.ifname)
	if err != nil {
		t.Fatal(err)
	}
	kmac := l.Attrs().HardwareAddr
	if sent, got, out := bn.ping(2, "0.2", 0); got != sent || sent != 2 {
		t.Fatalf("ping before: %d/%d\n%s", got, sent, out)
	}

	type result struct {
		sent, got int
		out       string
	}
	done := make(chan result, 1)
	go func() {
		s, g, o := bn.ping(0, "0.1", 4)
		done <- result{s, g, o}
	}()
	// Delete it twice: the second time, the interface the first reset
	// re-created goes.
	var deleted time.Time
	for i := range 2 {
		time.Sleep(time.Second)
		deleted = time.Now()
		run(t, "ip", "-n", bn.ns, "link", "del", bn.ifname)
		ndistest.Eventually(t, func() bool { return bn.r.Stats().ResetEnds >= uint64(i+1) }, "RESET_END at the responder")
		// The test puts back what the deletion took: the namespace's
		// address (and with it the connected route).
		ndistest.Eventually(t, func() bool {
			_, err := h.LinkByName(bn.ifname)
			return err == nil
		}, "the interface re-created")
		bn.addAddress()
	}
	recovered := time.Since(deleted)
	res := <-done
	ts, _ := tap.StatsOf(bn.a)
	_, maxDur := resets(bn.a)
	t.Logf("recovery: %d of %d pings lost while the interface was deleted and re-created twice; reset took %v (Reset() itself %v); "+
		"last deletion to address restored %v; last error %q",
		res.sent-res.got, res.sent, maxDur, ts.LastResetDuration, recovered, ts.LastError)

	if sent, got, out := bn.ping(3, "0.2", 0); got != sent || sent != 3 {
		t.Fatalf("ping after recovery: %d/%d\n%s", got, sent, out)
	}
	if res.got == 0 {
		t.Errorf("no ping answered during the run\n%s", res.out)
	}
	l, err = h.LinkByName(bn.ifname)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(l.Attrs().HardwareAddr, kmac) || l.Attrs().MTU != testMTU {
		t.Errorf("re-created with MAC %s MTU %d, want %s %d", l.Attrs().HardwareAddr, l.Attrs().MTU, kmac, testMTU)
	}
	st := bn.r.Stats()
	if st.ResetStarts != st.ResetEnds || st.ResetStarts < 2 {
		t.Errorf("responder heard %d RESET_START and %d RESET_END", st.ResetStarts, st.ResetEnds)
	}
	if ts.Resets < 2 || ts.ResetFailures != 0 {
		t.Errorf("tap stats %+v", ts)
	}
	if got := query(t, bn.b, ndis.OID8023CurrentAddress, 6); !bytes.Equal(got, adapterMAC[:]) {
		t.Errorf("OID_802_3_CURRENT_ADDRESS after reset = %x", got)
	}
}

// resets sums the runtime's reset counters over every cause.
func resets(a *ndis.Adapter) (performed uint64, maxDur time.Duration) {
	for _, c := range a.Stats().Resets {
		performed += c.Performed
		maxDur = max(maxDur, c.MaxDuration)
	}
	return performed, maxDur
}

// TestOperatorReset: a reset of a live interface keeps it, with the
// namespace's address: pings go on with no help.
func TestOperatorReset(t *testing.T) {
	bn := newBench(t)
	l, err := bn.nlHandle().LinkByName(bn.ifname)
	if err != nil {
		t.Fatal(err)
	}
	if err := bn.rt.ResetAdapter("tap0"); err != nil {
		t.Fatal(err)
	}
	ndistest.Eventually(t, func() bool { return bn.r.Stats().ResetEnds == 1 }, "RESET_END")
	if sent, got, out := bn.ping(3, "0.2", 0); got != sent || sent != 3 {
		t.Fatalf("ping after an operator reset: %d/%d\n%s", got, sent, out)
	}
	l2, err := bn.nlHandle().LinkByName(bn.ifname)
	if err != nil {
		t.Fatal(err)
	}
	if l2.Attrs().Index != l.Attrs().Index {
		t.Errorf("the interface was re-created (index %d -> %d), want it kept", l.Attrs().Index, l2.Attrs().Index)
	}
	if ts, _ := tap.StatsOf(bn.a); ts.Resets != 1 || ts.DeadErrors != 0 {
		t.Errorf("tap stats %+v", ts)
	}
}

// TestPersistAndAttach: a persistent interface outlives its adapter, and a
// new adapter attaches to it.
func TestPersistAndAttach(t *testing.T) {
	bn := newBench(t)
	ctx := context.Background()
	var remove func()
	params := map[string]string{"name": bn.ifname + "p", "netns": "/var/run/netns/" + bn.ns, "persist": "true",
		"mac": "02:67:6e:64:00:03"}
	// RemoveAdapter returns before the runtime releases the adapter's
	// name (ndis: RemoveAdapter vs forget); wait for Done before re-adding.
	add := func() {
		t.Helper()
		a, err := bn.rt.AddAdapter(ctx, "tapp", "tap", params)
		if err != nil {
			t.Fatalf("AddAdapter: %v", err)
		}
		remove = func() {
			t.Helper()
			if err := bn.rt.RemoveAdapter(ctx, "tapp"); err != nil {
				t.Fatal(err)
			}
			<-a.Done()
		}
	}
	add()
	remove()
	h := bn.nlHandle()
	l, err := h.LinkByName(bn.ifname + "p")
	if err != nil {
		t.Fatalf("the persistent interface is gone after RemoveAdapter: %v", err)
	}
	add()
	l2, err := h.LinkByName(bn.ifname + "p")
	if err != nil || l2.Attrs().Index != l.Attrs().Index {
		t.Errorf("attach re-created the interface: %v", err)
	}
	remove()
	// An adapter without persist clears the flag: its halt takes the
	// interface away.
	params["persist"] = "false"
	add()
	remove()
	if _, err := h.LinkByName(bn.ifname + "p"); err == nil {
		t.Errorf("the interface outlived a non-persistent adapter")
	}
}

// TestMulticastBroadcastFilter: the kernel sends an ICMP echo to a
// multicast group and to the subnet's broadcast address; a binding with
// MULTICAST and that group in its list gets the first and not the second,
// one with BROADCAST the second and not the first.
func TestMulticastBroadcastFilter(t *testing.T) {
	bn := newBench(t)
	group := ndis.MacAddress{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01} // 224.0.0.1
	rd := ndistest.NewRecorderDriver("rec")
	if err := bn.rt.RegisterProtocolDriver(rd.Driver()); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	bind := func(filter uint32, list []ndis.MacAddress) *ndistest.Recorder {
		b, err := bn.rt.Bind(ctx, "rec", "tap0")
		if err != nil {
			t.Fatal(err)
		}
		if list != nil {
			r := &ndis.OidRequest{Type: ndis.RequestSet, OID: ndis.OID8023MulticastList, Buffer: ndis.EncodeMulticastList(list)}
			if s := b.OidRequest(ctx, r); s != ndis.StatusSuccess {
				t.Fatalf("set multicast list: %s", s)
			}
		}
		r := &ndis.OidRequest{Type: ndis.RequestSet, OID: ndis.OIDGenCurrentPacketFilter, Buffer: ndis.Ulong(filter)}
		if s := b.OidRequest(ctx, r); s != ndis.StatusSuccess {
			t.Fatalf("set filter: %s", s)
		}
		return rd.Binding(b)
	}
	mc := bind(ndis.PacketTypeMulticast, []ndis.MacAddress{group})
	bc := bind(ndis.PacketTypeBroadcast, nil)

	isICMPTo := func(f []byte, dst ndis.MacAddress) bool {
		return len(f) >= 34 && ndis.MacAddress(f[0:6]) == dst && binary.BigEndian.Uint16(f[12:]) == 0x0800 && f[23] == 1
	}
	exec.Command("ip", "netns", "exec", bn.ns, "ping", "-n", "-c", "1", "-W", "1", "-I", bn.ifname, "224.0.0.1").Run()
	exec.Command("ip", "netns", "exec", bn.ns, "ping", "-n", "-b", "-c", "1", "-W", "1", "10.77.0.255").Run()
	mc.WaitFor(t, "the multicast echo", func(r ndistest.Record) bool {
		return r.Kind == ndistest.RecordReceive && isICMPTo(r.Frames[0], group)
	})
	bc.WaitFor(t, "the broadcast echo", func(r ndistest.Record) bool {
		return r.Kind == ndistest.RecordReceive && isICMPTo(r.Frames[0], ndis.BroadcastAddress)
	})
	for name, rec := range map[string]*ndistest.Recorder{"multicast": mc, "broadcast": bc} {
		for _, r := range rec.Records() {
			if r.Kind != ndistest.RecordReceive {
				continue
			}
			for _, f := range r.Frames {
				dst := ndis.MacAddress(f[0:6])
				if name == "multicast" && dst != group || name == "broadcast" && dst != ndis.BroadcastAddress {
					t.Errorf("the %s binding received a frame to %s", name, dst)
				}
			}
		}
	}
}

// TestResetCannotRecreate: while the interface cannot be re-created, a
// reset answers StatusHardErrors, sends complete with
// StatusRequestAborted and CheckForHang asks again; once it can, the next
// reset brings pings back. When it never can, the runtime's escalation
// fails the adapter after three failed resets in a row, and its protocols
// are unbound.
func TestResetCannotRecreate(t *testing.T) {
	blocked := errors.New("tap: re-creation blocked by the test")
	t.Run("recovers", func(t *testing.T) {
		bn := newBench(t)
		var fails atomic.Int32
		fails.Store(2)
		tap.SetOpenHook(func() error {
			if fails.Add(-1) >= 0 {
				return blocked
			}
			return nil
		})
		defer tap.SetOpenHook(nil)
		run(t, "ip", "-n", bn.ns, "link", "del", bn.ifname)
		ndistest.Eventually(t, func() bool { ts, _ := tap.StatsOf(bn.a); return ts.ResetFailures >= 1 }, "a failed reset")
		// A send while the adapter has no interface completes, aborted.
		rd := ndistest.NewRecorderDriver("rec")
		if err := bn.rt.RegisterProtocolDriver(rd.Driver()); err != nil {
			t.Fatal(err)
		}
		b, err := bn.rt.Bind(context.Background(), "rec", "tap0")
		if err != nil {
			t.Fatalf("Bind to an adapter with no interface: %v", err)
		}
		rec := rd.Binding(b)
		b.SendNetBufferLists(ndis.NewNetBufferList(make([]byte, 60)))
		c := rec.WaitFor(t, "the send completed", func(r ndistest.Record) bool { return r.Kind == ndistest.RecordComplete })
		if s := c.Statuses[0]; s != ndis.StatusRequestAborted && s != ndis.StatusResetInProgress {
			t.Errorf("a send with no interface completed with %s", s)
		}
		t.Logf("a send with no interface completed with %s", c.Statuses[0])
		ndistest.Eventually(t, func() bool {
			_, err := bn.nlHandle().LinkByName(bn.ifname)
			return err == nil
		}, "the interface re-created by a later reset")
		bn.addAddress()
		if sent, got, out := bn.ping(3, "0.2", 0); got != sent || sent != 3 {
			t.Fatalf("ping after recovery: %d/%d\n%s", got, sent, out)
		}
		ts, _ := tap.StatsOf(bn.a)
		if ts.ResetFailures != 2 || !strings.Contains(ts.LastError, blocked.Error()) {
			t.Errorf("tap stats %+v, want 2 failed resets and the hook's error", ts)
		}
		st := bn.r.Stats()
		if st.ResetStarts != st.ResetEnds || st.ResetEnds < 3 {
			t.Errorf("responder heard %d RESET_START, %d RESET_END, want ≥ 3 pairs", st.ResetStarts, st.ResetEnds)
		}
	})
	t.Run("escalates", func(t *testing.T) {
		bn := newBench(t)
		tap.SetOpenHook(func() error { return blocked })
		defer tap.SetOpenHook(nil)
		run(t, "ip", "-n", bn.ns, "link", "del", bn.ifname)
		select {
		case <-bn.a.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("the adapter did not fail after its resets kept failing: %+v", bn.a.Stats())
		}
		var failed uint64
		for _, c := range bn.a.Stats().Resets {
			failed += c.Failed
		}
		if failed < 3 {
			t.Errorf("the adapter failed after %d failed resets, want 3", failed)
		}
	})
}

// blocker is a protocol whose link-state handler, once armed, blocks until
// released: it holds the netlink watcher inside an indication.
type blocker struct {
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (p *blocker) ReceiveNetBufferLists(*ndis.NetBufferList, ndis.ReceiveFlags) {}
func (p *blocker) SendNetBufferListsComplete(*ndis.NetBufferList)               {}
func (p *blocker) Status(code ndis.Status, _ []byte) {
	if code == ndis.StatusLinkState && p.armed.CompareAndSwap(true, false) {
		close(p.entered)
		<-p.release
	}
}

// TestNetlinkOverrun: while the netlink watcher is held inside an
// indication, a flood of link events in the namespace overruns its
// subscription's socket and the subscription ends; the watcher subscribes
// again, reports the link state it missed, and reports later changes.
func TestNetlinkOverrun(t *testing.T) {
	bn := newBench(t)
	p := &blocker{entered: make(chan struct{}), release: make(chan struct{})}
	if err := bn.rt.RegisterProtocolDriver(ndis.ProtocolDriver{Name: "blocker",
		BindAdapter: func(*ndis.Binding) (ndis.Protocol, error) { return p, nil }}); err != nil {
		t.Fatal(err)
	}
	if _, err := bn.rt.Bind(context.Background(), "blocker", "tap0"); err != nil {
		t.Fatal(err)
	}
	p.armed.Store(true)
	run(t, "ip", "-n", bn.ns, "link", "set", bn.ifname, "down")
	select {
	case <-p.entered:
	case <-time.After(5 * time.Second):
		close(p.release)
		t.Fatal("no link-state indication for the admin down")
	}
	// Thousands of link events (the namespace's loopback changing its
	// MTU) while the watcher is held: far more than the subscription's
	// channel and socket buffer hold.
	var batch strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&batch, "link set lo mtu %d\n", 1500+i%2)
	}
	cmd := exec.Command("ip", "-n", bn.ns, "-batch", "-")
	cmd.Stdin = strings.NewReader(batch.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		close(p.release)
		t.Fatalf("ip -batch: %v\n%s", err, out)
	}
	run(t, "ip", "-n", bn.ns, "link", "set", bn.ifname, "up") // lost in the overrun, or not
	close(p.release)
	ndistest.Eventually(t, func() bool { ts, _ := tap.StatsOf(bn.a); return ts.Resubscribes > 0 }, "the watcher subscribed again")
	ndistest.Eventually(t, func() bool { return bn.a.Link().MediaConnectState == ndis.MediaConnectStateConnected },
		"the link state missed in the overrun reported")
	run(t, "ip", "-n", bn.ns, "link", "set", bn.ifname, "down")
	ndistest.Eventually(t, func() bool { return bn.a.Link().MediaConnectState == ndis.MediaConnectStateDisconnected },
		"a later change reported by the new subscription")
	if ts, _ := tap.StatsOf(bn.a); ts.Resets != 0 {
		t.Errorf("the overrun caused %d resets", ts.Resets)
	}
}
