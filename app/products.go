package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// ProductView is a product as a buyer sees it: its details (possibly served
// from the caches, so up to the cache TTL old), and its stock and the
// quantity the inventory gate can still reserve, both read from the gate
// at AvailableAsOf (live, or at most Config.NearCacheTTL old). Stock is the
// gate's, not the cached details': a sale shows in both at once.
type ProductView struct {
	domain.Product
	Available     int64
	AvailableAsOf time.Time
	// AvailableStale says the gate did not answer: Stock, Available and
	// AvailableAsOf are the last this instance read, at most
	// Config.StaleLevelTTL old.
	AvailableStale bool
}

// ReadOptions tune one product read.
type ReadOptions struct {
	// Fresh skips this process's near cache: the details come from the
	// product cache (or the catalog) and the available count from the gate,
	// as an HTTP client's "Cache-Control: no-cache" asks.
	Fresh bool
}

// Product returns a product's details, cache-aside: from the near cache,
// else the product cache; concurrent misses of one product collapse into one
// catalog read, which fills both. A cache outage degrades to catalog reads.
// The available count comes from the near cache or the gate.
func (a *App) Product(ctx context.Context, id domain.ProductID, opts ReadOptions) (ProductView, error) {
	if err := id.Validate(); err != nil {
		return ProductView{}, err
	}
	p, err := a.productDetails(ctx, id, opts.Fresh)
	if err != nil {
		return ProductView{}, unavailableFrom(ports.DependencyStore, err) // the caches fall back to the catalog
	}
	now := a.now()
	if !opts.Fresh {
		if e, ok := a.near.level(id, now); ok {
			return viewOf(p, e), nil
		}
	}
	v, err := a.collapse(&a.levels, string(id), func() (any, error) {
		lctx, cancel := a.withTimeout(detached(ctx), a.cfg.StepTimeout)
		defer cancel()
		at := a.now()
		level, err := a.d.Inventory.Level(lctx, id)
		if err != nil {
			return nil, err
		}
		a.near.putLevel(level, at)
		return nearEntry[domain.StockLevel]{v: level, at: at}, nil
	})
	switch {
	case errors.Is(err, domain.ErrProductNotFound):
		// Known to the catalog but not yet loaded into the gate: nothing
		// can be reserved until it is.
		return ProductView{Product: p, AvailableAsOf: now}, nil
	case err != nil:
		// A read does not depend on the gate being up: the last level this
		// instance read answers, marked stale, unless the caller asked for
		// a live one.
		if last, ok := a.near.lastLevel(id, now, a.cfg.StaleLevelTTL); ok && !opts.Fresh {
			a.metrics.Add(ports.CounterStaleReads, 1)
			view := viewOf(p, last)
			view.AvailableStale = true
			return view, nil
		}
		return ProductView{}, fmt.Errorf("product %s level: %w", id, unavailableFrom(ports.DependencyInventory, err))
	}
	return viewOf(p, v.(nearEntry[domain.StockLevel])), nil
}

func viewOf(p domain.Product, e nearEntry[domain.StockLevel]) ProductView {
	p.Stock = e.v.Stock
	return ProductView{Product: p, Available: max(e.v.Available(), 0), AvailableAsOf: e.at}
}

// productDetails reads a product's details through the near cache (unless
// fresh), the product cache and the catalog, filling the caches on a miss.
// The purchase saga reads its price this way: a purchase of a cached
// product reads no database.
func (a *App) productDetails(ctx context.Context, id domain.ProductID, fresh bool) (domain.Product, error) {
	if !fresh {
		if p, ok := a.near.product(id, a.now()); ok {
			a.metrics.Add(ports.CounterNearCacheHit, 1)
			return p, nil
		}
	}
	at := a.now()
	cctx, cancel := a.withTimeout(ctx, a.cfg.StepTimeout)
	p, hit, err := a.d.Cache.Get(cctx, id)
	cancel()
	if err != nil {
		a.log.WarnContext(ctx, "product cache get", "product", id, "err", err)
	}
	if hit && err == nil {
		a.metrics.Add(ports.CounterCacheHit, 1)
		a.near.putProduct(p, at)
		return p, nil
	}
	a.metrics.Add(ports.CounterCacheMiss, 1)
	v, err := a.collapse(&a.reads, string(id), func() (any, error) {
		// Detached from the first caller's context: its cancellation must
		// not fail the other callers waiting on the same read.
		rctx, cancel := a.withTimeout(detached(ctx), a.cfg.StepTimeout)
		defer cancel()
		p, err := a.d.Catalog.Product(rctx, id)
		if err != nil {
			return domain.Product{}, err
		}
		if err := a.d.Cache.Set(rctx, p, a.cfg.CacheTTL); err != nil {
			a.log.WarnContext(rctx, "product cache set", "product", id, "err", err)
		}
		a.near.putProduct(p, at)
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
	ctx, cancel := a.withTimeout(ctx, a.cfg.StepTimeout)
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
	ctx, cancel := a.withTimeout(ctx, a.cfg.StepTimeout)
	defer cancel()
	p, err := a.d.Catalog.Supply(ctx, s)
	if err != nil {
		return domain.Product{}, fmt.Errorf("supply %s: %w", s.ID, err)
	}
	if err := loader.AddStock(ctx, s.ID, s.AddStock); err != nil {
		return domain.Product{}, fmt.Errorf("supply %s: load gate: %w", s.ID, err)
	}
	a.adm.stockMayHaveReturned(s.ID)
	if err := a.d.Cache.Delete(ctx, s.ID); err != nil {
		a.log.WarnContext(ctx, "product cache delete", "product", s.ID, "err", err)
	}
	// After the shared cache: a read in between could refill the near cache
	// from the old cached entry.
	a.near.forget(s.ID)
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

// collapse runs fn once for concurrent callers with the same key. Under a
// simulator (Hooks.Await set) it just runs fn: there every wait must be
// one the scheduler can see, and nothing runs concurrently anyway.
func (a *App) collapse(g *singleflight.Group, key string, fn func() (any, error)) (any, error) {
	if a.hooks.Await != nil {
		return fn()
	}
	v, err, _ := g.Do(key, fn)
	return v, err
}
