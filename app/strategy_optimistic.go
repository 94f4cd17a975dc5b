package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// StrategyOptimistic reserves by compare-and-set on the product's stock
// version, with bounded retries.
const StrategyOptimistic Strategy = "optimistic"

func init() {
	RegisterStrategy(StrategyDef{
		Name: StrategyOptimistic,
		Doc:  "compare-and-set on the product's stock version, with bounded retries; contention when they run out",
		New: func(p StrategyPorts) (Guard, Reserver, error) {
			vr, ok := p.Inventory.(ports.VersionedReserver)
			if !ok {
				return nil, nil, errors.New("needs an inventory that supports versioned reserves")
			}
			return NoGuard(), optimisticReserver{inv: p.Inventory, vr: vr, retries: p.Config.OptimisticRetries}, nil
		},
	})
}

// optimisticReserver reads the stock level and reserves only if its
// version is unchanged, retrying a bounded number of times on a lost race.
type optimisticReserver struct {
	inv     ports.Inventory
	vr      ports.VersionedReserver
	retries int
}

func (r optimisticReserver) Reserve(ctx context.Context, res domain.Reservation) error {
	for attempt := 0; attempt <= r.retries; attempt++ {
		level, err := r.inv.Level(ctx, res.ProductID)
		if err != nil {
			return err
		}
		if err := level.CanReserve(res.Qty); err != nil {
			return err
		}
		err = r.vr.ReserveIfVersion(ctx, res, level.Version)
		if !errors.Is(err, domain.ErrConflict) {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %w", domain.ErrUnavailable, ctx.Err())
		}
	}
	return domain.ErrContention
}
