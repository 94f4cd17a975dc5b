package redis_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/redis"
	"github.com/flashsale/flashsale/domain"
)

// BenchmarkReserve measures one reserve script round trip (EVALSHA) on the
// standalone node, each with a new saga.
func BenchmarkReserve(b *testing.B) {
	tg := connectSingle(b)
	ctx := b.Context()
	inv := redis.NewInventory(tg.client, redis.WithInventoryNamespace(namespace(b, tg.client)))
	if err := inv.SetStock(ctx, "p-bench", redis.MaxStock); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(time.Hour)
	b.ResetTimer()
	for i := range b.N {
		r := domain.Reservation{SagaID: domain.SagaID(fmt.Sprintf("s-%d", i)), ProductID: "p-bench", Qty: 1, Deadline: deadline}
		if err := inv.Reserve(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReserveParallel is the same from GOMAXPROCS goroutines, one hot
// product: Redis runs the scripts one at a time.
func BenchmarkReserveParallel(b *testing.B) {
	tg := connectSingle(b)
	ctx := b.Context()
	inv := redis.NewInventory(tg.client, redis.WithInventoryNamespace(namespace(b, tg.client)))
	if err := inv.SetStock(ctx, "p-bench", redis.MaxStock); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(time.Hour)
	var serial atomic.Int64
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := domain.Reservation{SagaID: domain.SagaID(fmt.Sprintf("s-%d", serial.Add(1))), ProductID: "p-bench", Qty: 1, Deadline: deadline}
			if err := inv.Reserve(ctx, r); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
