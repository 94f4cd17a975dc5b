package app_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/flashsale/flashsale/adapters/payment"
	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
)

// The seed's scenarios (PRODUCT.md), for each lock strategy.

func TestTwoBuyersStockOne(t *testing.T) {
	for _, s := range app.Strategies() {
		t.Run(string(s), func(t *testing.T) {
			w := newWorld(t)
			a, b := w.app(s, "app-1"), w.app(s, "app-2")
			w.supply(a, "p", 1)

			errs := buyAtOnce([]*app.App{a, b}, domain.PurchaseRequest{ProductID: "p", Qty: 1})
			var ok, told int
			for _, err := range errs {
				switch {
				case err == nil:
					ok++
				case errors.Is(err, domain.ErrInsufficientStock):
					told++
				case s == app.StrategyLock && errors.Is(err, domain.ErrLockBusy):
					told++ // the seed: "product being processed, retry"
				default:
					t.Fatalf("unexpected error: %v", err)
				}
			}
			if ok != 1 || told != 1 {
				t.Fatalf("got %d orders and %d refusals, want 1 and 1", ok, told)
			}
			w.settle(a)
			w.assertOK(w.restViolations())
		})
	}
}

func TestTenBuyersStockNine(t *testing.T) {
	for _, s := range app.Strategies() {
		t.Run(string(s), func(t *testing.T) {
			w := newWorld(t)
			apps := []*app.App{w.app(s, "app-1"), w.app(s, "app-2")}
			w.supply(apps[0], "p", 9)

			var wg sync.WaitGroup
			results := make([]error, 10)
			start := make(chan struct{})
			for i := range results {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					// Buyers retry while told to (lock busy, contention), as
					// the seed's users 2-9 do.
					for {
						_, err := apps[i%2].Purchase(context.Background(), domain.PurchaseRequest{ProductID: "p", Qty: 1}, "")
						if !errors.Is(err, domain.ErrLockBusy) && !errors.Is(err, domain.ErrContention) {
							results[i] = err
							return
						}
					}
				}()
			}
			close(start)
			wg.Wait()

			var ok, insufficient int
			for _, err := range results {
				switch {
				case err == nil:
					ok++
				case errors.Is(err, domain.ErrInsufficientStock):
					insufficient++
				default:
					t.Fatalf("unexpected error: %v", err)
				}
			}
			if ok != 9 || insufficient != 1 {
				t.Fatalf("got %d orders and %d insufficient, want 9 and 1", ok, insufficient)
			}
			w.settle(apps[0])
			l, _ := w.inv.Level(context.Background(), "p")
			if l.Stock != 0 || l.Reserved != 0 {
				t.Fatalf("at rest: stock %d reserved %d, want 0 and 0", l.Stock, l.Reserved)
			}
			w.assertOK(w.restViolations())
		})
	}
}

