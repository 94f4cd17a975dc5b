package memory_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/memory"
	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports/porttest"
)

// retentionWorld is a store with a retention (and maybe a capacity) on a
// manual clock, one product in its catalog.
type retentionWorld struct {
	t     *testing.T
	clock *memory.Clock
	store *memory.Store
}

func newRetentionWorld(t *testing.T, opts ...memory.StoreOption) retentionWorld {
	t.Helper()
	clock := memory.NewClock(start)
	w := retentionWorld{t: t, clock: clock, store: memory.NewStore(clock, opts...)}
	if _, err := w.store.Supply(t.Context(), domain.Supply{ID: "p-1", Name: "Kettle", PriceMinor: 100, AddStock: 1000}); err != nil {
		t.Fatal(err)
	}
	return w
}

// running creates a RUNNING saga whose reservation deadline is a minute
// after the clock's now, as the app's first commit does.
func (w retentionWorld) running(id string) *domain.Saga {
	w.t.Helper()
	now := w.clock.Now()
	s, err := domain.Start(domain.StartParams{
		ID: domain.SagaID(id), OrderID: domain.OrderID("o-" + id), ProductID: "p-1", Qty: 1,
		AmountMinor: 100, StartedAt: now, ReservedAt: now, Deadline: now.Add(time.Minute),
		LeaseOwner: "a", LeaseUntil: now.Add(30 * time.Second), Now: now,
	})
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.store.Create(w.t.Context(), s); err != nil {
		w.t.Fatalf("create %s: %v", id, err)
	}
	return s
}

// completed creates a saga and completes it at the clock's now.
func (w retentionWorld) completed(id string) {
	w.t.Helper()
	w.running(id)
	w.update(id, func(s *domain.Saga) error { return s.Complete(w.clock.Now()) })
}

func (w retentionWorld) update(id string, fn func(*domain.Saga) error) {
	w.t.Helper()
	if _, err := w.store.Update(w.t.Context(), domain.SagaID(id), fn); err != nil {
		w.t.Fatalf("update %s: %v", id, err)
	}
}

// held reports whether the store still knows the saga, by ID and by its
// order, and fails if the two answers disagree.
func (w retentionWorld) held(id string) bool {
	w.t.Helper()
	_, err := w.store.Saga(w.t.Context(), domain.SagaID(id))
	_, oerr := w.store.SagaOfOrder(w.t.Context(), domain.OrderID("o-"+id))
	switch {
	case err == nil && oerr == nil:
		return true
	case errors.Is(err, domain.ErrSagaNotFound) && errors.Is(oerr, domain.ErrOrderNotFound):
		return false
	}
	w.t.Fatalf("saga %s: %v; its order: %v", id, err, oerr)
	return false
}

func TestStoreForgetsAFinishedSagaAfterItsRetention(t *testing.T) {
	const retention = time.Hour
	w := newRetentionWorld(t, memory.WithSagaRetention(retention))
	w.completed("s-1")
	// Finished now, before its reservation deadline a minute from now: the
	// retention counts from the deadline, so the gate's record of the
	// reservation never outlives the saga.
	forgetAt := start.Add(time.Minute + retention)

	w.clock.Set(forgetAt.Add(-time.Nanosecond))
	if !w.held("s-1") {
		t.Fatal("saga forgotten inside its retention")
	}
	w.clock.Set(forgetAt)
	if w.held("s-1") {
		t.Fatal("saga still held once its retention is over")
	}
	if got := w.store.Sagas(); len(got) != 0 {
		t.Fatalf("store holds %d sagas after the retention, want none", len(got))
	}
	// The key's record is gone: a saga with the same ID is a new one.
	w.running("s-1")
	if !w.held("s-1") {
		t.Fatal("a new saga under a forgotten ID was not stored")
	}
}

func TestStoreCountsRetentionFromTheFinishWhenItComesAfterTheDeadline(t *testing.T) {
	const retention = time.Hour
	w := newRetentionWorld(t, memory.WithSagaRetention(retention))
	w.running("s-1")
	w.clock.Advance(10 * time.Minute) // past the deadline: recovery finishes it
	finished := w.clock.Now()
	w.update("s-1", func(s *domain.Saga) error { return s.BeginCompensation("lease expired", finished) })
	w.update("s-1", func(s *domain.Saga) error { return s.CancelOrder(finished) })
	w.update("s-1", func(s *domain.Saga) error { return s.FinishCompensation(finished) })

	// A later write that keeps it finished does not restart its retention.
	w.clock.Advance(30 * time.Minute)
	w.update("s-1", func(*domain.Saga) error { return nil })

	w.clock.Set(finished.Add(retention - time.Nanosecond))
	if !w.held("s-1") {
		t.Fatal("saga forgotten inside its retention")
	}
	w.clock.Set(finished.Add(retention))
	if w.held("s-1") {
		t.Fatal("saga still held an hour after it finished; a rewrite restarted its retention")
	}
}

