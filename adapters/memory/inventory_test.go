package memory_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/memory"
	"github.com/flashsale/flashsale/domain"
)

type inventoryWorld struct {
	t     *testing.T
	ctx   context.Context
	clock *memory.Clock
	inv   *memory.Inventory
}

func newInventoryWorld(t *testing.T, opts ...memory.InventoryOption) inventoryWorld {
	clock := memory.NewClock(start)
	return inventoryWorld{t: t, ctx: t.Context(), clock: clock, inv: memory.NewInventory(clock, opts...)}
}

func (w inventoryWorld) must(err error, what string) {
	w.t.Helper()
	if err != nil {
		w.t.Fatalf("%s: %v", what, err)
	}
}

func (w inventoryWorld) level(p domain.ProductID) domain.StockLevel {
	w.t.Helper()
	l, err := w.inv.Level(w.ctx, p)
	w.must(err, "level")
	return l
}

// prune runs the reaper's scan. Every call forgets the records past their
// retention; this is the one the reaper makes while no request comes.
func (w inventoryWorld) prune() {
	w.t.Helper()
	_, err := w.inv.Expired(w.ctx, w.clock.Now(), 100)
	w.must(err, "expired")
}

func held(saga string, qty int64, deadline time.Time) domain.Reservation {
	return domain.Reservation{SagaID: domain.SagaID(saga), ProductID: "p-1", Qty: qty, Deadline: deadline}
}

func TestInventoryRemembersConsumedReservationsForTheRetention(t *testing.T) {
	w := newInventoryWorld(t, memory.WithRetention(time.Hour))
	w.must(w.inv.SetStock(w.ctx, "p-1", 10), "seed")
	deadline := start.Add(time.Minute)
	w.must(w.inv.Reserve(w.ctx, held("s-confirmed", 2, deadline)), "reserve")
	w.must(w.inv.Reserve(w.ctx, held("s-released", 3, deadline)), "reserve")
	w.must(w.inv.Confirm(w.ctx, "p-1", "s-confirmed"), "confirm")
	w.must(w.inv.Release(w.ctx, "p-1", "s-released"), "release")

	w.clock.Set(deadline.Add(time.Hour - time.Nanosecond))
	w.prune()
	before := w.level("p-1")
	w.must(w.inv.Reserve(w.ctx, held("s-confirmed", 2, deadline)), "duplicate reserve within retention")
	if err := w.inv.Reserve(w.ctx, held("s-released", 3, deadline)); !errors.Is(err, domain.ErrReservationReleased) {
		t.Fatalf("duplicate reserve of a released saga within retention: %v, want ErrReservationReleased", err)
	}
	if after := w.level("p-1"); after != before {
		t.Fatalf("duplicate reserves within the retention changed %+v to %+v", before, after)
	}

	w.clock.Advance(time.Nanosecond)
	w.prune()
	// Forgotten: the same saga ID now reserves afresh, which is the
	// documented cost of bounded memory.
	w.must(w.inv.Reserve(w.ctx, held("s-released", 3, deadline)), "reserve after pruning")
	if l := w.level("p-1"); l.Reserved != 3 {
		t.Fatalf("reserved=%d after the pruned saga reserved again, want 3", l.Reserved)
	}
	err := w.inv.Release(w.ctx, "p-1", "s-confirmed")
	if !errors.Is(err, domain.ErrReservationNotFound) {
		t.Fatalf("release of a pruned confirmed saga: %v, want ErrReservationNotFound", err)
	}
}

func TestInventoryForgetsRejectionsAfterTheRetention(t *testing.T) {
	w := newInventoryWorld(t) // default retention
	w.must(w.inv.SetStock(w.ctx, "p-1", 1), "seed")
	r := held("s-1", 2, start)
	if err := w.inv.Reserve(w.ctx, r); !errors.Is(err, domain.ErrInsufficientStock) {
		t.Fatalf("reserve 2 of 1: %v", err)
	}
	w.must(w.inv.AddStock(w.ctx, "p-1", 5), "restock")
	w.clock.Set(start.Add(memory.DefaultRetention - time.Nanosecond))
	w.prune()
	if err := w.inv.Reserve(w.ctx, r); !errors.Is(err, domain.ErrInsufficientStock) {
		t.Fatalf("reserve within the retention: %v, want the remembered ErrInsufficientStock", err)
	}
	w.clock.Advance(time.Nanosecond)
	w.prune()
	w.must(w.inv.Reserve(w.ctx, r), "reserve once the rejection is forgotten")
}

func TestInventoryNeverPrunesHeldReservations(t *testing.T) {
	w := newInventoryWorld(t, memory.WithRetention(time.Minute))
	w.must(w.inv.SetStock(w.ctx, "p-1", 10), "seed")
	w.must(w.inv.Reserve(w.ctx, held("s-1", 4, start)), "reserve")
	w.clock.Advance(1000 * time.Hour)
	w.prune()
	if got := w.inv.Reservations("p-1"); len(got) != 1 || got[0].SagaID != "s-1" {
		t.Fatalf("held reservations after a long time: %+v", got)
	}
	w.must(w.inv.Release(w.ctx, "p-1", "s-1"), "the reaper can still release it")
}

