package tap_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/songgao/water"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/gondis/gondis/miniport/tap"
	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

// BenchmarkTAP measures frames per second through a TAP interface, both
// ways, for the gondis adapter (multi-queue, "queues": "auto", one queue per
// core; and gondis-1q, one queue) beside github.com/songgao/water doing
// plain one-frame reads and writes on an identical TAP interface, in the
// same run:
//
//	rx  kernel → user space. With the consumer stopped, the load
//	    generator (gen_linux_test.go) fills the TAP's rings with up to
//	    2^18 IPv4/UDP frames of 256 flows to the adapter's address; then
//	    the timer runs while the consumer drains them, with the machine to
//	    itself. Repeated until b.N frames are read. (A generator running
//	    beside the consumer is not faster than the consumers on a small
//	    machine, and takes their cores: see BenchmarkGenerator.)
//	tx  user space → kernel: frames of 256 flows to a MAC address nobody
//	    has; the kernel receives them and drops them. kernel-rx/frame is
//	    the interface's rx_packets per frame sent (the run fails below
//	    0.99)
//
// The sizes (64B, 1500B) are the length of the whole Ethernet frame as it
// crosses the TAP descriptor: the 14-byte header and the payload, no FCS
// (1500B carries a 1486-byte IPv4 packet). The adapters' MTU is 1500, so
// frames of up to 1514 bytes pass.
//
// max-queue-share is the share of the frames the adapter's busiest queue
// carried (1 for one queue; 0.5 is an even spread over two).
//
// Each sub-benchmark has a network namespace of its own, removed at the
// end; no frame leaves it. As root:
//
//	go test -run XXX -bench BenchmarkTAP -benchtime 3000000x -count 10 ./miniport/tap/
func BenchmarkTAP(b *testing.B) {
	for _, dir := range []struct {
		name string
		run  func(*testing.B, int, string)
	}{{"rx", benchRx}, {"tx", benchTx}} {
		for _, size := range benchSizes {
			for _, c := range []struct{ name, queues string }{{"water", ""}, {"gondis", "auto"}, {"gondis-1q", "1"}} {
				b.Run(fmt.Sprintf("%s/%dB/%s", dir.name, size, c.name), func(b *testing.B) { dir.run(b, size, c.queues) })
			}
		}
	}
}

var benchSizes = []int{64, 1500}

const (
	benchMTU = 1500
	// benchFlows is how many flows the frames belong to (UDP source ports
	// 10000…10255): a multi-queue TAP spreads them by a hash of the flow.
	// With few flows the busiest queue's share depends on the kernel's
	// hash key, random at each boot (64 flows gave 41 to one queue and 23
	// to the other on one boot); 256 make it close to even on any.
	benchFlows = 256
	// drainRound is the most frames the rx benchmarks queue at once, and
	// drainQueueLen their interfaces' txqueuelen, from which tun sizes
	// each queue's ring: room for a round even if a flow hash sent it all
	// to one queue. 2^19 is the most tun takes (the ring of pointers is
	// one kmalloc of at most 4 MiB).
	drainRound    = 1 << 18
	drainQueueLen = 1 << 19
)

var sinkMAC = ndis.MacAddress{0x02, 0x00, 0x00, 0x00, 0x00, 0x99}

// flowFrames returns one IPv4/UDP frame of size bytes for each of the
// benchFlows flows, from src to dst.
func flowFrames(dst, src ndis.MacAddress, size int) [][]byte {
	fs := make([][]byte, benchFlows)
	for i := range fs {
		fs[i] = udpFrame(dst, src, uint16(10000+i), size)
	}
	return fs
}

// epoch makes monotonic nanosecond stamps that reader goroutines can take
// without allocating.
var epoch = time.Now()

func now() int64 { return int64(time.Since(epoch)) }

// --- the benchmarks' namespace -------------------------------------------

