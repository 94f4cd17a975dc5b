package kafka_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/flashsale/flashsale/adapters/kafka"
)

// TestRecordsCarryTheEventsTrace: an event's trace context goes into its
// record's traceparent header: as it is without a tracer; with one, as the
// context of a producer span that continues the event's trace. An event
// without one gets no header.
func TestRecordsCarryTheEventsTrace(t *testing.T) {
	brokers, n := requireBroker(t)
	const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	for _, withTracer := range []bool{false, true} {
		topic := newTopic(t, brokers, n)
		sub := collect(t, brokers, topic)
		opts := kafka.Options{Brokers: brokers, Topic: topic}
		exp := tracetest.NewInMemoryExporter()
		if withTracer {
			tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
			t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			opts.Tracer = tp
		}
		p, err := kafka.NewPublisher(opts)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close() })
		es := sagaEvents("s-trace", false)
		for i := range es[:2] {
			es[i].TraceParent = parent
		}
		if err := p.Publish(t.Context(), es...); err != nil {
			t.Fatal(err)
		}
		spans := exp.GetSpans()
		for i, m := range sub.wait(t, len(es)) {
			var got string
			for _, h := range m.Headers {
				if h.Key == kafka.HeaderTraceParent {
					got = string(h.Value)
				}
			}
			switch {
			case i >= 2:
				if got != "" {
					t.Errorf("tracer %t: record %d of an untraced event has traceparent %q", withTracer, i, got)
				}
			case !withTracer:
				if got != parent {
					t.Errorf("record %d traceparent %q, want the event's %q", i, got, parent)
				}
			default:
				sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier{"traceparent": got}))
				if len(spans) != 2 {
					t.Fatalf("%d producer spans, want 2 (one per traced event)", len(spans))
				}
				span := spans[i]
				if span.SpanKind != trace.SpanKindProducer || span.Parent.TraceID().String() != "0af7651916cd43dd8448eb211c80319c" ||
					span.Parent.SpanID().String() != "b7ad6b7169203331" {
					t.Errorf("span %d: kind %v, parent %s/%s, want a producer span under the event's context", i, span.SpanKind, span.Parent.TraceID(), span.Parent.SpanID())
				}
				if sc.TraceID() != span.SpanContext.TraceID() || sc.SpanID() != span.SpanContext.SpanID() {
					t.Errorf("record %d traceparent %q, want the producer span's %s/%s", i, got, span.SpanContext.TraceID(), span.SpanContext.SpanID())
				}
			}
		}
	}
}
