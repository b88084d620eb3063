// Package api holds the JSON shapes of the gondis control API, shared by
// the daemon's server and the CLI's client.
//
// Endpoints, HTTP over the daemon's Unix socket:
//
//	GET  /v1/version                   Version
//	GET  /v1/adapters                  []Adapter, sorted by name
//	GET  /v1/adapters/{name}           Adapter; 404 for an unknown adapter
//	POST /v1/adapters/{name}/reset     an operator reset (ndis.Runtime.RequestReset): ResetResult,
//	                                   202 once queued or joined to a queued one; 409 when
//	                                   dropped (a reset in progress, the operator limit)
//	POST /v1/adapters/{name}/pause     returns once Paused; 200
//	POST /v1/adapters/{name}/restart   returns once Running; 200
//	POST /v1/adapters/{name}/initialize  a failed adapter initialized again
//	                                   (ndis.Runtime.ReinitializeAdapter) and the configuration's
//	                                   bindings opened to it again; 200 once Running and bound;
//	                                   409 when it has not failed
//	GET  /v1/events[?follow=1]         Event per line (NDJSON): the recent history, then,
//	                                   with follow, new events until the client goes
//
// POST bodies are optional and, when present, a JSON object of at most
// MaxBody bytes. Failures are an Error with a 4xx or 5xx status.
package api

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxBody is the largest request body the server reads.
const MaxBody = 4096

// Version answers GET /v1/version.
type Version struct {
	Version   string `json:"version"`
	GoVersion string `json:"go_version"`
	PID       int    `json:"pid"`
}

// Error is the body of every failed request.
type Error struct {
	Error string `json:"error"`
}

// Adapter is one adapter's status.
type Adapter struct {
	Name     string    `json:"name"`
	Driver   string    `json:"driver"`
	State    string    `json:"state"` // an ndis.AdapterState name: Running, Paused ...
	MAC      string    `json:"mac"`
	Link     string    `json:"link"` // MediaConnectStateConnected ...
	Bindings []Binding `json:"bindings"`

	// FailureReason says why the adapter failed (the driver gave up on it,
	// resets kept failing, a reset timed out): it stays listed, Halted,
	// until initialized again. "" while it has not failed.
	FailureReason string `json:"failure_reason"`

	SentNBLs           uint64 `json:"sent_nbls"`
	SentFrames         uint64 `json:"sent_frames"`
	SentBytes          uint64 `json:"sent_bytes"`
	SendCompleted      uint64 `json:"send_completed"`
	SendFailed         uint64 `json:"send_failed"`
	SendRejected       uint64 `json:"send_rejected"`
	ReceivedNBLs       uint64 `json:"received_nbls"`
	ReceivedFrames     uint64 `json:"received_frames"`
	ReceivedBytes      uint64 `json:"received_bytes"`
	ReturnedNBLs       uint64 `json:"returned_nbls"`
	ReceiveDropped     uint64 `json:"receive_dropped"`
	ReceiveDuringReset uint64 `json:"receive_during_reset"`
	Violations         uint64 `json:"violations"`

	TxPerSecond float64 `json:"tx_per_second"` // frames, over the last sampling interval
	RxPerSecond float64 `json:"rx_per_second"`

	Resets            map[string]Resets `json:"resets"` // by cause: driver, hang, oid-timeout, operator
	LastResetDuration time.Duration     `json:"last_reset_duration_ns"`
	LastResetStatus   string            `json:"last_reset_status,omitempty"`

	// Details are what the adapter's miniport reports of itself
	// (ndis.Reporter): a TAP adapter's interface, queues and errors, say.
	Details []Detail `json:"details"`
}

// Binding is one protocol bound to the adapter, with what the protocol
// reports of itself.
type Binding struct {
	Protocol string   `json:"protocol"`
	Details  []Detail `json:"details"`
}

// Detail is one value a miniport or protocol reports of itself
// (ndis.Detail). Name, with Labels, identifies it within its reporter.
type Detail struct {
	Name   string            `json:"name"` // lower_snake_case
	Help   string            `json:"help"`
	Kind   string            `json:"kind"`  // KindCounter, KindGauge or KindText
	Value  float64           `json:"value"` // a counter's or gauge's
	Text   string            `json:"text,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
}

// Detail kinds: the names of ndis.DetailCounter, DetailGauge and
// DetailText.
const (
	KindCounter = "counter"
	KindGauge   = "gauge"
	KindText    = "text"
)

// Numeric reports whether the detail is a counter or a gauge, whose value
// is Value, rather than text.
func (d Detail) Numeric() bool { return d.Kind == KindCounter || d.Kind == KindGauge }

// Labelled returns the labels as `queue="0",dir="rx"`, sorted by name; ""
// without labels.
func (d Detail) Labelled() string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(d.Labels)) {
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k + "=" + strconv.Quote(d.Labels[k]))
	}
	return b.String()
}

// Show returns the value as people read it: the text, or the number
// without an exponent or trailing zeros.
func (d Detail) Show() string {
	if !d.Numeric() {
		return d.Text
	}
	return strconv.FormatFloat(d.Value, 'f', -1, 64)
}

// ResetResult answers an operator reset that was not dropped: what became
// of it, beside the adapter's status (its fields inline).
type ResetResult struct {
	Outcome string `json:"outcome"` // queued, or coalesced: joined the reset queued already
	Message string `json:"message"` // the outcome in words: "reset queued"
	Adapter
}

// Resets count the reset requests of one cause.
type Resets struct {
	Requested    uint64        `json:"requested"`
	Coalesced    uint64        `json:"coalesced"`
	Dropped      uint64        `json:"dropped"`
	Performed    uint64        `json:"performed"`
	Failed       uint64        `json:"failed"`
	LastDuration time.Duration `json:"last_duration_ns"`
	MaxDuration  time.Duration `json:"max_duration_ns"`
}

// TotalResets is the number of resets performed, all causes.
func (a *Adapter) TotalResets() uint64 {
	var n uint64
	for _, r := range a.Resets {
		n += r.Performed
	}
	return n
}

// KindReinitialized is the kind of the daemon's own event for an adapter an
// operator initialized again; its Detail names the bindings opened again.
// Every other kind is an ndis.EventKind's name.
const KindReinitialized = "reinitialized"

// Event is one adapter event (ndis.Event, or the daemon's own), numbered.
type Event struct {
	Seq      uint64        `json:"seq"`
	Time     time.Time     `json:"time"`
	Adapter  string        `json:"adapter"`
	Kind     string        `json:"kind"`            // state, link, reset-requested, reset-start, reset-end, failed, reinitialized ...
	State    string        `json:"state,omitempty"` // for state
	Cause    string        `json:"cause,omitempty"` // for reset-*
	Status   string        `json:"status,omitempty"`
	Duration time.Duration `json:"duration_ns,omitempty"` // for reset-end: RESET_START to RESET_END
	Detail   string        `json:"detail,omitempty"`
}
