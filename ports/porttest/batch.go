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

// storeClause is one clause of a store suite: a name that reads as the
// contract's sentence and the function that checks it, so a clause can be
// run alone (go test -run 'Suite/name').
type storeClause struct {
	Name string
	Func func(t *testing.T, f storeFixture)
}

// batchClauses are the clauses of the SagaBatchWriter suite.
var batchClauses = []storeClause{
	{"WriteAll of a group of confirms stores them all and takes the stock down once by the sum", batchStoresGroup},
	{"WriteAll sells only the moves that confirm", batchSellsOnlyConfirms},
	{"WriteAll with one stale member returns ErrConflict and stores nothing", batchStaleMember},
	{"WriteAll whose sum the stock cannot cover returns ErrInsufficientStock and stores nothing", batchShortOfStock},
	{"WriteAll of an unknown saga returns ErrSagaNotFound and stores nothing", batchUnknownSaga},
	{"WriteAll of no change returns ErrInvalidInput", batchEmpty},
	{"WriteAll of two products returns ErrInvalidInput and stores nothing", batchTwoProducts},
	{"WriteAll of one saga twice returns ErrInvalidInput and stores nothing", batchSagaTwice},
	{"WriteAll that shrinks a timeline is refused and stores nothing", batchShrunkTimeline},
	{"WriteAll with a done context returns ErrUnavailable and stores nothing", batchDoneContext},
	{"race: WriteAll against Update(BeginCompensation) of a member, exactly one wins for it", batchRaceAgainstUpdate},
	{"race: two WriteAlls sharing sagas, exactly one wins", batchRaceAgainstBatch},

	{"CreateAll of sagas of several products stores them all at version 1, findable by order, events in the outbox in order", createAllStores},
	{"CreateAll with one saga ID that exists returns ErrDuplicate and stores nothing", createAllExistingSaga},
	{"CreateAll with an order ID another saga owns returns ErrDuplicate and stores nothing", createAllOwnedOrder},
	{"CreateAll with one order ID for two sagas is refused and stores nothing", createAllOrderTwice},
	{"CreateAll of one saga twice returns ErrInvalidInput and stores nothing", createAllSagaTwice},
	{"CreateAll of no saga returns ErrInvalidInput", createAllEmpty},
	{"CreateAll of a saga that sells at creation returns ErrInvalidInput and stores nothing", createAllSells},
	{"CreateAll with a done context returns ErrUnavailable and stores nothing", createAllDoneContext},
	{"race: CreateAll of a group against Create of one of its saga IDs, exactly one wins it", createAllRaceAgainstCreate},
}

// SagaBatchWriter checks the ports.SagaBatchWriter contract. The harness
// needs Sagas, Catalog, Orders, Outbox and Batch (the same store).
func SagaBatchWriter(t *testing.T, newHarness func(t *testing.T) StoreHarness) {
	need := func(h StoreHarness) bool { return h.Batch != nil && h.Outbox != nil && h.Orders != nil }
	for _, c := range batchClauses {
		runStore(t, newHarness, need, c.Name, c.Func)
	}
}

// move returns prev's change into what fn makes of a copy of it.
func move(t *testing.T, prev *domain.Saga, fn func(*domain.Saga) error) ports.SagaChange {
	t.Helper()
	next := prev.Clone()
	must(t, fn(next), "move "+string(prev.ID))
	return ports.SagaChange{Prev: prev, Next: next}
}

// moves loads each saga and moves it with fn.
func (f storeFixture) moves(fn func(*domain.Saga) error, ids ...string) []ports.SagaChange {
	f.t.Helper()
	changes := make([]ports.SagaChange, len(ids))
	for i, id := range ids {
		changes[i] = move(f.t, f.saga(id), fn)
	}
	return changes
}

func beginCompensation(s *domain.Saga) error { return s.BeginCompensation("test", epoch) }

func (f storeFixture) product(id domain.ProductID) domain.Product {
	f.t.Helper()
	p, err := f.Catalog.Product(f.t.Context(), id)
	must(f.t, err, "product "+string(id))
	return p
}

