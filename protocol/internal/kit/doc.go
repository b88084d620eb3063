// Package kit is what gondis's own protocols share beyond the contract:
// the packet filter they bind with, the receive path of a protocol that
// answers requests with frames of its own (echo, arpecho), completions
// counted by status, and the details they report. It is a toolkit, not part
// of the contract; the parameter table is internal/param, the traffic and
// echo wire format protocol/internal/frame.
package kit
