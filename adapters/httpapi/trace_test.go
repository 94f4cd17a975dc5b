package httpapi_test

import (
	"context"
	"net/http"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/flashsale/flashsale/adapters/httpapi"
	"github.com/flashsale/flashsale/adapters/tracing/tracingtest"
)

// TestATracedRequestContinuesTheCallersTrace: a request with a sampled W3C
// traceparent gets a server span in the caller's trace, named by its route,
// with the purchase and its saga steps under it, and its answer names the
// trace; a request without one, with the sampler at 0, records nothing.
// Health checks are never traced.
func TestATracedRequestContinuesTheCallersTrace(t *testing.T) {
	const (
		traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		caller  = "00f067aa0ba902b7"
	)
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0))))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	// As cmd/flashsale sets it with sample_ratio 0: only requests that ask.
	f := newFixture(t, fixtureOpts{tracer: tp, http: &httpapi.Options{AdminToken: adminToken, TraceOnlyAsked: true}})

	rec := f.serve(request{method: http.MethodPost, path: "/purchase", body: `{"productId":"p1","qty":1}`, header: map[string]string{
		"Content-Type": "application/json", "Idempotency-Key": "traced-1", "traceparent": "00-" + traceID + "-" + caller + "-01",
	}})
	if rec.Code != http.StatusCreated {
		t.Fatalf("purchase: %d %s", rec.Code, rec.Body)
	}
	if got := rec.Header().Get("X-Trace-ID"); got != traceID {
		t.Errorf("X-Trace-ID %q, want %s", got, traceID)
	}
	spans := tracingtest.Tree{T: t, Spans: exp.GetSpans()}
	server := spans.One("POST /purchase")
	if server.SpanContext.TraceID().String() != traceID || server.Parent.SpanID().String() != caller || !server.Parent.IsRemote() {
		t.Errorf("server span in trace %s under %s (remote %t), want trace %s under the caller's %s",
			server.SpanContext.TraceID(), server.Parent.SpanID(), server.Parent.IsRemote(), traceID, caller)
	}
	purchase := spans.ChildOf("purchase", server)
	for _, step := range []string{"saga.reserve", "saga.create_order", "saga.charge", "saga.confirm", "saga.settle_gate"} {
		spans.ChildOf(step, purchase)
	}

	exp.Reset()
	for _, path := range []string{"/healthz", "/products/p1"} {
		if rec := f.get(path); rec.Code != http.StatusOK {
			t.Fatalf("GET %s: %d", path, rec.Code)
		}
	}
	if rec := f.purchase(`{"productId":"p1","qty":1}`, "untraced-1"); rec.Code != http.StatusCreated || rec.Header().Get("X-Trace-ID") != "" {
		t.Fatalf("untraced purchase: %d, X-Trace-ID %q", rec.Code, rec.Header().Get("X-Trace-ID"))
	}
	if got := exp.GetSpans(); len(got) != 0 {
		t.Errorf("%d spans recorded for requests that did not ask to be traced, want 0: %v", len(got), tracingtest.Tree{T: t, Spans: got}.Names())
	}
}
