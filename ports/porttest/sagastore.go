package porttest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// StoreHarness is what the SagaStore, OrderReader and Outbox suites drive.
// The roles are separate ports but one store: a saga write carries its
// order, its events and, on confirmation, the product's stock.
type StoreHarness struct {
	// Sagas is the adapter under test.
	Sagas ports.SagaStore
	// Catalog holds the products whose durable stock a confirmation
	// decrements; the suites seed products through it.
	Catalog ports.Catalog
	// Orders is required by the OrderReader suite.
	Orders ports.OrderReader
	// Outbox is required by the Outbox and SagaBatchWriter suites.
	Outbox ports.Outbox
	// Batch is required by the SagaBatchWriter suite: the same store's
	// optional capability.
	Batch ports.SagaBatchWriter
}

const storeProduct = domain.ProductID("p-1")

type storeFixture struct {
	StoreHarness
	t *testing.T
}

// supply creates storeProduct with stock units.
func (f storeFixture) supply(stock int64) {
	f.t.Helper()
	_, err := f.Catalog.Supply(f.t.Context(), domain.Supply{ID: storeProduct, Name: "Kettle", PriceMinor: 100, AddStock: stock})
	must(f.t, err, "supply")
}

func (f storeFixture) stock() int64 {
	f.t.Helper()
	p, err := f.Catalog.Product(f.t.Context(), storeProduct)
	must(f.t, err, "product")
	return p.Stock
}

// newSaga returns a RUNNING saga for qty units of storeProduct, with order
// "o-<id>", leased until epoch+lease.
func newSaga(t *testing.T, id string, qty int64, lease time.Duration) *domain.Saga {
	t.Helper()
	return newSagaOf(t, storeProduct, id, qty, lease)
}

// newSagaOf is newSaga for another product.
func newSagaOf(t *testing.T, product domain.ProductID, id string, qty int64, lease time.Duration) *domain.Saga {
	t.Helper()
	return newSagaWithOrder(t, product, id, domain.OrderID("o-"+id), qty, lease)
}

// newSagaWithOrder is newSagaOf with its order ID chosen.
func newSagaWithOrder(t *testing.T, product domain.ProductID, id string, order domain.OrderID, qty int64, lease time.Duration) *domain.Saga {
	t.Helper()
	s, err := domain.Start(domain.StartParams{
		ID: domain.SagaID(id), OrderID: order, ProductID: product,
		Qty: qty, AmountMinor: qty * 100, StartedAt: epoch, ReservedAt: epoch,
		Deadline: epoch.Add(time.Minute), LeaseOwner: "owner", LeaseUntil: epoch.Add(lease), Now: epoch,
	})
	must(t, err, "domain.Start")
	return s
}

// create stores newSaga(id, qty, lease) and returns the stored copy.
func (f storeFixture) create(id string, qty int64, lease time.Duration) *domain.Saga {
	f.t.Helper()
	must(f.t, f.Sagas.Create(f.t.Context(), newSaga(f.t, id, qty, lease)), "create "+id)
	return f.saga(id)
}

func (f storeFixture) saga(id string) *domain.Saga {
	f.t.Helper()
	s, err := f.Sagas.Saga(f.t.Context(), domain.SagaID(id))
	must(f.t, err, "saga "+id)
	return s
}

func (f storeFixture) update(id string, fn func(*domain.Saga) error) *domain.Saga {
	f.t.Helper()
	s, err := f.Sagas.Update(f.t.Context(), domain.SagaID(id), fn)
	must(f.t, err, "update "+id)
	return s
}

func complete(s *domain.Saga) error { return s.Complete(epoch) }

func compensate(s *domain.Saga) error {
	if err := s.BeginCompensation("test", epoch); err != nil {
		return err
	}
	if err := s.CancelOrder(epoch); err != nil {
		return err
	}
	return s.FinishCompensation(epoch)
}

