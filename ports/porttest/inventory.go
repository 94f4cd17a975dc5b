package porttest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// InventoryHarness is what the Inventory suite drives.
type InventoryHarness struct {
	// Inventory is the adapter under test.
	Inventory ports.Inventory
	// Loader seeds stock records; required.
	Loader ports.InventoryLoader
	// Reaper, when not nil, is held to the InventoryReaper contract.
	Reaper ports.InventoryReaper
	// Versioned, when not nil, is held to the VersionedReserver contract.
	Versioned ports.VersionedReserver
	// Lookup, when not nil, is held to the ReservationLookup contract.
	Lookup ports.ReservationLookup
	// Fresh, when not nil, is held to the FreshReserver contract.
	Fresh ports.FreshReserver
	// Batch, when not nil, is held to the BatchConfirmer contract.
	Batch ports.BatchConfirmer
	// Lookups, when not nil, is held to the BatchLookup contract.
	Lookups ports.BatchLookup
}

const invProduct = domain.ProductID("p-1")

// reservation of qty units of invProduct for saga, due epoch+due.
func reservation(saga string, qty int64, due time.Duration) domain.Reservation {
	return domain.Reservation{
		SagaID: domain.SagaID(saga), ProductID: invProduct, Qty: qty, Deadline: epoch.Add(due),
	}
}

type invFixture struct {
	InventoryHarness
	t   *testing.T
	ctx context.Context
}

// seed gives invProduct a stock record of stock units.
func (f invFixture) seed(stock int64) {
	f.t.Helper()
	must(f.t, f.Loader.SetStock(f.ctx, invProduct, stock), "seed stock")
}

func (f invFixture) reserve(saga string, qty int64) {
	f.t.Helper()
	must(f.t, f.Inventory.Reserve(f.ctx, reservation(saga, qty, time.Minute)), "reserve "+saga)
}

// level returns invProduct's level after checking 0 <= reserved <= stock.
func (f invFixture) level() domain.StockLevel {
	f.t.Helper()
	l, err := f.Inventory.Level(f.ctx, invProduct)
	must(f.t, err, "level")
	checkStockInvariant(f.t, l)
	return l
}

// wantLevel checks invProduct's stock and reserved counts.
func (f invFixture) wantLevel(stock, reserved int64, when string) domain.StockLevel {
	f.t.Helper()
	l := f.level()
	if l.Stock != stock || l.Reserved != reserved {
		f.t.Fatalf("%s: stock=%d reserved=%d, want stock=%d reserved=%d", when, l.Stock, l.Reserved, stock, reserved)
	}
	return l
}

// unchanged checks that nothing about invProduct changed since before.
func (f invFixture) unchanged(before domain.StockLevel, when string) {
	f.t.Helper()
	if after := f.level(); after != before {
		f.t.Fatalf("%s changed the level: before %+v, after %+v", when, before, after)
	}
}

func checkStockInvariant(t *testing.T, l domain.StockLevel) {
	t.Helper()
	if l.Reserved < 0 || l.Reserved > l.Stock {
		t.Fatalf("invariant 0 <= reserved <= stock broken: %+v", l)
	}
}

