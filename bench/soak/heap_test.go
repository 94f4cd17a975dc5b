package main

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/system"
	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
)

// BenchmarkHeapPerPurchase measures the live heap one finished purchase
// leaves behind in `flashsale serve`'s memory adapters, wired as
// cmd/flashsale wires them: the saga record with its order, events and
// order index in memory.Store, the reservation record in memory.Inventory,
// and what the app keeps. It drives app.Buy (a quarter of them with an
// Idempotency-Key), publishes the outbox as the relay does, and reports the
// growth of the live heap after a GC per purchase as B/saga. The retention
// is long enough that nothing is forgotten during the run.
//
// Run it once, not timed: go test ./bench/soak -run x -bench HeapPerPurchase -benchtime 1x
func BenchmarkHeapPerPurchase(b *testing.B) {
	const purchases, workers = 100_000, 8
	for b.Loop() {
		a, _, store := memoryApp(b, system.Clock{}, time.Hour, 2*purchases, "soak", purchases)
		ctx := context.Background()
		// Warm up every lazily built structure before the baseline.
		buyAll(b, a, 0, 100, workers)
		before := liveHeap()
		buyAll(b, a, 100, purchases, workers)
		if err := a.Drain(ctx); err != nil {
			b.Fatal(err)
		}
		after := liveHeap()
		if n := len(store.Sagas()); n != purchases {
			b.Fatalf("store holds %d sagas, want %d", n, purchases)
		}
		b.ReportMetric(float64(after-before)/float64(purchases-100), "B/saga")
		runtime.KeepAlive(a)
	}
}

// buyAll buys one unit for each i in [from, to) from workers goroutines.
func buyAll(b *testing.B, a *app.App, from, to, workers int) {
	var next atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= to {
					return
				}
				key := ""
				if i%4 == 0 {
					key = "heap-" + strconv.Itoa(i)
				}
				if _, err := a.Buy(context.Background(), domain.PurchaseRequest{ProductID: "soak", Qty: 1}, key); err != nil {
					panic(fmt.Sprintf("purchase %d: %v", i, err))
				}
			}
		})
	}
	wg.Wait()
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