func (f storeFixture) unpublished() []string {
	f.t.Helper()
	es, err := f.Outbox.Unpublished(f.t.Context(), 10_000)
	must(f.t, err, "unpublished")
	ids := make([]string, len(es))
	for i, e := range es {
		ids[i] = e.ID
	}
	return ids
}

// publishAll marks every event so far published, so the outbox then holds
// only what later writes add.
func (f storeFixture) publishAll() {
	f.t.Helper()
	must(f.t, f.Outbox.MarkPublished(f.t.Context(), f.unpublished()), "mark published")
}

// storeState is what a refused write must leave as it was.
type storeState struct {
	stock, version int64
	sagas          map[string]*domain.Saga
	outbox         []string
}

func (f storeFixture) state(ids ...string) storeState {
	f.t.Helper()
	p := f.product(storeProduct)
	st := storeState{stock: p.Stock, version: p.Version, sagas: make(map[string]*domain.Saga), outbox: f.unpublished()}
	for _, id := range ids {
		st.sagas[id] = f.saga(id)
	}
	return st
}

// unchanged fails unless the store is as before was taken.
func (f storeFixture) unchanged(before storeState, when string) {
	f.t.Helper()
	p := f.product(storeProduct)
	if p.Stock != before.stock || p.Version != before.version {
		f.t.Fatalf("%s: product at stock %d version %d, was %d version %d",
			when, p.Stock, p.Version, before.stock, before.version)
	}
	for id, was := range before.sagas {
		now := f.saga(id)
		sameSaga(f.t, now, was, when+": saga "+id)
		if now.Version != was.Version {
			f.t.Fatalf("%s: saga %s at version %d, was %d", when, id, now.Version, was.Version)
		}
	}
	if got := f.unpublished(); !slices.Equal(got, before.outbox) {
		f.t.Fatalf("%s: outbox %v, was %v", when, got, before.outbox)
	}
}

// checkOutboxOrder fails unless the outbox holds every event of the sagas
// ids exactly once, each saga's in seq order. Call it with nothing
// published.
func (f storeFixture) checkOutboxOrder(ids []string) {
	f.t.Helper()
	es, err := f.Outbox.Unpublished(f.t.Context(), 10_000)
	must(f.t, err, "unpublished")
	next := make(map[domain.SagaID]int)
	for _, e := range es {
		next[e.SagaID]++
		if e.Seq != next[e.SagaID] {
			f.t.Fatalf("event %s out of order: saga's event %d is seq %d", e.ID, next[e.SagaID], e.Seq)
		}
	}
	for _, id := range ids {
		s := f.saga(id)
		if next[s.ID] != len(s.Events) {
			f.t.Fatalf("outbox holds %d events of %s, its timeline %d", next[s.ID], s.ID, len(s.Events))
		}
	}
}

func batchStoresGroup(t *testing.T, f storeFixture) {
	f.supply(20)
	ids := []string{"s-3", "s-1", "s-4", "s-2"} // not in ID order: change order rules
	qty := map[string]int64{"s-1": 1, "s-2": 2, "s-3": 3, "s-4": 4}
	for _, id := range ids {
		f.create(id, qty[id], time.Minute)
	}
	f.publishAll()
	before := f.product(storeProduct)
	changes := f.moves(complete, ids...)

	got, err := f.Batch.WriteAll(t.Context(), changes)
	must(t, err, "write all")
	if len(got) != len(changes) {
		t.Fatalf("returned %d sagas for %d changes", len(got), len(changes))
	}
	var wantOutbox []string
	for i, c := range changes {
		if got[i].ID != c.Next.ID {
			t.Fatalf("returned saga %d is %s, want %s: the order of changes", i, got[i].ID, c.Next.ID)
		}
		sameSaga(t, got[i], c.Next, "returned "+string(c.Next.ID))
		if got[i].Version != c.Prev.Version+1 || got[i].Order.Version != got[i].Version {
			t.Fatalf("%s returned at version %d (order %d), want %d", c.Next.ID, got[i].Version, got[i].Order.Version, c.Prev.Version+1)
		}
		if later := f.saga(string(c.Next.ID)); !reflect.DeepEqual(later, got[i]) {
			t.Fatalf("WriteAll returned\n%+v\nbut a later Saga returns\n%+v", got[i], later)
		}
		for _, e := range c.Next.Events[len(c.Prev.Events):] {
			wantOutbox = append(wantOutbox, e.ID)
		}
	}
	after := f.product(storeProduct)
	if after.Stock != before.Stock-10 {
		t.Fatalf("stock %d after selling 1+2+3+4 of %d", after.Stock, before.Stock)
	}
	if after.Version != before.Version+1 {
		t.Fatalf("product version %d -> %d: the stock must go down once, by the sum", before.Version, after.Version)
	}
	if got := f.unpublished(); !slices.Equal(got, wantOutbox) {
		t.Fatalf("outbox %v, want each saga's new events in the order of changes %v", got, wantOutbox)
	}
}

