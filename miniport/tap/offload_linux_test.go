package tap_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gondis/gondis/miniport/tap"
	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

// These tests put the vnet_hdr offloads between a minimal TCP endpoint,
// written as a gondis protocol, and the kernel's own TCP stack in the
// bench's namespace: large receives (the kernel's TSO), large sends
// (LSOv2) and checksum offload, with the offloads on and switched off by
// OID at run time.

const (
	tcpRecvPort   = 7000         // the endpoint listens here (kernel → gondis)
	tcpListenPort = 7001         // the namespace's listener (gondis → kernel)
	tcpMSS        = testMTU - 40 // what the endpoint announces
	tcpWindow     = 65535        // what it advertises, never scaled
	tcpMaxLSO     = 32 << 10     // payload bytes of one LSOv2 NBL
	tcpRTO        = 200 * time.Millisecond
	tcpTimeout    = 20 * time.Second // bounds one transfer, far above what it takes
	offMaxFrame   = testMTU + 14     // the longest frame the MTU allows
)

// TCP flags.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpPSH = 0x08
	tcpACK = 0x10
)

var tcpKernelAddr = netip.MustParseAddr(kernelIP)

// --- checksums, the plain way ---------------------------------------------

// offSum is the one's complement sum of the Internet checksum (RFC 1071)
// of b added to initial, folded: written word by word, independently of
// the adapter's vnet package, to check what the adapter and the kernel
// compute. Data with a right checksum sums to 0xffff.
func offSum(b []byte, initial uint32) uint16 {
	s := initial
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

// offPseudo is the TCP pseudo-header sum of the IPv4 header ip for a TCP
// length of n bytes, folded and not complemented; n = 0 leaves the length
// out, as an LSOv2 send does.
func offPseudo(ip []byte, n int) uint16 {
	return offSum(ip[12:20], 6+uint32(n))
}

// --- frames ------------------------------------------------------------------

// tcpMode is the task offload a TCP frame of the endpoint asks for.
type tcpMode uint8

const (
	tcpFull tcpMode = iota // every checksum filled in: no offload
	tcpLSO                 // LSOv2: IP length 0, no IP checksum, TCP pseudo sum without the length
	tcpCsum                // checksum offload: no IP checksum, TCP pseudo sum with the length
)

func (m tcpMode) String() string {
	switch m {
	case tcpFull:
		return "full"
	case tcpLSO:
		return "LSOv2"
	case tcpCsum:
		return "checksum offload"
	}
	return "tcpMode(" + strconv.Itoa(int(m)) + ")"
}

// tcpSegment is the part of a TCP frame the endpoint sets.
type tcpSegment struct {
	dst          ndis.MacAddress
	sport, dport uint16
	seq, ack     uint32
	flags        uint8
	payload      []byte
	mode         tcpMode
	mss          int // the LSOv2 MSS
}

// tcpFrame builds an IPv4/TCP frame from gondisIP to the kernel's address
// in an NBL of its own, with the headers and the NBL's offload
// information as NDIS has a protocol leave them for mode. A SYN carries
// the MSS option.
func tcpFrame(s tcpSegment) *ndis.NetBufferList {
	thl := 20
	if s.flags&tcpSYN != 0 {
		thl += 4
	}
	f := make([]byte, 14+20+thl+len(s.payload))
	copy(f[0:6], s.dst[:])
	copy(f[6:12], adapterMAC[:])
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip, tcp := f[14:34], f[34:]
	ip[0], ip[8], ip[9] = 0x45, 64, 6
	binary.BigEndian.PutUint16(ip[4:], uint16(s.seq)) // an ID that changes
	binary.BigEndian.PutUint16(ip[6:], 0x4000)        // DF
	src, dst := gondisIP.As4(), tcpKernelAddr.As4()
	copy(ip[12:16], src[:])
	copy(ip[16:20], dst[:])
	binary.BigEndian.PutUint16(tcp[0:], s.sport)
	binary.BigEndian.PutUint16(tcp[2:], s.dport)
	binary.BigEndian.PutUint32(tcp[4:], s.seq)
	binary.BigEndian.PutUint32(tcp[8:], s.ack)
	tcp[12], tcp[13] = byte(thl/4)<<4, s.flags
	binary.BigEndian.PutUint16(tcp[14:], tcpWindow)
	if s.flags&tcpSYN != 0 {
		tcp[20], tcp[21] = 2, 4
		binary.BigEndian.PutUint16(tcp[22:], tcpMSS)
	}
	copy(tcp[thl:], s.payload)
	x := ndis.NewNetBufferList(f)
	switch s.mode {
	case tcpFull:
		binary.BigEndian.PutUint16(ip[2:], uint16(len(f)-14))
		binary.BigEndian.PutUint16(ip[10:], ^offSum(ip, 0))
		binary.BigEndian.PutUint16(tcp[16:], ^offSum(tcp, uint32(offPseudo(ip, len(tcp)))))
	case tcpLSO:
		binary.BigEndian.PutUint16(tcp[16:], offPseudo(ip, 0))
		x.LargeSend = ndis.LargeSendV2(s.mss, 34, false)
	case tcpCsum:
		binary.BigEndian.PutUint16(ip[2:], uint16(len(f)-14))
		binary.BigEndian.PutUint16(tcp[16:], offPseudo(ip, len(tcp)))
		x.Checksum = ndis.TxChecksum(ndis.ChecksumTxIPv4|ndis.ChecksumTxTCP|ndis.ChecksumTxIPHeader, 34)
	}
	return x
}

// --- the endpoint ------------------------------------------------------------

// tcpEndpoint is a minimal TCP for gondisIP, bound as a protocol: it
// accepts connections on one port and opens them to the kernel's address,
// acknowledges every in-order segment and keeps its payload (an
// out-of-order one gets a duplicate ACK and is dropped), and sends with
// go-back-N retransmission. No SACK, no timestamps, no window scaling: the
// kernel's window is at most 64 KiB. Every IPv4 TCP frame from the
// kernel's address to gondisIP is checked on the way in: its length, IPv4 header checksum and TCP
// checksum, by offSum.
type tcpEndpoint struct {
	b       *ndis.Binding
	accepts chan *tcpConn // connections the listening port accepted

	mu         sync.Mutex
	listenPort uint16
	expect     int                    // the receive buffer to make for an accepted connection
	conns      map[[2]uint16]*tcpConn // by local and remote port
	frameStats tcpFrameStats
	sendFailed int
	lastFail   ndis.Status
}

// tcpFrameStats are the checks of the TCP frames to gondisIP.
type tcpFrameStats struct {
	Frames    int // IPv4 TCP frames from the kernel's address to gondisIP
	MaxLen    int // the longest, Ethernet header included
	TooLong   int // longer than the MTU allows
	BadLength int // an IP or TCP length that does not fit the frame
	BadIPSum  int
	BadTCPSum int
	RxMarked  int // frames the adapter marked ChecksumRxTCPSucceeded
}

// tcpConn is one connection of the endpoint. Its fields are under the
// endpoint's mu; the channels signal the test's goroutine.
type tcpConn struct {
	lport, rport uint16
	peer         ndis.MacAddress
	passive      bool

	iss, sndUna, sndNxt, sndMax uint32
	sndWnd, peerMSS             int
	rcvNxt                      uint32
	synced, finSent, finDone    bool
	reset                       bool
	data                        []byte // the payload received in order
	outOfOrder, retransmits     int

	established chan struct{} // closed when the handshake is complete
	finRcvd     chan struct{} // closed when the peer's FIN arrived in order
	progress    chan struct{} // capacity 1: sndUna or the window moved
}

func tcpNewConn(lport, rport uint16, peer ndis.MacAddress) *tcpConn {
	return &tcpConn{lport: lport, rport: rport, peer: peer, peerMSS: 536,
		established: make(chan struct{}), finRcvd: make(chan struct{}), progress: make(chan struct{}, 1)}
}

// tcpBind registers the endpoint as protocol "tcp", binds it to the
// bench's adapter and sets the directed packet filter: it sees only
// frames to the adapter's address.
func tcpBind(t *testing.T, bn *bench) *tcpEndpoint {
	t.Helper()
	e := &tcpEndpoint{accepts: make(chan *tcpConn, 4), conns: make(map[[2]uint16]*tcpConn)}
	err := bn.rt.RegisterProtocolDriver(ndis.ProtocolDriver{Name: "tcp", BindAdapter: func(b *ndis.Binding) (ndis.Protocol, error) {
		e.b = b
		return e, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	b, err := bn.rt.Bind(ctx, "tcp", "tap0")
	if err != nil {
		t.Fatalf("Bind: %v", err)
	}
	set := &ndis.OidRequest{Type: ndis.RequestSet, OID: ndis.OIDGenCurrentPacketFilter, Buffer: ndis.Ulong(ndis.PacketTypeDirected)}
	if s := b.OidRequest(ctx, set); s != ndis.StatusSuccess {
		t.Fatalf("set filter: %s", s)
	}
	return e
}

// listen makes the endpoint accept connections on port, each with room
// for expect bytes.
func (e *tcpEndpoint) listen(port uint16, expect int) {
	e.mu.Lock()
	e.listenPort, e.expect = port, expect
	e.mu.Unlock()
}

// ReceiveNetBufferLists implements ndis.Protocol: it runs the segments
// through the connections under mu and sends what they answer after
// unlocking, in one chain.
func (e *tcpEndpoint) ReceiveNetBufferLists(l *ndis.NetBufferList, flags ndis.ReceiveFlags) {
	var out []*ndis.NetBufferList
	e.mu.Lock()
	for x := l; x != nil; x = x.Next {
		for _, f := range x.Frames {
			out = e.inputLocked(f, x.Checksum, out)
		}
	}
	e.mu.Unlock()
	if flags&ndis.ReceiveFlagResources == 0 {
		e.b.ReturnNetBufferLists(l)
	}
	if len(out) > 0 {
		e.b.SendNetBufferLists(ndis.Chain(out...))
	}
}

// SendNetBufferListsComplete implements ndis.Protocol: it counts the sends
// that failed.
func (e *tcpEndpoint) SendNetBufferListsComplete(l *ndis.NetBufferList) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for x := l; x != nil; x = x.Next {
		if x.Status != ndis.StatusSuccess {
			e.sendFailed++
			e.lastFail = x.Status
		}
	}
}

// Status implements ndis.Protocol.
func (e *tcpEndpoint) Status(ndis.Status, []byte) {}

// inputLocked checks one frame and, when it is a good TCP segment to
// gondisIP, runs it through its connection; it appends the answers to out.
func (e *tcpEndpoint) inputLocked(f []byte, rx ndis.ChecksumInfo, out []*ndis.NetBufferList) []*ndis.NetBufferList {
	if len(f) < 14+20 || binary.BigEndian.Uint16(f[12:]) != 0x0800 {
		return out
	}
	ip := f[14:]
	ihl := int(ip[0]&0x0f) * 4
	if ip[0]>>4 != 4 || ip[9] != 6 || netip.AddrFrom4([4]byte(ip[16:20])) != gondisIP ||
		netip.AddrFrom4([4]byte(ip[12:16])) != tcpKernelAddr {
		return out
	}
	st := &e.frameStats
	st.Frames++
	st.MaxLen = max(st.MaxLen, len(f))
	if len(f) > offMaxFrame {
		st.TooLong++
	}
	total := int(binary.BigEndian.Uint16(ip[2:]))
	if ihl < 20 || total < ihl+20 || total > len(ip) {
		st.BadLength++
		return out
	}
	ip = ip[:total]
	if offSum(ip[:ihl], 0) != 0xffff {
		st.BadIPSum++
		return out
	}
	seg := ip[ihl:]
	if offSum(seg, uint32(offPseudo(ip, len(seg)))) != 0xffff {
		st.BadTCPSum++
		return out
	}
	doff := int(seg[12]>>4) * 4
	if doff < 20 || doff > len(seg) {
		st.BadLength++
		return out
	}
	if rx&ndis.ChecksumRxTCPSucceeded != 0 {
		st.RxMarked++
	}
	return e.segmentLocked(ndis.MacAddress(f[6:12]), seg, doff, out)
}

// segmentLocked is the TCP state machine, for one checked segment.
func (e *tcpEndpoint) segmentLocked(src ndis.MacAddress, seg []byte, doff int, out []*ndis.NetBufferList) []*ndis.NetBufferList {
	sport, dport := binary.BigEndian.Uint16(seg[0:]), binary.BigEndian.Uint16(seg[2:])
	seq, ack := binary.BigEndian.Uint32(seg[4:]), binary.BigEndian.Uint32(seg[8:])
	flags, wnd := seg[13], int(binary.BigEndian.Uint16(seg[14:]))
	payload := seg[doff:]
	c := e.conns[[2]uint16{dport, sport}]
	if c == nil {
		if flags&(tcpSYN|tcpACK|tcpRST) != tcpSYN || dport != e.listenPort || e.listenPort == 0 {
			return out
		}
		// A new connection: answer SYN-ACK.
		c = tcpNewConn(dport, sport, src)
		c.passive, c.synced = true, true
		c.iss = 0x10000000 + uint32(sport)<<8
		c.sndUna, c.sndNxt, c.sndMax = c.iss, c.iss+1, c.iss+1
		c.rcvNxt, c.sndWnd, c.peerMSS = seq+1, wnd, tcpOptionMSS(seg[20:doff])
		c.data = make([]byte, 0, e.expect)
		e.conns[[2]uint16{dport, sport}] = c
		select {
		case e.accepts <- c:
		default:
		}
		return append(out, e.frameLocked(c, tcpSYN|tcpACK, c.iss, nil, tcpFull))
	}
	if flags&tcpRST != 0 {
		c.reset = true
		tcpSignal(c.progress)
		return out
	}
	if flags&tcpSYN != 0 {
		switch {
		case c.passive: // our SYN-ACK was lost
			return append(out, e.frameLocked(c, tcpSYN|tcpACK, c.iss, nil, tcpFull))
		case !c.synced:
			if flags&tcpACK == 0 || ack != c.iss+1 {
				return out
			}
			c.synced = true
			c.rcvNxt, c.sndUna, c.sndWnd, c.peerMSS = seq+1, ack, wnd, tcpOptionMSS(seg[20:doff])
			close(c.established)
		}
		return append(out, e.ackLocked(c)) // a SYN-ACK again: our ACK was lost
	}
	if flags&tcpACK != 0 {
		moved := false
		if c.passive && c.sndUna == c.iss && ack == c.iss+1 {
			close(c.established)
		}
		if tcpSeqLess(c.sndUna, ack) && !tcpSeqLess(c.sndMax, ack) {
			c.sndUna, moved = ack, true
			if tcpSeqLess(c.sndNxt, ack) {
				c.sndNxt = ack
			}
		}
		if ack == c.sndUna && wnd != c.sndWnd {
			c.sndWnd, moved = wnd, true
		}
		if moved {
			tcpSignal(c.progress)
		}
	}
	fin := flags&tcpFIN != 0
	if len(payload) == 0 && !fin {
		return out
	}
	if d := int(int32(c.rcvNxt - seq)); d > 0 && d <= len(payload) {
		payload, seq = payload[d:], seq+uint32(d) // the part we have already
	}
	if seq != c.rcvNxt || c.finDone {
		c.outOfOrder++
		return append(out, e.ackLocked(c)) // a duplicate ACK
	}
	c.data = append(c.data, payload...)
	c.rcvNxt += uint32(len(payload))
	if fin {
		c.rcvNxt++
		c.finDone = true
		close(c.finRcvd)
		if c.passive && !c.finSent {
			c.finSent = true
			c.sndNxt++
			c.sndMax = c.sndNxt
		}
	}
	return append(out, e.ackLocked(c))
}

// ackLocked returns an ACK of everything received in order; with our FIN
// sent and not yet acknowledged, the FIN again.
func (e *tcpEndpoint) ackLocked(c *tcpConn) *ndis.NetBufferList {
	if c.finSent && c.sndUna != c.sndNxt {
		return e.frameLocked(c, tcpFIN|tcpACK, c.sndNxt-1, nil, tcpFull)
	}
	return e.frameLocked(c, tcpACK, c.sndNxt, nil, tcpFull)
}

func (e *tcpEndpoint) frameLocked(c *tcpConn, flags uint8, seq uint32, payload []byte, mode tcpMode) *ndis.NetBufferList {
	return tcpFrame(tcpSegment{dst: c.peer, sport: c.lport, dport: c.rport, seq: seq, ack: c.rcvNxt,
		flags: flags, payload: payload, mode: mode, mss: min(tcpMSS, c.peerMSS)})
}

// tcpOptionMSS returns the MSS option of a SYN's options, or TCP's default.
func tcpOptionMSS(opts []byte) int {
	for i := 0; i < len(opts); {
		switch opts[i] {
		case 0:
			return 536
		case 1:
			i++
			continue
		}
		if i+1 >= len(opts) || opts[i+1] < 2 {
			break
		}
		if opts[i] == 2 && opts[i+1] == 4 && i+4 <= len(opts) {
			return int(binary.BigEndian.Uint16(opts[i+2:]))
		}
		i += int(opts[i+1])
	}
	return 536
}

func tcpSeqLess(a, b uint32) bool { return int32(a-b) < 0 }

func tcpSignal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// send sends the NBLs, unless there are none.
func (e *tcpEndpoint) send(out []*ndis.NetBufferList) {
	if len(out) > 0 {
		e.b.SendNetBufferLists(ndis.Chain(out...))
	}
}

// connect opens a connection from lport to the kernel's address and rport,
// whose interface has the MAC address peer: a SYN, again every tcpRTO,
// until the SYN-ACK. Its ISS is close to 2^32, so that the sequence
// numbers of the transfer wrap.
func (e *tcpEndpoint) connect(ctx context.Context, lport, rport uint16, peer ndis.MacAddress) (*tcpConn, error) {
	c := tcpNewConn(lport, rport, peer)
	c.iss = 0xffffffff - 1<<20 + uint32(lport)
	c.sndUna, c.sndNxt, c.sndMax = c.iss, c.iss+1, c.iss+1
	e.mu.Lock()
	e.conns[[2]uint16{lport, rport}] = c
	e.mu.Unlock()
	for {
		e.mu.Lock()
		syn := e.frameLocked(c, tcpSYN, c.iss, nil, tcpFull)
		e.mu.Unlock()
		e.send([]*ndis.NetBufferList{syn})
		select {
		case <-c.established:
			return c, nil
		case <-time.After(tcpRTO):
		case <-ctx.Done():
			return nil, fmt.Errorf("connect to %s:%d: %w", tcpKernelAddr, rport, ctx.Err())
		}
	}
}

// transmit sends data on c in segments of mode, of up to chunk payload
// bytes each, within the peer's window, and returns once the peer has
// acknowledged all of it. When tcpRTO passes with no progress, what is
// unacknowledged is sent again (go-back-N).
func (e *tcpEndpoint) transmit(ctx context.Context, c *tcpConn, data []byte, mode tcpMode, chunk int) error {
	e.mu.Lock()
	base := c.sndNxt
	e.mu.Unlock()
	timer := time.NewTimer(tcpRTO)
	defer timer.Stop()
	for {
		var out []*ndis.NetBufferList
		e.mu.Lock()
		if c.reset {
			e.mu.Unlock()
			return errors.New("the kernel reset the connection")
		}
		acked := int(c.sndUna - base)
		if acked == len(data) {
			e.mu.Unlock()
			return nil
		}
		sent := int(c.sndNxt - base)
		wnd := c.sndWnd - int(c.sndNxt-c.sndUna)
		mss := min(tcpMSS, c.peerMSS)
		for sent < len(data) {
			n := min(chunk, len(data)-sent)
			if n > wnd {
				if sent != acked && wnd < n/2 {
					break // wait for the window to open rather than send a sliver
				}
				n = wnd
				if n > mss {
					n -= n % mss
				}
			}
			if n <= 0 {
				break
			}
			out = append(out, e.frameLocked(c, tcpACK|tcpPSH, base+uint32(sent), data[sent:sent+n], mode))
			sent += n
			wnd -= n
		}
		c.sndNxt = base + uint32(sent)
		if tcpSeqLess(c.sndMax, c.sndNxt) {
			c.sndMax = c.sndNxt
		}
		una := c.sndUna
		e.mu.Unlock()
		e.send(out)
		timer.Reset(tcpRTO)
		select {
		case <-c.progress:
		case <-timer.C:
			e.mu.Lock()
			if c.sndUna == una && c.sndNxt != c.sndUna {
				c.sndNxt = c.sndUna
				c.retransmits++
			}
			e.mu.Unlock()
		case <-ctx.Done():
			return fmt.Errorf("%d of %d bytes acknowledged: %w", acked, len(data), ctx.Err())
		}
	}
}

// close sends a FIN, again every tcpRTO, until the kernel acknowledges it.
func (e *tcpEndpoint) close(ctx context.Context, c *tcpConn) error {
	e.mu.Lock()
	c.finSent = true
	c.sndNxt++
	c.sndMax = c.sndNxt
	e.mu.Unlock()
	for {
		e.mu.Lock()
		done := c.sndUna == c.sndNxt
		fin := e.ackLocked(c)
		e.mu.Unlock()
		if done {
			return nil
		}
		e.send([]*ndis.NetBufferList{fin})
		select {
		case <-c.progress:
		case <-time.After(tcpRTO):
		case <-ctx.Done():
			return fmt.Errorf("close: %w", ctx.Err())
		}
	}
}

// received returns what c received in order and its counters.
func (e *tcpEndpoint) received(c *tcpConn) (data []byte, outOfOrder, retransmits int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return c.data, c.outOfOrder, c.retransmits
}

// check fails the test for any bad frame seen, or a send that failed.
func (e *tcpEndpoint) check(t *testing.T) tcpFrameStats {
	t.Helper()
	e.mu.Lock()
	st, failed, last := e.frameStats, e.sendFailed, e.lastFail
	e.mu.Unlock()
	if st.Frames == 0 || st.TooLong != 0 || st.BadLength != 0 || st.BadIPSum != 0 || st.BadTCPSum != 0 {
		t.Errorf("TCP frames to gondis: %+v; want none too long (> %d bytes) or with a bad length or checksum", st, offMaxFrame)
	}
	if failed != 0 {
		t.Errorf("%d of the endpoint's sends failed, the last with %s", failed, last)
	}
	return st
}

// --- the namespace's side ----------------------------------------------------

// offSNMP returns the namespace's IP and TCP counters from /proc/net/snmp,
// as "Tcp.InCsumErrors" and so on.
func offSNMP(t *testing.T, ns string) map[string]int64 {
	t.Helper()
	out := run(t, "ip", "netns", "exec", ns, "cat", "/proc/net/snmp")
	m := make(map[string]int64)
	var names []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		proto, rest, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			continue
		}
		fields := strings.Fields(rest)
		if _, err := strconv.ParseInt(fields[0], 10, 64); err != nil {
			names = fields
			continue
		}
		for i, v := range fields {
			if i < len(names) {
				m[proto+"."+names[i]], _ = strconv.ParseInt(v, 10, 64)
			}
		}
	}
	return m
}

// offKernelMAC returns the MAC address of the kernel's side of the TAP.
func offKernelMAC(t *testing.T, bn *bench) ndis.MacAddress {
	t.Helper()
	l, err := bn.nlHandle().LinkByName(bn.ifname)
	if err != nil {
		t.Fatal(err)
	}
	return ndis.MacAddress(l.Attrs().HardwareAddr)
}

// tcpPattern returns n bytes in which every 4-byte word holds its own
// offset plus salt: a byte out of place says where it came from.
func tcpPattern(n int, salt uint32) []byte {
	b := make([]byte, n+3)
	for i := 0; i < n; i += 4 {
		binary.BigEndian.PutUint32(b[i:], uint32(i)+salt)
	}
	return b[:n]
}

// tcpCheckPattern fails the test unless got is want, saying where it differs.
func tcpCheckPattern(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for i < min(len(got), len(want)) && got[i] == want[i] {
		i++
	}
	t.Errorf("%s: %d bytes, want %d; first difference at offset %d", what, len(got), len(want), i)
}

// offSet sets OID_TCP_OFFLOAD_PARAMETERS through b.
func offSet(t *testing.T, b *ndis.Binding, checksum, lsoV2 uint8) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	r := &ndis.OidRequest{Type: ndis.RequestSet, OID: ndis.OIDTCPOffloadParameters, Buffer: tap.OffloadSet(checksum, lsoV2)}
	if s := b.OidRequest(ctx, r); s != ndis.StatusSuccess {
		t.Fatalf("set OID_TCP_OFFLOAD_PARAMETERS (checksum %d, LSOv2 %d): %s", checksum, lsoV2, s)
	}
}