// tapBench is one benchmark's network namespace (removed by Cleanup,
// whatever happens) and a netlink handle in it.
type tapBench struct {
	b  *testing.B
	ns string
	n  uint32
	nl *netlink.Handle
}

func newTAPBench(b *testing.B) *tapBench {
	requireRoot(b)
	n := nsSeq.Add(1)
	tb := &tapBench{b: b, ns: fmt.Sprintf("gondis-b%d-%d", os.Getpid(), n), n: n}
	run(b, "ip", "netns", "add", tb.ns)
	b.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", tb.ns).CombinedOutput(); err != nil {
			b.Errorf("ip netns del %s: %v\n%s", tb.ns, err, out)
		}
	})
	run(b, "ip", "-n", tb.ns, "link", "set", "lo", "up")
	// No IPv6: the kernel's own frames (router solicitations, MLD) would
	// reach the consumers beside the generator's.
	if err := inNamespace(tb.ns, func() error {
		for _, p := range []string{"all", "default"} {
			err := os.WriteFile("/proc/sys/net/ipv6/conf/"+p+"/disable_ipv6", []byte("1"), 0)
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	h, err := netns.GetFromName(tb.ns)
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close()
	if tb.nl, err = netlink.NewHandleAt(h); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(tb.nl.Close)
	return tb
}

// ifname returns the name of the benchmark's interface.
func (tb *tapBench) ifname() string { return fmt.Sprintf("gb%d", tb.n) }

// link sets the interface up with the benchmark's MTU and, unless it is 0,
// the txqueuelen qlen.
func (tb *tapBench) link(name string, qlen int) {
	tb.b.Helper()
	l, err := tb.nl.LinkByName(name)
	if err != nil {
		tb.b.Fatal(err)
	}
	if err := tb.nl.LinkSetMTU(l, benchMTU); err != nil {
		tb.b.Fatal(err)
	}
	if qlen > 0 {
		if err := tb.nl.LinkSetTxQLen(l, qlen); err != nil {
			tb.b.Fatalf("txqueuelen %d: %v", qlen, err)
		}
	}
	if err := tb.nl.LinkSetUp(l); err != nil {
		tb.b.Fatal(err)
	}
}

// stats returns the interface's counters.
func (tb *tapBench) stats(name string) *netlink.LinkStatistics {
	tb.b.Helper()
	l, err := tb.nl.LinkByName(name)
	if err != nil {
		tb.b.Fatal(err)
	}
	return l.Attrs().Statistics
}

// consumer is the user-space end of the benchmark's TAP interface: water's
// or a gondis adapter's.
type consumer struct {
	ifname string
	w      *water.Interface // water
	rt     *ndis.Runtime    // gondis
	a      *ndis.Adapter
}

// consumer creates the user-space end: water when queues is "", else a
// gondis adapter with that queues parameter. The interface gets the
// benchmark's MTU and, unless it is 0, the txqueuelen qlen.
func (tb *tapBench) consumer(queues string, qlen int) *consumer {
	tb.b.Helper()
	var c *consumer
	if queues == "" {
		c = tb.water()
	} else {
		c = tb.gondis(queues)
	}
	tb.link(c.ifname, qlen)
	return c
}

// gondis creates a runtime and a TAP adapter "tap0" in the namespace, as
// newBench does (with the strict verifier), with the benchmark's MTU and
// the queues parameter.
func (tb *tapBench) gondis(queues string) *consumer {
	b := tb.b
	rt := ndis.New(ndistest.NewVerifier(b).Options()...)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rt.Close(ctx); err != nil {
			b.Errorf("runtime Close: %v", err)
		}
	})
	if err := rt.RegisterMiniportDriver(tap.Driver()); err != nil {
		b.Fatal(err)
	}
	name := tb.ifname()
	a, err := rt.AddAdapter(context.Background(), "tap0", "tap", map[string]string{"name": name, "netns": tb.ns,
		"mtu": strconv.Itoa(benchMTU), "mac": adapterMAC.String(), "queues": queues})
	if err != nil {
		b.Fatalf("AddAdapter: %v", err)
	}
	return &consumer{ifname: name, rt: rt, a: a}
}

