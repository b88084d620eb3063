package tap

import (
	"encoding/binary"
	"errors"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/gondis/gondis/miniport/internal/vnet"
	"github.com/gondis/gondis/ndis"
)

// offload bits, in m.offload.
const (
	offTxChecksum = 1 << iota
	offLargeSend
	offReceive
)

func (m *miniport) offloadNow() Offload {
	o := m.offload.Load()
	return Offload{TxChecksum: o&offTxChecksum != 0, LargeSend: o&offLargeSend != 0, Receive: o&offReceive != 0}
}

// setOffloadParameters is the set of ndis.OIDTCPOffloadParameters. The TAP
// has one switch for each of transmit checksums, large sends and receive
// offload: a set that disables a switch for any protocol or IP version
// disables it; one that only enables, enables it; fields that say no
// change leave it. Enabling anything without vnet_hdr is
// StatusNotSupported.
func (m *miniport) setOffloadParameters(r *ndis.OidRequest) ndis.Status {
	p, s := r.OffloadParameters()
	if s != ndis.StatusSuccess {
		return s
	}
	var txOn, txOff, rxOn, rxOff bool
	for _, v := range p.Checksums() {
		switch v {
		case ndis.OffloadParametersTxRxDisabled:
			txOff, rxOff = true, true
		case ndis.OffloadParametersTxEnabled:
			txOn, rxOff = true, true
		case ndis.OffloadParametersRxEnabled:
			txOff, rxOn = true, true
		case ndis.OffloadParametersTxRxEnabled:
			txOn, rxOn = true, true
		}
	}
	var lsoOn, lsoOff bool
	for _, v := range []uint8{p.LsoV2IPv4, p.LsoV2IPv6} {
		switch v {
		case ndis.OffloadParametersLSOv2Disabled:
			lsoOff = true
		case ndis.OffloadParametersLSOv2Enabled:
			lsoOn = true
		}
	}
	old := m.offload.Load()
	o := switchOffload(old, offTxChecksum, txOn, txOff)
	o = switchOffload(o, offReceive, rxOn, rxOff)
	o = switchOffload(o, offLargeSend, lsoOn, lsoOff)
	if o&^old != 0 && !m.cfg.vnetHdr {
		return ndis.StatusNotSupported
	}
	// OidRequest and Reset both run on the runtime's work goroutine, so
	// the device cannot change under the ioctl; m.mu is not held across
	// it, as the kernel serves TUNSETOFFLOAD under its routing lock.
	d := m.dev.Load()
	if o&offReceive != old&offReceive && d != nil {
		if err := d.setKernelOffload(o&offReceive != 0); err != nil {
			return ndis.StatusFailure
		}
	}
	m.offload.Store(o)
	return ndis.StatusSuccess
}

// switchOffload turns the bit of o off when a field disabled it, else on
// when one enabled it.
func switchOffload(o, bit uint32, enable, disable bool) uint32 {
	switch {
	case disable:
		return o &^ bit
	case enable:
		return o | bit
	}
	return o
}

// setKernelOffload tells the kernel what it may hand over (TUNSETOFFLOAD):
// partial checksums and large TCP and UDP segments, or nothing. UDP
// segmentation needs Linux 6.2; older kernels get TCP only.
func (d *device) setKernelOffload(on bool) error {
	flags := 0
	if on {
		flags = unix.TUN_F_CSUM | unix.TUN_F_TSO4 | unix.TUN_F_TSO6 | unix.TUN_F_TSO_ECN | unix.TUN_F_USO4 | unix.TUN_F_USO6
	}
	var err error
	cerr := d.queues[0].rc.Control(func(fd uintptr) {
		err = unix.IoctlSetInt(int(fd), unix.TUNSETOFFLOAD, flags)
		if err == unix.EINVAL && on {
			err = unix.IoctlSetInt(int(fd), unix.TUNSETOFFLOAD, flags&^(unix.TUN_F_USO4|unix.TUN_F_USO6))
		}
	})
	return errors.Join(cerr, err)
}

// --- receive with vnet_hdr -------------------------------------------------

