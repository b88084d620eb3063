package sim

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/gondis/gondis/internal/enum"
	"github.com/gondis/gondis/ndis"
)

// FaultKind names a fault the device can suffer. Its String is the name of
// its adapter parameter.
type FaultKind uint8

// Fault kinds. Hang, Fatal, LinkFlap and RxStorm happen to the device at a
// time (timed faults); LoseAddressing, SlowReset, FailReset and StuckOid
// change how the device answers the next reset or OID request (event
// faults): a timed trigger arms them, and an armed fault applies to the next
// Count events.
const (
	// FaultHang stops the transmit engine: posted descriptors are not
	// processed, so CheckForHang reports the stuck ring once the head
	// descriptor has waited longer than send_timeout. For > 0 makes the
	// stall transient; 0 (the default) lasts until a reset.
	FaultHang FaultKind = iota
	// FaultFatal raises a fatal error interrupt: the device stops
	// transmitting and receiving, and the driver's interrupt handler asks
	// for a reset with ResetMiniport (NdisMResetMiniport).
	FaultFatal
	// FaultLoseAddressing makes the next reset clear the hardware packet
	// filter, multicast list and lookahead, so Reset answers
	// addressingReset=true and the runtime sets them again.
	FaultLoseAddressing
	// FaultSlowReset makes the next Reset answer StatusPending and finish
	// with ResetComplete For later (default 1 s).
	FaultSlowReset
	// FaultFailReset makes the next reset fail with StatusHardErrors. The
	// device stays dead until a reset succeeds: sends fail at once and
	// CheckForHang answers true, so the runtime resets again (and
	// escalates, after enough failures).
	FaultFailReset
	// FaultStuckOid holds the next OID request that arrives while the
	// adapter runs, until a reset or a pause, so the runtime's OID time-out
	// resets the adapter.
	FaultStuckOid
	// FaultLinkFlap takes the link down for For (default 100 ms): both
	// changes are indicated with StatusLinkState, and frames are lost
	// meanwhile.
	FaultLinkFlap
	// FaultRxStorm delivers a burst of Frames frames (default 256) to the
	// device, addressed to its MAC address, as if from the wire.
	FaultRxStorm
	numFaultKinds
)

var faultNames = [numFaultKinds]string{"hang", "fatal", "lose_addressing", "slow_reset", "fail_reset", "stuck_oid", "link_flap", "rx_storm"}

func (k FaultKind) String() string {
	if k < numFaultKinds {
		return faultNames[k]
	}
	return fmt.Sprintf("FaultKind(%d)", uint8(k))
}

// FaultKinds returns every fault kind, in order.
func FaultKinds() []FaultKind {
	ks := make([]FaultKind, numFaultKinds)
	for i := range ks {
		ks[i] = FaultKind(i)
	}
	return ks
}

// ParseFaultKind returns the fault kind of a parameter name ("hang" …).
func ParseFaultKind(name string) (FaultKind, bool) {
	for i, n := range faultNames {
		if n == name {
			return FaultKind(i), true
		}
	}
	return 0, false
}

// timed reports whether the fault happens at a time rather than changing
// how the device answers an event.
func (k FaultKind) timed() bool {
	return k == FaultHang || k == FaultFatal || k == FaultLinkFlap || k == FaultRxStorm
}

// Trigger says when a fault fires.
type Trigger uint8

// Triggers.
const (
	TriggerOff    Trigger = iota // never
	TriggerOnce                  // once, Delay after the device starts (or after SetFault)
	TriggerEvery                 // every Period, the first time Period after the start
	TriggerRandom                // with probability Prob at each check (timed faults, every Check) or each event (event faults)
)

var triggerNames = [...]string{"off", "once", "every", "random"}

func (t Trigger) String() string { return enum.Name(triggerNames[:], t, "Trigger") }

