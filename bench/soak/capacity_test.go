package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/memory"
	"github.com/flashsale/flashsale/adapters/payment"
	"github.com/flashsale/flashsale/adapters/system"
	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// memoryApp wires the app over memory adapters as `flashsale serve` does
// with memory.retention and memory.max_sagas set, and supplies product
// with stock.
func memoryApp(tb testing.TB, clock ports.Clock, retention time.Duration, maxSagas int, product domain.ProductID, stock int64) (*app.App, *memory.Inventory, *memory.Store) {
	tb.Helper()
	store := memory.NewStore(clock, memory.WithSagaRetention(retention), memory.WithCapacity(maxSagas))
	inv := memory.NewInventory(clock, memory.WithRetention(retention), memory.WithSagaRoom(store))
	pay, err := payment.NewSimulated(payment.Options{Seed: 1})
	if err != nil {
		tb.Fatal(err)
	}
	a, err := app.New(app.Deps{Clock: clock, IDs: system.IDs{}, Inventory: inv,
		Locker: memory.NewLocker(clock), Catalog: store, Cache: memory.NewProductCache(clock),
		Sagas: store, Orders: store, Outbox: store,
		Publisher: memory.NewEventLog(memory.WithDeliveryLimit(10_000)), Payments: pay},
		app.Config{InstanceID: "soak"}, app.Hooks{})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := a.Supply(context.Background(), domain.Supply{ID: product, Name: string(product), PriceMinor: 100, AddStock: stock}); err != nil {
		tb.Fatal(err)
	}
	return a, inv, store
}

// A full store refuses a new purchase before it holds any stock, answers a
// retried key from its saga, and takes purchases again once the retention
// of the finished ones is over.
func TestAFullStoreRefusesPurchasesWithoutStrandingStock(t *testing.T) {
	clock := memory.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	a, inv, store := memoryApp(t, clock, 10*time.Minute, 3, "p", 100)
	ctx := context.Background()
	req := domain.PurchaseRequest{ProductID: "p", Qty: 1}
	for _, key := range []string{"k-1", "k-2", "k-3"} {
		if _, err := a.Buy(ctx, req, key); err != nil {
			t.Fatalf("purchase %s: %v", key, err)
		}
	}

	_, err := a.Buy(ctx, req, "k-4")
	if !errors.Is(err, domain.ErrSaturated) {
		t.Fatalf("purchase with the store full: %v, want ErrSaturated", err)
	}
	if l, _ := inv.Level(ctx, "p"); l.Reserved != 0 || l.Stock != 97 {
		t.Fatalf("gate after the refusal: %+v, want stock 97 and nothing reserved", l)
	}
	r, err := a.Buy(ctx, req, "k-1")
	if err != nil || !r.Replayed {
		t.Fatalf("retry of k-1 with the store full: %+v, %v; want its saga replayed", r, err)
	}

	clock.Advance(11 * time.Minute) // past every deadline + retention
	if _, err := a.Buy(ctx, req, "k-4"); err != nil {
		t.Fatalf("purchase once the retention is over: %v", err)
	}
	if n := len(store.Sagas()); n != 1 {
		t.Fatalf("store holds %d sagas, want only k-4's", n)
	}
}

// TestAFullStoreStrandsNoStockUnderConcurrency: a crowd of purchases
// arriving together at a nearly full store (more of them than the room
// left) ends with nothing held in the gate: each was refused before it
// reserved, or sold; none was refused at its first commit with its
// reservation left for a reaper that could not store the abort.
func TestAFullStoreStrandsNoStockUnderConcurrency(t *testing.T) {
	clock := memory.NewClock(time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC))
	a, inv, store := memoryApp(t, clock, 10*time.Minute, 5, "p", 100)
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Go(func() {
			_, err := a.Buy(t.Context(), domain.PurchaseRequest{ProductID: "p", Qty: 1}, fmt.Sprintf("crowd-%d", i))
			if err != nil && !errors.Is(err, domain.ErrSaturated) {
				t.Errorf("purchase %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	clock.Advance(2 * time.Minute) // past every reservation's deadline
	if _, err := a.ReapExpired(t.Context()); err != nil {
		t.Fatalf("reaper: %v", err)
	}
	l, err := inv.Level(t.Context(), "p")
	if err != nil {
		t.Fatal(err)
	}
	p, err := store.Product(t.Context(), "p")
	if err != nil {
		t.Fatal(err)
	}
	if l.Reserved != 0 || l.Stock != p.Stock {
		t.Fatalf("after the crowd: gate %+v, durable stock %d; want nothing reserved and the two equal", l, p.Stock)
	}
	t.Logf("%d sold, %d sagas held at a capacity of 5", 100-p.Stock, len(store.Sagas()))
}
