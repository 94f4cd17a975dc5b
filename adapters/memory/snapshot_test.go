package memory_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/memory"
	"github.com/flashsale/flashsale/domain"
)

func TestInventorySnapshotRestoreLosesLaterWrites(t *testing.T) {
	ctx := context.Background()
	clock := memory.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	inv := memory.NewInventory(clock)
	if err := inv.SetStock(ctx, "p", 5); err != nil {
		t.Fatal(err)
	}
	r := domain.Reservation{SagaID: "s-1", ProductID: "p", Qty: 2, Deadline: clock.Now()}
	if err := inv.Reserve(ctx, r); err != nil {
		t.Fatal(err)
	}
	snap := inv.Snapshot()
	if err := inv.Confirm(ctx, "p", "s-1"); err != nil {
		t.Fatal(err)
	}
	if err := inv.Reserve(ctx, domain.Reservation{SagaID: "s-2", ProductID: "p", Qty: 1, Deadline: clock.Now()}); err != nil {
		t.Fatal(err)
	}
	inv.Restore(snap)
	l, _ := inv.Level(ctx, "p")
	if l.Stock != 5 || l.Reserved != 2 {
		t.Fatalf("after restore: %+v, want stock 5 reserved 2", l)
	}
	if err := inv.Release(ctx, "p", "s-2"); !errors.Is(err, domain.ErrReservationNotFound) {
		t.Fatalf("a lost reservation: %v", err)
	}
	// The snapshot is a copy: writes after Restore do not reach it.
	if err := inv.Confirm(ctx, "p", "s-1"); err != nil {
		t.Fatal(err)
	}
	inv.Restore(snap)
	if l, _ := inv.Level(ctx, "p"); l.Reserved != 2 {
		t.Fatalf("snapshot shared state with the inventory: %+v", l)
	}
}

func TestLockerHolderAndSnapshot(t *testing.T) {
	ctx := context.Background()
	clock := memory.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	l := memory.NewLocker(clock)
	if _, held := l.Holder("k"); held {
		t.Fatal("held before any acquire")
	}
	if err := l.Acquire(ctx, "k", "a", time.Second); err != nil {
		t.Fatal(err)
	}
	snap := l.Snapshot()
	if tok, held := l.Holder("k"); !held || tok != "a" {
		t.Fatalf("holder %q %v", tok, held)
	}
	if err := l.Release(ctx, "k", "a"); err != nil {
		t.Fatal(err)
	}
	l.Restore(snap)
	if tok, held := l.Holder("k"); !held || tok != "a" {
		t.Fatalf("after restore: holder %q %v", tok, held)
	}
	clock.Advance(time.Second)
	if _, held := l.Holder("k"); held {
		t.Fatal("held past its ttl")
	}
}