func batchSellsOnlyConfirms(t *testing.T, f storeFixture) {
	f.supply(20)
	f.create("s-1", 2, time.Minute)
	f.create("s-2", 3, time.Minute)
	f.create("s-3", 4, 0)
	f.create("s-4", 5, time.Minute)
	f.update("s-4", complete) // confirmed before: completing again sells nothing
	if f.stock() != 15 {
		t.Fatalf("stock %d after confirming 5 of 20", f.stock())
	}
	changes := []ports.SagaChange{
		move(t, f.saga("s-1"), complete),
		move(t, f.saga("s-2"), beginCompensation),
		move(t, f.saga("s-3"), func(s *domain.Saga) error {
			return s.Claim("recoverer", epoch.Add(time.Minute), epoch.Add(2*time.Minute))
		}),
		move(t, f.saga("s-4"), complete),
	}
	_, err := f.Batch.WriteAll(t.Context(), changes)
	must(t, err, "write all")
	if f.stock() != 13 {
		t.Fatalf("stock %d, want 15 - 2: only s-1's move confirms", f.stock())
	}
	for _, c := range changes {
		got := f.saga(string(c.Next.ID))
		sameSaga(t, got, c.Next, "stored "+string(c.Next.ID))
		if got.Version != c.Prev.Version+1 {
			t.Fatalf("%s at version %d, want %d", got.ID, got.Version, c.Prev.Version+1)
		}
	}
}

func batchStaleMember(t *testing.T, f storeFixture) {
	f.supply(20)
	ids := []string{"s-1", "s-2", "s-3"}
	for _, id := range ids {
		f.create(id, 1, time.Minute)
	}
	changes := f.moves(complete, ids...)
	f.update("s-2", func(s *domain.Saga) error { s.Reason = "another writer"; return nil })
	before := f.state(ids...)
	_, err := f.Batch.WriteAll(t.Context(), changes)
	wantErr(t, err, domain.ErrConflict, "write all with s-2 stale")
	f.unchanged(before, "after a refused write")
}

func batchShortOfStock(t *testing.T, f storeFixture) {
	f.supply(5)
	ids := []string{"s-1", "s-2", "s-3"}
	for _, id := range ids {
		f.create(id, 2, time.Minute)
	}
	changes := f.moves(complete, ids...)
	before := f.state(ids...)
	_, err := f.Batch.WriteAll(t.Context(), changes)
	wantErr(t, err, domain.ErrInsufficientStock, "confirm 2+2+2 of 5")
	f.unchanged(before, "after a refused write")
	// Nothing half-done stands in the way of a group the stock covers.
	_, err = f.Batch.WriteAll(t.Context(), changes[:2])
	must(t, err, "confirm 2+2 of 5")
	if f.stock() != 1 {
		t.Fatalf("stock %d after confirming 4 of 5", f.stock())
	}
}

