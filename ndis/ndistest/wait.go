package ndistest

import (
	"fmt"
	"time"
)

// TB is the part of testing.TB the helpers use.
type TB interface {
	Helper()
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// WaitTimeout bounds every wait of the helpers: long enough for a loaded CI
// machine under -race, short enough to fail a hung test promptly. A
// property-based test that wants quick failures to shrink may lower it.
var WaitTimeout = 10 * time.Second

// Eventually waits until cond holds, polling, and fails the test with the
// message when it does not within the wait timeout.
func Eventually(t TB, cond func() bool, format string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("ndistest: timed out waiting: %s", fmt.Sprintf(format, args...))
			return
		}
		time.Sleep(200 * time.Microsecond)
	}
}
