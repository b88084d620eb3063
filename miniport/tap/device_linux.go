package tap

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync/atomic"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// device is one open TAP descriptor and the goroutines that serve it. A
// reset replaces it with a new one.
type device struct {
	file    *os.File
	rc      syscall.RawConn
	ifname  string
	ifindex int
	writeFn func(fd uintptr) bool // the writer's poller callback, made once
	readFn  func(fd uintptr) bool // the reader's
	dead    atomic.Bool           // an error said the device is gone: a reset is due
	stop    chan struct{}         // closed to stop the reader and the writer
	readerDone,
	writerDone chan struct{}
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

// openTAP opens /dev/net/tun in the namespace ns (the caller's when ns is
// not open) and attaches it to the TAP interface name, creating it when it
// does not exist. The namespace switch happens on a goroutine of its own,
// locked to its OS thread: the descriptor's socket is created in the
// thread's namespace, and the thread is switched back before it is
// released (or, if that fails, it is left locked and dies with the
// goroutine), so the process stays in its own namespace.
func openTAP(ns netns.NsHandle, name string, persist bool) (*os.File, string, error) {
	type result struct {
		f    *os.File
		name string
		err  error
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
		f, n, err := openTUN(name, persist)
		ch <- result{f, n, err}
	}()
	r := <-ch
	return r.f, r.name, r.err
}

// openTUN does the work of openTAP in the calling thread's namespace.
func openTUN(name string, persist bool) (*os.File, string, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, "", &os.PathError{Op: "open", Path: "/dev/net/tun", Err: err}
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, "", fmt.Errorf("tap: interface name %q: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TAP | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, "", fmt.Errorf("tap: TUNSETIFF %q: %w", name, err)
	}
	p := 0
	if persist {
		p = 1
	}
	if err := unix.IoctlSetInt(fd, unix.TUNSETPERSIST, p); err != nil {
		unix.Close(fd)
		return nil, "", fmt.Errorf("tap: TUNSETPERSIST: %w", err)
	}
	// A non-blocking descriptor: NewFile registers it with the poller.
	return os.NewFile(uintptr(fd), "/dev/net/tun"), ifr.Name(), nil
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
