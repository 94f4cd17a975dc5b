package domain

import "time"

// SagaID names one purchase saga. Every effect of the saga (reservation,
// order, charge, events) is keyed by it, so any instance can find them again.
type SagaID string

// Validate reports whether id is well formed.
func (id SagaID) Validate() error { return validateID("sagaId", string(id)) }

// Reservation holds Qty units of a product for one saga until Deadline.
// It is consumed exactly once: by Confirm (the sale happened) or by Release
// (the saga compensated, or the reaper found it past its deadline).
type Reservation struct {
	SagaID    SagaID
	ProductID ProductID
	Qty       int64
	Deadline  time.Time
}

// ReservationState is where a reservation record is in its life.
type ReservationState string

// Reservation states.
const (
	ReservationHeld      ReservationState = "HELD"
	ReservationConfirmed ReservationState = "CONFIRMED"
	ReservationReleased  ReservationState = "RELEASED"
)

// StockLevel is the inventory gate's view of one product.
// Available = Stock - Reserved, and it is never negative.
type StockLevel struct {
	ProductID ProductID
	Stock     int64
	Reserved  int64
	// Version increases on every change; the optimistic strategy uses it
	// for compare-and-set.
	Version int64
}

// Available is the quantity that can still be reserved.
func (l StockLevel) Available() int64 { return l.Stock - l.Reserved }

// CanReserve decides a reservation against l. It is the one place the
// availability rule lives, so every inventory adapter applies the same rule.
func (l StockLevel) CanReserve(qty int64) error {
	if qty <= 0 {
		return Invalid("qty", "must be positive")
	}
	if l.Available() < qty {
		return ErrInsufficientStock
	}
	return nil
}
