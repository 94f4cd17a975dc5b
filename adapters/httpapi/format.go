package httpapi

import (
	"time"

	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
)

// The API's bodies of domain values, this adapter's own format (the
// OpenAPI document's schemas): a change of a domain type reaches the API
// only through the conversions below.

type productJSON struct {
	ID         domain.ProductID `json:"id"`
	Name       string           `json:"name"`
	PriceMinor int64            `json:"priceMinor"`
	Stock      int64            `json:"stock"`
	Version    int64            `json:"version"`
	UpdatedAt  time.Time        `json:"updatedAt"`
}

func productOf(p domain.Product) productJSON {
	return productJSON{ID: p.ID, Name: p.Name, PriceMinor: p.PriceMinor, Stock: p.Stock, Version: p.Version, UpdatedAt: p.UpdatedAt}
}

func (p productJSON) product() domain.Product {
	return domain.Product{ID: p.ID, Name: p.Name, PriceMinor: p.PriceMinor, Stock: p.Stock, Version: p.Version, UpdatedAt: p.UpdatedAt}
}

func productsOf(ps []domain.Product) []productJSON {
	if ps == nil {
		return nil
	}
	out := make([]productJSON, len(ps))
	for i, p := range ps {
		out[i] = productOf(p)
	}
	return out
}

// productViewJSON is GET /products/:id: the product and what is available.
type productViewJSON struct {
	productJSON
	Available      int64     `json:"available"`
	AvailableAsOf  time.Time `json:"availableAsOf"`
	AvailableStale bool      `json:"availableStale,omitempty"`
}

func productViewOf(v app.ProductView) productViewJSON {
	return productViewJSON{productJSON: productOf(v.Product), Available: v.Available, AvailableAsOf: v.AvailableAsOf,
		AvailableStale: v.AvailableStale}
}

func (v productViewJSON) view() app.ProductView {
	return app.ProductView{Product: v.product(), Available: v.Available, AvailableAsOf: v.AvailableAsOf, AvailableStale: v.AvailableStale}
}

type orderJSON struct {
	ID          domain.OrderID     `json:"id"`
	SagaID      domain.SagaID      `json:"sagaId"`
	ProductID   domain.ProductID   `json:"productId"`
	Qty         int64              `json:"qty"`
	AmountMinor int64              `json:"amountMinor"`
	Status      domain.OrderStatus `json:"status"`
	Version     int64              `json:"version"`
	CreatedAt   time.Time          `json:"createdAt"`
	UpdatedAt   time.Time          `json:"updatedAt"`
}

func orderOf(o domain.Order) orderJSON {
	return orderJSON{ID: o.ID, SagaID: o.SagaID, ProductID: o.ProductID, Qty: o.Qty, AmountMinor: o.AmountMinor,
		Status: o.Status, Version: o.Version, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt}
}

func (o orderJSON) order() domain.Order {
	return domain.Order{ID: o.ID, SagaID: o.SagaID, ProductID: o.ProductID, Qty: o.Qty, AmountMinor: o.AmountMinor,
		Status: o.Status, Version: o.Version, CreatedAt: o.CreatedAt, UpdatedAt: o.UpdatedAt}
}

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

func eventsOf(es []domain.Event) []eventJSON {
	if es == nil {
		return nil
	}
	out := make([]eventJSON, len(es))
	for i, e := range es {
		out[i] = eventJSON{ID: e.ID, SagaID: e.SagaID, Seq: e.Seq, Type: e.Type, At: e.At, ProductID: e.ProductID,
			OrderID: e.OrderID, Qty: e.Qty, AmountMinor: e.AmountMinor, Reason: e.Reason, TraceParent: e.TraceParent}
	}
	return out
}

func (e eventJSON) event() domain.Event {
	return domain.Event{ID: e.ID, SagaID: e.SagaID, Seq: e.Seq, Type: e.Type, At: e.At, ProductID: e.ProductID,
		OrderID: e.OrderID, Qty: e.Qty, AmountMinor: e.AmountMinor, Reason: e.Reason, TraceParent: e.TraceParent}
}
