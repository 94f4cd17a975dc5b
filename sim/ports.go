package sim

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/flashsale/flashsale/adapters/memory"
	"github.com/flashsale/flashsale/adapters/payment"
	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// The adapters the simulated apps see. Each wraps a memory adapter and, in
// order: yields to the scheduler, injects the faults that are on, plants
// the bugs that are on, and records what the checker must know. The inner
// adapters get a context without deadline: time in the simulation is the
// virtual clock's alone.

var (
	_ ports.Inventory         = (*simInventory)(nil)
	_ ports.InventoryReaper   = (*simInventory)(nil)
	_ ports.InventoryLoader   = (*simInventory)(nil)
	_ ports.VersionedReserver = (*simInventory)(nil)
	_ ports.FreshReserver     = (*simInventory)(nil)
	_ ports.BatchConfirmer    = (*simInventory)(nil)
	_ ports.Locker            = (*simLocker)(nil)
	_ ports.Catalog           = (*simStore)(nil)
	_ ports.SagaStore         = (*simStore)(nil)
	_ ports.SagaBatchWriter   = (*simStore)(nil)
	_ ports.Outbox            = (*simStore)(nil)
	_ ports.EventPublisher    = (*simPublisher)(nil)
	_ ports.Payments          = (*simPayments)(nil)
)

// bg is ctx without its deadline and cancellation, if it has any (the
// apps run with app.Hooks.VirtualTime, so they set none).
func bg(ctx context.Context) context.Context {
	if _, ok := ctx.Deadline(); !ok && ctx.Done() == nil {
		return ctx
	}
	return context.WithoutCancel(ctx)
}

type simInventory struct {
	w     *world
	inner *memory.Inventory
}

func (s *simInventory) Reserve(ctx context.Context, r domain.Reservation) error {
	s.w.yield(ctx, "inventory.Reserve %s x%d saga %s", r.ProductID, r.Qty, r.SagaID)
	return s.reserve(ctx, r, func() error { return s.inner.Reserve(bg(ctx), r) })
}

func (s *simInventory) ReserveFresh(ctx context.Context, r domain.Reservation) (bool, error) {
	s.w.yield(ctx, "inventory.ReserveFresh %s x%d saga %s", r.ProductID, r.Qty, r.SagaID)
	var fresh bool
	err := s.reserve(ctx, r, func() error {
		var err error
		fresh, err = s.inner.ReserveFresh(bg(ctx), r)
		return err
	})
	return fresh, err
}

func (s *simInventory) ReserveIfVersion(ctx context.Context, r domain.Reservation, version int64) error {
	s.w.yield(ctx, "inventory.ReserveIfVersion %s x%d v%d saga %s", r.ProductID, r.Qty, version, r.SagaID)
	return s.reserve(ctx, r, func() error { return s.inner.ReserveIfVersion(bg(ctx), r, version) })
}

func (s *simInventory) reserve(ctx context.Context, r domain.Reservation, do func() error) error {
	err := do()
	if errors.Is(err, domain.ErrInsufficientStock) && s.w.opts.Bugs.ReserveWithoutCheck {
		// Planted: reserve anyway, as a script without the availability
		// check would (it conjures the missing stock).
		if aerr := s.inner.AddStock(bg(ctx), r.ProductID, r.Qty); aerr == nil {
			err = s.inner.Reserve(bg(ctx), domain.Reservation{SagaID: r.SagaID + ".unchecked", ProductID: r.ProductID, Qty: r.Qty, Deadline: r.Deadline})
			if err == nil {
				// Hand the conjured units to the saga's own record.
				_ = s.inner.Release(bg(ctx), r.ProductID, r.SagaID+".unchecked")
				err = s.inner.Reserve(bg(ctx), r)
			}
		}
	}
	if err == nil {
		s.w.reserved[r.SagaID] = r.Qty
	}
	return err
}

func (s *simInventory) Confirm(ctx context.Context, p domain.ProductID, saga domain.SagaID) error {
	s.w.yield(ctx, "inventory.Confirm %s saga %s", p, saga)
	err := s.inner.Confirm(bg(ctx), p, saga)
	if err == nil {
		s.w.checkSettled(saga)
		s.w.settled(saga)
	}
	return err
}

