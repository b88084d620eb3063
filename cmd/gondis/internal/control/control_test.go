package control

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gondis/gondis/cmd/gondis/internal/api"
	"github.com/gondis/gondis/cmd/gondis/internal/config"
	"github.com/gondis/gondis/cmd/gondis/internal/daemon"
	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestAllowed(t *testing.T) {
	for _, tc := range []struct {
		peer, self uint32
		ok         bool
	}{{1000, 1000, true}, {0, 1000, true}, {0, 0, true}, {65534, 1000, false}, {65534, 0, false}, {1000, 0, false}} {
		if Allowed(tc.peer, tc.self) != tc.ok {
			t.Errorf("Allowed(%d, %d) = %v", tc.peer, tc.self, !tc.ok)
		}
	}
}

// TestRefusedPeer: a peer the policy refuses gets a 403 before its request
// is read.
func TestRefusedPeer(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "d", "s.sock")
	l, err := Listen(sock, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.(*credListener).allow = func(uint32) bool { return false } // as if this process were another user
	srv := &http.Server{Handler: http.NotFoundHandler()}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(l) }()
	defer func() { _ = srv.Shutdown(context.Background()); <-done }()
	_, err = NewClient(sock).Version(context.Background())
	if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "forbidden: peer uid") {
		t.Errorf("got %v, want forbidden", err)
	}
}

func TestListenModes(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	base := t.TempDir()
	// A missing directory is created 0700; the socket is 0600.
	dir := filepath.Join(base, "run", "gondis")
	sock := filepath.Join(dir, "s.sock")
	l, err := Listen(sock, log)
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, sock: 0o600} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", path, fi.Mode().Perm(), want)
		}
	}
	if _, err := Listen(sock, log); err == nil || !strings.Contains(err.Error(), "already listening") {
		t.Errorf("second Listen: %v", err)
	}
	l.Close()
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left after Close: %v", err)
	}

	// A stale socket is replaced.
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close()
	l, err = Listen(sock, log)
	if err != nil {
		t.Fatalf("over a stale socket: %v", err)
	}
	l.Close()

	// A file that is not a socket is left alone.
	if err := os.WriteFile(sock, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(sock, log); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("over a regular file: %v", err)
	}
	if b, _ := os.ReadFile(sock); string(b) != "keep" {
		t.Error("the regular file was touched")
	}

	// An existing directory open to others is refused, not changed.
	open := filepath.Join(base, "open")
	if err := os.Mkdir(open, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(open, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(filepath.Join(open, "s.sock"), log); err == nil || !strings.Contains(err.Error(), "want 0700") {
		t.Errorf("in a 0755 directory: %v", err)
	}
	if fi, _ := os.Stat(open); fi.Mode().Perm() != 0o755 {
		t.Errorf("the directory's mode changed to %v", fi.Mode().Perm())
	}
}

// serve serves d's API on a socket of its own until the test ends, and
// returns the server and a client of it.
func serve(t *testing.T, d *daemon.Daemon) (*Server, *Client) {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	sock := filepath.Join(t.TempDir(), "d", "s.sock")
	l, err := Listen(sock, log)
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(d, log)
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		if err := s.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	return s, NewClient(sock)
}

// TestServer checks the API's answers to good and bad requests.
func TestServer(t *testing.T) {
	cfg, err := config.Parse("t.yaml", []byte("runtime:\n  operator_resets:\n    max: 1\n    window: 1h\n"+
		"adapters:\n  - name: loop0\n    driver: loopback\n"), daemon.Known())
	if err != nil {
		t.Fatal(err)
	}
	d := daemon.New(cfg, slog.New(slog.DiscardHandler))
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	s, cl := serve(t, d)
	raw := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, "http://gondis"+path, strings.NewReader(body))
		resp, err := cl.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"GET", "/v1/adapters", "", 200, `"name":"loop0"`},
		{"GET", "/v1/adapters/loop0", "", 200, `"state":"Running"`},
		{"GET", "/v1/adapters/nope", "", 404, `unknown adapter \"nope\" (known: loop0)`},
		{"POST", "/v1/adapters/nope/reset", "", 404, `unknown adapter \"nope\" (known: loop0)`},
		{"POST", "/v1/adapters/loop0/explode", "", 404, `unknown action`},
		{"POST", "/v1/adapters/loop0/initialize", "", 409, `adapter \"loop0\" has not failed (state Running)`},
		{"POST", "/v1/adapters/nope/initialize", "", 404, `unknown adapter \"nope\" (known: loop0)`},
		{"POST", "/v1/adapters/loop0/reset", "not json", 400, `not a JSON object`},
		{"POST", "/v1/adapters/loop0/reset", `{"force":true}`, 400, `takes no fields`},
		{"POST", "/v1/adapters/loop0/reset", `{"x":"` + strings.Repeat("a", 8192) + `"}`, 413, `larger than the limit`},
		{"POST", "/v1/adapters/loop0/reset", `{}`, 202, `{"outcome":"queued","message":"reset queued","name":"loop0",`},
		{"POST", "/v1/adapters/loop0/reset", ``, 409, `{"error":"dropped: rate limit (1 per 1h0m0s)"}`},
		{"GET", "/v1/events?follow=maybe", "", 400, `want true or false`},
		{"GET", "/v1/events", "", 200, `"kind":"state"`},
		{"GET", "/v2/anything", "", 404, `no such endpoint`},
		{"DELETE", "/v1/adapters/loop0", "", 404, `no such endpoint`},
		{"GET", "/v1/version", "", 200, `"version":"dev"`},
	} {
		code, body := raw(tc.method, tc.path, tc.body)
		if code != tc.code || !strings.Contains(body, tc.want) {
			t.Errorf("%s %s: %d %q, want %d and %q", tc.method, tc.path, code, body, tc.code, tc.want)
		}
	}
	if _, err := cl.Action(context.Background(), "loop0", "pause"); err != nil {
		t.Fatal(err)
	}
	_, err = cl.Action(context.Background(), "loop0", "pause")
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != http.StatusConflict {
		t.Errorf("second pause: %v", err)
	}
	// A follower gets the history and stops when the server shuts down.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got := make(chan int, 1)
	go func() {
		n := 0
		_ = cl.Events(ctx, true, func(api.Event) error {
			n++
			return nil
		})
		got <- n
	}()
	time.Sleep(100 * time.Millisecond)
	if err := s.Shutdown(context.Background()); err != nil {
		t.Error(err)
	}
	if n := <-got; n == 0 {
		t.Error("the follower got no events")
	}
}

