package app_test

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/flashsale/flashsale/adapters/memory"
	"github.com/flashsale/flashsale/adapters/payment"
	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
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

// violations checks the invariants of PRODUCT.md that hold at every
// moment: I1 (no oversell, nothing negative) and I4 (at most one charge
// per saga, at most one order per saga).
func (w *world) violations() []string {
	var v []string
	ctx := context.Background()
	confirmed := map[domain.ProductID]int64{}
	orders := map[domain.SagaID]int{}
	for _, s := range w.store.Sagas() {
		if s.Order.Status == domain.OrderConfirmed {
			confirmed[s.ProductID] += s.Qty
		}
		if s.HasOrder() {
			orders[s.ID]++
		}
	}
	for _, id := range w.products() {
		p, err := w.store.Product(ctx, id)
		if err != nil {
			v = append(v, "catalog: "+err.Error())
			continue
		}
		if confirmed[id] > w.supplied[id] {
			v = append(v, sprintf("I1 %s: confirmed %d > supplied %d", id, confirmed[id], w.supplied[id]))
		}
		if p.Stock < 0 {
			v = append(v, sprintf("I1 %s: MySQL-side stock %d < 0", id, p.Stock))
		}
		if p.Stock != w.supplied[id]-confirmed[id] {
			v = append(v, sprintf("I1 %s: durable stock %d != supplied %d - confirmed %d", id, p.Stock, w.supplied[id], confirmed[id]))
		}
		l, err := w.inv.Level(ctx, id)
		if err != nil {
			v = append(v, "gate: "+err.Error())
			continue
		}
		if l.Reserved < 0 || l.Available() < 0 {
			v = append(v, sprintf("I1 %s: gate stock %d reserved %d", id, l.Stock, l.Reserved))
		}
	}
	// The gateway counts every charge it applies; more charges than charged
	// sagas means some saga was charged twice.
	charged := int64(0)
	for _, e := range w.pay.Ledger() {
		if e.Charged {
			charged++
		}
	}
	if n := w.pay.ChargesApplied(); n != charged {
		v = append(v, sprintf("I4: %d charges applied to %d charged sagas", n, charged))
	}
	return v
}

// restViolations checks what must hold at rest: I2 (conservation), I3
// (every saga terminal), I4 (a refund exactly when a charged saga
// compensated) and I6 (each saga's published timeline is its whole
// timeline, in order, with no gaps).
func (w *world) restViolations() []string {
	v := w.violations()
	ctx := context.Background()
	for _, id := range w.products() {
		p, _ := w.store.Product(ctx, id)
		l, _ := w.inv.Level(ctx, id)
		if l.Stock != p.Stock || l.Reserved != 0 {
			v = append(v, sprintf("I2 %s: gate stock %d reserved %d, durable stock %d", id, l.Stock, l.Reserved, p.Stock))
		}
		if held := w.inv.Reservations(id); len(held) != 0 {
			v = append(v, sprintf("I2 %s: %d live reservations at rest", id, len(held)))
		}
	}
	ledger := w.pay.Ledger()
	for _, s := range w.store.Sagas() {
		if !s.Status.Terminal() {
			v = append(v, sprintf("I3 %s: %s at rest", s.ID, s.Status))
		}
		e := ledger[s.ID]
		switch s.Status {
		case domain.SagaCompleted:
			if !e.Charged || e.Refunded {
				v = append(v, sprintf("I4 %s: completed but charged=%v refunded=%v", s.ID, e.Charged, e.Refunded))
			}
		case domain.SagaCompensated:
			if e.Charged != e.Refunded {
				v = append(v, sprintf("I4 %s: compensated but charged=%v refunded=%v", s.ID, e.Charged, e.Refunded))
			}
		}
		got := w.events.Timeline(s.ID)
		if len(got) != len(s.Events) {
			v = append(v, sprintf("I6 %s: %d events published, %d recorded", s.ID, len(got), len(s.Events)))
			continue
		}
		for i := range got {
			if got[i].ID != s.Events[i].ID || got[i].Seq != i+1 {
				v = append(v, sprintf("I6 %s: event %d is %s (seq %d), want %s", s.ID, i, got[i].ID, got[i].Seq, s.Events[i].ID))
			}
		}
	}
	return v
}

func (w *world) products() []domain.ProductID {
	ids := make([]domain.ProductID, 0, len(w.supplied))
	for id := range w.supplied {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids
}

func (w *world) assertOK(v []string) {
	w.t.Helper()
	for _, s := range v {
		w.t.Error(s)
	}
	if len(v) > 0 {
		w.t.FailNow()
	}
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }
