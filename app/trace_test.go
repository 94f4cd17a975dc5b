package app_test

import (
	"context"
	"errors"
	"testing"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/flashsale/flashsale/adapters/payment"
	"github.com/flashsale/flashsale/adapters/tracing/tracingtest"
	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
)

// traced is a world's app whose spans an in-memory exporter keeps.
func traced(t *testing.T, w *world, hooks app.Hooks) (*app.App, *tracetest.InMemoryExporter, trace.Tracer) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	a := w.appWith(app.Config{}, hooks, func(d *app.Deps) { d.Tracer = tp })
	return a, exp, tp.Tracer("test")
}

// eventsCarry fails unless every event carries, as its traceparent, the
// context of one of the spans.
func eventsCarry(tree tracingtest.Tree, events []domain.Event) {
	tree.T.Helper()
	if len(events) == 0 {
		tree.T.Fatal("no events")
	}
	for _, e := range events {
		sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(),
			propagation.MapCarrier{"traceparent": e.TraceParent}))
		if !sc.IsValid() {
			tree.T.Errorf("event %s (%s): traceparent %q is not a trace context", e.ID, e.Type, e.TraceParent)
			continue
		}
		if !tree.HasSpan(sc.SpanID()) {
			tree.T.Errorf("event %s (%s): traceparent %q names no span of the trace %v", e.ID, e.Type, e.TraceParent, tree.Names())
		}
	}
}

// TestOnePurchaseIsOneTrace: a purchase made under a request's span is one
// trace: a "purchase" span under the request's, a span per saga step under
// it (a group's write under its step), and every event the saga writes
// carries the trace on, for the relay to hand to Kafka.
func TestOnePurchaseIsOneTrace(t *testing.T) {
	w := newWorld(t)
	a, exp, tracer := traced(t, w, app.Hooks{})
	w.supply(a, "p1", 10)
	exp.Reset()

	ctx, request := tracer.Start(context.Background(), "request")
	r, err := a.Buy(ctx, domain.PurchaseRequest{ProductID: "p1", Qty: 2}, "key-1")
	request.End()
	if err != nil {
		t.Fatalf("buy: %v", err)
	}
	tree := tracingtest.Tree{T: t, Spans: exp.GetSpans()}
	root := tree.One("request")
	purchase := tree.ChildOf("purchase", root)
	for _, step := range []string{"saga.reserve", "saga.create_order", "saga.charge", "saga.confirm", "saga.settle_gate"} {
		tree.ChildOf(step, purchase)
	}
	tree.ChildOf("saga.create_group", tree.One("saga.create_order"))
	tree.ChildOf("saga.confirm_group", tree.One("saga.confirm"))
	for _, sp := range tree.Spans {
		if sp.SpanContext.TraceID() != root.SpanContext.TraceID() {
			t.Errorf("span %q in trace %s, want the request's %s", sp.Name, sp.SpanContext.TraceID(), root.SpanContext.TraceID())
		}
		if sp.Status.Code == codes.Error {
			t.Errorf("span %q failed: %s", sp.Name, sp.Status.Description)
		}
	}
	attrs := map[string]string{}
	for _, kv := range purchase.Attributes {
		attrs[string(kv.Key)] = kv.Value.String()
	}
	if attrs["flashsale.outcome"] != "completed" || attrs["flashsale.saga_id"] != string(r.Saga.ID) || attrs["flashsale.order_id"] != string(r.Saga.Order.ID) {
		t.Errorf("purchase span attributes %v, want outcome completed, saga %s, order %s", attrs, r.Saga.ID, r.Saga.Order.ID)
	}
	events, err := a.SagaEvents(context.Background(), r.Saga.ID)
	if err != nil {
		t.Fatal(err)
	}
	eventsCarry(tree, events)
	if _, err := a.RelayEvents(context.Background()); err != nil {
		t.Fatal(err)
	}
	eventsCarry(tree, w.events.Timeline(r.Saga.ID))
}

