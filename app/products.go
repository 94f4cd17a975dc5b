package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// ProductView is a product as a buyer sees it: its details (possibly served
// from the cache, so up to the cache TTL old) and the live quantity the
// inventory gate can still reserve.
type ProductView struct {
	domain.Product
	Available int64 `json:"available"`
}

// Product returns a product's details, cache-aside: a hit is served from the
// cache; concurrent misses of one product collapse into one catalog read,
// which fills the cache. A cache outage degrades to catalog reads.
func (a *App) Product(ctx context.Context, id domain.ProductID) (ProductView, error) {
	if err := id.Validate(); err != nil {
		return ProductView{}, err
	}
	p, err := a.productDetails(ctx, id)
	if err != nil {
		return ProductView{}, err
	}
	lctx, cancel := context.WithTimeout(ctx, a.cfg.StepTimeout)
	defer cancel()
	level, err := a.d.Inventory.Level(lctx, id)
	switch {
	case errors.Is(err, domain.ErrProductNotFound):
		// Known to the catalog but not yet loaded into the gate: nothing
		// can be reserved until it is.
		return ProductView{Product: p}, nil
	case err != nil:
		return ProductView{}, fmt.Errorf("product %s level: %w", id, err)
	}
	return ProductView{Product: p, Available: max(level.Available(), 0)}, nil
}

func (a *App) productDetails(ctx context.Context, id domain.ProductID) (domain.Product, error) {
	cctx, cancel := context.WithTimeout(ctx, a.cfg.StepTimeout)
	p, hit, err := a.d.Cache.Get(cctx, id)
	cancel()
	if err != nil {
		a.log.WarnContext(ctx, "product cache get", "product", id, "err", err)
	}
	if hit && err == nil {
		a.metrics.Add(ports.CounterCacheHit, 1)
		return p, nil
	}
	a.metrics.Add(ports.CounterCacheMiss, 1)
	v, err, _ := a.reads.Do(string(id), func() (any, error) {
		// Detached from the first caller's context: its cancellation must
		// not fail the other callers waiting on the same read.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.StepTimeout)
		defer cancel()
		p, err := a.d.Catalog.Product(rctx, id)
		if err != nil {
			return domain.Product{}, err
		}
		if err := a.d.Cache.Set(rctx, p, a.cfg.CacheTTL); err != nil {
			a.log.WarnContext(rctx, "product cache set", "product", id, "err", err)
		}
		return p, nil
	})
	if err != nil {
		return domain.Product{}, fmt.Errorf("product %s: %w", id, err)
	}
	return v.(domain.Product), nil
}

// Products lists the catalog (never cached: the list is an admin and
// browsing view, not the flash-sale hot path).
func (a *App) Products(ctx context.Context) ([]domain.Product, error) {
	ctx, cancel := context.WithTimeout(ctx, a.cfg.StepTimeout)
	defer cancel()
	ps, err := a.d.Catalog.Products(ctx)
	if err != nil {
		return nil, fmt.Errorf("products: %w", err)
	}
	return ps, nil
}

// Supply creates or restocks a product: the durable catalog first (the
// source of truth), then the inventory gate, then the cache entry is
// dropped. If the gate update fails after the catalog's, the gate is short
// (never over) until reconciliation, so nothing can oversell.
func (a *App) Supply(ctx context.Context, s domain.Supply) (domain.Product, error) {
	if err := s.Validate(); err != nil {
		return domain.Product{}, err
	}
	loader, ok := a.d.Inventory.(ports.InventoryLoader)
	if !ok {
		return domain.Product{}, errors.New("supply: the inventory adapter cannot load stock")
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.StepTimeout)
	defer cancel()
	p, err := a.d.Catalog.Supply(ctx, s)
	if err != nil {
		return domain.Product{}, fmt.Errorf("supply %s: %w", s.ID, err)
	}
	if err := loader.AddStock(ctx, s.ID, s.AddStock); err != nil {
		return domain.Product{}, fmt.Errorf("supply %s: load gate: %w", s.ID, err)
	}
	if err := a.d.Cache.Delete(ctx, s.ID); err != nil {
		a.log.WarnContext(ctx, "product cache delete", "product", s.ID, "err", err)
	}
	return p, nil
}

// LoadInventory gives every catalog product the gate lacks its durable
// stock, so a fresh (or emptied) gate can sell. Products the gate already
// has are left alone: other instances may have reservations in flight on
// them, and overwriting their stock would undo those (reconciliation is
// the tool for a gate that drifted). It returns how many it loaded.
func (a *App) LoadInventory(ctx context.Context) (int, error) {
	loader, ok := a.d.Inventory.(ports.InventoryLoader)
	if !ok {
		return 0, errors.New("load inventory: the inventory adapter cannot load stock")
	}
	ps, err := a.Products(ctx)
	if err != nil {
		return 0, err
	}
	loaded := 0
	for _, p := range ps {
		err := a.step(ctx, func(ctx context.Context) error {
			_, err := a.d.Inventory.Level(ctx, p.ID)
			if !errors.Is(err, domain.ErrProductNotFound) {
				return err
			}
			if err := loader.SetStock(ctx, p.ID, p.Stock); err != nil {
				return err
			}
			loaded++
			return nil
		})
		if err != nil {
			return loaded, fmt.Errorf("load inventory %s: %w", p.ID, err)
		}
	}
	return loaded, nil
}
