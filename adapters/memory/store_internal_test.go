package memory

import (
	"cmp"
	"fmt"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/flashsale/flashsale/domain"
)

// These tests look inside the store and the inventory: that the indexes a
// background round walks hold what is in flight and nothing more, and that
// a long run at a steady rate keeps a steady size, are invisible through
// the ports.

var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func newSaga(t testing.TB, id string, now time.Time) *domain.Saga {
	t.Helper()
	s, err := domain.Start(domain.StartParams{
		ID: domain.SagaID(id), OrderID: domain.OrderID("o-" + id), ProductID: "p-1", Qty: 1,
		AmountMinor: 100, StartedAt: now, ReservedAt: now, Deadline: now.Add(time.Minute),
		LeaseOwner: "a", LeaseUntil: now.Add(30 * time.Second), Now: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// purchase stores a saga and completes it, as a purchase does.
func purchase(t testing.TB, s *Store, id string, now time.Time) {
	t.Helper()
	if err := s.Create(t.Context(), newSaga(t, id, now)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(t.Context(), domain.SagaID(id), func(g *domain.Saga) error { return g.Complete(now) }); err != nil {
		t.Fatal(err)
	}
}

// relay publishes the whole outbox, as the app's relay does.
func relay(t testing.TB, s *Store) {
	t.Helper()
	for {
		evs, err := s.Unpublished(t.Context(), 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			return
		}
		ids := make([]string, len(evs))
		for i, e := range evs {
			ids[i] = e.ID
		}
		if err := s.MarkPublished(t.Context(), ids); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStaleWalksOnlyUnfinishedSagas(t *testing.T) {
	clock := NewClock(epoch)
	s := NewStore(clock) // no retention: finished sagas stay, and Stale must still skip them
	if _, err := s.Supply(t.Context(), domain.Supply{ID: "p-1", Name: "p", PriceMinor: 100, AddStock: 1_000}); err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		purchase(t, s, fmt.Sprintf("done-%d", i), epoch)
	}
	for i := range 3 {
		if err := s.Create(t.Context(), newSaga(t, fmt.Sprintf("run-%d", i), epoch)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Update(t.Context(), "run-0", func(g *domain.Saga) error { return g.BeginCompensation("x", epoch) }); err != nil {
		t.Fatal(err)
	}
	if len(s.unfinished) != 3 {
		t.Fatalf("the unfinished index holds %d sagas, want the 3 in flight (of %d stored)", len(s.unfinished), len(s.sagas))
	}
	for id := range s.unfinished {
		if s.sagas[id].saga.Status.Terminal() {
			t.Fatalf("finished saga %s in the unfinished index", id)
		}
	}
}

func TestStoreSizeIsSteadyUnderASteadyRate(t *testing.T) {
	// 10 purchases a simulated second for 400 simulated seconds, retention
	// one minute: the store should hold about rate × (deadline + retention)
	// = 10 × 120 sagas, whatever the run's length.
	const perSecond, seconds, retention = 10, 400, time.Minute
	clock := NewClock(epoch)
	s := NewStore(clock, WithSagaRetention(retention), WithCapacity(20_000))
	if _, err := s.Supply(t.Context(), domain.Supply{ID: "p-1", Name: "p", PriceMinor: 100, AddStock: perSecond * seconds}); err != nil {
		t.Fatal(err)
	}
	peak := 0
	for sec := range seconds {
		now := clock.Now()
		for i := range perSecond {
			purchase(t, s, fmt.Sprintf("s-%d-%d", sec, i), now)
		}
		peak = max(peak, len(s.sagas))
		relay(t, s)
		clock.Advance(time.Second)
	}
	if limit := perSecond * (120 + 1); peak > limit {
		t.Fatalf("store peaked at %d sagas, want at most %d", peak, limit)
	}
	if s.outbox.len() != 0 || len(s.outbox.index) != 0 {
		t.Fatalf("the outbox keeps %d entries, %d indexed, once all is published", s.outbox.len(), len(s.outbox.index))
	}
	if len(s.orders) != len(s.sagas) || s.finished.len() != len(s.sagas) {
		t.Fatalf("%d sagas, %d orders indexed, %d queued to be forgotten: they should agree",
			len(s.sagas), len(s.orders), s.finished.len())
	}
	clock.Advance(time.Hour)
	if _, err := s.Stale(t.Context(), clock.Now(), 100); err != nil {
		t.Fatal(err)
	}
	if len(s.sagas) != 0 || len(s.orders) != 0 || s.finished.len() != 0 {
		t.Fatalf("idle an hour later: %d sagas, %d orders, %d queued, want none",
			len(s.sagas), len(s.orders), s.finished.len())
	}
}

func TestInventorySizeIsSteadyUnderASteadyRate(t *testing.T) {
	const perSecond, seconds, retention = 10, 400, time.Minute
	clock := NewClock(epoch)
	inv := NewInventory(clock, WithRetention(retention))
	if err := inv.SetStock(t.Context(), "p-1", perSecond*seconds); err != nil {
		t.Fatal(err)
	}
	peak := 0
	for sec := range seconds {
		now := clock.Now()
		for i := range perSecond {
			id := domain.SagaID(fmt.Sprintf("s-%d-%d", sec, i))
			if err := inv.Reserve(t.Context(), domain.Reservation{SagaID: id, ProductID: "p-1", Qty: 1, Deadline: now.Add(time.Minute)}); err != nil {
				t.Fatal(err)
			}
			if err := inv.Confirm(t.Context(), "p-1", id); err != nil {
				t.Fatal(err)
			}
		}
		peak = max(peak, len(inv.records))
		clock.Advance(time.Second)
	}
	if limit := perSecond * (120 + 1); peak > limit {
		t.Fatalf("inventory peaked at %d records, want at most %d", peak, limit)
	}
	if len(inv.held) != 0 {
		t.Fatalf("%d records indexed as held after every reservation was confirmed", len(inv.held))
	}
	clock.Advance(time.Hour)
	if _, err := inv.Expired(t.Context(), clock.Now(), 100); err != nil {
		t.Fatal(err)
	}
	if len(inv.records) != 0 || inv.forget.len() != 0 {
		t.Fatalf("idle an hour later: %d records, %d queued, want none", len(inv.records), inv.forget.len())
	}
}

func TestExpiryQueuePopsInTimeOrder(t *testing.T) {
	var q expiryQueue
	times := []int{5, 1, 9, 3, 3, 7, 0, 8, 2, 6, 4}
	for i, m := range times {
		q.push(epoch.Add(time.Duration(m)*time.Minute), domain.SagaID(fmt.Sprint(i)))
	}
	if _, ok := q.popDue(epoch.Add(-time.Nanosecond)); ok {
		t.Fatal("popped an entry before it was due")
	}
	last := -1
	for range times {
		id, ok := q.popDue(epoch.Add(time.Hour))
		if !ok {
			t.Fatal("a due entry was not popped")
		}
		var i int
		fmt.Sscan(string(id), &i)
		if times[i] < last {
			t.Fatalf("popped %d after %d", times[i], last)
		}
		last = times[i]
	}
	if q.len() != 0 {
		t.Fatalf("%d entries left", q.len())
	}
}

// TestExpiryQueueIsAHeap drives the queue with random pushes and pops and
// compares every pop with a sorted list of what was pushed: the earliest
// (time, ID) comes out first, and nothing is popped before it is due.
func TestExpiryQueueIsAHeap(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		var q expiryQueue
		var want []expiryEntry
		for range rapid.IntRange(1, 200).Draw(t, "ops") {
			if len(want) == 0 || rapid.Bool().Draw(t, "push") {
				e := expiryEntry{
					at: epoch.Add(time.Duration(rapid.IntRange(0, 20).Draw(t, "minute")) * time.Minute),
					id: domain.SagaID(fmt.Sprint(rapid.IntRange(0, 30).Draw(t, "id"))),
				}
				q.push(e.at, e.id)
				want = append(want, e)
				continue
			}
			slices.SortFunc(want, func(a, b expiryEntry) int {
				if c := a.at.Compare(b.at); c != 0 {
					return c
				}
				return cmp.Compare(a.id, b.id)
			})
			now := epoch.Add(time.Duration(rapid.IntRange(0, 20).Draw(t, "now")) * time.Minute)
			got, ok := q.popDueEntry(now)
			if due := !want[0].at.After(now); ok != due {
				t.Fatalf("popped %v at %v, want a pop %v (earliest %v)", ok, now, due, want[0])
			}
			if ok {
				if got != want[0] {
					t.Fatalf("popped %v, want %v", got, want[0])
				}
				want = want[1:]
			}
			if q.len() != len(want) {
				t.Fatalf("%d entries, want %d", q.len(), len(want))
			}
		}
	})
}

func TestIDsPadToSixDigitsAndGrowPastThem(t *testing.T) {
	ids := NewIDs("s")
	ids.next = 999998
	for _, want := range []string{"s-999999", "s-1000000", "s-1000001"} {
		if got := ids.NewID(); got != want {
			t.Fatalf("NewID() = %q, want %q", got, want)
		}
	}
	if got := NewIDs("").NewID(); got != "000001" {
		t.Fatalf("bare NewID() = %q, want 000001", got)
	}
}

// TestEarliestDueListsAnEntryOnce: a record written several times at the
// same time leaves equal hints; the listing names it once, in order, and
// keeps every accepted entry for the next listing.
func TestEarliestDueListsAnEntryOnce(t *testing.T) {
	var q expiryQueue
	at := func(m int) time.Time { return epoch.Add(time.Duration(m) * time.Minute) }
	for _, e := range []struct {
		m  int
		id domain.SagaID
	}{{2, "b"}, {1, "a"}, {2, "b"}, {1, "a"}, {3, "c"}, {1, "a"}, {0, "gone"}} {
		q.push(at(e.m), e.id)
	}
	valid := func(e expiryEntry) bool { return e.id != "gone" }
	list := func(limit int) (ids []domain.SagaID) {
		for _, e := range q.earliestDue(at(2), limit, valid) {
			ids = append(ids, e.id)
		}
		return ids
	}
	if got := list(10); !slices.Equal(got, []domain.SagaID{"a", "b"}) {
		t.Fatalf("earliestDue = %v, want [a b]", got)
	}
	if got := list(1); !slices.Equal(got, []domain.SagaID{"a"}) {
		t.Fatalf("earliestDue with limit 1 = %v, want [a]", got)
	}
	if got := list(10); !slices.Equal(got, []domain.SagaID{"a", "b"}) {
		t.Fatalf("a second listing = %v, want [a b] again", got)
	}
}

// TestStaleFindsASagaUnfinishedAgain: a write that keeps a saga's lease
// keeps its hint, but a finished saga's hint may be gone; a write that
// makes the saga unfinished again (only a planted bug, a stale read, does)
// must leave it findable by recovery.
func TestStaleFindsASagaUnfinishedAgain(t *testing.T) {
	clock := NewClock(epoch)
	s := NewStore(clock)
	if _, err := s.Supply(t.Context(), domain.Supply{ID: "p-1", Name: "p", PriceMinor: 100, AddStock: 10}); err != nil {
		t.Fatal(err)
	}
	saga := newSaga(t, "s-1", epoch)
	if err := s.Create(t.Context(), saga); err != nil {
		t.Fatal(err)
	}
	set := func(status domain.SagaStatus) {
		t.Helper()
		if _, err := s.Update(t.Context(), "s-1", func(g *domain.Saga) error { g.Status = status; return nil }); err != nil {
			t.Fatal(err)
		}
	}
	stale := func() []domain.SagaID {
		t.Helper()
		ids, err := s.Stale(t.Context(), clock.Now(), 10)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	set(domain.SagaCompensated)
	clock.Advance(time.Minute) // past the lease
	if got := stale(); len(got) != 0 {
		t.Fatalf("Stale = %v for a finished saga, want none", got)
	}
	set(domain.SagaCompensating) // the same lease, unfinished again
	if got := stale(); !slices.Equal(got, []domain.SagaID{"s-1"}) {
		t.Fatalf("Stale = %v, want [s-1]", got)
	}
	set(domain.SagaCompensating) // a write that keeps the lease keeps the hint
	if got := stale(); !slices.Equal(got, []domain.SagaID{"s-1"}) {
		t.Fatalf("Stale after a second write = %v, want [s-1]", got)
	}
}
