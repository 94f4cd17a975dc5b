package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// Drift is one product whose inventory gate disagrees with the durable
// catalog.
type Drift struct {
	ProductID    domain.ProductID `json:"productId"`
	DurableStock int64            `json:"durableStock"`
	GateStock    int64            `json:"gateStock"`
	GateReserved int64            `json:"gateReserved"`
	// Missing: the gate has no stock record for the product.
	Missing bool `json:"missing"`
	// Fixed: the gate's stock was set from the catalog.
	Fixed bool `json:"fixed"`
	// Skipped says why a drift was not fixed.
	Skipped string `json:"skipped,omitempty"`
}

// ReconcileOptions are Reconcile's: Fix sets drifted gates from the
// catalog; Progress, if set, is told before each product how many of how
// many are done, and once more when all are (not after an error).
type ReconcileOptions struct {
	Fix      bool
	Progress func(done, total int)
}

// Reconcile compares every product's gate stock with its durable stock
// (MySQL is the truth; Redis is a gate that can be rebuilt from it, after a
// failover that lost writes, say) and, with fix, sets the gate's stock from
// the catalog. A product with reservations in flight is reported but not
// fixed: while sagas run, the gate legitimately leads or lags the catalog
// by their quantities, so only a product at rest can be compared exactly.
func (a *App) Reconcile(ctx context.Context, o ReconcileOptions) ([]Drift, error) {
	fix := o.Fix
	loader, ok := a.d.Inventory.(ports.InventoryLoader)
	if fix && !ok {
		return nil, errors.New("reconcile: the inventory adapter cannot load stock")
	}
	products, err := a.Products(ctx)
	if err != nil {
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	var drifts []Drift
	for i, p := range products {
		if o.Progress != nil {
			o.Progress(i, len(products))
		}
		var level domain.StockLevel
		err := a.step(ctx, func(ctx context.Context) error {
			var err error
			level, err = a.d.Inventory.Level(ctx, p.ID)
			return err
		})
		d := Drift{ProductID: p.ID, DurableStock: p.Stock}
		switch {
		case errors.Is(err, domain.ErrProductNotFound):
			d.Missing = true
		case err != nil:
			return drifts, fmt.Errorf("reconcile %s: %w", p.ID, err)
		case level.Stock == p.Stock && level.Reserved == 0:
			continue
		case level.Stock == p.Stock:
			continue // in flight and consistent so far
		default:
			d.GateStock, d.GateReserved = level.Stock, level.Reserved
		}
		if fix {
			if d.GateReserved != 0 {
				d.Skipped = "reservations in flight"
			} else if err := a.step(ctx, func(ctx context.Context) error { return loader.SetStock(ctx, p.ID, p.Stock) }); err != nil {
				return drifts, fmt.Errorf("reconcile %s: fix: %w", p.ID, err)
			} else {
				d.Fixed = true
			}
		}
		drifts = append(drifts, d)
	}
	if o.Progress != nil {
		o.Progress(len(products), len(products))
	}
	return drifts, nil
}
