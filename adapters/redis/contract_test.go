package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/redis"
	"github.com/flashsale/flashsale/ports"
	"github.com/flashsale/flashsale/ports/porttest"
)

// The port suites, unchanged, against the standalone node and the cluster.
// Each harness gets its own key namespace, which stands in for the empty
// keyspace the suites assume.

func TestInventoryContract(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		porttest.Inventory(t, func(t *testing.T) porttest.InventoryHarness {
			inv := redis.NewInventory(tg.client, redis.WithInventoryNamespace(namespace(t, tg.client)))
			return porttest.InventoryHarness{Inventory: inv, Loader: inv, Reaper: inv, Versioned: inv, Lookup: inv, Fresh: inv, Batch: inv, Lookups: inv}
		})
	})
}

func TestLockerContract(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		porttest.Locker(t, func(t *testing.T) porttest.LockerHarness {
			return porttest.LockerHarness{
				Locker:  prefixedLocker{redis.NewLocker(tg.client), namespace(t, tg.client)},
				Advance: time.Sleep, // Redis expires keys on its own clock
			}
		})
	})
}

func TestProductCacheContract(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		porttest.ProductCache(t, func(t *testing.T) porttest.CacheHarness {
			return porttest.CacheHarness{
				Cache:   redis.NewProductCache(tg.client, redis.WithCacheNamespace(namespace(t, tg.client))),
				Advance: time.Sleep,
			}
		})
	})
}

// prefixedLocker puts a namespace in front of the suite's fixed keys; the
// Locker itself uses keys exactly as given.
type prefixedLocker struct {
	ports.Locker
	prefix string
}

func (l prefixedLocker) Acquire(ctx context.Context, key, token string, ttl time.Duration) error {
	return l.Locker.Acquire(ctx, l.prefix+key, token, ttl)
}

func (l prefixedLocker) Release(ctx context.Context, key, token string) error {
	return l.Locker.Release(ctx, l.prefix+key, token)
}

func (l prefixedLocker) Extend(ctx context.Context, key, token string, ttl time.Duration) error {
	return l.Locker.Extend(ctx, l.prefix+key, token, ttl)
}
