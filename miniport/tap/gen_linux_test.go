package tap_test

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The load generator of the receive benchmarks puts frames on a TAP
// interface's rings from the kernel side, the way the kernel's own stack
// hands them to the driver (tun_net_xmit), as fast as a thread can. One
// frame per sendto (or a UDP socket) tops out near 0.3 M/s; this sends
// batches with sendmmsg on an AF_PACKET socket bound to the interface,
// with no allocation per frame. On a multi-queue TAP the kernel picks each
// frame's queue by its flow hash.

// genBatch is how many frames one sendmmsg carries.
const genBatch = 256

// genConfig says what a generator sends, where, and how.
type genConfig struct {
	ns, ifname string
	frames     [][]byte // sent in turn, one per message (one per flow)
	threads    int      // sender threads, each with its own socket (default 1)
	// bypass sets PACKET_QDISC_BYPASS: a frame goes straight to the driver
	// instead of through the interface's qdisc (pfifo_fast), and one that
	// the TAP's full ring drops fails its sendmsg with ENOBUFS. Through
	// the qdisc that drop is silent: it shows in the interface's
	// tx_dropped.
	bypass bool
	// limit is how many frames to send, all threads together. Every one
	// must fit on the rings (the caller sized them): a frame refused
	// stops the generator with errRingFull.
	limit int64
}

var errRingFull = errors.New("gen: the TAP's ring is full: a frame was dropped")

// generator is a load generator: its threads, each on a goroutine locked
// to an OS thread that switched into the namespace and never switches back
// (the thread dies with its goroutine).
type generator struct {
	cfg     genConfig
	begin   chan struct{} // closed by Start
	stopped atomic.Bool
	wg      sync.WaitGroup
	errMu   sync.Mutex
	err     error
}

// genThread is one sender's socket and preallocated messages: message i
// carries frames[i % len(frames)].
type genThread struct {
	fd    int
	share int64 // frames to send
	msgs  [genBatch]unix.Mmsghdr
	iovs  [genBatch]unix.Iovec
}

// newGenerator opens the generator's sockets in the namespace; it sends
// nothing before Start.
func newGenerator(cfg genConfig) (*generator, error) {
	cfg.threads = max(cfg.threads, 1)
	g := &generator{cfg: cfg, begin: make(chan struct{})}
	ready := make(chan error, cfg.threads)
	for i := range cfg.threads {
		t := &genThread{share: cfg.limit / int64(cfg.threads)}
		if i == 0 {
			t.share += cfg.limit % int64(cfg.threads)
		}
		for j := range t.msgs {
			f := cfg.frames[j%len(cfg.frames)]
			t.iovs[j].Base = &f[0]
			t.iovs[j].SetLen(len(f))
			t.msgs[j].Hdr.Iov = &t.iovs[j]
			t.msgs[j].Hdr.SetIovlen(1)
		}
		g.wg.Add(1)
		go g.thread(t, ready)
	}
	var err error
	for range cfg.threads {
		err = errors.Join(err, <-ready)
	}
	if err != nil {
		g.Stop()
		return nil, err
	}
	return g, nil
}

// Start lets the threads send.
func (g *generator) Start() { close(g.begin) }

// Wait waits until the threads have sent their frames (or failed) and
// returns the first error one of them met.
func (g *generator) Wait() error {
	g.wg.Wait()
	g.errMu.Lock()
	defer g.errMu.Unlock()
	return g.err
}

// Stop stops the threads, started or not, and waits for them. It may be
// called more than once.
func (g *generator) Stop() error {
	g.stopped.Store(true)
	select {
	case <-g.begin:
	default:
		close(g.begin)
	}
	return g.Wait()
}

func (g *generator) fail(err error) {
	g.errMu.Lock()
	if g.err == nil {
		g.err = err
	}
	g.errMu.Unlock()
	g.stopped.Store(true)
}

// thread opens a socket in the namespace, on an OS thread of its own, and
// sends from it.
func (g *generator) thread(t *genThread, ready chan<- error) {
	defer g.wg.Done()
	runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
	fd, err := openGenSocket(g.cfg.ns, g.cfg.ifname, g.cfg.bypass)
	ready <- err
	if err != nil {
		return
	}
	t.fd = fd
	defer unix.Close(fd)
	<-g.begin
	if err := g.send(t); err != nil {
		g.fail(err)
	}
}

// openGenSocket switches the calling thread into the namespace ns and opens
// there an AF_PACKET SOCK_RAW socket bound to ifname. Its protocol is 0: it
// receives nothing, not even the frames it sends.
func openGenSocket(ns, ifname string, bypass bool) (int, error) {
	h, err := netns.GetFromName(ns)
	if err != nil {
		return -1, err
	}
	defer h.Close()
	if err := netns.Set(h); err != nil {
		return -1, err
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return -1, err
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("gen: socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("gen: bind to %s: %w", ifname, err)
	}
	if bypass {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
			unix.Close(fd)
			return -1, fmt.Errorf("gen: PACKET_QDISC_BYPASS: %w", err)
		}
	}
	return fd, nil
}

// send is the sending loop of one thread: one sendmmsg per batch, on the
// preallocated messages (the bound socket needs no address), no
// allocation.
func (g *generator) send(t *genThread) error {
	var done int64
	from := 0 // the next message of t.msgs
	for done < t.share && !g.stopped.Load() {
		k := int(min(int64(genBatch-from), t.share-done))
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(t.fd), uintptr(unsafe.Pointer(&t.msgs[from])), uintptr(k), 0, 0, 0)
		switch errno {
		case 0:
		case unix.EINTR:
			continue
		case unix.ENOBUFS:
			return errRingFull
		default:
			return fmt.Errorf("gen: sendmmsg: %w", errno)
		}
		if int(r) < k {
			// Message from+r failed: sendmmsg reports only the ones sent
			// before it. Its error (ENOBUFS for a full ring) comes back
			// when it is sent again.
			k = int(r)
		}
		done += int64(k)
		if from += k; from == genBatch {
			from = 0
		}
	}
	return nil
}
