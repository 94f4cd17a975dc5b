package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
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
type Store struct {
	clock ports.Clock

	mu       sync.Mutex
	products map[domain.ProductID]domain.Product
	sagas    map[domain.SagaID]*domain.Saga
	orders   map[domain.OrderID]domain.SagaID
	outbox   outbox
}

// NewStore returns an empty store that stamps products with clock's time.
// It panics if clock is nil.
func NewStore(clock ports.Clock) *Store {
	mustHave(clock != nil, "NewStore", "a clock")
	return &Store{
		clock:    clock,
		products: make(map[domain.ProductID]domain.Product),
		sagas:    make(map[domain.SagaID]*domain.Saga),
		orders:   make(map[domain.OrderID]domain.SagaID),
		outbox:   outbox{index: make(map[string]int)},
	}
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
// would. The returned saga is a copy of what was stored.
func (s *Store) Update(ctx context.Context, id domain.SagaID, fn func(*domain.Saga) error) (*domain.Saga, error) {
	for range MaxUpdateAttempts {
		if err := contextErr(ctx); err != nil {
			return nil, fmt.Errorf("update saga %s: %w", id, err)
		}
		s.mu.Lock()
		stored, ok := s.sagas[id]
		var working *domain.Saga
		if ok {
			working = stored.Clone()
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
		current := s.sagas[id]
		if current.Version != loaded {
			s.mu.Unlock()
			continue // lost the race: apply fn again to the newer record
		}
		err := s.commitLocked(current, working, now)
		var out *domain.Saga
		if err == nil {
			out = s.sagas[id].Clone()
		}
		s.mu.Unlock()
		if err != nil {
			return nil, fmt.Errorf("update saga %s: %w", id, err)
		}
		return out, nil
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
	s.applyLocked(prev, next)
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
// checkLocked, at prev's version + 1: the order index, the record and the
// new events in the outbox. The product's stock is the caller's. The
// caller holds s.mu.
func (s *Store) applyLocked(prev, next *domain.Saga) {
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
	s.sagas[stored.ID] = stored
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

	current := make([]*domain.Saga, len(changes))
	claimed := make(map[domain.OrderID]domain.SagaID, len(changes))
	var sold int64
	for i, c := range changes {
		stored, ok := s.sagas[c.Next.ID]
		if !ok {
			return nil, fmt.Errorf("write sagas of %s: saga %s: %w", product, c.Next.ID, domain.ErrSagaNotFound)
		}
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
		s.applyLocked(current[i], c.Next)
		out[i] = s.sagas[c.Next.ID].Clone()
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
	s.mu.Lock()
	defer s.mu.Unlock()
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
		s.applyLocked(nil, saga)
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
	s.mu.Lock()
	defer s.mu.Unlock()
	saga, ok := s.sagas[id]
	if !ok {
		return nil, fmt.Errorf("saga %s: %w", id, domain.ErrSagaNotFound)
	}
	return saga.Clone(), nil
}

// Stale implements ports.SagaStore; ties in lease are ordered by saga ID.
// A limit below 1 returns nothing.
func (s *Store) Stale(ctx context.Context, now time.Time, limit int) ([]domain.SagaID, error) {
	if err := contextErr(ctx); err != nil {
		return nil, fmt.Errorf("stale sagas: %w", err)
	}
	if limit <= 0 {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var stale []*domain.Saga
	for _, saga := range s.sagas {
		if saga.Stale(now) {
			stale = append(stale, saga)
		}
	}
	slices.SortFunc(stale, func(a, b *domain.Saga) int {
		if c := a.LeaseUntil.Compare(b.LeaseUntil); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	ids := make([]domain.SagaID, 0, min(limit, len(stale)))
	for _, saga := range stale[:min(limit, len(stale))] {
		ids = append(ids, saga.ID)
	}
	return ids, nil
}

// SagaOfOrder implements ports.OrderReader.
func (s *Store) SagaOfOrder(ctx context.Context, id domain.OrderID) (*domain.Saga, error) {
	if err := contextErr(ctx); err != nil {
		return nil, fmt.Errorf("saga of order %s: %w", id, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sagaID, ok := s.orders[id]
	if !ok {
		return nil, fmt.Errorf("saga of order %s: %w", id, domain.ErrOrderNotFound)
	}
	return s.sagas[sagaID].Clone(), nil
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

// MarkPublished implements ports.Outbox. IDs it does not hold (never stored,
// or published and since compacted away) are ignored.
func (s *Store) MarkPublished(ctx context.Context, ids []string) error {
	if err := contextErr(ctx); err != nil {
		return fmt.Errorf("mark published: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outbox.markPublished(ids)
	return nil
}

// Sagas returns copies of every stored saga ordered by ID.
// Test support: invariant checks walk every saga.
func (s *Store) Sagas() []*domain.Saga {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*domain.Saga, 0, len(s.sagas))
	for _, saga := range s.sagas {
		out = append(out, saga.Clone())
	}
	slices.SortFunc(out, func(a, b *domain.Saga) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// outbox is the list of stored events in append order. Published events at
// its head are dropped, so a long-running process keeps only the tail that
// still has unpublished events in it.
type outbox struct {
	entries []outboxEntry
	// index maps an event ID to its absolute position; base is the absolute
	// position of entries[0].
	index map[string]int
	base  int
}

type outboxEntry struct {
	event     domain.Event
	published bool
}

func (o *outbox) append(e domain.Event) {
	o.index[e.ID] = o.base + len(o.entries)
	o.entries = append(o.entries, outboxEntry{event: e})
}

func (o *outbox) unpublished(limit int) []domain.Event {
	var out []domain.Event
	for i := 0; i < len(o.entries) && len(out) < limit; i++ {
		if !o.entries[i].published {
			out = append(out, o.entries[i].event)
		}
	}
	return out
}

func (o *outbox) markPublished(ids []string) {
	for _, id := range ids {
		if pos, ok := o.index[id]; ok {
			o.entries[pos-o.base].published = true
		}
	}
	for len(o.entries) > 0 && o.entries[0].published {
		delete(o.index, o.entries[0].event.ID)
		o.entries[0] = outboxEntry{} // let the event's strings be collected
		o.entries = o.entries[1:]
		o.base++
	}
}
