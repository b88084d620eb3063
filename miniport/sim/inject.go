package sim

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/gondis/gondis/ndis"
)

// Fault injection: each device keeps one schedule per fault kind, driven by
// timers on the device's clock. A timed fault fires when its timer says; an
// event fault is armed by its timer (or rolls its own dice at each event,
// when random) and strikes at the next reset or OID request.

// ErrHalted is returned by the Go API of a device whose adapter has been
// halted.
var ErrHalted = errors.New("sim: device halted")

// faultState is the schedule and state of one fault kind. Guarded by the
// device lock.
type faultState struct {
	f     Fault
	gen   uint64 // bumped when the schedule changes: stale timers do nothing
	timer ndis.Timer
	rng   *rand.Rand
	armed int // event faults: events still to strike
	fired uint64
}

// startFaults sets the configured schedules, from now. Faults with no
// delay fire (or are armed) at once.
func (d *Device) startFaults(fs []Fault) {
	var now []FaultKind
	d.mu.Lock()
	for i := range d.faults {
		d.faults[i].f.Kind = FaultKind(i)
	}
	for _, f := range fs {
		if d.setFaultLocked(f) {
			now = append(now, f.Kind)
		}
	}
	d.mu.Unlock()
	for _, k := range now {
		d.fire(k)
	}
}

// SetFault replaces the schedule of fault f.Kind; its timers start from
// now. An invalid fault is an error (see Fault.Validate), as is a halted
// device.
func (d *Device) SetFault(f Fault) error {
	if err := f.Validate(); err != nil {
		return err
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return ErrHalted
	}
	now := d.setFaultLocked(f)
	d.mu.Unlock()
	if now {
		d.fire(f.Kind)
	}
	return nil
}

// Fault returns the schedule of fault kind k.
func (d *Device) Fault(k FaultKind) Fault {
	d.mu.Lock()
	defer d.mu.Unlock()
	if k >= numFaultKinds {
		return Fault{Kind: k}
	}
	return d.faults[k].f
}

// Inject makes fault k happen now, whatever its schedule: a timed fault
// fires, an event fault is armed for its Count (default 1) next events.
func (d *Device) Inject(k FaultKind) {
	if k < numFaultKinds {
		d.fire(k)
	}
}

// setFaultLocked installs a schedule and reports whether the fault is due
// at once.
func (d *Device) setFaultLocked(f Fault) (now bool) {
	s := &d.faults[f.Kind]
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	s.gen++
	s.f, s.armed, s.rng = f, 0, nil
	switch f.Trigger {
	case TriggerOnce:
		if f.Delay == 0 {
			return true
		}
		d.armFaultLocked(f.Kind, f.Delay)
	case TriggerEvery:
		d.armFaultLocked(f.Kind, f.Period)
	case TriggerRandom:
		// Each kind has its own stream, so one fault's dice do not shift
		// another's.
		s.rng = rand.New(rand.NewPCG(f.Seed, uint64(f.Kind)))
		if f.Kind.timed() {
			d.armFaultLocked(f.Kind, f.check())
		}
	}
	return false
}

func (d *Device) armFaultLocked(k FaultKind, after time.Duration) {
	s := &d.faults[k]
	gen := s.gen
	s.timer = d.clock.AfterFunc(after, func() { d.faultTimer(k, gen) })
}

// faultTimer runs when a fault's timer fires: it re-arms a periodic or
// random schedule, rolls the dice of a random one, and fires the fault.
func (d *Device) faultTimer(k FaultKind, gen uint64) {
	d.mu.Lock()
	s := &d.faults[k]
	if d.closed || s.gen != gen {
		d.mu.Unlock()
		return
	}
	s.timer = nil
	fire := true
	switch s.f.Trigger {
	case TriggerEvery:
		d.armFaultLocked(k, s.f.Period)
	case TriggerRandom:
		fire = s.rng.Float64() < s.f.Prob
		d.armFaultLocked(k, s.f.check())
	}
	d.mu.Unlock()
	if fire {
		d.fire(k)
	}
}

