package tap

import (
	"encoding/binary"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/cpu"
	"golang.org/x/sys/unix"

	"github.com/gondis/gondis/miniport/internal/kit"
	"github.com/gondis/gondis/miniport/internal/vnet"
	"github.com/gondis/gondis/ndis"
)

// maxGSOFrame is the largest frame the kernel hands over with GSO: an IP
// packet of 64 KiB and its Ethernet header.
const maxGSOFrame = 65535 + ndis.EthernetHeaderSize

// queue is one descriptor of the interface, with a reader goroutine that
// indicates what the kernel queued on it and a writer goroutine that writes
// the sends steered to it. A single-queue interface has one.
type queue struct {
	// Set when the queue is made.
	m          *miniport
	d          *device
	file       *os.File
	rc         syscall.RawConn
	readFn     func(fd uintptr) bool       // the reader's poller callback, made once
	writeFn    func(fd uintptr) bool       // the writer's
	transmitFn func(l *ndis.NetBufferList) // the writer's, for its send queue's Serve
	wake       chan struct{}               // capacity 1: sends are queued, or a pause waits

	readerDone, writerDone chan struct{}

	// The reader's and the writer's fields each have cache lines of their
	// own, apart from the send queue the senders write: the two run on
	// different cores.
	_ cpu.CacheLinePad

	// The reader's: its batch, its count, and with vnet_hdr where a large
	// frame spills and the buffers it is cut into.
	r     readState
	rcvOK atomic.Uint64 // frames read
	rxiov [2]unix.Iovec
	big   []byte
	rxdst [][]byte

	_ cpu.CacheLinePad

	// The writer's: its cursor, its count (per queue, so that writers on
	// two cores share no counter), the iovecs of a write, the virtio-net
	// header and the rewritten headers of an offloaded send, and the
	// frames of one cut in software.
	w       writeState
	writing atomic.Int64  // since when a write waits for room with no progress, or 0
	xmitOK  atomic.Uint64 // frames written
	iov     [3]unix.Iovec
	vhdr    [vnet.HeaderLen]byte
	hdrs    [vnet.MaxHeadersLen]byte
	segBufs [][]byte
	segs    [][]byte

	_ cpu.CacheLinePad

	// The sends queued for the writer.
	sends kit.SendQueue
}

func newQueue(m *miniport, d *device, f *os.File) (*queue, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	q := &queue{m: m, d: d, file: f, rc: rc, wake: make(chan struct{}, 1),
		readerDone: make(chan struct{}), writerDone: make(chan struct{})}
	q.readFn, q.writeFn, q.transmitFn = q.readSome, q.writeSome, q.transmit
	if m.cfg.vnetHdr {
		q.readFn = q.readSomeVnet
		q.big = make([]byte, maxGSOFrame+m.cfg.mtu+ndis.EthernetHeaderSize)
	}
	return q, nil
}

