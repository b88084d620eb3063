package tap

import (
	"strconv"

	"github.com/gondis/gondis/ndis"
)

var _ ndis.Reporter = (*miniport)(nil)

// Report is ndis.Reporter: what StatsOf, Interface and OffloadOf return,
// as details that programs show without code of the TAP's own. The frame
// totals are left to the runtime's counters and the statistics OIDs; the
// queues' counts are of the current interface (a reset starts them
// again). Any goroutine; it takes the miniport's lock briefly, as StatsOf
// does.
func (m *miniport) Report() []ndis.Detail {
	s := m.stats()
	o := m.offloadNow()
	d := make([]ndis.Detail, 0, 19+2*len(s.Queues))
	d = append(d,
		ndis.Detail{Name: "interface", Help: "name of the TAP interface", Kind: ndis.DetailText, Text: m.interfaceName()},
		gauge("steering", "1 when the steering program, not the kernel, picks the queue of each frame read", s.Steering),
		gauge("tx_checksum_offload", "1 when the kernel computes the checksums sends ask for", o.TxChecksum),
		gauge("large_send_offload", "1 when large sends go to the kernel whole", o.LargeSend),
		gauge("receive_offload", "1 when the kernel may hand over partial checksums and large segments", o.Receive),
	)
	for i, q := range s.Queues {
		n := strconv.Itoa(i)
		d = append(d,
			ndis.Detail{Name: "xmit_ok", Help: "frames written on the queue of the current interface", Kind: ndis.DetailCounter,
				Value: float64(q.XmitOK), Labels: map[string]string{"queue": n}},
			ndis.Detail{Name: "rcv_ok", Help: "frames read from the queue of the current interface", Kind: ndis.DetailCounter,
				Value: float64(q.RcvOK), Labels: map[string]string{"queue": n}},
		)
	}
	d = append(d,
		counter("xmit_error", "sends not written: failed or aborted", s.XmitError),
		counter("rcv_error", "frames read and dropped: malformed or larger than the MTU", s.RcvError),
		counter("rcv_no_buffer", "times a reader found no receive NBL free", s.RcvNoBuffer),
		counter("retries", "system calls retried: EAGAIN, EINTR, ENOBUFS", s.Retries),
		counter("dead_errors", "errors that asked for a reset", s.DeadErrors),
		counter("resets", "resets", s.Resets),
		counter("reset_failures", "resets that could not open the interface again", s.ResetFailures),
		ndis.Detail{Name: "last_reset_seconds", Help: "how long the last reset took", Kind: ndis.DetailGauge,
			Value: s.LastResetDuration.Seconds()},
		ndis.Detail{Name: "last_error", Help: "the last error that asked for a reset", Kind: ndis.DetailText, Text: s.LastError},
		counter("rcv_gso", "large frames the kernel handed over", s.RcvGSO),
		counter("rcv_segments", "frames cut from the large frames the kernel handed over", s.RcvSegments),
		counter("xmit_gso", "large sends handed to the kernel whole", s.XmitGSO),
		counter("xmit_soft_segments", "frames cut from large sends in software", s.XmitSoftSegments),
		counter("resubscribes", "netlink subscriptions made again after one failed", s.Resubscribes),
	)
	return d
}

func counter(name, help string, v uint64) ndis.Detail {
	return ndis.Detail{Name: name, Help: help, Kind: ndis.DetailCounter, Value: float64(v)}
}

func gauge(name, help string, on bool) ndis.Detail {
	v := 0.0
	if on {
		v = 1
	}
	return ndis.Detail{Name: name, Help: help, Kind: ndis.DetailGauge, Value: v}
}
