package payment_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/payment"
	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports/porttest"
)

func newGateway(t *testing.T, opts payment.Options) *payment.Simulated {
	t.Helper()
	g, err := payment.NewSimulated(opts)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// held is what the gateway holds for saga net of refunds.
func held(g *payment.Simulated, saga domain.SagaID) int64 {
	e := g.Ledger()[saga]
	if e.Charged && !e.Refunded {
		return e.AmountMinor
	}
	return 0
}

func TestPaymentsContract(t *testing.T) {
	porttest.Payments(t, func(t *testing.T) porttest.PaymentsHarness {
		g := newGateway(t, payment.Options{})
		var declined sync.Map
		g.SetDecider(func(saga domain.SagaID) payment.Outcome {
			if _, ok := declined.Load(saga); ok {
				return payment.Decline
			}
			return payment.Approve
		})
		return porttest.PaymentsHarness{
			Payments: g,
			Decline:  func(saga domain.SagaID) { declined.Store(saga, true) },
			Held:     func(saga domain.SagaID) int64 { return held(g, saga) },
		}
	})
}

func TestPaymentsContractWithLatency(t *testing.T) {
	porttest.Payments(t, func(t *testing.T) porttest.PaymentsHarness {
		g := newGateway(t, payment.Options{Latency: time.Millisecond})
		return porttest.PaymentsHarness{Payments: g, Held: func(saga domain.SagaID) int64 { return held(g, saga) }}
	})
}

func TestTimeoutsAnswerUnavailableWhetherOrNotTheChargeWentThrough(t *testing.T) {
	for _, tc := range []struct {
		outcome payment.Outcome
		charged bool
	}{
		{payment.TimeoutCharged, true},
		{payment.TimeoutNotCharged, false},
	} {
		t.Run(tc.outcome.String(), func(t *testing.T) {
			g := newGateway(t, payment.Options{})
			g.SetDecider(func(domain.SagaID) payment.Outcome { return tc.outcome })
			for i := range 2 { // the first answer is replayed
				if err := g.Charge(t.Context(), "s-1", 500); !errors.Is(err, domain.ErrUnavailable) {
					t.Fatalf("charge %d: %v, want ErrUnavailable", i, err)
				}
			}
			if e := g.Ledger()["s-1"]; e.Charged != tc.charged || e.AmountMinor != 500 {
				t.Fatalf("ledger %+v, want charged=%v", e, tc.charged)
			}
			charged, err := g.Refund(t.Context(), "s-1")
			if err != nil || charged != tc.charged {
				t.Fatalf("refund answered %v, %v; want %v", charged, err, tc.charged)
			}
			if got, want := g.RefundsApplied(), map[bool]int64{true: 1, false: 0}[tc.charged]; got != want {
				t.Fatalf("%d refunds applied, want %d", got, want)
			}
		})
	}
}

func TestDeciderIsConsultedOncePerSaga(t *testing.T) {
	g := newGateway(t, payment.Options{})
	var calls int
	g.SetDecider(func(domain.SagaID) payment.Outcome { calls++; return payment.Approve })
	for range 3 {
		if err := g.Charge(t.Context(), "s-1", 100); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 1 || g.ChargesApplied() != 1 {
		t.Fatalf("decider called %d times, %d charges applied; want 1 and 1", calls, g.ChargesApplied())
	}
	g.SetDecider(nil) // back to the rates, which approve everything
	if err := g.Charge(t.Context(), "s-2", 100); err != nil {
		t.Fatal(err)
	}
}

func TestRatesDecideDeterministicallyFromTheSeed(t *testing.T) {
	opts := payment.Options{DeclineRate: 0.3, TimeoutRate: 0.3, Seed: 42}
	run := func() map[domain.SagaID]payment.Entry {
		g := newGateway(t, opts)
		for i := range 200 {
			_ = g.Charge(t.Context(), domain.SagaID(fmt.Sprintf("s-%03d", i)), 100)
		}
		return g.Ledger()
	}
	first, second := run(), run()
	if !maps.Equal(first, second) {
		t.Fatal("two runs with the same seed decided differently")
	}
	var declined, charged, lost int
	for _, e := range first {
		switch {
		case e.Declined:
			declined++
		case e.Charged:
			charged++
		default:
			lost++ // timed out and not charged
		}
	}
	// 200 draws at 30/30/40: each kind is present, none dominates.
	if declined < 30 || declined > 90 || lost < 10 || charged < 60 {
		t.Fatalf("declined %d, charged %d, lost timeouts %d out of 200", declined, charged, lost)
	}
	opts.Seed = 43
	if maps.Equal(first, run()) {
		t.Fatal("another seed made exactly the same 200 decisions")
	}
}

func TestLatencyHonoursTheContext(t *testing.T) {
	g := newGateway(t, payment.Options{Latency: time.Hour})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	began := time.Now()
	err := g.Charge(ctx, "s-1", 100)
	if !errors.Is(err, domain.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("charge past its deadline: %v, want ErrUnavailable and DeadlineExceeded", err)
	}
	if waited := time.Since(began); waited > 10*time.Second {
		t.Fatalf("charge waited %v for a 20ms deadline", waited)
	}
	if _, seen := g.Ledger()["s-1"]; seen {
		t.Fatal("a charge that never reached the gateway was decided")
	}
}

func TestChargeAfterRefundOfNothingIsRefused(t *testing.T) {
	g := newGateway(t, payment.Options{})
	charged, err := g.Refund(t.Context(), "s-1")
	if err != nil || charged {
		t.Fatalf("refund before any charge: %v, %v", charged, err)
	}
	if err := g.Charge(t.Context(), "s-1", 100); !errors.Is(err, domain.ErrPaymentDeclined) {
		t.Fatalf("charge after the saga was compensated: %v, want ErrPaymentDeclined", err)
	}
	if e := g.Ledger()["s-1"]; e.Charged || !e.Voided || g.ChargesApplied() != 0 {
		t.Fatalf("ledger %+v with %d charges applied", e, g.ChargesApplied())
	}
}

func TestChargeOfAnotherAmountForADecidedSagaIsAMismatch(t *testing.T) {
	g := newGateway(t, payment.Options{})
	if err := g.Charge(t.Context(), "s-1", 100); err != nil {
		t.Fatal(err)
	}
	if err := g.Charge(t.Context(), "s-1", 250); !errors.Is(err, domain.ErrIdempotencyMismatch) {
		t.Fatalf("charge of another amount: %v, want ErrIdempotencyMismatch", err)
	}
	if e := g.Ledger()["s-1"]; e.AmountMinor != 100 || g.ChargesApplied() != 1 {
		t.Fatalf("ledger %+v with %d charges after a mismatched charge", e, g.ChargesApplied())
	}
	if err := g.Charge(t.Context(), "s-1", 100); err != nil {
		t.Fatalf("retry with the first amount: %v", err)
	}
}

func TestChargeRefusesMalformedRequests(t *testing.T) {
	g := newGateway(t, payment.Options{})
	for name, err := range map[string]error{
		"empty saga":    g.Charge(t.Context(), "", 100),
		"zero amount":   g.Charge(t.Context(), "s-1", 0),
		"negative":      g.Charge(t.Context(), "s-1", -5),
		"bad saga char": g.Charge(t.Context(), "s 1", 100),
	} {
		if !errors.Is(err, domain.ErrInvalidInput) {
			t.Fatalf("%s: %v, want ErrInvalidInput", name, err)
		}
	}
	if len(g.Ledger()) != 0 {
		t.Fatalf("malformed charges were recorded: %v", g.Ledger())
	}
}

func TestNewSimulatedRefusesImpossibleOptions(t *testing.T) {
	for _, opts := range []payment.Options{
		{Latency: -time.Second},
		{DeclineRate: -0.1},
		{TimeoutRate: 1.5},
		{DeclineRate: 0.6, TimeoutRate: 0.6},
		{DeclineRate: nan()},
	} {
		if _, err := payment.NewSimulated(opts); !errors.Is(err, domain.ErrInvalidInput) {
			t.Fatalf("options %+v: %v, want ErrInvalidInput", opts, err)
		}
	}
	if _, err := payment.NewSimulated(payment.Options{DeclineRate: 0.5, TimeoutRate: 0.5}); err != nil {
		t.Fatalf("rates summing to 1: %v", err)
	}
}

func nan() float64 {
	zero := 0.0
	return zero / zero
}

func TestDeciderReturningAnUnknownOutcomePanics(t *testing.T) {
	g := newGateway(t, payment.Options{})
	g.SetDecider(func(domain.SagaID) payment.Outcome { return 0 })
	defer func() {
		if recover() == nil {
			t.Fatal("no panic")
		}
		// The gateway's lock was released on the way out.
		g.SetDecider(nil)
	}()
	_ = g.Charge(t.Context(), "s-1", 100)
}