func batchUnknownSaga(t *testing.T, f storeFixture) {
	f.supply(20)
	f.create("s-1", 1, time.Minute)
	missing := newSaga(t, "s-missing", 1, time.Minute)
	missing.Version, missing.Order.Version = 1, 1
	changes := []ports.SagaChange{move(t, f.saga("s-1"), complete), move(t, missing, complete)}
	before := f.state("s-1")
	_, err := f.Batch.WriteAll(t.Context(), changes)
	wantErr(t, err, domain.ErrSagaNotFound, "write all with an unknown saga")
	f.unchanged(before, "after a refused write")
	_, err = f.Sagas.Saga(t.Context(), "s-missing")
	wantErr(t, err, domain.ErrSagaNotFound, "the unknown saga")
}

func batchEmpty(t *testing.T, f storeFixture) {
	f.supply(20)
	for _, changes := range [][]ports.SagaChange{nil, {}} {
		_, err := f.Batch.WriteAll(t.Context(), changes)
		wantErr(t, err, domain.ErrInvalidInput, fmt.Sprintf("write all of %#v", changes))
	}
}

func batchTwoProducts(t *testing.T, f storeFixture) {
	f.supply(20)
	const other = domain.ProductID("p-2")
	_, err := f.Catalog.Supply(t.Context(), domain.Supply{ID: other, Name: "Toaster", PriceMinor: 100, AddStock: 20})
	must(t, err, "supply p-2")
	f.create("s-1", 1, time.Minute)
	must(t, f.Sagas.Create(t.Context(), newSagaOf(t, other, "s-2", 1, time.Minute)), "create s-2")
	changes := f.moves(complete, "s-1", "s-2")
	before := f.state("s-1", "s-2")
	otherBefore := f.product(other)
	_, err = f.Batch.WriteAll(t.Context(), changes)
	wantErr(t, err, domain.ErrInvalidInput, "write all of two products")
	f.unchanged(before, "after a refused write")
	if p := f.product(other); p.Stock != otherBefore.Stock || p.Version != otherBefore.Version {
		t.Fatalf("p-2 at stock %d version %d, was %d version %d", p.Stock, p.Version, otherBefore.Stock, otherBefore.Version)
	}
}

func batchSagaTwice(t *testing.T, f storeFixture) {
	f.supply(20)
	f.create("s-1", 1, time.Minute)
	f.create("s-2", 1, time.Minute)
	prev := f.saga("s-1")
	changes := []ports.SagaChange{move(t, prev, complete), move(t, f.saga("s-2"), complete), move(t, prev, beginCompensation)}
	before := f.state("s-1", "s-2")
	_, err := f.Batch.WriteAll(t.Context(), changes)
	wantErr(t, err, domain.ErrInvalidInput, "write all with s-1 twice")
	f.unchanged(before, "after a refused write")
}

func batchShrunkTimeline(t *testing.T, f storeFixture) {
	f.supply(20)
	f.create("s-1", 1, time.Minute)
	f.create("s-2", 1, time.Minute)
	changes := []ports.SagaChange{
		move(t, f.saga("s-1"), complete),
		move(t, f.saga("s-2"), func(s *domain.Saga) error { s.Events = s.Events[:1]; return nil }),
	}
	before := f.state("s-1", "s-2")
	_, err := f.Batch.WriteAll(t.Context(), changes)
	if !errors.Is(err, domain.ErrInvalidTransition) && !errors.Is(err, domain.ErrInvalidInput) {
		t.Fatalf("write all that drops events of s-2: %v, want ErrInvalidTransition or ErrInvalidInput", err)
	}
	f.unchanged(before, "after a refused write")
}

func batchDoneContext(t *testing.T, f storeFixture) {
	f.supply(20)
	f.create("s-1", 1, time.Minute)
	changes := f.moves(complete, "s-1")
	before := f.state("s-1")
	_, err := f.Batch.WriteAll(doneContext(t), changes)
	wantUnavailable(t, err, "write all")
	f.unchanged(before, "after a refused write")
}

