package memory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

var (
	_ ports.Inventory         = (*Inventory)(nil)
	_ ports.InventoryReaper   = (*Inventory)(nil)
	_ ports.InventoryLoader   = (*Inventory)(nil)
	_ ports.VersionedReserver = (*Inventory)(nil)
	_ ports.FreshReserver     = (*Inventory)(nil)
	_ ports.BatchConfirmer    = (*Inventory)(nil)
)

// DefaultRetention is how long after its deadline a consumed or rejected
// reservation is remembered, unless WithRetention says otherwise.
const DefaultRetention = 24 * time.Hour

// Inventory is the in-memory stock gate. It keeps, per product, stock,
// reserved and a version, and per saga one reservation record: HELD,
// CONFIRMED, RELEASED, or a remembered rejection. It is safe for concurrent
// use; every method is one critical section, which is the atomicity a Lua
// script gives the Redis adapter.
//
// Records are what make Reserve, Confirm and Release idempotent, so they
// outlive their use: a consumed (confirmed or released) or rejected record is
// forgotten once the inventory's clock reaches its deadline plus the
// retention, and every call answers as if it were gone from then on. A
// duplicate Reserve arriving later than that is treated as new. HELD records
// are never forgotten; the reaper consumes them.
//
// Forgetting is amortised: each consumed or rejected record enters a queue
// ordered by the time it may be forgotten, and every call that reads
// records first pops the ones that are due, O(log n) each. Expired reads the
// HELD records in deadline order from an index of its own. So a call costs
// what it answers, not every saga seen,
// and memory is about (records consumed per second) × (reservation TTL +
// retention) × (the bytes of one record), not every purchase ever made.
type Inventory struct {
	clock     ports.Clock
	retention time.Duration

	mu      sync.Mutex
	levels  map[domain.ProductID]*domain.StockLevel
	records map[domain.SagaID]*reservationRecord
	// held indexes the HELD records: the only ones Expired can return;
	// deadlines orders them by deadline (hints, checked against the record).
	held      map[domain.SagaID]struct{}
	deadlines expiryQueue
	// forget orders consumed and rejected records by deadline + retention.
	forget expiryQueue
	// room, when set, is the saga store whose capacity new reservations
	// wait for (WithSagaRoom).
	room *Store
	// journal, from the newest Checkpoint on, holds what Rewind needs.
	journal *inventoryJournal
}

type reservationRecord struct {
	res   domain.Reservation
	state domain.ReservationState
	// rejected: the saga's first Reserve was refused for insufficient
	// stock. Nothing is held and state is empty; the refusal is replayed.
	rejected bool
}

// InventoryOption configures NewInventory.
type InventoryOption func(*Inventory)

// WithRetention sets how long after its deadline a consumed or rejected
// reservation is remembered (DefaultRetention when not given). It must be
// longer than any saga can take to retry its Reserve, or a late retry would
// reserve twice. A non-positive d panics.
func WithRetention(d time.Duration) InventoryOption {
	mustHave(d > 0, "WithRetention", "a positive retention")
	return func(inv *Inventory) { inv.retention = d }
}

// WithSagaRoom makes Reserve and ReserveIfVersion refuse a new reservation,
// with an error wrapping domain.ErrSaturated (refused before anything was
// done), while store is at its capacity (WithCapacity; Store.HasRoom):
// this is where the store's
// capacity is enforced, before the purchase holds anything, since the
// store never refuses a write for room. A request whose saga already has
// a record here is answered from it as always, so a retry is never
// refused for room. A nil store panics.
func WithSagaRoom(store *Store) InventoryOption {
	mustHave(store != nil, "WithSagaRoom", "a store")
	return func(inv *Inventory) { inv.room = store }
}

