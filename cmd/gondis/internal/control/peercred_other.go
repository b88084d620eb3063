//go:build !linux

package control

import (
	"errors"
	"net"
)

// PeerUID is supported on Linux only: elsewhere every connection is refused.
func PeerUID(*net.UnixConn) (uint32, error) { return 0, errors.ErrUnsupported }
