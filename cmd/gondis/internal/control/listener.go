package control

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/gondis/gondis/cmd/gondis/internal/api"
)

// DefaultSocket returns the default control socket path:
// $XDG_RUNTIME_DIR/gondis/gondis.sock, else /run/gondis/gondis.sock.
func DefaultSocket() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return filepath.Join(d, "gondis", "gondis.sock")
	}
	return "/run/gondis/gondis.sock"
}

// Allowed reports whether a peer of this user id may use the control API:
// the daemon's own user, or root.
func Allowed(peer, self uint32) bool { return peer == self || peer == 0 }

// Listen creates the control socket at path, mode 0600, in a directory of
// mode 0700. A missing directory is created 0700; an existing one must
// belong to the daemon's user and be closed to everyone else (no group or
// other permission bits), or Listen refuses it rather than change it. A
// stale socket nobody listens on is removed; a live one, or a file that is
// not a socket, is an error. Refusals are logged to log.
func Listen(path string, log *slog.Logger) (net.Listener, error) {
	dir := filepath.Dir(path)
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("control socket directory: %w", err)
		}
	}
	if err := checkPrivateDir(dir); err != nil {
		return nil, err
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("control socket %s: exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: a daemon is already listening", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control socket: removing stale %s: %w", path, err)
		}
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	// The directory is 0700 already, so nobody else can reach the socket
	// between the bind and the chmod.
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	l.SetUnlinkOnClose(true)
	self := uint32(os.Getuid())
	return &credListener{UnixListener: l, self: self, log: log,
		allow: func(peer uint32) bool { return Allowed(peer, self) }}, nil
}

// checkPrivateDir makes sure dir is a directory of this user's with no
// group or other permissions.
func checkPrivateDir(dir string) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("control socket directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("control socket directory %s: not a directory", dir)
	}
	if uid, ok := fileOwner(fi); ok && uid != uint32(os.Getuid()) {
		return fmt.Errorf("control socket directory %s: owned by uid %d, not by this user (%d)", dir, uid, os.Getuid())
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("control socket directory %s: mode %v, want 0700 (choose a private directory with --socket)", dir, fi.Mode().Perm())
	}
	return nil
}

// credListener checks each connection's peer credentials as it accepts it:
// a refused peer gets a 403 response and the connection closed, before any
// request of it is read.
type credListener struct {
	*net.UnixListener
	self  uint32
	log   *slog.Logger
	allow func(peer uint32) bool // Allowed with self; tests replace it
}

// refusal is the whole answer a refused peer gets.
const refusal = "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"

func (l *credListener) Accept() (net.Conn, error) {
	for {
		c, err := l.UnixListener.AcceptUnix()
		if err != nil {
			return nil, err
		}
		uid, err := PeerUID(c)
		if err == nil && l.allow(uid) {
			return c, nil
		}
		go l.refuse(c, uid, err)
	}
}

// refuse answers a refused peer's first request with 403 and closes the
// connection. It reads that request first (bounded in size and time,
// never acted on): an answer before the request confuses HTTP clients, and
// closing with it unread would reset the connection.
func (l *credListener) refuse(c *net.UnixConn, uid uint32, err error) {
	defer c.Close()
	body := fmt.Sprintf(`{"error":"forbidden: peer uid %d is neither the daemon's user (%d) nor root"}`, uid, l.self)
	if err != nil {
		body = `{"error":"forbidden: peer credentials unavailable"}`
	}
	l.log.Warn("control connection refused", slog.Uint64("peer_uid", uint64(uid)), slog.Any("err", err))
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if req, err := http.ReadRequest(bufio.NewReader(io.LimitReader(c, api.MaxBody+16<<10))); err == nil {
		_, _ = io.Copy(io.Discard, req.Body)
	}
	_, _ = fmt.Fprintf(c, refusal, len(body), body)
}

// ErrForbidden is what the client returns when the daemon refused it.
var ErrForbidden = errors.New("control: forbidden by the daemon")
