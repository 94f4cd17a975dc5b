package memory_test

import (
	"errors"
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/memory"
	"github.com/flashsale/flashsale/domain"
)

// The store forgets a finished saga at its reservation deadline plus the
// retention, by its clock; the gate must have forgotten the reservation by
// then on every path, not only after the reaper's next scan, or a retry
// arriving in between would be answered "reserved" by the gate for a saga
// the store no longer has, and sell again.
func TestInventoryForgetsAtTheRetentionWithoutWaitingForAScan(t *testing.T) {
	w := newInventoryWorld(t, memory.WithRetention(time.Hour))
	w.must(w.inv.SetStock(w.ctx, "p-1", 10), "seed")
	deadline := start.Add(time.Minute)
	w.must(w.inv.Reserve(w.ctx, held("s-confirmed", 2, deadline)), "reserve")
	w.must(w.inv.Confirm(w.ctx, "p-1", "s-confirmed"), "confirm")

	w.clock.Set(deadline.Add(time.Hour)) // no Expired call from here on
	has, err := w.inv.HasReservation(w.ctx, "p-1", "s-confirmed")
	if err != nil || has {
		t.Fatalf("has reservation past the retention: %v (%v), want false", has, err)
	}
	w.must(w.inv.Reserve(w.ctx, held("s-confirmed", 2, deadline.Add(time.Hour))), "reserve past the retention")
	if l := w.level("p-1"); l.Reserved != 2 || l.Stock != 8 {
		t.Fatalf("level %+v after the forgotten saga reserved again, want stock 8 reserved 2", l)
	}
}

func TestInventoryExpiredListsHeldReservationsOnly(t *testing.T) {
	w := newInventoryWorld(t, memory.WithRetention(time.Hour))
	w.must(w.inv.SetStock(w.ctx, "p-1", 100), "seed")
	for _, id := range []string{"s-1", "s-2", "s-3", "s-4"} {
		w.must(w.inv.Reserve(w.ctx, held(id, 1, start)), "reserve")
	}
	w.must(w.inv.Confirm(w.ctx, "p-1", "s-1"), "confirm")
	w.must(w.inv.Release(w.ctx, "p-1", "s-2"), "release")
	if err := w.inv.Reserve(w.ctx, held("s-5", 1000, start)); !errors.Is(err, domain.ErrInsufficientStock) {
		t.Fatalf("reserve 1000 of 98: %v", err)
	}
	got, err := w.inv.Expired(w.ctx, start, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].SagaID != "s-3" || got[1].SagaID != "s-4" {
		t.Fatalf("expired %+v, want the held s-3 and s-4", got)
	}
}

func TestInventoryRestoreKeepsForgettingAndListing(t *testing.T) {
	w := newInventoryWorld(t, memory.WithRetention(time.Hour))
	w.must(w.inv.SetStock(w.ctx, "p-1", 10), "seed")
	w.must(w.inv.Reserve(w.ctx, held("s-held", 1, start)), "reserve")
	w.must(w.inv.Reserve(w.ctx, held("s-done", 1, start)), "reserve")
	w.must(w.inv.Confirm(w.ctx, "p-1", "s-done"), "confirm")
	snap := w.inv.Snapshot()

	fresh := memory.NewInventory(w.clock, memory.WithRetention(time.Hour))
	fresh.Restore(snap)
	w.clock.Set(start.Add(time.Hour))
	if has, _ := fresh.HasReservation(w.ctx, "p-1", "s-done"); has {
		t.Fatal("a restored consumed record outlived its retention")
	}
	got, err := fresh.Expired(w.ctx, w.clock.Now(), 10)
	if err != nil || len(got) != 1 || got[0].SagaID != "s-held" {
		t.Fatalf("expired after restore: %+v (%v), want s-held", got, err)
	}
}

func TestInventoryWithSagaRoomRefusesNewReservationsWhileTheStoreIsFull(t *testing.T) {
	w := newInventoryWorld(t)
	store := memory.NewStore(w.clock, memory.WithSagaRetention(time.Hour), memory.WithCapacity(1))
	w.inv = memory.NewInventory(w.clock, memory.WithRetention(time.Hour), memory.WithSagaRoom(store))
	w.must(w.inv.SetStock(w.ctx, "p-1", 10), "seed")
	if _, err := store.Supply(w.ctx, domain.Supply{ID: "p-1", Name: "Kettle", PriceMinor: 100, AddStock: 10}); err != nil {
		t.Fatal(err)
	}
	deadline := start.Add(time.Minute)
	w.must(w.inv.Reserve(w.ctx, held("s-1", 1, deadline)), "reserve with room")
	s1, err := domain.Start(domain.StartParams{ID: "s-1", OrderID: "o-1", ProductID: "p-1", Qty: 1,
		StartedAt: start, ReservedAt: start, Deadline: deadline, LeaseUntil: deadline, Now: start})
	w.must(err, "start")
	w.must(s1.Complete(start), "complete")
	w.must(store.Create(w.ctx, s1), "create") // the store is full now
	w.must(w.inv.Confirm(w.ctx, "p-1", "s-1"), "confirm")
	before := w.level("p-1")

	err = w.inv.Reserve(w.ctx, held("s-2", 1, deadline))
	if !errors.Is(err, domain.ErrSaturated) {
		t.Fatalf("reserve while the store is full: %v, want ErrSaturated", err)
	}
	if err := w.inv.ReserveIfVersion(w.ctx, held("s-2", 1, deadline), before.Version); !errors.Is(err, domain.ErrSaturated) {
		t.Fatalf("versioned reserve while the store is full: %v, want ErrSaturated", err)
	}
	if has, _ := w.inv.HasReservation(w.ctx, "p-1", "s-2"); has || w.level("p-1") != before {
		t.Fatalf("a refused reserve left a record (%v) or changed the level to %+v", has, w.level("p-1"))
	}
	// A retry of a saga the gate knows is answered from its record.
	w.must(w.inv.Reserve(w.ctx, held("s-1", 1, deadline)), "retry of a known saga while the store is full")

	w.clock.Set(deadline.Add(time.Hour)) // s-1's retention is over: room again
	w.must(w.inv.Reserve(w.ctx, held("s-2", 1, w.clock.Now().Add(time.Minute))), "reserve once the store has room")
}
