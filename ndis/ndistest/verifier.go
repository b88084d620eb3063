package ndistest

import (
	"sync"

	"github.com/gondis/gondis/ndis"
)

// Verifier collects the runtime's verifier findings for a test. Every
// violation of a rule the test did not Expect fails the test at once.
type Verifier struct {
	t        TB
	mu       sync.Mutex
	expected map[string]bool
	seen     []ndis.Violation
}

// NewVerifier returns a verifier for t.
func NewVerifier(t TB) *Verifier {
	return &Verifier{t: t, expected: make(map[string]bool)}
}

// Options returns the runtime options that run the verifier in strict mode
// and route its findings here.
func (v *Verifier) Options() []ndis.Option {
	return []ndis.Option{ndis.WithVerifier(ndis.VerifierStrict), ndis.WithViolationHandler(v.handle)}
}

// Expect declares that the test provokes violations of rule.
func (v *Verifier) Expect(rule string) {
	v.mu.Lock()
	v.expected[rule] = true
	v.mu.Unlock()
}

func (v *Verifier) handle(x ndis.Violation) {
	v.mu.Lock()
	v.seen = append(v.seen, x)
	ok := v.expected[x.Rule]
	v.mu.Unlock()
	if !ok {
		v.t.Errorf("ndistest: unexpected verifier violation: %s", x)
	}
}

// Count returns how many violations of rule were reported.
func (v *Verifier) Count(rule string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	n := 0
	for _, x := range v.seen {
		if x.Rule == rule {
			n++
		}
	}
	return n
}

// All returns every violation reported so far.
func (v *Verifier) All() []ndis.Violation {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]ndis.Violation(nil), v.seen...)
}

// Wait waits until at least one violation of rule has been reported.
func (v *Verifier) Wait(t TB, rule string) ndis.Violation {
	t.Helper()
	var got ndis.Violation
	Eventually(t, func() bool {
		v.mu.Lock()
		defer v.mu.Unlock()
		for _, x := range v.seen {
			if x.Rule == rule {
				got = x
				return true
			}
		}
		return false
	}, "a %s violation", rule)
	return got
}