// TestACompensationIsInItsPurchasesTrace: a declined charge fails its span,
// and the compensation's steps and events are in the purchase's trace.
func TestACompensationIsInItsPurchasesTrace(t *testing.T) {
	w := newWorld(t)
	a, exp, tracer := traced(t, w, app.Hooks{})
	w.supply(a, "p1", 10)
	w.outcome = payment.Decline
	exp.Reset()

	ctx, request := tracer.Start(context.Background(), "request")
	_, err := a.Buy(ctx, domain.PurchaseRequest{ProductID: "p1", Qty: 1}, "key-declined")
	request.End()
	var ce *app.CompensatedError
	if !errors.As(err, &ce) {
		t.Fatalf("buy: %v, want a compensation", err)
	}
	tree := tracingtest.Tree{T: t, Spans: exp.GetSpans()}
	purchase := tree.ChildOf("purchase", tree.One("request"))
	if purchase.Status.Code == codes.Error {
		t.Errorf("purchase span failed (%s): a compensated sale is an answer, not a failure", purchase.Status.Description)
	}
	if charge := tree.ChildOf("saga.charge", purchase); charge.Status.Code != codes.Error {
		t.Errorf("charge span status %v, want an error", charge.Status)
	}
	for _, step := range []string{"saga.begin_compensation", "saga.refund", "saga.cancel_order", "saga.release", "saga.finish_compensation"} {
		tree.ChildOf(step, purchase)
	}
	events, err := a.SagaEvents(context.Background(), ce.Saga.ID)
	if err != nil {
		t.Fatal(err)
	}
	eventsCarry(tree, events)
}

// TestARecoveryIsATraceOfItsOwn: a saga left by a dead process is
// compensated under a "saga.recover" span that starts a trace, and its
// compensation events carry that trace.
func TestARecoveryIsATraceOfItsOwn(t *testing.T) {
	w := newWorld(t)
	w.crash = func(_ domain.SagaID, at app.CrashPoint) bool { return at == app.CrashAfterCharge }
	a, exp, _ := traced(t, w, app.Hooks{Crash: func(id domain.SagaID, at app.CrashPoint) bool { return w.crash != nil && w.crash(id, at) }})
	w.supply(a, "p1", 10)
	_, err := a.Buy(context.Background(), domain.PurchaseRequest{ProductID: "p1", Qty: 1}, "key-crashed")
	if !errors.Is(err, app.ErrCrashed) {
		t.Fatalf("buy: %v, want the simulated crash", err)
	}
	w.crash = nil
	exp.Reset()
	w.settle(a)

	tree := tracingtest.Tree{T: t, Spans: exp.GetSpans()}
	recover := tree.One("saga.recover")
	if recover.Parent.IsValid() {
		t.Errorf("saga.recover has parent %s, want a root", recover.Parent.SpanID())
	}
	for _, step := range []string{"saga.begin_compensation", "saga.refund", "saga.cancel_order", "saga.release", "saga.finish_compensation"} {
		tree.ChildOf(step, recover)
	}
	events, err := a.SagaEvents(context.Background(), app.SagaIDForKey("key-crashed"))
	if err != nil {
		t.Fatal(err)
	}
	var compensation []domain.Event
	for _, e := range events {
		if e.Type.IsCompensation() {
			compensation = append(compensation, e)
		}
	}
	eventsCarry(tree, compensation)
}

// TestAnUntracedPurchaseCarriesNoTrace: without a sampled span (tracing
// off, or a request the sampler left out) events carry no trace context.
func TestAnUntracedPurchaseCarriesNoTrace(t *testing.T) {
	w := newWorld(t)
	a, exp, _ := traced(t, w, app.Hooks{})
	w.supply(a, "p1", 10)
	exp.Reset()
	// A caller's context that was not sampled: its spans are not recorded.
	unsampled := trace.ContextWithRemoteSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2},
	}))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())))
	b := w.appWith(app.Config{InstanceID: "b"}, app.Hooks{}, func(d *app.Deps) { d.Tracer = tp })
	for i, buyer := range []*app.App{w.app(app.StrategyNone, "untraced"), b} {
		r, err := buyer.Buy(unsampled, domain.PurchaseRequest{ProductID: "p1", Qty: 1}, "key-plain-"+string(rune('a'+i)))
		if err != nil {
			t.Fatalf("buy: %v", err)
		}
		events, err := a.SagaEvents(context.Background(), r.Saga.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			if e.TraceParent != "" {
				t.Errorf("buyer %d: event %s carries %q, want none", i, e.ID, e.TraceParent)
			}
		}
	}
	if n := len(exp.GetSpans()); n != 0 {
		t.Errorf("%d spans recorded for unsampled purchases, want 0", n)
	}
}
