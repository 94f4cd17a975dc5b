package app_test

import (
	"context"
	"errors"
	"testing"

	"github.com/flashsale/flashsale/adapters/payment"
	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
)

// TestCrashAtEveryPoint kills the saga's process at each crash point; a
// second instance recovers, and at rest every invariant holds. A sale whose
// confirm committed before the crash stays sold; anything else compensates.
func TestCrashAtEveryPoint(t *testing.T) {
	for _, s := range app.Strategies() {
		for _, at := range app.CrashPoints() {
			t.Run(string(s)+"/"+string(at), func(t *testing.T) {
				w := newWorld(t)
				dying, survivor := w.app(s, "dying"), w.app(s, "survivor")
				w.supply(survivor, "p", 3)
				ctx := context.Background()
				if at == app.CrashCompensateBegun || at == app.CrashCompensateRefunded || at == app.CrashCompensateReleased {
					w.outcome = payment.TimeoutCharged // compensation runs, with a refund
				}
				w.crash = func(_ domain.SagaID, p app.CrashPoint) bool { return p == at }

				_, err := dying.Purchase(ctx, domain.PurchaseRequest{ProductID: "p", Qty: 2}, "")
				if !errors.Is(err, app.ErrCrashed) {
					t.Fatalf("err = %v, want the simulated crash", err)
				}
				w.crash, w.outcome = nil, payment.Approve
				w.settle(survivor)
				w.assertOK(w.restViolations())

				sagas := w.store.Sagas()
				if len(sagas) != 1 {
					t.Fatalf("%d sagas, want 1", len(sagas))
				}
				want := domain.SagaCompensated
				if at == app.CrashAfterConfirm {
					want = domain.SagaCompleted
				}
				if sagas[0].Status != want {
					t.Fatalf("saga ended %s, want %s", sagas[0].Status, want)
				}
				// The product sells normally afterwards (no leaked stock,
				// no lock left past its TTL).
				if _, err := survivor.Purchase(ctx, domain.PurchaseRequest{ProductID: "p", Qty: 1}, ""); err != nil {
					t.Fatalf("purchase after recovery: %v", err)
				}
			})
		}
	}
}

// TestTwoRecoverersActOnceEach: two instances recovering the same stale
// sagas at once compensate each exactly once (one event timeline, one
// refund).
func TestTwoRecoverersActOnceEach(t *testing.T) {
	w := newWorld(t)
	dying := w.app(app.StrategyNone, "dying")
	r1, r2 := w.app(app.StrategyNone, "r1"), w.app(app.StrategyNone, "r2")
	w.supply(r1, "p", 20)
	ctx := context.Background()
	w.crash = func(_ domain.SagaID, p app.CrashPoint) bool { return p == app.CrashAfterCharge }
	for range 10 {
		if _, err := dying.Purchase(ctx, domain.PurchaseRequest{ProductID: "p", Qty: 1}, ""); !errors.Is(err, app.ErrCrashed) {
			t.Fatalf("err = %v", err)
		}
	}
	w.crash = nil
	w.clock.Advance(dying.Config().LeaseTTL)

	counts := make(chan int, 2)
	start := make(chan struct{})
	for _, a := range []*app.App{r1, r2} {
		go func() {
			<-start
			n, err := a.RecoverStale(ctx)
			if err != nil {
				t.Error(err)
			}
			counts <- n
		}()
	}
	close(start)
	total := <-counts + <-counts
	if total != 10 {
		t.Fatalf("recovered %d sagas in all, want exactly 10", total)
	}
	if got := w.pay.RefundsApplied(); got != 10 {
		t.Fatalf("%d refunds, want 10", got)
	}
	w.settle(r1)
	w.assertOK(w.restViolations())
}

// TestReaperConfirmsACommittedSale: a reservation past its deadline whose
// saga completed is confirmed, never released (releasing would oversell).
func TestReaperConfirmsACommittedSale(t *testing.T) {
	w := newWorld(t)
	a := w.app(app.StrategyNone, "a")
	w.supply(a, "p", 1)
	ctx := context.Background()
	w.crash = func(_ domain.SagaID, p app.CrashPoint) bool { return p == app.CrashAfterConfirm }
	if _, err := a.Purchase(ctx, domain.PurchaseRequest{ProductID: "p", Qty: 1}, ""); !errors.Is(err, app.ErrCrashed) {
		t.Fatalf("err = %v", err)
	}
	w.crash = nil
	w.clock.Advance(a.Config().ReservationTTL)
	if n, err := a.ReapExpired(ctx); err != nil || n != 1 {
		t.Fatalf("reaped %d, %v; want 1", n, err)
	}
	l, _ := w.inv.Level(ctx, "p")
	if l.Stock != 0 || l.Reserved != 0 {
		t.Fatalf("gate stock %d reserved %d, want 0 and 0 (sold)", l.Stock, l.Reserved)
	}
	if _, err := a.Purchase(ctx, domain.PurchaseRequest{ProductID: "p", Qty: 1}, ""); !errors.Is(err, domain.ErrInsufficientStock) {
		t.Fatalf("a second buyer got %v, want insufficient stock", err)
	}
}

