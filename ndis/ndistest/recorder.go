package ndistest

import (
	"encoding/binary"
	"fmt"
	"maps"
	"sync"

	"github.com/gondis/gondis/internal/enum"
	"github.com/gondis/gondis/ndis"
)

// RecordKind says which protocol callback a Record is.
type RecordKind uint8

// Record kinds.
const (
	RecordReceive RecordKind = iota
	RecordComplete
	RecordStatus
	RecordUnbind
)

var recordKindNames = [...]string{RecordReceive: "receive", RecordComplete: "complete", RecordStatus: "status", RecordUnbind: "unbind"}

func (k RecordKind) String() string { return enum.Name(recordKindNames[:], k, "RecordKind") }

// Record is one protocol callback.
type Record struct {
	Kind     RecordKind
	Status   ndis.Status   // the status code, for RecordStatus
	Payload  []byte        // a copy of the status payload
	NBLs     int           // NBLs in the chain, for receives and completions
	Statuses []ndis.Status // the NBLs' Status, for completions
	Frames   [][]byte      // copies of the first frame of each NBL, for receives
	Flags    ndis.ReceiveFlags
}

// Recorder is a protocol that records every callback in order. Received
// NBLs are returned at once unless KeepReceives is set (then the test calls
// ReturnKept).
type Recorder struct {
	B *ndis.Binding

	// Hooks run inside the callbacks, after recording.
	OnReceive  func(l *ndis.NetBufferList, flags ndis.ReceiveFlags)
	OnComplete func(l *ndis.NetBufferList)
	OnStatus   func(code ndis.Status, payload []byte)

	mu           sync.Mutex
	records      []Record
	keep         bool
	kept         ndis.List
	completed    map[*ndis.NetBufferList]int
	completedAll int
	byStatus     map[ndis.Status]int // completed NBLs by their Status
}

// RecorderDriver is a protocol driver whose bindings are Recorders.
type RecorderDriver struct {
	name string
	// Setup, if set, runs on each new Recorder before BindAdapter returns.
	Setup func(r *Recorder)

	mu   sync.Mutex
	recs map[*ndis.Binding]*Recorder
	all  []*Recorder
}

// NewRecorderDriver returns a recording protocol driver called name.
func NewRecorderDriver(name string) *RecorderDriver {
	return &RecorderDriver{name: name, recs: make(map[*ndis.Binding]*Recorder)}
}

// Driver returns the protocol driver to register.
func (d *RecorderDriver) Driver() ndis.ProtocolDriver {
	return ndis.ProtocolDriver{Name: d.name, BindAdapter: func(b *ndis.Binding) (ndis.Protocol, error) {
		r := &Recorder{B: b, completed: make(map[*ndis.NetBufferList]int)}
		if d.Setup != nil {
			d.Setup(r)
		}
		d.mu.Lock()
		d.recs[b] = r
		d.all = append(d.all, r)
		d.mu.Unlock()
		return r, nil
	}}
}

// Binding returns the recorder of a binding.
func (d *RecorderDriver) Binding(b *ndis.Binding) *Recorder {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.recs[b]
}

// All returns every recorder, in bind order.
func (d *RecorderDriver) All() []*Recorder {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*Recorder(nil), d.all...)
}

// KeepReceives makes the recorder hold received NBLs until ReturnKept.
func (r *Recorder) KeepReceives(keep bool) {
	r.mu.Lock()
	r.keep = keep
	r.mu.Unlock()
}

// ReturnKept returns every held NBL to the binding.
func (r *Recorder) ReturnKept() int {
	r.mu.Lock()
	n, l := r.kept.Len(), r.kept.Take()
	r.mu.Unlock()
	if l != nil {
		r.B.ReturnNetBufferLists(l)
	}
	return n
}

// ReceiveNetBufferLists implements ndis.Protocol.
func (r *Recorder) ReceiveNetBufferLists(l *ndis.NetBufferList, flags ndis.ReceiveFlags) {
	rec := Record{Kind: RecordReceive, Flags: flags}
	for x := l; x != nil; x = x.Next {
		rec.NBLs++
		var fr []byte
		if len(x.Frames) > 0 {
			fr = append([]byte(nil), x.Frames[0]...)
		}
		rec.Frames = append(rec.Frames, fr)
	}
	r.mu.Lock()
	r.records = append(r.records, rec)
	keep := r.keep && flags&ndis.ReceiveFlagResources == 0
	if keep {
		r.kept.PushChain(l)
	}
	hook := r.OnReceive
	r.mu.Unlock()
	if hook != nil {
		hook(l, flags)
	}
	if !keep && flags&ndis.ReceiveFlagResources == 0 {
		r.B.ReturnNetBufferLists(l)
	}
}