func offMBps(n int, d time.Duration) float64 { return float64(n) / d.Seconds() / 1e6 }

// --- kernel → gondis ---------------------------------------------------------

// tcpReceive has a client in the namespace connect to the endpoint, write
// n bytes of the pattern and shut its side down; it returns once the
// endpoint has the FIN, having checked the data, and how long the
// transfer took.
func tcpReceive(t *testing.T, bn *bench, e *tcpEndpoint, n int, salt uint32) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), tcpTimeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	want := tcpPattern(n, salt)
	var conn net.Conn
	err := inNamespace(bn.ns, func() error {
		var d net.Dialer
		var err error
		conn, err = d.DialContext(ctx, "tcp4", netip.AddrPortFrom(gondisIP, tcpRecvPort).String())
		return err
	})
	if err != nil {
		t.Fatalf("connect from the namespace: %v", err)
	}
	defer conn.Close()
	var c *tcpConn
	select {
	case c = <-e.accepts:
	case <-ctx.Done():
		t.Fatal("the endpoint accepted no connection")
	}
	start := time.Now()
	werr := make(chan error, 1)
	go func() {
		_ = conn.SetWriteDeadline(deadline)
		_, err := conn.Write(want)
		if err == nil {
			err = conn.(*net.TCPConn).CloseWrite()
		}
		werr <- err
	}()
	select {
	case <-c.finRcvd:
	case <-ctx.Done():
		got, ooo, _ := e.received(c)
		t.Fatalf("the endpoint has %d of %d bytes and no FIN (%d segments out of order)", len(got), n, ooo)
	}
	elapsed := time.Since(start)
	if err := <-werr; err != nil {
		t.Fatalf("write in the namespace: %v", err)
	}
	// The endpoint answered the FIN with its own: the client reads EOF.
	_ = conn.SetReadDeadline(deadline)
	if k, err := conn.Read(make([]byte, 1)); k != 0 || err != io.EOF {
		t.Errorf("client read after the endpoint's FIN: %d, %v; want EOF", k, err)
	}
	got, ooo, _ := e.received(c)
	tcpCheckPattern(t, "the endpoint's data", got, want)
	if ooo != 0 {
		t.Logf("%d segments arrived out of order or twice", ooo)
	}
	return elapsed
}