// Defaults of the fault options.
const (
	DefaultCheck         = 100 * time.Millisecond // random timed faults: how often to roll
	DefaultSlowReset     = time.Second            // slow_reset: how long the reset pends
	DefaultLinkFlap      = 100 * time.Millisecond // link_flap: how long the link is down
	DefaultStormFrames   = 256                    // rx_storm: frames per burst
	minFaultInterval     = time.Millisecond
	maxFaultDuration     = time.Hour
	maxFaultCount        = 1_000_000
	maxStormFrames       = 65536
	faultSyntaxReminder  = "want off, once, once:DURATION, every:DURATION or random:PROBABILITY, then ,option=value ..."
	faultOptionsReminder = "seed, check (random), count (once, every), for, frames"
)

// Fault is the schedule and the shape of one fault kind on one device. The
// zero value of each option means its default. Its text form (the value of
// the adapter parameter named after the kind, see ParseFault) is
//
//	TRIGGER[,OPTION=VALUE]...
//
//	TRIGGER  off | once | once:DURATION | every:DURATION | random:PROBABILITY
//	OPTION   seed=UINT64     random: the seed of the fault's own generator (default 0)
//	         check=DURATION  random, timed faults: how often to roll (default 100ms)
//	         count=N         once/every, event faults: events affected per firing (default 1)
//	         for=DURATION    hang (0: until a reset), slow_reset, link_flap
//	         frames=N        rx_storm: frames per burst (default 256)
//
// for example hang=once:500ms, fatal=every:3s, fatal=random:0.01,seed=42,
// fail_reset=once,count=3, slow_reset=every:10s,for=2s.
type Fault struct {
	Kind    FaultKind
	Trigger Trigger
	Delay   time.Duration // once: the delay from the start
	Period  time.Duration // every: the period
	Prob    float64       // random: the probability per check or per event, 0…1
	Seed    uint64        // random: the seed
	Check   time.Duration // random, timed faults: the check period (0: DefaultCheck)
	Count   int           // once/every, event faults: events affected per firing (0: 1)
	For     time.Duration // hang, slow_reset, link_flap: how long (0: the default)
	Frames  int           // rx_storm: frames per burst (0: DefaultStormFrames)
}

