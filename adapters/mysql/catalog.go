package mysql

import (
	"context"
	"errors"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/plugin/optimisticlock"

	"github.com/flashsale/flashsale/domain"
)

// Product implements ports.Catalog. It reads a replica, and the primary
// when the replica does not answer or has not yet applied this process's
// latest write of the product (see the package doc).
func (db *DB) Product(ctx context.Context, id domain.ProductID) (domain.Product, error) {
	ctx, cancel := db.callContext(ctx)
	defer cancel()
	if err := live(ctx); err != nil {
		return domain.Product{}, fmt.Errorf("product %s: %w", id, err)
	}
	g := db.cur.Load()
	floor := db.marks.get(id)
	if db.replicasUsable() {
		var row productRow
		err := g.onReplica(ctx).Where("id = ?", string(id)).Take(&row).Error
		switch {
		case err == nil && row.Version.Int64 >= floor:
			return row.product(), nil
		case err == nil || errors.Is(err, gorm.ErrRecordNotFound):
			// Behind this process's own write, or a miss: the product may
			// have been created a moment ago by another instance and not be
			// replicated yet, so a miss is confirmed on the primary before it
			// becomes a 404. Misses are rare; the extra read is cheap.
		case ctx.Err() != nil:
			return domain.Product{}, fmt.Errorf("product %s: %w", id, db.translate(ctx, err))
		default:
			db.replicaFailed(err)
		}
	}
	var row productRow
	err := g.onPrimary(ctx).Where("id = ?", string(id)).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return domain.Product{}, fmt.Errorf("product %s: %w", id, domain.ErrProductNotFound)
	}
	if err != nil {
		return domain.Product{}, fmt.Errorf("product %s: %w", id, db.translate(ctx, err))
	}
	return row.product(), nil
}

// Products implements ports.Catalog, reading like Product: from a replica
// unless it misses or predates one of this process's product writes.
func (db *DB) Products(ctx context.Context) ([]domain.Product, error) {
	ctx, cancel := db.callContext(ctx)
	defer cancel()
	if err := live(ctx); err != nil {
		return nil, fmt.Errorf("products: %w", err)
	}
	g := db.cur.Load()
	floors := db.marks.snapshot()
	if db.replicasUsable() {
		var rows []productRow
		err := g.onReplica(ctx).Order("id").Find(&rows).Error
		switch {
		case err == nil && !behind(rows, floors):
			return products(rows), nil
		case err == nil:
			// behind this process's own writes: ask the primary
		case ctx.Err() != nil:
			return nil, fmt.Errorf("products: %w", db.translate(ctx, err))
		default:
			db.replicaFailed(err)
		}
	}
	var rows []productRow
	if err := g.onPrimary(ctx).Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("products: %w", db.translate(ctx, err))
	}
	return products(rows), nil
}

// behind reports whether rows miss a product this process wrote or hold an
// older version of it.
func behind(rows []productRow, floors map[domain.ProductID]int64) bool {
	seen := 0
	for _, r := range rows {
		if floor, ok := floors[domain.ProductID(r.ID)]; ok {
			if r.Version.Int64 < floor {
				return true
			}
			seen++
		}
	}
	return seen < len(floors)
}

func products(rows []productRow) []domain.Product {
	out := make([]domain.Product, len(rows))
	for i, r := range rows {
		out[i] = r.product()
	}
	return out
}

// Supply implements ports.Catalog. It runs on the primary in one
// transaction: the product row is locked (SELECT ... FOR UPDATE), Apply
// runs, and the result is inserted (version 1) or written with a versioned
// update through the optimisticlock plugin. Two creators of a new product
// meet on its primary key; the loser, like a deadlock victim, runs again
// (MaxUpdateAttempts times, then domain.ErrConflict). Invalid requests are
// errors matching domain.ErrInvalidInput.
func (db *DB) Supply(ctx context.Context, sup domain.Supply) (domain.Product, error) {
	if err := sup.Validate(); err != nil {
		return domain.Product{}, fmt.Errorf("supply %s: %w", sup.ID, err)
	}
	ctx, cancel := db.callContext(ctx)
	defer cancel()
	for range MaxUpdateAttempts {
		if err := live(ctx); err != nil {
			return domain.Product{}, fmt.Errorf("supply %s: %w", sup.ID, err)
		}
		p, err := db.supplyOnce(ctx, sup)
		if err == nil {
			db.marks.note(p.ID, p.Version)
			return p, nil
		}
		if errors.Is(err, domain.ErrInvalidInput) {
			return domain.Product{}, fmt.Errorf("supply %s: %w", sup.ID, err)
		}
		if errors.Is(err, errLostRace) {
			continue
		}
		err = db.translate(ctx, err)
		if errors.Is(err, domain.ErrDuplicate) || errors.Is(err, domain.ErrConflict) {
			continue
		}
		return domain.Product{}, fmt.Errorf("supply %s: %w", sup.ID, err)
	}
	return domain.Product{}, fmt.Errorf("supply %s: gave up after %d attempts: %w", sup.ID, MaxUpdateAttempts, domain.ErrConflict)
}

func (db *DB) supplyOnce(ctx context.Context, sup domain.Supply) (domain.Product, error) {
	now := db.now()
	var out domain.Product
	err := db.cur.Load().onPrimary(ctx).Transaction(func(tx *gorm.DB) error {
		var row productRow
		err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("id = ?", string(sup.ID)).Take(&row).Error
		exists := err == nil
		if err != nil && !errors.Is(err, gorm.ErrRecordNotFound) {
			return err
		}
		var current domain.Product
		if exists {
			current = row.product()
		}
		next, err := sup.Apply(current, exists, now)
		if err != nil {
			return err
		}
		if !exists {
			fresh := productRow{
				ID: string(next.ID), Name: next.Name, PriceMinor: next.PriceMinor, Stock: next.Stock,
				Version: optimisticlock.Version{Int64: 1, Valid: true}, Created: now, Updated: now,
			}
			if err := tx.Create(&fresh).Error; err != nil {
				return err
			}
			out = fresh.product()
			return nil
		}
		// The plugin adds "AND version = <loaded>" and "version = version + 1".
		// Trap: with Select, the version column must be selected too, or GORM
		// drops the plugin's "version = version + 1" from the SET and the
		// row keeps its old version (TestSupplyReturnsTheStoredRow).
		write := productRow{
			ID: row.ID, Name: next.Name, PriceMinor: next.PriceMinor, Stock: next.Stock,
			Version: row.Version, Updated: now,
		}
		res := tx.Model(&write).Select("name", "price_minor", "stock", "updated_at", "version").Updates(&write)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return errLostRace // cannot happen under the row lock; never assume it
		}
		write.Version.Int64++
		write.Created = row.Created
		out = write.product()
		return nil
	})
	return out, err
}
