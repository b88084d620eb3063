package tap_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/gondis/gondis/ndis"
)

// The benchmarks measure gondis → kernel: frames written through the TAP
// adapter, beside a plain one-frame-per-write loop on a blocking TAP
// descriptor in the same namespace (what songgao/water does), in the same
// run. The frames go to a MAC address nobody has, inside the benchmark's
// namespace: the kernel drops them after receiving them.
//
//	go test -run XXX -bench . ./miniport/tap/   (as root)

var sinkMAC = ndis.MacAddress{0x02, 0x00, 0x00, 0x00, 0x00, 0x99}

func benchFrame(size int) []byte {
	f := make([]byte, size)
	copy(f[0:6], sinkMAC[:])
	copy(f[6:12], adapterMAC[:])
	binary.BigEndian.PutUint16(f[12:], 0x88B5)
	return f
}

// sender is a protocol that sends batches of NBLs and counts completions.
type sender struct {
	done chan *ndis.NetBufferList
}

func (s *sender) ReceiveNetBufferLists(l *ndis.NetBufferList, flags ndis.ReceiveFlags) {}
func (s *sender) SendNetBufferListsComplete(l *ndis.NetBufferList) {
	for l != nil {
		next := l.Next
		l.Next = nil
		s.done <- l
		l = next
	}
}
func (s *sender) Status(ndis.Status, []byte) {}

func BenchmarkSend(b *testing.B) {
	for _, size := range []int{64, 1500 - 100} {
		b.Run(fmt.Sprintf("gondis/%dB", size), func(b *testing.B) { benchGondisSend(b, size) })
		b.Run(fmt.Sprintf("plain/%dB", size), func(b *testing.B) { benchPlainWrite(b, size) })
	}
}

func benchGondisSend(b *testing.B, size int) {
	bn := newBench(b)
	const batch, window = 64, 256
	s := &sender{done: make(chan *ndis.NetBufferList, window)}
	if err := bn.rt.RegisterProtocolDriver(ndis.ProtocolDriver{Name: "send",
		BindAdapter: func(*ndis.Binding) (ndis.Protocol, error) { return s, nil }}); err != nil {
		b.Fatal(err)
	}
	bd, err := bn.rt.Bind(b.Context(), "send", "tap0")
	if err != nil {
		b.Fatal(err)
	}
	for range window {
		s.done <- ndis.NewNetBufferList(benchFrame(size))
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	sent := 0
	for sent < b.N {
		var head, tail *ndis.NetBufferList
		for n := 0; n < batch && sent < b.N; n++ {
			l := <-s.done
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
		<-s.done
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "frames/s")
}

// benchPlainWrite writes one frame per system call on a blocking TAP
// descriptor, as songgao/water does.
func benchPlainWrite(b *testing.B, size int) {
	bn := newBench(b)
	name := bn.ifname + "w"
	f := plainTAP(b, bn.ns, name)
	defer f.Close()
	run(b, "ip", "-n", bn.ns, "link", "set", name, "up")
	frame := benchFrame(size)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := f.Write(frame); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "frames/s")
}

// plainTAP creates a TAP interface in the namespace ns, on a blocking
// descriptor.
func plainTAP(b *testing.B, ns, name string) *os.File {
	type res struct {
		f   *os.File
		err error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread() // not unlocked: the thread dies with the goroutine
		h, err := netns.GetFromName(ns)
		if err != nil {
			ch <- res{err: err}
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			ch <- res{err: err}
			return
		}
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			ch <- res{err: err}
			return
		}
		ifr, _ := unix.NewIfreq(name)
		ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
		if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
			unix.Close(fd)
			ch <- res{err: err}
			return
		}
		ch <- res{f: os.NewFile(uintptr(fd), "/dev/net/tun")}
	}()
	r := <-ch
	if r.err != nil {
		b.Fatal(r.err)
	}
	return r.f
}

