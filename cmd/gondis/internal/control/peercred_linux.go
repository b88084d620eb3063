//go:build linux

package control

import (
	"fmt"
	"net"
	"syscall"
)

// PeerUID returns the user id of the process at the other end of a Unix
// socket connection, from SO_PEERCRED: the credentials the kernel recorded
// when the peer connected, which the peer cannot forge.
func PeerUID(c *net.UnixConn) (uint32, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("peer credentials: %w", err)
	}
	var cred *syscall.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return 0, fmt.Errorf("peer credentials: %w", err)
	}
	if serr != nil {
		return 0, fmt.Errorf("peer credentials: getsockopt SO_PEERCRED: %w", serr)
	}
	return cred.Uid, nil
}
