package sim

import "github.com/gondis/gondis/ndis"

// Report implements ndis.Reporter: the device's counters and queues
// (DeviceStats) under stable names, the statistics OIDs' four first, and
// the faults fired by kind (label "fault"). Like Stats, it takes the
// driver's and the device's locks only briefly and never waits for the
// datapath.
func (m *miniport) Report() []ndis.Detail {
	s := m.d.Stats()
	counter := func(name, help string, v uint64) ndis.Detail {
		return ndis.Detail{Name: name, Help: help, Kind: ndis.DetailCounter, Value: float64(v)}
	}
	gauge := func(name, help string, v int64) ndis.Detail {
		return ndis.Detail{Name: name, Help: help, Kind: ndis.DetailGauge, Value: float64(v)}
	}
	failed := int64(0)
	if s.Failed {
		failed = 1
	}
	ds := []ndis.Detail{
		counter("xmit_ok", "frames the hardware put on the wire (OID_GEN_XMIT_OK)", s.TxFrames),
		counter("xmit_error", "frames the driver failed: a bad length, or a dead device", s.TxErrors),
		counter("rcv_ok", "frames indicated to the runtime (OID_GEN_RCV_OK)", s.RxIndicated),
		counter("rcv_no_buffer", "frames lost for want of a posted receive buffer (overrun)", s.RxNoBuffer),

		counter("tx_posted", "frames the driver posted to the transmit ring", s.TxPosted),
		counter("tx_link_down", "frames the hardware lost: link down, or nobody at the other end", s.TxLinkDown),
		counter("tx_aborted", "NBLs completed with NDIS_STATUS_REQUEST_ABORTED (reset, pause time-out)", s.TxAborted),
		counter("tx_completed", "NBLs completed, whatever their status", s.TxCompleted),
		gauge("tx_queued", "NBLs waiting in the driver's software queue for room in the ring", int64(s.TxQueued)),
		gauge("tx_ring", "descriptors in the transmit ring (posted, or done and not yet reaped)", int64(s.TxRing)),

		counter("rx_frames", "frames the hardware wrote into receive buffers", s.RxFrames),
		counter("rx_filtered", "frames the hardware filter dropped", s.RxFiltered),
		counter("rx_errors", "frames lost for their length (longer than the MTU allows)", s.RxErrors),
		counter("rx_dropped", "frames lost because the device was resetting, dead or its link down", s.RxDropped),
		counter("rx_discarded", "frames the driver threw away because the adapter was paused", s.RxDiscarded),
		gauge("rx_held", "receive NBLs indicated and not yet returned", s.RxHeld),

		counter("resets", "Reset calls", s.Resets),
		counter("resets_failed", "Reset calls that failed (fail_reset)", s.ResetsFailed),
		counter("resets_pended", "Reset calls answered NDIS_STATUS_PENDING (slow_reset)", s.ResetsPended),
		counter("addressing_lost", "resets that cleared the filter (lose_addressing)", s.AddressingLost),
		counter("hang_checks", "CheckForHang calls", s.HangChecks),
		counter("hangs_detected", "CheckForHang calls that answered true", s.HangsDetected),
		counter("oids_stuck", "OID requests held by stuck_oid", s.OidsStuck),
		gauge("failed", "1 while the device is dead after a failed reset", failed),
	}
	for _, k := range FaultKinds() {
		d := counter("faults_fired", "faults fired: timed ones when they happened, event ones when armed or struck", s.Fired[k])
		d.Labels = map[string]string{"fault": k.String()}
		ds = append(ds, d)
	}
	return ds
}