// water creates a TAP interface in the namespace with songgao/water. It
// has no namespace option: water.New runs on a thread switched into the
// namespace, and the descriptor stays in the namespace it was created in.
//
// water (this version, built with Go ≥ 1.11) opens /dev/net/tun with
// O_NONBLOCK and wraps the descriptor in os.NewFile: it is non-blocking,
// and Read and Write go through the Go runtime's poller, one system call
// per frame (a read of an empty ring parks the goroutine until the poller
// says the descriptor is readable). It does not set O_CLOEXEC.
func (tb *tapBench) water() *consumer {
	b := tb.b
	name := tb.ifname()
	var w *water.Interface
	err := inNamespace(tb.ns, func() (err error) {
		w, err = water.New(water.Config{DeviceType: water.TAP,
			PlatformSpecificParams: water.PlatformSpecificParams{Name: name}})
		return err
	})
	if err != nil {
		b.Fatalf("water.New: %v", err)
	}
	b.Cleanup(func() { w.Close() })
	return &consumer{ifname: name, w: w}
}

// reportQueues reports the share of the frames (received or sent) that
// the gondis adapter's busiest queue carried.
func (c *consumer) reportQueues(b *testing.B, rx bool) {
	if c.a == nil {
		return
	}
	ts, ok := tap.StatsOf(c.a)
	if !ok || len(ts.Queues) == 0 {
		b.Errorf("no queue statistics: %+v", ts)
		return
	}
	var total, most uint64
	for _, q := range ts.Queues {
		n := q.XmitOK
		if rx {
			n = q.RcvOK
		}
		total += n
		most = max(most, n)
	}
	if total > 0 {
		b.ReportMetric(float64(most)/float64(total), "max-queue-share")
	}
}

// generator opens a load generator into the benchmark's namespace, or
// fails the benchmark. Cleanup stops it.
func (tb *tapBench) generator(cfg genConfig) *generator {
	tb.b.Helper()
	cfg.ns = tb.ns
	g, err := newGenerator(cfg)
	if err != nil {
		tb.b.Fatal(err)
	}
	tb.b.Cleanup(func() { _ = g.Stop() })
	return g
}

// fill queues k frames on the interface's rings, from two threads, and
// fails the benchmark if one was dropped.
func (tb *tapBench) fill(ifname string, frames [][]byte, k int) {
	tb.b.Helper()
	before := tb.stats(ifname).TxDropped
	g := tb.generator(genConfig{ifname: ifname, frames: frames, threads: 2, bypass: true, limit: int64(k)})
	g.Start()
	if err := g.Wait(); err != nil {
		tb.b.Fatalf("filling the rings with %d frames: %v", k, err)
	}
	if d := tb.stats(ifname).TxDropped - before; d > 0 {
		tb.b.Fatalf("the TAP dropped %d of %d frames", d, k)
	}
}

// --- receive -------------------------------------------------------------

// counter is a protocol that counts the frames indicated to it and returns
// them, unless it is told to hold them (which stalls the adapter's readers
// once its pool is empty). Indications come from several goroutines (one
// per queue); it stamps the times the rx benchmarks measure between in
// them, so that no goroutine's wake-up is timed.
type counter struct {
	b      *ndis.Binding
	n      atomic.Int64
	target atomic.Int64
	hit    chan struct{} // capacity 1: n reached target
	end    atomic.Int64  // when n reached target
	armed  atomic.Bool   // stamp the next indication:
	start  atomic.Int64  // when it came
	startN atomic.Int64  // n after it

	holding atomic.Bool // set under mu
	mu      sync.Mutex
	held    *ndis.NetBufferList
}

