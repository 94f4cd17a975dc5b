package app_test

import (
	"context"
	"slices"
	"testing"

	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
)

// TestReconcileRebuildsTheGate: a gate that lost writes (as after a Redis
// failover) is found and rebuilt from the durable catalog; a product with a
// reservation in flight is reported, not touched.
func TestReconcileRebuildsTheGate(t *testing.T) {
	w := newWorld(t)
	a := w.app(app.StrategyNone, "a")
	w.supply(a, "p", 5)
	w.supply(a, "q", 5)
	ctx := context.Background()
	if _, err := a.Purchase(ctx, domain.PurchaseRequest{ProductID: "p", Qty: 2}, ""); err != nil {
		t.Fatal(err)
	}
	if err := w.inv.SetStock(ctx, "p", 9); err != nil { // drift: the gate would sell 6 too many
		t.Fatal(err)
	}
	if err := w.inv.Reserve(ctx, domain.Reservation{SagaID: "in-flight", ProductID: "q", Qty: 1, Deadline: epoch}); err != nil {
		t.Fatal(err)
	}
	if err := w.inv.SetStock(ctx, "q", 4); err != nil {
		t.Fatal(err)
	}

	drifts, err := a.Reconcile(ctx, app.ReconcileOptions{})
	if err != nil || len(drifts) != 2 {
		t.Fatalf("report: %+v %v; want p and q", drifts, err)
	}
	if l, _ := w.inv.Level(ctx, "p"); l.Stock != 9 {
		t.Fatal("a report-only reconcile changed the gate")
	}
	drifts, err = a.Reconcile(ctx, app.ReconcileOptions{Fix: true})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[domain.ProductID]app.Drift{}
	for _, d := range drifts {
		byID[d.ProductID] = d
	}
	if d := byID["p"]; !d.Fixed || d.DurableStock != 3 || d.GateStock != 9 {
		t.Fatalf("p: %+v", d)
	}
	if d := byID["q"]; d.Fixed || d.Skipped == "" {
		t.Fatalf("q has a reservation in flight and must be skipped: %+v", d)
	}
	if l, _ := w.inv.Level(ctx, "p"); l.Stock != 3 || l.Reserved != 0 {
		t.Fatalf("p after fix: %+v, want stock 3", l)
	}
	if drifts, _ := a.Reconcile(ctx, app.ReconcileOptions{}); len(drifts) != 1 || drifts[0].ProductID != "q" {
		t.Fatalf("after the fix only q may drift: %+v", drifts)
	}

	// Progress: told before each product, then once at the end.
	var seen [][2]int
	if _, err := a.Reconcile(ctx, app.ReconcileOptions{Progress: func(done, total int) { seen = append(seen, [2]int{done, total}) }}); err != nil {
		t.Fatal(err)
	}
	if want := [][2]int{{0, 2}, {1, 2}, {2, 2}}; !slices.Equal(seen, want) {
		t.Fatalf("progress %v, want %v", seen, want)
	}
}

// TestLoadInventoryFillsOnlyTheMissing: at start, products the gate lacks
// get their durable stock; products it has (perhaps with reservations of
// other instances in flight) are left alone.
func TestLoadInventoryFillsOnlyTheMissing(t *testing.T) {
	w := newWorld(t)
	a := w.app(app.StrategyNone, "a")
	ctx := context.Background()
	w.supply(a, "p", 5)
	if _, err := w.store.Supply(ctx, domain.Supply{ID: "new", Name: "new", PriceMinor: 1, AddStock: 7}); err != nil {
		t.Fatal(err)
	}
	if err := w.inv.Reserve(ctx, domain.Reservation{SagaID: "elsewhere", ProductID: "p", Qty: 2, Deadline: epoch}); err != nil {
		t.Fatal(err)
	}
	n, err := a.LoadInventory(ctx)
	if err != nil || n != 1 {
		t.Fatalf("loaded %d, %v; want only the missing product", n, err)
	}
	if l, _ := w.inv.Level(ctx, "new"); l.Stock != 7 {
		t.Fatalf("new: %+v", l)
	}
	if l, _ := w.inv.Level(ctx, "p"); l.Stock != 5 || l.Reserved != 2 {
		t.Fatalf("p was touched: %+v", l)
	}
}
