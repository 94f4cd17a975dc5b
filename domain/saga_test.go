package domain_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/flashsale/flashsale/domain"
)

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func started(t *testing.T) *domain.Saga {
	t.Helper()
	s, err := domain.Start(domain.StartParams{
		ID: "s-1", OrderID: "o-1", ProductID: "p", Qty: 2, AmountMinor: 2000,
		StartedAt: t0, ReservedAt: t0, Deadline: t0.Add(time.Minute),
		LeaseOwner: "app-1", LeaseUntil: t0.Add(30 * time.Second), Now: t0,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func types(s *domain.Saga) []domain.EventType {
	out := make([]domain.EventType, len(s.Events))
	for i, e := range s.Events {
		out[i] = e.Type
		if e.Seq != i+1 || e.ID != domain.EventID(s.ID, i+1) || e.SagaID != s.ID {
			panic("event numbering broken")
		}
	}
	return out
}

func wantTypes(t *testing.T, s *domain.Saga, want ...domain.EventType) {
	t.Helper()
	got := types(s)
	if len(got) != len(want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("events %v, want %v", got, want)
		}
	}
}

func TestStartIsRunningWithAPendingOrder(t *testing.T) {
	s := started(t)
	if s.Status != domain.SagaRunning || s.Order.Status != domain.OrderPending || !s.HasOrder() {
		t.Fatalf("saga %s, order %s", s.Status, s.Order.Status)
	}
	wantTypes(t, s, domain.EventSagaStarted, domain.EventInventoryReserved, domain.EventOrderCreated)
}

func TestStartRejectsBadParams(t *testing.T) {
	for name, p := range map[string]domain.StartParams{
		"no saga id":  {OrderID: "o", Qty: 1},
		"no order id": {ID: "s", Qty: 1},
		"zero qty":    {ID: "s", OrderID: "o"},
	} {
		if _, err := domain.Start(p); !errors.Is(err, domain.ErrInvalidInput) {
			t.Errorf("%s: %v, want ErrInvalidInput", name, err)
		}
	}
}

func TestCompleteIsIdempotentAndFinal(t *testing.T) {
	s := started(t)
	if err := s.Complete(t0); err != nil {
		t.Fatal(err)
	}
	if err := s.Complete(t0); err != nil {
		t.Fatalf("second Complete: %v", err)
	}
	wantTypes(t, s, domain.EventSagaStarted, domain.EventInventoryReserved, domain.EventOrderCreated,
		domain.EventPaymentProcessed, domain.EventOrderConfirmed)
	if s.Status != domain.SagaCompleted || s.Order.Status != domain.OrderConfirmed || !s.Charged {
		t.Fatalf("saga %s order %s charged %v", s.Status, s.Order.Status, s.Charged)
	}
	if err := s.BeginCompensation("late", t0); !errors.Is(err, domain.ErrInvalidTransition) {
		t.Fatalf("compensating a completed saga: %v, want ErrInvalidTransition", err)
	}
	if _, err := s.Order.Cancel(t0); !errors.Is(err, domain.ErrInvalidTransition) {
		t.Fatalf("cancelling a confirmed order: %v", err)
	}
}

func TestCompensationRunsInReverseAndOnce(t *testing.T) {
	s := started(t)
	if err := s.BeginCompensation("payment_declined", t0); err != nil {
		t.Fatal(err)
	}
	for range 2 { // every transition applied twice: the second is a no-op
		if err := s.RecordRefund(true, t0); err != nil {
			t.Fatal(err)
		}
		if err := s.CancelOrder(t0); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if err := s.FinishCompensation(t0); err != nil {
			t.Fatal(err)
		}
	}
	wantTypes(t, s, domain.EventSagaStarted, domain.EventInventoryReserved, domain.EventOrderCreated,
		domain.EventPaymentRefunded, domain.EventOrderCancelled, domain.EventInventoryReleased, domain.EventSagaCompensated)
	for _, e := range s.Events[3:] {
		if !e.Type.IsCompensation() || e.Reason != "payment_declined" {
			t.Fatalf("compensation event %+v", e)
		}
	}
	if err := s.Complete(t0); !errors.Is(err, domain.ErrInvalidTransition) {
		t.Fatalf("completing a compensated saga: %v", err)
	}
	// Late duplicates of compensation steps are harmless.
	if err := s.RecordRefund(true, t0); err != nil || len(s.Events) != 7 {
		t.Fatalf("late refund: %v, %d events", err, len(s.Events))
	}
}

func TestRefundOfAnUnchargedSagaEmitsNothing(t *testing.T) {
	s := started(t)
	_ = s.BeginCompensation("timeout", t0)
	if err := s.RecordRefund(false, t0); err != nil {
		t.Fatal(err)
	}
	if s.Refunded || len(s.Events) != 3 {
		t.Fatalf("refunded=%v events=%v", s.Refunded, types(s))
	}
}

func TestFinishBeforeCancelIsRefused(t *testing.T) {
	s := started(t)
	_ = s.BeginCompensation("x", t0)
	if err := s.FinishCompensation(t0); !errors.Is(err, domain.ErrInvalidTransition) {
		t.Fatalf("release before cancel: %v, want ErrInvalidTransition", err)
	}
	if err := started(t).FinishCompensation(t0); !errors.Is(err, domain.ErrInvalidTransition) {
		t.Fatalf("finish without beginning: %v", err)
	}
	if err := started(t).CancelOrder(t0); !errors.Is(err, domain.ErrInvalidTransition) {
		t.Fatalf("cancel of a running saga: %v", err)
	}
}

func TestAbortIsCompensatedWithoutAnOrder(t *testing.T) {
	r := domain.Reservation{SagaID: "s-9", ProductID: "p", Qty: 3, Deadline: t0}
	s := domain.Abort(r, "reservation_expired", t0)
	if s.HasOrder() || s.Status != domain.SagaCompensated || !s.Released || s.Stale(t0.Add(time.Hour)) {
		t.Fatalf("aborted saga %+v", s)
	}
	wantTypes(t, s, domain.EventSagaStarted, domain.EventInventoryReserved, domain.EventInventoryReleased, domain.EventSagaCompensated)
	if err := s.Claim("x", t0, t0); !errors.Is(err, domain.ErrInvalidTransition) {
		t.Fatalf("claiming a terminal saga: %v", err)
	}
}

func TestClaimAndStale(t *testing.T) {
	s := started(t) // leased by app-1 until t0+30s
	if s.Stale(t0.Add(29 * time.Second)) {
		t.Fatal("stale before its lease ran out")
	}
	if !s.Stale(t0.Add(30 * time.Second)) {
		t.Fatal("not stale at the end of its lease")
	}
	if err := s.Claim("app-2", t0.Add(10*time.Second), t0.Add(time.Minute)); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("claim under a live lease: %v, want ErrConflict", err)
	}
	if err := s.Claim("app-1", t0.Add(10*time.Second), t0.Add(time.Minute)); err != nil {
		t.Fatalf("owner renewing: %v", err)
	}
	if err := s.Claim("app-2", t0.Add(time.Minute), t0.Add(2*time.Minute)); err != nil || s.LeaseOwner != "app-2" {
		t.Fatalf("claim after expiry: %v, owner %s", err, s.LeaseOwner)
	}
}

func TestCloneDoesNotShareEvents(t *testing.T) {
	s := started(t)
	c := s.Clone()
	_ = c.Complete(t0)
	if len(s.Events) != 3 || s.Status != domain.SagaRunning {
		t.Fatalf("mutating the clone changed the original: %v", types(s))
	}
}

func TestPaymentEventsCarryTheAmount(t *testing.T) {
	s := started(t)
	_ = s.Complete(t0)
	for _, e := range s.Events {
		if (e.Type == domain.EventPaymentProcessed) != (e.AmountMinor == 2000) {
			t.Fatalf("event %s amount %d", e.Type, e.AmountMinor)
		}
		if e.OrderID != "o-1" || e.ProductID != "p" || e.Qty != 2 {
			t.Fatalf("event %+v", e)
		}
	}
}

func TestEventIDs(t *testing.T) {
	if !strings.HasPrefix(domain.EventID("s", 7), "s-") || domain.EventID("s", 7) == domain.EventID("s", 8) {
		t.Fatal("event IDs")
	}
}
