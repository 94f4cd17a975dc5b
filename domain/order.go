package domain

import "time"

// OrderID names an order.
type OrderID string

// Validate reports whether id is well formed.
func (id OrderID) Validate() error { return validateID("orderId", string(id)) }

// OrderStatus is the order's state: PENDING -> CONFIRMED | CANCELLED.
type OrderStatus string

// Order states.
const (
	OrderPending   OrderStatus = "PENDING"
	OrderConfirmed OrderStatus = "CONFIRMED"
	OrderCancelled OrderStatus = "CANCELLED"
)

// Order is what a buyer bought. There is at most one order per saga.
// Version is the optimistic-lock version of the stored row: stores bump it
// on every write and reject a write whose version is stale (ErrConflict).
type Order struct {
	ID          OrderID
	SagaID      SagaID
	ProductID   ProductID
	Qty         int64
	AmountMinor int64
	Status      OrderStatus
	Version     int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Confirm moves a PENDING order to CONFIRMED. Confirming a confirmed order
// is a no-op (idempotent); confirming a cancelled one is ErrInvalidTransition.
func (o *Order) Confirm(now time.Time) (changed bool, err error) {
	return o.move(OrderConfirmed, now)
}

// Cancel moves a PENDING order to CANCELLED. Cancelling a cancelled order is
// a no-op; cancelling a confirmed one is ErrInvalidTransition (a confirmed
// sale is final: undoing it would be a refund flow, not a compensation).
func (o *Order) Cancel(now time.Time) (changed bool, err error) {
	return o.move(OrderCancelled, now)
}

func (o *Order) move(to OrderStatus, now time.Time) (bool, error) {
	switch o.Status {
	case to:
		return false, nil
	case OrderPending:
		o.Status = to
		o.UpdatedAt = now
		return true, nil
	default:
		return false, ErrInvalidTransition
	}
}
