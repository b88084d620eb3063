//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestOtherUserRefused: a client running as another user (nobody) is
// refused by the peer-credential check. The socket directory is 0700, so
// the test loosens the directory and socket permissions to let the
// connection reach the check at all. Needs root, as in CI.
func TestOtherUserRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root: runs a client as uid 65534 (the peer-credential check itself is tested in internal/control)")
	}
	d := startDaemon(t)
	fi, err := os.Stat(filepath.Dir(d.socket))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("socket directory mode %v, want 0700", fi.Mode().Perm())
	}
	si, err := os.Stat(d.socket)
	if err != nil {
		t.Fatal(err)
	}
	if si.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want 0600", si.Mode().Perm())
	}
	// Loosen every directory down to the socket, for this test only.
	for dir := filepath.Dir(d.socket); dir != os.TempDir() && dir != "/"; dir = filepath.Dir(dir) {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(d.socket, 0o666); err != nil {
		t.Fatal(err)
	}
	var out, errs strings.Builder
	c := exec.Command(binary, "status", "--socket", d.socket)
	c.Stdout, c.Stderr = &out, &errs
	c.Dir = "/"
	c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	err = c.Run()
	if c.ProcessState == nil {
		t.Skipf("cannot run the binary as uid 65534 (is its directory reachable?): %v", err)
	}
	if err == nil || !strings.Contains(errs.String(), "forbidden: peer uid 65534") {
		t.Errorf("status as uid 65534: err %v, stdout %q, stderr %q", err, out.String(), errs.String())
	}
	if strings.Contains(out.String(), "sim0") {
		t.Errorf("uid 65534 saw the adapters:\n%s", out.String())
	}
	eventually(t, "the refusal logged", func() bool {
		return strings.Contains(d.stderr.String(), `msg="control connection refused" peer_uid=65534`)
	})
	// Root still gets in.
	d.must("status")
	if err := d.stop(); err != nil {
		t.Errorf("daemon exit: %v", err)
	}
}