// TestVnetReceiveLarge: a client of the kernel's TCP writes 8 MiB to the
// endpoint. With receive offload on, the kernel hands the adapter GSO
// frames (TSO), which it cuts into frames of the MTU with their checksums;
// switched off by OID, the kernel segments them itself. Either way every
// frame fits the MTU, its checksums are right, and the data arrives whole
// and in order.
func TestVnetReceiveLarge(t *testing.T) {
	bn := newBenchWith(t, map[string]string{"vnet_hdr": "on"})
	e := tcpBind(t, bn)
	const n = 8 << 20
	e.listen(tcpRecvPort, n)
	if o, _ := tap.OffloadOf(bn.a); !o.Receive || !o.LargeSend || !o.TxChecksum {
		t.Fatalf("offload with vnet_hdr on: %+v, want everything on", o)
	}
	s0, _ := tap.StatsOf(bn.a)
	d := tcpReceive(t, bn, e, n, 1)
	s1, _ := tap.StatsOf(bn.a)
	st := e.check(t)
	t.Logf("offload on: 8 MiB in %v (%.0f MB/s); RcvGSO %d, RcvSegments %d, frames %d (longest %d bytes, %d marked TCP checksum good)",
		d.Round(time.Millisecond), offMBps(n, d), s1.RcvGSO-s0.RcvGSO, s1.RcvSegments-s0.RcvSegments, st.Frames, st.MaxLen, st.RxMarked)
	if s1.RcvGSO == s0.RcvGSO {
		t.Errorf("the kernel handed over no GSO frame: %+v", s1)
	}
	if s1.RcvSegments-s0.RcvSegments < 2*(s1.RcvGSO-s0.RcvGSO) {
		t.Errorf("%d GSO frames made %d frames: fewer than two each", s1.RcvGSO-s0.RcvGSO, s1.RcvSegments-s0.RcvSegments)
	}

	offSet(t, e.b, ndis.OffloadParametersTxRxDisabled, ndis.OffloadParametersLSOv2Disabled)
	if o, _ := tap.OffloadOf(bn.a); o != (tap.Offload{}) {
		t.Fatalf("offload after disabling it: %+v", o)
	}
	d = tcpReceive(t, bn, e, n, 2)
	s2, _ := tap.StatsOf(bn.a)
	st2 := e.check(t)
	t.Logf("offload off: 8 MiB in %v (%.0f MB/s); RcvGSO %d, frames %d (longest %d bytes)",
		d.Round(time.Millisecond), offMBps(n, d), s2.RcvGSO-s1.RcvGSO, st2.Frames-st.Frames, st2.MaxLen)
	if s2.RcvGSO != s1.RcvGSO || s2.RcvSegments != s1.RcvSegments {
		t.Errorf("GSO frames with receive offload off: RcvGSO %d → %d, RcvSegments %d → %d",
			s1.RcvGSO, s2.RcvGSO, s1.RcvSegments, s2.RcvSegments)
	}
	if s2.RcvError != 0 || s2.RcvNoBuffer != 0 {
		t.Logf("tap: RcvError %d, RcvNoBuffer %d", s2.RcvError, s2.RcvNoBuffer)
	}
	if k := offSNMP(t, bn.ns); k["Tcp.InCsumErrors"] != 0 || k["Ip.InHdrErrors"] != 0 {
		t.Errorf("the kernel counted bad checksums in the endpoint's ACKs: Tcp.InCsumErrors %d, Ip.InHdrErrors %d",
			k["Tcp.InCsumErrors"], k["Ip.InHdrErrors"])
	}
}