func TestInventoryReservationsListsHeldOnesOfTheProductBySagaID(t *testing.T) {
	w := newInventoryWorld(t)
	w.must(w.inv.SetStock(w.ctx, "p-1", 10), "seed")
	w.must(w.inv.SetStock(w.ctx, "p-2", 10), "seed")
	for _, r := range []domain.Reservation{
		held("s-c", 1, start), held("s-a", 2, start), held("s-b", 1, start), held("s-d", 1, start),
		{SagaID: "s-other", ProductID: "p-2", Qty: 1, Deadline: start},
	} {
		w.must(w.inv.Reserve(w.ctx, r), "reserve "+string(r.SagaID))
	}
	w.must(w.inv.Confirm(w.ctx, "p-1", "s-b"), "confirm")
	w.must(w.inv.Release(w.ctx, "p-1", "s-d"), "release")
	var got []domain.SagaID
	var sum int64
	for _, r := range w.inv.Reservations("p-1") {
		got = append(got, r.SagaID)
		sum += r.Qty
	}
	if want := []domain.SagaID{"s-a", "s-c"}; !slices.Equal(got, want) {
		t.Fatalf("reservations %v, want %v", got, want)
	}
	if l := w.level("p-1"); l.Reserved != sum {
		t.Fatalf("reserved=%d, held reservations sum to %d", l.Reserved, sum)
	}
}

func TestInventorySetStockBelowReservedIsRefused(t *testing.T) {
	w := newInventoryWorld(t)
	w.must(w.inv.SetStock(w.ctx, "p-1", 10), "seed")
	w.must(w.inv.Reserve(w.ctx, held("s-1", 6, start)), "reserve")
	before := w.level("p-1")
	for _, stock := range []int64{5, -1} {
		if err := w.inv.SetStock(w.ctx, "p-1", stock); !errors.Is(err, domain.ErrInvalidInput) {
			t.Fatalf("set stock %d with 6 reserved: %v, want ErrInvalidInput", stock, err)
		}
	}
	w.must(w.inv.SetStock(w.ctx, "p-1", 6), "set stock to exactly the reserved count")
	if l := w.level("p-1"); l.Stock != 6 || l.Reserved != 6 || l.Version != before.Version+1 {
		t.Fatalf("level %+v after setting stock to 6 from %+v", l, before)
	}
}

func TestInventoryRefusesStockOverflowAndBadIDs(t *testing.T) {
	w := newInventoryWorld(t)
	w.must(w.inv.SetStock(w.ctx, "p-1", 1<<62), "seed")
	if err := w.inv.AddStock(w.ctx, "p-1", 1<<62); !errors.Is(err, domain.ErrInvalidInput) {
		t.Fatalf("overflowing add: %v, want ErrInvalidInput", err)
	}
	if err := w.inv.AddStock(w.ctx, "bad id", 1); !errors.Is(err, domain.ErrInvalidInput) {
		t.Fatalf("add to a malformed product ID: %v, want ErrInvalidInput", err)
	}
	r := held("", 1, start)
	if err := w.inv.Reserve(w.ctx, r); !errors.Is(err, domain.ErrInvalidInput) {
		t.Fatalf("reserve for an empty saga ID: %v, want ErrInvalidInput", err)
	}
}

func TestInventoryConfirmOfAnotherProductFindsNoReservation(t *testing.T) {
	w := newInventoryWorld(t)
	w.must(w.inv.SetStock(w.ctx, "p-1", 10), "seed")
	w.must(w.inv.SetStock(w.ctx, "p-2", 10), "seed")
	w.must(w.inv.Reserve(w.ctx, held("s-1", 1, start)), "reserve")
	if err := w.inv.Confirm(w.ctx, "p-2", "s-1"); !errors.Is(err, domain.ErrReservationNotFound) {
		t.Fatalf("confirm against the wrong product: %v", err)
	}
	if err := w.inv.Release(w.ctx, "p-2", "s-1"); !errors.Is(err, domain.ErrReservationNotFound) {
		t.Fatalf("release against the wrong product: %v", err)
	}
	if l := w.level("p-2"); l.Stock != 10 || l.Reserved != 0 {
		t.Fatalf("the other product changed: %+v", l)
	}
}

func TestInventoryExpiredBreaksDeadlineTiesBySagaIDAndIgnoresNonPositiveLimits(t *testing.T) {
	w := newInventoryWorld(t)
	w.must(w.inv.SetStock(w.ctx, "p-1", 10), "seed")
	for _, saga := range []string{"s-c", "s-a", "s-b"} {
		w.must(w.inv.Reserve(w.ctx, held(saga, 1, start)), "reserve")
	}
	got, err := w.inv.Expired(w.ctx, start, 10)
	w.must(err, "expired")
	var ids []domain.SagaID
	for _, r := range got {
		ids = append(ids, r.SagaID)
	}
	if want := []domain.SagaID{"s-a", "s-b", "s-c"}; !slices.Equal(ids, want) {
		t.Fatalf("expired %v, want %v", ids, want)
	}
	for _, limit := range []int{0, -1} {
		got, err := w.inv.Expired(w.ctx, start, limit)
		w.must(err, "expired")
		if len(got) != 0 {
			t.Fatalf("expired with limit %d returned %v", limit, got)
		}
	}
}

func TestConstructorsFailFastOnMissingDependencies(t *testing.T) {
	for name, construct := range map[string]func(){
		"NewInventory":      func() { memory.NewInventory(nil) },
		"WithRetention":     func() { memory.WithRetention(0) },
		"NewLocker":         func() { memory.NewLocker(nil) },
		"NewStore":          func() { memory.NewStore(nil) },
		"NewProductCache":   func() { memory.NewProductCache(nil) },
		"NewIDs bad prefix": func() { memory.NewIDs("no spaces") },
		"WithDeliveryLimit": func() { memory.WithDeliveryLimit(0) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("did not panic")
				}
			}()
			construct()
		})
	}
}
