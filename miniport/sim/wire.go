package sim

import (
	"fmt"
	"sync"
)

// Wires join two devices as the two ends of one cable. A wire is named by
// the "wire" parameter of its adapters and exists while an adapter is on
// it; the first adapter on a wire waits with its link down for the second,
// and the second one's Initialize plugs the cable in: both links come up.
// When one end is halted, the other's link goes down and the wire waits for
// a new second end. Wires belong to a driver value (Driver, DriverWith):
// adapters of different runtimes that registered the same value may share
// one.
type wires struct {
	mu sync.Mutex
	m  map[string]*[2]*Device
}

// join puts d on the named wire, as its first or second end.
func (ws *wires) join(name string, d *Device) error {
	ws.mu.Lock()
	if ws.m == nil {
		ws.m = make(map[string]*[2]*Device)
	}
	w := ws.m[name]
	if w == nil {
		w = new([2]*Device)
		ws.m[name] = w
	}
	var other *Device
	switch {
	case w[0] == nil:
		w[0], other = d, w[1]
	case w[1] == nil:
		w[1], other = d, w[0]
	default:
		ws.mu.Unlock()
		return fmt.Errorf("wire %q already joins %q and %q", name, w[0].name, w[1].name)
	}
	if other != nil {
		d.peer.Store(other)
		other.peer.Store(d)
	}
	ws.mu.Unlock()
	if other != nil {
		other.raise(irqLink)
	}
	return nil
}

// leave takes d off its wire; the other end's link goes down.
func (ws *wires) leave(d *Device) {
	if d.wire == "" {
		return
	}
	ws.mu.Lock()
	w := ws.m[d.wire]
	var other *Device
	if w != nil {
		for i := range w {
			if w[i] == d {
				w[i] = nil
			} else if w[i] != nil {
				other = w[i]
			}
		}
		if w[0] == nil && w[1] == nil {
			delete(ws.m, d.wire)
		}
	}
	d.peer.Store(nil)
	if other != nil {
		other.peer.Store(nil)
	}
	ws.mu.Unlock()
	if other != nil {
		other.raise(irqLink)
		other.ring() // frames it held back for d go nowhere now
	}
}