// readSomeVnet is readSome for a descriptor with IFF_VNET_HDR. A frame
// lands in the NBL's buffer after its header; a large one (GSO) spills
// into q.big, is gathered there, and is cut into frames of the MTU in as
// many NBLs. Partial checksums are finished; the NBLs of frames whose
// checksums are known good say so (ndis.ChecksumRx…Succeeded).
func (q *queue) readSomeVnet(fd uintptr) bool {
	r, m := &q.r, q.m
	for r.spare != nil {
		x := r.spare
		buf := x.Frames[0][:cap(x.Frames[0])]
		spill := q.big[len(buf)-vnet.HeaderLen:]
		q.rxiov[0] = iovec(buf)
		q.rxiov[1] = iovec(spill)
		k, err := readv(int(fd), q.rxiov[:])
		switch {
		case err == unix.EAGAIN:
			return !r.batch.Empty()
		case err == unix.EINTR:
			m.retries.Add(1)
			continue
		case err != nil:
			r.err = err
			return true
		case k < vnet.HeaderLen+ndis.EthernetHeaderSize || k > len(buf)+len(spill):
			m.rcvError.Add(1)
			continue
		}
		h, err := vnet.Decode(buf)
		if err != nil {
			m.rcvError.Add(1)
			continue
		}
		if h.GSOType == vnet.GSONone {
			frame := buf[vnet.HeaderLen:min(k, len(buf))]
			if k > len(buf) || len(frame) > m.cfg.mtu+ndis.EthernetHeaderSize ||
				h.Flags&vnet.FlagNeedsCsum != 0 && vnet.Complete(frame, h) != nil {
				m.rcvError.Add(1) // larger than the MTU without GSO, or a bad checksum request
				continue
			}
			x.Frames[0] = frame
			x.Checksum = rxChecksum(frame, h.Flags != 0 && m.offload.Load()&offReceive != 0)
			q.take(1)
			continue
		}
		copy(q.big, buf[vnet.HeaderLen:min(k, len(buf))])
		frame := q.big[:k-vnet.HeaderLen]
		n, err := vnet.Segments(frame, h)
		if err != nil {
			m.rcvError.Add(1)
			continue
		}
		if !q.spare(n) {
			m.rcvNoBuffer.Add(1)
			continue
		}
		dst := q.rxdst[:0]
		for l := r.spare; len(dst) < n; l = l.Next {
			dst = append(dst, l.Frames[0][:cap(l.Frames[0])])
		}
		q.rxdst = dst
		if _, err := vnet.Split(frame, h, dst); err != nil {
			m.rcvError.Add(1)
			continue
		}
		l := r.spare
		for _, f := range dst {
			l.Frames[0] = f
			l.Checksum = rxChecksum(f, m.offload.Load()&offReceive != 0)
			l = l.Next
		}
		q.take(n)
		if h.GSOType != vnet.GSONone {
			m.rcvGSO.Add(1)
			m.rcvSegments.Add(uint64(n))
		}
	}
	return true
}

// rxChecksum returns the receive checksum bits of a frame whose checksums
// are known good (valid), or 0.
func rxChecksum(f []byte, valid bool) ndis.ChecksumInfo {
	if !valid || len(f) < ndis.EthernetHeaderSize+20 {
		return 0
	}
	var c ndis.ChecksumInfo
	var proto byte
	switch binary.BigEndian.Uint16(f[12:]) {
	case 0x0800:
		c, proto = ndis.ChecksumRxIPSucceeded, f[ndis.EthernetHeaderSize+9]
	case 0x86DD:
		proto = f[ndis.EthernetHeaderSize+6]
	}
	switch proto {
	case unix.IPPROTO_TCP:
		c |= ndis.ChecksumRxTCPSucceeded
	case unix.IPPROTO_UDP:
		c |= ndis.ChecksumRxUDPSucceeded
	}
	return c
}

// --- send with offload -------------------------------------------------------

// sendOffload returns what an NBL asks of the miniport, and whether it
// asks anything.
func sendOffload(x *ndis.NetBufferList) (vnet.SendOffload, bool) {
	var o vnet.SendOffload
	if l := x.LargeSend; l.V2() {
		o.LargeSend, o.MSS, o.IPv6, o.IPv4 = true, l.MSS(), l.IPv6(), !l.IPv6()
		o.TransportOffset = l.TCPHeaderOffset()
		return o, true
	}
	c := x.Checksum
	if c&(ndis.ChecksumTxTCP|ndis.ChecksumTxUDP|ndis.ChecksumTxIPHeader) == 0 {
		return o, false
	}
	o.IPv4, o.IPv6 = c&ndis.ChecksumTxIPv4 != 0, c&ndis.ChecksumTxIPv6 != 0
	o.TCPChecksum, o.UDPChecksum = c&ndis.ChecksumTxTCP != 0, c&ndis.ChecksumTxUDP != 0
	o.IPChecksum = c&ndis.ChecksumTxIPHeader != 0
	if o.TCPChecksum || o.UDPChecksum {
		o.TransportOffset = c.TransportOffset()
	}
	return o, true
}