// TestReaperFencesALateCommit: a saga that reserved, then stalled past its
// reservation's deadline before its first commit, cannot commit after the
// reaper released its stock.
func TestReaperFencesALateCommit(t *testing.T) {
	w := newWorld(t)
	a := w.app(app.StrategyNone, "a")
	w.supply(a, "p", 1)
	ctx := context.Background()
	const key = "stalled"
	w.crash = func(_ domain.SagaID, p app.CrashPoint) bool { return p == app.CrashAfterReserve }
	if _, err := a.Purchase(ctx, domain.PurchaseRequest{ProductID: "p", Qty: 1}, key); !errors.Is(err, app.ErrCrashed) {
		t.Fatalf("err = %v", err)
	}
	w.crash = nil
	w.clock.Advance(a.Config().ReservationTTL)
	if n, err := a.ReapExpired(ctx); err != nil || n != 1 {
		t.Fatalf("reaped %d, %v; want 1", n, err)
	}
	// The client retries with the same key: it is told the purchase was
	// abandoned, and no order appears.
	_, err := a.Purchase(ctx, domain.PurchaseRequest{ProductID: "p", Qty: 1}, key)
	var ce *app.CompensatedError
	if !errors.As(err, &ce) || ce.Saga.Reason != app.ReasonReservationExpired {
		t.Fatalf("retry err = %v, want the compensated saga", err)
	}
	// The released unit is sold to someone else.
	if _, err := a.Purchase(ctx, domain.PurchaseRequest{ProductID: "p", Qty: 1}, ""); err != nil {
		t.Fatalf("next buyer: %v", err)
	}
	w.settle(a)
	w.assertOK(w.restViolations())
}

// TestIdempotencyKeyStartsOneSaga: concurrent and repeated purchases with
// one key start one saga and charge once (I5); another body is refused.
func TestIdempotencyKeyStartsOneSaga(t *testing.T) {
	w := newWorld(t)
	a, b := w.app(app.StrategyNone, "a"), w.app(app.StrategyNone, "b")
	w.supply(a, "p", 10)
	ctx := context.Background()
	req := domain.PurchaseRequest{ProductID: "p", Qty: 2}

	results := make(chan *domain.Saga, 8)
	start := make(chan struct{})
	for i := range 8 {
		go func() {
			<-start
			s, err := []*app.App{a, b}[i%2].Purchase(ctx, req, "key-1")
			if err != nil && !errors.Is(err, domain.ErrRequestInProgress) {
				t.Errorf("purchase: %v", err)
			}
			results <- s
		}()
	}
	close(start)
	var orders = map[domain.OrderID]bool{}
	for range 8 {
		if s := <-results; s != nil {
			orders[s.Order.ID] = true
		}
	}
	if len(orders) != 1 {
		t.Fatalf("%d distinct orders for one key, want 1", len(orders))
	}
	again, err := a.Purchase(ctx, req, "key-1")
	if err != nil || !orders[again.Order.ID] {
		t.Fatalf("repeat: %v, %v; want the same order", again, err)
	}
	if _, err := a.Purchase(ctx, domain.PurchaseRequest{ProductID: "p", Qty: 3}, "key-1"); !errors.Is(err, domain.ErrIdempotencyMismatch) {
		t.Fatalf("other body: %v, want ErrIdempotencyMismatch", err)
	}
	if n := w.pay.ChargesApplied(); n != 1 {
		t.Fatalf("%d charges, want 1", n)
	}
	l, _ := w.inv.Level(ctx, "p")
	if l.Stock != 8 {
		t.Fatalf("stock %d, want 8", l.Stock)
	}
}

// TestKeyRetriedWithOtherQtyAfterCrash is the case the state machine found:
// a key's first attempt reserves 1 and dies before committing; a retry with
// the same key asks for 2. It must not commit 2 against the reservation of
// 1 (the gate would then sell less than the store, and drift above it).
func TestKeyRetriedWithOtherQtyAfterCrash(t *testing.T) {
	w := newWorld(t)
	a := w.app(app.StrategyNone, "a")
	w.supply(a, "c", 2)
	ctx := context.Background()
	w.crash = func(_ domain.SagaID, p app.CrashPoint) bool { return p == app.CrashAfterReserve }
	if _, err := a.Purchase(ctx, domain.PurchaseRequest{ProductID: "c", Qty: 1}, "k1"); !errors.Is(err, app.ErrCrashed) {
		t.Fatalf("err = %v", err)
	}
	w.crash = nil
	if _, err := a.Purchase(ctx, domain.PurchaseRequest{ProductID: "c", Qty: 2}, "k1"); !errors.Is(err, domain.ErrIdempotencyMismatch) {
		t.Fatalf("retry with another qty: %v, want ErrIdempotencyMismatch", err)
	}
	// The same request again resumes the first attempt and buys 1.
	s, err := a.Purchase(ctx, domain.PurchaseRequest{ProductID: "c", Qty: 1}, "k1")
	if err != nil || s.Qty != 1 {
		t.Fatalf("retry of the first request: %v, %v", s, err)
	}
	w.settle(a)
	w.assertOK(w.restViolations())
}
