package netstack_test

import (
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gondis/gondis/miniport/sim"
	"github.com/gondis/gondis/ndis"
)

// envInt reads a positive integer from the environment, or returns def.
func envInt(t testing.TB, key string, def int) int {
	t.Helper()
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", key, v)
	}
	return n
}

// stream is the deterministic byte stream a side sends: ChaCha8 from a
// seed.
func stream(seed byte) io.Reader { return rand.NewChaCha8([32]byte{seed}) }

// flow is one direction of a transfer: what was sent and what arrived,
// hashed, and how far it got.
type flow struct {
	sent, got [sha256.Size]byte
	received  atomic.Int64
	err       error
}

// duplex moves n bytes each way over the connection pair ca–cb at once
// and returns the two flows: a to b, b to a. progress, if not nil, is
// added every byte received either way.
func duplex(ca, cb net.Conn, n int64, progress *atomic.Int64) (ab, ba *flow) {
	ab, ba = &flow{}, &flow{}
	var wg sync.WaitGroup
	var errMu sync.Mutex
	fail := func(f *flow, err error) {
		errMu.Lock()
		if f.err == nil {
			f.err = err
		}
		errMu.Unlock()
		ca.Close() // unblock everyone
		cb.Close()
	}
	send := func(c net.Conn, f *flow, seed byte) {
		defer wg.Done()
		h := sha256.New()
		if _, err := io.Copy(io.MultiWriter(c, h), io.LimitReader(stream(seed), n)); err != nil {
			fail(f, fmt.Errorf("send: %w", err))
			return
		}
		h.Sum(f.sent[:0])
	}
	recv := func(c net.Conn, f *flow) {
		defer wg.Done()
		h := sha256.New()
		buf := make([]byte, 64<<10)
		for f.received.Load() < n {
			k, err := c.Read(buf[:min(int64(len(buf)), n-f.received.Load())])
			h.Write(buf[:k])
			f.received.Add(int64(k))
			if progress != nil {
				progress.Add(int64(k))
			}
			if err != nil {
				fail(f, fmt.Errorf("receive after %d bytes: %w", f.received.Load(), err))
				return
			}
		}
		h.Sum(f.got[:0])
	}
	wg.Add(4)
	go send(ca, ab, 'a')
	go recv(cb, ab)
	go send(cb, ba, 'b')
	go recv(ca, ba)
	wg.Wait()
	return ab, ba
}

// TestTCPAcrossResets: two stacks on a sim pair move GONDIS_NETSTACK_BYTES
// over one TCP connection, half each way at once (8 MiB by default; the
// full drill is 200000000), while each side's
// adapter is reset GONDIS_NETSTACK_RESETS times (10 by default), spread
// over the transfer: a's by fatal device errors (the driver asks for the
// reset), b's by the operator. Both streams arrive whole: the hashes match.
// The full drill sets GONDIS_NETSTACK_RESETS=100.
func TestTCPAcrossResets(t *testing.T) {
	n := int64(envInt(t, "GONDIS_NETSTACK_BYTES", 8<<20)) / 2 // each way
	resets := envInt(t, "GONDIS_NETSTACK_RESETS", 10)
	// The drill resets far more often than the runtime's escalation
	// allows (20 a minute); only failed resets escalate here.
	a, b := pair(t, nil, nil, ndis.WithResetEscalation(ndis.Escalation{MaxConsecutiveFailures: 3}))
	ca, cb := connect(t, a, b, 5001)

	var progress atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	resetter := func(h *host, reset func() error) {
		defer wg.Done()
		base := h.ifc.Stats().Resets
		for k := 1; k <= resets; k++ {
			for progress.Load() < int64(k)*2*n/int64(resets+1) { // spread over the transfer
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
				}
			}
			if err := reset(); err != nil {
				errs <- fmt.Errorf("%s: reset %d: %w", h.name, k, err)
				return
			}
			deadline := time.Now().Add(10 * time.Second)
			for h.ifc.Stats().Resets < base+uint64(k) {
				if time.Now().After(deadline) {
					errs <- fmt.Errorf("%s: no RESET_END for reset %d", h.name, k)
					return
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
	wg.Add(2)
	go resetter(a, func() error { a.dev.Inject(sim.FaultFatal); return nil })
	go resetter(b, func() error { return b.rt.ResetAdapter(b.name) })

	// A stuck transfer fails the test instead of hanging it.
	limit := 40*time.Second + time.Duration(n>>20)*time.Second
	var timedOut atomic.Bool
	timer := time.AfterFunc(limit, func() { timedOut.Store(true); ca.Close(); cb.Close() })
	start := time.Now()
	ab, ba := duplex(ca, cb, n, &progress)
	elapsed := time.Since(start)
	timer.Stop()
	if timedOut.Load() {
		t.Errorf("the transfer took longer than %v", limit)
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for _, f := range []struct {
		name string
		f    *flow
	}{{"a→b", ab}, {"b→a", ba}} {
		if f.f.err != nil {
			t.Errorf("%s: %v", f.name, f.f.err)
		} else if f.f.sent != f.f.got {
			t.Errorf("%s: sha256 sent %x, received %x", f.name, f.f.sent, f.f.got)
		}
	}
	sa, sb := a.ifc.Stats(), b.ifc.Stats()
	if sa.Resets < uint64(resets) || sb.Resets < uint64(resets) {
		t.Errorf("resets seen: a %d, b %d; want %d each", sa.Resets, sb.Resets, resets)
	}
	t.Logf("%d bytes each way in %v (%.1f MB/s both ways); resets a %d b %d; held a %d b %d; dropped a %+v b %+v; retransmits a %d b %d",
		n, elapsed.Round(time.Millisecond), float64(2*n)/elapsed.Seconds()/1e6, sa.Resets, sb.Resets,
		sa.FramesHeld, sb.FramesHeld, sa.Dropped, sb.Dropped, a.st.Stats().TCPRetransmits, b.st.Stats().TCPRetransmits)
	t.Logf("completions a %v; b %v", sa.Completed, sb.Completed)
}
