package domain

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// EventType names a saga event.
type EventType string

// The seed's events and their compensation twins.
const (
	EventSagaStarted       EventType = "SagaStarted"
	EventInventoryReserved EventType = "InventoryReserved"
	EventOrderCreated      EventType = "OrderCreated"
	EventPaymentProcessed  EventType = "PaymentProcessed"
	EventOrderConfirmed    EventType = "OrderConfirmed"

	EventPaymentRefunded   EventType = "PaymentRefunded"
	EventOrderCancelled    EventType = "OrderCancelled"
	EventInventoryReleased EventType = "InventoryReleased"
	EventSagaCompensated   EventType = "SagaCompensated"
)

// EventSchemaVersion is the version of the event envelope and payloads.
const EventSchemaVersion = 1

// Event is one fact in a saga's timeline. Seq numbers a saga's events from
// 1 without gaps; ID is derived from (SagaID, Seq), so a redelivered or
// re-published event always carries the same ID and consumers can drop
// duplicates by ID alone.
type Event struct {
	ID        string
	SagaID    SagaID
	Seq       int
	Type      EventType
	At        time.Time
	ProductID ProductID
	OrderID   OrderID
	Qty       int64
	// AmountMinor is set on payment events.
	AmountMinor int64
	// Reason is set on compensation events: why the saga compensated.
	Reason string
	// TraceParent is the W3C trace context (a traceparent header's value)
	// of the traced request or recovery that caused the event, empty when
	// it was not traced. It is opaque to the domain: the outbox keeps it
	// and the relay hands it on with the event (a Kafka header), so a
	// trace follows the sale past its commit.
	TraceParent string
}

// EventID returns the ID of the seq-th event of saga id.
// (It is fmt's "%s-%03d", written out: the outbox computes it on every
// mark.)
func EventID(id SagaID, seq int) string {
	if seq < 0 {
		return fmt.Sprintf("%s-%03d", id, seq)
	}
	n := strconv.Itoa(seq)
	if len(n) < 3 {
		n = "00"[:3-len(n)] + n
	}
	return string(id) + "-" + n
}

// ParseEventID is EventID backwards: the saga and seq of an event ID, and
// false for a string EventID never returns.
func ParseEventID(id string) (SagaID, int, bool) {
	i := strings.LastIndexByte(id, '-')
	if i <= 0 {
		return "", 0, false
	}
	digits := id[i+1:]
	for j := range len(digits) {
		if digits[j] < '0' || digits[j] > '9' {
			return "", 0, false
		}
	}
	seq, err := strconv.Atoi(digits)
	saga := SagaID(id[:i])
	// EventID pads to three digits and no further: anything else is not
	// its output.
	if err != nil || seq < 1 || len(digits) != max(3, decimalDigits(seq)) || saga.Validate() != nil {
		return "", 0, false
	}
	return saga, seq, true
}

// decimalDigits is the number of digits of n >= 0 in base 10.
func decimalDigits(n int) int {
	d := 1
	for ; n >= 10; n /= 10 {
		d++
	}
	return d
}

// IsCompensation reports whether t is one of the compensation events.
func (t EventType) IsCompensation() bool {
	switch t {
	case EventPaymentRefunded, EventOrderCancelled, EventInventoryReleased, EventSagaCompensated:
		return true
	}
	return false
}