func TestPaymentFailureCompensatesInReverse(t *testing.T) {
	cases := []struct {
		name    string
		outcome payment.Outcome
		want    error
		events  []domain.EventType
	}{
		{"declined", payment.Decline, domain.ErrPaymentDeclined, []domain.EventType{
			domain.EventSagaStarted, domain.EventInventoryReserved, domain.EventOrderCreated,
			domain.EventOrderCancelled, domain.EventInventoryReleased, domain.EventSagaCompensated,
		}},
		{"timeout after the charge was taken", payment.TimeoutCharged, domain.ErrUnavailable, []domain.EventType{
			domain.EventSagaStarted, domain.EventInventoryReserved, domain.EventOrderCreated,
			domain.EventPaymentRefunded, domain.EventOrderCancelled, domain.EventInventoryReleased, domain.EventSagaCompensated,
		}},
		{"timeout before any charge", payment.TimeoutNotCharged, domain.ErrUnavailable, []domain.EventType{
			domain.EventSagaStarted, domain.EventInventoryReserved, domain.EventOrderCreated,
			domain.EventOrderCancelled, domain.EventInventoryReleased, domain.EventSagaCompensated,
		}},
	}
	for _, s := range app.Strategies() {
		for _, tc := range cases {
			t.Run(string(s)+"/"+tc.name, func(t *testing.T) {
				w := newWorld(t)
				a := w.app(s, "app-1")
				w.supply(a, "p", 5)
				w.outcome = tc.outcome
				ctx := context.Background()

				_, err := a.Purchase(ctx, domain.PurchaseRequest{ProductID: "p", Qty: 2}, "")
				var ce *app.CompensatedError
				if !errors.As(err, &ce) || !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want a compensated %v", err, tc.want)
				}
				if _, err := a.RelayEvents(ctx); err != nil {
					t.Fatal(err)
				}
				got := eventTypes(w.events.Timeline(ce.Saga.ID))
				if !equal(got, tc.events) {
					t.Fatalf("published events\n got %v\nwant %v", got, tc.events)
				}
				// Stock restored at once, not at rest.
				l, _ := w.inv.Level(ctx, "p")
				p, _ := w.store.Product(ctx, "p")
				if l.Stock != 5 || l.Reserved != 0 || p.Stock != 5 {
					t.Fatalf("gate stock %d reserved %d, durable stock %d; want 5, 0, 5", l.Stock, l.Reserved, p.Stock)
				}
				if ce.Saga.Status != domain.SagaCompensated || ce.Saga.Order.Status != domain.OrderCancelled {
					t.Fatalf("saga %s order %s, want COMPENSATED and CANCELLED", ce.Saga.Status, ce.Saga.Order.Status)
				}
				// Running the compensation again changes nothing (I4).
				before := len(w.store.Sagas()[0].Events)
				w.settle(a)
				if after := len(w.store.Sagas()[0].Events); after != before {
					t.Fatalf("a second pass added %d events", after-before)
				}
				w.assertOK(w.restViolations())
			})
		}
	}
}

func TestLockBusyIsAnsweredAtOnce(t *testing.T) {
	w := newWorld(t)
	a := w.app(app.StrategyLock, "app-1")
	w.supply(a, "p", 5)
	ctx := context.Background()
	// Another buyer's saga holds the product's lock.
	if err := w.locker.Acquire(ctx, app.LockKey("p"), "someone-else", a.Config().LockTTL); err != nil {
		t.Fatal(err)
	}
	_, err := a.Purchase(ctx, domain.PurchaseRequest{ProductID: "p", Qty: 1}, "")
	if !errors.Is(err, domain.ErrLockBusy) {
		t.Fatalf("err = %v, want ErrLockBusy", err)
	}
	// Answered without waiting or touching anything.
	if !w.clock.Now().Equal(epoch) {
		t.Fatal("the clock moved: the purchase waited for the lock")
	}
	l, _ := w.inv.Level(ctx, "p")
	if l.Reserved != 0 || len(w.store.Sagas()) != 0 {
		t.Fatalf("a refused purchase changed state: reserved %d, sagas %d", l.Reserved, len(w.store.Sagas()))
	}
	// The holder's lock is intact: it can still release it.
	if err := w.locker.Release(ctx, app.LockKey("p"), "someone-else"); err != nil {
		t.Fatalf("holder's release: %v", err)
	}
	if _, err := a.Purchase(ctx, domain.PurchaseRequest{ProductID: "p", Qty: 1}, ""); err != nil {
		t.Fatalf("purchase after the lock was freed: %v", err)
	}
}

func buyAtOnce(apps []*app.App, req domain.PurchaseRequest) []error {
	errs := make([]error, len(apps))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, a := range apps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = a.Purchase(context.Background(), req, "")
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

func eventTypes(evs []domain.Event) []domain.EventType {
	out := make([]domain.EventType, len(evs))
	for i, e := range evs {
		out[i] = e.Type
	}
	return out
}

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