func eventTypes(s *domain.Saga) []domain.EventType {
	types := make([]domain.EventType, len(s.Events))
	for i, e := range s.Events {
		types[i] = e.Type
	}
	return types
}

// checkTimeline checks that s's events are numbered 1..n with their derived
// IDs and that no event type occurs twice.
func checkTimeline(t *testing.T, s *domain.Saga) {
	t.Helper()
	seen := make(map[domain.EventType]bool)
	for i, e := range s.Events {
		if e.Seq != i+1 || e.ID != domain.EventID(s.ID, i+1) || e.SagaID != s.ID {
			t.Fatalf("event %d of %s is %+v", i, s.ID, e)
		}
		if seen[e.Type] {
			t.Fatalf("timeline of %s has %s twice: %v", s.ID, e.Type, eventTypes(s))
		}
		seen[e.Type] = true
	}
}

// sameSaga fails unless got and want agree on everything a store must keep,
// ignoring the version the store assigns.
func sameSaga(t *testing.T, got, want *domain.Saga, when string) {
	t.Helper()
	if !reflect.DeepEqual(normalized(got), normalized(want)) {
		t.Fatalf("%s: got saga\n%+v\nwant\n%+v", when, got, want)
	}
}

// normalized returns a copy of s without its versions and with every time
// in UTC, so a store that hands times back in another location (as a
// database driver may) still compares equal.
func normalized(s *domain.Saga) *domain.Saga {
	c := s.Clone()
	c.Version, c.Order.Version = 0, 0
	for _, tp := range []*time.Time{
		&c.ReservationDeadline, &c.LeaseUntil, &c.StartedAt, &c.UpdatedAt,
		&c.Order.CreatedAt, &c.Order.UpdatedAt,
	} {
		*tp = tp.UTC()
	}
	for i := range c.Events {
		c.Events[i].At = c.Events[i].At.UTC()
	}
	if len(c.Events) == 0 {
		c.Events = nil
	}
	return c
}

// equalEvent compares events, their times by instant.
func equalEvent(a, b domain.Event) bool {
	if !a.At.Equal(b.At) {
		return false
	}
	a.At, b.At = time.Time{}, time.Time{}
	return a == b
}

func runStore(t *testing.T, newHarness func(t *testing.T) StoreHarness, need func(StoreHarness) bool, name string, test func(t *testing.T, f storeFixture)) {
	t.Run(name, func(t *testing.T) {
		h := newHarness(t)
		if h.Sagas == nil || h.Catalog == nil || !need(h) {
			t.Fatal("harness is missing a port this suite needs")
		}
		test(t, storeFixture{StoreHarness: h, t: t})
	})
}