// SendNetBufferListsComplete implements ndis.Protocol.
func (r *Recorder) SendNetBufferListsComplete(l *ndis.NetBufferList) {
	rec := Record{Kind: RecordComplete}
	r.mu.Lock()
	if r.byStatus == nil {
		r.byStatus = make(map[ndis.Status]int)
	}
	for x := l; x != nil; x = x.Next {
		rec.NBLs++
		rec.Statuses = append(rec.Statuses, x.Status)
		r.completed[x]++
		r.completedAll++
		r.byStatus[x.Status]++
	}
	r.records = append(r.records, rec)
	hook := r.OnComplete
	r.mu.Unlock()
	if hook != nil {
		hook(l)
	}
}

// Status implements ndis.Protocol.
func (r *Recorder) Status(code ndis.Status, payload []byte) {
	r.mu.Lock()
	r.records = append(r.records, Record{Kind: RecordStatus, Status: code, Payload: append([]byte(nil), payload...)})
	hook := r.OnStatus
	r.mu.Unlock()
	if hook != nil {
		hook(code, payload)
	}
}

// UnbindAdapter implements ndis.Unbinder.
func (r *Recorder) UnbindAdapter() {
	r.mu.Lock()
	r.records = append(r.records, Record{Kind: RecordUnbind})
	r.mu.Unlock()
}

// Records returns every callback so far, in order.
func (r *Recorder) Records() []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Record(nil), r.records...)
}

// Statuses returns the status indications so far, in order.
func (r *Recorder) Statuses() []ndis.Status {
	var out []ndis.Status
	for _, x := range r.Records() {
		if x.Kind == RecordStatus {
			out = append(out, x.Status)
		}
	}
	return out
}

// Count returns how many status indications of code arrived.
func (r *Recorder) Count(code ndis.Status) int {
	n := 0
	for _, s := range r.Statuses() {
		if s == code {
			n++
		}
	}
	return n
}

// Received returns how many NBLs were indicated.
func (r *Recorder) Received() int {
	n := 0
	for _, x := range r.Records() {
		if x.Kind == RecordReceive {
			n += x.NBLs
		}
	}
	return n
}

// ReceivedFrames returns copies of the frames received (the first frame of
// each NBL indicated), in order.
func (r *Recorder) ReceivedFrames() [][]byte {
	var out [][]byte
	for _, x := range r.Records() {
		if x.Kind == RecordReceive {
			out = append(out, x.Frames...)
		}
	}
	return out
}

// CompletedByStatus returns how many sent NBLs came back with each
// Status. It is kept as they come back, so polling it stays cheap under
// heavy traffic.
func (r *Recorder) CompletedByStatus() map[ndis.Status]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.byStatus)
}

// Completed returns how many sent NBLs came back.
func (r *Recorder) Completed() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.completedAll
}

// CompletedTimes returns how many times x came back.
func (r *Recorder) CompletedTimes(x *ndis.NetBufferList) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.completed[x]
}

// WaitFor waits until a record satisfying pred has arrived and returns it.
func (r *Recorder) WaitFor(t TB, what string, pred func(Record) bool) Record {
	t.Helper()
	var got Record
	Eventually(t, func() bool {
		for _, x := range r.Records() {
			if pred(x) {
				got = x
				return true
			}
		}
		return false
	}, "%s", what)
	return got
}

// WaitStatus waits until n indications of code have arrived and returns
// the last one.
func (r *Recorder) WaitStatus(t TB, code ndis.Status, n int) Record {
	t.Helper()
	var got Record
	Eventually(t, func() bool {
		c := 0
		for _, x := range r.Records() {
			if x.Kind == RecordStatus && x.Status == code {
				c++
				got = x
			}
		}
		return c >= n
	}, "%d× %s", n, code)
	return got
}

// CheckResetPairs checks that RESET_START and RESET_END strictly alternate,
// starting with START, and returns the number of complete pairs; open is
// true when the last START has no END yet.
func (r *Recorder) CheckResetPairs() (pairs int, open bool, err error) {
	for i, s := range r.Statuses() {
		switch s {
		case ndis.StatusResetStart:
			if open {
				return pairs, open, fmt.Errorf("RESET_START at indication %d while a reset is open", i)
			}
			open = true
		case ndis.StatusResetEnd:
			if !open {
				return pairs, open, fmt.Errorf("RESET_END at indication %d without RESET_START", i)
			}
			open = false
			pairs++
		}
	}
	return pairs, open, nil
}

// ResetEndStatus decodes the status carried by a RESET_END payload.
func ResetEndStatus(payload []byte) (ndis.Status, bool) {
	if len(payload) != 4 {
		return 0, false
	}
	return ndis.Status(binary.LittleEndian.Uint32(payload)), true
}
