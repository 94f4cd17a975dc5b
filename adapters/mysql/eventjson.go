package mysql

import (
	"time"

	"github.com/flashsale/flashsale/domain"
)

// eventJSON is an event as the saga_writes rows' events column keeps it,
// this adapter's own format: a change of domain.Event reaches the rows
// only through the conversions below, and rows written before it still
// decode.
type eventJSON struct {
	ID          string           `json:"id"`
	SagaID      domain.SagaID    `json:"sagaId"`
	Seq         int              `json:"seq"`
	Type        domain.EventType `json:"type"`
	At          time.Time        `json:"at"`
	ProductID   domain.ProductID `json:"productId"`
	OrderID     domain.OrderID   `json:"orderId,omitempty"`
	Qty         int64            `json:"qty"`
	AmountMinor int64            `json:"amountMinor,omitempty"`
	Reason      string           `json:"reason,omitempty"`
	TraceParent string           `json:"traceparent,omitempty"`
}

func toEventJSON(e domain.Event) eventJSON {
	return eventJSON{
		ID: e.ID, SagaID: e.SagaID, Seq: e.Seq, Type: e.Type, At: e.At, ProductID: e.ProductID, OrderID: e.OrderID,
		Qty: e.Qty, AmountMinor: e.AmountMinor, Reason: e.Reason, TraceParent: e.TraceParent,
	}
}

func (e eventJSON) event() domain.Event {
	return domain.Event{
		ID: e.ID, SagaID: e.SagaID, Seq: e.Seq, Type: e.Type, At: e.At, ProductID: e.ProductID, OrderID: e.OrderID,
		Qty: e.Qty, AmountMinor: e.AmountMinor, Reason: e.Reason, TraceParent: e.TraceParent,
	}
}
