package mysql_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/flashsale/flashsale/domain"
)

// The two commits of a purchase, measured against the test stack (durable
// commits: flush at commit, sync_binlog=1, semi-sync acknowledgement).
// "parallel" runs 8 writers per CPU, all buying the same product, the flash
// sale's shape: confirmations then queue on that product's row lock.

func BenchmarkCreateSaga(b *testing.B) {
	for _, par := range []int{0, 8} {
		b.Run(mode(par), func(b *testing.B) {
			e := requireEnv(b)
			db := e.fresh(b, nil)
			supply(b, db, 1)
			var next atomic.Int64
			create := func() {
				id := fmt.Sprintf("b-%08d", next.Add(1))
				if err := db.Create(context.Background(), startSaga(b, id, 1)); err != nil {
					b.Error(err) // not Fatal: RunParallel's goroutines are not the benchmark's
				}
			}
			b.ResetTimer()
			if par == 0 {
				for b.Loop() {
					create()
				}
			} else {
				b.SetParallelism(par)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						create()
					}
				})
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sagas/s")
		})
	}
}

func BenchmarkCompleteSaga(b *testing.B) {
	for _, par := range []int{0, 8} {
		b.Run(mode(par), func(b *testing.B) {
			e := requireEnv(b)
			db := e.fresh(b, nil)
			supply(b, db, int64(b.N))
			ids := make([]domain.SagaID, b.N)
			for i := range ids {
				ids[i] = domain.SagaID(fmt.Sprintf("b-%08d", i))
				if err := db.Create(context.Background(), startSaga(b, string(ids[i]), 1)); err != nil {
					b.Fatal(err)
				}
			}
			var next atomic.Int64
			complete := func() {
				id := ids[next.Add(1)-1]
				_, err := db.Update(context.Background(), id, func(s *domain.Saga) error { return s.Complete(epoch) })
				if err != nil {
					b.Error(err)
				}
			}
			b.ResetTimer()
			if par == 0 {
				for range b.N {
					complete()
				}
			} else {
				b.SetParallelism(par)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						complete()
					}
				})
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "confirms/s")
			if p, err := db.Product(context.Background(), product); err != nil || p.Stock != 0 {
				b.Fatalf("stock %d (%v) after confirming all %d", p.Stock, err, b.N)
			}
		})
	}
}

func mode(par int) string {
	if par == 0 {
		return "serial"
	}
	return fmt.Sprintf("parallel-%dx", par)
}
