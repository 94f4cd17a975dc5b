package app

import (
	"context"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/flashsale/flashsale/domain"
)

// TracerName is the instrumentation scope of the app's spans: one per
// purchase ("purchase"), per saga step and compensation ("saga.<step>",
// the names of Metrics.StepDone) and per recovered saga ("saga.recover").
const TracerName = "github.com/flashsale/flashsale/app"

// noSpan is the span of what is not traced: a no-op, boxed once (a
// noop.Span converted to trace.Span at each call would allocate).
var noSpan trace.Span = noop.Span{}

// span starts a span when the app traces (Deps.Tracer) and ctx is not
// inside a trace the sampler left out; else it returns ctx and a no-op
// span, at no cost. (With no trace in ctx, the tracer's sampler decides.)
func (a *App) span(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if !a.traces(ctx) {
		return ctx, noSpan
	}
	return a.tracer.Start(ctx, name, opts...)
}

// traces reports whether a span started in ctx could be recorded.
func (a *App) traces(ctx context.Context) bool {
	if a.tracer == nil {
		return false
	}
	sc := trace.SpanContextFromContext(ctx)
	return !sc.IsValid() || sc.IsSampled()
}

// endSpan ends span, marking it failed with err.
func endSpan(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// traceParent is ctx's span as a W3C traceparent value, or "" when ctx
// carries no sampled span: only a trace that is recorded is worth
// carrying into the outbox.
func traceParent(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() || !sc.IsSampled() {
		return ""
	}
	carrier := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, carrier)
	return carrier.Get("traceparent")
}

// stampTrace gives the events a write adds the trace context of the span
// that writes them (traceParent), so the relay can hand it on.
func stampTrace(ctx context.Context, events []domain.Event) {
	tp := traceParent(ctx)
	if tp == "" {
		return
	}
	for i := range events {
		events[i].TraceParent = tp
	}
}

// update is SagaStore.Update whose written events carry ctx's trace
// context (stampTrace).
func (a *App) update(ctx context.Context, id domain.SagaID, fn func(*domain.Saga) error) (*domain.Saga, error) {
	return a.d.Sagas.Update(ctx, id, func(s *domain.Saga) error {
		n := len(s.Events)
		if err := fn(s); err != nil {
			return err
		}
		stampTrace(ctx, s.Events[n:])
		return nil
	})
}