// TestInitialize: a failed adapter is initialized again over the API: 200
// with its status, Running and bound again; then, having not failed, 409.
func TestInitialize(t *testing.T) {
	f := ndistest.NewFake()
	table := daemon.Builtin()
	table.Miniports = append(table.Miniports, f.Driver("fake", ndis.Version630))
	cfg, err := config.Parse("t.yaml", []byte("adapters:\n  - name: f0\n    driver: fake\nbindings:\n  - protocol: echo\n    adapter: f0\n"),
		table.Known())
	if err != nil {
		t.Fatal(err)
	}
	d := daemon.New(cfg, slog.New(slog.DiscardHandler), daemon.WithDrivers(table))
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())
	_, cl := serve(t, d)
	ctx := context.Background()

	var a *ndis.Adapter
	f.Do(func(f *ndistest.Fake) { a = f.Adapter })
	a.RemoveMiniport()
	<-a.Done()
	if st, err := cl.Adapter(ctx, "f0"); err != nil || st.State != "Halted" || st.FailureReason == "" {
		t.Fatalf("failed f0: %+v, %v", st, err)
	}
	st, err := cl.Action(ctx, "f0", "initialize")
	if err != nil || st.State != "Running" || st.FailureReason != "" || len(st.Bindings) != 1 || st.Bindings[0].Protocol != "echo" {
		t.Fatalf("initialize: %+v, %v", st, err)
	}
	_, err = cl.Action(ctx, "f0", "initialize")
	var ae *APIError
	if !errors.As(err, &ae) || ae.Code != http.StatusConflict || !strings.Contains(ae.Msg, "has not failed") {
		t.Errorf("initializing a running adapter: %v", err)
	}
}
