package app_test

import (
	"context"
	"sort"
	"time"

	"github.com/flashsale/flashsale/adapters/memory"
	"github.com/flashsale/flashsale/adapters/payment"
	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/sim/invariant"
)

// world is one set of memory adapters with any number of app instances on
// top (one per strategy, or several of one), as the production stack has
// several app servers over one Redis and one MySQL.
type world struct {
	t       tb
	clock   *memory.Clock
	ids     *memory.IDs
	inv     *memory.Inventory
	locker  *memory.Locker
	store   *memory.Store
	cache   *memory.ProductCache
	events  *memory.EventLog
	pay     *payment.Simulated
	crash   func(domain.SagaID, app.CrashPoint) bool
	outcome payment.Outcome // the gateway's answer to the next new charge
	// supplied is every unit ever supplied per product (I1's bound).
	supplied map[domain.ProductID]int64
	// acked and keyOrders are what buyers were told, for the tests that
	// record it: the sagas answered COMPLETED (I7), and the orders answered
	// per Idempotency-Key (I5).
	acked     map[domain.SagaID]bool
	keyOrders map[string]map[domain.OrderID]bool
}

// tb is what the world needs of *testing.T and *rapid.T.
type tb interface {
	Helper()
	Fatalf(format string, args ...any)
	Error(args ...any)
	FailNow()
}

var epoch = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func newWorld(t tb) *world {
	w := &world{t: t, clock: memory.NewClock(epoch), ids: memory.NewIDs("id"), supplied: map[domain.ProductID]int64{}}
	w.inv = memory.NewInventory(w.clock)
	w.locker = memory.NewLocker(w.clock)
	w.store = memory.NewStore(w.clock)
	w.cache = memory.NewProductCache(w.clock)
	w.events = memory.NewEventLog()
	pay, err := payment.NewSimulated(payment.Options{Seed: 1})
	if err != nil {
		t.Fatalf("payment: %v", err)
	}
	w.pay = pay
	w.outcome = payment.Approve
	w.pay.SetDecider(func(domain.SagaID) payment.Outcome { return w.outcome })
	return w
}

// app returns a new instance over the world's adapters.
func (w *world) app(s app.Strategy, instance string) *app.App {
	w.t.Helper()
	a, err := app.New(app.Deps{
		Clock: w.clock, IDs: w.ids, Inventory: w.inv, Locker: w.locker, Catalog: w.store,
		Cache: w.cache, Sagas: w.store, Orders: w.store, Outbox: w.store, Publisher: w.events,
		Payments: w.pay,
	}, app.Config{Strategy: s, InstanceID: instance}, app.Hooks{Crash: func(id domain.SagaID, at app.CrashPoint) bool {
		return w.crash != nil && w.crash(id, at)
	}})
	if err != nil {
		w.t.Fatalf("app.New: %v", err)
	}
	return a
}

func (w *world) supply(a *app.App, id domain.ProductID, qty int64) {
	w.t.Helper()
	if _, err := a.Supply(context.Background(), domain.Supply{ID: id, Name: "product " + string(id), PriceMinor: 1000, AddStock: qty}); err != nil {
		w.t.Fatalf("supply %s: %v", id, err)
	}
	w.supplied[id] += qty
}

// settle lets time pass until every lease and reservation deadline is
// over, running recovery, the reaper and the relay as the background loop
// would, so the world comes to rest.
func (w *world) settle(a *app.App) {
	w.t.Helper()
	ctx := context.Background()
	for range 3 {
		w.clock.Advance(2 * time.Minute)
		if _, err := a.RecoverStale(ctx); err != nil {
			w.t.Fatalf("recover: %v", err)
		}
		if _, err := a.ReapExpired(ctx); err != nil {
			w.t.Fatalf("reap: %v", err)
		}
		if _, err := a.RelayEvents(ctx); err != nil {
			w.t.Fatalf("relay: %v", err)
		}
	}
}

// moment is the snapshot the shared checker (sim/invariant) judges. The
// gate is not compared with the durable stock here: a saga crashed between
// its commit and the gate's settle leaves the gate behind until the reaper
// settles it, and this world does not track those.
func (w *world) moment() invariant.Moment {
	ctx := context.Background()
	confirmed := map[domain.ProductID]int64{}
	for _, s := range w.store.Sagas() {
		if s.Order.Status == domain.OrderConfirmed {
			confirmed[s.ProductID] += s.Qty
		}
	}
	m := invariant.Moment{Gateway: invariant.Gateway{
		Applied: w.pay.ChargesApplied(), Charged: map[domain.SagaID]bool{}, Refunded: map[domain.SagaID]bool{},
	}}
	for id, e := range w.pay.Ledger() {
		m.Gateway.Charged[id], m.Gateway.Refunded[id] = e.Charged, e.Refunded
		if e.Charged {
			m.Gateway.ChargedSagas++
		}
	}
	for _, id := range w.products() {
		p, err := w.store.Product(ctx, id)
		if err != nil {
			w.t.Fatalf("catalog %s: %v", id, err)
		}
		l, err := w.inv.Level(ctx, id)
		if err != nil {
			w.t.Fatalf("gate %s: %v", id, err)
		}
		m.Products = append(m.Products, invariant.Product{ID: id, Supplied: w.supplied[id], Confirmed: confirmed[id],
			Durable: p.Stock, Gate: l, LiveReservations: len(w.inv.Reservations(id))})
	}
	return m
}

// violations checks what holds at every moment (invariant.Moment): I1 and
// I4's one charge per saga.
func (w *world) violations() []invariant.Violation { return w.moment().Check() }

// restViolations checks what holds at rest (invariant.Rest): I1 to I7,
// with the answers the test recorded (acked, keyOrders) when it did.
func (w *world) restViolations() []invariant.Violation {
	return invariant.Rest{Moment: w.moment(), Sagas: w.store.Sagas(), Timeline: w.events.Timeline,
		Acked: w.acked, KeyOrders: w.keyOrders, SagaOf: app.SagaIDForKey}.Check()
}

func (w *world) products() []domain.ProductID {
	ids := make([]domain.ProductID, 0, len(w.supplied))
	for id := range w.supplied {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

func (w *world) assertOK(v []invariant.Violation) {
	w.t.Helper()
	for _, s := range v {
		w.t.Error(s.String())
	}
	if len(v) > 0 {
		w.t.FailNow()
	}
}
