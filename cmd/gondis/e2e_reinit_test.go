package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// failingConfig hosts a sim pair with traffic from sim0 to sim1. sim0's
// next reset pends for a second, ten times the reset time-out, so an
// operator reset fails it; nothing else resets it, so once initialized
// again it stays up. Operator resets are limited to one an hour.
const failingConfig = `runtime:
  reset_timeout: 100ms
  operator_resets:
    max: 1
    window: 1h
adapters:
  - name: sim0
    driver: sim
    params:
      wire: w0
      mac: "02:00:00:00:01:00"
      slow_reset: once,for=1s
  - name: sim1
    driver: sim
    params:
      wire: w0
      mac: "02:00:00:00:01:01"
bindings:
  - protocol: echo
    adapter: sim1
  - protocol: traffic
    adapter: sim0
    params:
      dest: "02:00:00:00:01:01"
      rate: 1000
      window: 32
`

// TestReinit fails an adapter the way a real one fails — a reset that does
// not complete in time — then does what an operator does: sees it failed,
// and why, in status, events, metrics and the log; initializes it again
// with `gondis reinit`; and finds it running, bound and moving frames,
// without restarting the daemon. Operator resets beyond the limit are
// dropped, and say so.
func TestReinit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "failing.yaml")
	if err := os.WriteFile(path, []byte(failingConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, "--config", path, "--metrics", "127.0.0.1:0")
	url := d.metricsURL()
	eventually(t, "traffic from sim0", func() bool { return d.adapter("sim1").ReceivedFrames > 0 })

	// The reset that fails sim0.
	if out := d.must("reset", "sim0"); !strings.Contains(out, "sim0: reset queued (state Running)") {
		t.Errorf("reset: %q", out)
	}
	const reason = "the reset was not completed within 100ms"
	eventually(t, "sim0 to fail", func() bool {
		a := d.adapter("sim0")
		return a.State == "Halted" && a.FailureReason == reason
	})
	out := d.must("status")
	for _, want := range []string{`(?m)^sim0\s+sim\s+Failed\s`, `(?m)^sim1\s+sim\s+Running\s`,
		`(?m)^sim0 failed: ` + reason + ` \(gondis reinit sim0 initializes it again\)$`} {
		if !regexp(want).MatchString(out) {
			t.Errorf("status lacks %s:\n%s", want, out)
		}
	}
	if out := d.must("status", "sim0"); !regexp(`(?m)^failed\s+` + reason + `$`).MatchString(out) {
		t.Errorf("status sim0 lacks the reason:\n%s", out)
	}
	if out := d.must("events"); !strings.Contains(out, "sim0     FAILED: "+reason) {
		t.Errorf("events lack the failure:\n%s", out)
	}
	failed := `gondis_adapter_failed{adapter="sim0",reason="` + reason + `"} 1`
	if body := scrape(url); !strings.Contains(body, failed) {
		t.Errorf("metrics lack %s", failed)
	}
	if !strings.Contains(d.stderr.String(), `level=WARN msg="adapter failed" adapter=sim0 reason="`+reason+`"`) {
		t.Error("the failure is not logged")
	}
	if _, errs, err := d.run("reset", "sim0"); err == nil || !strings.Contains(errs, `adapter "sim0" has failed: `+reason) {
		t.Errorf("resetting the failed sim0: err %v, stderr %q", err, errs)
	}
	if _, errs, err := d.run("reinit", "sim1"); err == nil || !strings.Contains(errs, `adapter "sim1" has not failed (state Running)`) {
		t.Errorf("reinit sim1: err %v, stderr %q", err, errs)
	}

	// Initialized again: running, bound, moving frames.
	if out := d.must("reinit", "sim0"); out != "sim0: initialized again (state Running; bound: traffic)\n" {
		t.Errorf("reinit: %q", out)
	}
	before := d.adapter("sim1").ReceivedFrames
	eventually(t, "traffic from the new sim0", func() bool {
		a := d.adapter("sim0")
		return a.SentFrames > 0 && d.adapter("sim1").ReceivedFrames > before
	})
	if a := d.adapter("sim0"); a.State != "Running" || a.FailureReason != "" || a.LastResetStatus != "" {
		t.Errorf("sim0 after reinit: %s, reason %q, last reset %q", a.State, a.FailureReason, a.LastResetStatus)
	}
	if out := d.must("events"); !strings.Contains(out, "sim0     initialized again by the operator (bound: traffic)") {
		t.Errorf("events lack the reinitialization:\n%s", out)
	}
	if !strings.Contains(d.stderr.String(), `msg="adapter initialized again" adapter=sim0 bindings=[traffic]`) {
		t.Error("the reinitialization is not logged")
	}
	if body := scrape(url); !strings.Contains(body, `gondis_adapter_failed{adapter="sim0",reason=""} 0`) {
		t.Errorf("metrics say sim0 failed still:\n%s", body)
	}

	// The operator limit: one reset an hour.
	if out := d.must("reset", "sim1"); !strings.Contains(out, "sim1: reset queued") {
		t.Errorf("reset sim1: %q", out)
	}
	if _, errs, err := d.run("reset", "sim1"); err == nil || errs != "gondis: sim1: dropped: rate limit (1 per 1h0m0s)\n" {
		t.Errorf("a second reset of sim1: err %v, stderr %q", err, errs)
	}

	if err := d.stop(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	for _, name := range []string{"sim0", "sim1"} {
		if !strings.Contains(d.stderr.String(), `msg="adapter halted" adapter=`+name+` state=Halted`) {
			t.Errorf("no halt logged for %s", name)
		}
	}
}