func (c *counter) ReceiveNetBufferLists(l *ndis.NetBufferList, _ ndis.ReceiveFlags) {
	k := int64(l.Len())
	if c.holding.Load() && c.hold(l) {
		c.n.Add(k)
		return
	}
	c.b.ReturnNetBufferLists(l)
	n := c.n.Add(k)
	if c.armed.Load() && c.armed.CompareAndSwap(true, false) {
		c.start.Store(now())
		c.startN.Store(n)
	}
	if t := c.target.Load(); n >= t && n-k < t {
		c.end.Store(now())
		select {
		case c.hit <- struct{}{}:
		default:
		}
	}
}
func (c *counter) SendNetBufferListsComplete(*ndis.NetBufferList) {}
func (c *counter) Status(ndis.Status, []byte)                     {}

// hold keeps the chain l when the counter holds.
func (c *counter) hold(l *ndis.NetBufferList) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.holding.Load() {
		return false
	}
	t := l
	for t.Next != nil {
		t = t.Next
	}
	t.Next, c.held = c.held, l
	return true
}

func (c *counter) setHold() {
	c.mu.Lock()
	c.holding.Store(true)
	c.mu.Unlock()
}

// release returns what the counter held and stops holding.
func (c *counter) release() {
	c.mu.Lock()
	c.holding.Store(false)
	l := c.held
	c.held = nil
	c.mu.Unlock()
	if l != nil {
		c.b.ReturnNetBufferLists(l)
	}
}

// waitFor waits until the counter reaches t frames.
func (c *counter) waitFor(b *testing.B, t int64) {
	c.target.Store(t)
	timeout := time.NewTimer(time.Minute)
	defer timeout.Stop()
	for c.n.Load() < t {
		select {
		case <-c.hit:
		case <-timeout.C:
			b.Fatalf("%d frames received, waiting for %d", c.n.Load(), t)
		}
	}
}

// bindCounter binds a counter with a directed-only packet filter. Cleanup
// returns what it holds.
func bindCounter(b *testing.B, rt *ndis.Runtime) *counter {
	c := &counter{hit: make(chan struct{}, 1)}
	if err := rt.RegisterProtocolDriver(ndis.ProtocolDriver{Name: "count",
		BindAdapter: func(bd *ndis.Binding) (ndis.Protocol, error) {
			c.b = bd
			r := &ndis.OidRequest{Type: ndis.RequestSet, OID: ndis.OIDGenCurrentPacketFilter, Buffer: ndis.Ulong(ndis.PacketTypeDirected)}
			if s := bd.OidRequest(b.Context(), r); s != ndis.StatusSuccess {
				return nil, s
			}
			return c, nil
		}}); err != nil {
		b.Fatal(err)
	}
	if _, err := rt.Bind(b.Context(), "count", "tap0"); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.release)
	return c
}

// readWater reads frames with water until want of size bytes came.
func readWater(b *testing.B, w *water.Interface, buf []byte, size, want int) {
	for n := 0; n < want; {
		k, err := w.Read(buf)
		if err != nil {
			b.Fatal(err)
		}
		if k == size { // the generator's (IPv6 is off: nothing else should come)
			n++
		}
	}
}

