package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gondis/gondis/cmd/gondis/internal/api"
	"github.com/gondis/gondis/cmd/gondis/internal/config"
	"github.com/gondis/gondis/cmd/gondis/internal/daemon"
)

var defaultAdapters = []string{"loop0", "sim0", "sim1"}

// TestUpDefault drives a daemon with the default configuration the way an
// operator would: status, an operator reset and its events, pause and
// restart, errors, then SIGTERM.
func TestUpDefault(t *testing.T) {
	d := startDaemon(t)

	// Every adapter is Running.
	as := d.adapters()
	for _, name := range defaultAdapters {
		if a, ok := as[name]; !ok || a.State != "Running" {
			t.Errorf("status: %s = %+v, want Running", name, a)
		}
	}
	out := d.must("status")
	for _, name := range defaultAdapters {
		if !regexp(`(?m)^` + name + `\s+\S+\s+Running`).MatchString(out) {
			t.Errorf("status table has no Running row for %s:\n%s", name, out)
		}
	}

	// Traffic flows on the sim pair and the loopback.
	eventually(t, "traffic on every adapter", func() bool {
		as := d.adapters()
		return as["sim0"].SentFrames > 0 && as["sim1"].SentFrames > 0 && as["loop0"].ReceivedFrames > 0
	})

	// An operator reset: RESET_START then RESET_END with a status and a
	// duration, and the counters move.
	before := d.adapter("sim0")
	if out := d.must("reset", "sim0"); !strings.Contains(out, "sim0: reset queued (state Running)") {
		t.Errorf("reset: %q", out)
	}
	var start, end *api.Event
	eventually(t, "RESET_START and RESET_END for the operator reset of sim0", func() bool {
		start, end = nil, nil
		for _, e := range d.events() {
			if e.Adapter != "sim0" || e.Cause != "operator" {
				continue
			}
			switch {
			case e.Kind == "reset-start" && start == nil:
				start = &e
			case e.Kind == "reset-end" && start != nil && end == nil:
				end = &e
			}
		}
		return end != nil
	})
	if end.Status != "NDIS_STATUS_SUCCESS" || end.Duration <= 0 || end.Seq <= start.Seq {
		t.Errorf("RESET_END = %+v after RESET_START %+v", *end, *start)
	}
	text := d.must("events")
	iStart := strings.Index(text, "sim0     RESET_START cause operator")
	if iStart < 0 || !regexp(`sim0 +RESET_END status NDIS_STATUS_SUCCESS duration [0-9.]+[µnm]?s cause operator`).MatchString(text[iStart:]) {
		t.Errorf("events text lacks RESET_START then RESET_END for sim0:\n%s", text)
	}
	eventually(t, "counters to move", func() bool {
		after := d.adapter("sim0")
		return after.Resets["operator"].Performed == before.Resets["operator"].Performed+1 &&
			after.SentFrames > before.SentFrames && after.LastResetStatus != ""
	})

	// Pause and restart.
	if out := d.must("pause", "sim1"); !strings.Contains(out, "state Paused") {
		t.Errorf("pause: %q", out)
	}
	if st := d.adapter("sim1").State; st != "Paused" {
		t.Errorf("after pause: state %s", st)
	}
	if _, errs, err := d.run("pause", "sim1"); err == nil || !strings.Contains(errs, "Paused") {
		t.Errorf("pausing a paused adapter: err %v, stderr %q", err, errs)
	}
	if out := d.must("restart", "sim1"); !strings.Contains(out, "state Running") {
		t.Errorf("restart: %q", out)
	}

	// Errors: an unknown adapter, a missing argument.
	if _, errs, err := d.run("status", "nope"); err == nil || !strings.Contains(errs, `unknown adapter "nope" (known: loop0, sim0, sim1)`) {
		t.Errorf("status nope: err %v, stderr %q", err, errs)
	}
	if _, errs, err := d.run("reset", "nope"); err == nil || !strings.Contains(errs, `unknown adapter "nope"`) {
		t.Errorf("reset nope: err %v, stderr %q", err, errs)
	}
	if _, _, err := d.run("reset"); err == nil {
		t.Error("reset without an adapter succeeded")
	}

	// SIGTERM: exit 0, every adapter halted, the socket gone.
	if err := d.stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, d.stderr.String())
	}
	logs := d.stderr.String()
	for _, name := range defaultAdapters {
		if !strings.Contains(logs, `msg="adapter halted" adapter=`+name+` state=Halted`) {
			t.Errorf("no halt logged for %s", name)
		}
	}
	if strings.Contains(logs, "level=ERROR") {
		t.Errorf("errors logged:\n%s", logs)
	}
	if _, err := os.Stat(d.socket); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
}

// TestEventsFollow: `events --follow --json` prints the history, then new
// events as they happen, and exits 0 on SIGINT.
func TestEventsFollow(t *testing.T) {
	d := startDaemon(t)
	c := exec.Command(binary, "events", "--follow", "--json", "--socket", d.socket)
	stdout, err := c.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Process.Kill(); _ = c.Wait() }()
	lines := make(chan api.Event, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var e api.Event
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				lines <- e
			}
		}
	}()
	time.Sleep(200 * time.Millisecond) // let it subscribe
	d.must("reset", "loop0")
	timeout := time.After(10 * time.Second)
	for done := false; !done; {
		select {
		case e, ok := <-lines:
			if !ok {
				t.Fatal("events --follow ended early")
			}
			done = e.Adapter == "loop0" && e.Kind == "reset-end" && e.Cause == "operator"
		case <-timeout:
			t.Fatal("no RESET_END for loop0 from events --follow")
		}
	}
	if err := c.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(); err != nil {
		t.Errorf("events --follow after SIGINT: %v", err)
	}
	if err := d.stop(); err != nil {
		t.Errorf("daemon exit: %v", err)
	}
}