// --- gondis → kernel ---------------------------------------------------------

// tcpPart is a stretch of a transfer and how it is sent.
type tcpPart struct {
	n     int
	mode  tcpMode
	chunk int // payload bytes a frame
}

// tcpTransmit connects from lport to the namespace's listener ln, sends
// the parts of the pattern one after the other, closes, and checks that
// the accepted connection read exactly the pattern and then EOF. It
// returns how long the data took to be acknowledged and how often the
// endpoint sent again.
func tcpTransmit(t *testing.T, bn *bench, e *tcpEndpoint, ln net.Listener, lport uint16, salt uint32, parts []tcpPart) (time.Duration, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), tcpTimeout)
	defer cancel()
	deadline, _ := ctx.Deadline()
	total := 0
	for _, p := range parts {
		total += p.n
	}
	want := tcpPattern(total, salt)
	type result struct {
		data []byte
		err  error
	}
	got := make(chan result, 1)
	go func() {
		_ = ln.(*net.TCPListener).SetDeadline(deadline)
		conn, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer conn.Close()
		_ = conn.SetReadDeadline(deadline)
		b, err := io.ReadAll(conn)
		got <- result{b, err}
	}()
	c, err := e.connect(ctx, lport, tcpListenPort, offKernelMAC(t, bn))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	off := 0
	for _, p := range parts {
		if err := e.transmit(ctx, c, want[off:off+p.n], p.mode, p.chunk); err != nil {
			t.Fatalf("send %d bytes (%s) at offset %d: %v", p.n, p.mode, off, err)
		}
		off += p.n
	}
	elapsed := time.Since(start)
	if err := e.close(ctx, c); err != nil {
		t.Fatal(err)
	}
	var r result
	select {
	case r = <-got:
	case <-ctx.Done():
		t.Fatal("the listener's connection did not see EOF")
	}
	if r.err != nil {
		t.Fatalf("the listener's connection: %v after %d bytes", r.err, len(r.data))
	}
	tcpCheckPattern(t, "the kernel's data", r.data, want)
	_, _, retransmits := e.received(c)
	return elapsed, retransmits
}

