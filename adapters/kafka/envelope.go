package kafka

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/flashsale/flashsale/domain"
)

// The record headers every event carries, so tools that do not parse JSON
// (kcat -f '%h') can still tell events apart. The value is the source of
// truth; headers repeat it.
const (
	HeaderEventID       = "event-id"
	HeaderEventType     = "event-type"
	HeaderSchemaVersion = "schema-version"
	// HeaderTraceParent carries the W3C trace context of the traced
	// request or recovery that caused the event (domain.Event.TraceParent;
	// with tracing on, of the relay's span publishing it). Absent when
	// that was not traced.
	HeaderTraceParent = "traceparent"
)

// envelope is the JSON value of every record on the events topic, as
// docs/events.md documents it. It is a type of its own, not domain.Event
// with tags, so the wire format changes only on purpose.
type envelope struct {
	ID            string    `json:"id"`
	SagaID        string    `json:"sagaId"`
	Seq           int       `json:"seq"`
	Type          string    `json:"type"`
	Time          time.Time `json:"time"`
	SchemaVersion int       `json:"schemaVersion"`
	Payload       payload   `json:"payload"`
}

type payload struct {
	ProductID   string `json:"productId"`
	OrderID     string `json:"orderId,omitempty"`
	Qty         int64  `json:"qty"`
	AmountMinor int64  `json:"amountMinor,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

// checkEvent refuses an event that would break the topic's guarantees:
// without a saga ID it has no key (and no partition of its own), and an ID
// not derived from (saga, seq) would defeat consumers' duplicate dropping.
func checkEvent(e domain.Event) error {
	switch {
	case e.SagaID == "":
		return domain.Invalid("sagaId", "is empty (event %q)", e.ID)
	case e.Seq < 1:
		return domain.Invalid("seq", "is %d, want 1 or more (event %q)", e.Seq, e.ID)
	case e.ID != domain.EventID(e.SagaID, e.Seq):
		return domain.Invalid("id", "is %q, want %q for saga %s seq %d", e.ID, domain.EventID(e.SagaID, e.Seq), e.SagaID, e.Seq)
	case e.Type == "":
		return domain.Invalid("type", "is empty (event %q)", e.ID)
	}
	return nil
}

// encode returns e's envelope. Times are written in UTC with nanoseconds,
// so Decode gives back an equal time.
func encode(e domain.Event) ([]byte, error) {
	if err := checkEvent(e); err != nil {
		return nil, err
	}
	return json.Marshal(envelope{
		ID: e.ID, SagaID: string(e.SagaID), Seq: e.Seq, Type: string(e.Type),
		Time: e.At.UTC(), SchemaVersion: domain.EventSchemaVersion,
		Payload: payload{
			ProductID: string(e.ProductID), OrderID: string(e.OrderID), Qty: e.Qty,
			AmountMinor: e.AmountMinor, Reason: e.Reason,
		},
	})
}

// message is e as a Kafka record: keyed by saga ID, so a saga's events
// share one partition and keep their order.
func message(e domain.Event, now time.Time) (kafkago.Message, error) {
	value, err := encode(e)
	if err != nil {
		return kafkago.Message{}, err
	}
	headers := []kafkago.Header{
		{Key: HeaderEventID, Value: []byte(e.ID)},
		{Key: HeaderEventType, Value: []byte(e.Type)},
		{Key: HeaderSchemaVersion, Value: []byte(strconv.Itoa(domain.EventSchemaVersion))},
	}
	if e.TraceParent != "" {
		headers = append(headers, kafkago.Header{Key: HeaderTraceParent, Value: []byte(e.TraceParent)})
	}
	return kafkago.Message{
		Key:     []byte(e.SagaID),
		Value:   value,
		Headers: headers,
		// The record timestamp is the produce time, not the event time: a
		// broker may refuse timestamps far from its clock
		// (log.message.timestamp.after.max.ms is an hour in Kafka 4), and
		// retention counts from it. The event time is in the value.
		Time: now,
	}, nil
}

// ErrMalformedEvent is wrapped by Decode's errors: the record is not an
// event envelope this version understands.
var ErrMalformedEvent = errors.New("malformed event")

// Decode parses a record value of the events topic (the JSON envelope of
// docs/events.md) into an event. It accepts schema version 1 and ignores
// fields it does not know (additions do not bump the version). It checks
// what consumers rely on: a saga ID, a seq from 1, a type, and an ID
// derived from (saga, seq), so that dropping duplicates by ID is sound.
// Every error wraps ErrMalformedEvent. Event types it does not know are
// returned as they are: consumers skip what they do not understand.
func Decode(value []byte) (domain.Event, error) {
	var env envelope
	if err := json.Unmarshal(value, &env); err != nil {
		return domain.Event{}, fmt.Errorf("%w: %w", ErrMalformedEvent, err)
	}
	if env.SchemaVersion != domain.EventSchemaVersion {
		return domain.Event{}, fmt.Errorf("%w: schema version %d, want %d", ErrMalformedEvent, env.SchemaVersion, domain.EventSchemaVersion)
	}
	e := domain.Event{
		ID: env.ID, SagaID: domain.SagaID(env.SagaID), Seq: env.Seq, Type: domain.EventType(env.Type),
		At: env.Time, ProductID: domain.ProductID(env.Payload.ProductID), OrderID: domain.OrderID(env.Payload.OrderID),
		Qty: env.Payload.Qty, AmountMinor: env.Payload.AmountMinor, Reason: env.Payload.Reason,
	}
	if err := checkEvent(e); err != nil {
		return domain.Event{}, fmt.Errorf("%w: %w", ErrMalformedEvent, err)
	}
	return e, nil
}