// BenchmarkReceive measures kernel → gondis: an AF_PACKET socket in the
// namespace injects frames to the adapter's address into the TAP interface
// as fast as one thread can, and the benchmark counts the frames the
// adapter indicates, beside a plain one-frame-per-read loop on a blocking
// descriptor. Frames the consumer does not keep up with are dropped by the
// kernel (the TAP's queue is full), so the rate is the consumer's.
func BenchmarkReceive(b *testing.B) {
	for _, size := range []int{64, 1500 - 100} {
		b.Run(fmt.Sprintf("gondis/%dB", size), func(b *testing.B) { benchGondisReceive(b, size) })
		b.Run(fmt.Sprintf("plain/%dB", size), func(b *testing.B) { benchPlainRead(b, size) })
	}
}

// counter is a protocol that counts the frames it receives.
type counter struct {
	b    *ndis.Binding
	n    atomic.Int64
	want int64
	done chan struct{}
}

func (c *counter) ReceiveNetBufferLists(l *ndis.NetBufferList, flags ndis.ReceiveFlags) {
	k := int64(l.Len())
	c.b.ReturnNetBufferLists(l)
	if n := c.n.Add(k); n >= c.want && n-k < c.want {
		close(c.done)
	}
}
func (c *counter) SendNetBufferListsComplete(*ndis.NetBufferList) {}
func (c *counter) Status(ndis.Status, []byte)                     {}

// inject sends frames to dst on the interface ifname of the namespace ns
// until stop is closed.
func inject(b *testing.B, ns, ifname string, frame []byte, stop <-chan struct{}) (done <-chan struct{}) {
	ch := make(chan struct{})
	ready := make(chan error, 1)
	go func() {
		defer close(ch)
		runtime.LockOSThread() // not unlocked: the thread dies with the goroutine
		h, err := netns.GetFromName(ns)
		if err != nil {
			ready <- err
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			ready <- err
			return
		}
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			ready <- err
			return
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			ready <- err
			return
		}
		defer unix.Close(fd)
		sa := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}
		copy(sa.Addr[:], frame[:6])
		ready <- nil
		for {
			select {
			case <-stop:
				return
			default:
			}
			for range 64 {
				_ = unix.Sendto(fd, frame, 0, sa)
			}
		}
	}()
	if err := <-ready; err != nil {
		b.Fatal(err)
	}
	return ch
}

func rxFrame(size int) []byte {
	f := benchFrame(size)
	copy(f[0:6], adapterMAC[:])
	copy(f[6:12], sinkMAC[:])
	return f
}

func benchGondisReceive(b *testing.B, size int) {
	bn := newBench(b)
	c := &counter{want: int64(b.N), done: make(chan struct{})}
	if err := bn.rt.RegisterProtocolDriver(ndis.ProtocolDriver{Name: "count",
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
	if _, err := bn.rt.Bind(b.Context(), "count", "tap0"); err != nil {
		b.Fatal(err)
	}
	stop := make(chan struct{})
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	done := inject(b, bn.ns, bn.ifname, rxFrame(size), stop)
	<-c.done
	elapsed := time.Since(start)
	close(stop)
	<-done
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "frames/s")
}

func benchPlainRead(b *testing.B, size int) {
	bn := newBench(b)
	name := bn.ifname + "w"
	f := plainTAP(b, bn.ns, name)
	defer f.Close()
	run(b, "ip", "-n", bn.ns, "link", "set", name, "up")
	stop := make(chan struct{})
	buf := make([]byte, 65536)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	done := inject(b, bn.ns, name, rxFrame(size), stop)
	for n := 0; n < b.N; {
		if _, err := f.Read(buf); err != nil {
			b.Fatal(err)
		}
		// The kernel's own frames (IPv6 router solicitations ...) count
		// too; there are a handful.
		n++
	}
	elapsed := time.Since(start)
	close(stop)
	<-done
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "frames/s")
}