// fire makes a fault happen. It never blocks: what the fault does to the
// driver arrives as an interrupt.
func (d *Device) fire(k FaultKind) {
	now := d.clock.Now()
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	s := &d.faults[k]
	s.fired++
	f := s.f
	f.Kind = k
	var causes uint32
	var storm [][]byte
	switch k {
	case FaultHang:
		d.txHung = true
		d.hangGen++
		if d.hangTimer != nil {
			d.hangTimer.Stop()
			d.hangTimer = nil
		}
		if dur := f.duration(); dur > 0 {
			gen := d.hangGen
			d.hangTimer = d.clock.AfterFunc(dur, func() { d.endHang(gen) })
		}
	case FaultFatal:
		if !d.fatal {
			d.fatal, d.fatalSince = true, now
		}
		causes = irqFatal
	case FaultLinkFlap:
		d.flapDown = true
		d.flapGen++
		if d.flapTimer != nil {
			d.flapTimer.Stop()
		}
		gen := d.flapGen
		d.flapTimer = d.clock.AfterFunc(f.duration(), func() { d.endFlap(gen) })
		causes = irqLink
	case FaultRxStorm:
		storm = d.stormLocked(f.frames())
	default:
		s.armed += f.count()
	}
	d.mu.Unlock()
	if causes != 0 {
		d.raise(causes)
	}
	if storm != nil {
		d.receive(storm, nil) // a storm knows no flow control
	}
}

// endHang ends a transient hang.
func (d *Device) endHang(gen uint64) {
	d.mu.Lock()
	if d.hangGen == gen {
		d.txHung, d.hangTimer = false, nil
	}
	d.mu.Unlock()
	d.ring()
}

// endFlap brings the link back up after a flap.
func (d *Device) endFlap(gen uint64) {
	d.mu.Lock()
	if d.flapGen != gen || d.closed {
		d.mu.Unlock()
		return
	}
	d.flapDown, d.flapTimer = false, nil
	d.mu.Unlock()
	d.raise(irqLink)
}

// takeEvent reports whether event fault k strikes now: it is armed, or it
// is random and its dice say so.
func (d *Device) takeEvent(k FaultKind) (Fault, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := &d.faults[k]
	f := s.f
	f.Kind = k
	switch {
	case d.closed:
		return f, false
	case s.armed > 0:
		s.armed--
		return f, true
	case f.Trigger == TriggerRandom && s.rng.Float64() < f.Prob:
		s.fired++
		return f, true
	}
	return f, false
}

// stormLocked builds an rx_storm burst: minimum-size frames to the device's
// own address, numbered.
func (d *Device) stormLocked(n int) [][]byte {
	const size = 60
	frames := make([][]byte, n)
	buf := make([]byte, n*size)
	for i := range frames {
		f := buf[i*size : (i+1)*size : (i+1)*size]
		copy(f, d.mac[:])
		copy(f[6:], stormSource[:])
		binary.BigEndian.PutUint16(f[12:], stormEtherType)
		d.stormSeq++
		binary.BigEndian.PutUint32(f[14:], d.stormSeq)
		frames[i] = f
	}
	return frames
}

// stopFaultsLocked stops every fault timer, for the halt.
func (d *Device) stopFaultsLocked() {
	for i := range d.faults {
		s := &d.faults[i]
		s.gen++
		if s.timer != nil {
			s.timer.Stop()
			s.timer = nil
		}
	}
	d.hangGen++
	d.flapGen++
	for _, t := range []ndis.Timer{d.hangTimer, d.flapTimer} {
		if t != nil {
			t.Stop()
		}
	}
	d.hangTimer, d.flapTimer = nil, nil
}

// InjectBug arms a deliberate driver bug (see Bug). It is for tests of the
// runtime's verifier only.
func (d *Device) InjectBug(b Bug) {
	if b > 0 && b < numBugs {
		d.m.bugs.Or(1 << b)
	}
}