// NewInventory returns an empty inventory that reads time from clock (for
// forgetting records only; reservation deadlines are compared with the now
// passed to Expired). It panics if clock is nil.
func NewInventory(clock ports.Clock, opts ...InventoryOption) *Inventory {
	mustHave(clock != nil, "NewInventory", "a clock")
	inv := &Inventory{
		clock:     clock,
		retention: DefaultRetention,
		levels:    make(map[domain.ProductID]*domain.StockLevel),
		records:   make(map[domain.SagaID]*reservationRecord),
		held:      make(map[domain.SagaID]struct{}),
	}
	for _, opt := range opts {
		opt(inv)
	}
	return inv
}

// Reserve implements ports.Inventory. It returns an error matching
// domain.ErrInvalidInput for a malformed saga ID or a quantity below 1.
// Only a refusal for insufficient stock is remembered and replayed: a
// product that is not found yet may be loaded later, and the saga had no
// effect to be consistent with.
//
// The first answer is replayed only to the same request (product and
// quantity; the deadline of a retry may differ). Another request under a
// saga ID already used changes nothing and returns an error wrapping
// domain.ErrIdempotencyMismatch: answering it "ok" would let the caller
// believe it holds a quantity it does not, and confirm an order of one
// size against a reservation of another.
func (inv *Inventory) Reserve(ctx context.Context, r domain.Reservation) error {
	_, err := inv.reserve(ctx, r, nil)
	return err
}

// ReserveFresh implements ports.FreshReserver: Reserve, telling whether
// this call took the units.
func (inv *Inventory) ReserveFresh(ctx context.Context, r domain.Reservation) (bool, error) {
	return inv.reserve(ctx, r, nil)
}

// ReserveIfVersion implements ports.VersionedReserver. An earlier answer for
// the saga (held, consumed or refused) is replayed whatever the version;
// domain.ErrConflict is never remembered, because the caller retries it with
// the same saga ID after reading a fresh version.
func (inv *Inventory) ReserveIfVersion(ctx context.Context, r domain.Reservation, version int64) error {
	_, err := inv.reserve(ctx, r, &version)
	return err
}

// versionConflict is a reserve refused because the product's level moved
// past the version the caller read (ReserveIfVersion). Under a crowd it is
// the common answer, so it is formatted only when read.
type versionConflict struct {
	saga      domain.SagaID
	product   domain.ProductID
	at, asked int64
}

func (e *versionConflict) Error() string {
	return fmt.Sprintf("reserve %s: %s at version %d, not %d: %v", e.saga, e.product, e.at, e.asked, domain.ErrConflict)
}

func (e *versionConflict) Unwrap() error { return domain.ErrConflict }

// reserve reports whether it took the units (false for a replay).
func (inv *Inventory) reserve(ctx context.Context, r domain.Reservation, version *int64) (bool, error) {
	if err := contextErr(ctx); err != nil {
		return false, fmt.Errorf("reserve %s: %w", r.SagaID, err)
	}
	if err := r.SagaID.Validate(); err != nil {
		return false, fmt.Errorf("reserve: %w", err)
	}
	// Checked before the replay as well as by CanReserve: a request that can
	// never succeed must not be answered "ok" because a record exists.
	if r.Qty <= 0 {
		return false, fmt.Errorf("reserve %s: %w", r.SagaID, domain.Invalid("qty", "must be positive"))
	}

	// Asked before taking inv.mu, so the two adapters' locks never nest.
	roomy := inv.room == nil || inv.room.HasRoom()
	now := inv.clock.Now()
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.forgetDueLocked(now)
	if rec, ok := inv.records[r.SagaID]; ok {
		if rec.res.ProductID != r.ProductID || rec.res.Qty != r.Qty {
			return false, fmt.Errorf("reserve %s: saga asked for %d of %s before, now %d of %s: %w",
				r.SagaID, rec.res.Qty, rec.res.ProductID, r.Qty, r.ProductID, domain.ErrIdempotencyMismatch)
		}
		if rec.rejected {
			return false, fmt.Errorf("reserve %s: %w", r.SagaID, domain.ErrInsufficientStock)
		}
		if rec.state == domain.ReservationReleased {
			// Never hand a released reservation out again: a late retry
			// would otherwise sell without holding stock.
			return false, fmt.Errorf("reserve %s: %w", r.SagaID, domain.ErrReservationReleased)
		}
		return false, nil // a replay
	}
	if !roomy {
		return false, fmt.Errorf("reserve %s: the in-memory saga store is full (memory.max_sagas) until finished sagas age out: %w", r.SagaID, domain.ErrSaturated)
	}
	lvl, ok := inv.levels[r.ProductID]
	if !ok {
		return false, fmt.Errorf("reserve %s: %s: %w", r.SagaID, r.ProductID, domain.ErrProductNotFound)
	}
	if version != nil && lvl.Version != *version {
		return false, &versionConflict{saga: r.SagaID, product: r.ProductID, at: lvl.Version, asked: *version}
	}
	if err := lvl.CanReserve(r.Qty); err != nil {
		if errors.Is(err, domain.ErrInsufficientStock) {
			inv.touchRecordLocked(r.SagaID)
			inv.records[r.SagaID] = &reservationRecord{res: r, rejected: true}
			inv.scheduleForgetLocked(r)
		}
		return false, fmt.Errorf("reserve %s: %w", r.SagaID, err)
	}
	inv.touchLevelLocked(r.ProductID)
	inv.touchRecordLocked(r.SagaID)
	lvl.Reserved += r.Qty
	lvl.Version++
	inv.records[r.SagaID] = &reservationRecord{res: r, state: domain.ReservationHeld}
	inv.held[r.SagaID] = struct{}{}
	inv.deadlines.push(r.Deadline, r.SagaID)
	return true, nil
}

