package tap

import (
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		err  error
		want errClass
	}{
		{unix.EAGAIN, errTransient},
		{unix.EINTR, errTransient},
		{unix.ENOBUFS, errTransient},
		{unix.EIO, errAdminDown},
		{unix.EBADFD, errDead},
		{unix.ENODEV, errDead},
		{unix.EBADF, errDead},
		{fmt.Errorf("read: %w", unix.EBADFD), errDead},
		{unix.EINVAL, errBadFrame},
		{os.ErrClosed, errClosed},
		{unix.EPERM, errOther},
	} {
		if got := classify(c.err); got != c.want {
			t.Errorf("classify(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

// TestCheckForHang: a write stuck for SendTimeout is a hang only while the
// link is up; back-pressure within the timeout is not; no device or a dead
// one asks for a reset.
func TestCheckForHang(t *testing.T) {
	m := &miniport{}
	if !m.CheckForHang() {
		t.Error("no device: want a hang")
	}
	d := &device{}
	q0, q1 := &queue{}, &queue{}
	d.queues = []*queue{q0, q1}
	m.dev.Store(d)
	if m.CheckForHang() {
		t.Error("idle: hang")
	}
	q1.writing.Store(now())
	m.connected.Store(true)
	if m.CheckForHang() {
		t.Error("a write in progress within the timeout: hang")
	}
	q1.writing.Store(now() - int64(SendTimeout) - 1)
	if !m.CheckForHang() {
		t.Error("a write stuck past the timeout on the second queue, link up: no hang")
	}
	m.connected.Store(false)
	if m.CheckForHang() {
		t.Error("a write stuck with the link down: hang")
	}
	q1.writing.Store(0)
	d.dead.Store(true)
	if !m.CheckForHang() {
		t.Error("a dead device: no hang")
	}
}