// SagaStore checks the ports.SagaStore contract. The harness needs Sagas and
// Catalog.
//
// To stage a lost race deterministically, some fns passed to Update call
// Update themselves, as a concurrent writer would; an adapter that follows
// the contract (load, apply, compare-and-set) allows that.
func SagaStore(t *testing.T, newHarness func(t *testing.T) StoreHarness) {
	run := func(name string, test func(t *testing.T, f storeFixture)) {
		runStore(t, newHarness, func(StoreHarness) bool { return true }, name, test)
	}

	run("Create stores the saga and Saga returns a copy", func(t *testing.T, f storeFixture) {
		f.supply(10)
		s := newSaga(t, "s-1", 2, time.Minute)
		must(t, f.Sagas.Create(t.Context(), s), "create")
		want := s.Clone()
		s.Events[0].Type = "Tampered" // the caller's copy is not the stored one
		s.Status = domain.SagaCompleted
		got := f.saga("s-1")
		sameSaga(t, got, want, "stored saga")
		got.Events[1].Type = "Tampered" // nor is the copy handed out
		got.Order.Status = domain.OrderConfirmed
		sameSaga(t, f.saga("s-1"), want, "after changing a loaded copy")
		if f.stock() != 10 {
			t.Fatalf("creating a pending order changed stock to %d", f.stock())
		}
	})

	run("Create of an existing ID returns ErrDuplicate and changes nothing", func(t *testing.T, f storeFixture) {
		f.supply(10)
		before := f.create("s-1", 2, time.Minute)
		again := newSaga(t, "s-1", 5, time.Hour)
		again.LeaseOwner = "intruder"
		wantErr(t, f.Sagas.Create(t.Context(), again), domain.ErrDuplicate, "second create")
		after := f.saga("s-1")
		sameSaga(t, after, before, "after a duplicate create")
		if after.Version != before.Version {
			t.Fatalf("duplicate create moved the version from %d to %d", before.Version, after.Version)
		}
	})

	run("Saga of an unknown ID returns ErrSagaNotFound", func(t *testing.T, f storeFixture) {
		_, err := f.Sagas.Saga(t.Context(), "s-missing")
		wantErr(t, err, domain.ErrSagaNotFound, "saga")
	})

	run("Update of an unknown ID returns ErrSagaNotFound without calling fn", func(t *testing.T, f storeFixture) {
		called := false
		_, err := f.Sagas.Update(t.Context(), "s-missing", func(*domain.Saga) error { called = true; return nil })
		wantErr(t, err, domain.ErrSagaNotFound, "update")
		if called {
			t.Fatal("fn was called for a saga that does not exist")
		}
	})

	run("Update applies fn, stores the result and bumps the version of saga and order together", func(t *testing.T, f storeFixture) {
		f.supply(10)
		before := f.create("s-1", 2, time.Minute)
		got := f.update("s-1", func(s *domain.Saga) error {
			return s.Claim("recoverer", epoch.Add(2*time.Minute), epoch.Add(3*time.Minute))
		})
		if got.LeaseOwner != "recoverer" || !got.LeaseUntil.Equal(epoch.Add(3*time.Minute)) {
			t.Fatalf("update returned lease %q until %v", got.LeaseOwner, got.LeaseUntil)
		}
		if got.Version <= before.Version {
			t.Fatalf("version went from %d to %d, want it to rise", before.Version, got.Version)
		}
		if got.Order.Version != got.Version {
			t.Fatalf("order version %d, saga version %d: they share one record", got.Order.Version, got.Version)
		}
		stored := f.saga("s-1")
		sameSaga(t, stored, got, "stored after update")
		if stored.Version != got.Version {
			t.Fatalf("stored version %d, update returned %d", stored.Version, got.Version)
		}
	})

	run("Update whose fn fails stores nothing and returns fn's error", func(t *testing.T, f storeFixture) {
		f.supply(10)
		before := f.create("s-1", 2, time.Minute)
		boom := errors.New("boom")
		_, err := f.Sagas.Update(t.Context(), "s-1", func(s *domain.Saga) error {
			if err := s.Complete(epoch); err != nil {
				return err
			}
			return boom
		})
		wantErr(t, err, boom, "update")
		after := f.saga("s-1")
		sameSaga(t, after, before, "after a failed fn")
		if after.Version != before.Version || f.stock() != 10 {
			t.Fatalf("failed fn changed version %d -> %d or stock 10 -> %d", before.Version, after.Version, f.stock())
		}
	})

	run("Update that lost a race applies fn again to a fresh copy", func(t *testing.T, f storeFixture) {
		f.supply(10)
		before := f.create("s-1", 2, time.Minute)
		var calls int
		var owners []string
		got := f.update("s-1", func(s *domain.Saga) error {
			calls++
			owners = append(owners, s.LeaseOwner)
			if calls == 1 {
				// Another writer commits between this load and its store.
				f.update("s-1", func(s *domain.Saga) error { s.LeaseOwner = "other"; return nil })
			}
			s.Reason = fmt.Sprintf("attempt %d", calls)
			return nil
		})
		if calls != 2 {
			t.Fatalf("fn ran %d times, want 2 (once stale, once fresh)", calls)
		}
		if !slices.Equal(owners, []string{"owner", "other"}) {
			t.Fatalf("fn saw lease owners %v, want the stale then the fresh one", owners)
		}
		if got.LeaseOwner != "other" || got.Reason != "attempt 2" {
			t.Fatalf("stored lease owner %q and reason %q: a write was lost", got.LeaseOwner, got.Reason)
		}
		if got.Version < before.Version+2 {
			t.Fatalf("version %d after two writes on version %d", got.Version, before.Version)
		}
	})

	run("Update that keeps losing races gives up with ErrConflict", func(t *testing.T, f storeFixture) {
		f.supply(10)
		f.create("s-1", 2, time.Minute)
		var calls int
		_, err := f.Sagas.Update(t.Context(), "s-1", func(s *domain.Saga) error {
			calls++
			if calls > 1000 {
				return errors.New("unbounded retries")
			}
			f.update("s-1", func(s *domain.Saga) error { s.LeaseOwner = fmt.Sprintf("other-%d", calls); return nil })
			s.Reason = "loser"
			return nil
		})
		wantErr(t, err, domain.ErrConflict, "update that always loses")
		if calls < 2 {
			t.Fatalf("fn ran %d times: a lost race must be retried", calls)
		}
		after := f.saga("s-1")
		if after.Reason == "loser" || after.LeaseOwner != fmt.Sprintf("other-%d", calls) {
			t.Fatalf("after giving up: reason %q, owner %q", after.Reason, after.LeaseOwner)
		}
	})

	run("Update that confirms the order decrements the product's stock by its qty", func(t *testing.T, f storeFixture) {
		f.supply(10)
		f.create("s-1", 3, time.Minute)
		before, err := f.Catalog.Product(t.Context(), storeProduct)
		must(t, err, "product")
		got := f.update("s-1", complete)
		if got.Status != domain.SagaCompleted || got.Order.Status != domain.OrderConfirmed {
			t.Fatalf("saga %s, order %s after Complete", got.Status, got.Order.Status)
		}
		after, err := f.Catalog.Product(t.Context(), storeProduct)
		must(t, err, "product")
		if after.Stock != 7 {
			t.Fatalf("stock %d after confirming 3 of 10", after.Stock)
		}
		if after.Version <= before.Version {
			t.Fatalf("product version went from %d to %d, want it to rise", before.Version, after.Version)
		}
	})

	run("Update of a confirmed order decrements nothing more", func(t *testing.T, f storeFixture) {
		f.supply(10)
		f.create("s-1", 3, time.Minute)
		f.update("s-1", complete)
		f.update("s-1", complete)
		f.update("s-1", func(s *domain.Saga) error { s.Reason = "touched"; return nil })
		if f.stock() != 7 {
			t.Fatalf("stock %d: a confirmed order was decremented again", f.stock())
		}
	})

	run("Update that confirms with too little stock returns ErrInsufficientStock and stores nothing", func(t *testing.T, f storeFixture) {
		f.supply(2)
		before := f.create("s-1", 3, time.Minute)
		_, err := f.Sagas.Update(t.Context(), "s-1", complete)
		wantErr(t, err, domain.ErrInsufficientStock, "confirm 3 of 2")
		after := f.saga("s-1")
		sameSaga(t, after, before, "after a refused confirmation")
		if after.Version != before.Version || f.stock() != 2 {
			t.Fatalf("refused confirmation changed version %d -> %d or stock 2 -> %d", before.Version, after.Version, f.stock())
		}
		// The saga can still take the other branch.
		if got := f.update("s-1", compensate); got.Status != domain.SagaCompensated {
			t.Fatalf("compensation after a refused confirmation left %s", got.Status)
		}
	})

	run("Stale lists unfinished sagas whose lease ended at or before now, oldest lease first", func(t *testing.T, f storeFixture) {
		f.supply(10)
		f.create("s-future", 1, 3*time.Minute)
		f.create("s-1m", 1, 1*time.Minute)
		f.create("s-now", 1, 2*time.Minute)
		f.create("s-compensating", 1, 30*time.Second)
		f.update("s-compensating", func(s *domain.Saga) error { return s.BeginCompensation("test", epoch) })
		f.create("s-completed", 1, 0)
		f.update("s-completed", complete)
		f.create("s-compensated", 1, 0)
		f.update("s-compensated", compensate)
		aborted := domain.Abort(domain.Reservation{SagaID: "s-aborted", ProductID: storeProduct, Qty: 1, Deadline: epoch}, "expired", epoch)
		must(t, f.Sagas.Create(t.Context(), aborted), "create aborted")

		got, err := f.Sagas.Stale(t.Context(), epoch.Add(2*time.Minute), 10)
		must(t, err, "stale")
		if want := []domain.SagaID{"s-compensating", "s-1m", "s-now"}; !slices.Equal(got, want) {
			t.Fatalf("stale listed %v, want %v", got, want)
		}
		got, err = f.Sagas.Stale(t.Context(), epoch.Add(2*time.Minute), 2)
		must(t, err, "stale with limit")
		if want := []domain.SagaID{"s-compensating", "s-1m"}; !slices.Equal(got, want) {
			t.Fatalf("stale with limit 2 listed %v, want %v", got, want)
		}
		got, err = f.Sagas.Stale(t.Context(), epoch.Add(-time.Minute), 10)
		must(t, err, "stale before every lease ended")
		if len(got) != 0 {
			t.Fatalf("stale listed %v before any unfinished lease ended", got)
		}
	})

	run("A call with a done context returns ErrUnavailable and changes nothing", func(t *testing.T, f storeFixture) {
		f.supply(10)
		before := f.create("s-1", 1, time.Minute)
		done := doneContext(t)
		wantUnavailable(t, f.Sagas.Create(done, newSaga(t, "s-2", 1, time.Minute)), "create")
		_, err := f.Sagas.Update(done, "s-1", complete)
		wantUnavailable(t, err, "update")
		_, err = f.Sagas.Saga(done, "s-1")
		wantUnavailable(t, err, "saga")
		_, err = f.Sagas.Stale(done, epoch, 10)
		wantUnavailable(t, err, "stale")
		_, err = f.Sagas.Saga(t.Context(), "s-2")
		wantErr(t, err, domain.ErrSagaNotFound, "the refused create")
		after := f.saga("s-1")
		if after.Version != before.Version || after.Status != domain.SagaRunning {
			t.Fatalf("refused update stored version %d status %s", after.Version, after.Status)
		}
	})

	run("race: 20 Creates of one saga ID, exactly 1 wins", func(t *testing.T, f storeFixture) {
		f.supply(10)
		errs := race(20, func(i int) error {
			s := newSaga(t, "s-1", 1, time.Minute)
			s.LeaseOwner = fmt.Sprintf("creator-%02d", i)
			return f.Sagas.Create(t.Context(), s)
		})
		ok, matched, other := countErrs(errs, domain.ErrDuplicate)
		if ok != 1 || matched[0] != 19 || len(other) > 0 {
			t.Fatalf("%d won, %d got ErrDuplicate, other errors %v; want 1 and 19", ok, matched[0], other)
		}
		winner := slices.IndexFunc(errs, func(err error) bool { return err == nil })
		if got, want := f.saga("s-1").LeaseOwner, fmt.Sprintf("creator-%02d", winner); got != want {
			t.Fatalf("stored saga was created by %s, but %s was told it won", got, want)
		}
	})

	run("race: Complete against compensation, exactly one outcome persists", func(t *testing.T, f storeFixture) {
		f.supply(10)
		f.create("s-1", 2, time.Minute)
		const n = 20
		errs := race(n, func(i int) error {
			fn := complete
			if i%2 == 1 {
				fn = compensate
			}
			_, err := f.Sagas.Update(t.Context(), "s-1", fn)
			return err
		})
		final := f.saga("s-1")
		var winners, losers []error
		for i, err := range errs {
			completed := i%2 == 0
			if completed == (final.Status == domain.SagaCompleted) {
				winners = append(winners, err)
			} else {
				losers = append(losers, err)
			}
		}
		if ok, _, other := countErrs(winners, domain.ErrConflict); ok == 0 || len(other) > 0 {
			t.Fatalf("final status %s but its writers returned %v", final.Status, winners)
		}
		if ok, _, other := countErrs(losers, domain.ErrInvalidTransition, domain.ErrConflict); ok != 0 || len(other) > 0 {
			t.Fatalf("final status %s but the other branch's writers returned %v", final.Status, losers)
		}
		checkTimeline(t, final)
		wantStock := map[domain.SagaStatus]int64{domain.SagaCompleted: 8, domain.SagaCompensated: 10}
		want, ok := wantStock[final.Status]
		if !ok || f.stock() != want {
			t.Fatalf("final status %s with stock %d", final.Status, f.stock())
		}
	})
}