// benchRx times the consumer draining rings the generator filled.
func benchRx(b *testing.B, size int, queues string) {
	tb := newTAPBench(b)
	c := tb.consumer(queues, drainQueueLen)
	frames := flowFrames(adapterMAC, sinkMAC, size)
	var cnt *counter
	if c.a != nil {
		cnt = bindCounter(b, c.rt)
	}
	buf := make([]byte, 65536)
	var elapsed time.Duration
	timed := 0
	b.ReportAllocs()
	b.ResetTimer()
	b.StopTimer()
	for timed < b.N {
		if c.w != nil {
			k := min(drainRound, b.N-timed)
			tb.fill(c.ifname, frames, k)
			b.StartTimer()
			start := time.Now()
			readWater(b, c.w, buf, size, k)
			elapsed += time.Since(start)
			b.StopTimer()
			timed += k
			continue
		}
		// The adapter's readers read until its receive pool is empty (the
		// counter holds what they indicate), then wait; what they read
		// before the first indication after the release is not timed.
		held := tap.PoolLimit + 16*tap.Batch
		k := min(drainRound, max(b.N-timed+held, 4*held))
		base := cnt.n.Load() // the rings are empty
		cnt.setHold()
		tb.fill(c.ifname, frames, k)
		cnt.target.Store(base + int64(k))
		cnt.armed.Store(true)
		b.StartTimer()
		cnt.release()
		cnt.waitFor(b, base+int64(k))
		b.StopTimer()
		if cnt.armed.Load() {
			b.Fatalf("no indication after the release: %d frames held of %d", cnt.n.Load()-base, k)
		}
		elapsed += time.Duration(cnt.end.Load() - cnt.start.Load())
		timed += int(base + int64(k) - cnt.startN.Load())
	}
	b.ReportMetric(float64(timed)/elapsed.Seconds(), "frames/s")
	c.reportQueues(b, true)
}

// --- send ----------------------------------------------------------------

// sender is a protocol that sends batches of NBLs: completed chains come
// back on done, one channel operation per completion (done has room for
// every NBL in flight, so a completion never blocks).
type sender struct {
	done chan *ndis.NetBufferList
}

func (s *sender) ReceiveNetBufferLists(*ndis.NetBufferList, ndis.ReceiveFlags) {}
func (s *sender) SendNetBufferListsComplete(l *ndis.NetBufferList)             { s.done <- l }
func (s *sender) Status(ndis.Status, []byte)                                   {}

// benchTx times frames written to the kernel, and checks that it received
// them.
func benchTx(b *testing.B, size int, queues string) {
	tb := newTAPBench(b)
	c := tb.consumer(queues, 0)
	frames := flowFrames(sinkMAC, adapterMAC, size)
	var elapsed time.Duration
	before := tb.stats(c.ifname)
	if c.w != nil {
		b.ReportAllocs()
		b.ResetTimer()
		start := time.Now()
		for i := range b.N {
			if _, err := c.w.Write(frames[i%len(frames)]); err != nil {
				b.Fatal(err)
			}
		}
		elapsed = time.Since(start)
		b.StopTimer()
	} else {
		elapsed = sendGondis(b, c.rt, frames)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "frames/s")
	got := tb.stats(c.ifname).RxPackets - before.RxPackets
	b.ReportMetric(float64(got)/float64(b.N), "kernel-rx/frame")
	if float64(got) < 0.99*float64(b.N) {
		b.Errorf("the kernel received %d of %d frames", got, b.N)
	}
	c.reportQueues(b, false)
}

