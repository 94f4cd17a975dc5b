package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

var (
	_ ports.Catalog     = (*Store)(nil)
	_ ports.SagaStore   = (*Store)(nil)
	_ ports.OrderReader = (*Store)(nil)
	_ ports.Outbox      = (*Store)(nil)

	_ ports.SagaBatchWriter = (*Store)(nil)
)

// MaxUpdateAttempts bounds Store.Update's optimistic retries.
const MaxUpdateAttempts = 8

// Store is the in-memory durable store: the product catalog, the saga log
// (each saga with its order and event timeline), the order index and the
// outbox. They live in one type because one saga write must change them
// together: confirming an order decrements the product's stock, and a
// write's new events enter the outbox in the same critical section, which is
// the transaction a database adapter would use.
//
// Sagas are stored and handed out as deep copies. It is safe for concurrent
// use.
//
// # Retention and capacity
//
// By default the store keeps every saga for its lifetime, which is what the
// simulator and the tests need: their invariant checks walk every saga
// (Sagas). A long-running process bounds it with two options:
//
//   - WithSagaRetention(d): a saga is finished once a write stores it with a
//     terminal status (domain.SagaStatus.Terminal). It is then forgotten,
//     with its order's index entry, once the store's clock reaches d after
//     the later of that write's time and the saga's reservation deadline;
//     from then on Saga answers domain.ErrSagaNotFound, SagaOfOrder
//     domain.ErrOrderNotFound, and Create accepts a new saga with its ID. A
//     later write that keeps it finished does not move that time. Unfinished
//     sagas are never forgotten.
//   - WithCapacity(n): HasRoom answers false while n sagas are held, after
//     forgetting every saga whose retention is over. The capacity is
//     checked where new work is admitted (the memory Inventory asks it with
//     WithSagaRoom before it reserves), never at a write: a refused Create
//     would strand the reservation taken for it, and the reaper could not
//     store the abort that releases it. So the store may hold n plus the
//     purchases that were admitted and are still in flight. Nothing is ever
//     evicted to make room.
//
// Together they keep "one Idempotency-Key, one saga" (app.SagaIDForKey):
// the saga record is the key's record, and a retry within the retention
// always finds it, because only a finished saga past its retention is ever
// forgotten, whatever the capacity. A retry after the retention is a new
// purchase. The reservation deadline is in the rule so that a saga outlives
// the gate's record of its reservation (memory.Inventory keeps a consumed
// one until its deadline plus its own retention, so give the gate a shorter
// retention than the store: the deadline a saga carries can be a few
// milliseconds earlier than the one the gate's record keeps, when two
// requests with one key race): while the gate remembers a confirmed reservation it answers a
// retried Reserve "ok", and a store that had forgotten the saga would let
// that retry sell again; and the reaper, settling a reservation past its
// deadline from its saga, must find the saga to know it was sold.
//
// Forgetting is lazy and amortised: each finished saga enters a queue
// ordered by the time it may be forgotten, and every call pops the sagas
// that are due, O(log n) each, before it answers; the background round's
// Stale is such a call, so an idle store empties too. No call walks every
// saga except the test-support Sagas: Stale reads the unfinished ones in
// lease order from an index of its own.
// Memory is therefore about n × (the bytes of one saga) plus the catalog
// and the outbox's unpublished tail: about 3 KB of live heap per finished
// purchase, its gate record included (bench/soak BenchmarkHeapPerPurchase).
type Store struct {
	clock     ports.Clock
	retention time.Duration // 0: finished sagas are kept for good
	capacity  int           // 0: no bound

	mu       sync.Mutex
	products map[domain.ProductID]domain.Product
	sagas    map[domain.SagaID]storedSaga
	orders   map[domain.OrderID]domain.SagaID
	// unfinished holds the sagas that are not finished: the only ones Stale
	// can return, so a background round costs what is in flight.
	unfinished map[domain.SagaID]struct{}
	// leases orders the unfinished sagas by lease expiry (hints, checked
	// against the record), for Stale.
	leases expiryQueue
	// finished orders finished sagas by forgetAt (with a retention only).
	finished expiryQueue
	outbox   outbox
	// held is len(sagas), readable without s.mu (HasRoom).
	held atomic.Int64
}

// storedSaga is a saga's record and when it may be forgotten.
type storedSaga struct {
	saga *domain.Saga
	// forgetAt is zero while the saga is unfinished, and for every saga of a
	// store without a retention.
	forgetAt time.Time
}

