package ndis

import (
	"time"
)

// Check-for-hang (R11) and the verifier's time-based rules share one
// per-adapter tick on the runtime's clock. The period comes from
// RegistrationAttributes.CheckForHangTimeInSeconds, as NDIS rounds it, unless
// WithCheckForHangInterval overrides it.

// Verifier time limits (Driver Verifier's NDIS rules).
const (
	timedOidComplete = 12 * time.Second
	timedDataSend    = 30 * time.Second
	timedDataHang    = 22 * time.Second
	oidTimeoutTicks  = 2
)

// CheckForHangPeriod returns the adapter's check-for-hang period.
func (a *Adapter) CheckForHangPeriod() time.Duration {
	if d := a.rt.cfg.hangInterval; d > 0 {
		return d
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.hangPeriod
}

// armTickLocked arms the next tick.
func (a *Adapter) armTickLocked() {
	d := a.rt.cfg.hangInterval
	if d <= 0 {
		d = a.hangPeriod
	}
	a.hangTimer = a.rt.cfg.clock.AfterFunc(d, func() {
		a.mu.Lock()
		a.tickDue = true
		a.mu.Unlock()
		a.kick()
	})
}

// sendWatch is the verifier's record of send progress, sampled each tick.
type sendWatch struct {
	samples      []sendSample // oldest first
	completed    uint64
	lastProgress time.Time
	reportedSend bool
	reportedHang bool
}

type sendSample struct {
	at   time.Time
	sent uint64
}

// stepTick runs one check-for-hang tick on the work goroutine.
func (a *Adapter) stepTick() bool {
	a.mu.Lock()
	if !a.tickDue {
		a.mu.Unlock()
		return false
	}
	a.tickDue = false
	if a.exiting {
		a.mu.Unlock()
		return true
	}
	now := a.rt.cfg.clock.Now() // before re-arming: a fake clock may move once the timer is armed
	a.armTickLocked()
	var findings []Violation
	if a.rt.cfg.verifier != VerifierOff {
		findings = a.timedChecksLocked(now)
	}
	// Once a halt has begun only the verifier's watch goes on (R11).
	idle := resetPhase(a.reset.phase.Load()&phaseMask) == resetIdle && !a.resetActiveLocked() && !a.reset.halting.Load()
	oidTimeout := false
	if e := a.oidActive; idle && e != nil && e.pending && !e.completed {
		e.ticks++
		oidTimeout = e.ticks >= oidTimeoutTicks
	}
	check := idle && a.hang != nil && a.state.servesOIDs()
	a.mu.Unlock()

	for _, v := range findings {
		a.violate(v.Rule, "%s", v.Detail)
	}
	switch {
	case oidTimeout:
		a.requestReset(CauseOidTimeout)
	case check && a.checkForHang():
		a.requestReset(CauseHang)
	}
	return true
}

// timedChecksLocked applies NdisTimedOidComplete, NdisTimedDataSend and
// NdisTimedDataHang.
func (a *Adapter) timedChecksLocked(now time.Time) []Violation {
	var out []Violation
	if e := a.oidActive; e != nil && !e.completed && !e.overdue && now.Sub(e.since) >= timedOidComplete {
		e.overdue = true
		out = append(out, Violation{Rule: RuleTimedOidComplete, Detail: e.req.OID.String() + " not completed within 12s"})
	}

	w := &a.watch
	sent, completed := a.stats.sentNBLs.Load(), a.stats.sendCompleted.Load()
	inflight := a.inflight()
	w.samples = append(w.samples, sendSample{at: now, sent: sent})
	// Keep one sample older than the limit: the newest such.
	for len(w.samples) > 1 && now.Sub(w.samples[1].at) >= timedDataSend {
		w.samples = w.samples[1:]
	}
	if old := w.samples[0]; now.Sub(old.at) >= timedDataSend && completed < old.sent {
		if !w.reportedSend {
			w.reportedSend = true
			out = append(out, Violation{Rule: RuleTimedDataSend, Detail: "a send was not completed within 30s"})
		}
	} else {
		w.reportedSend = false
	}

	if completed != w.completed || inflight == 0 || w.lastProgress.IsZero() {
		w.completed, w.lastProgress, w.reportedHang = completed, now, false
	} else if now.Sub(w.lastProgress) >= timedDataHang && !w.reportedHang {
		w.reportedHang = true
		out = append(out, Violation{Rule: RuleTimedDataHang, Detail: "sends pending and none completed for 22s"})
	}
	return out
}

// checkForHang calls MiniportCheckForHangEx, watched.
func (a *Adapter) checkForHang() bool {
	a.enterMiniport("MiniportCheckForHangEx")
	defer a.leaveMiniport()
	return a.hang.CheckForHang()
}