// writeOffloaded writes one frame whose NBL asks for offload: to the
// kernel in one write when vnet_hdr and the adapter's settings allow, else
// as the frames SegmentSend makes of it, one write each, resuming at w.seg
// after EAGAIN. nil means the frame is done; errBadOffload that its
// request does not fit it; any other error is the system call's.
func (q *queue) writeOffloaded(fd uintptr, f []byte, o vnet.SendOffload) error {
	w, m := &q.w, q.m
	if w.nseg == 0 {
		off := m.offload.Load()
		if m.cfg.vnetHdr && (o.LargeSend && off&offLargeSend != 0 || !o.LargeSend && off&offTxChecksum != 0) {
			h, hl, err := vnet.PrepareSend(f, o, q.hdrs[:])
			if err == nil {
				_ = h.Encode(q.vhdr[:])
				q.iov[0], q.iov[1], q.iov[2] = iovec(q.vhdr[:]), iovec(q.hdrs[:hl]), iovec(f[hl:])
				if _, err := writev(int(fd), q.iov[:], vnet.HeaderLen+len(f)); err != nil {
					return err
				}
				if h.GSOType != vnet.GSONone {
					m.xmitGSO.Add(1)
				}
				return nil
			}
			if !errors.Is(err, vnet.ErrUnsupported) {
				return errBadOffload
			}
		}
		// checkOffload bounded the frame and the MSS: at most 745
		// segments of at most a frame of the MTU each.
		segs, size := 1, len(f)
		if o.LargeSend {
			segs, size = len(f)/o.MSS+1, min(len(f), o.TransportOffset+60+o.MSS)
		}
		n, err := vnet.SegmentSend(f, o, q.segBuffers(segs, size))
		if err != nil {
			return errBadOffload
		}
		w.nseg, w.seg = n, 0
		if o.LargeSend {
			m.xmitSoftSegments.Add(uint64(n))
		}
	}
	for w.seg < w.nseg {
		if err := q.writeFrame(fd, q.segs[w.seg]); err != nil {
			return err
		}
		w.seg++
	}
	w.nseg = 0
	return nil
}

// checkOffload checks what a send's offload request implies before any
// work is done: a frame without large send fits the MTU; a large send
// (NDIS sets its TCP header offset, MSS at least TCP_MIN_MSS) carries at
// most an IP packet of 64 KiB, and each of its segments, headers and MSS
// payload bytes, fits the MTU. Whether the headers agree with the request
// is vnet's to judge.
func checkOffload(f []byte, o vnet.SendOffload, maxFrame int) ndis.Status {
	if !o.LargeSend {
		if len(f) > maxFrame {
			return ndis.StatusInvalidLength
		}
		return ndis.StatusSuccess
	}
	off := o.TransportOffset
	if off < ndis.EthernetHeaderSize+20 || off+20 > len(f) || o.MSS < minMSS || len(f)-ndis.EthernetHeaderSize > maxIPPacket+4 {
		return ndis.StatusInvalidParameter
	}
	if off+int(f[off+12]>>4)*4+o.MSS > maxFrame {
		return ndis.StatusInvalidLength
	}
	return ndis.StatusSuccess
}

const (
	minMSS      = 88    // Linux's TCP_MIN_MSS
	maxIPPacket = 65535 // an IPv4 total length; 4 more for a VLAN tag
)

// errBadOffload fails an NBL whose offload request does not fit its frame.
var errBadOffload = errors.New("tap: offload request does not fit the frame")

// writeFrame writes one whole frame: with a header that asks nothing when
// the descriptor has vnet_hdr.
func (q *queue) writeFrame(fd uintptr, f []byte) error {
	if !q.m.cfg.vnetHdr {
		_, err := write(int(fd), f)
		return err
	}
	q.iov[0], q.iov[1] = iovec(zeroHeader[:]), iovec(f)
	_, err := writev(int(fd), q.iov[:2], vnet.HeaderLen+len(f))
	return err
}

var zeroHeader [vnet.HeaderLen]byte

// segBuffers returns n buffers of size bytes each, for SegmentSend; they
// are kept for the next send, and grown as needed.
func (q *queue) segBuffers(n, size int) [][]byte {
	for len(q.segBufs) < n {
		q.segBufs = append(q.segBufs, nil)
	}
	q.segs = q.segs[:0]
	for i := range n {
		if cap(q.segBufs[i]) < size {
			q.segBufs[i] = make([]byte, size)
		}
		q.segs = append(q.segs, q.segBufs[i][:size])
	}
	return q.segs
}

func iovec(b []byte) unix.Iovec {
	v := unix.Iovec{}
	if len(b) > 0 {
		v.Base = &b[0]
	}
	v.SetLen(len(b))
	return v
}

// The system calls of the datapath. The descriptors are non-blocking, so
// a call never waits: RawSyscall spares it the scheduler's hand-off
// (entersyscall/exitsyscall), a fifth of a small frame's cost. A write,
// though, runs the kernel's whole receive path for the frame (up to IP,
// forwarding, netfilter, a bridge) before it returns; one of a large frame
// or a GSO packet may take long enough that the goroutine must give its
// processor up meanwhile, as Syscall does. Iovecs are the caller's, so
// nothing allocates.

// rawWriteMax is the largest write made with RawSyscall.
const rawWriteMax = 4096

func read(fd int, b []byte) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	return result(n, e)
}

func write(fd int, b []byte) (int, error) {
	call := unix.RawSyscall
	if len(b) > rawWriteMax {
		call = unix.Syscall
	}
	n, _, e := call(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
	return result(n, e)
}

func readv(fd int, iov []unix.Iovec) (int, error) {
	n, _, e := unix.RawSyscall(unix.SYS_READV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
	return result(n, e)
}

// writev writes the iovecs, size bytes in all.
func writev(fd int, iov []unix.Iovec, size int) (int, error) {
	call := unix.RawSyscall
	if size > rawWriteMax {
		call = unix.Syscall
	}
	n, _, e := call(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
	return result(n, e)
}

func result(n uintptr, e unix.Errno) (int, error) {
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}
