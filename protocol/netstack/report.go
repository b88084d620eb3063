package netstack

import (
	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/protocol/internal/kit"
)

// Stats is a snapshot of an interface's counters.
type Stats struct {
	FramesSent     uint64                 // frames handed to the binding
	FramesReceived uint64                 // frames delivered to the stack
	Completed      map[ndis.Status]uint64 // send NBLs completed, by status; none is sent again
	FramesHeld     uint64                 // frames held between RESET_START and RESET_END (and sent after)
	Dropped        Drops                  // frames dropped, by reason
	Resets         uint64                 // RESET_END indications seen
	Holding        bool                   // a reset holds the frames now
	LinkUp         bool                   // the last link state indicated (or the adapter's at bind)
	LinkChanges    uint64                 // link state changes indicated
}

// Drops counts the frames an interface dropped, by reason.
type Drops struct {
	HoldFull uint64 // sent during a reset with the hold queue full
	NoBuffer uint64 // sent with every NBL of the window in flight or held
	TooLong  uint64 // larger than the adapter's MTU
	Closed   uint64 // sent or held when the NIC was removed
	Runt     uint64 // received shorter than an Ethernet header
	Detached uint64 // received with no stack attached (the NIC was removed)
}

// StackStats is a snapshot of a stack's own counters.
type StackStats struct {
	TCPEstablished uint64 // connections established now
	TCPOpened      uint64 // connections opened, actively or passively
	TCPRetransmits uint64 // TCP segments retransmitted
	TCPResets      uint64 // established connections reset, by either side
}

// Stats returns a snapshot of the interface's counters.
func (i *Interface) Stats() Stats {
	c := &i.link.c
	return Stats{
		FramesSent: c.sent.Load(), FramesReceived: c.received.Load(), Completed: c.completed.Snapshot(),
		FramesHeld: c.held.Load(), Resets: c.resets.Load(), Holding: phase(i.link.snapshot.Load()) == phaseHolding,
		LinkUp: i.link.linkUp.Load(), LinkChanges: c.linkChanges.Load(),
		Dropped: Drops{HoldFull: c.dropHoldFull.Load(), NoBuffer: c.dropNoBuffer.Load(), TooLong: c.dropTooLong.Load(),
			Closed: c.dropClosed.Load(), Runt: c.dropRunt.Load(), Detached: c.dropDetached.Load()},
	}
}

// Stats returns a snapshot of the stack's counters.
func (s *Stack) Stats() StackStats {
	t := s.s.Stats().TCP
	return StackStats{
		TCPEstablished: t.CurrentEstablished.Value(),
		TCPOpened:      t.ActiveConnectionOpenings.Value() + t.PassiveConnectionOpenings.Value(),
		TCPRetransmits: t.Retransmits.Value(),
		TCPResets:      t.EstablishedResets.Value(),
	}
}

// Report implements ndis.Reporter: the interface's counters, its
// completions by status and its drops by reason, then its stack's TCP
// counters (the same for every interface of one stack).
func (i *Interface) Report() []ndis.Detail {
	st := i.Stats()
	d := []ndis.Detail{
		kit.Counter("frames_sent", "frames handed to the binding", st.FramesSent),
		kit.Counter("frames_received", "frames delivered to the stack", st.FramesReceived),
	}
	d = append(d, i.link.c.completed.Details("completed", "send NBLs completed, by status")...)
	for _, r := range []struct {
		reason string
		n      uint64
	}{
		{"hold_full", st.Dropped.HoldFull}, {"no_buffer", st.Dropped.NoBuffer}, {"too_long", st.Dropped.TooLong},
		{"closed", st.Dropped.Closed}, {"runt", st.Dropped.Runt}, {"detached", st.Dropped.Detached},
	} {
		x := kit.Counter("frames_dropped", "frames dropped, by reason", r.n)
		x.Labels = map[string]string{"reason": r.reason}
		d = append(d, x)
	}
	ss := i.st.Stats()
	estab := kit.Counter("tcp_established", "TCP connections of the stack established now", ss.TCPEstablished)
	estab.Kind = ndis.DetailGauge
	return append(d,
		kit.Counter("frames_held", "frames held between RESET_START and RESET_END", st.FramesHeld),
		kit.Counter("resets", "RESET_END indications seen", st.Resets),
		kit.Flag("holding", "1 while a reset holds the frames", st.Holding),
		kit.Flag("link_up", "1 while the link is up", st.LinkUp),
		kit.Counter("link_changes", "link state changes indicated", st.LinkChanges),
		estab,
		kit.Counter("tcp_connections", "TCP connections of the stack opened, actively or passively", ss.TCPOpened),
		kit.Counter("tcp_retransmits", "TCP segments the stack retransmitted", ss.TCPRetransmits),
		kit.Counter("tcp_resets", "TCP connections of the stack reset", ss.TCPResets),
	)
}
