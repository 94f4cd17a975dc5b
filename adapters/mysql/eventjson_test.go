package mysql

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flashsale/flashsale/domain"
)

// TestEventsRoundTripThroughTheirRow: a write's events, encoded as the
// events column keeps them and decoded again, are the events (times in
// UTC, to the nanosecond), under the field names rows already written use.
func TestEventsRoundTripThroughTheirRow(t *testing.T) {
	at := time.Date(2026, 11, 30, 12, 0, 0, 123456789, time.FixedZone("X", 3600))
	events := []domain.Event{
		{ID: domain.EventID("s-1", 4), SagaID: "s-1", Seq: 4, Type: domain.EventPaymentProcessed, At: at,
			ProductID: "p-1", OrderID: "o-1", Qty: 2, AmountMinor: 300, TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
		{ID: domain.EventID("s-1", 5), SagaID: "s-1", Seq: 5, Type: domain.EventSagaCompensated, At: at,
			ProductID: "p-1", Qty: 2, Reason: "payment_declined"},
	}
	rows, err := toWriteRows("s-1", events)
	if err != nil || len(rows) != 1 {
		t.Fatalf("toWriteRows: %v, %d rows", err, len(rows))
	}
	const first = `{"id":"s-1-004","sagaId":"s-1","seq":4,"type":"PaymentProcessed","at":"2026-11-30T11:00:00.123456789Z",` +
		`"productId":"p-1","orderId":"o-1","qty":2,"amountMinor":300,"traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}`
	if got := string(rows[0].Events); !strings.HasPrefix(got, "["+first) {
		t.Fatalf("events column %s, want it to begin with [%s", got, first)
	}
	got, err := decodeEvents(rows[0].Events)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]domain.Event, len(events))
	for i, e := range events {
		e.At = e.At.UTC()
		want[i] = e
	}
	if !slices.Equal(got, want) {
		t.Fatalf("decoded %+v, want %+v", got, want)
	}
}
