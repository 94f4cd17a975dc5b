package porttest

import (
	"testing"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// PaymentsHarness is what the Payments suite drives. The gateway must
// approve every charge unless told to decline it.
type PaymentsHarness struct {
	// Payments is the adapter under test.
	Payments ports.Payments
	// Decline, when not nil, makes the gateway refuse saga's first charge
	// (a test card that is always declined, say); nil skips those clauses.
	Decline func(saga domain.SagaID)
	// Held, when not nil, returns the net amount the gateway holds for saga
	// (charged minus refunded), so the suite can see that money moved
	// exactly once; nil skips those checks.
	Held func(saga domain.SagaID) int64
}

// Payments checks the ports.Payments contract.
func Payments(t *testing.T, newHarness func(t *testing.T) PaymentsHarness) {
	run := func(name string, test func(t *testing.T, h PaymentsHarness)) {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			if h.Payments == nil {
				t.Fatal("harness needs Payments")
			}
			test(t, h)
		})
	}
	wantHeld := func(t *testing.T, h PaymentsHarness, saga domain.SagaID, want int64, when string) {
		t.Helper()
		if h.Held == nil {
			return
		}
		if got := h.Held(saga); got != want {
			t.Fatalf("%s: gateway holds %d for %s, want %d", when, got, saga, want)
		}
	}
	refund := func(t *testing.T, h PaymentsHarness, saga domain.SagaID, want bool, when string) {
		t.Helper()
		charged, err := h.Payments.Refund(t.Context(), saga)
		must(t, err, when)
		if charged != want {
			t.Fatalf("%s: refund answered charged=%v, want %v", when, charged, want)
		}
	}

	run("Charge takes the amount", func(t *testing.T, h PaymentsHarness) {
		must(t, h.Payments.Charge(t.Context(), "s-1", 2599), "charge")
		wantHeld(t, h, "s-1", 2599, "after charge")
	})

	run("Charge again never charges again and returns the first answer", func(t *testing.T, h PaymentsHarness) {
		must(t, h.Payments.Charge(t.Context(), "s-1", 2599), "charge")
		must(t, h.Payments.Charge(t.Context(), "s-1", 2599), "charge again")
		wantHeld(t, h, "s-1", 2599, "after two charges")
		refund(t, h, "s-1", true, "refund")
		wantHeld(t, h, "s-1", 0, "after refunding: one charge, one refund")
	})

	run("Refund gives back the charge and answers true, again without refunding more", func(t *testing.T, h PaymentsHarness) {
		must(t, h.Payments.Charge(t.Context(), "s-1", 2599), "charge")
		refund(t, h, "s-1", true, "refund")
		wantHeld(t, h, "s-1", 0, "after refund")
		refund(t, h, "s-1", true, "refund again")
		wantHeld(t, h, "s-1", 0, "after a second refund")
	})

	run("Charge after Refund takes nothing", func(t *testing.T, h PaymentsHarness) {
		must(t, h.Payments.Charge(t.Context(), "s-1", 2599), "charge")
		refund(t, h, "s-1", true, "refund")
		_ = h.Payments.Charge(t.Context(), "s-1", 2599) // its answer is the first one: nil
		wantHeld(t, h, "s-1", 0, "after a charge following the refund")
	})

	run("Refund of a saga never charged answers false, twice", func(t *testing.T, h PaymentsHarness) {
		refund(t, h, "s-never", false, "refund")
		refund(t, h, "s-never", false, "refund again")
		wantHeld(t, h, "s-never", 0, "after refunds of nothing")
	})

	run("A declined charge returns ErrPaymentDeclined, takes nothing and stays declined", func(t *testing.T, h PaymentsHarness) {
		if h.Decline == nil {
			t.Skip("harness cannot make the gateway decline")
		}
		h.Decline("s-1")
		wantErr(t, h.Payments.Charge(t.Context(), "s-1", 2599), domain.ErrPaymentDeclined, "charge")
		wantErr(t, h.Payments.Charge(t.Context(), "s-1", 2599), domain.ErrPaymentDeclined, "charge again")
		wantHeld(t, h, "s-1", 0, "after declines")
		refund(t, h, "s-1", false, "refund of a declined saga")
	})

	run("A call with a done context returns ErrUnavailable", func(t *testing.T, h PaymentsHarness) {
		done := doneContext(t)
		wantUnavailable(t, h.Payments.Charge(done, "s-1", 2599), "charge")
		_, err := h.Payments.Refund(done, "s-1")
		wantUnavailable(t, err, "refund")
		// The charge's outcome is unknown; compensating with Refund leaves
		// nothing taken either way.
		if _, err := h.Payments.Refund(t.Context(), "s-1"); err != nil {
			t.Fatalf("refund after an unknown outcome: %v", err)
		}
		wantHeld(t, h, "s-1", 0, "after compensating")
	})

	run("race: 50 charges of one saga charge once", func(t *testing.T, h PaymentsHarness) {
		errs := race(50, func(int) error { return h.Payments.Charge(t.Context(), "s-1", 2599) })
		if ok, _, other := countErrs(errs); ok != 50 {
			t.Fatalf("%d charges answered ok, other errors %v; want all 50 to agree", ok, other)
		}
		wantHeld(t, h, "s-1", 2599, "after 50 charges")
		refund(t, h, "s-1", true, "refund")
		wantHeld(t, h, "s-1", 0, "after refund")
	})
}