func (s *simInventory) ConfirmAll(ctx context.Context, p domain.ProductID, sagas []domain.SagaID) ([]error, error) {
	s.w.yield(ctx, "inventory.ConfirmAll %s %d sagas", p, len(sagas))
	errs, err := s.inner.ConfirmAll(bg(ctx), p, sagas)
	for i, e := range errs {
		if e == nil {
			s.w.checkSettled(sagas[i])
			s.w.settled(sagas[i])
		}
	}
	return errs, err
}

func (s *simInventory) Release(ctx context.Context, p domain.ProductID, saga domain.SagaID) error {
	s.w.yield(ctx, "inventory.Release %s saga %s", p, saga)
	s.w.checkEffect(ctx, "release", saga)
	s.w.checkRelease(ctx, saga)
	err := s.inner.Release(bg(ctx), p, saga)
	if err == nil && s.w.opts.Bugs.DoubleRelease {
		// Planted: the release is applied twice; the second one gives back
		// stock that was never held.
		_ = s.inner.AddStock(bg(ctx), p, s.w.reserved[saga])
	}
	return err
}

func (s *simInventory) Level(ctx context.Context, p domain.ProductID) (domain.StockLevel, error) {
	s.w.yieldQuiet(ctx, "inventory.Level %s", p)
	return s.inner.Level(bg(ctx), p)
}

func (s *simInventory) Expired(ctx context.Context, now time.Time, limit int) ([]domain.Reservation, error) {
	s.w.yieldQuiet(ctx, "inventory.Expired")
	return s.inner.Expired(bg(ctx), now, limit)
}

func (s *simInventory) AddStock(ctx context.Context, p domain.ProductID, delta int64) error {
	s.w.yield(ctx, "inventory.AddStock %s +%d", p, delta)
	return s.inner.AddStock(bg(ctx), p, delta)
}

func (s *simInventory) SetStock(ctx context.Context, p domain.ProductID, stock int64) error {
	s.w.yield(ctx, "inventory.SetStock %s =%d", p, stock)
	return s.inner.SetStock(bg(ctx), p, stock)
}

type simLocker struct {
	w     *world
	inner *memory.Locker
}

func (s *simLocker) Acquire(ctx context.Context, key, token string, ttl time.Duration) error {
	s.w.yieldQuiet(ctx, "lock.Acquire %s token %s", key, token)
	return s.inner.Acquire(bg(ctx), key, token, ttl)
}

func (s *simLocker) Release(ctx context.Context, key, token string) error {
	s.w.yieldQuiet(ctx, "lock.Release %s token %s", key, token)
	holder, held := s.inner.Holder(key)
	var err error
	if s.w.opts.Bugs.ReleaseWithoutToken && held {
		err = s.inner.Release(bg(ctx), key, holder) // planted: the seed's bare DEL
	} else {
		err = s.inner.Release(bg(ctx), key, token)
	}
	s.w.checkLock("release", key, token, holder, held, err)
	return err
}

func (s *simLocker) Extend(ctx context.Context, key, token string, ttl time.Duration) error {
	s.w.yieldQuiet(ctx, "lock.Extend %s token %s", key, token)
	holder, held := s.inner.Holder(key)
	err := s.inner.Extend(bg(ctx), key, token, ttl)
	s.w.checkLock("extend", key, token, holder, held, err)
	return err
}

type simStore struct {
	w     *world
	inner *memory.Store
}

// down models the MySQL primary's loss until the replica is promoted.
func (s *simStore) down() error {
	if s.w.clock.Now().Before(s.w.mysqlDownUntil) {
		return fmt.Errorf("mysql: connection refused: %w", domain.ErrUnavailable)
	}
	return nil
}

// answerLost models a commit whose answer never reached the app.
func (s *simStore) answerLost() bool {
	return s.w.opts.Faults.MySQLFailover && !s.w.healing && s.w.ch.Intn(40, "answer-lost") == 0
}

func (s *simStore) Product(ctx context.Context, id domain.ProductID) (domain.Product, error) {
	s.w.yieldQuiet(ctx, "catalog.Product %s", id)
	if err := s.down(); err != nil {
		return domain.Product{}, err
	}
	return s.inner.Product(bg(ctx), id)
}

func (s *simStore) Products(ctx context.Context) ([]domain.Product, error) {
	s.w.yieldQuiet(ctx, "catalog.Products")
	if err := s.down(); err != nil {
		return nil, err
	}
	return s.inner.Products(bg(ctx))
}

