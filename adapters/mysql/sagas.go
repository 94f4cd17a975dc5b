package mysql

import (
	"context"
	"errors"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/plugin/optimisticlock"

	"github.com/flashsale/flashsale/domain"
)

// Create implements ports.SagaStore in one transaction: the saga row
// (version 1, its order included) and all its events, which enter the
// outbox. A saga created with its order already CONFIRMED also decrements
// the product's stock, guarded, as Update's confirmation does. A saga ID or
// order ID that exists is domain.ErrDuplicate; s is not modified. The rows
// go in by the INSERTs CreateAll uses (insertSagas), and a deadlock with a
// racing insert of the same keys is retried (createTx).
func (db *DB) Create(ctx context.Context, s *domain.Saga) error {
	if s == nil {
		return fmt.Errorf("create saga: %w", domain.Invalid("saga", "must not be nil"))
	}
	ctx, cancel := db.callContext(ctx)
	defer cancel()
	if err := live(ctx); err != nil {
		return fmt.Errorf("create saga %s: %w", s.ID, err)
	}
	row, err := toSagaRow(s)
	if err != nil {
		return fmt.Errorf("create saga %s: %w", s.ID, err)
	}
	row.Version = optimisticlock.Version{Int64: 1, Valid: true}
	events, err := toWriteRows(s.ID, s.Events)
	if err != nil {
		return fmt.Errorf("create saga %s: %w", s.ID, err)
	}
	sold := domain.Sold(nil, s)
	now := db.now()
	var stockVersion int64
	err = db.createTx(ctx, func(tx *gorm.DB) error {
		if err := insertSagas(tx.Statement.Context, tx.Statement.ConnPool, []sagaRow{row}, events); err != nil {
			return err
		}
		if sold > 0 {
			v, err := decrementStock(tx, s.Order.ProductID, sold, now)
			stockVersion = v
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create saga %s: %w", s.ID, db.translate(ctx, err))
	}
	if sold > 0 {
		db.marks.note(s.Order.ProductID, stockVersion)
	}
	return nil
}

// Update implements ports.SagaStore with optimistic locking. It loads the
// saga from the primary, applies fn to that copy with no lock held (so fn
// may itself call the store), and then, in one transaction, writes the row
// through the optimisticlock plugin (WHERE id = ? AND version = <loaded>,
// version + 1), inserts the events beyond the stored timeline, and, if the
// move sells (domain.Sold: the order has just become CONFIRMED), decrements
// the product's stock guarded by stock >= qty. A write that matched no row lost a race: Update reloads and
// applies fn again, up to MaxUpdateAttempts times in all, then returns an
// error wrapping domain.ErrConflict. fn's own error is returned as it is,
// with nothing stored. fn must not change the saga's ID or shorten its
// timeline (domain.ErrInvalidInput, domain.ErrInvalidTransition). The
// version is bumped even when fn changed nothing, as any row write does. The
// returned saga is what a later Saga call returns.
func (db *DB) Update(ctx context.Context, id domain.SagaID, fn func(*domain.Saga) error) (*domain.Saga, error) {
	ctx, cancel := db.callContext(ctx)
	defer cancel()
	for range MaxUpdateAttempts {
		if err := live(ctx); err != nil {
			return nil, fmt.Errorf("update saga %s: %w", id, err)
		}
		g := db.cur.Load()
		loaded, err := db.load(ctx, g, "id = ?", string(id))
		if errors.Is(err, gorm.ErrRecordNotFound) {
			return nil, fmt.Errorf("update saga %s: %w", id, domain.ErrSagaNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("update saga %s: %w", id, db.translate(ctx, err))
		}
		working := loaded.Clone()
		if err := fn(working); err != nil {
			return nil, err
		}
		if working.ID != id {
			return nil, fmt.Errorf("update saga %s: %w", id, domain.Invalid("id", "must not change"))
		}
		if len(working.Events) < len(loaded.Events) {
			return nil, fmt.Errorf("update saga %s: timeline shrank from %d to %d events: %w",
				id, len(loaded.Events), len(working.Events), domain.ErrInvalidTransition)
		}
		out, err := db.write(ctx, g, loaded, working)
		if errors.Is(err, errLostRace) {
			continue
		}
		if err != nil {
			err = db.translate(ctx, err)
			if errors.Is(err, domain.ErrConflict) {
				continue // a deadlock victim lost a race too
			}
			return nil, fmt.Errorf("update saga %s: %w", id, err)
		}
		return out, nil
	}
	return nil, fmt.Errorf("update saga %s: gave up after %d attempts: %w", id, MaxUpdateAttempts, domain.ErrConflict)
}

// write stores next over prev (as loaded) in one transaction, or returns
// errLostRace if the row is no longer at prev's version.
func (db *DB) write(ctx context.Context, g *generation, prev, next *domain.Saga) (*domain.Saga, error) {
	row, err := toSagaRow(next)
	if err != nil {
		return nil, err
	}
	row.Version = optimisticlock.Version{Int64: prev.Version, Valid: true}
	events, err := toWriteRows(next.ID, next.Events[len(prev.Events):])
	if err != nil {
		return nil, err
	}
	sold := domain.Sold(prev, next)
	out, err := stored(next, prev.Version+1)
	if err != nil {
		return nil, err
	}
	now := db.now()
	var stockVersion int64
	err = g.onPrimary(ctx).Transaction(func(tx *gorm.DB) error {
		// Select("*"): every column, zero values included (a cleared lease
		// owner, false flags). The plugin turns the struct into a column map
		// without the version, adds "AND version = <prev>" to the WHERE and
		// sets "version = version + 1". RowsAffected is the version check.
		res := tx.Model(&row).Select("*").Omit("id").Updates(&row)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return errLostRace
		}
		if err := writeInsert.exec(tx.Statement.Context, tx.Statement.ConnPool, events); err != nil {
			return err
		}
		// Last, so the hot product row stays locked for the shortest time.
		if sold > 0 {
			v, err := decrementStock(tx, next.Order.ProductID, sold, now)
			stockVersion = v
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if sold > 0 {
		db.marks.note(next.Order.ProductID, stockVersion)
	}
	return out, nil
}

// decrementStock sells qty of product inside tx: stock goes down only if it
// stays >= 0, and the version goes up. It returns the product's new version,
// domain.ErrInsufficientStock or domain.ErrProductNotFound.
//
// version = LAST_INSERT_ID(version + 1) hands the new version back in the
// statement's OK packet (sql.Result.LastInsertId): no extra round trip while
// the product row is locked. It is a plain guarded UPDATE rather than a
// versioned one: decrements commute, so a version check would only turn
// concurrent buyers of one product into retries.
func decrementStock(tx *gorm.DB, product domain.ProductID, qty int64, now time.Time) (int64, error) {
	res, err := tx.Statement.ConnPool.ExecContext(tx.Statement.Context,
		"UPDATE products SET stock = stock - ?, version = LAST_INSERT_ID(version + 1), updated_at = ? "+
			"WHERE id = ? AND stock >= ?", qty, now, string(product), qty)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	if n == 1 {
		return res.LastInsertId()
	}
	var count int64
	if err := tx.Model(&productRow{}).Where("id = ?", string(product)).Count(&count).Error; err != nil {
		return 0, err
	}
	if count == 0 {
		return 0, fmt.Errorf("confirm: product %s: %w", product, domain.ErrProductNotFound)
	}
	return 0, fmt.Errorf("confirm: %d of %s: %w", qty, product, domain.ErrInsufficientStock)
}

// load reads one saga and its timeline from the primary. The row comes
// first: its event_count says how many events belong to that version, and
// events are append-only, so the pair is consistent even if a writer
// appends in between. It returns gorm.ErrRecordNotFound for no row.
func (db *DB) load(ctx context.Context, g *generation, where string, arg string) (*domain.Saga, error) {
	var row sagaRow
	if err := g.onPrimary(ctx).Where(where, arg).Take(&row).Error; err != nil {
		return nil, err
	}
	var events []domain.Event
	if row.EventCount > 0 {
		var writes []writeRow
		err := g.onPrimary(ctx).Select("events").
			Where("saga_id = ? AND first_seq <= ?", row.ID, row.EventCount).Order("first_seq").Find(&writes).Error
		if err != nil {
			return nil, err
		}
		events = make([]domain.Event, 0, row.EventCount)
		for _, w := range writes {
			es, err := decodeEvents(w.Events)
			if err != nil {
				return nil, fmt.Errorf("saga %s: %w", row.ID, err)
			}
			events = append(events, es...)
		}
		if len(events) != row.EventCount {
			return nil, fmt.Errorf("saga %s: row says %d events, %d stored", row.ID, row.EventCount, len(events))
		}
	}
	return row.saga(events), nil
}

// Saga implements ports.SagaStore. It reads the primary, so a saga is
// found as soon as its Create returned.
func (db *DB) Saga(ctx context.Context, id domain.SagaID) (*domain.Saga, error) {
	ctx, cancel := db.callContext(ctx)
	defer cancel()
	if err := live(ctx); err != nil {
		return nil, fmt.Errorf("saga %s: %w", id, err)
	}
	s, err := db.load(ctx, db.cur.Load(), "id = ?", string(id))
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fmt.Errorf("saga %s: %w", id, domain.ErrSagaNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("saga %s: %w", id, db.translate(ctx, err))
	}
	return s, nil
}

// SagaOfOrder implements ports.OrderReader, reading the primary: GET
// /orders/:id right after the purchase answered never misses the order.
func (db *DB) SagaOfOrder(ctx context.Context, id domain.OrderID) (*domain.Saga, error) {
	ctx, cancel := db.callContext(ctx)
	defer cancel()
	if err := live(ctx); err != nil {
		return nil, fmt.Errorf("saga of order %s: %w", id, err)
	}
	if id == "" {
		return nil, fmt.Errorf("saga of order %q: %w", id, domain.ErrOrderNotFound)
	}
	s, err := db.load(ctx, db.cur.Load(), "order_id = ?", string(id))
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fmt.Errorf("saga of order %s: %w", id, domain.ErrOrderNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("saga of order %s: %w", id, db.translate(ctx, err))
	}
	return s, nil
}

// Stale implements ports.SagaStore from the primary (a lagging replica
// would hand recovery sagas that already finished). Ties in lease are
// ordered by saga ID. A limit below 1 returns nothing.
func (db *DB) Stale(ctx context.Context, now time.Time, limit int) ([]domain.SagaID, error) {
	ctx, cancel := db.callContext(ctx)
	defer cancel()
	if err := live(ctx); err != nil {
		return nil, fmt.Errorf("stale sagas: %w", err)
	}
	if limit <= 0 {
		return nil, nil
	}
	at, err := toDBTime(now)
	if err != nil {
		return nil, fmt.Errorf("stale sagas: %w", err)
	}
	var ids []string
	err = db.cur.Load().onPrimary(ctx).Model(&sagaRow{}).
		Where("status IN ? AND lease_until <= ?", []string{string(domain.SagaRunning), string(domain.SagaCompensating)}, at).
		Order("lease_until").Order("id").Limit(limit).Pluck("id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("stale sagas: %w", db.translate(ctx, err))
	}
	out := make([]domain.SagaID, len(ids))
	for i, id := range ids {
		out[i] = domain.SagaID(id)
	}
	return out, nil
}
