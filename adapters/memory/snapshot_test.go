package memory_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

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

// TestInventoryRewindEqualsRestore: for any sequence of writes, a
// checkpoint, more writes (and time passing, so records are forgotten)
// and a rewind, the inventory answers every question as one restored from
// a full Snapshot taken at the checkpoint, and keeps doing so after more
// writes and a second rewind to the same checkpoint.
func TestInventoryRewindEqualsRestore(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ctx := context.Background()
		clock := memory.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		opt := memory.WithRetention(time.Minute)
		inv, ref := memory.NewInventory(clock, opt), memory.NewInventory(clock, opt)
		products := []domain.ProductID{"p", "q"}
		sagas := []domain.SagaID{"s-1", "s-2", "s-3", "s-4", "s-5"}
		write := func(label string) {
			for range rapid.IntRange(0, 12).Draw(t, label) {
				p := rapid.SampledFrom(products).Draw(t, "product")
				s := rapid.SampledFrom(sagas).Draw(t, "saga")
				switch rapid.IntRange(0, 5).Draw(t, "op") {
				case 0:
					_ = inv.AddStock(ctx, p, rapid.Int64Range(0, 3).Draw(t, "add"))
				case 1:
					_ = inv.SetStock(ctx, p, rapid.Int64Range(0, 6).Draw(t, "set"))
				case 2:
					_ = inv.Reserve(ctx, domain.Reservation{SagaID: s, ProductID: p, Qty: rapid.Int64Range(1, 3).Draw(t, "qty"), Deadline: clock.Now()})
				case 3:
					_ = inv.Confirm(ctx, p, s)
				case 4:
					_ = inv.Release(ctx, p, s)
				case 5:
					clock.Advance(time.Duration(rapid.IntRange(0, 90).Draw(t, "seconds")) * time.Second)
				}
			}
		}
		answers := func(i *memory.Inventory) string {
			out := ""
			for _, p := range products {
				l, err := i.Level(ctx, p)
				out += fmt.Sprintf("%s %+v %v %v|", p, l, err, i.Reservations(p))
				for _, s := range sagas {
					has, _ := i.HasReservation(ctx, p, s)
					out += fmt.Sprintf("%s:%v ", s, has)
				}
			}
			exp, err := i.Expired(ctx, clock.Now().Add(time.Hour), 100)
			return out + fmt.Sprintf("expired %v %v", exp, err)
		}

		write("before")
		cp, snap := inv.Checkpoint(), inv.Snapshot()
		for round := range 2 {
			write(fmt.Sprintf("after-%d", round))
			inv.Rewind(cp)
			ref.Restore(snap)
			if got, want := answers(inv), answers(ref); got != want {
				t.Fatalf("rewind %d:\n got %s\nwant %s", round, got, want)
			}
		}
	})
}

func TestInventoryRewindToAnOldCheckpointPanics(t *testing.T) {
	inv := memory.NewInventory(memory.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	old := inv.Checkpoint()
	inv.Checkpoint()
	defer func() {
		if recover() == nil {
			t.Fatal("a rewind to a superseded checkpoint did not panic")
		}
	}()
	inv.Rewind(old)
}

func TestInventoryRewindAfterARestorePanics(t *testing.T) {
	inv := memory.NewInventory(memory.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)))
	cp := inv.Checkpoint()
	inv.Restore(inv.Snapshot())
	defer func() {
		if recover() == nil {
			t.Fatal("a rewind past a Restore did not panic")
		}
	}()
	inv.Rewind(cp)
}