// OrderReader checks the ports.OrderReader contract. The harness needs
// Sagas, Catalog and Orders.
func OrderReader(t *testing.T, newHarness func(t *testing.T) StoreHarness) {
	run := func(name string, test func(t *testing.T, f storeFixture)) {
		runStore(t, newHarness, func(h StoreHarness) bool { return h.Orders != nil }, name, test)
	}

	run("SagaOfOrder returns a copy of the saga that owns the order, as last stored", func(t *testing.T, f storeFixture) {
		f.supply(10)
		f.create("s-1", 1, time.Minute)
		f.create("s-2", 1, time.Minute)
		want := f.update("s-2", complete)
		got, err := f.Orders.SagaOfOrder(t.Context(), "o-s-2")
		must(t, err, "saga of order")
		sameSaga(t, got, want, "saga of order o-s-2")
		got.Status = domain.SagaCompensated
		got, err = f.Orders.SagaOfOrder(t.Context(), "o-s-2")
		must(t, err, "saga of order again")
		sameSaga(t, got, want, "after changing the returned copy")
	})

	run("SagaOfOrder of an unknown order returns ErrOrderNotFound", func(t *testing.T, f storeFixture) {
		f.supply(10)
		aborted := domain.Abort(domain.Reservation{SagaID: "s-aborted", ProductID: storeProduct, Qty: 1, Deadline: epoch}, "expired", epoch)
		must(t, f.Sagas.Create(t.Context(), aborted), "create a saga without an order")
		for _, id := range []domain.OrderID{"o-missing", ""} {
			_, err := f.Orders.SagaOfOrder(t.Context(), id)
			wantErr(t, err, domain.ErrOrderNotFound, fmt.Sprintf("saga of order %q", id))
		}
	})

	run("A call with a done context returns ErrUnavailable", func(t *testing.T, f storeFixture) {
		f.supply(10)
		f.create("s-1", 1, time.Minute)
		_, err := f.Orders.SagaOfOrder(doneContext(t), "o-s-1")
		wantUnavailable(t, err, "saga of order")
	})
}

