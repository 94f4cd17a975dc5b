package mysql_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/mysql"
	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
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
			cpu := startClientCPU()
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
			cpu.report(b, b.N, "create")
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

// BenchmarkWriteAll confirms sales of one product in groups, one WriteAll
// (one commit) per group, one writer at a time as a product's batcher
// would: sales/s shows what a group buys over one commit per sale (group
// size 1, which is also BenchmarkCompleteSaga/serial's shape).
func BenchmarkWriteAll(b *testing.B) {
	for _, size := range []int{1, 8, 32, 128} {
		b.Run(fmt.Sprintf("group-%d", size), func(b *testing.B) {
			e := requireEnv(b)
			db := e.fresh(b, nil)
			sales := b.N * size
			supply(b, db, int64(sales))
			groups := make([][]ports.SagaChange, b.N)
			createAll(b, db, sales, func(i int, prev *domain.Saga) {
				next := prev.Clone()
				if err := next.Complete(epoch); err != nil {
					b.Error(err)
				}
				if groups[i/size] == nil {
					groups[i/size] = make([]ports.SagaChange, size)
				}
				groups[i/size][i%size] = ports.SagaChange{Prev: prev, Next: next}
			})
			b.ResetTimer()
			for _, g := range groups {
				if _, err := db.WriteAll(context.Background(), g); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(sales)/b.Elapsed().Seconds(), "sales/s")
			if p, err := db.Product(context.Background(), product); err != nil || p.Stock != 0 {
				b.Fatalf("stock %d (%v) after confirming all %d", p.Stock, err, sales)
			}
		})
	}
}

// createAll stores n RUNNING sagas of one unit of product, 32 at a time,
// and hands each to use (in no particular order) as a later load returns
// it, version 1.
func createAll(b *testing.B, db *mysql.DB, n int, use func(i int, stored *domain.Saga)) {
	b.Helper()
	var next atomic.Int64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				s := startSaga(b, fmt.Sprintf("b-%08d", i), 1)
				if err := db.Create(context.Background(), s); err != nil {
					b.Error(err)
					return
				}
				s.Version, s.Order.Version = 1, 1
				mu.Lock()
				use(i, s)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}

// BenchmarkCreateAll creates purchases' sagas in groups, one CreateAll (one
// commit) per group, one writer at a time as the app's batcher of creates
// would: creates/s shows what a group buys over one commit per purchase
// (group size 1, the shape of BenchmarkCreateSaga/serial). The sagas are of
// 16 products, as a crowd buying many products makes them.
func BenchmarkCreateAll(b *testing.B) {
	for _, size := range []int{1, 8, 32, 128} {
		b.Run(fmt.Sprintf("group-%d", size), func(b *testing.B) {
			e := requireEnv(b)
			db := e.fresh(b, nil)
			groups := make([][]*domain.Saga, b.N)
			for g := range groups {
				groups[g] = make([]*domain.Saga, size)
				for i := range groups[g] {
					n := g*size + i
					groups[g][i] = startSagaOf(b, domain.ProductID(fmt.Sprintf("p-%d", n%16)), fmt.Sprintf("b-%08d", n), 1)
				}
			}
			b.ResetTimer()
			cpu := startClientCPU()
			for _, g := range groups {
				if err := db.CreateAll(context.Background(), g); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "creates/s")
			cpu.report(b, b.N*size, "create")
			last := groups[b.N-1][size-1]
			if s, err := db.Saga(context.Background(), last.ID); err != nil || s.Version != 1 {
				b.Fatalf("last saga created: %+v, %v", s, err)
			}
		})
	}
}

// clientCPU is the CPU time this process (the database's client: driver,
// GORM, the adapter) spent from a start: on the 2-core machine the app
// shares with the databases, every client microsecond is taken from them.
type clientCPU time.Duration

func startClientCPU() clientCPU { return clientCPU(processCPU()) }

// report adds the client CPU per unit (each of n) as "cpu-µs/<unit>".
func (c clientCPU) report(b *testing.B, n int, unit string) {
	b.ReportMetric(float64(processCPU()-time.Duration(c))/float64(time.Microsecond)/float64(n), "cpu-µs/"+unit)
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
