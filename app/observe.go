package app

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// timed is step for a saga step or compensation: it also records the
// call's latency and failure.
// The call runs in a span of its own, "saga.<name>".
func (a *App) timed(ctx context.Context, name string, call func(context.Context) error) error {
	if !a.traces(ctx) {
		return a.measured(ctx, name, call)
	}
	ctx, span := a.tracer.Start(ctx, "saga."+name)
	err := a.measured(ctx, name, call)
	endSpan(span, err)
	return err
}

// measured is timed without a span of its own.
// A dependency that does not answer is named in the error
// (ports.UnavailableError), so the caller can be told which one.
func (a *App) measured(ctx context.Context, name string, call func(context.Context) error) error {
	start := a.now()
	err := a.step(ctx, call)
	if err != nil {
		err = unavailableFrom(a.dependencies[name], err)
	}
	a.metrics.StepDone(name, a.now().Sub(start), err)
	return err
}

// unavailableFrom names dep as the dependency err is unavailable from,
// when err matches domain.ErrUnavailable and names none yet.
func unavailableFrom(dep ports.Dependency, err error) error {
	if dep == "" || err == nil || !errors.Is(err, domain.ErrUnavailable) {
		return err
	}
	if _, named := ports.UnavailableDependency(err); named {
		return err
	}
	return &ports.UnavailableError{Dependency: dep, Err: err}
}

type logAttrsKey struct{}

// withLogAttrs is WithLogAttrs, skipped when a's logger writes nothing at
// all (not even errors): then no line would carry them.
func (a *App) withLogAttrs(ctx context.Context, attrs ...slog.Attr) context.Context {
	if !a.log.Enabled(ctx, slog.LevelError) {
		return ctx
	}
	return WithLogAttrs(ctx, attrs...)
}

// WithLogAttrs returns ctx carrying attrs, which every log line made with
// that context (through a ContextHandler) includes: the HTTP edge adds the
// request ID, the saga adds its saga and order IDs.
func WithLogAttrs(ctx context.Context, attrs ...slog.Attr) context.Context {
	prev, _ := ctx.Value(logAttrsKey{}).([]slog.Attr)
	all := make([]slog.Attr, 0, len(prev)+len(attrs))
	return context.WithValue(ctx, logAttrsKey{}, append(append(all, prev...), attrs...))
}

// ContextHandler wraps h so that records carry their context's attrs
// (WithLogAttrs).
func ContextHandler(h slog.Handler) slog.Handler { return ctxHandler{h} }

type ctxHandler struct{ slog.Handler }

func (h ctxHandler) Handle(ctx context.Context, r slog.Record) error {
	if attrs, ok := ctx.Value(logAttrsKey{}).([]slog.Attr); ok {
		r.AddAttrs(attrs...)
	}
	return h.Handler.Handle(ctx, r)
}

func (h ctxHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return ctxHandler{h.Handler.WithAttrs(attrs)}
}

func (h ctxHandler) WithGroup(name string) slog.Handler { return ctxHandler{h.Handler.WithGroup(name)} }

// noMetrics is the Metrics of an App wired without one.
type noMetrics struct{}

func (noMetrics) PurchaseEnded(string, string, time.Duration) {}
func (noMetrics) StepDone(string, time.Duration, error)       {}
func (noMetrics) Add(ports.Counter, int)                      {}
func (noMetrics) OutboxLag(time.Duration)                     {}

func (noMetrics) Compensated(domain.SagaID, domain.ProductID, string) {}
