//go:build linux

package control

import (
	"net"
	"os"
	"syscall"
	"testing"
)

// TestPeerUID reads the credentials of the other end of a socketpair: this
// process's own uid.
func TestPeerUID(t *testing.T) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	f0, f1 := os.NewFile(uintptr(fds[0]), "a"), os.NewFile(uintptr(fds[1]), "b")
	defer f0.Close()
	defer f1.Close()
	c, err := net.FileConn(f0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	uid, err := PeerUID(c.(*net.UnixConn))
	if err != nil {
		t.Fatal(err)
	}
	if uid != uint32(os.Getuid()) {
		t.Errorf("peer uid %d, want %d", uid, os.Getuid())
	}
}