// StoreOption configures NewStore.
type StoreOption func(*Store)

// WithSagaRetention makes the store forget a finished saga d after the
// later of the write that finished it and its reservation deadline (see
// Store). Without it finished sagas are kept for good. A non-positive d
// panics.
func WithSagaRetention(d time.Duration) StoreOption {
	mustHave(d > 0, "WithSagaRetention", "a positive retention")
	return func(s *Store) { s.retention = d }
}

// WithCapacity makes HasRoom answer false while the store holds n sagas
// (see Store): new purchases are then refused where they are admitted, by
// an Inventory made WithSagaRoom. Without WithSagaRetention nothing is ever
// forgotten, so room never comes back. A non-positive n panics.
func WithCapacity(n int) StoreOption {
	mustHave(n > 0, "WithCapacity", "a positive capacity")
	return func(s *Store) { s.capacity = n }
}

// NewStore returns an empty store that stamps products with clock's time and
// forgets finished sagas by it. It panics if clock is nil.
func NewStore(clock ports.Clock, opts ...StoreOption) *Store {
	mustHave(clock != nil, "NewStore", "a clock")
	s := &Store{
		clock:      clock,
		products:   make(map[domain.ProductID]domain.Product),
		sagas:      make(map[domain.SagaID]storedSaga),
		orders:     make(map[domain.OrderID]domain.SagaID),
		unfinished: make(map[domain.SagaID]struct{}),
		outbox:     outbox{index: make(map[eventKey]int)},
	}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

// forgetDueLocked forgets every finished saga whose retention is over at
// now, with its order's index entry. The caller holds s.mu.
func (s *Store) forgetDueLocked(now time.Time) {
	for {
		id, ok := s.finished.popDue(now)
		if !ok {
			return
		}
		rec, ok := s.sagas[id]
		if !ok || rec.forgetAt.IsZero() || now.Before(rec.forgetAt) {
			continue // a stale hint: gone, unfinished again, or finished again later
		}
		delete(s.sagas, id)
		s.held.Store(int64(len(s.sagas)))
		if owner, ok := s.orders[rec.saga.Order.ID]; ok && owner == id {
			delete(s.orders, rec.saga.Order.ID)
		}
	}
}

// HasRoom reports whether the store holds fewer sagas than its capacity
// now, after forgetting those past their retention: always without a
// capacity. It is how the memory Inventory refuses new reservations while
// the store is full (WithSagaRoom), and costs a lock only when the store
// looks full.
func (s *Store) HasRoom() bool {
	if s.capacity == 0 || s.held.Load() < int64(s.capacity) {
		return true
	}
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgetDueLocked(now)
	return len(s.sagas) < s.capacity
}

// Product implements ports.Catalog.
func (s *Store) Product(ctx context.Context, id domain.ProductID) (domain.Product, error) {
	if err := contextErr(ctx); err != nil {
		return domain.Product{}, fmt.Errorf("product %s: %w", id, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.products[id]
	if !ok {
		return domain.Product{}, fmt.Errorf("product %s: %w", id, domain.ErrProductNotFound)
	}
	return p, nil
}

// Products implements ports.Catalog.
func (s *Store) Products(ctx context.Context) ([]domain.Product, error) {
	if err := contextErr(ctx); err != nil {
		return nil, fmt.Errorf("products: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := make([]domain.Product, 0, len(s.products))
	for _, p := range s.products {
		ps = append(ps, p)
	}
	slices.SortFunc(ps, func(a, b domain.Product) int { return cmp.Compare(a.ID, b.ID) })
	return ps, nil
}

// Supply implements ports.Catalog. The read, Apply and write happen in one
// critical section, so the version check a database needs can never fail
// here and concurrent supplies never lose an update. Each stored change
// bumps the product's version (a new product starts at 1). Invalid requests
// are errors matching domain.ErrInvalidInput.
func (s *Store) Supply(ctx context.Context, sup domain.Supply) (domain.Product, error) {
	if err := contextErr(ctx); err != nil {
		return domain.Product{}, fmt.Errorf("supply %s: %w", sup.ID, err)
	}
	if err := sup.Validate(); err != nil {
		return domain.Product{}, fmt.Errorf("supply %s: %w", sup.ID, err)
	}
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	current, exists := s.products[sup.ID]
	next, err := sup.Apply(current, exists, now)
	if err != nil {
		return domain.Product{}, fmt.Errorf("supply %s: %w", sup.ID, err)
	}
	next.Version = current.Version + 1
	s.products[sup.ID] = next
	return next, nil
}

// Create implements ports.SagaStore. The stored copy gets version 1 (its
// order too); s itself is not modified. Its events enter the outbox. An
// order ID already owned by another saga is also domain.ErrDuplicate. A
// saga created with its order already CONFIRMED decrements the product's
// stock as Update's confirmation does.
func (s *Store) Create(ctx context.Context, saga *domain.Saga) error {
	if saga == nil {
		return fmt.Errorf("create saga: %w", domain.Invalid("saga", "must not be nil"))
	}
	if err := contextErr(ctx); err != nil {
		return fmt.Errorf("create saga %s: %w", saga.ID, err)
	}
	if err := saga.ID.Validate(); err != nil {
		return fmt.Errorf("create saga: %w", err)
	}
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgetDueLocked(now)
	if _, exists := s.sagas[saga.ID]; exists {
		return fmt.Errorf("create saga %s: %w", saga.ID, domain.ErrDuplicate)
	}
	if err := s.commitLocked(nil, saga, now); err != nil {
		return fmt.Errorf("create saga %s: %w", saga.ID, err)
	}
	return nil
}

// Update implements ports.SagaStore the way an optimistic-locking database
// does: it loads a copy, runs fn on it with no lock held (so concurrent
// updates of the same saga really race, and fn may itself call the store),
// and stores the result only if nobody stored a newer version meanwhile;
// otherwise it reloads and tries again, up to MaxUpdateAttempts times, then
// returns an error wrapping domain.ErrConflict.
//
// fn must not change the saga's ID or shorten its timeline (an error
// matching domain.ErrInvalidInput or domain.ErrInvalidTransition). Events
// beyond the stored timeline enter the outbox in the same write. The
// version is bumped even if fn changed nothing, as a database row update
// would. The saga fn is given is a working copy, which Update returns
// (with the stored versions) once the write succeeds; the store keeps a
// copy of its own, so nothing the caller does to it later reaches the
// store.
func (s *Store) Update(ctx context.Context, id domain.SagaID, fn func(*domain.Saga) error) (*domain.Saga, error) {
	for range MaxUpdateAttempts {
		if err := contextErr(ctx); err != nil {
			return nil, fmt.Errorf("update saga %s: %w", id, err)
		}
		s.mu.Lock()
		s.forgetDueLocked(s.clock.Now())
		stored, ok := s.sagas[id]
		var working *domain.Saga
		if ok {
			working = workingCopy(stored.saga)
		}
		s.mu.Unlock()
		if !ok {
			return nil, fmt.Errorf("update saga %s: %w", id, domain.ErrSagaNotFound)
		}
		loaded := working.Version

		if err := fn(working); err != nil {
			return nil, err
		}
		if working.ID != id {
			return nil, fmt.Errorf("update saga %s: %w", id, domain.Invalid("id", "must not change"))
		}

		now := s.clock.Now()
		s.mu.Lock()
		s.forgetDueLocked(now)
		current, ok := s.sagas[id]
		if !ok {
			// Finished and forgotten while fn ran.
			s.mu.Unlock()
			return nil, fmt.Errorf("update saga %s: %w", id, domain.ErrSagaNotFound)
		}
		if current.saga.Version != loaded {
			s.mu.Unlock()
			continue // lost the race: apply fn again to the newer record
		}
		// The store keeps an exact copy; the working copy, with the
		// versions the write gave it, is the caller's answer.
		err := s.commitLocked(current.saga, working, now)
		if err == nil {
			events := working.Events
			*working = *s.sagas[id].saga
			working.Events = events
		}
		s.mu.Unlock()
		if err != nil {
			return nil, fmt.Errorf("update saga %s: %w", id, err)
		}
		return working, nil
	}
	return nil, fmt.Errorf("update saga %s: gave up after %d attempts: %w", id, MaxUpdateAttempts, domain.ErrConflict)
}

// commitLocked stores next as the saga's record replacing prev (nil for a
// new saga) with every effect of the write, or returns an error having
// changed nothing. The caller holds s.mu.
func (s *Store) commitLocked(prev, next *domain.Saga, now time.Time) error {
	// Every check comes before the first change, so a refused write leaves
	// the store exactly as it was.
	if err := s.checkLocked(prev, next, nil); err != nil {
		return err
	}
	var product domain.Product
	sold := domain.Sold(prev, next)
	if sold > 0 {
		p, ok := s.products[next.Order.ProductID]
		if !ok {
			return fmt.Errorf("confirm order %s: product %s: %w", next.Order.ID, next.Order.ProductID, domain.ErrProductNotFound)
		}
		stock := p.Stock
		if err := p.Sell(sold, now); err != nil {
			return fmt.Errorf("confirm order %s: %d of %s in stock, %d sold: %w", next.Order.ID, stock, p.ID, sold, err)
		}
		product = p
	}

	if sold > 0 {
		s.products[product.ID] = product
	}
	s.applyLocked(prev, next, now)
	return nil
}

// checkLocked refuses a write of next over prev (nil for a new saga) that
// would shrink the timeline or take another saga's order ID. claimed holds
// the order IDs other members of the same write take (nil: none). The
// caller holds s.mu.
func (s *Store) checkLocked(prev, next *domain.Saga, claimed map[domain.OrderID]domain.SagaID) error {
	var (
		prevEvents int
		prevOrder  domain.OrderID
	)
	if prev != nil {
		prevEvents = len(prev.Events)
		prevOrder = prev.Order.ID
	}
	if len(next.Events) < prevEvents {
		return fmt.Errorf("timeline shrank from %d to %d events: %w",
			prevEvents, len(next.Events), domain.ErrInvalidTransition)
	}
	if next.HasOrder() && next.Order.ID != prevOrder {
		if owner, taken := s.orders[next.Order.ID]; taken && owner != next.ID {
			return fmt.Errorf("order %s belongs to saga %s: %w", next.Order.ID, owner, domain.ErrDuplicate)
		}
		if owner, taken := claimed[next.Order.ID]; taken && owner != next.ID {
			return fmt.Errorf("order %s taken by saga %s in the same write: %w", next.Order.ID, owner, domain.ErrDuplicate)
		}
	}
	return nil
}

// applyLocked stores next over prev (nil for a new saga), checked by
// checkLocked, at prev's version + 1: the order index, the record, the
// indexes of unfinished and finished sagas, and the new events in the
// outbox. now is the write's time. The product's stock is the caller's.
// The store keeps a copy of next. The caller holds s.mu.
func (s *Store) applyLocked(prev, next *domain.Saga, now time.Time) {
	var (
		prevVersion int64
		prevEvents  int
		prevOrder   domain.OrderID
	)
	if prev != nil {
		prevVersion = prev.Version
		prevEvents = len(prev.Events)
		prevOrder = prev.Order.ID
	}
	if prevOrder != "" && prevOrder != next.Order.ID {
		delete(s.orders, prevOrder)
	}
	if next.HasOrder() {
		s.orders[next.Order.ID] = next.ID
	}
	stored := next.Clone()
	stored.Version = prevVersion + 1
	if stored.HasOrder() {
		stored.Order.Version = stored.Version
	}
	rec := storedSaga{saga: stored}
	if stored.Status.Terminal() {
		delete(s.unfinished, stored.ID)
		if s.retention > 0 {
			if old, ok := s.sagas[stored.ID]; ok && !old.forgetAt.IsZero() {
				rec.forgetAt = old.forgetAt // finished before: the first finish counts
			} else {
				rec.forgetAt = laterOf(now, stored.ReservationDeadline).Add(s.retention)
				s.finished.push(rec.forgetAt, stored.ID)
			}
		}
	} else {
		s.unfinished[stored.ID] = struct{}{}
		// A lease that did not move keeps its hint: a hint that still
		// matches its unfinished record is never dropped (earliestDue).
		// A finished record's hint may have been, so a write that makes a
		// saga unfinished again (only a planted bug does) pushes one.
		if prev == nil || prev.Status.Terminal() || !prev.LeaseUntil.Equal(stored.LeaseUntil) {
			s.leases.push(stored.LeaseUntil, stored.ID)
		}
	}
	s.sagas[stored.ID] = rec
	s.held.Store(int64(len(s.sagas)))
	for _, e := range stored.Events[prevEvents:] {
		s.outbox.append(e)
	}
}

// WriteAll implements ports.SagaBatchWriter in one critical section: every
// change is checked (one product, no saga twice, each stored at its
// Prev.Version, no timeline shrunk, stock for the sum sold) before the
// first is applied, so it stores all of them or none. Each is applied as
// Update's write is: version + 1, new events into the outbox in the order
// of changes; the product's stock goes down once, by the sum.
func (s *Store) WriteAll(ctx context.Context, changes []ports.SagaChange) ([]*domain.Saga, error) {
	if err := contextErr(ctx); err != nil {
		return nil, fmt.Errorf("write sagas: %w", err)
	}
	product, err := ports.GroupProduct(changes)
	if err != nil {
		return nil, fmt.Errorf("write sagas: %w", err)
	}
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgetDueLocked(now)

	current := make([]*domain.Saga, len(changes))
	claimed := make(map[domain.OrderID]domain.SagaID, len(changes))
	var sold int64
	for i, c := range changes {
		rec, ok := s.sagas[c.Next.ID]
		if !ok {
			return nil, fmt.Errorf("write sagas of %s: saga %s: %w", product, c.Next.ID, domain.ErrSagaNotFound)
		}
		stored := rec.saga
		if stored.Version != c.Prev.Version {
			return nil, fmt.Errorf("write sagas of %s: saga %s is at version %d, not %d: %w",
				product, c.Next.ID, stored.Version, c.Prev.Version, domain.ErrConflict)
		}
		if err := s.checkLocked(stored, c.Next, claimed); err != nil {
			return nil, fmt.Errorf("write sagas of %s: saga %s: %w", product, c.Next.ID, err)
		}
		if c.Next.HasOrder() {
			claimed[c.Next.Order.ID] = c.Next.ID
		}
		current[i] = stored
		sold += domain.Sold(stored, c.Next)
	}
	if sold > 0 {
		p, ok := s.products[product]
		if !ok {
			return nil, fmt.Errorf("write sagas of %s: %w", product, domain.ErrProductNotFound)
		}
		stock := p.Stock
		if err := p.Sell(sold, now); err != nil {
			return nil, fmt.Errorf("write sagas of %s: %d in stock, %d sold: %w", product, stock, sold, err)
		}
		s.products[product] = p
	}

	out := make([]*domain.Saga, len(changes))
	for i, c := range changes {
		s.applyLocked(current[i], c.Next, now)
		out[i] = s.sagas[c.Next.ID].saga.Clone()
	}
	return out, nil
}

// CreateAll implements ports.SagaBatchWriter in one critical section:
// every saga is checked (none nil, a valid ID, none twice, none that sells
// at creation, no saga ID stored already, no order ID owned by another saga
// or taken twice in the call) before the first is stored, so it stores all
// of them or none. Each is stored as Create stores it: a copy at version 1,
// its order indexed, its events into the outbox in the order of sagas.
// Nothing of the caller's is modified.
func (s *Store) CreateAll(ctx context.Context, sagas []*domain.Saga) error {
	if err := contextErr(ctx); err != nil {
		return fmt.Errorf("create sagas: %w", err)
	}
	if err := checkNewSagas(sagas); err != nil {
		return fmt.Errorf("create sagas: %w", err)
	}
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgetDueLocked(now)
	claimed := make(map[domain.OrderID]domain.SagaID, len(sagas))
	for _, saga := range sagas {
		if _, exists := s.sagas[saga.ID]; exists {
			return fmt.Errorf("create sagas: saga %s: %w", saga.ID, domain.ErrDuplicate)
		}
		if err := s.checkLocked(nil, saga, claimed); err != nil {
			return fmt.Errorf("create sagas: saga %s: %w", saga.ID, err)
		}
		if saga.HasOrder() {
			claimed[saga.Order.ID] = saga.ID
		}
	}
	for _, saga := range sagas {
		s.applyLocked(nil, saga, now)
	}
	return nil
}

// checkNewSagas refuses, with an error matching domain.ErrInvalidInput, a
// CreateAll of no saga, of a nil one, of one with an invalid ID, of one
// twice, or of one that sells at creation (CreateAll writes no stock).
func checkNewSagas(sagas []*domain.Saga) error {
	if len(sagas) == 0 {
		return domain.Invalid("sagas", "must not be empty")
	}
	seen := make(map[domain.SagaID]bool, len(sagas))
	for i, saga := range sagas {
		if saga == nil {
			return domain.Invalid("sagas", "saga %d is nil", i)
		}
		if err := saga.ID.Validate(); err != nil {
			return err
		}
		if seen[saga.ID] {
			return domain.Invalid("sagas", "saga %s twice in one write", saga.ID)
		}
		seen[saga.ID] = true
		if domain.Sold(nil, saga) > 0 {
			return domain.Invalid("order.status", "saga %s sells at creation: Create it alone", saga.ID)
		}
	}
	return nil
}

// Saga implements ports.SagaStore.
func (s *Store) Saga(ctx context.Context, id domain.SagaID) (*domain.Saga, error) {
	if err := contextErr(ctx); err != nil {
		return nil, fmt.Errorf("saga %s: %w", id, err)
	}
	var out *domain.Saga
	s.View(id, func(saga *domain.Saga) {
		if saga != nil {
			out = saga.Clone()
		}
	})
	if out == nil {
		return nil, fmt.Errorf("saga %s: %w", id, domain.ErrSagaNotFound)
	}
	return out, nil
}

// Stale implements ports.SagaStore; ties in lease are ordered by saga ID.
// A limit below 1 returns nothing. It reads the unfinished sagas in lease
// order from an index, so its cost is the answer's (plus hints gone
// stale), not what is in flight or stored; and, called every
// background round, it is also what forgets finished sagas whose retention
// is over while no request comes (measured by the store's clock, not by
// now).
func (s *Store) Stale(ctx context.Context, now time.Time, limit int) ([]domain.SagaID, error) {
	if err := contextErr(ctx); err != nil {
		return nil, fmt.Errorf("stale sagas: %w", err)
	}
	clockNow := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgetDueLocked(clockNow)
	if limit <= 0 {
		return nil, nil
	}
	entries := s.leases.earliestDue(now, limit, func(e expiryEntry) bool {
		_, unfinished := s.unfinished[e.id]
		rec, ok := s.sagas[e.id]
		return unfinished && ok && rec.saga.LeaseUntil.Equal(e.at)
	})
	ids := make([]domain.SagaID, len(entries))
	for i, e := range entries {
		ids[i] = e.id
	}
	return ids, nil
}

// SagaOfOrder implements ports.OrderReader.
func (s *Store) SagaOfOrder(ctx context.Context, id domain.OrderID) (*domain.Saga, error) {
	if err := contextErr(ctx); err != nil {
		return nil, fmt.Errorf("saga of order %s: %w", id, err)
	}
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgetDueLocked(now)
	sagaID, ok := s.orders[id]
	if !ok {
		return nil, fmt.Errorf("saga of order %s: %w", id, domain.ErrOrderNotFound)
	}
	return s.sagas[sagaID].saga.Clone(), nil
}

// Unpublished implements ports.Outbox: events come in the order their
// writes were stored, which keeps each saga's events in timeline order.
// A limit below 1 returns nothing.
func (s *Store) Unpublished(ctx context.Context, limit int) ([]domain.Event, error) {
	if err := contextErr(ctx); err != nil {
		return nil, fmt.Errorf("unpublished events: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.outbox.unpublished(limit), nil
}

// MarkPublished implements ports.Outbox: each event with the earlier events
// of its saga. IDs it does not hold (never stored, or published and since
// compacted away) are ignored.
func (s *Store) MarkPublished(ctx context.Context, ids []string) error {
	if err := contextErr(ctx); err != nil {
		return fmt.Errorf("mark published: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outbox.markPublished(ids)
	return nil
}

// eventsPerUpdate is the room a working copy leaves for the events one
// update adds (a confirm adds two, a compensating write at most two), so
// that emitting them does not copy the timeline again.
const eventsPerUpdate = 4

// workingCopy is a deep copy of s for an update to change.
func workingCopy(s *domain.Saga) *domain.Saga {
	c := *s
	c.Events = make([]domain.Event, len(s.Events), len(s.Events)+eventsPerUpdate)
	copy(c.Events, s.Events)
	return &c
}

// View calls fn with the stored saga id, or nil when there is none,
// without copying it: for a checker that reads a saga at every step (the
// simulator's). fn must not change the saga, keep it or call the store.
func (s *Store) View(id domain.SagaID, fn func(*domain.Saga)) {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgetDueLocked(now)
	var saga *domain.Saga
	if rec, ok := s.sagas[id]; ok {
		saga = rec.saga
	}
	fn(saga)
}

// ViewSagas is Sagas without the copies, under View's rules: fn gets
// every stored saga, ordered by ID.
func (s *Store) ViewSagas(fn func([]*domain.Saga)) {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgetDueLocked(now)
	all := make([]*domain.Saga, 0, len(s.sagas))
	for _, rec := range s.sagas {
		all = append(all, rec.saga)
	}
	slices.SortFunc(all, func(a, b *domain.Saga) int { return cmp.Compare(a.ID, b.ID) })
	fn(all)
}

// AppendStock appends the durable stock of products to dst, in one read
// (0 for a product not in the catalog). Test support: a checker reads it
// after every step.
func (s *Store) AppendStock(dst []int64, products []domain.ProductID) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range products {
		dst = append(dst, s.products[id].Stock)
	}
	return dst
}

// Sagas returns copies of every saga the store holds, ordered by ID.
// Test support: invariant checks walk every saga.
func (s *Store) Sagas() []*domain.Saga {
	var out []*domain.Saga
	s.ViewSagas(func(all []*domain.Saga) {
		out = make([]*domain.Saga, len(all))
		for i, saga := range all {
			out[i] = saga.Clone()
		}
	})
	return out
}

// outbox is the list of stored events in append order. Published events at
// its head are dropped, so a long-running process keeps only the tail that
// still has unpublished events in it. The entries are held in chunks of
// chunkSize, so a long outbox grows without copying what it holds.
type outbox struct {
	// chunks hold the entries; every chunk but the last is full. head is
	// the index in chunks[0] of the first entry kept.
	chunks [][]outboxEntry
	head   int
	// index maps an event (its saga and seq, of which its ID is made) to
	// its absolute position; base is the absolute position of
	// chunks[0][0].
	index map[eventKey]int
	base  int
}

type eventKey struct {
	saga domain.SagaID
	seq  int
}

type outboxEntry struct {
	event     domain.Event
	published bool
}

// at is the entry at absolute position pos, which must be kept.
func (o *outbox) at(pos int) *outboxEntry {
	rel := pos - o.base
	return &o.chunks[rel/chunkSize][rel%chunkSize]
}

// len is the number of entries kept.
func (o *outbox) len() int {
	n := -o.head
	for _, c := range o.chunks {
		n += len(c)
	}
	return n
}

func (o *outbox) append(e domain.Event) {
	if len(o.chunks) == 0 || len(o.chunks[len(o.chunks)-1]) == chunkSize {
		o.chunks = append(o.chunks, make([]outboxEntry, 0, chunkSize))
	}
	last := &o.chunks[len(o.chunks)-1]
	o.index[eventKey{e.SagaID, e.Seq}] = o.base + (len(o.chunks)-1)*chunkSize + len(*last)
	*last = append(*last, outboxEntry{event: e})
}

func (o *outbox) unpublished(limit int) []domain.Event {
	n := 0 // counted first, so the answer is allocated once at its size
	from := o.head
	for _, c := range o.chunks {
		for i := from; i < len(c) && n < limit; i++ {
			if !c[i].published {
				n++
			}
		}
		from = 0
	}
	if n == 0 {
		return nil
	}
	out := make([]domain.Event, 0, n)
	from = o.head
	for _, c := range o.chunks {
		for i := from; i < len(c) && len(out) < n; i++ {
			if !c[i].published {
				out = append(out, c[i].event)
			}
		}
		from = 0
	}
	return out
}

func (o *outbox) markPublished(ids []string) {
	for _, id := range ids {
		saga, seq, ok := domain.ParseEventID(id)
		if !ok {
			continue // never an event's ID
		}
		// The event and its saga's earlier ones: a saga's published events
		// are always a prefix of its timeline, so the walk stops at the
		// first one already published (or compacted away).
		for ; seq >= 1; seq-- {
			pos, ok := o.index[eventKey{saga, seq}]
			if !ok || o.at(pos).published {
				break
			}
			o.at(pos).published = true
		}
	}
	for len(o.chunks) > 0 && o.head < len(o.chunks[0]) && o.chunks[0][o.head].published {
		first := &o.chunks[0][o.head]
		delete(o.index, eventKey{first.event.SagaID, first.event.Seq})
		*first = outboxEntry{} // let the event's strings be collected
		o.head++
		if o.head == chunkSize {
			o.chunks[0] = nil
			o.chunks = o.chunks[1:]
			o.head = 0
			o.base += chunkSize
		}
	}
}

// laterOf returns the later of a and b.
func laterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