// batchRaceAgainstUpdate races, round after round, a WriteAll confirming a
// group against an Update moving one member to compensation. For that
// member exactly one wins: the group (the Update then finds it COMPLETED:
// ErrInvalidTransition) or the Update (the group is refused whole:
// ErrConflict). Stock always equals what was supplied minus what the
// COMPLETED sagas bought (I1, I2).
func batchRaceAgainstUpdate(t *testing.T, f storeFixture) {
	const (
		supplied = 1000
		rounds   = 8
		group    = 4
	)
	f.supply(supplied)
	var all []string
	batchWins := 0
	for r := range rounds {
		ids := make([]string, group)
		for i := range ids {
			ids[i] = fmt.Sprintf("s-%d-%d", r, i)
			f.create(ids[i], int64(i+1), time.Minute)
		}
		all = append(all, ids...)
		member := ids[r%group]
		changes := f.moves(complete, ids...)
		errs := race(2, func(i int) error {
			if i == 0 {
				_, err := f.Batch.WriteAll(t.Context(), changes)
				return err
			}
			_, err := f.Sagas.Update(t.Context(), domain.SagaID(member), beginCompensation)
			return err
		})
		batchWon, updateWon := errs[0] == nil, errs[1] == nil
		switch {
		case batchWon && !updateWon:
			if !errors.Is(errs[1], domain.ErrInvalidTransition) {
				t.Fatalf("round %d: the group won, the Update returned %v, want ErrInvalidTransition", r, errs[1])
			}
			batchWins++
		case updateWon && !batchWon:
			if !errors.Is(errs[0], domain.ErrConflict) {
				t.Fatalf("round %d: the Update won, WriteAll returned %v, want ErrConflict", r, errs[0])
			}
		default:
			t.Fatalf("round %d: WriteAll returned %v, Update returned %v: exactly one must win", r, errs[0], errs[1])
		}
		for _, id := range ids {
			s := f.saga(id)
			want := domain.SagaRunning
			switch {
			case batchWon:
				want = domain.SagaCompleted
			case id == member:
				want = domain.SagaCompensating
			}
			if s.Status != want {
				t.Fatalf("round %d: %s is %s, want %s (group won: %v)", r, id, s.Status, want, batchWon)
			}
		}
		var sold int64
		for _, id := range all {
			if s := f.saga(id); s.Status == domain.SagaCompleted {
				sold += s.Qty
			}
		}
		if got := f.stock(); got != supplied-sold {
			t.Fatalf("round %d: stock %d, want %d supplied - %d sold by COMPLETED sagas", r, got, supplied, sold)
		}
	}
	t.Logf("the group won %d of %d rounds", batchWins, rounds)
	f.checkOutboxOrder(all)
}

// batchRaceAgainstBatch races two WriteAlls whose groups share sagas,
// listed in opposite orders: one stores its group, the other is refused
// whole with ErrConflict.
func batchRaceAgainstBatch(t *testing.T, f storeFixture) {
	f.supply(100)
	ids := []string{"s-a", "s-b", "s-c", "s-d"}
	for _, id := range ids {
		f.create(id, 1, time.Minute)
	}
	first := f.moves(complete, "s-a", "s-b", "s-c")
	second := f.moves(beginCompensation, "s-d", "s-c", "s-b")
	errs := race(2, func(i int) error {
		_, err := f.Batch.WriteAll(t.Context(), [][]ports.SagaChange{first, second}[i])
		return err
	})
	ok, matched, other := countErrs(errs, domain.ErrConflict)
	if ok != 1 || matched[0] != 1 || len(other) > 0 {
		t.Fatalf("WriteAlls returned %v: want one nil and one ErrConflict", errs)
	}
	winner := [][]ports.SagaChange{first, second}[slices.IndexFunc(errs, func(err error) bool { return err == nil })]
	stored := make(map[domain.SagaID]bool)
	for _, c := range winner {
		stored[c.Next.ID] = true
		sameSaga(t, f.saga(string(c.Next.ID)), c.Next, "winner's "+string(c.Next.ID))
	}
	for _, id := range ids {
		if s := f.saga(id); !stored[s.ID] && (s.Status != domain.SagaRunning || s.Version != 1) {
			t.Fatalf("%s is %s at version %d: the losing group stored it", id, s.Status, s.Version)
		}
	}
	wantStock := int64(100)
	if errs[0] == nil {
		wantStock -= 3
	}
	if f.stock() != wantStock {
		t.Fatalf("stock %d, want %d", f.stock(), wantStock)
	}
	f.checkOutboxOrder(ids)
}