func TestStoreNeverForgetsUnfinishedSagas(t *testing.T) {
	w := newRetentionWorld(t, memory.WithSagaRetention(time.Minute), memory.WithCapacity(10))
	w.running("s-running")
	w.running("s-compensating")
	w.update("s-compensating", func(s *domain.Saga) error { return s.BeginCompensation("lease expired", start) })
	w.completed("s-done")

	w.clock.Advance(1000 * time.Hour)
	if w.held("s-done") {
		t.Fatal("finished saga outlived its retention")
	}
	for _, id := range []string{"s-running", "s-compensating"} {
		if !w.held(id) {
			t.Fatalf("unfinished saga %s was forgotten", id)
		}
	}
	stale, err := w.store.Stale(t.Context(), w.clock.Now(), 10)
	if err != nil {
		t.Fatal(err)
	}
	if want := []domain.SagaID{"s-compensating", "s-running"}; !slices.Equal(stale, want) {
		t.Fatalf("stale %v, want %v", stale, want)
	}
}

func TestStoreForgetsWhileIdleThroughStale(t *testing.T) {
	// No write comes after the saga finishes: the background round's Stale
	// is what frees it.
	w := newRetentionWorld(t, memory.WithSagaRetention(time.Minute))
	w.completed("s-1")
	w.clock.Advance(time.Hour)
	if _, err := w.store.Stale(t.Context(), w.clock.Now(), 10); err != nil {
		t.Fatal(err)
	}
	// Sagas reads without forgetting anything new: the clock has not moved.
	if got := w.store.Sagas(); len(got) != 0 {
		t.Fatalf("%d sagas held after an idle round past their retention", len(got))
	}
}

// TestStoreHasRoomUntilItsCapacity: HasRoom says no once the store holds
// its capacity and yes again once a finished saga's retention is over;
// unfinished sagas never make room. A write is never refused for room: the
// capacity is enforced where purchases are admitted (Inventory
// WithSagaRoom), since a refused write would strand its reservation.
func TestStoreHasRoomUntilItsCapacity(t *testing.T) {
	w := newRetentionWorld(t, memory.WithSagaRetention(time.Hour), memory.WithCapacity(2))
	w.completed("s-1")
	if !w.store.HasRoom() {
		t.Fatal("no room with 1 of 2 sagas held")
	}
	w.running("s-2")
	if w.store.HasRoom() {
		t.Fatal("room with 2 of 2 sagas held")
	}
	w.clock.Advance(time.Hour) // s-1 is still inside its retention (deadline + 1h)
	if w.store.HasRoom() {
		t.Fatal("room while every saga held is inside its retention or unfinished")
	}
	// An admitted purchase's write still lands, past the capacity.
	w.running("s-3")
	if !w.held("s-3") {
		t.Fatal("a write past the capacity was refused")
	}
	// A retry inside the window still finds its saga: one key, one saga.
	if !w.held("s-1") {
		t.Fatal("a saga inside its retention was forgotten to make room")
	}
	w.clock.Set(start.Add(time.Minute + time.Hour)) // s-1's retention is over
	if w.store.HasRoom() {
		t.Fatal("room with the two unfinished sagas held at a capacity of 2")
	}
	if w.held("s-1") || !w.held("s-2") || !w.held("s-3") {
		t.Fatal("the wrong sagas were forgotten")
	}
	w.update("s-2", func(s *domain.Saga) error { return s.Complete(w.clock.Now()) })
	w.clock.Advance(time.Hour)
	if !w.store.HasRoom() || w.held("s-2") {
		t.Fatal("no room once a finished saga's retention ended")
	}
}

func TestStoreWithoutOptionsKeepsEverySaga(t *testing.T) {
	w := newRetentionWorld(t)
	for i := range 100 {
		w.completed(fmt.Sprintf("s-%d", i))
	}
	w.clock.Advance(100_000 * time.Hour)
	if n := len(w.store.Sagas()); n != 100 {
		t.Fatalf("a store without a retention holds %d of 100 finished sagas", n)
	}
}

func TestStoreOptionsRefuseNonPositiveValues(t *testing.T) {
	for name, f := range map[string]func(){
		"WithSagaRetention": func() { memory.WithSagaRetention(0) },
		"WithCapacity":      func() { memory.WithCapacity(0) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Fatalf("%s(0) did not panic", name)
				}
			}()
			f()
		}()
	}
}

// The contract suites again, on a store with both options: the clock of
// the harness never moves, so nothing is forgotten, but every write goes
// through the capacity check, the queue and the unfinished index.
func newBoundedStoreHarness(t *testing.T) porttest.StoreHarness {
	s := memory.NewStore(memory.NewClock(start), memory.WithSagaRetention(time.Minute), memory.WithCapacity(100_000))
	return porttest.StoreHarness{Sagas: s, Catalog: s, Orders: s, Outbox: s, Batch: s}
}

func TestBoundedSagaStoreContract(t *testing.T)   { porttest.SagaStore(t, newBoundedStoreHarness) }
func TestBoundedOrderReaderContract(t *testing.T) { porttest.OrderReader(t, newBoundedStoreHarness) }
func TestBoundedOutboxContract(t *testing.T)      { porttest.Outbox(t, newBoundedStoreHarness) }
func TestBoundedSagaBatchWriterContract(t *testing.T) {
	porttest.SagaBatchWriter(t, newBoundedStoreHarness)
}
