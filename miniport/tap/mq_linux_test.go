package tap_test

import (
	"context"
	"encoding/binary"
	"net"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gondis/gondis/miniport/tap"
	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

// udpFrame is an IPv4/UDP frame from src to dst with the given source port
// (a flow of its own).
func udpFrame(dst, src ndis.MacAddress, sport uint16, size int) []byte {
	f := make([]byte, size)
	copy(f[0:6], dst[:])
	copy(f[6:12], src[:])
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(size-14))
	copy(ip[12:16], []byte{10, 77, 0, 1})
	copy(ip[16:20], []byte{10, 77, 0, 2})
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	binary.BigEndian.PutUint16(ip[20:], sport)
	binary.BigEndian.PutUint16(ip[22:], 9)
	binary.BigEndian.PutUint16(ip[24:], uint16(size-34))
	return f
}

// sendFromNamespace sends frames out of the interface ifname of the
// namespace ns through an AF_PACKET socket: the kernel queues them on the
// TAP's queues for the adapter to read.
func sendFromNamespace(t *testing.T, ns, ifname string, frames [][]byte) {
	t.Helper()
	err := inNamespace(ns, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		for _, f := range frames {
			sa := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}
			copy(sa.Addr[:], f[:6])
			if err := unix.Sendto(fd, f, 0, sa); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("send from the namespace: %v", err)
	}
}

// TestMultiQueue: with queues 3 the interface has three queues, sends of
// many flows leave through all of them and arrive, the kernel's frames of
// many flows arrive through all of them, and a reset keeps the count.
func TestMultiQueue(t *testing.T) {
	bn := newBenchWith(t, map[string]string{"queues": "3"})
	checkQueues := func(when string) {
		t.Helper()
		if ts, _ := tap.StatsOf(bn.a); len(ts.Queues) != 3 {
			t.Fatalf("%s: %d queues, want 3", when, len(ts.Queues))
		}
		out := run(t, "ip", "netns", "exec", bn.ns, "ls", "/sys/class/net/"+bn.ifname+"/queues")
		if n := strings.Count(out, "rx-"); n != 3 {
			t.Fatalf("%s: the kernel's interface has %d receive queues, want 3:\n%s", when, n, out)
		}
	}
	checkQueues("after AddAdapter")

	b, rec := bn.recorder(ndis.PacketTypeDirected)
	const flows, frames = 64, 256
	h := bn.nlHandle()
	rxBefore := func() uint64 {
		l, err := h.LinkByName(bn.ifname)
		if err != nil {
			t.Fatal(err)
		}
		return l.Attrs().Statistics.RxPackets
	}
	before := rxBefore()
	nobody := ndis.MacAddress{0x02, 0, 0, 0, 0, 0x99}
	var ls []*ndis.NetBufferList
	for i := range frames {
		ls = append(ls, ndis.NewNetBufferList(udpFrame(nobody, adapterMAC, uint16(1000+i%flows), 128)))
	}
	b.SendNetBufferLists(ndis.Chain(ls...))
	ndistest.Eventually(t, func() bool { return rec.Completed() == frames }, "every send completed")
	for _, r := range rec.Records() {
		for _, s := range r.Statuses {
			if r.Kind == ndistest.RecordComplete && s != ndis.StatusSuccess {
				t.Fatalf("a send completed with %s", s)
			}
		}
	}
	ndistest.Eventually(t, func() bool { return rxBefore()-before >= frames }, "the kernel received every frame")
	ts, _ := tap.StatsOf(bn.a)
	for i, q := range ts.Queues {
		if q.XmitOK == 0 {
			t.Errorf("queue %d wrote nothing of %d flows: %+v", i, flows, ts.Queues)
		}
	}

	var in [][]byte
	for i := range frames {
		in = append(in, udpFrame(adapterMAC, nobody, uint16(2000+i%flows), 128))
	}
	sendFromNamespace(t, bn.ns, bn.ifname, in)
	udp := func() int {
		n := 0
		for _, r := range rec.Records() {
			for _, f := range r.Frames {
				if r.Kind == ndistest.RecordReceive && len(f) == 128 && f[23] == 17 && binary.BigEndian.Uint16(f[34:]) >= 2000 {
					n++
				}
			}
		}
		return n
	}
	ndistest.Eventually(t, func() bool { return udp() == frames }, "every frame from the namespace received")
	ts, _ = tap.StatsOf(bn.a)
	for i, q := range ts.Queues {
		if q.RcvOK == 0 {
			t.Errorf("queue %d read nothing of %d flows: %+v", i, flows, ts.Queues)
		}
	}
	// The steering program, where the kernel takes it, put each frame on
	// the queue its hash says (the kernel's own frames, IPv6 ones, come on
	// top).
	if err := tap.SteeringAvailable(); err != nil {
		t.Logf("no steering program on this kernel (%v): the kernel picked the queues", err)
	} else {
		if !ts.Steering {
			t.Fatal("the kernel takes the steering program, but the adapter has none")
		}
		want := make([]uint64, len(ts.Queues))
		for _, f := range in {
			h, err := tap.SteerHash(f)
			if err != nil {
				t.Fatal(err)
			}
			want[h%uint32(len(want))]++
		}
		for i, q := range ts.Queues {
			if q.RcvOK < want[i] || q.RcvOK > want[i]+8 {
				t.Errorf("queue %d read %d frames, want the %d the steering hash gives it", i, q.RcvOK, want[i])
			}
		}
	}

	if err := bn.rt.ResetAdapter("tap0"); err != nil {
		t.Fatal(err)
	}
	ndistest.Eventually(t, func() bool { return bn.r.Stats().ResetEnds == 1 }, "RESET_END")
	checkQueues("after a reset")
	if sent, got, out := bn.ping(3, "0.2", 0); got != sent || sent != 3 {
		t.Fatalf("ping after the reset: %d/%d\n%s", got, sent, out)
	}
}