func (s *simStore) Supply(ctx context.Context, sup domain.Supply) (domain.Product, error) {
	s.w.yield(ctx, "catalog.Supply %s +%d", sup.ID, sup.AddStock)
	if err := s.down(); err != nil {
		return domain.Product{}, err
	}
	return s.inner.Supply(bg(ctx), sup)
}

func (s *simStore) Create(ctx context.Context, saga *domain.Saga) error {
	s.w.yield(ctx, "sagas.Create %s %s", saga.ID, saga.Status)
	if err := s.down(); err != nil {
		return err
	}
	err := s.inner.Create(bg(ctx), saga)
	if errors.Is(err, domain.ErrDuplicate) && s.w.opts.Bugs.DuplicateSaga && s.overwrite(ctx, saga) == nil {
		err = nil
	}
	if err == nil {
		s.w.observe(saga)
		if s.answerLost() {
			return fmt.Errorf("mysql: answer lost after commit: %w", domain.ErrUnavailable)
		}
	}
	return err
}

// overwrite stores saga over the stored saga of its ID (the planted bug
// DuplicateSaga: an upsert where an insert was meant). The store still
// refuses a write that would shorten the stored timeline: then the insert
// answers its duplicate as before.
func (s *simStore) overwrite(ctx context.Context, saga *domain.Saga) error {
	_, err := s.inner.Update(bg(ctx), saga.ID, func(stored *domain.Saga) error {
		v := stored.Version
		*stored = *saga.Clone()
		stored.Version = v
		return nil
	})
	return err
}

// Update is the store's read, the caller's fn, then a yield, then the
// conditional write: between the read and the write other actors run, so
// two writers of one saga really race and the version check decides (a
// lost race is counted in Result.Conflicts and applies fn again). With the
// planted bug NoVersionCheck the write is blind.
func (s *simStore) Update(ctx context.Context, id domain.SagaID, fn func(*domain.Saga) error) (*domain.Saga, error) {
	// Quiet: the step it begins reads the saga and applies fn to a copy;
	// the write is the next step's, after the yield below.
	s.w.yieldQuiet(ctx, "sagas.Update %s", id)
	if err := s.down(); err != nil {
		return nil, err
	}
	seen := func(saga *domain.Saga) { s.w.loaded(ctx, saga) }
	var out *domain.Saga
	var err error
	if s.w.opts.Bugs.NoVersionCheck {
		out, err = s.blindUpdate(ctx, id, func(saga *domain.Saga) error { seen(saga); return fn(saga) })
	} else {
		attempts := 0
		out, err = s.inner.Update(bg(ctx), id, func(saga *domain.Saga) error {
			if attempts++; attempts > 1 {
				s.w.conflict("sagas.Update %s lost the race: reloaded at v%d", id, saga.Version)
			}
			seen(saga)
			if s.w.opts.Bugs.StaleUpdateRead && saga.Status == domain.SagaCompensated {
				// Planted: the update read a replica that has not yet seen
				// the compensation finish.
				saga.Status = domain.SagaCompensating
			}
			loaded := saga.Version
			if err := fn(saga); err != nil {
				return err
			}
			s.w.yield(ctx, "sagas.Update %s write over v%d", id, loaded)
			return s.down()
		})
	}
	if errors.Is(err, domain.ErrInsufficientStock) && s.w.opts.Bugs.NoStockGuard {
		if saga, serr := s.inner.Saga(bg(ctx), id); serr == nil && s.conjure(ctx, saga.ProductID, saga.Qty) == nil {
			out, err = s.inner.Update(bg(ctx), id, fn)
		}
	}
	if err == nil {
		s.w.observe(out)
		if s.answerLost() {
			return nil, fmt.Errorf("mysql: answer lost after commit: %w", domain.ErrUnavailable)
		}
	}
	return out, err
}

// conjure adds stock to a product behind the checker's back: the planted
// bug NoStockGuard, a confirm that sells what is not there.
func (s *simStore) conjure(ctx context.Context, p domain.ProductID, qty int64) error {
	_, err := s.inner.Supply(bg(ctx), domain.Supply{ID: p, AddStock: qty})
	return err
}

// blindUpdate is Update without the version check (the planted bug
// NoVersionCheck): the saga is read, fn applied, and after a yield the
// result is written over whatever was stored meanwhile, a lost update.
func (s *simStore) blindUpdate(ctx context.Context, id domain.SagaID, fn func(*domain.Saga) error) (*domain.Saga, error) {
	working, err := s.inner.Saga(bg(ctx), id)
	if err != nil {
		return nil, err
	}
	if err := fn(working); err != nil {
		return nil, err
	}
	s.w.yield(ctx, "sagas.Update %s blind write", id)
	if err := s.down(); err != nil {
		return nil, err
	}
	return s.inner.Update(bg(ctx), id, func(stored *domain.Saga) error {
		v := stored.Version
		*stored = *working.Clone()
		stored.Version = v
		return nil
	})
}