// Outbox checks the ports.Outbox contract, fed by SagaStore writes. The
// harness needs Sagas, Catalog and Outbox.
func Outbox(t *testing.T, newHarness func(t *testing.T) StoreHarness) {
	run := func(name string, test func(t *testing.T, f storeFixture)) {
		runStore(t, newHarness, func(h StoreHarness) bool { return h.Outbox != nil }, name, test)
	}
	unpublished := func(t *testing.T, f storeFixture, limit int) []string {
		t.Helper()
		es, err := f.Outbox.Unpublished(t.Context(), limit)
		must(t, err, "unpublished")
		ids := make([]string, len(es))
		for i, e := range es {
			ids[i] = e.ID
		}
		return ids
	}
	wantIDs := func(t *testing.T, got []string, want ...string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Fatalf("unpublished %v, want %v", got, want)
		}
	}

	run("A created saga's events are unpublished, in timeline order", func(t *testing.T, f storeFixture) {
		f.supply(10)
		s := f.create("s-1", 1, time.Minute)
		es, err := f.Outbox.Unpublished(t.Context(), 100)
		must(t, err, "unpublished")
		if !slices.EqualFunc(es, s.Events, equalEvent) {
			t.Fatalf("unpublished %+v, want the timeline %+v", es, s.Events)
		}
	})

	run("Events keep their trace context through Create, Update, Saga and Unpublished", func(t *testing.T, f storeFixture) {
		// The outbox hands each event's W3C trace context to the relay
		// (domain.Event.TraceParent): every store keeps it with the event.
		const created, confirmed = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"
		f.supply(10)
		s := newSaga(t, "s-traced", 1, time.Minute)
		for i := range s.Events {
			s.Events[i].TraceParent = created
		}
		must(t, f.Sagas.Create(t.Context(), s), "create")
		done := f.update("s-traced", func(s *domain.Saga) error {
			n := len(s.Events)
			if err := s.Complete(epoch); err != nil {
				return err
			}
			for i := n; i < len(s.Events); i++ {
				s.Events[i].TraceParent = confirmed
			}
			return nil
		})
		want := func(e domain.Event) string {
			if e.Type == domain.EventOrderConfirmed || e.Type == domain.EventPaymentProcessed {
				return confirmed
			}
			return created
		}
		es, err := f.Outbox.Unpublished(t.Context(), 100)
		must(t, err, "unpublished")
		for _, from := range [][]domain.Event{done.Events, f.saga("s-traced").Events, es} {
			if len(from) != len(done.Events) {
				t.Fatalf("%d events, want %d", len(from), len(done.Events))
			}
			for _, e := range from {
				if e.TraceParent != want(e) {
					t.Fatalf("event %s (%s): traceparent %q, want %q", e.ID, e.Type, e.TraceParent, want(e))
				}
			}
		}
	})

	run("Unpublished returns events oldest write first, each saga's in order", func(t *testing.T, f storeFixture) {
		f.supply(10)
		f.create("s-b", 1, time.Minute)
		f.create("s-a", 1, time.Minute)
		f.update("s-b", complete)
		f.update("s-a", compensate)
		wantIDs(t, unpublished(t, f, 100),
			"s-b-001", "s-b-002", "s-b-003", "s-a-001", "s-a-002", "s-a-003",
			"s-b-004", "s-b-005", "s-a-004", "s-a-005", "s-a-006")
	})

	run("Unpublished returns at most limit events", func(t *testing.T, f storeFixture) {
		f.supply(10)
		f.create("s-1", 1, time.Minute)
		wantIDs(t, unpublished(t, f, 2), "s-1-001", "s-1-002")
	})

	run("MarkPublished removes events from Unpublished and is idempotent", func(t *testing.T, f storeFixture) {
		f.supply(10)
		f.create("s-1", 1, time.Minute)
		f.create("s-2", 1, time.Minute)
		must(t, f.Outbox.MarkPublished(t.Context(), []string{"s-1-001", "s-1-002", "s-2-001"}), "mark")
		wantIDs(t, unpublished(t, f, 100), "s-1-003", "s-2-002", "s-2-003")
		must(t, f.Outbox.MarkPublished(t.Context(), []string{"s-1-001", "s-1-002", "s-2-001"}), "mark again")
		must(t, f.Outbox.MarkPublished(t.Context(), nil), "mark nothing")
		wantIDs(t, unpublished(t, f, 100), "s-1-003", "s-2-002", "s-2-003")
		must(t, f.Outbox.MarkPublished(t.Context(), []string{"s-1-003", "s-2-002", "s-2-003"}), "mark the rest")
		wantIDs(t, unpublished(t, f, 100))
		f.update("s-1", complete)
		wantIDs(t, unpublished(t, f, 100), "s-1-004", "s-1-005")
	})

	run("MarkPublished marks an event with its saga's earlier ones, within a write and across writes", func(t *testing.T, f storeFixture) {
		f.supply(10)
		f.create("s-1", 1, time.Minute)
		f.create("s-2", 1, time.Minute)
		f.update("s-1", complete)
		must(t, f.Outbox.MarkPublished(t.Context(), []string{"s-2-002"}), "mark the middle of a write")
		wantIDs(t, unpublished(t, f, 100), "s-1-001", "s-1-002", "s-1-003", "s-2-003", "s-1-004", "s-1-005")
		must(t, f.Outbox.MarkPublished(t.Context(), []string{"s-1-004", "s-9-001", "not an event"}), "mark into a later write")
		wantIDs(t, unpublished(t, f, 100), "s-2-003", "s-1-005")
		must(t, f.Outbox.MarkPublished(t.Context(), []string{"s-2-001"}), "mark an earlier event again")
		wantIDs(t, unpublished(t, f, 100), "s-2-003", "s-1-005")
	})

	run("Each stored event enters the outbox once, and refused writes add none", func(t *testing.T, f storeFixture) {
		f.supply(1)
		f.create("s-1", 1, time.Minute)
		f.create("s-2", 5, time.Minute)
		f.update("s-1", func(s *domain.Saga) error { s.Reason = "touched"; return nil })
		wantErr(t, f.Sagas.Create(t.Context(), newSaga(t, "s-1", 1, time.Minute)), domain.ErrDuplicate, "duplicate create")
		_, err := f.Sagas.Update(t.Context(), "s-1", func(s *domain.Saga) error {
			_ = s.Complete(epoch)
			return errors.New("boom")
		})
		if err == nil {
			t.Fatal("failing fn: want an error")
		}
		_, err = f.Sagas.Update(t.Context(), "s-2", complete)
		wantErr(t, err, domain.ErrInsufficientStock, "confirm 5 of 1")
		wantIDs(t, unpublished(t, f, 100), "s-1-001", "s-1-002", "s-1-003", "s-2-001", "s-2-002", "s-2-003")
	})

	run("A call with a done context returns ErrUnavailable and changes nothing", func(t *testing.T, f storeFixture) {
		f.supply(10)
		f.create("s-1", 1, time.Minute)
		done := doneContext(t)
		_, err := f.Outbox.Unpublished(done, 10)
		wantUnavailable(t, err, "unpublished")
		wantUnavailable(t, f.Outbox.MarkPublished(done, []string{"s-1-001"}), "mark published")
		wantIDs(t, unpublished(t, f, 100), "s-1-001", "s-1-002", "s-1-003")
	})

	run("race: concurrent writers' events each enter the outbox once, in saga order", func(t *testing.T, f storeFixture) {
		f.supply(100)
		const n = 10
		errs := race(n, func(i int) error {
			id := domain.SagaID(fmt.Sprintf("s-%02d", i))
			if err := f.Sagas.Create(t.Context(), newSaga(t, string(id), 1, time.Minute)); err != nil {
				return err
			}
			fn := complete
			if i%2 == 1 {
				fn = compensate
			}
			_, err := f.Sagas.Update(t.Context(), id, fn)
			return err
		})
		if ok, _, other := countErrs(errs); ok != n {
			t.Fatalf("writers failed: %v", other)
		}
		es, err := f.Outbox.Unpublished(t.Context(), 1000)
		must(t, err, "unpublished")
		next := make(map[domain.SagaID]int)
		for _, e := range es {
			next[e.SagaID]++
			if e.Seq != next[e.SagaID] {
				t.Fatalf("event %s out of order: saga's event %d is seq %d", e.ID, next[e.SagaID], e.Seq)
			}
		}
		for i := range n {
			s := f.saga(fmt.Sprintf("s-%02d", i))
			if next[s.ID] != len(s.Events) {
				t.Fatalf("outbox holds %d events of %s, its timeline %d", next[s.ID], s.ID, len(s.Events))
			}
		}
	})
}
