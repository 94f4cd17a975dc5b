package httpapi

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
)

// roundTrip marshals v and unmarshals it into a new T.
func roundTrip[T any](t *testing.T, v T) (T, string) {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var back T
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	return back, string(raw)
}

// TestTheAPIFormatRoundTrips: each domain value the API answers comes back
// the same from its JSON, under the names the OpenAPI document gives
// (openapi_test.go validates whole answers against it).
func TestTheAPIFormatRoundTrips(t *testing.T) {
	at := time.Date(2026, 11, 30, 12, 0, 0, 5, time.UTC)
	p := domain.Product{ID: "p-1", Name: "Phone", PriceMinor: 129900, Stock: 7, Version: 3, UpdatedAt: at}
	back, raw := roundTrip(t, productOf(p))
	if back.product() != p {
		t.Errorf("product: %+v, want %+v", back.product(), p)
	}
	if want := `{"id":"p-1","name":"Phone","priceMinor":129900,"stock":7,"version":3,"updatedAt":"2026-11-30T12:00:00.000000005Z"}`; raw != want {
		t.Errorf("product JSON %s, want %s", raw, want)
	}

	v := app.ProductView{Product: p, Available: 5, AvailableAsOf: at, AvailableStale: true}
	backView, raw := roundTrip(t, productViewOf(v))
	if backView.view() != v {
		t.Errorf("view: %+v, want %+v", backView.view(), v)
	}
	if want := `{"id":"p-1","name":"Phone","priceMinor":129900,"stock":7,"version":3,"updatedAt":"2026-11-30T12:00:00.000000005Z",` +
		`"available":5,"availableAsOf":"2026-11-30T12:00:00.000000005Z","availableStale":true}`; raw != want {
		t.Errorf("view JSON %s, want %s", raw, want)
	}

	o := domain.Order{ID: "o-1", SagaID: "s-1", ProductID: "p-1", Qty: 2, AmountMinor: 259800, Status: domain.OrderConfirmed,
		Version: 4, CreatedAt: at, UpdatedAt: at.Add(time.Second)}
	backOrder, _ := roundTrip(t, orderOf(o))
	if backOrder.order() != o {
		t.Errorf("order: %+v, want %+v", backOrder.order(), o)
	}

	es := []domain.Event{
		{ID: domain.EventID("s-1", 1), SagaID: "s-1", Seq: 1, Type: domain.EventSagaStarted, At: at, ProductID: "p-1", Qty: 2},
		{ID: domain.EventID("s-1", 4), SagaID: "s-1", Seq: 4, Type: domain.EventPaymentProcessed, At: at, ProductID: "p-1",
			OrderID: "o-1", Qty: 2, AmountMinor: 259800, Reason: "r", TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
	}
	backEvents, raw := roundTrip(t, eventsOf(es))
	var got []domain.Event
	for _, e := range backEvents {
		got = append(got, e.event())
	}
	if !slices.Equal(got, es) {
		t.Errorf("events: %+v, want %+v", got, es)
	}
	if want := `[{"id":"s-1-001","sagaId":"s-1","seq":1,"type":"SagaStarted","at":"2026-11-30T12:00:00.000000005Z","productId":"p-1","qty":2},`; raw[:len(want)] != want {
		t.Errorf("events JSON %s, want it to begin %s", raw, want)
	}
	if eventsOf(nil) != nil || productsOf(nil) != nil {
		t.Error("no values became an empty list, not null as before")
	}
}