// ParseFault parses the text form of a fault of kind k (see Fault). It is
// strict: an unknown trigger or option, an option given twice, an option
// that does not apply to the kind or the trigger, or a value out of range is
// an error that says which.
func ParseFault(k FaultKind, s string) (Fault, error) {
	f := Fault{Kind: k}
	if k >= numFaultKinds {
		return f, fmt.Errorf("unknown fault kind %d", uint8(k))
	}
	parts := strings.Split(s, ",")
	trig, arg, hasArg := strings.Cut(parts[0], ":")
	switch trig {
	case "off":
		f.Trigger = TriggerOff
	case "once":
		f.Trigger = TriggerOnce
	case "every":
		f.Trigger = TriggerEvery
	case "random":
		f.Trigger = TriggerRandom
	default:
		return f, fmt.Errorf("unknown trigger %q; %s", parts[0], faultSyntaxReminder)
	}
	switch {
	case f.Trigger == TriggerOff && hasArg:
		return f, errors.New("off takes no argument")
	case (f.Trigger == TriggerEvery || f.Trigger == TriggerRandom) && !hasArg:
		return f, fmt.Errorf("%s needs an argument: %s", trig, map[Trigger]string{TriggerEvery: "every:DURATION", TriggerRandom: "random:PROBABILITY"}[f.Trigger])
	case hasArg && f.Trigger == TriggerRandom:
		p, err := strconv.ParseFloat(arg, 64)
		if err != nil || math.IsNaN(p) {
			return f, fmt.Errorf("random:%s: not a probability", arg)
		}
		f.Prob = p
	case hasArg:
		d, err := time.ParseDuration(arg)
		if err != nil {
			return f, fmt.Errorf("%s:%s: not a duration (as 500ms, 3s)", trig, arg)
		}
		if f.Trigger == TriggerOnce {
			f.Delay = d
		} else {
			f.Period = d
		}
	}
	seen := make(map[string]bool)
	for _, opt := range parts[1:] {
		key, val, ok := strings.Cut(opt, "=")
		if !ok || key == "" || val == "" {
			return f, fmt.Errorf("option %q: want name=value (%s)", opt, faultOptionsReminder)
		}
		if seen[key] {
			return f, fmt.Errorf("option %s given twice", key)
		}
		seen[key] = true
		var err error
		switch key {
		case "seed":
			f.Seed, err = strconv.ParseUint(val, 10, 64)
		case "check":
			f.Check, err = time.ParseDuration(val)
		case "for":
			f.For, err = time.ParseDuration(val)
		case "count":
			f.Count, err = strconv.Atoi(val)
		case "frames":
			f.Frames, err = strconv.Atoi(val)
		default:
			return f, fmt.Errorf("unknown option %q (%s)", key, faultOptionsReminder)
		}
		if err != nil {
			return f, fmt.Errorf("option %s=%s: not a valid value", key, val)
		}
		// An explicit option must mean something, even at its default.
		if err := f.optionApplies(key); err != nil {
			return f, err
		}
	}
	// Zero means "the default" in a Fault; spelled out, it is a mistake.
	switch {
	case seen["count"] && f.Count < 1:
		return f, fmt.Errorf("count=%d: want 1 to %d", f.Count, maxFaultCount)
	case seen["frames"] && f.Frames < 1:
		return f, fmt.Errorf("frames=%d: want 1 to %d", f.Frames, maxStormFrames)
	case seen["check"] && f.Check == 0:
		return f, fmt.Errorf("check=0: want a period from %s to %s", minFaultInterval, maxFaultDuration)
	case seen["for"] && f.For == 0 && k != FaultHang:
		return f, fmt.Errorf("for=0: %s needs a positive duration", k)
	}
	return f, f.Validate()
}

// optionApplies reports whether an option makes sense for the fault's kind
// and trigger.
func (f Fault) optionApplies(key string) error {
	k := f.Kind
	switch key {
	case "seed":
		if f.Trigger != TriggerRandom {
			return errors.New("seed applies only to random")
		}
	case "check":
		if f.Trigger != TriggerRandom || !k.timed() {
			return fmt.Errorf("check applies only to random hang, fatal, link_flap and rx_storm, not %s=%s", k, f.Trigger)
		}
	case "count":
		if k.timed() || (f.Trigger != TriggerOnce && f.Trigger != TriggerEvery) {
			return fmt.Errorf("count applies only to once and every of lose_addressing, slow_reset, fail_reset and stuck_oid, not %s=%s", k, f.Trigger)
		}
	case "for":
		if k != FaultHang && k != FaultSlowReset && k != FaultLinkFlap {
			return fmt.Errorf("for applies only to hang, slow_reset and link_flap, not %s", k)
		}
	case "frames":
		if k != FaultRxStorm {
			return fmt.Errorf("frames applies only to rx_storm, not %s", k)
		}
	}
	return nil
}

