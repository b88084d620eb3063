package ndis

import (
	"context"
	"log/slog"
	"time"

	"github.com/gondis/gondis/internal/enum"
)

// EventKind says what an Event reports.
type EventKind uint8

// Event kinds.
const (
	EventState          EventKind = iota // the operational state changed
	EventLinkState                       // the media connect state changed
	EventResetRequested                  // a reset request was accepted (Cause)
	EventResetStart                      // RESET_START indicated; Reset() is next
	EventResetPending                    // Reset() answered StatusPending
	EventResetRestore                    // addressing is being restored
	EventResetEnd                        // RESET_END indicated (Status, Duration)
	EventResetEscalated                  // too many failed resets: the adapter fails
	EventFailed                          // the adapter failed and will be halted
	EventViolation                       // a verifier finding
)

var eventKindNames = [...]string{"state", "link", "reset-requested", "reset-start", "reset-pending",
	"reset-restore", "reset-end", "reset-escalated", "failed", "violation"}

func (k EventKind) String() string { return enum.Name(eventKindNames[:], k, "EventKind") }

// Event is one thing that happened to an adapter, for logs, the CLI and
// tests. Fields that do not apply to its Kind are zero.
type Event struct {
	Time     time.Time
	Adapter  string
	Kind     EventKind
	State    AdapterState
	Cause    ResetCause
	Status   Status
	Duration time.Duration
	Detail   string
}

// emit stamps, logs and delivers one event. Never called with a lock held.
func (a *Adapter) emit(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = a.rt.cfg.clock.Now()
	}
	ev.Adapter = a.name
	if ev.Kind != EventViolation && a.rt.log.Enabled(context.Background(), slog.LevelInfo) { // violations are logged by violate
		attrs := []slog.Attr{slog.String("adapter", a.name), slog.String("event", ev.Kind.String())}
		switch ev.Kind {
		case EventState:
			attrs = append(attrs, slog.String("state", ev.State.String()))
		case EventResetRequested, EventResetStart, EventResetPending, EventResetRestore, EventResetEnd, EventResetEscalated:
			attrs = append(attrs, slog.String("cause", ev.Cause.String()))
		}
		if ev.Kind == EventResetEnd {
			attrs = append(attrs, slog.String("status", ev.Status.String()), slog.Duration("duration", ev.Duration))
		}
		if ev.Detail != "" {
			attrs = append(attrs, slog.String("detail", ev.Detail))
		}
		a.rt.log.LogAttrs(context.Background(), slog.LevelInfo, "ndis adapter", attrs...)
	}
	if h := a.rt.cfg.events; h != nil {
		h(ev)
	}
}