// absent fails unless no saga of sagas is stored: not by its ID, and its
// order ID, if any saga owns it, owned by another.
func (f storeFixture) absent(when string, sagas ...*domain.Saga) {
	f.t.Helper()
	for _, s := range sagas {
		if got, err := f.Sagas.Saga(f.t.Context(), s.ID); !errors.Is(err, domain.ErrSagaNotFound) {
			f.t.Fatalf("%s: saga %s is stored (%+v, %v): nothing must be", when, s.ID, got, err)
		}
		if !s.HasOrder() {
			continue
		}
		owner, err := f.Orders.SagaOfOrder(f.t.Context(), s.Order.ID)
		if err == nil && owner.ID == s.ID {
			f.t.Fatalf("%s: order %s is stored as %s's: nothing must be", when, s.Order.ID, s.ID)
		}
		if err != nil && !errors.Is(err, domain.ErrOrderNotFound) {
			f.t.Fatalf("%s: saga of order %s: %v", when, s.Order.ID, err)
		}
	}
}

// createAllRefused calls CreateAll(sagas), wants an error matching one of
// targets, and checks that nothing changed: the sagas of before as they
// were, the product's stock, the outbox, and none of sagas stored (as far
// as their IDs are not among before's).
func (f storeFixture) createAllRefused(sagas []*domain.Saga, before storeState, when string, targets ...error) {
	f.t.Helper()
	err := f.Batch.CreateAll(f.t.Context(), sagas)
	if !slices.ContainsFunc(targets, func(target error) bool { return errors.Is(err, target) }) {
		f.t.Fatalf("%s: got error %v, want one of %v", when, err, targets)
	}
	f.unchanged(before, when)
	var fresh []*domain.Saga
	for _, s := range sagas {
		if _, existed := before.sagas[string(s.ID)]; !existed {
			fresh = append(fresh, s)
		}
	}
	f.absent(when, fresh...)
}

func createAllStores(t *testing.T, f storeFixture) {
	f.supply(20)
	const other = domain.ProductID("p-2")
	_, err := f.Catalog.Supply(t.Context(), domain.Supply{ID: other, Name: "Toaster", PriceMinor: 100, AddStock: 20})
	must(t, err, "supply p-2")
	f.create("s-0", 1, time.Minute)
	f.publishAll()
	before, otherBefore := f.product(storeProduct), f.product(other)
	sagas := []*domain.Saga{ // not in ID order: the order of sagas rules
		newSaga(t, "s-3", 3, time.Minute),
		newSagaOf(t, other, "s-1", 1, time.Minute),
		newSaga(t, "s-2", 2, 0),
		newSagaOf(t, other, "s-4", 4, time.Minute),
		// Two without an order (the reaper's records): no order ID is no
		// order ID taken.
		domain.Abort(domain.Reservation{SagaID: "s-6", ProductID: storeProduct, Qty: 1, Deadline: epoch}, "expired", epoch),
		domain.Abort(domain.Reservation{SagaID: "s-5", ProductID: other, Qty: 1, Deadline: epoch}, "expired", epoch),
	}
	given := make([]*domain.Saga, len(sagas))
	var wantOutbox []string
	for i, s := range sagas {
		given[i] = s.Clone()
		for _, e := range s.Events {
			wantOutbox = append(wantOutbox, e.ID)
		}
	}

	must(t, f.Batch.CreateAll(t.Context(), sagas), "create all")
	for i, s := range sagas {
		if !reflect.DeepEqual(s, given[i]) {
			t.Fatalf("CreateAll modified the caller's saga %s:\n%+v\nwas\n%+v", s.ID, s, given[i])
		}
		got := f.saga(string(s.ID))
		sameSaga(t, got, s, "stored "+string(s.ID))
		if got.Version != 1 || (got.HasOrder() && got.Order.Version != 1) {
			t.Fatalf("%s stored at version %d (order %d), want 1", s.ID, got.Version, got.Order.Version)
		}
		if !s.HasOrder() {
			continue
		}
		byOrder, err := f.Orders.SagaOfOrder(t.Context(), s.Order.ID)
		must(t, err, "saga of order "+string(s.Order.ID))
		if !reflect.DeepEqual(byOrder, got) {
			t.Fatalf("SagaOfOrder(%s) returns\n%+v\nbut Saga(%s) returns\n%+v", s.Order.ID, byOrder, s.ID, got)
		}
	}
	if got := f.unpublished(); !slices.Equal(got, wantOutbox) {
		t.Fatalf("outbox %v, want every saga's events in the order of sagas %v", got, wantOutbox)
	}
	for _, was := range []domain.Product{before, otherBefore} {
		if p := f.product(was.ID); p.Stock != was.Stock || p.Version != was.Version {
			t.Fatalf("%s at stock %d version %d, was %d version %d: CreateAll writes no stock",
				was.ID, p.Stock, p.Version, was.Stock, was.Version)
		}
	}
	// Each is a saga like any other: its next move is versioned from 1.
	if got := f.update("s-3", complete); got.Version != 2 || f.stock() != before.Stock-3 {
		t.Fatalf("completing s-3: version %d, stock %d, want 2 and %d", got.Version, f.stock(), before.Stock-3)
	}
}

