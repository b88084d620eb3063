package ndis_test

import (
	"testing"
	"time"

	"github.com/gondis/gondis/ndis"
	"github.com/gondis/gondis/ndis/ndistest"
)

// TestVerifierRules provokes each rule once with a deliberately buggy
// driver or protocol, and checks that it is reported by name and that the
// runtime goes on working.
func TestVerifierRules(t *testing.T) {
	cases := []struct {
		rule    string
		provoke func(e *env, a *ndis.Adapter, b *ndis.Binding)
	}{
		{ndis.RuleOidDoubleComplete, func(e *env, a *ndis.Adapter, b *ndis.Binding) {
			var held *ndis.OidRequest
			e.fake.Do(func(f *ndistest.Fake) {
				f.OnOid = func(r *ndis.OidRequest) ndis.Status { held = r; return ndis.StatusSuccess }
			})
			ndistest.SetUlong(e.ctx, b, 0xFF000001, 1)
			a.OidRequestComplete(held, ndis.StatusSuccess) // already completed by its return
		}},
		{ndis.RuleOidComplete, func(e *env, a *ndis.Adapter, b *ndis.Binding) {
			e.fake.Do(func(f *ndistest.Fake) { f.PendOIDs = true })
			go ndistest.SetUlong(e.ctx, b, 0xFF000001, 1)
			ndistest.Eventually(e.t, func() bool { return e.fake.PendingOIDs() == 1 }, "request pending")
			e.fake.CompleteOID(ndis.StatusPending)
		}},
		{ndis.RuleSendDoubleComplete, func(e *env, a *ndis.Adapter, b *ndis.Binding) {
			l := ndis.NewNetBufferList(frame(ndis.BroadcastAddress, "x"))
			b.SendNetBufferLists(l) // completed inline by the fake
			a.SendNetBufferListsComplete(l)
		}},
		{ndis.RuleReturnNotIndicated, func(e *env, a *ndis.Adapter, b *ndis.Binding) {
			b.ReturnNetBufferLists(ndis.NewNetBufferList(frame(ndis.BroadcastAddress, "never indicated")))
		}},
		{ndis.RulePauseCompleteWithoutPending, func(e *env, a *ndis.Adapter, b *ndis.Binding) {
			a.PauseComplete()
		}},
		{ndis.RuleRestartCompleteWithoutPending, func(e *env, a *ndis.Adapter, b *ndis.Binding) {
			a.RestartComplete(ndis.StatusSuccess)
		}},
		{ndis.RuleCallAfterHalt, func(e *env, a *ndis.Adapter, b *ndis.Binding) {
			if err := e.rt.RemoveAdapter(e.ctx, a.Name()); err != nil {
				e.t.Fatal(err)
			}
			a.IndicateStatus(ndis.StatusMediaConnect, nil)
		}},
		{ndis.RuleTimedOidComplete, func(e *env, a *ndis.Adapter, b *ndis.Binding) {
			e.fake.Do(func(f *ndistest.Fake) { f.PendOIDs = true })
			go ndistest.SetUlong(e.ctx, b, 0xFF000001, 1)
			ndistest.Eventually(e.t, func() bool { return e.fake.PendingOIDs() == 1 }, "request pending")
			e.ticks(1, 12*time.Second)
		}},
		{ndis.RuleTimedDataSend, func(e *env, a *ndis.Adapter, b *ndis.Binding) {
			e.fake.Do(func(f *ndistest.Fake) { f.HoldSends = true })
			b.SendNetBufferLists(ndis.NewNetBufferList(frame(ndis.BroadcastAddress, "stuck")))
			e.v.Expect(ndis.RuleTimedDataHang) // no completion for 22 s either
			e.ticks(16, 2*time.Second)
		}},
		{ndis.RuleTimedDataHang, func(e *env, a *ndis.Adapter, b *ndis.Binding) {
			e.fake.Do(func(f *ndistest.Fake) { f.HoldSends = true })
			b.SendNetBufferLists(ndis.NewNetBufferList(frame(ndis.BroadcastAddress, "stuck")))
			e.ticks(12, 2*time.Second)
		}},
		{ndis.RuleInvalidCall, func(e *env, a *ndis.Adapter, b *ndis.Binding) {
			a.IndicateStatus(ndis.StatusResetStart, nil)
		}},
	}
	for _, c := range cases {
		t.Run(c.rule, func(t *testing.T) {
			var opts []ndis.Option
			if c.rule == ndis.RuleTimedOidComplete {
				// One 12 s tick: the verifier sees the OID before the OID
				// time-out (two ticks) would reset it away.
				opts = append(opts, ndis.WithCheckForHangInterval(12*time.Second))
			}
			e := newEnv(t, opts...)
			e.v.Expect(c.rule)
			a := e.adapter("eth0")
			b, _ := e.bind("eth0")
			c.provoke(e, a, b)
			v := e.v.Wait(t, c.rule)
			if v.Adapter != "eth0" || v.Detail == "" {
				t.Errorf("violation %+v lacks its adapter or detail", v)
			}
			// Leave the adapter clean for Close.
			e.fake.Do(func(f *ndistest.Fake) { f.HoldSends, f.PendOIDs, f.OnOid = false, false, nil })
			e.fake.CompleteHeld(ndis.StatusSuccess)
			for e.fake.CompleteOID(ndis.StatusSuccess) {
			}
		})
	}
}

func TestVerifierOffStillIgnoresBadCalls(t *testing.T) {
	rt := ndis.New(ndis.WithVerifier(ndis.VerifierOff), ndis.WithViolationHandler(func(v ndis.Violation) {
		t.Errorf("handler called with the verifier off: %v", v)
	}))
	fake := ndistest.NewFake()
	if err := rt.RegisterMiniportDriver(fake.Driver("fake", ndis.Version630)); err != nil {
		t.Fatal(err)
	}
	a, err := rt.AddAdapter(t.Context(), "eth0", "fake", nil)
	if err != nil {
		t.Fatal(err)
	}
	a.PauseComplete()
	a.ResetComplete(ndis.StatusSuccess, false)
	if a.State() != ndis.AdapterRunning {
		t.Errorf("state %s", a.State())
	}
	if n := a.Stats().Violations; n != 2 {
		t.Errorf("%d violations counted, want 2", n)
	}
	if err := rt.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
}