// Validate checks a fault built in Go as ParseFault checks one given as
// text.
func (f Fault) Validate() error {
	if f.Kind >= numFaultKinds {
		return fmt.Errorf("unknown fault kind %d", uint8(f.Kind))
	}
	switch f.Trigger {
	case TriggerOff, TriggerOnce, TriggerEvery, TriggerRandom:
	default:
		return fmt.Errorf("unknown trigger %d", uint8(f.Trigger))
	}
	if f.Delay != 0 && f.Trigger != TriggerOnce || f.Period != 0 && f.Trigger != TriggerEvery ||
		f.Prob != 0 && f.Trigger != TriggerRandom {
		return fmt.Errorf("the Delay, Period and Prob fields belong to once, every and random; %s has another set", f.Trigger)
	}
	for key, set := range map[string]bool{"seed": f.Seed != 0, "check": f.Check != 0, "count": f.Count != 0, "for": f.For != 0, "frames": f.Frames != 0} {
		if set {
			if err := f.optionApplies(key); err != nil {
				return err
			}
		}
	}
	switch {
	case f.Delay < 0 || f.Delay > maxFaultDuration:
		return fmt.Errorf("once:%s: want a delay from 0 to %s", f.Delay, maxFaultDuration)
	case f.Trigger == TriggerEvery && (f.Period < minFaultInterval || f.Period > maxFaultDuration):
		return fmt.Errorf("every:%s: want a period from %s to %s", f.Period, minFaultInterval, maxFaultDuration)
	case math.IsNaN(f.Prob) || f.Prob < 0 || f.Prob > 1:
		return fmt.Errorf("random:%v: want a probability from 0 to 1", f.Prob)
	case f.Check != 0 && (f.Check < minFaultInterval || f.Check > maxFaultDuration):
		return fmt.Errorf("check=%s: want a period from %s to %s", f.Check, minFaultInterval, maxFaultDuration)
	case f.Count < 0 || f.Count > maxFaultCount:
		return fmt.Errorf("count=%d: want 1 to %d", f.Count, maxFaultCount)
	case f.For < 0 || f.For > maxFaultDuration:
		return fmt.Errorf("for=%s: want a duration up to %s", f.For, maxFaultDuration)
	case f.Frames < 0 || f.Frames > maxStormFrames:
		return fmt.Errorf("frames=%d: want 1 to %d", f.Frames, maxStormFrames)
	}
	return nil
}

// String returns the text form of the fault, without its kind; ParseFault
// reads it back.
func (f Fault) String() string {
	var b strings.Builder
	b.WriteString(f.Trigger.String())
	switch f.Trigger {
	case TriggerOnce:
		if f.Delay != 0 {
			b.WriteString(":" + f.Delay.String())
		}
	case TriggerEvery:
		b.WriteString(":" + f.Period.String())
	case TriggerRandom:
		b.WriteString(":" + strconv.FormatFloat(f.Prob, 'g', -1, 64))
		if f.Seed != 0 {
			b.WriteString(",seed=" + strconv.FormatUint(f.Seed, 10))
		}
	}
	if f.Check != 0 {
		b.WriteString(",check=" + f.Check.String())
	}
	if f.Count != 0 {
		b.WriteString(",count=" + strconv.Itoa(f.Count))
	}
	if f.For != 0 {
		b.WriteString(",for=" + f.For.String())
	}
	if f.Frames != 0 {
		b.WriteString(",frames=" + strconv.Itoa(f.Frames))
	}
	return b.String()
}

func (f Fault) check() time.Duration {
	if f.Check == 0 {
		return DefaultCheck
	}
	return f.Check
}

func (f Fault) count() int { return max(f.Count, 1) }

// duration is how long a hang, slow reset or link flap lasts.
func (f Fault) duration() time.Duration {
	if f.For != 0 {
		return f.For
	}
	switch f.Kind {
	case FaultSlowReset:
		return DefaultSlowReset
	case FaultLinkFlap:
		return DefaultLinkFlap
	}
	return 0
}

func (f Fault) frames() int {
	if f.Frames == 0 {
		return DefaultStormFrames
	}
	return f.Frames
}

// Limits are the runtime's time limits that decide whether a fault breaks a
// verifier rule. A zero field means the runtime's (or the device's) default.
type Limits struct {
	CheckForHang time.Duration // the adapter's check-for-hang period (default 2 s)
	ResetTimeout time.Duration // ndis.WithResetTimeout (default 10 s)
	SendTimeout  time.Duration // the device's send_timeout (default 2 s)
}