func createAllExistingSaga(t *testing.T, f storeFixture) {
	f.supply(20)
	f.create("s-2", 1, time.Minute)
	before := f.state("s-2")
	sagas := []*domain.Saga{newSaga(t, "s-1", 1, time.Minute), newSaga(t, "s-2", 5, time.Minute), newSaga(t, "s-3", 1, time.Minute)}
	f.createAllRefused(sagas, before, "create all with s-2 stored", domain.ErrDuplicate)
	// Nothing half-done stands in the way of the others.
	must(t, f.Batch.CreateAll(t.Context(), []*domain.Saga{sagas[0], sagas[2]}), "create all of s-1 and s-3")
	sameSaga(t, f.saga("s-3"), sagas[2], "s-3")
}

func createAllOwnedOrder(t *testing.T, f storeFixture) {
	f.supply(20)
	f.create("s-1", 1, time.Minute)
	before := f.state("s-1")
	sagas := []*domain.Saga{
		newSaga(t, "s-2", 1, time.Minute),
		newSagaWithOrder(t, storeProduct, "s-3", "o-s-1", 1, time.Minute),
		newSaga(t, "s-4", 1, time.Minute),
	}
	f.createAllRefused(sagas, before, "create all with s-1's order", domain.ErrDuplicate)
}

// createAllOrderTwice: two new sagas with one order ID. Either can own it,
// so a caller falling back to Create per saga gets each its answer; which
// sentinel the batch returns is not fixed, only that it stores nothing.
func createAllOrderTwice(t *testing.T, f storeFixture) {
	f.supply(20)
	before := f.state()
	sagas := []*domain.Saga{
		newSagaWithOrder(t, storeProduct, "s-1", "o-shared", 1, time.Minute),
		newSaga(t, "s-2", 1, time.Minute),
		newSagaWithOrder(t, storeProduct, "s-3", "o-shared", 1, time.Minute),
	}
	f.createAllRefused(sagas, before, "create all with o-shared twice", domain.ErrDuplicate, domain.ErrInvalidInput)
}

func createAllSagaTwice(t *testing.T, f storeFixture) {
	f.supply(20)
	before := f.state()
	s1 := newSaga(t, "s-1", 1, time.Minute)
	sagas := []*domain.Saga{s1, newSaga(t, "s-2", 1, time.Minute), s1.Clone()}
	f.createAllRefused(sagas, before, "create all with s-1 twice", domain.ErrInvalidInput)
}

