package sim_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gondis/gondis/miniport/sim"
	"github.com/gondis/gondis/ndis"
)

// TestParseFault: the fault syntax, strictly; String reads back.
func TestParseFault(t *testing.T) {
	good := []struct {
		kind sim.FaultKind
		spec string
		want sim.Fault
	}{
		{sim.FaultHang, "off", sim.Fault{}},
		{sim.FaultHang, "once", sim.Fault{Trigger: sim.TriggerOnce}},
		{sim.FaultHang, "once:500ms", sim.Fault{Trigger: sim.TriggerOnce, Delay: 500 * time.Millisecond}},
		{sim.FaultHang, "once:0s,for=0", sim.Fault{Trigger: sim.TriggerOnce}},
		{sim.FaultHang, "every:2s,for=300ms", sim.Fault{Trigger: sim.TriggerEvery, Period: 2 * time.Second, For: 300 * time.Millisecond}},
		{sim.FaultFatal, "every:3s", sim.Fault{Trigger: sim.TriggerEvery, Period: 3 * time.Second}},
		{sim.FaultFatal, "random:0.01,seed=42", sim.Fault{Trigger: sim.TriggerRandom, Prob: 0.01, Seed: 42}},
		{sim.FaultFatal, "random:1,check=1s", sim.Fault{Trigger: sim.TriggerRandom, Prob: 1, Check: time.Second}},
		{sim.FaultFailReset, "once,count=3", sim.Fault{Trigger: sim.TriggerOnce, Count: 3}},
		{sim.FaultFailReset, "random:0.5,seed=1", sim.Fault{Trigger: sim.TriggerRandom, Prob: 0.5, Seed: 1}},
		{sim.FaultSlowReset, "every:10s,count=2,for=2s", sim.Fault{Trigger: sim.TriggerEvery, Period: 10 * time.Second, Count: 2, For: 2 * time.Second}},
		{sim.FaultLinkFlap, "once:1s,for=50ms", sim.Fault{Trigger: sim.TriggerOnce, Delay: time.Second, For: 50 * time.Millisecond}},
		{sim.FaultRxStorm, "every:1s,frames=1000", sim.Fault{Trigger: sim.TriggerEvery, Period: time.Second, Frames: 1000}},
		{sim.FaultRxStorm, "off,frames=3", sim.Fault{Frames: 3}},
		{sim.FaultStuckOid, "once:5s", sim.Fault{Trigger: sim.TriggerOnce, Delay: 5 * time.Second}},
		{sim.FaultLoseAddressing, "random:0.25", sim.Fault{Trigger: sim.TriggerRandom, Prob: 0.25}},
	}
	for _, c := range good {
		c.want.Kind = c.kind
		f, err := sim.ParseFault(c.kind, c.spec)
		if err != nil || f != c.want {
			t.Errorf("%s=%s: %+v, %v; want %+v", c.kind, c.spec, f, err, c.want)
			continue
		}
		back, err := sim.ParseFault(c.kind, f.String())
		if err != nil || back != f {
			t.Errorf("%s=%s: String %q reads back as %+v, %v", c.kind, c.spec, f.String(), back, err)
		}
	}

	bad := []struct {
		kind       sim.FaultKind
		spec, want string
	}{
		{sim.FaultHang, "", "unknown trigger"},
		{sim.FaultHang, "ONCE", "unknown trigger"},
		{sim.FaultHang, "off:1s", "off takes no argument"},
		{sim.FaultHang, "once:-1s", "delay"},
		{sim.FaultHang, "once:soon", "not a duration"},
		{sim.FaultHang, "every:100us", "period"},
		{sim.FaultHang, "random", "needs an argument"},
		{sim.FaultHang, "random:NaN", "probability"},
		{sim.FaultHang, "random:-0.1", "probability"},
		{sim.FaultHang, "once,seed=1", "seed applies only to random"},
		{sim.FaultHang, "random:0.1,check=0s", "check=0"},
		{sim.FaultHang, "random:0.1,check=10us", "check="},
		{sim.FaultHang, "once,for=2h", "for="},
		{sim.FaultHang, "once,for=-1s", "for="},
		{sim.FaultFatal, "once,for=1s", "for applies only"},
		{sim.FaultFailReset, "random:0.5,count=2", "count applies only"},
		{sim.FaultFailReset, "once,count=x", "not a valid value"},
		{sim.FaultRxStorm, "once,frames=0", "frames=0"},
		{sim.FaultRxStorm, "once,frames=100000", "frames="},
		{sim.FaultLinkFlap, "once,for=0", "positive"},
		{sim.FaultHang, "once,=1", "name=value"},
		{sim.FaultHang, "once,seed", "name=value"},
		{sim.FaultHang, "once,frames=1,frames=1", "frames applies only"},
	}
	for _, c := range bad {
		_, err := sim.ParseFault(c.kind, c.spec)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s=%q: %v, want an error with %q", c.kind, c.spec, err, c.want)
		}
	}

	for _, k := range sim.FaultKinds() {
		if got, ok := sim.ParseFaultKind(k.String()); !ok || got != k {
			t.Errorf("ParseFaultKind(%q) = %v, %v", k.String(), got, ok)
		}
	}
	if err := (sim.Fault{Kind: sim.FaultHang, Trigger: sim.TriggerOnce, Period: time.Second}).Validate(); err == nil {
		t.Error("Validate: a Period with once")
	}
}

// TestProvokes: which rules a fault breaks by design.
func TestProvokes(t *testing.T) {
	slow := sim.Fault{Kind: sim.FaultSlowReset, Trigger: sim.TriggerOnce, For: 15 * time.Second}
	if got := slow.Provokes(sim.Limits{}); !slices.Contains(got, ndis.RuleResetTimeout) {
		t.Errorf("slow_reset for 15s: %v", got)
	}
	if got := slow.Provokes(sim.Limits{ResetTimeout: time.Minute}); len(got) != 0 {
		t.Errorf("slow_reset for 15s, 1m time-out: %v", got)
	}
	for _, k := range sim.FaultKinds() {
		if got := (sim.Fault{Kind: k, Trigger: sim.TriggerEvery, Period: time.Second}).Provokes(sim.Limits{}); len(got) != 0 {
			t.Errorf("%s under the default limits: %v", k, got)
		}
	}
	hang := sim.Fault{Kind: sim.FaultHang, Trigger: sim.TriggerOnce}
	if got := hang.Provokes(sim.Limits{SendTimeout: 30 * time.Second}); !slices.Equal(got, []string{ndis.RuleTimedDataHang, ndis.RuleTimedDataSend}) {
		t.Errorf("hang with a 30s send time-out: %v", got)
	}
	for _, b := range sim.Bugs() {
		if b.Rule() == "" || b.String() == "" {
			t.Errorf("bug %d: rule %q", b, b.Rule())
		}
	}
}
