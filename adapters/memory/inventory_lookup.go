package memory

import (
	"context"
	"fmt"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

var (
	_ ports.ReservationLookup = (*Inventory)(nil)
	_ ports.BatchLookup       = (*Inventory)(nil)
)

// HasReservations implements ports.BatchLookup: HasReservation of each saga.
func (inv *Inventory) HasReservations(ctx context.Context, product domain.ProductID, sagas []domain.SagaID) ([]bool, error) {
	out := make([]bool, len(sagas))
	for i, s := range sagas {
		has, err := inv.HasReservation(ctx, product, s)
		if err != nil {
			return nil, err
		}
		out[i] = has
	}
	return out, nil
}

// HasReservation implements ports.ReservationLookup: a record of any state,
// a remembered refusal included, not yet past its retention.
func (inv *Inventory) HasReservation(ctx context.Context, product domain.ProductID, saga domain.SagaID) (bool, error) {
	if err := contextErr(ctx); err != nil {
		return false, fmt.Errorf("has reservation %s of %s: %w", saga, product, err)
	}
	now := inv.clock.Now()
	inv.mu.Lock()
	defer inv.mu.Unlock()
	inv.forgetDueLocked(now)
	rec, ok := inv.records[saga]
	return ok && rec.res.ProductID == product, nil
}