func (q *queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// --- receive -------------------------------------------------------------

// reader is the receive goroutine of one queue: it reads every frame
// waiting on the descriptor into pooled NBLs, with no poller round trip
// while data is ready, and indicates them in one call per batch. It starts
// reading at the adapter's first Restart.
func (q *queue) reader() {
	defer close(q.readerDone)
	m, d, r := q.m, q.d, &q.r
	select {
	case <-m.restarted:
	case <-d.stop:
		return
	}
	var wait *time.Timer // back-pressure: made at its first use, reused
	defer func() {
		m.pool.Put(r.spare)
		*r = readState{}
	}()
	for {
		q.spare(Batch)
		if r.spare == nil {
			// Every receive NBL is with the protocols: back-pressure.
			m.rcvNoBuffer.Add(1)
			if wait == nil {
				wait = time.NewTimer(time.Millisecond)
			} else {
				wait.Reset(time.Millisecond)
			}
			select {
			case <-d.stop:
				wait.Stop()
				return
			case <-wait.C:
			}
			continue
		}
		r.err = nil
		err := q.rc.Read(q.readFn)
		if n := r.batch.Len(); n > 0 {
			q.rcvOK.Add(uint64(n))
			m.a.IndicateReceiveNetBufferLists(r.batch.Take(), 0)
		}
		if err == nil {
			err = r.err
		}
		if err == nil {
			continue
		}
		if d.stopping() {
			return // the descriptor was closed under us (its error is poll's, not os.ErrClosed)
		}
		switch classify(err) {
		case errClosed:
			return
		case errTransient:
			m.retries.Add(1)
			continue
		case errDead:
			m.deviceDead(d, "read", err)
		default:
			m.rcvError.Add(1)
			m.deviceDead(d, "read", err)
		}
		<-d.stop // the reset stops this device
		return
	}
}

// readState is a reader's batch.
type readState struct {
	spare  *ndis.NetBufferList // empty NBLs to read into
	nspare int
	batch  ndis.List // the frames read, to indicate
	err    error     // the error that stopped readSome
}

// readSome is the poller callback of the reader: it reads frames until the
// descriptor is empty (false when nothing was read: the poller waits), the
// batch is full, or a call fails (true, r.err set).
func (q *queue) readSome(fd uintptr) bool {
	r := &q.r
	for r.spare != nil {
		x := r.spare
		buf := x.Frames[0][:cap(x.Frames[0])]
		k, err := read(int(fd), buf)
		switch {
		case err == unix.EAGAIN:
			return !r.batch.Empty()
		case err == unix.EINTR:
			q.m.retries.Add(1)
			continue
		case err != nil:
			r.err = err
			return true
		case k < ndis.EthernetHeaderSize:
			q.m.rcvError.Add(1)
			continue
		}
		x.Frames[0] = buf[:k]
		q.take(1)
	}
	return true
}

// take moves the first n NBLs of the spare list, filled, to the batch.
func (q *queue) take(n int) {
	r := &q.r
	for range n {
		x := r.spare
		r.spare = x.Next
		r.nspare--
		r.batch.Push(x)
	}
}

// spare tops the spare list up to n NBLs from the pool, as far as the
// pool's limit allows, and reports whether it holds n.
func (q *queue) spare(n int) bool {
	r := &q.r
	if r.nspare >= n {
		return true
	}
	l, got := q.m.pool.Get(n - r.nspare)
	if l != nil {
		t := l
		for t.Next != nil {
			t = t.Next
		}
		t.Next = r.spare
		r.spare = l
		r.nspare += got
	}
	return r.nspare >= n
}

// --- send ----------------------------------------------------------------

// SendNetBufferLists is MiniportSendNetBufferLists: it steers each NBL to a
// queue by a hash of its flow (so one flow's frames stay in order) and
// queues the chains for the queues' writers, without the miniport's lock.
// It never blocks; with no device (a failed reset) it completes the chain
// inline with StatusRequestAborted.
func (m *miniport) SendNetBufferLists(l *ndis.NetBufferList) {
	if l == nil {
		return
	}
	d := m.dev.Load()
	if d == nil {
		m.abort(l)
		return
	}
	if len(d.queues) == 1 {
		q := d.queues[0]
		if q.sends.Push(l) {
			q.signal()
		}
	} else {
		// Sort the chain into one sub-chain a queue.
		var sub [MaxQueues]ndis.List
		nq := uint32(len(d.queues))
		for x := l; x != nil; {
			next := x.Next
			sub[flowHash(x)%nq].Push(x)
			x = next
		}
		for i, q := range d.queues {
			if q.sends.Push(sub[i].Take()) {
				q.signal()
			}
		}
	}
	if m.dev.Load() != d {
		m.abandoned(d)
	}
}

// abandoned completes what is left in the queues of d, a device a reset
// replaced while SendNetBufferLists was queueing on it. The reset swaps the
// device before it takes what its queues hold, so a chain queued after
// that take is seen here; whoever takes a chain first completes it.
func (m *miniport) abandoned(d *device) {
	for _, q := range d.queues {
		m.abort(q.sends.Take())
	}
}

// flowHash hashes what identifies an NBL's flow: the IP addresses and, for
// TCP and UDP, the ports; the MAC addresses and EtherType of other frames.
func flowHash(l *ndis.NetBufferList) uint32 {
	if len(l.Frames) == 0 {
		return 0
	}
	f := l.Frames[0]
	if len(f) < ndis.EthernetHeaderSize {
		return 0
	}
	var a, b, c uint32
	switch binary.BigEndian.Uint16(f[12:14]) {
	case 0x0800: // IPv4
		if len(f) < ndis.EthernetHeaderSize+20 {
			break
		}
		ip := f[ndis.EthernetHeaderSize:]
		a = binary.BigEndian.Uint32(ip[12:16])
		b = binary.BigEndian.Uint32(ip[16:20])
		ihl := int(ip[0]&0x0f) * 4
		fragment := binary.BigEndian.Uint16(ip[6:8])&0x3fff != 0
		if (ip[9] == 6 || ip[9] == 17) && !fragment && len(ip) >= ihl+4 {
			c = binary.BigEndian.Uint32(ip[ihl:])
		}
		return mix(a, b, c)
	case 0x86DD: // IPv6
		if len(f) < ndis.EthernetHeaderSize+40 {
			break
		}
		ip := f[ndis.EthernetHeaderSize:]
		for i := 8; i < 40; i += 4 {
			a = a*0x9e3779b1 ^ binary.BigEndian.Uint32(ip[i:])
		}
		if (ip[6] == 6 || ip[6] == 17) && len(ip) >= 44 {
			c = binary.BigEndian.Uint32(ip[40:])
		}
		return mix(a, 0, c)
	}
	a = binary.BigEndian.Uint32(f[0:4]) ^ binary.BigEndian.Uint32(f[6:10])
	b = uint32(binary.BigEndian.Uint16(f[4:6]))<<16 | uint32(binary.BigEndian.Uint16(f[10:12]))
	return mix(a, b, uint32(binary.BigEndian.Uint16(f[12:14])))
}

// mix is a cheap avalanche of three words (the finaliser of murmur3).
func mix(a, b, c uint32) uint32 {
	h := a ^ b*0x85ebca6b ^ c*0xc2b2ae35
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

// abort completes a chain with StatusRequestAborted.
func (m *miniport) abort(l *ndis.NetBufferList) {
	if l == nil {
		return
	}
	m.xmitError.Add(kit.Abort(l))
	m.a.SendNetBufferListsComplete(l)
}

// writer is the send goroutine of one queue.
func (q *queue) writer() {
	defer close(q.writerDone)
	for {
		select {
		case <-q.d.stop:
			return
		case <-q.wake:
		}
		q.service()
	}
}

// service writes every chain queued on q, then completes a pending pause
// when no queue has anything left.
func (q *queue) service() {
	q.sends.Serve(q.transmitFn)
	if q.m.pausing.Load() {
		q.m.pauseDone(q.d)
	}
}

// transmit writes a chain frame by frame, one system call each, and
// completes it in one call. An NBL fails whole at its first frame that
// fails; the frames go out in one poller operation for as long as the
// descriptor takes them (no per-frame poller round trip, no allocation).
func (q *queue) transmit(l *ndis.NetBufferList) {
	m, d, w := q.m, q.d, &q.w
	for x := l; x != nil; x = x.Next {
		x.Status = ndis.StatusSuccess
	}
	w.cur, w.frame, w.err = l, 0, nil
	nobufs := 0
	for w.cur != nil {
		w.err = nil
		err := q.rc.Write(q.writeFn)
		if err == nil {
			err = w.err
		}
		if err == nil {
			continue // w.cur is nil: all written
		}
		if d.stopping() {
			q.failRest(ndis.StatusRequestAborted)
			break
		}
		switch classify(err) {
		case errClosed:
			q.failRest(ndis.StatusRequestAborted)
		case errTransient: // ENOBUFS: the kernel is short of memory
			m.retries.Add(1)
			if nobufs++; nobufs > maxNoBuffers {
				q.failCur(ndis.StatusResources)
				nobufs = 0
				continue
			}
			select {
			case <-d.stop:
				q.failRest(ndis.StatusRequestAborted)
			case <-time.After(100 * time.Microsecond):
			}
			continue
		case errAdminDown:
			m.indicateLink(false)
			q.failCur(ndis.StatusMediaDisconnected)
			continue
		case errDead:
			m.deviceDead(d, "write", err)
			q.failRest(ndis.StatusDeviceFailed)
		case errBadFrame:
			q.failCur(ndis.StatusInvalidLength)
			continue
		default:
			q.failCur(ndis.StatusFailure)
			continue
		}
		break
	}
	q.writing.Store(0)
	w.cur = nil
	m.a.SendNetBufferListsComplete(l)
}

// maxNoBuffers is how many ENOBUFS in a row fail a frame.
const maxNoBuffers = 100

// writeState is a writer's cursor in the chain it writes.
type writeState struct {
	cur       *ndis.NetBufferList // the NBL being written, nil when done
	frame     int                 // its next frame
	seg, nseg int                 // the next and the number of frames cut from it in software
	err       error               // the error that stopped writeSome
}

// writeSome is the poller callback of transmit: it writes frames from the
// cursor on until the chain is done (true), the descriptor is full (false:
// the poller waits for room) or a call fails (true, w.err set).
func (q *queue) writeSome(fd uintptr) bool {
	m, w := q.m, &q.w
	maxFrame := m.cfg.mtu + ndis.EthernetHeaderSize
	written := uint64(0)
	defer func() { q.xmitOK.Add(written) }()
	for w.cur != nil {
		if w.frame == len(w.cur.Frames) {
			w.cur, w.frame = w.cur.Next, 0
			continue
		}
		f := w.cur.Frames[w.frame]
		var err error
		if o, ok := sendOffload(w.cur); ok {
			if s := checkOffload(f, o, maxFrame); s != ndis.StatusSuccess {
				q.failCur(s)
				continue
			}
			if err = q.writeOffloaded(fd, f, o); err == errBadOffload {
				q.failCur(ndis.StatusInvalidParameter)
				continue
			}
		} else {
			if len(f) < ndis.EthernetHeaderSize || len(f) > maxFrame {
				q.failCur(ndis.StatusInvalidLength)
				continue
			}
			err = q.writeFrame(fd, f)
		}
		switch err {
		case nil:
			written++
			w.frame++
			if q.writing.Load() != 0 {
				q.writing.Store(0) // progress
			}
		case unix.EINTR:
			m.retries.Add(1)
		case unix.EAGAIN:
			m.retries.Add(1)
			if q.writing.Load() == 0 {
				q.writing.Store(now()) // no progress from now on, until there is
			}
			return false
		default:
			w.err = err
			return true
		}
	}
	return true
}

// failCur fails the NBL at the cursor and moves on to the next one.
func (q *queue) failCur(s ndis.Status) {
	w := &q.w
	w.cur.Status = s
	q.m.xmitError.Add(1)
	w.cur, w.frame, w.nseg = w.cur.Next, 0, 0
}

// failRest fails every NBL from the cursor on.
func (q *queue) failRest(s ndis.Status) {
	for q.w.cur != nil {
		q.failCur(s)
	}
}