// reservationOf finds the saga's reservation of product. A rejected saga and a
// saga that reserved another product never reserved this one.
func (inv *Inventory) reservationOf(product domain.ProductID, saga domain.SagaID) (*reservationRecord, bool) {
	rec, ok := inv.records[saga]
	if !ok || rec.rejected || rec.res.ProductID != product {
		return nil, false
	}
	return rec, true
}

// ConfirmAll implements ports.BatchConfirmer: Confirm of each saga, in
// order.
func (inv *Inventory) ConfirmAll(ctx context.Context, product domain.ProductID, sagas []domain.SagaID) ([]error, error) {
	if err := contextErr(ctx); err != nil {
		return nil, fmt.Errorf("confirm %d sagas of %s: %w", len(sagas), product, err)
	}
	errs := make([]error, len(sagas))
	for i, s := range sagas {
		errs[i] = inv.Confirm(ctx, product, s)
	}
	return errs, nil
}

// Confirm implements ports.Inventory.
func (inv *Inventory) Confirm(ctx context.Context, product domain.ProductID, saga domain.SagaID) error {
	if err := contextErr(ctx); err != nil {
		return fmt.Errorf("confirm %s: %w", saga, err)
	}
	now := inv.clock.Now()
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.forgetDueLocked(now)
	rec, ok := inv.reservationOf(product, saga)
	if !ok {
		return fmt.Errorf("confirm %s of %s: %w", saga, product, domain.ErrReservationNotFound)
	}
	switch rec.state {
	case domain.ReservationConfirmed:
		return nil
	case domain.ReservationReleased:
		return fmt.Errorf("confirm %s: %w", saga, domain.ErrReservationReleased)
	}
	// reserved <= stock held before, and qty <= reserved, so both stay
	// non-negative and reserved <= stock still holds.
	inv.touchLevelLocked(product)
	inv.touchRecordLocked(saga)
	lvl := inv.levels[product]
	lvl.Stock -= rec.res.Qty
	lvl.Reserved -= rec.res.Qty
	lvl.Version++
	rec.state = domain.ReservationConfirmed
	inv.consumedLocked(rec)
	return nil
}