// sendGondis sends b.N frames through the adapter in chains of 64 NBLs,
// with 256 NBLs in flight, and returns how long it took until the last
// completion.
func sendGondis(b *testing.B, rt *ndis.Runtime, frames [][]byte) time.Duration {
	const batch, window = 64, 256
	s := &sender{done: make(chan *ndis.NetBufferList, window)}
	if err := rt.RegisterProtocolDriver(ndis.ProtocolDriver{Name: "send",
		BindAdapter: func(*ndis.Binding) (ndis.Protocol, error) { return s, nil }}); err != nil {
		b.Fatal(err)
	}
	bd, err := rt.Bind(b.Context(), "send", "tap0")
	if err != nil {
		b.Fatal(err)
	}
	for i := range window {
		s.done <- ndis.NewNetBufferList(frames[i%len(frames)])
	}
	var carry *ndis.NetBufferList // completed NBLs not sent again yet
	failed := 0
	next := func() *ndis.NetBufferList {
		if carry == nil {
			carry = <-s.done
		}
		l := carry
		carry, l.Next = l.Next, nil
		if l.Status != ndis.StatusSuccess {
			failed++
		}
		return l
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for sent := 0; sent < b.N; {
		var head, tail *ndis.NetBufferList
		for n := 0; n < batch && sent < b.N; n++ {
			l := next()
			if head == nil {
				head = l
			} else {
				tail.Next = l
			}
			tail = l
			sent++
		}
		bd.SendNetBufferLists(head)
	}
	for range window {
		next()
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if failed > 0 {
		b.Errorf("%d sends failed", failed)
	}
	return elapsed
}

// --- the generator alone -------------------------------------------------

// BenchmarkGenerator measures the receive benchmarks' load generator alone:
// frames per second into a TAP interface that nobody reads while the timer
// runs, with and without PACKET_QDISC_BYPASS, from one and two threads,
// into one queue and into two (the multi-queue adapter's). The rings are
// as large as tun allows and the generator sends at most a round
// (drainRound) at a time, so that every frame counted was queued for user
// space, none dropped (checked: sendmmsg's ENOBUFS with bypass, tx_dropped
// without); between rounds, with the timer stopped, the rings are read
// empty. BenchmarkTAP's rx does not time the generator; this says whether
// one running beside the consumer could keep it busy.
func BenchmarkGenerator(b *testing.B) {
	for _, size := range benchSizes {
		for _, queues := range []int{1, 2} {
			for _, bypass := range []bool{true, false} {
				for _, threads := range []int{1, 2} {
					mode := "qdisc"
					if bypass {
						mode = "bypass"
					}
					name := fmt.Sprintf("%dB/%dq/%s/%dthread", size, queues, mode, threads)
					b.Run(name, func(b *testing.B) { benchGenerator(b, size, queues, bypass, threads) })
				}
			}
		}
	}
}

func benchGenerator(b *testing.B, size, queues int, bypass bool, threads int) {
	tb := newTAPBench(b)
	fds, ifname := tb.rawTAP(queues)
	tb.link(ifname, drainQueueLen)
	frames := flowFrames(adapterMAC, sinkMAC, size)
	b.ReportAllocs()
	b.ResetTimer()
	b.StopTimer()
	var elapsed time.Duration
	for sent := 0; sent < b.N; {
		k := min(b.N-sent, drainRound)
		before := tb.stats(ifname)
		g := tb.generator(genConfig{ifname: ifname, frames: frames, threads: threads, bypass: bypass, limit: int64(k)})
		b.StartTimer()
		start := time.Now()
		g.Start()
		err := g.Wait()
		elapsed += time.Since(start)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if d := tb.stats(ifname).TxDropped - before.TxDropped; d > 0 {
			b.Fatalf("the TAP dropped %d of %d frames", d, k)
		}
		if got := drain(b, fds); got != k {
			b.Fatalf("read back %d frames, sent %d", got, k)
		}
		sent += k
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "frames/s")
}

// rawTAP creates a TAP interface with that many queues in the namespace,
// on non-blocking descriptors nothing reads but drain.
func (tb *tapBench) rawTAP(queues int) ([]int, string) {
	b := tb.b
	b.Helper()
	name := tb.ifname()
	var fds []int
	err := inNamespace(tb.ns, func() error {
		flags := uint16(unix.IFF_TAP | unix.IFF_NO_PI)
		if queues > 1 {
			flags |= unix.IFF_MULTI_QUEUE
		}
		for range queues {
			fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
			if err != nil {
				return err
			}
			fds = append(fds, fd)
			ifr, err := unix.NewIfreq(name)
			if err != nil {
				return err
			}
			ifr.SetUint16(flags)
			if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
				return fmt.Errorf("TUNSETIFF: %w", err)
			}
		}
		return nil
	})
	b.Cleanup(func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	return fds, name
}

// drain reads the descriptors empty and returns how many frames it read.
func drain(b *testing.B, fds []int) int {
	buf := make([]byte, 65536)
	n := 0
	for _, fd := range fds {
		for {
			_, err := unix.Read(fd, buf)
			if err == unix.EAGAIN {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	return n
}
