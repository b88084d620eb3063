package daemon

import (
	"testing"
	"time"

	"github.com/gondis/gondis/ndis"
)

// TestMeasure: rates are frames over the interval, and an adapter
// initialized again — a new adapter under the name, its counters from
// zero — starts without a rate rather than with one computed across the
// two.
func TestMeasure(t *testing.T) {
	d := &Daemon{rates: make(map[string][2]float64), prev: make(map[string]tick)}
	failed, again := new(ndis.Adapter), new(ndis.Adapter)
	at := time.Unix(1000, 0)
	step := func(s tick, want [2]float64) {
		t.Helper()
		at = at.Add(2 * time.Second)
		d.measure(at, s)
		d.prevAt = at
		if got := d.rates[""]; got != want {
			t.Errorf("rates %v, want %v", got, want)
		}
	}
	step(tick{failed, [2]uint64{100, 50}}, [2]float64{})
	step(tick{failed, [2]uint64{300, 150}}, [2]float64{100, 50})
	step(tick{again, [2]uint64{10, 4}}, [2]float64{})
	step(tick{again, [2]uint64{30, 4}}, [2]float64{10, 0})
}