// TestVnetLargeSend: the endpoint sends 4 MiB to a listener of the
// kernel's TCP in LSOv2 NBLs of up to 32 KiB, then a few frames with
// checksum offload only. With large send on, the adapter hands each LSO
// NBL to the kernel whole (GSO); with it switched off by OID, it cuts them
// into frames itself; with transmit checksum offload off too, it computes
// the checksums of the small frames, which the kernel then verifies. The
// data arrives whole every time and the kernel counts no bad checksum.
func TestVnetLargeSend(t *testing.T) {
	bn := newBenchWith(t, map[string]string{"vnet_hdr": "on"})
	e := tcpBind(t, bn)
	var ln net.Listener
	err := inNamespace(bn.ns, func() error {
		var err error
		ln, err = new(net.ListenConfig).Listen(t.Context(), "tcp4", netip.AddrPortFrom(tcpKernelAddr, tcpListenPort).String())
		return err
	})
	if err != nil {
		t.Fatalf("listen in the namespace: %v", err)
	}
	defer ln.Close()
	const n = 4 << 20
	parts := []tcpPart{{n, tcpLSO, tcpMaxLSO}, {4 * 1000, tcpCsum, 1000}}

	s0, _ := tap.StatsOf(bn.a)
	d, re := tcpTransmit(t, bn, e, ln, 40001, 1, parts)
	s1, _ := tap.StatsOf(bn.a)
	t.Logf("large send on: 4 MiB in %v (%.0f MB/s), %d retransmissions; XmitGSO %d, XmitSoftSegments %d",
		d.Round(time.Millisecond), offMBps(n, d), re, s1.XmitGSO-s0.XmitGSO, s1.XmitSoftSegments-s0.XmitSoftSegments)
	if s1.XmitGSO == s0.XmitGSO || s1.XmitSoftSegments != s0.XmitSoftSegments {
		t.Errorf("large send on: XmitGSO %d → %d, XmitSoftSegments %d → %d; want GSO writes only",
			s0.XmitGSO, s1.XmitGSO, s0.XmitSoftSegments, s1.XmitSoftSegments)
	}

	offSet(t, e.b, ndis.OffloadParametersNoChange, ndis.OffloadParametersLSOv2Disabled)
	if o, _ := tap.OffloadOf(bn.a); o != (tap.Offload{TxChecksum: true, Receive: true}) {
		t.Fatalf("offload after disabling LSOv2: %+v", o)
	}
	d, re = tcpTransmit(t, bn, e, ln, 40002, 2, parts)
	s2, _ := tap.StatsOf(bn.a)
	t.Logf("large send off: 4 MiB in %v (%.0f MB/s), %d retransmissions; XmitGSO %d, XmitSoftSegments %d",
		d.Round(time.Millisecond), offMBps(n, d), re, s2.XmitGSO-s1.XmitGSO, s2.XmitSoftSegments-s1.XmitSoftSegments)
	if s2.XmitGSO != s1.XmitGSO || s2.XmitSoftSegments-s1.XmitSoftSegments < n/tcpMSS {
		t.Errorf("large send off: XmitGSO %d → %d, XmitSoftSegments %d → %d; want software segments only",
			s1.XmitGSO, s2.XmitGSO, s1.XmitSoftSegments, s2.XmitSoftSegments)
	}

	// Transmit checksum offload off too: the adapter computes every
	// checksum, and the kernel checks them.
	offSet(t, e.b, ndis.OffloadParametersRxEnabled, ndis.OffloadParametersNoChange)
	if o, _ := tap.OffloadOf(bn.a); o != (tap.Offload{Receive: true}) {
		t.Fatalf("offload after disabling transmit checksums: %+v", o)
	}
	d, re = tcpTransmit(t, bn, e, ln, 40003, 3, []tcpPart{{64 << 10, tcpLSO, tcpMaxLSO}, {4 * 1000, tcpCsum, 1000}})
	s3, _ := tap.StatsOf(bn.a)
	t.Logf("all transmit offload off: 68 KiB in %v, %d retransmissions", d.Round(time.Millisecond), re)
	if s3.XmitGSO != s2.XmitGSO {
		t.Errorf("XmitGSO %d → %d with large send off", s2.XmitGSO, s3.XmitGSO)
	}

	st := e.check(t)
	k := offSNMP(t, bn.ns)
	t.Logf("kernel's ACKs: %d frames, longest %d bytes; kernel: Tcp.InSegs %d, Tcp.RetransSegs %d, Tcp.InCsumErrors %d",
		st.Frames, st.MaxLen, k["Tcp.InSegs"], k["Tcp.RetransSegs"], k["Tcp.InCsumErrors"])
	if k["Tcp.InCsumErrors"] != 0 || k["Ip.InHdrErrors"] != 0 || k["Tcp.InErrs"] != 0 {
		t.Errorf("the kernel counted bad segments: Tcp.InCsumErrors %d, Tcp.InErrs %d, Ip.InHdrErrors %d",
			k["Tcp.InCsumErrors"], k["Tcp.InErrs"], k["Ip.InHdrErrors"])
	}
	if s3.XmitError != 0 {
		t.Errorf("tap: XmitError %d", s3.XmitError)
	}
}