func (s *simStore) WriteAll(ctx context.Context, changes []ports.SagaChange) ([]*domain.Saga, error) {
	s.w.yield(ctx, "sagas.WriteAll %d", len(changes))
	out, err := s.writeAll(ctx, changes)
	if err != nil && s.w.opts.Bugs.SwallowWriteError {
		// Planted: the failed write is answered as if it had been stored.
		out = make([]*domain.Saga, len(changes))
		for i, c := range changes {
			out[i] = c.Next.Clone()
		}
		return out, nil
	}
	return out, err
}

func (s *simStore) writeAll(ctx context.Context, changes []ports.SagaChange) ([]*domain.Saga, error) {
	if err := s.down(); err != nil {
		return nil, err
	}
	if s.w.opts.Bugs.NoVersionCheck {
		// Planted: each change is written over whatever is stored.
		changes = append([]ports.SagaChange(nil), changes...)
		for i, c := range changes {
			if stored, err := s.inner.Saga(bg(ctx), c.Next.ID); err == nil {
				changes[i].Prev = stored
			}
		}
	}
	out, err := s.inner.WriteAll(bg(ctx), changes)
	if errors.Is(err, domain.ErrConflict) {
		s.w.conflict("sagas.WriteAll %d refused: a member moved since it was read", len(changes))
	}
	if errors.Is(err, domain.ErrInsufficientStock) && s.w.opts.Bugs.NoStockGuard {
		var qty int64
		for _, c := range changes {
			qty += c.Next.Qty
		}
		if s.conjure(ctx, changes[0].Next.ProductID, qty) == nil {
			out, err = s.inner.WriteAll(bg(ctx), changes)
		}
	}
	if err == nil {
		for _, saga := range out {
			s.w.observe(saga)
		}
		if s.answerLost() {
			return nil, fmt.Errorf("mysql: answer lost after commit: %w", domain.ErrUnavailable)
		}
	}
	return out, err
}

func (s *simStore) CreateAll(ctx context.Context, sagas []*domain.Saga) error {
	s.w.yield(ctx, "sagas.CreateAll %d", len(sagas))
	if err := s.down(); err != nil {
		return err
	}
	err := s.inner.CreateAll(bg(ctx), sagas)
	if errors.Is(err, domain.ErrDuplicate) && s.w.opts.Bugs.DuplicateSaga {
		err = nil
		for _, saga := range sagas {
			cerr := s.inner.Create(bg(ctx), saga)
			if errors.Is(cerr, domain.ErrDuplicate) && s.overwrite(ctx, saga) == nil {
				cerr = nil
			}
			err = errors.Join(err, cerr)
		}
	}
	if err == nil {
		for _, saga := range sagas {
			s.w.observe(saga)
		}
		if s.answerLost() {
			return fmt.Errorf("mysql: answer lost after commit: %w", domain.ErrUnavailable)
		}
	}
	return err
}

func (s *simStore) Saga(ctx context.Context, id domain.SagaID) (*domain.Saga, error) {
	s.w.yieldQuiet(ctx, "sagas.Saga %s", id)
	if err := s.down(); err != nil {
		return nil, err
	}
	s.w.readAfresh(ctx, id)
	return s.inner.Saga(bg(ctx), id)
}

func (s *simStore) Stale(ctx context.Context, now time.Time, limit int) ([]domain.SagaID, error) {
	s.w.yieldQuiet(ctx, "sagas.Stale")
	if err := s.down(); err != nil {
		return nil, err
	}
	ids, err := s.inner.Stale(bg(ctx), now, limit)
	if err == nil && s.w.opts.Bugs.StaleSkipsCompensating {
		// Planted: the stale query asks for RUNNING sagas only.
		ids = slices.DeleteFunc(ids, func(id domain.SagaID) bool {
			saga, err := s.inner.Saga(bg(ctx), id)
			return err == nil && saga.Status == domain.SagaCompensating
		})
	}
	return ids, err
}

