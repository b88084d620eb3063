package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/gondis/gondis/cmd/gondis/internal/api"
	"github.com/gondis/gondis/cmd/gondis/internal/logtest"
)

// binary is the gondis binary TestMain builds once.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gondis-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// World-traversable, so the other-uid test's child can execute it.
	_ = os.Chmod(dir, 0o755)
	binary = filepath.Join(dir, "gondis")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
		// A race-enabled binary sleeps 1 s at exit by default: every CLI call would.
		os.Setenv("GORACE", "atexit_sleep_ms=0 halt_on_error=1")
	}
	build := exec.Command("go", append(args, ".")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building gondis:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// daemonProc is a running `gondis up`.
type daemonProc struct {
	t      *testing.T
	socket string
	cmd    *exec.Cmd
	stderr *logtest.Buffer
	exited chan struct{}
	err    error // Wait's, once exited is closed
}

// startDaemon runs `gondis up --socket TMP ARGS...` and waits until its
// control socket answers.
func startDaemon(t *testing.T, args ...string) *daemonProc {
	t.Helper()
	socket := filepath.Join(t.TempDir(), "run", "gondis.sock")
	d := &daemonProc{t: t, socket: socket, stderr: &logtest.Buffer{}, exited: make(chan struct{})}
	d.cmd = exec.Command(binary, append([]string{"up", "--socket", socket}, args...)...)
	d.cmd.Stdout = io.Discard // not a terminal: logs, no table
	d.cmd.Stderr = d.stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.exited) }()
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			_ = d.cmd.Process.Kill()
			<-d.exited
		}
		if t.Failed() {
			t.Logf("daemon stderr:\n%s", d.stderr.String())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if out, _, err := d.run("version"); err == nil && strings.Contains(out, "daemon: gondis") {
			return d
		}
		select {
		case <-d.exited:
			t.Fatalf("daemon exited early: %v\n%s", d.err, d.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon did not answer on %s\n%s", socket, d.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// run runs a CLI command against the daemon.
func (d *daemonProc) run(args ...string) (stdout, stderr string, err error) {
	return gondis(append(args, "--socket", d.socket)...)
}

// gondis runs the CLI and returns its output.
func gondis(args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	c := exec.CommandContext(ctx, binary, args...)
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	return out.String(), errb.String(), err
}

// must runs a CLI command against the daemon and fails the test if it fails.
func (d *daemonProc) must(args ...string) string {
	d.t.Helper()
	out, errs, err := d.run(args...)
	if err != nil {
		d.t.Fatalf("gondis %v: %v\n%s%s", args, err, out, errs)
	}
	return out
}

func (d *daemonProc) adapters() map[string]api.Adapter {
	d.t.Helper()
	var as []api.Adapter
	if err := json.Unmarshal([]byte(d.must("status", "--json")), &as); err != nil {
		d.t.Fatal(err)
	}
	m := make(map[string]api.Adapter)
	for _, a := range as {
		m[a.Name] = a
	}
	return m
}

func (d *daemonProc) adapter(name string) api.Adapter {
	d.t.Helper()
	var a api.Adapter
	if err := json.Unmarshal([]byte(d.must("status", name, "--json")), &a); err != nil {
		d.t.Fatal(err)
	}
	return a
}

func (d *daemonProc) events() []api.Event {
	d.t.Helper()
	var evs []api.Event
	sc := bufio.NewScanner(strings.NewReader(d.must("events", "--json")))
	for sc.Scan() {
		var e api.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			d.t.Fatalf("events --json: %v: %q", err, sc.Text())
		}
		evs = append(evs, e)
	}
	return evs
}

// stop sends SIGTERM and waits for the exit.
func (d *daemonProc) stop() error {
	d.t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		d.t.Fatal(err)
	}
	select {
	case <-d.exited:
		return d.err
	case <-time.After(20 * time.Second):
		d.t.Fatalf("daemon did not exit after SIGTERM\n%s", d.stderr.String())
		return nil
	}
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var metricsAddr = regexp(`msg=metrics addr=(http://\S+/metrics)`)

// metricsURL waits for the daemon to log where it serves its metrics, and
// returns that URL.
func (d *daemonProc) metricsURL() string {
	d.t.Helper()
	var url string
	eventually(d.t, "the metrics address in the log", func() bool {
		m := metricsAddr.FindStringSubmatch(d.stderr.String())
		if m != nil {
			url = m[1]
		}
		return m != nil
	})
	return url
}

// scrape returns the metrics served at url, or "" when they cannot be read.
func scrape(url string) string {
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