// Inventory checks the ports.Inventory contract, and those of
// ports.InventoryLoader, ports.InventoryReaper and ports.VersionedReserver
// when the harness has them.
func Inventory(t *testing.T, newHarness func(t *testing.T) InventoryHarness) {
	run := func(name string, test func(t *testing.T, f invFixture)) {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			if h.Inventory == nil || h.Loader == nil {
				t.Fatal("harness needs Inventory and Loader")
			}
			test(t, invFixture{InventoryHarness: h, t: t, ctx: t.Context()})
		})
	}
	// runIf runs a clause of an optional capability: skipped when the
	// harness does not have it.
	runIf := func(has func(f invFixture) bool, capability string) func(string, func(*testing.T, invFixture)) {
		return func(name string, test func(t *testing.T, f invFixture)) {
			run(name, func(t *testing.T, f invFixture) {
				if !has(f) {
					t.Skip("the adapter lacks " + capability)
				}
				test(t, f)
			})
		}
	}
	runReaper := runIf(func(f invFixture) bool { return f.Reaper != nil }, "InventoryReaper")
	runVersioned := runIf(func(f invFixture) bool { return f.Versioned != nil }, "VersionedReserver")
	runLookup := runIf(func(f invFixture) bool { return f.Lookup != nil }, "ReservationLookup")
	runFresh := runIf(func(f invFixture) bool { return f.Fresh != nil }, "FreshReserver")
	runFresh("ReserveFresh: fresh when it takes the units, not when it replays a held or consumed one", func(t *testing.T, f invFixture) {
		f.seed(3)
		reserve := func(saga string, qty int64) (bool, error) {
			t.Helper()
			return f.Fresh.ReserveFresh(f.ctx, reservation(saga, qty, time.Minute))
		}
		if fresh, err := reserve("s-1", 1); err != nil || !fresh {
			t.Fatalf("first reserve: fresh %v, %v; want fresh", fresh, err)
		}
		before := f.level()
		if fresh, err := reserve("s-1", 1); err != nil || fresh {
			t.Fatalf("the same reserve again: fresh %v, %v; want a replay", fresh, err)
		}
		f.unchanged(before, "a replayed ReserveFresh")
		f.reserve("s-2", 1)
		must(t, f.Inventory.Confirm(f.ctx, invProduct, "s-2"), "confirm")
		if fresh, err := reserve("s-2", 1); err != nil || fresh {
			t.Fatalf("reserve of a confirmed saga: fresh %v, %v; want a replay", fresh, err)
		}
		f.reserve("s-3", 1)
		must(t, f.Inventory.Release(f.ctx, invProduct, "s-3"), "release")
		if _, err := reserve("s-3", 1); !errors.Is(err, domain.ErrReservationReleased) {
			t.Fatalf("reserve of a released saga: %v, want ErrReservationReleased", err)
		}
		if _, err := reserve("s-4", 5); !errors.Is(err, domain.ErrInsufficientStock) {
			t.Fatalf("reserve past the stock: %v", err)
		}
		if _, err := reserve("s-1", 2); !errors.Is(err, domain.ErrIdempotencyMismatch) {
			t.Fatalf("another qty under a used saga: %v, want ErrIdempotencyMismatch", err)
		}
		if l := f.level(); l.Reserved != 1 || l.Stock != 2 {
			t.Fatalf("level %+v, want 1 reserved of 2 (s-1 held, s-2 sold)", l)
		}
	})
	runBatch := runIf(func(f invFixture) bool { return f.Batch != nil }, "BatchConfirmer")
	runBatch("ConfirmAll answers each saga as Confirm would and sells the held ones once", func(t *testing.T, f invFixture) {
		f.seed(5)
		f.reserve("s-1", 1)
		f.reserve("s-2", 2)
		f.reserve("s-sold", 1)
		f.reserve("s-back", 1)
		must(t, f.Inventory.Confirm(f.ctx, invProduct, "s-sold"), "confirm")
		must(t, f.Inventory.Release(f.ctx, invProduct, "s-back"), "release")
		sagas := []domain.SagaID{"s-1", "s-never", "s-2", "s-sold", "s-back", "s-1"}
		errs, err := f.Batch.ConfirmAll(f.ctx, invProduct, sagas)
		must(t, err, "confirm all")
		want := []error{nil, domain.ErrReservationNotFound, nil, nil, domain.ErrReservationReleased, nil}
		if len(errs) != len(want) {
			t.Fatalf("%d answers for %d sagas", len(errs), len(sagas))
		}
		for i, w := range want {
			if (w == nil) != (errs[i] == nil) || (w != nil && !errors.Is(errs[i], w)) {
				t.Errorf("%s: %v, want %v", sagas[i], errs[i], w)
			}
		}
		if l := f.level(); l.Stock != 1 || l.Reserved != 0 {
			t.Fatalf("level %+v, want stock 1 (5 - 1 - 2 - 1), nothing reserved", l)
		}
		if errs, err := f.Batch.ConfirmAll(f.ctx, invProduct, nil); err != nil || len(errs) != 0 {
			t.Fatalf("confirm none: %v %v", errs, err)
		}
		if _, err := f.Batch.ConfirmAll(doneContext(t), invProduct, []domain.SagaID{"s-1"}); !errors.Is(err, domain.ErrUnavailable) {
			t.Fatalf("a done context: %v, want ErrUnavailable", err)
		}
	})
	runLookups := runIf(func(f invFixture) bool { return f.Lookups != nil }, "BatchLookup")
	runLookups("HasReservations answers each saga as HasReservation does", func(t *testing.T, f invFixture) {
		f.seed(3)
		f.reserve("s-held", 1)
		f.reserve("s-sold", 1)
		must(t, f.Inventory.Confirm(f.ctx, invProduct, "s-sold"), "confirm")
		if err := f.Inventory.Reserve(f.ctx, reservation("s-refused", 5, time.Minute)); !errors.Is(err, domain.ErrInsufficientStock) {
			t.Fatalf("reserve past the stock: %v", err)
		}
		got, err := f.Lookups.HasReservations(f.ctx, invProduct, []domain.SagaID{"s-never", "s-held", "s-sold", "s-refused", "s-held"})
		must(t, err, "has reservations")
		if want := []bool{false, true, true, true, true}; !slices.Equal(got, want) {
			t.Fatalf("has reservations %v, want %v", got, want)
		}
		if got, err := f.Lookups.HasReservations(f.ctx, "p-other", []domain.SagaID{"s-held"}); err != nil || len(got) != 1 || got[0] {
			t.Fatalf("under another product: %v %v, want [false]", got, err)
		}
		if _, err := f.Lookups.HasReservations(doneContext(t), invProduct, []domain.SagaID{"s-held"}); !errors.Is(err, domain.ErrUnavailable) {
			t.Fatalf("a done context: %v, want ErrUnavailable", err)
		}
	})
	runLookup("HasReservation: held, confirmed, released and refused records count; others do not", func(t *testing.T, f invFixture) {
		f.seed(3)
		has := func(saga string, product domain.ProductID) bool {
			t.Helper()
			ok, err := f.Lookup.HasReservation(f.ctx, product, domain.SagaID(saga))
			must(t, err, "has reservation "+saga)
			return ok
		}
		if has("s-never", invProduct) {
			t.Fatal("a saga that never reserved has a reservation")
		}
		f.reserve("s-held", 1)
		f.reserve("s-sold", 1)
		f.reserve("s-back", 1)
		must(t, f.Inventory.Confirm(f.ctx, invProduct, "s-sold"), "confirm")
		must(t, f.Inventory.Release(f.ctx, invProduct, "s-back"), "release")
		if err := f.Inventory.Reserve(f.ctx, reservation("s-refused", 5, time.Minute)); !errors.Is(err, domain.ErrInsufficientStock) {
			t.Fatalf("reserve past the stock: %v", err)
		}
		before := f.level()
		for _, s := range []string{"s-held", "s-sold", "s-back", "s-refused"} {
			if !has(s, invProduct) {
				t.Errorf("%s: no reservation found", s)
			}
		}
		if has("s-held", "p-other") {
			t.Error("a reservation of one product is found under another")
		}
		f.unchanged(before, "HasReservation")
	})

	run("Reserve holds qty: reserved rises and stock stays", func(t *testing.T, f invFixture) {
		f.seed(10)
		f.reserve("s-1", 3)
		f.wantLevel(10, 3, "after reserving 3")
		f.reserve("s-2", 2)
		f.wantLevel(10, 5, "after reserving 2 more")
	})

	run("Reserve of exactly the available quantity succeeds", func(t *testing.T, f invFixture) {
		f.seed(5)
		f.reserve("s-1", 2)
		f.reserve("s-2", 3)
		f.wantLevel(5, 5, "after reserving everything")
	})

	run("Reserve when stock - reserved < qty changes nothing and returns ErrInsufficientStock", func(t *testing.T, f invFixture) {
		f.seed(5)
		f.reserve("s-1", 3)
		before := f.level()
		err := f.Inventory.Reserve(f.ctx, reservation("s-2", 3, time.Minute))
		wantErr(t, err, domain.ErrInsufficientStock, "reserve 3 of 2 available")
		f.unchanged(before, "a refused reserve")
		wantErr(t, f.Inventory.Release(f.ctx, invProduct, "s-2"), domain.ErrReservationNotFound, "release of the refused saga")
	})

	run("Reserve of a product with no stock record returns ErrProductNotFound", func(t *testing.T, f invFixture) {
		r := reservation("s-1", 1, time.Minute)
		r.ProductID = "p-missing"
		wantErr(t, f.Inventory.Reserve(f.ctx, r), domain.ErrProductNotFound, "reserve of an unknown product")
	})

	run("Reserve of a non-positive qty returns ErrInvalidInput and changes nothing", func(t *testing.T, f invFixture) {
		f.seed(5)
		before := f.level()
		for _, qty := range []int64{0, -1} {
			err := f.Inventory.Reserve(f.ctx, reservation("s-1", qty, time.Minute))
			wantErr(t, err, domain.ErrInvalidInput, fmt.Sprintf("reserve of %d", qty))
		}
		f.unchanged(before, "an invalid reserve")
	})

	run("Reserve again for the same saga returns the first answer and changes nothing", func(t *testing.T, f invFixture) {
		f.seed(5)
		f.reserve("s-1", 2)
		before := f.level()
		f.reserve("s-1", 2)
		// A retry computes a new deadline; it is still the same request.
		must(t, f.Inventory.Reserve(f.ctx, reservation("s-1", 2, time.Hour)), "retry with a later deadline")
		f.unchanged(before, "a repeated reserve")
		must(t, f.Inventory.Release(f.ctx, invProduct, "s-1"), "release")
		f.wantLevel(5, 0, "after releasing the one reservation")
	})

	// A saga ID reused for another quantity must not be answered "ok", or
	// the caller confirms an order of one size against a reservation of
	// another. (Another product is another record: on Redis Cluster the
	// two live in different slots, so the contract cannot ask for more;
	// the reaper releases such an orphan.)
	run("Reserve again for the same saga with another qty returns ErrIdempotencyMismatch", func(t *testing.T, f invFixture) {
		f.seed(5)
		f.reserve("s-1", 2)
		wantErr(t, f.Inventory.Reserve(f.ctx, domain.Reservation{SagaID: "s-refused", ProductID: invProduct, Qty: 9, Deadline: epoch}),
			domain.ErrInsufficientStock, "reserve 9 of 3")
		before := f.level()
		for what, r := range map[string]domain.Reservation{
			"another qty":                    reservation("s-1", 3, time.Minute),
			"another qty for a refused saga": reservation("s-refused", 1, time.Minute),
		} {
			wantErr(t, f.Inventory.Reserve(f.ctx, r), domain.ErrIdempotencyMismatch, "reserve with "+what)
		}
		f.unchanged(before, "mismatched reserves")
	})

	run("Reserve again for a released saga returns ErrReservationReleased and holds nothing", func(t *testing.T, f invFixture) {
		f.seed(5)
		f.reserve("s-1", 2)
		must(t, f.Inventory.Release(f.ctx, invProduct, "s-1"), "release")
		before := f.wantLevel(5, 0, "after the release")
		wantErr(t, f.Inventory.Reserve(f.ctx, reservation("s-1", 2, time.Minute)), domain.ErrReservationReleased, "reserve after release")
		f.unchanged(before, "a reserve of a released saga")
		wantErr(t, f.Inventory.Confirm(f.ctx, invProduct, "s-1"), domain.ErrReservationReleased, "confirm after the refused re-reserve")
	})

	run("Reserve again for a refused saga returns ErrInsufficientStock even after a restock", func(t *testing.T, f invFixture) {
		f.seed(1)
		err := f.Inventory.Reserve(f.ctx, reservation("s-1", 2, time.Minute))
		wantErr(t, err, domain.ErrInsufficientStock, "first reserve")
		must(t, f.Loader.AddStock(f.ctx, invProduct, 10), "restock")
		before := f.level()
		err = f.Inventory.Reserve(f.ctx, reservation("s-1", 2, time.Minute))
		wantErr(t, err, domain.ErrInsufficientStock, "repeated reserve after restock")
		f.unchanged(before, "a repeated refused reserve")
	})

	run("Reserve again for a consumed saga changes nothing: a confirmed one answers nil, a released one ErrReservationReleased", func(t *testing.T, f invFixture) {
		f.seed(5)
		f.reserve("s-confirmed", 1)
		f.reserve("s-released", 1)
		must(t, f.Inventory.Confirm(f.ctx, invProduct, "s-confirmed"), "confirm")
		must(t, f.Inventory.Release(f.ctx, invProduct, "s-released"), "release")
		before := f.wantLevel(4, 0, "after confirm and release")
		f.reserve("s-confirmed", 1)
		wantErr(t, f.Inventory.Reserve(f.ctx, reservation("s-released", 1, time.Minute)), domain.ErrReservationReleased, "reserve of a released saga")
		f.unchanged(before, "reserving consumed sagas again")
	})

	run("Confirm consumes the held reservation: stock and reserved go down together", func(t *testing.T, f invFixture) {
		f.seed(10)
		f.reserve("s-1", 3)
		f.reserve("s-2", 2)
		must(t, f.Inventory.Confirm(f.ctx, invProduct, "s-1"), "confirm")
		f.wantLevel(7, 2, "after confirming 3")
	})

	run("Confirm again returns nil and changes nothing", func(t *testing.T, f invFixture) {
		f.seed(10)
		f.reserve("s-1", 3)
		must(t, f.Inventory.Confirm(f.ctx, invProduct, "s-1"), "confirm")
		before := f.level()
		must(t, f.Inventory.Confirm(f.ctx, invProduct, "s-1"), "confirm again")
		f.unchanged(before, "a repeated confirm")
	})

	run("Confirm after Release returns ErrReservationReleased and changes nothing", func(t *testing.T, f invFixture) {
		f.seed(10)
		f.reserve("s-1", 3)
		must(t, f.Inventory.Release(f.ctx, invProduct, "s-1"), "release")
		before := f.level()
		wantErr(t, f.Inventory.Confirm(f.ctx, invProduct, "s-1"), domain.ErrReservationReleased, "confirm after release")
		f.unchanged(before, "a refused confirm")
	})

	run("Confirm of a saga that never reserved returns ErrReservationNotFound", func(t *testing.T, f invFixture) {
		f.seed(1)
		before := f.level()
		wantErr(t, f.Inventory.Confirm(f.ctx, invProduct, "s-unknown"), domain.ErrReservationNotFound, "confirm of an unknown saga")
		wantErr(t, f.Inventory.Reserve(f.ctx, reservation("s-refused", 2, time.Minute)), domain.ErrInsufficientStock, "reserve")
		wantErr(t, f.Inventory.Confirm(f.ctx, invProduct, "s-refused"), domain.ErrReservationNotFound, "confirm of a refused saga")
		f.unchanged(before, "confirms of sagas that hold nothing")
	})

	run("Release gives the held units back", func(t *testing.T, f invFixture) {
		f.seed(10)
		f.reserve("s-1", 3)
		f.reserve("s-2", 2)
		must(t, f.Inventory.Release(f.ctx, invProduct, "s-1"), "release")
		f.wantLevel(10, 2, "after releasing 3")
	})

	run("Release again returns ErrReservationReleased and changes nothing", func(t *testing.T, f invFixture) {
		f.seed(10)
		f.reserve("s-1", 3)
		must(t, f.Inventory.Release(f.ctx, invProduct, "s-1"), "release")
		before := f.level()
		wantErr(t, f.Inventory.Release(f.ctx, invProduct, "s-1"), domain.ErrReservationReleased, "release again")
		f.unchanged(before, "a repeated release")
	})

	run("Release after Confirm returns ErrReservationConfirmed and changes nothing", func(t *testing.T, f invFixture) {
		f.seed(10)
		f.reserve("s-1", 3)
		must(t, f.Inventory.Confirm(f.ctx, invProduct, "s-1"), "confirm")
		before := f.level()
		wantErr(t, f.Inventory.Release(f.ctx, invProduct, "s-1"), domain.ErrReservationConfirmed, "release after confirm")
		f.unchanged(before, "a refused release")
	})

	run("Release of a saga that never reserved returns ErrReservationNotFound", func(t *testing.T, f invFixture) {
		f.seed(10)
		f.reserve("s-1", 3)
		before := f.level()
		wantErr(t, f.Inventory.Release(f.ctx, invProduct, "s-unknown"), domain.ErrReservationNotFound, "release of an unknown saga")
		f.unchanged(before, "a release of an unknown saga")
	})

	run("Level of a product with no stock record returns ErrProductNotFound", func(t *testing.T, f invFixture) {
		_, err := f.Inventory.Level(f.ctx, "p-missing")
		wantErr(t, err, domain.ErrProductNotFound, "level of an unknown product")
	})

	run("Level reports its product and a version that rises on every change", func(t *testing.T, f invFixture) {
		f.seed(10)
		last := f.level()
		if last.ProductID != invProduct {
			t.Fatalf("level names product %q, want %q", last.ProductID, invProduct)
		}
		changes := []struct {
			name string
			do   func() error
		}{
			{"reserve", func() error { return f.Inventory.Reserve(f.ctx, reservation("s-1", 2, time.Minute)) }},
			{"reserve another", func() error { return f.Inventory.Reserve(f.ctx, reservation("s-2", 2, time.Minute)) }},
			{"confirm", func() error { return f.Inventory.Confirm(f.ctx, invProduct, "s-1") }},
			{"release", func() error { return f.Inventory.Release(f.ctx, invProduct, "s-2") }},
			{"add stock", func() error { return f.Loader.AddStock(f.ctx, invProduct, 5) }},
			{"set stock", func() error { return f.Loader.SetStock(f.ctx, invProduct, 4) }},
		}
		for _, c := range changes {
			must(t, c.do(), c.name)
			l := f.level()
			if l.Version <= last.Version {
				t.Fatalf("after %s the version went from %d to %d, want it to rise", c.name, last.Version, l.Version)
			}
			last = l
		}
	})

	run("AddStock creates the stock record at delta", func(t *testing.T, f invFixture) {
		must(t, f.Loader.AddStock(f.ctx, invProduct, 7), "add stock")
		f.wantLevel(7, 0, "after adding 7 to nothing")
	})

	run("AddStock adds to stock and leaves reservations alone", func(t *testing.T, f invFixture) {
		f.seed(3)
		f.reserve("s-1", 3)
		must(t, f.Loader.AddStock(f.ctx, invProduct, 4), "add stock")
		f.wantLevel(7, 3, "after adding 4")
		must(t, f.Inventory.Confirm(f.ctx, invProduct, "s-1"), "confirm the reservation made before")
		f.wantLevel(4, 0, "after confirming")
	})

	run("AddStock of a negative delta returns ErrInvalidInput and changes nothing", func(t *testing.T, f invFixture) {
		f.seed(3)
		before := f.level()
		wantErr(t, f.Loader.AddStock(f.ctx, invProduct, -1), domain.ErrInvalidInput, "add -1")
		f.unchanged(before, "a negative add")
	})

	run("SetStock creates the stock record", func(t *testing.T, f invFixture) {
		must(t, f.Loader.SetStock(f.ctx, invProduct, 9), "set stock")
		f.wantLevel(9, 0, "after setting 9")
	})

	run("SetStock overwrites stock and leaves reserved and held reservations alone", func(t *testing.T, f invFixture) {
		f.seed(10)
		f.reserve("s-1", 3)
		f.reserve("s-2", 2)
		must(t, f.Loader.SetStock(f.ctx, invProduct, 20), "set stock")
		f.wantLevel(20, 5, "after setting 20")
		must(t, f.Inventory.Confirm(f.ctx, invProduct, "s-1"), "confirm a reservation made before")
		must(t, f.Inventory.Release(f.ctx, invProduct, "s-2"), "release a reservation made before")
		f.wantLevel(17, 0, "after consuming both")
	})

	runReaper("Expired returns held reservations due at or before now, oldest deadline first", func(t *testing.T, f invFixture) {
		f.seed(100)
		// Made out of deadline order, so an adapter returning insertion
		// order fails.
		for _, r := range []domain.Reservation{
			reservation("s-3m", 1, 3*time.Minute),
			reservation("s-10m", 1, 10*time.Minute),
			reservation("s-1m", 1, 1*time.Minute),
			reservation("s-2m", 1, 2*time.Minute),
		} {
			must(t, f.Inventory.Reserve(f.ctx, r), "reserve "+string(r.SagaID))
		}
		got, err := f.Reaper.Expired(f.ctx, epoch.Add(3*time.Minute), 10)
		must(t, err, "expired")
		wantSagas(t, got, "s-1m", "s-2m", "s-3m")
		want := reservation("s-2m", 1, 2*time.Minute)
		if !got[1].Deadline.Equal(want.Deadline) || got[1].Qty != want.Qty || got[1].ProductID != want.ProductID {
			t.Fatalf("expired returned %+v, want %+v", got[1], want)
		}
		got, err = f.Reaper.Expired(f.ctx, epoch, 10)
		must(t, err, "expired before any deadline")
		wantSagas(t, got)
	})

	runReaper("Expired returns at most limit reservations", func(t *testing.T, f invFixture) {
		f.seed(100)
		for _, saga := range []string{"s-3", "s-1", "s-2", "s-4"} {
			due := time.Duration(saga[2]-'0') * time.Minute
			must(t, f.Inventory.Reserve(f.ctx, reservation(saga, 1, due)), "reserve "+saga)
		}
		got, err := f.Reaper.Expired(f.ctx, epoch.Add(time.Hour), 2)
		must(t, err, "expired")
		wantSagas(t, got, "s-1", "s-2")
	})

	runReaper("Expired leaves out consumed reservations and changes nothing", func(t *testing.T, f invFixture) {
		f.seed(100)
		for _, saga := range []string{"s-1", "s-2", "s-3"} {
			must(t, f.Inventory.Reserve(f.ctx, reservation(saga, 1, time.Minute)), "reserve "+saga)
		}
		must(t, f.Inventory.Confirm(f.ctx, invProduct, "s-1"), "confirm")
		must(t, f.Inventory.Release(f.ctx, invProduct, "s-2"), "release")
		before := f.level()
		for range 2 {
			got, err := f.Reaper.Expired(f.ctx, epoch.Add(time.Hour), 10)
			must(t, err, "expired")
			wantSagas(t, got, "s-3")
		}
		f.unchanged(before, "expired")
		must(t, f.Inventory.Release(f.ctx, invProduct, "s-3"), "release of the listed reservation")
	})

	runVersioned("ReserveIfVersion at the current version reserves", func(t *testing.T, f invFixture) {
		f.seed(5)
		l := f.level()
		must(t, f.Versioned.ReserveIfVersion(f.ctx, reservation("s-1", 2, time.Minute), l.Version), "reserve if version")
		f.wantLevel(5, 2, "after a versioned reserve")
		must(t, f.Inventory.Release(f.ctx, invProduct, "s-1"), "release a versioned reservation")
	})

	runVersioned("ReserveIfVersion at another version changes nothing and returns ErrConflict", func(t *testing.T, f invFixture) {
		f.seed(5)
		stale := f.level().Version
		f.reserve("s-1", 1)
		before := f.level()
		err := f.Versioned.ReserveIfVersion(f.ctx, reservation("s-2", 1, time.Minute), stale)
		wantErr(t, err, domain.ErrConflict, "reserve at a stale version")
		f.unchanged(before, "a conflicting reserve")
		// The conflict is not the saga's answer: at the fresh version it wins.
		must(t, f.Versioned.ReserveIfVersion(f.ctx, reservation("s-2", 1, time.Minute), before.Version), "retry at the read version")
		f.wantLevel(5, 2, "after the retry")
	})

	runVersioned("ReserveIfVersion again for the same saga returns the first answer whatever the version", func(t *testing.T, f invFixture) {
		f.seed(5)
		v := f.level().Version
		must(t, f.Versioned.ReserveIfVersion(f.ctx, reservation("s-1", 2, time.Minute), v), "first")
		before := f.level()
		must(t, f.Versioned.ReserveIfVersion(f.ctx, reservation("s-1", 2, time.Minute), v), "again at the old version")
		must(t, f.Inventory.Reserve(f.ctx, reservation("s-1", 2, time.Minute)), "again unversioned")
		f.unchanged(before, "repeated versioned reserves")
	})

	runVersioned("ReserveIfVersion when stock - reserved < qty returns ErrInsufficientStock", func(t *testing.T, f invFixture) {
		f.seed(1)
		before := f.level()
		err := f.Versioned.ReserveIfVersion(f.ctx, reservation("s-1", 2, time.Minute), before.Version)
		wantErr(t, err, domain.ErrInsufficientStock, "versioned reserve of 2 of 1")
		f.unchanged(before, "a refused versioned reserve")
	})

	run("A call with a done context returns ErrUnavailable and changes nothing", func(t *testing.T, f invFixture) {
		f.seed(5)
		f.reserve("s-held", 1)
		before := f.level()
		done := doneContext(t)
		wantUnavailable(t, f.Inventory.Reserve(done, reservation("s-1", 1, time.Minute)), "reserve")
		wantUnavailable(t, f.Inventory.Confirm(done, invProduct, "s-held"), "confirm")
		wantUnavailable(t, f.Inventory.Release(done, invProduct, "s-held"), "release")
		_, err := f.Inventory.Level(done, invProduct)
		wantUnavailable(t, err, "level")
		f.unchanged(before, "calls with a done context")
		wantErr(t, f.Inventory.Confirm(f.ctx, invProduct, "s-1"), domain.ErrReservationNotFound, "the reserve that was not made")
	})

	run("race: 100 reserves of 1 against stock 9, exactly 9 win", func(t *testing.T, f invFixture) {
		f.seed(9)
		errs := race(100, func(i int) error {
			return f.Inventory.Reserve(f.ctx, reservation(fmt.Sprintf("s-%03d", i), 1, time.Minute))
		})
		ok, matched, other := countErrs(errs, domain.ErrInsufficientStock)
		if ok != 9 || matched[0] != 91 || len(other) > 0 {
			t.Fatalf("%d won, %d got ErrInsufficientStock, other errors %v; want 9 and 91", ok, matched[0], other)
		}
		f.wantLevel(9, 9, "after the race")
	})

	run("race: Confirm against Release of one reservation, exactly one consumes it", func(t *testing.T, f invFixture) {
		f.seed(5)
		f.reserve("s-1", 2)
		const n = 40
		errs := race(n, func(i int) error {
			if i%2 == 0 {
				return f.Inventory.Confirm(f.ctx, invProduct, "s-1")
			}
			return f.Inventory.Release(f.ctx, invProduct, "s-1")
		})
		var confirms, releases []error
		for i, err := range errs {
			if i%2 == 0 {
				confirms = append(confirms, err)
			} else {
				releases = append(releases, err)
			}
		}
		l := f.level()
		switch l.Stock {
		case 3: // confirmed: every confirm agrees, every release is refused
			if ok, _, other := countErrs(confirms); ok != n/2 || len(other) > 0 {
				t.Fatalf("confirmed, but confirms returned %v", confirms)
			}
			if ok, m, _ := countErrs(releases, domain.ErrReservationConfirmed); ok != 0 || m[0] != n/2 {
				t.Fatalf("confirmed, but releases returned %v", releases)
			}
		case 5: // released: one release won, everything else refused
			if ok, m, _ := countErrs(releases, domain.ErrReservationReleased); ok != 1 || m[0] != n/2-1 {
				t.Fatalf("released, but releases returned %v", releases)
			}
			if ok, m, _ := countErrs(confirms, domain.ErrReservationReleased); ok != 0 || m[0] != n/2 {
				t.Fatalf("released, but confirms returned %v", confirms)
			}
		default:
			t.Fatalf("level %+v is neither confirmed (stock 3) nor released (stock 5)", l)
		}
		if l.Reserved != 0 {
			t.Fatalf("reserved=%d after the reservation was consumed", l.Reserved)
		}
	})

	runVersioned("race: 100 ReserveIfVersion at one read version, exactly 1 wins", func(t *testing.T, f invFixture) {
		f.seed(50)
		v := f.level().Version
		errs := race(100, func(i int) error {
			return f.Versioned.ReserveIfVersion(f.ctx, reservation(fmt.Sprintf("s-%03d", i), 1, time.Minute), v)
		})
		ok, matched, other := countErrs(errs, domain.ErrConflict)
		if ok != 1 || matched[0] != 99 || len(other) > 0 {
			t.Fatalf("%d won, %d got ErrConflict, other errors %v; want 1 and 99", ok, matched[0], other)
		}
		f.wantLevel(50, 1, "after the race")
	})

	run("race: mixed traffic keeps 0 <= reserved <= stock at every read", func(t *testing.T, f invFixture) {
		const stock, buyers = 30, 60
		f.seed(stock)
		var sold atomic.Int64
		stop := make(chan struct{})
		var readers sync.WaitGroup
		for range 4 {
			readers.Add(1)
			go func() {
				defer readers.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					l, err := f.Inventory.Level(f.ctx, invProduct)
					if err != nil || l.Reserved < 0 || l.Reserved > l.Stock {
						t.Errorf("level %+v, err %v", l, err)
						return
					}
				}
			}()
		}
		errs := race(buyers, func(i int) error {
			saga := domain.SagaID(fmt.Sprintf("s-%03d", i))
			qty := int64(i%3 + 1)
			err := f.Inventory.Reserve(f.ctx, domain.Reservation{SagaID: saga, ProductID: invProduct, Qty: qty, Deadline: epoch})
			if err != nil {
				return err
			}
			if i%2 == 0 {
				sold.Add(qty)
				return f.Inventory.Confirm(f.ctx, invProduct, saga)
			}
			return f.Inventory.Release(f.ctx, invProduct, saga)
		})
		close(stop)
		readers.Wait()
		if _, _, other := countErrs(errs, domain.ErrInsufficientStock); len(other) > 0 {
			t.Fatalf("unexpected errors: %v", other)
		}
		f.wantLevel(stock-sold.Load(), 0, "after every buyer finished")
	})
}

// wantSagas checks the saga IDs of rs, in order.
func wantSagas(t *testing.T, rs []domain.Reservation, want ...domain.SagaID) {
	t.Helper()
	got := make([]domain.SagaID, len(rs))
	for i, r := range rs {
		got[i] = r.SagaID
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got reservations of %v, want %v", got, want)
	}
}