// Release implements ports.Inventory.
func (inv *Inventory) Release(ctx context.Context, product domain.ProductID, saga domain.SagaID) error {
	if err := contextErr(ctx); err != nil {
		return fmt.Errorf("release %s: %w", saga, err)
	}
	now := inv.clock.Now()
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.forgetDueLocked(now)
	rec, ok := inv.reservationOf(product, saga)
	if !ok {
		return fmt.Errorf("release %s of %s: %w", saga, product, domain.ErrReservationNotFound)
	}
	switch rec.state {
	case domain.ReservationReleased:
		return fmt.Errorf("release %s: %w", saga, domain.ErrReservationReleased)
	case domain.ReservationConfirmed:
		return fmt.Errorf("release %s: %w", saga, domain.ErrReservationConfirmed)
	}
	inv.touchLevelLocked(product)
	inv.touchRecordLocked(saga)
	lvl := inv.levels[product]
	lvl.Reserved -= rec.res.Qty
	lvl.Version++
	rec.state = domain.ReservationReleased
	inv.consumedLocked(rec)
	return nil
}

// Level implements ports.Inventory.
func (inv *Inventory) Level(ctx context.Context, product domain.ProductID) (domain.StockLevel, error) {
	if err := contextErr(ctx); err != nil {
		return domain.StockLevel{}, fmt.Errorf("level of %s: %w", product, err)
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	lvl, ok := inv.levels[product]
	if !ok {
		return domain.StockLevel{}, fmt.Errorf("level of %s: %w", product, domain.ErrProductNotFound)
	}
	return *lvl, nil
}

// Expired implements ports.InventoryReaper; ties in deadline are ordered by
// saga ID so the answer is deterministic. A limit below 1 returns nothing.
//
// It reads the held records in deadline order from an index, so its cost
// is the answer's (plus hints gone stale), not the number held. Called by
// the reaper every round, it is also what forgets records past their
// retention (measured by the inventory's clock, not by now) while no
// request comes.
func (inv *Inventory) Expired(ctx context.Context, now time.Time, limit int) ([]domain.Reservation, error) {
	if err := contextErr(ctx); err != nil {
		return nil, fmt.Errorf("expired reservations: %w", err)
	}
	clockNow := inv.clock.Now()
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.forgetDueLocked(clockNow)
	if limit <= 0 {
		return nil, nil
	}
	entries := inv.deadlines.earliestDue(now, limit, func(e expiryEntry) bool {
		rec, ok := inv.records[e.id]
		_, held := inv.held[e.id]
		return ok && held && rec.res.Deadline.Equal(e.at)
	})
	due := make([]domain.Reservation, len(entries))
	for i, e := range entries {
		due[i] = inv.records[e.id].res
	}
	return due, nil
}

// consumedLocked is told rec was just confirmed or released.
func (inv *Inventory) consumedLocked(rec *reservationRecord) {
	delete(inv.held, rec.res.SagaID)
	inv.scheduleForgetLocked(rec.res)
}

// scheduleForgetLocked queues the consumed or rejected record of r to be
// forgotten at its deadline plus the retention.
func (inv *Inventory) scheduleForgetLocked(r domain.Reservation) {
	inv.forget.push(r.Deadline.Add(inv.retention), r.SagaID)
}

// forgetDueLocked forgets consumed and rejected records whose deadline plus
// the retention is at or before clockNow. The queue's entries are hints; a
// record is judged by its own state and deadline.
func (inv *Inventory) forgetDueLocked(clockNow time.Time) {
	for {
		saga, ok := inv.forget.popDue(clockNow)
		if !ok {
			return
		}
		rec, ok := inv.records[saga]
		if ok && rec.state != domain.ReservationHeld && !clockNow.Before(rec.res.Deadline.Add(inv.retention)) {
			inv.touchRecordLocked(saga)
			delete(inv.records, saga)
		}
	}
}

// AddStock implements ports.InventoryLoader. A negative delta, or one that
// would overflow the stock, is an error matching domain.ErrInvalidInput.
func (inv *Inventory) AddStock(ctx context.Context, product domain.ProductID, delta int64) error {
	if err := contextErr(ctx); err != nil {
		return fmt.Errorf("add stock to %s: %w", product, err)
	}
	if err := product.Validate(); err != nil {
		return fmt.Errorf("add stock: %w", err)
	}
	if delta < 0 {
		return fmt.Errorf("add stock to %s: %w", product, domain.Invalid("delta", "must not be negative"))
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.touchLevelLocked(product)
	lvl, ok := inv.levels[product]
	if !ok {
		inv.levels[product] = &domain.StockLevel{ProductID: product, Stock: delta, Version: 1}
		return nil
	}
	if lvl.Stock > math.MaxInt64-delta {
		return fmt.Errorf("add stock to %s: %w", product, domain.Invalid("delta", "overflows the stock"))
	}
	if delta > 0 {
		lvl.Stock += delta
		lvl.Version++
	}
	return nil
}

// SetStock implements ports.InventoryLoader. Because the gate keeps
// reserved <= stock at all times, a stock below the product's current
// reserved count is refused with an error matching domain.ErrInvalidInput
// (and so is a negative one); reconciliation at rest has nothing reserved.
func (inv *Inventory) SetStock(ctx context.Context, product domain.ProductID, stock int64) error {
	if err := contextErr(ctx); err != nil {
		return fmt.Errorf("set stock of %s: %w", product, err)
	}
	if err := product.Validate(); err != nil {
		return fmt.Errorf("set stock: %w", err)
	}
	if stock < 0 {
		return fmt.Errorf("set stock of %s: %w", product, domain.Invalid("stock", "must not be negative"))
	}
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.touchLevelLocked(product)
	lvl, ok := inv.levels[product]
	if !ok {
		inv.levels[product] = &domain.StockLevel{ProductID: product, Stock: stock, Version: 1}
		return nil
	}
	if stock < lvl.Reserved {
		return fmt.Errorf("set stock of %s: %w", product,
			domain.Invalid("stock", "must be at least the %d units reserved", lvl.Reserved))
	}
	if stock != lvl.Stock {
		lvl.Stock = stock
		lvl.Version++
	}
	return nil
}

// AppendLevels appends the levels of products to dst, in one read (a
// product not stocked gives its zero level). Test support: a checker
// reads every level after every step.
func (inv *Inventory) AppendLevels(dst []domain.StockLevel, products []domain.ProductID) []domain.StockLevel {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	for _, id := range products {
		var l domain.StockLevel
		if lvl, ok := inv.levels[id]; ok {
			l = *lvl
		}
		dst = append(dst, l)
	}
	return dst
}

// Reservations returns the product's HELD reservations ordered by saga ID.
// Test support: invariant checks compare their sum with Level's reserved.
func (inv *Inventory) Reservations(product domain.ProductID) []domain.Reservation {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	var held []domain.Reservation
	for saga := range inv.held {
		if rec := inv.records[saga]; rec.res.ProductID == product {
			held = append(held, rec.res)
		}
	}
	slices.SortFunc(held, func(a, b domain.Reservation) int { return cmp.Compare(a.SagaID, b.SagaID) })
	return held
}

// InventorySnapshot is a copy of an Inventory's whole state.
type InventorySnapshot struct {
	levels  map[domain.ProductID]domain.StockLevel
	records map[domain.SagaID]reservationRecord
}

// Snapshot copies the inventory's state. With Restore it lets a simulation
// fail over to a replica that lags: every write after the snapshot is lost,
// as the last unreplicated writes of a Redis master are.
func (inv *Inventory) Snapshot() *InventorySnapshot {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	s := &InventorySnapshot{
		levels:  make(map[domain.ProductID]domain.StockLevel, len(inv.levels)),
		records: make(map[domain.SagaID]reservationRecord, len(inv.records)),
	}
	for id, l := range inv.levels {
		s.levels[id] = *l
	}
	for id, r := range inv.records {
		s.records[id] = *r
	}
	return s
}

// Restore replaces the inventory's state with a snapshot's. It ends the
// newest Checkpoint: a Rewind to it afterwards panics.
func (inv *Inventory) Restore(s *InventorySnapshot) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.journal = nil
	inv.levels = make(map[domain.ProductID]*domain.StockLevel, len(s.levels))
	for id, l := range s.levels {
		inv.levels[id] = &l
	}
	inv.records = make(map[domain.SagaID]*reservationRecord, len(s.records))
	inv.held = make(map[domain.SagaID]struct{})
	inv.forget = expiryQueue{}
	inv.deadlines = expiryQueue{}
	for id, r := range s.records {
		inv.records[id] = &r
		if r.state == domain.ReservationHeld {
			inv.held[id] = struct{}{}
			inv.deadlines.push(r.res.Deadline, id)
		} else {
			inv.scheduleForgetLocked(r.res)
		}
	}
}

// InventoryCheckpoint marks an Inventory's state for Rewind.
type InventoryCheckpoint struct{ journal *inventoryJournal }

// inventoryJournal holds, for one checkpoint, the state before the first
// write since it of every level and record written (nil: it did not
// exist). A checkpoint so costs nothing to take, and a rewind what changed
// since, where a Snapshot copies everything.
type inventoryJournal struct {
	levels  map[domain.ProductID]*domain.StockLevel
	records map[domain.SagaID]*reservationRecord
}

// Checkpoint marks the inventory's state. Rewind goes back to the newest
// checkpoint: it lets a simulation fail over to a replica that lags, at a
// cost proportional to the writes since, not to the whole state.
func (inv *Inventory) Checkpoint() *InventoryCheckpoint {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	var next *inventoryJournal
	if old := inv.journal; old != nil {
		// The older checkpoint can no longer be rewound to: its maps,
		// emptied, serve the new one at the size they grew to.
		clear(old.levels)
		clear(old.records)
		next = &inventoryJournal{levels: old.levels, records: old.records}
		old.levels, old.records = nil, nil
	} else {
		next = &inventoryJournal{levels: map[domain.ProductID]*domain.StockLevel{}, records: map[domain.SagaID]*reservationRecord{}}
	}
	inv.journal = next
	return &InventoryCheckpoint{journal: inv.journal}
}

// Rewind undoes every write since the checkpoint cp, which must be the
// newest one taken (else it panics: an older state is no longer kept). cp
// stays the newest checkpoint, so a later Rewind goes back to it again.
func (inv *Inventory) Rewind(cp *InventoryCheckpoint) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	j := cp.journal
	if j == nil || j != inv.journal {
		panic("memory: Rewind to a checkpoint that is not the inventory's newest")
	}
	for id, pre := range j.levels {
		if pre == nil {
			delete(inv.levels, id)
			continue
		}
		l := *pre
		inv.levels[id] = &l
	}
	for id, pre := range j.records {
		if pre == nil {
			delete(inv.records, id)
			delete(inv.held, id)
			continue
		}
		r := *pre
		inv.records[id] = &r
		if r.state == domain.ReservationHeld {
			inv.held[id] = struct{}{}
			inv.deadlines.push(r.res.Deadline, id)
		} else {
			delete(inv.held, id)
			inv.scheduleForgetLocked(r.res)
		}
	}
	clear(j.levels)
	clear(j.records)
}

// touchLevelLocked keeps the product's level as it is now for the newest
// checkpoint, before its first write since. The caller holds inv.mu.
func (inv *Inventory) touchLevelLocked(id domain.ProductID) {
	if inv.journal != nil {
		keepPreImage(inv.journal.levels, inv.levels, id)
	}
}

// touchRecordLocked is touchLevelLocked for a saga's reservation record.
func (inv *Inventory) touchRecordLocked(id domain.SagaID) {
	if inv.journal != nil {
		keepPreImage(inv.journal.records, inv.records, id)
	}
}

// keepPreImage records in journal a copy of live[id] (nil if absent),
// unless journal has id already: the first write since the checkpoint is
// the one whose state a rewind restores.
func keepPreImage[K comparable, V any](journal, live map[K]*V, id K) {
	if _, kept := journal[id]; kept {
		return
	}
	var pre *V
	if v, ok := live[id]; ok {
		c := *v
		pre = &c
	}
	journal[id] = pre
}
