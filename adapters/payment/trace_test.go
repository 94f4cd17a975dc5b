package payment_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/flashsale/flashsale/adapters/payment"
)

// TestTheGatewaysSpanContinuesTheCallersTrace: with tracers on both sides
// (as the app and paysim run), a charge is a client span under the
// caller's, and the gateway's server span continues it across the wire.
// The health check is not traced.
func TestTheGatewaysSpanContinuesTheCallersTrace(t *testing.T) {
	appSpans, gatewaySpans := tracetest.NewInMemoryExporter(), tracetest.NewInMemoryExporter()
	appTP := sdktrace.NewTracerProvider(sdktrace.WithSyncer(appSpans))
	gatewayTP := sdktrace.NewTracerProvider(sdktrace.WithSyncer(gatewaySpans))
	srv := httptest.NewServer(payment.Handler(newGateway(t, payment.Options{}), payment.WithTracer(gatewayTP)))
	t.Cleanup(srv.Close)
	client, err := payment.NewHTTPGateway(srv.URL, time.Second, payment.WithTracer(appTP))
	if err != nil {
		t.Fatal(err)
	}
	ctx, step := appTP.Tracer("test").Start(context.Background(), "saga.charge")
	if err := client.Charge(ctx, "s-traced", 500); err != nil {
		t.Fatal(err)
	}
	step.End()
	if err := client.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}

	var call, served *tracetest.SpanStub
	for _, s := range appSpans.GetSpans() {
		if s.Name == "payment POST /charges" {
			call = &s
		}
	}
	if call == nil {
		t.Fatalf("no client span of the charge among %v", appSpans.GetSpans())
	}
	if call.Parent.SpanID() != step.SpanContext().SpanID() {
		t.Errorf("client span's parent %s, want the step's %s", call.Parent.SpanID(), step.SpanContext().SpanID())
	}
	got := gatewaySpans.GetSpans()
	if len(got) != 1 {
		t.Fatalf("gateway spans %v, want the charge's alone", got)
	}
	served = &got[0]
	if served.Name != "paysim POST /charges" || served.SpanContext.TraceID() != step.SpanContext().TraceID() ||
		served.Parent.SpanID() != call.SpanContext.SpanID() {
		t.Errorf("gateway span %q in trace %s under %s, want paysim POST /charges in trace %s under the client span %s",
			served.Name, served.SpanContext.TraceID(), served.Parent.SpanID(), step.SpanContext().TraceID(), call.SpanContext.SpanID())
	}
}