// TestSingleQueueAttach: an existing single-queue interface is attached
// with one queue when the count is "auto", and refused with a clear error
// when more queues are asked for.
func TestSingleQueueAttach(t *testing.T) {
	bn := newBench(t)
	name := bn.ifname + "s"
	run(t, "ip", "-n", bn.ns, "tuntap", "add", "mode", "tap", "name", name)
	ctx := context.Background()
	params := map[string]string{"name": name, "netns": "/var/run/netns/" + bn.ns, "queues": "2"}
	if _, err := bn.rt.AddAdapter(ctx, "tap1", "tap", params); err == nil || !strings.Contains(err.Error(), "single-queue") {
		t.Fatalf("queues 2 on a single-queue interface: err = %v, want one naming the cause", err)
	}
	// A failed AddAdapter takes its adapter down in the background: the
	// name is free once it is gone.
	ndistest.Eventually(t, func() bool { _, ok := bn.rt.Adapter("tap1"); return !ok }, "the failed adapter gone")
	params["queues"] = "auto"
	a, err := bn.rt.AddAdapter(ctx, "tap1", "tap", params)
	if err != nil {
		t.Fatalf("queues auto on a single-queue interface: %v", err)
	}
	if ts, _ := tap.StatsOf(a); len(ts.Queues) != 1 {
		t.Errorf("%d queues, want 1", len(ts.Queues))
	}
}

// TestManyQueuesShareThePool: the spare NBLs every reader keeps do not
// starve a busy queue. With 16 queues, a protocol that holds every frame
// of one flow (one queue) still receives 300 of them.
func TestManyQueuesShareThePool(t *testing.T) {
	bn := newBenchWith(t, map[string]string{"queues": "16"})
	_, rec := bn.recorder(ndis.PacketTypeDirected)
	rec.KeepReceives(true)
	defer rec.ReturnKept()
	const frames = 300
	nobody := ndis.MacAddress{0x02, 0, 0, 0, 0, 0x99}
	var in [][]byte
	for range frames {
		in = append(in, udpFrame(adapterMAC, nobody, 4242, 128))
	}
	sendFromNamespace(t, bn.ns, bn.ifname, in)
	ndistest.Eventually(t, func() bool { return rec.Received() >= frames }, "every frame of the flow held by the protocol")
	if ts, _ := tap.StatsOf(bn.a); ts.RcvNoBuffer != 0 {
		t.Errorf("the readers ran out of NBLs %d times", ts.RcvNoBuffer)
	}
}
