package app_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/flashsale/flashsale/adapters/payment"
	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
)

// TestPurchaseStateMachine drives three app instances (one per strategy)
// over one set of memory adapters with a random sequence of purchases,
// payment failures, crashes, clock advances, recoveries, duplicate
// idempotent requests and restocks. After every action it checks I1 and
// I4; at the end it brings the world to rest and checks I2 to I7 (the
// checker the simulator uses too: sim/invariant). Failures shrink to a
// minimal sequence, and rapid writes it under testdata/rapid, where it
// replays on every run.
func TestPurchaseStateMachine(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		m := newMachine(rt)
		rt.Repeat(rapid.StateMachineActions(m))
		m.w.settle(m.apps[0])
		m.w.assertOK(m.w.restViolations()) // I5 and I7 on the answers recorded in m.w
	})
}

var machineProducts = []domain.ProductID{"a", "b", "c"}

type machine struct {
	w    *world
	apps []*app.App
	// tried records every request sent with each key.
	tried map[string][]domain.PurchaseRequest
}

func (m *machine) triedOther(key string, req domain.PurchaseRequest) bool {
	for _, r := range m.tried[key] {
		if r != req {
			return true
		}
	}
	return false
}

func newMachine(t *rapid.T) *machine {
	w := newWorld(t)
	w.acked, w.keyOrders = map[domain.SagaID]bool{}, map[string]map[domain.OrderID]bool{}
	m := &machine{w: w, tried: map[string][]domain.PurchaseRequest{}}
	for i, s := range app.Strategies() {
		m.apps = append(m.apps, w.app(s, fmt.Sprintf("app-%d-%s", i, s)))
	}
	for _, p := range machineProducts {
		w.supply(m.apps[0], p, rapid.Int64Range(0, 6).Draw(t, "stock-"+string(p)))
	}
	return m
}

// Purchase buys with a random instance, product, quantity, payment outcome,
// optional idempotency key and optional crash point.
func (m *machine) Purchase(t *rapid.T) {
	a := rapid.SampledFrom(m.apps).Draw(t, "app")
	req := domain.PurchaseRequest{
		ProductID: rapid.SampledFrom(machineProducts).Draw(t, "product"),
		Qty:       rapid.Int64Range(1, 4).Draw(t, "qty"),
	}
	key := ""
	if rapid.Bool().Draw(t, "with-key") {
		key = rapid.SampledFrom([]string{"k1", "k2", "k3"}).Draw(t, "key")
	}
	m.w.outcome = rapid.SampledFrom([]payment.Outcome{
		payment.Approve, payment.Approve, payment.Approve, payment.Decline,
		payment.TimeoutCharged, payment.TimeoutNotCharged,
	}).Draw(t, "payment")
	crashAt := app.CrashPoint("")
	if rapid.IntRange(0, 4).Draw(t, "crash?") == 0 {
		crashAt = rapid.SampledFrom(app.CrashPoints()).Draw(t, "crash-at")
	}
	m.w.crash = func(_ domain.SagaID, p app.CrashPoint) bool { return p == crashAt }
	defer func() { m.w.crash = nil }()

	s, err := a.Purchase(context.Background(), req, key)
	var ce *app.CompensatedError
	switch {
	case err == nil:
		if s.Status != domain.SagaCompleted || s.Order.Status != domain.OrderConfirmed {
			t.Fatalf("a successful purchase returned saga %s, order %s", s.Status, s.Order.Status)
		}
		m.w.acked[s.ID] = true
	case errors.As(err, &ce):
		if ce.Saga.Status != domain.SagaCompensated {
			t.Fatalf("compensated error with saga %s", ce.Saga.Status)
		}
	case errors.Is(err, domain.ErrInsufficientStock), errors.Is(err, domain.ErrLockBusy),
		errors.Is(err, domain.ErrContention), errors.Is(err, domain.ErrRequestInProgress),
		errors.Is(err, app.ErrCrashed), errors.Is(err, domain.ErrReservationReleased):
	case errors.Is(err, domain.ErrIdempotencyMismatch):
		// A key is bound to its first attempt (as the HTTP idempotency
		// store binds it to the first body): only another request with
		// the same key may be refused.
		if !m.triedOther(key, req) {
			t.Fatalf("mismatch reported for key %q with %+v, tried before with %v", key, req, m.tried[key])
		}
	default:
		t.Fatalf("unexpected purchase error: %v", err)
	}
	if key == "" {
		return
	}
	m.tried[key] = append(m.tried[key], req)
	if err == nil {
		orders, ok := m.w.keyOrders[key]
		if !ok {
			orders = map[domain.OrderID]bool{}
			m.w.keyOrders[key] = orders
		}
		orders[s.Order.ID] = true
	}
}

// Restock supplies more of a product.
func (m *machine) Restock(t *rapid.T) {
	p := rapid.SampledFrom(machineProducts).Draw(t, "product")
	m.w.supply(m.apps[0], p, rapid.Int64Range(1, 5).Draw(t, "add"))
}

// Tick moves the clock, so leases, reservations and locks may expire.
func (m *machine) Tick(t *rapid.T) {
	m.w.clock.Advance(time.Duration(rapid.IntRange(1, 90).Draw(t, "seconds")) * time.Second)
}

// Background runs one round of recovery, the reaper and the relay on a
// random instance, as its background loop would.
func (m *machine) Background(t *rapid.T) {
	a := rapid.SampledFrom(m.apps).Draw(t, "app")
	ctx := context.Background()
	if _, err := a.RecoverStale(ctx); err != nil {
		t.Fatalf("recover: %v", err)
	}
	if _, err := a.ReapExpired(ctx); err != nil {
		t.Fatalf("reap: %v", err)
	}
	if _, err := a.RelayEvents(ctx); err != nil {
		t.Fatalf("relay: %v", err)
	}
}

// Check runs after every action: I1 and I4 hold at every moment.
func (m *machine) Check(t *rapid.T) {
	for _, v := range m.w.violations() {
		t.Fatal(v.String())
	}
}
