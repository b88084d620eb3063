package ndis

import (
	"fmt"
	"log/slog"

	"github.com/gondis/gondis/internal/enum"
)

// VerifierMode selects what the runtime does when a driver or protocol
// breaks an NDIS rule. In every mode the offending call is ignored after it
// is reported, so a violation never corrupts the runtime.
type VerifierMode uint8

// Verifier modes.
const (
	// VerifierOff reports nothing (the offending call is still ignored).
	VerifierOff VerifierMode = iota
	// VerifierLog logs every violation at error level and calls the
	// violation handler, if any. The default.
	VerifierLog
	// VerifierStrict is VerifierLog for tests: the handler installed with
	// WithViolationHandler is expected to fail the test
	// (ndistest.NewVerifier(t).Options() installs one that does).
	VerifierStrict
)

var verifierModeNames = [...]string{VerifierOff: "off", VerifierLog: "log", VerifierStrict: "strict"}

func (m VerifierMode) String() string { return enum.Name(verifierModeNames[:], m, "VerifierMode") }

// Verifier rules. The names of the Driver Verifier NDIS rules are kept where
// one exists.
const (
	// RuleOidDoubleComplete: an OID request completed twice, or one that
	// the miniport was never given.
	RuleOidDoubleComplete = "NdisOidDoubleComplete"
	// RuleOidComplete: an OID request completed with StatusPending.
	RuleOidComplete = "NdisOidComplete"
	// RuleSendDoubleComplete: an NBL completed twice, or one that the
	// miniport does not own.
	RuleSendDoubleComplete = "SendDoubleComplete"
	// RuleReturnNotIndicated: a protocol returned an NBL that was not
	// indicated to it, or returned it twice.
	RuleReturnNotIndicated = "ReturnNotIndicated"
	// RulePauseCompleteWithoutPending: PauseComplete with no pause pending.
	RulePauseCompleteWithoutPending = "PauseCompleteWithoutPending"
	// RuleRestartCompleteWithoutPending: RestartComplete with no restart
	// pending.
	RuleRestartCompleteWithoutPending = "RestartCompleteWithoutPending"
	// RulePauseReceivesOutstanding: a pause completed (PauseComplete, or
	// MiniportPause returning success) while receive indications had not
	// all been returned; NDIS has the miniport wait for them.
	RulePauseReceivesOutstanding = "PauseReceivesOutstanding"
	// RuleCallAfterHalt: a call on the adapter handle after Halt returned.
	RuleCallAfterHalt = "CallAfterHalt"
	// RuleTimedOidComplete: an OID not completed within 12 s.
	RuleTimedOidComplete = "NdisTimedOidComplete"
	// RuleTimedDataSend: a send not completed within 30 s.
	RuleTimedDataSend = "NdisTimedDataSend"
	// RuleTimedDataHang: sends pending and none completed for 22 s.
	RuleTimedDataHang = "NdisTimedDataHang"
	// RuleInvalidCall: a call whose arguments NDIS would reject (a nil
	// NBL, a Status indication of a reset status, a pause that returns a
	// failure ...).
	RuleInvalidCall = "InvalidCall"

	// RuleResetMiniportUnsupportedVersion: ResetMiniport from a driver
	// written against an NDIS version below 6.30.
	RuleResetMiniportUnsupportedVersion = "ResetMiniportUnsupportedVersion"
	// RuleResetCompleteWithoutPending: ResetComplete with no reset pending,
	// or twice.
	RuleResetCompleteWithoutPending = "ResetCompleteWithoutPending"
	// RuleResetPendingRequests: sends or OIDs still held by the miniport when
	// its reset completed (the NDIS 6.30 rule).
	RuleResetPendingRequests = "ResetPendingRequests"
	// RuleResetTimeout: a pending reset not completed within the reset
	// timeout.
	RuleResetTimeout = "ResetTimeout"
)

// Violation is one verifier finding.
type Violation struct {
	Rule    string // one of the Rule constants
	Adapter string // the adapter's name
	Detail  string // what happened, for a person
}

func (v Violation) String() string {
	return fmt.Sprintf("%s: adapter %q: %s", v.Rule, v.Adapter, v.Detail)
}

// violate reports a verifier finding. It never blocks on the runtime and
// may be called with no lock held only.
func (a *Adapter) violate(rule, format string, args ...any) {
	rt := a.rt
	a.stats.violations.Add(1)
	if rt.cfg.verifier == VerifierOff {
		return
	}
	v := Violation{Rule: rule, Adapter: a.name, Detail: fmt.Sprintf(format, args...)}
	rt.log.Error("ndis verifier", slog.String("rule", v.Rule), slog.String("adapter", v.Adapter), slog.String("detail", v.Detail))
	a.emit(Event{Kind: EventViolation, Detail: v.Rule + ": " + v.Detail})
	if h := rt.cfg.violation; h != nil {
		h(v)
	}
}
