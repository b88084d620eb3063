// Package kit is what gondis's own miniports share beyond the contract:
// the pending-send queue between SendNetBufferLists and the goroutine that
// transmits (a NIC's DPC), the abort of the sends a reset takes back, the
// answer to a set of the hardware filter, and the general attributes every
// Ethernet miniport declares. It is a toolkit, not part of the contract; the
// parameter table is internal/param.
package kit
