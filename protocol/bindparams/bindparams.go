// Package bindparams carries per-binding parameters to protocol drivers.
//
// ndis.Runtime.Bind takes no parameters (ProtocolBindAdapterEx reads its
// configuration from the registry in NDIS), so gondis does the same: the
// program that binds — the daemon, a test — stores the binding's
// parameters in a Registry, keyed by protocol and adapter name, before it
// calls Bind, and the protocol's BindAdapter reads them from there:
//
//	reg := bindparams.Default
//	reg.Set("traffic", "sim0", map[string]string{"rate": "1000"})
//	b, err := rt.Bind(ctx, "traffic", "sim0") // traffic's BindAdapter calls reg.Get("traffic", "sim0")
//
// Protocol packages use Default unless they are given another Registry
// (their DriverWith), which keeps tests independent of each other.
package bindparams

import (
	"maps"
	"sync"
)

// Registry holds binding parameters by protocol and adapter name. It is
// safe for concurrent use; the zero value is empty and ready.
type Registry struct {
	mu sync.Mutex
	m  map[key]map[string]string
}

type key struct{ protocol, adapter string }

// Default is the process-wide registry protocol drivers read unless told
// otherwise.
var Default = &Registry{}

// Set stores a copy of the parameters of the binding of protocol to
// adapter, replacing what was there.
func (r *Registry) Set(protocol, adapter string, params map[string]string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[key]map[string]string)
	}
	r.m[key{protocol, adapter}] = maps.Clone(params)
}

// Get returns a copy of the parameters of the binding of protocol to
// adapter, or an empty map.
func (r *Registry) Get(protocol, adapter string) map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := maps.Clone(r.m[key{protocol, adapter}])
	if p == nil {
		p = map[string]string{}
	}
	return p
}

// Delete forgets the parameters of the binding of protocol to adapter.
func (r *Registry) Delete(protocol, adapter string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m, key{protocol, adapter})
}