// Provokes returns the verifier rules the fault breaks by design under the
// given limits, for a soak test to Expect. A fault normally breaks none: the
// driver recovers through the runtime's reset engine. The exceptions:
//
//   - slow_reset pending at least the reset time-out: ResetTimeout (the
//     runtime fails the adapter), and ResetCompleteWithoutPending when the
//     device's late ResetComplete arrives before the halt stops it;
//   - stuck_oid when two check-for-hang periods reach 12 s:
//     NdisTimedOidComplete before the OID time-out resets;
//   - hang when send_timeout plus a check-for-hang period reaches 22 s:
//     NdisTimedDataHang (and NdisTimedDataSend at 30 s).
func (f Fault) Provokes(l Limits) []string {
	if l.CheckForHang == 0 {
		l.CheckForHang = 2 * time.Second
	}
	if l.ResetTimeout == 0 {
		l.ResetTimeout = 10 * time.Second
	}
	if l.SendTimeout == 0 {
		l.SendTimeout = DefaultSendTimeout
	}
	if f.Trigger == TriggerOff {
		return nil
	}
	var rules []string
	switch f.Kind {
	case FaultSlowReset:
		if f.duration() >= l.ResetTimeout {
			rules = append(rules, ndis.RuleResetTimeout, ndis.RuleResetCompleteWithoutPending)
		}
	case FaultStuckOid:
		if 2*l.CheckForHang >= 12*time.Second {
			rules = append(rules, ndis.RuleTimedOidComplete)
		}
	case FaultHang:
		if d := l.SendTimeout + l.CheckForHang; d >= 22*time.Second {
			rules = append(rules, ndis.RuleTimedDataHang)
			if d >= 30*time.Second {
				rules = append(rules, ndis.RuleTimedDataSend)
			}
		}
	}
	return rules
}

// Bug is a deliberate driver bug, for tests of the runtime's verifier only:
// a production configuration never sets one, and no adapter parameter does.
// Device.InjectBug arms one; it strikes once, at its next opportunity, and
// the verifier reports it under Rule.
type Bug uint8

// Bugs.
const (
	// BugSendDoubleComplete: the interrupt handler completes the next batch
	// of sends, then completes its first NBL again.
	BugSendDoubleComplete Bug = iota + 1
	// BugResetCompleteWithoutPending: the next reset is completed twice: a
	// synchronous Reset also calls ResetComplete before it returns, a
	// pending one calls ResetComplete twice.
	BugResetCompleteWithoutPending
	// BugResetPendingRequests: the next Reset that finds sends in the
	// device forgets to complete them; the driver finds them again and
	// completes them (StatusRequestAborted) at the next CheckForHang, Pause
	// or Reset.
	BugResetPendingRequests
	// BugOidDoubleComplete: the next OID request is answered StatusPending
	// and the interrupt handler completes it twice.
	BugOidDoubleComplete
	// BugCallAfterHalt: Halt leaves a link timer behind that indicates a
	// link change once the adapter has been halted.
	BugCallAfterHalt
	numBugs
)

var bugNames = [...]string{"", "send_double_complete", "reset_complete_without_pending", "reset_pending_requests", "oid_double_complete", "call_after_halt"}

func (b Bug) String() string {
	if b > 0 && b < numBugs {
		return bugNames[b]
	}
	return fmt.Sprintf("Bug(%d)", uint8(b))
}

// Bugs returns every bug, in order.
func Bugs() []Bug {
	bs := make([]Bug, 0, numBugs-1)
	for b := Bug(1); b < numBugs; b++ {
		bs = append(bs, b)
	}
	return bs
}

// Rule returns the verifier rule that reports the bug.
func (b Bug) Rule() string {
	switch b {
	case BugSendDoubleComplete:
		return ndis.RuleSendDoubleComplete
	case BugResetCompleteWithoutPending:
		return ndis.RuleResetCompleteWithoutPending
	case BugResetPendingRequests:
		return ndis.RuleResetPendingRequests
	case BugOidDoubleComplete:
		return ndis.RuleOidDoubleComplete
	case BugCallAfterHalt:
		return ndis.RuleCallAfterHalt
	}
	return ""
}
