package ndis

import "time"

// Clock is the runtime's source of time. Every timer the runtime arms (the
// check-for-hang tick, the reset timeout, the verifier's watchdogs) goes
// through it, so tests drive time with a fake clock (ndistest.FakeClock)
// instead of sleeping.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has elapsed, unless the
	// returned Timer is stopped first. The runtime's f never blocks.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a timer armed by Clock.AfterFunc.
type Timer interface {
	// Stop prevents the timer from firing; it reports whether it did.
	Stop() bool
}

type realClock struct{}

func (realClock) Now() time.Time                            { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// RealClock returns the wall clock, the default.
func RealClock() Clock { return realClock{} }
