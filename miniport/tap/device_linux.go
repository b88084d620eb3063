package tap

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync/atomic"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/gondis/gondis/miniport/internal/vnet"
)

// device is one open TAP interface: a descriptor per queue and the
// goroutines that serve them. A reset replaces it with a new one.
type device struct {
	queues  []*queue
	ifname  string
	ifindex int
	dead    atomic.Bool   // an error said the device is gone: a reset is due
	stop    chan struct{} // closed to stop every reader and writer
}

// stopping reports whether the device is being stopped: an error of a
// system call on it then only means that it was closed.
func (d *device) stopping() bool {
	select {
	case <-d.stop:
		return true
	default:
		return false
	}
}

// close closes every descriptor of the device.
func (d *device) close() {
	for _, q := range d.queues {
		q.file.Close()
	}
}

// idle reports whether no queue holds or writes a send.
func (d *device) idle() bool {
	for _, q := range d.queues {
		if !q.sends.Drained() {
			return false
		}
	}
	return true
}

// tunRequest is what openTAP asks of the kernel.
type tunRequest struct {
	name    string
	queues  int  // descriptors to open: more than one makes a multi-queue interface
	auto    bool // the queue count was not given: fall back to one queue for a single-queue interface
	persist bool
	vnetHdr bool
}

// openTAP opens /dev/net/tun in the namespace ns (the caller's when ns is
// not open) once per queue and attaches each descriptor to the TAP
// interface r.name, creating it when it does not exist. It returns the
// descriptors and the interface's name. The namespace switch happens on a
// goroutine of its own, locked to its OS thread: the interface is created
// in the thread's namespace, and the thread is switched back before it is
// released (or, if that fails, it is left locked and dies with the
// goroutine), so the process stays in its own namespace.
func openTAP(ns netns.NsHandle, r tunRequest) ([]*os.File, string, error) {
	type result struct {
		files []*os.File
		name  string
		err   error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		unlock := true
		defer func() {
			if unlock {
				runtime.UnlockOSThread()
			}
		}()
		if ns.IsOpen() {
			orig, err := netns.Get()
			if err != nil {
				ch <- result{err: fmt.Errorf("tap: current netns: %w", err)}
				return
			}
			defer orig.Close()
			if err := unix.Setns(int(ns), unix.CLONE_NEWNET); err != nil {
				ch <- result{err: fmt.Errorf("tap: setns: %w", err)}
				return
			}
			defer func() {
				if err := unix.Setns(int(orig), unix.CLONE_NEWNET); err != nil {
					unlock = false // a thread in the wrong namespace must die
				}
			}()
		}
		fs, n, err := openTUN(r)
		ch <- result{fs, n, err}
	}()
	res := <-ch
	return res.files, res.name, res.err
}

// openTUN does the work of openTAP in the calling thread's namespace.
func openTUN(r tunRequest) ([]*os.File, string, error) {
	var files []*os.File
	fail := func(err error) ([]*os.File, string, error) {
		for _, f := range files {
			f.Close()
		}
		return nil, "", err
	}
	name := r.name
	for len(files) < r.queues {
		flags := uint16(unix.IFF_TAP | unix.IFF_NO_PI)
		if r.queues > 1 {
			flags |= unix.IFF_MULTI_QUEUE
		}
		if r.vnetHdr {
			flags |= unix.IFF_VNET_HDR
		}
		fd, err := attachTUN(name, flags)
		if err == unix.EINVAL && len(files) == 0 && r.auto && r.queues > 1 {
			// An existing single-queue interface refuses a multi-queue
			// attach: with no queue count given, take it as it is.
			r.queues = 1
			continue
		}
		if err == unix.EINVAL && r.queues > 1 {
			return fail(fmt.Errorf("tap: TUNSETIFF %q, %d queues: %w (a single-queue interface of that name exists: give queues 1)", name, r.queues, err))
		}
		if err != nil {
			return fail(fmt.Errorf("tap: TUNSETIFF %q: %w", name, err))
		}
		files = append(files, os.NewFile(uintptr(fd), "/dev/net/tun")) // non-blocking: the poller's
		if len(files) > 1 {
			continue
		}
		ifr, err := unix.NewIfreq("")
		if err == nil {
			err = unix.IoctlIfreq(fd, unix.TUNGETIFF, ifr)
		}
		if err != nil {
			return fail(fmt.Errorf("tap: TUNGETIFF: %w", err))
		}
		name = ifr.Name()
		p := 0
		if r.persist {
			p = 1
		}
		if err := unix.IoctlSetInt(fd, unix.TUNSETPERSIST, p); err != nil {
			return fail(fmt.Errorf("tap: TUNSETPERSIST: %w", err))
		}
		if r.vnetHdr {
			if err := unix.IoctlSetPointerInt(fd, unix.TUNSETVNETHDRSZ, vnet.HeaderLen); err != nil {
				return fail(fmt.Errorf("tap: TUNSETVNETHDRSZ: %w", err))
			}
		}
	}
	return files, name, nil
}

// attachTUN opens a descriptor of /dev/net/tun and attaches it to the
// interface name (created when it does not exist; "" lets the kernel pick
// a name).
func attachTUN(name string, flags uint16) (int, error) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return -1, err
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: "/dev/net/tun", Err: err}
	}
	ifr.SetUint16(flags)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

// configure sets the kernel side of the interface: its MAC address (when
// mac is set), the MTU, and up. It returns the interface's index and the
// kernel side's MAC address.
func configure(h *netlink.Handle, ifname string, mac net.HardwareAddr, mtu int) (int, net.HardwareAddr, error) {
	l, err := h.LinkByName(ifname)
	if err != nil {
		return 0, nil, fmt.Errorf("tap: link %q: %w", ifname, err)
	}
	at := l.Attrs()
	if mac != nil && !equalMAC(at.HardwareAddr, mac) {
		if err := h.LinkSetHardwareAddr(l, mac); err != nil {
			return 0, nil, fmt.Errorf("tap: set MAC of %q: %w", ifname, err)
		}
	}
	if at.MTU != mtu {
		if err := h.LinkSetMTU(l, mtu); err != nil {
			return 0, nil, fmt.Errorf("tap: set MTU of %q: %w", ifname, err)
		}
	}
	if err := h.LinkSetUp(l); err != nil {
		return 0, nil, fmt.Errorf("tap: set %q up: %w", ifname, err)
	}
	if mac == nil {
		mac = append(net.HardwareAddr(nil), at.HardwareAddr...)
	}
	return at.Index, mac, nil
}

func equalMAC(a, b net.HardwareAddr) bool {
	return len(a) == len(b) && string(a) == string(b)
}

// errClass sorts a system call error (the package doc's taxonomy).
type errClass uint8

const (
	errTransient errClass = iota // retry, count
	errAdminDown                 // link down, no reset
	errDead                      // reset
	errBadFrame                  // fail the NBL
	errClosed                    // we closed the descriptor
	errOther                     // fail the NBL
)

func classify(err error) errClass {
	switch {
	case errors.Is(err, os.ErrClosed):
		return errClosed
	case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR), errors.Is(err, unix.ENOBUFS):
		return errTransient
	case errors.Is(err, unix.EIO):
		return errAdminDown
	case errors.Is(err, unix.EBADFD), errors.Is(err, unix.ENODEV), errors.Is(err, unix.EBADF),
		errors.Is(err, unix.ENXIO), errors.Is(err, unix.EPIPE):
		return errDead
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.EMSGSIZE):
		return errBadFrame
	}
	return errOther
}
