package app_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
)

// BenchmarkPurchase is one whole saga (gate, reserve, create order,
// charge, confirm, settle) on the memory adapters, one purchase at a time,
// per strategy: the use case's own cost, with no network and no disk.
// (The adapters' hot paths have theirs: BenchmarkReserve in
// adapters/redis, BenchmarkCreateSaga and BenchmarkCompleteSaga in
// adapters/mysql.)
func BenchmarkPurchase(b *testing.B) {
	for _, s := range app.Strategies() {
		b.Run(string(s), func(b *testing.B) {
			w := newWorld(b)
			benchPurchases(b, w, w.app(s, "bench"))
		})
	}
}

// benchPurchases buys one unit of a product with ample stock, one purchase
// at a time, b.N times.
func benchPurchases(b *testing.B, w *world, a *app.App) {
	w.supply(a, "p-bench", domain.MaxSupplyPerCall)
	ctx := context.Background()
	req := domain.PurchaseRequest{ProductID: "p-bench", Qty: 1}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Purchase(ctx, req, ""); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPurchaseParallel is the same from GOMAXPROCS goroutines on one
// hot product. Under the lock strategy most purchases end at once with
// lock_busy (the seed's behaviour: a buyer is told to retry); busy/op and
// contention/op report how many.
func BenchmarkPurchaseParallel(b *testing.B) {
	for _, s := range app.Strategies() {
		b.Run(string(s), func(b *testing.B) {
			w := newWorld(b)
			a := w.app(s, "bench")
			w.supply(a, "p-bench", domain.MaxSupplyPerCall)
			req := domain.PurchaseRequest{ProductID: "p-bench", Qty: 1}
			var busy, contention, n atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					n.Add(1)
					_, err := a.Purchase(ctx, req, "")
					switch {
					case err == nil:
					case errors.Is(err, domain.ErrLockBusy):
						busy.Add(1)
					case errors.Is(err, domain.ErrContention), errors.Is(err, domain.ErrConflict):
						contention.Add(1)
					default:
						b.Error(err)
						return
					}
				}
			})
			total := float64(max(n.Load(), 1))
			b.ReportMetric(float64(busy.Load())/total, "busy/op")
			b.ReportMetric(float64(contention.Load())/total, "contention/op")
		})
	}
}

// BenchmarkPurchaseTraced is BenchmarkPurchase (strategy none) with the
// OpenTelemetry SDK behind the app, as `tracing.exporter` sets it up: off
// (the API's no-op provider), on with the request left out by the sampler
// (what the stack's untraced load pays), and on with every purchase traced
// into an exporter that drops the spans (the spans' own cost).
func BenchmarkPurchaseTraced(b *testing.B) {
	for _, c := range []struct {
		name string
		tp   trace.TracerProvider
	}{
		{"off", nil},
		{"unsampled", sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())))},
		{"sampled", sdktrace.NewTracerProvider(sdktrace.WithBatcher(discard{}))},
	} {
		b.Run(c.name, func(b *testing.B) {
			w := newWorld(b)
			benchPurchases(b, w, w.appWith(app.Config{}, app.Hooks{}, func(d *app.Deps) { d.Tracer = c.tp }))
		})
	}
}

// discard is a span exporter that drops what it is given.
type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }
