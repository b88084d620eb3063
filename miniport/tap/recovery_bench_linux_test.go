package tap_test

import (
	"encoding/binary"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/gondis/gondis/miniport/tap"
	"github.com/gondis/gondis/ndis"
)

// BenchmarkRecovery measures, for each iteration, how long traffic stops
// when the interface is deleted under a running adapter: the deletion (by
// netlink, from the namespace), the adapter's reset re-creating it, the
// benchmark putting the namespace's address back as soon as the interface
// is there (what a configuration script would do), and ICMP echo requests
// sent every 200 µs from the namespace until the responder bound to the
// adapter answers one. It reports the medians of the deletion's own
// system call (the kernel unregisters the interface before it returns),
// deletion → interface back and deletion → first echo reply, and the
// durations of the reset.
//
//	go test -run XXX -bench Recovery -benchtime 50x ./miniport/tap/   (as root)
func BenchmarkRecovery(b *testing.B) {
	// Escalation off: the benchmark resets the adapter more often than
	// the default policy (20 a minute) allows.
	bn := newBenchWith(b, nil, ndis.WithResetEscalation(ndis.Escalation{}))
	h := bn.nlHandle()
	fd := icmpSocket(b, bn.ns)
	defer unix.Close(fd)
	addr, err := netlink.ParseAddr(kernelIP + "/24")
	if err != nil {
		b.Fatal(err)
	}
	dst := &unix.SockaddrInet4{Addr: gondisIP.As4()}
	req := make([]byte, 16)
	reply := make([]byte, 1500)
	var deleting, back, flowing []time.Duration
	b.ResetTimer()
	for i := range b.N {
		link, err := h.LinkByName(bn.ifname)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if err := h.LinkDel(link); err != nil {
			b.Fatal(err)
		}
		deleting = append(deleting, time.Since(start))
		var l netlink.Link
		for {
			l, err = h.LinkByName(bn.ifname)
			if err == nil && l.Attrs().Index != link.Attrs().Index && l.Attrs().RawFlags&unix.IFF_UP != 0 {
				break
			}
			if time.Since(start) > 10*time.Second {
				b.Fatalf("the interface was not re-created: %v", err)
			}
			time.Sleep(50 * time.Microsecond)
		}
		back = append(back, time.Since(start))
		if err := h.AddrReplace(l, addr); err != nil {
			b.Fatal(err)
		}
		seq := uint16(0)
	ping:
		for {
			if time.Since(start) > 10*time.Second {
				b.Fatal("no echo reply within 10 s of the deletion")
			}
			seq++
			echoRequest(req, uint16(i), seq)
			if err := unix.Sendto(fd, req, 0, dst); err != nil && err != unix.EHOSTUNREACH && err != unix.ENETUNREACH {
				b.Fatal(err)
			}
			deadline := time.Now().Add(200 * time.Microsecond)
			for time.Now().Before(deadline) {
				n, _, err := unix.Recvfrom(fd, reply, unix.MSG_DONTWAIT)
				if err == unix.EAGAIN {
					time.Sleep(20 * time.Microsecond)
					continue
				}
				if err != nil {
					b.Fatal(err)
				}
				if isEchoReply(reply[:n], uint16(i)) {
					break ping
				}
			}
		}
		flowing = append(flowing, time.Since(start))
	}
	b.StopTimer()
	ts, _ := tap.StatsOf(bn.a)
	_, maxReset := resets(bn.a)
	b.ReportMetric(float64(median(deleting).Microseconds()), "µs-delete")
	b.ReportMetric(float64(median(back).Microseconds()), "µs-to-interface")
	b.ReportMetric(float64(median(flowing).Microseconds()), "µs-to-traffic")
	b.ReportMetric(float64(slices.Max(flowing).Microseconds()), "µs-to-traffic-max")
	b.ReportMetric(float64(ts.LastResetDuration.Microseconds()), "µs-last-Reset()")
	b.ReportMetric(float64(maxReset.Microseconds()), "µs-reset-max")
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// icmpSocket opens a raw ICMP socket in the namespace ns.
func icmpSocket(b *testing.B, ns string) int {
	fd := -1
	err := inNamespace(ns, func() (err error) {
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMP)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	return fd
}

// echoRequest writes an ICMP echo request with the given identifier and
// sequence number into p.
func echoRequest(p []byte, id, seq uint16) {
	clear(p)
	p[0] = 8
	binary.BigEndian.PutUint16(p[4:], id)
	binary.BigEndian.PutUint16(p[6:], seq)
	var sum uint32
	for i := 0; i+1 < len(p); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(p[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(p[2:], ^uint16(sum))
}

// isEchoReply reports whether an IPv4 packet read from a raw ICMP socket
// is an echo reply with the identifier id.
func isEchoReply(p []byte, id uint16) bool {
	if len(p) < 20 {
		return false
	}
	ihl := int(p[0]&0x0f) * 4
	if len(p) < ihl+8 || !net.IP(p[12:16]).Equal(net.IP(gondisIP.AsSlice())) {
		return false
	}
	icmp := p[ihl:]
	return icmp[0] == 0 && binary.BigEndian.Uint16(icmp[4:]) == id
}