func (s *simStore) Unpublished(ctx context.Context, limit int) ([]domain.Event, error) {
	s.w.yieldQuiet(ctx, "outbox.Unpublished")
	if err := s.down(); err != nil {
		return nil, err
	}
	return s.inner.Unpublished(bg(ctx), limit)
}

func (s *simStore) MarkPublished(ctx context.Context, ids []string) error {
	s.w.yieldQuiet(ctx, "outbox.MarkPublished %d", len(ids))
	if err := s.down(); err != nil {
		return err
	}
	return s.inner.MarkPublished(bg(ctx), ids)
}

type simPublisher struct {
	w     *world
	inner *memory.EventLog
}

// Publish delivers, with the events fault on, some events twice and some
// batches late (after a later batch of other sagas: a broker keeps each
// saga's order, being keyed by saga ID, but not the order across sagas).
func (s *simPublisher) Publish(ctx context.Context, evs ...domain.Event) error {
	s.w.yieldQuiet(ctx, "events.Publish %d", len(evs))
	w := s.w
	if w.opts.Bugs.LoseEvent && len(evs) > 1 {
		evs = evs[:len(evs)-1] // planted: the batch's last event never leaves
	}
	if !w.opts.Faults.Events || w.healing {
		w.flushHeld()
		return s.inner.Publish(bg(ctx), evs...)
	}
	if w.heldBatch == nil && w.ch.Intn(8, "hold-batch") == 0 {
		w.heldBatch = append([]domain.Event(nil), evs...)
		return nil // in flight in the broker
	}
	if w.heldBatch != nil && disjoint(w.heldBatch, evs) {
		if err := s.inner.Publish(bg(ctx), evs...); err != nil {
			return err
		}
		w.flushHeld()
	} else {
		w.flushHeld()
		if err := s.inner.Publish(bg(ctx), evs...); err != nil {
			return err
		}
	}
	if len(evs) > 0 && w.ch.Intn(6, "duplicate") == 0 {
		return s.inner.Publish(bg(ctx), evs[w.ch.Intn(len(evs), "which")])
	}
	return nil
}

func (w *world) flushHeld() {
	if w.heldBatch != nil {
		_ = w.events.Publish(context.Background(), w.heldBatch...)
		w.heldBatch = nil
	}
}

func disjoint(a, b []domain.Event) bool {
	seen := map[domain.SagaID]bool{}
	for _, e := range a {
		seen[e.SagaID] = true
	}
	for _, e := range b {
		if seen[e.SagaID] {
			return false
		}
	}
	return true
}

type simPayments struct {
	w     *world
	inner *payment.Simulated
}

func (s *simPayments) Charge(ctx context.Context, saga domain.SagaID, amount int64) error {
	s.w.yield(ctx, "payments.Charge %s %d", saga, amount)
	s.w.checkEffect(ctx, "charge", saga)
	s.w.chargeAsked[saga] = true
	before := s.inner.ChargesApplied()
	err := s.inner.Charge(bg(ctx), saga, amount)
	if s.inner.ChargesApplied() > before {
		s.w.charged[saga] = true // a second charge shows in the books: applied > charged (I4)
	}
	return err
}

func (s *simPayments) Refund(ctx context.Context, saga domain.SagaID) (bool, error) {
	s.w.yield(ctx, "payments.Refund %s", saga)
	s.w.checkEffect(ctx, "refund", saga)
	if s.w.opts.Bugs.ReleaseBeforeRefund {
		// Planted: the reservation is given back with the refund, before
		// the order is cancelled.
		if stored, err := s.w.store.Saga(bg(ctx), saga); err == nil {
			_ = s.w.gate.Release(ctx, stored.ProductID, saga)
		}
	}
	if s.w.opts.Bugs.CancelBeforeRefund {
		// Planted: the order is cancelled first, then the refund asked.
		store := &simStore{w: s.w, inner: s.w.store}
		_, _ = store.Update(ctx, saga, func(sg *domain.Saga) error { return sg.CancelOrder(s.w.clock.Now()) })
	}
	s.w.refundAsked[saga] = true
	if s.w.opts.Bugs.SkipRefund {
		return false, nil // planted: "nothing was charged", the gateway unasked
	}
	before := s.inner.RefundsApplied()
	charged, err := s.inner.Refund(bg(ctx), saga)
	if s.inner.RefundsApplied() > before {
		if s.w.refunded[saga] || !s.w.charged[saga] {
			s.w.fail("I4", "saga %s refunded twice or without a charge", saga)
		}
		s.w.refunded[saga] = true
	}
	return charged, err
}