// --- bad requests --------------------------------------------------------------

// TestVnetBadOffload: sends whose offload request does not fit their frame
// complete with a failure status, whether the adapter would hand them to
// the kernel (large send on) or cut them itself (off); nothing panics or
// resets, and the adapter goes on answering pings.
func TestVnetBadOffload(t *testing.T) {
	bn := newBenchWith(t, map[string]string{"vnet_hdr": "on"})
	b, rec := bn.recorder(0)
	kmac := offKernelMAC(t, bn)
	lso := func(mss, offset int, ipv6 bool) func(x *ndis.NetBufferList) {
		return func(x *ndis.NetBufferList) { x.LargeSend = ndis.LargeSendV2(mss, offset, ipv6) }
	}
	tcp := func(size int) []byte {
		x := tcpFrame(tcpSegment{dst: kmac, sport: 40009, dport: tcpListenPort, flags: tcpACK, payload: make([]byte, size), mode: tcpLSO, mss: tcpMSS})
		return x.Frames[0]
	}
	icmp := udpFrame(kmac, adapterMAC, 0, 98)
	icmp[14+9] = 1
	arp := make([]byte, 60)
	copy(arp, kmac[:])
	copy(arp[6:], adapterMAC[:])
	binary.BigEndian.PutUint16(arp[12:], 0x0806)
	truncated := tcp(8000)
	binary.BigEndian.PutUint16(truncated[14+2:], 9000) // an IPv4 length past the end of the frame
	cases := []struct {
		name  string
		frame []byte
		set   func(x *ndis.NetBufferList)
	}{
		{"LSOv2 on a UDP frame", udpFrame(kmac, adapterMAC, 5000, 4000), lso(tcpMSS, 34, false)},
		{"LSOv2 on an ICMP frame", icmp, lso(tcpMSS, 34, false)},
		{"LSOv2 on an ARP frame", arp, lso(tcpMSS, 34, false)},
		{"LSOv2 with a TCP header offset that lies", tcp(8000), lso(tcpMSS, 38, false)},
		{"LSOv2 with a TCP header offset in the IP header", tcp(8000), lso(tcpMSS, 30, false)},
		{"LSOv2 with MSS 0", tcp(8000), lso(0, 34, false)},
		{"LSOv2 saying IPv6 of an IPv4 frame", tcp(8000), lso(tcpMSS, 34, true)},
		{"LSOv2 with an IPv4 length past the frame", truncated, lso(tcpMSS, 34, false)},
		{"TCP checksum offload of an ICMP frame", icmp, func(x *ndis.NetBufferList) {
			x.Checksum = ndis.TxChecksum(ndis.ChecksumTxIPv4|ndis.ChecksumTxTCP, 34)
		}},
		{"UDP checksum offload of a TCP frame", tcp(100), func(x *ndis.NetBufferList) {
			x.Checksum = ndis.TxChecksum(ndis.ChecksumTxIPv4|ndis.ChecksumTxUDP, 34)
		}},
		{"checksum offload of a frame larger than the MTU", tcp(3000), func(x *ndis.NetBufferList) {
			x.Checksum = ndis.TxChecksum(ndis.ChecksumTxIPv4|ndis.ChecksumTxTCP|ndis.ChecksumTxIPHeader, 34)
		}},
		{"LSOv2 with segments larger than the MTU", tcp(8000), lso(testMTU, 34, false)},
		{"LSOv2 with TCP header offset 0", tcp(8000), lso(testMTU, 0, false)},
		{"LSOv2 with MSS 1", tcp(60000), lso(1, 34, false)},
		{"LSOv2 larger than an IP packet", tcp(70000), lso(tcpMSS, 34, false)},
	}
	for _, on := range []bool{true, false} {
		csum, setting := uint8(ndis.OffloadParametersTxRxEnabled), uint8(ndis.OffloadParametersLSOv2Enabled)
		if !on {
			csum, setting = ndis.OffloadParametersTxRxDisabled, ndis.OffloadParametersLSOv2Disabled
		}
		offSet(t, b, csum, setting)
		var ls []*ndis.NetBufferList
		for _, c := range cases {
			x := ndis.NewNetBufferList(append([]byte(nil), c.frame...))
			c.set(x)
			ls = append(ls, x)
		}
		before := rec.Completed()
		b.SendNetBufferLists(ndis.Chain(ls...))
		ndistest.Eventually(t, func() bool { return rec.Completed() == before+len(ls) }, "every bad send completed (large send on: %v)", on)
		for i, c := range cases {
			if s := ls[i].Status; s != ndis.StatusInvalidParameter && s != ndis.StatusInvalidLength {
				t.Errorf("large send on %v: %s completed with %s", on, c.name, s)
			} else {
				t.Logf("large send on %v: %s: %s", on, c.name, s)
			}
		}
	}
	if sent, got, out := bn.ping(3, "0.2", 0); got != sent || sent != 3 {
		t.Fatalf("ping after the bad sends: %d/%d\n%s", got, sent, out)
	}
	if ts, _ := tap.StatsOf(bn.a); ts.Resets != 0 || ts.DeadErrors != 0 || ts.XmitGSO != 0 || ts.XmitSoftSegments != 0 {
		t.Errorf("tap stats after the bad sends: %+v", ts)
	}
}
