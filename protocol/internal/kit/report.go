package kit

import (
	"cmp"
	"maps"
	"slices"
	"sync"

	"github.com/gondis/gondis/ndis"
)

// StatusCounts counts NBLs by their completion status. The zero value is
// ready; it is safe for concurrent use.
type StatusCounts struct {
	mu sync.Mutex
	m  map[ndis.Status]uint64
}

// Add counts every NBL of the chain by its Status.
func (c *StatusCounts) Add(l *ndis.NetBufferList) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[ndis.Status]uint64)
	}
	for x := l; x != nil; x = x.Next {
		c.m[x.Status]++
	}
}

// Snapshot returns a copy of the counts; never nil.
func (c *StatusCounts) Snapshot() map[ndis.Status]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := maps.Clone(c.m)
	if m == nil {
		m = map[ndis.Status]uint64{}
	}
	return m
}

// Details reports the counts as one counter per status seen, labelled
// {"status": the NDIS name}, in the order of the names.
func (c *StatusCounts) Details(name, help string) []ndis.Detail {
	m := c.Snapshot()
	ds := make([]ndis.Detail, 0, len(m))
	for s, n := range m {
		d := Counter(name, help, n)
		d.Labels = map[string]string{"status": s.String()}
		ds = append(ds, d)
	}
	slices.SortFunc(ds, func(a, b ndis.Detail) int {
		return cmp.Compare(a.Labels["status"], b.Labels["status"])
	})
	return ds
}

// Counter returns a counter detail.
func Counter(name, help string, v uint64) ndis.Detail {
	return ndis.Detail{Name: name, Help: help, Kind: ndis.DetailCounter, Value: float64(v)}
}

// Flag returns a gauge detail that is 1 when on and 0 otherwise.
func Flag(name, help string, on bool) ndis.Detail {
	d := ndis.Detail{Name: name, Help: help, Kind: ndis.DetailGauge}
	if on {
		d.Value = 1
	}
	return d
}
