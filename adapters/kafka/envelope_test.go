package kafka_test

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/kafka"
	"github.com/flashsale/flashsale/domain"
)

// The example of docs/events.md, byte for byte: the wire format changes
// only on purpose.
func TestEnvelopeIsTheDocumentedOne(t *testing.T) {
	e := domain.Event{
		ID: "k-3f2a-004", SagaID: "k-3f2a", Seq: 4, Type: domain.EventPaymentProcessed,
		At: time.Date(2030, 1, 1, 12, 0, 0, 250000000, time.FixedZone("CET", 3600)), ProductID: "p-1", OrderID: "o-9", Qty: 2, AmountMinor: 1998,
	}
	got, err := kafka.Encode(e)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"id":"k-3f2a-004","sagaId":"k-3f2a","seq":4,"type":"PaymentProcessed","time":"2030-01-01T11:00:00.25Z",` +
		`"schemaVersion":1,"payload":{"productId":"p-1","orderId":"o-9","qty":2,"amountMinor":1998}}`
	if string(got) != want {
		t.Fatalf("envelope\n got %s\nwant %s", got, want)
	}
	doc, err := os.ReadFile("../../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "\n"+want+"\n") {
		t.Fatalf("docs/events.md does not show the envelope as published:\n%s", want)
	}
}

func TestDecodeGivesBackWhatWasEncoded(t *testing.T) {
	for _, compensated := range []bool{false, true} {
		for _, e := range sagaEvents("k-0123456789abcdef", compensated) {
			b, err := kafka.Encode(e)
			if err != nil {
				t.Fatal(err)
			}
			got, err := kafka.Decode(b)
			if err != nil {
				t.Fatalf("decode %s: %v", b, err)
			}
			if !equalEvent(got, e) {
				t.Fatalf("decoded %+v, encoded %+v", got, e)
			}
		}
	}
}

func TestDecodeRefusesWhatConsumersCannotTrust(t *testing.T) {
	for name, value := range map[string]string{
		"not JSON":          `SagaStarted s-1`,
		"not an object":     `[1,2]`,
		"schema version 2":  `{"id":"s-1-001","sagaId":"s-1","seq":1,"type":"SagaStarted","time":"2030-01-01T00:00:00Z","schemaVersion":2,"payload":{}}`,
		"no schema version": `{"id":"s-1-001","sagaId":"s-1","seq":1,"type":"SagaStarted","time":"2030-01-01T00:00:00Z","payload":{}}`,
		"no saga":           `{"id":"-001","seq":1,"type":"SagaStarted","time":"2030-01-01T00:00:00Z","schemaVersion":1,"payload":{}}`,
		"seq 0":             `{"id":"s-1-000","sagaId":"s-1","seq":0,"type":"SagaStarted","time":"2030-01-01T00:00:00Z","schemaVersion":1,"payload":{}}`,
		"ID not derived":    `{"id":"x","sagaId":"s-1","seq":1,"type":"SagaStarted","time":"2030-01-01T00:00:00Z","schemaVersion":1,"payload":{}}`,
		"no type":           `{"id":"s-1-001","sagaId":"s-1","seq":1,"time":"2030-01-01T00:00:00Z","schemaVersion":1,"payload":{}}`,
		"bad time":          `{"id":"s-1-001","sagaId":"s-1","seq":1,"type":"SagaStarted","time":"yesterday","schemaVersion":1,"payload":{}}`,
		"qty as string":     `{"id":"s-1-001","sagaId":"s-1","seq":1,"type":"SagaStarted","time":"2030-01-01T00:00:00Z","schemaVersion":1,"payload":{"qty":"2"}}`,
	} {
		if e, err := kafka.Decode([]byte(value)); !errors.Is(err, kafka.ErrMalformedEvent) {
			t.Errorf("%s: got %+v, %v; want an error wrapping ErrMalformedEvent", name, e, err)
		}
	}
}

// Additions keep the schema version: a consumer ignores fields and event
// types it does not know.
func TestDecodeToleratesAdditions(t *testing.T) {
	e, err := kafka.Decode([]byte(`{"id":"s-1-001","sagaId":"s-1","seq":1,"type":"GiftWrapped","time":"2030-01-01T00:00:00Z",` +
		`"schemaVersion":1,"traceId":"abc","payload":{"productId":"p-1","qty":1,"colour":"red"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if e.Type != "GiftWrapped" || e.ProductID != "p-1" || e.Qty != 1 {
		t.Fatalf("decoded %+v", e)
	}
}

func FuzzDecode(f *testing.F) {
	for _, e := range sagaEvents("s-1", true) {
		b, err := kafka.Encode(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"schemaVersion":1}`))
	f.Fuzz(func(t *testing.T, value []byte) {
		e, err := kafka.Decode(value)
		if err != nil {
			if !errors.Is(err, kafka.ErrMalformedEvent) {
				t.Fatalf("error %v does not wrap ErrMalformedEvent", err)
			}
			return
		}
		// Whatever decodes re-encodes to an equal event.
		b, err := kafka.Encode(e)
		if err != nil {
			t.Fatalf("decoded %+v but cannot encode it: %v", e, err)
		}
		again, err := kafka.Decode(b)
		if err != nil || !equalEvent(again, e) {
			t.Fatalf("re-decoded %+v (%v), want %+v", again, err, e)
		}
		if strings.ContainsAny(string(b), "\n\t") {
			t.Fatalf("envelope %q has a newline or tab: kcat's line format would split it", b)
		}
	})
}