func createAllEmpty(t *testing.T, f storeFixture) {
	f.supply(20)
	for _, sagas := range [][]*domain.Saga{nil, {}} {
		wantErr(t, f.Batch.CreateAll(t.Context(), sagas), domain.ErrInvalidInput, fmt.Sprintf("create all of %#v", sagas))
	}
}

func createAllSells(t *testing.T, f storeFixture) {
	f.supply(20)
	before := f.state()
	sells := newSaga(t, "s-2", 2, time.Minute)
	must(t, complete(sells), "complete s-2")
	if domain.Sold(nil, sells) != 2 {
		t.Fatalf("domain.Sold(nil, s-2) = %d: the fixture must sell", domain.Sold(nil, sells))
	}
	sagas := []*domain.Saga{newSaga(t, "s-1", 1, time.Minute), sells, newSaga(t, "s-3", 1, time.Minute)}
	f.createAllRefused(sagas, before, "create all with a confirmed s-2", domain.ErrInvalidInput)
}

func createAllDoneContext(t *testing.T, f storeFixture) {
	f.supply(20)
	before := f.state()
	sagas := []*domain.Saga{newSaga(t, "s-1", 1, time.Minute), newSaga(t, "s-2", 1, time.Minute)}
	wantUnavailable(t, f.Batch.CreateAll(doneContext(t), sagas), "create all")
	f.unchanged(before, "after a refused write")
	f.absent("after a refused write", sagas...)
}

// createAllRaceAgainstCreate races, round after round, a CreateAll of a
// group against a Create of one member's saga ID (another saga: twice the
// quantity, the same order ID). Exactly one stores that ID: the group (the
// Create then returns ErrDuplicate) or the Create (the group is refused
// whole with ErrDuplicate and none of it is stored).
func createAllRaceAgainstCreate(t *testing.T, f storeFixture) {
	const (
		rounds = 8
		group  = 4
	)
	f.supply(100)
	var stored []string
	groupWins := 0
	for r := range rounds {
		sagas := make([]*domain.Saga, group)
		for i := range sagas {
			sagas[i] = newSaga(t, fmt.Sprintf("s-%d-%d", r, i), 1, time.Minute)
		}
		member := sagas[r%group]
		single := newSaga(t, string(member.ID), 2, time.Minute)
		errs := race(2, func(i int) error {
			if i == 0 {
				return f.Batch.CreateAll(t.Context(), sagas)
			}
			return f.Sagas.Create(t.Context(), single)
		})
		switch groupWon, singleWon := errs[0] == nil, errs[1] == nil; {
		case groupWon && !singleWon:
			if !errors.Is(errs[1], domain.ErrDuplicate) {
				t.Fatalf("round %d: the group won, Create returned %v, want ErrDuplicate", r, errs[1])
			}
			groupWins++
			for _, s := range sagas {
				sameSaga(t, f.saga(string(s.ID)), s, fmt.Sprintf("round %d: the group's %s", r, s.ID))
				stored = append(stored, string(s.ID))
			}
		case singleWon && !groupWon:
			if !errors.Is(errs[0], domain.ErrDuplicate) {
				t.Fatalf("round %d: Create won, CreateAll returned %v, want ErrDuplicate", r, errs[0])
			}
			sameSaga(t, f.saga(string(single.ID)), single, fmt.Sprintf("round %d: the single %s", r, single.ID))
			stored = append(stored, string(single.ID))
			var others []*domain.Saga
			for _, s := range sagas {
				if s != member {
					others = append(others, s)
				}
			}
			f.absent(fmt.Sprintf("round %d: the group lost", r), others...)
		default:
			t.Fatalf("round %d: CreateAll returned %v, Create returned %v: exactly one must win", r, errs[0], errs[1])
		}
	}
	t.Logf("the group won %d of %d rounds", groupWins, rounds)
	if f.stock() != 100 {
		t.Fatalf("stock %d after creating only RUNNING sagas of 100", f.stock())
	}
	f.checkOutboxOrder(stored)
}