// TestMetrics: with --metrics the daemon serves the adapters' counters.
func TestMetrics(t *testing.T) {
	d := startDaemon(t, "--metrics", "127.0.0.1:0")
	url := d.metricsURL()
	d.must("reset", "sim1")
	var body string
	eventually(t, "metrics with traffic and a reset", func() bool {
		body = scrape(url)
		return regexp(`gondis_adapter_packets_total\{adapter="sim0",direction="tx"\} [1-9]`).MatchString(body) &&
			regexp(`gondis_adapter_resets_total\{adapter="sim1",cause="operator"\} 1`).MatchString(body) &&
			regexp(`gondis_reset_duration_seconds_count\{adapter="sim1",cause="operator"\} 1`).MatchString(body)
	})
	for _, want := range []string{`gondis_adapter_state{adapter="loop0",driver="loopback",state="Running"} 1`,
		`gondis_adapter_bytes_total{adapter="loop0",direction="rx"}`, `gondis_adapter_drops_total{adapter="sim0",reason="send_rejected"}`,
		`gondis_adapter_violations_total{adapter="sim1"} 0`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if err := d.stop(); err != nil {
		t.Errorf("daemon exit: %v", err)
	}
}

// TestBadConfig: a bad configuration file stops `up` with exit code 2 and
// an error naming the file and line, before anything starts.
func TestBadConfig(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown-key", "adapters:\n  - name: a\n    driver: loopback\n    colour: red\n", "bad.yaml:4:5: unknown field \"colour\""},
		{"unknown-driver", "adapters:\n  - name: a\n    driver: loopback\n  - name: b\n    driver: xdp\n", `bad.yaml:5: adapter "b": unknown driver "xdp" (known: loopback, sim, tap)`},
		{"unknown-protocol", "adapters:\n  - name: a\n    driver: loopback\nbindings:\n  - protocol: pcap\n    adapter: a\n", `bad.yaml:5: unknown protocol "pcap" (known: arpecho, echo, traffic)`},
		{"unknown-adapter", "adapters:\n  - name: a\n    driver: loopback\nbindings:\n  - protocol: echo\n    adapter: b\n", `bad.yaml:6: binding of "echo" to unknown adapter "b" (known: a)`},
		{"duplicate", "adapters:\n  - name: a\n    driver: loopback\n  - name: a\n    driver: sim\n", `bad.yaml:4: duplicate adapter name "a"`},
		{"bad-binding-param", "adapters:\n  - name: a\n    driver: loopback\nbindings:\n  - protocol: traffic\n    adapter: a\n    params:\n      window: 8\n      rate: fast\n", `bad.yaml:9: binding of "traffic" to "a": traffic: parameter rate="fast"`},
		{"bad-adapter-param", "adapters:\n  - name: a\n    driver: sim\n    params:\n      wire: w0\n      mtu: 1\n", `bad.yaml:6: adapter "a": sim: parameter mtu="1"`},
		{"bad-duration", "runtime:\n  check_for_hang: soon\nadapters:\n  - name: a\n    driver: loopback\n", `bad.yaml:2: "soon" is not a duration`},
		{"syntax", "adapters: [\n", "bad.yaml:1:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if errs := upBadConfig(t, filepath.Join(dir, "bad.yaml"), tc.yaml); !strings.Contains(errs, tc.want) {
				t.Errorf("stderr %q lacks %q", errs, tc.want)
			}
		})
	}
}

// upBadConfig runs `up` with the configuration yaml written to path, checks
// that it exits with code 2 before claiming its control socket, and returns
// its stderr.
func upBadConfig(t *testing.T, path, yaml string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	socket := filepath.Join(t.TempDir(), "s", "gondis.sock")
	_, errs, err := gondis("up", "--config", path, "--socket", socket)
	var ee *exec.ExitError
	if !asExit(err, &ee) || ee.ExitCode() != exitConfig {
		t.Fatalf("exit: %v, want code %d; stderr %q", err, exitConfig, errs)
	}
	if _, err := os.Stat(filepath.Dir(socket)); !os.IsNotExist(err) {
		t.Errorf("a bad config created the socket directory: %v", err)
	}
	return errs
}

// TestExampleTAPConfig: examples/tap.yaml is a valid configuration. (It is
// not started here: it would create a TAP interface in the test machine's
// own namespace; miniport/tap's tests drive real TAP devices in namespaces
// of their own.)
func TestExampleTAPConfig(t *testing.T) {
	data, err := os.ReadFile("../../examples/tap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := config.Parse("tap.yaml", data, daemon.Known()); err != nil {
		t.Errorf("examples/tap.yaml: %v", err)
	}
}

// TestBadDriverParam: a parameter the driver refuses stops `up` with exit
// code 2 before anything starts, naming the line of the parameter's key,
// the adapter once and the parameter once.
func TestBadDriverParam(t *testing.T) {
	yaml := "adapters:\n  - name: loop0\n    driver: loopback\n  - name: s0\n    driver: sim\n    params:\n      wire: w0\n      mtu: 1\n"
	errs := upBadConfig(t, filepath.Join(t.TempDir(), "p.yaml"), yaml)
	if !strings.Contains(errs, `p.yaml:8: adapter "s0": sim: parameter mtu="1"`) {
		t.Errorf("stderr %q lacks the line, the adapter and the parameter", errs)
	}
	if strings.Count(errs, `"s0"`) != 1 || strings.Count(errs, "parameter") != 1 {
		t.Errorf("stderr %q says the adapter or the parameter more than once", errs)
	}
	if strings.Contains(errs, `msg="adapter up"`) {
		t.Errorf("an adapter started:\n%s", errs)
	}
}
