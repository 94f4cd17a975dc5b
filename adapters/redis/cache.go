package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

var (
	_ ports.ProductCache = (*ProductCache)(nil)
	_ ports.Pinger       = (*ProductCache)(nil)
)

// ProductCache is the Redis ports.ProductCache: product:<id>:details holds
// the product as JSON and expires at the ttl given to Set. It is safe for
// concurrent use.
type ProductCache struct {
	c  goredis.UniversalClient
	ns string
}

// CacheOption configures NewProductCache.
type CacheOption func(*ProductCache)

// WithCacheNamespace puts ns in front of every key the cache uses, so
// several deployments or test runs can share one Redis. A namespace
// containing '{' or '}' panics.
func WithCacheNamespace(ns string) CacheOption {
	mustNamespace(ns, "WithCacheNamespace")
	return func(pc *ProductCache) { pc.ns = ns }
}

// NewProductCache returns a cache over c. It panics if c is nil or would
// ignore context deadlines (see NewClient).
func NewProductCache(c goredis.UniversalClient, opts ...CacheOption) *ProductCache {
	mustClient(c, "NewProductCache")
	pc := &ProductCache{c: c}
	for _, opt := range opts {
		opt(pc)
	}
	return pc
}

func (pc *ProductCache) key(id domain.ProductID) string {
	return pc.ns + "product:" + string(id) + ":details"
}

// Get implements ports.ProductCache. An entry that does not decode as this
// product (written by another version of the service, or damaged) is a
// miss and is dropped, so the reader falls back to the catalog and refills
// the entry instead of failing every read until the ttl.
func (pc *ProductCache) Get(ctx context.Context, id domain.ProductID) (domain.Product, bool, error) {
	op := "cache get " + string(id)
	if err := liveContext(ctx); err != nil {
		return domain.Product{}, false, fmt.Errorf("%s: %w", op, err)
	}
	raw, err := pc.c.Get(ctx, pc.key(id)).Bytes()
	switch {
	case errors.Is(err, goredis.Nil):
		return domain.Product{}, false, nil
	case err != nil:
		return domain.Product{}, false, translateErr(op, err)
	}
	p, err := decodeCachedProduct(raw)
	if err != nil || p.ID != id {
		// Best effort: the next Set replaces it anyway.
		_ = pc.c.Del(ctx, pc.key(id)).Err()
		return domain.Product{}, false, nil
	}
	return p, true, nil
}

// Set implements ports.ProductCache. A ttl below one millisecond is an
// error matching domain.ErrInvalidInput, as Redis refuses such an expiry.
func (pc *ProductCache) Set(ctx context.Context, p domain.Product, ttl time.Duration) error {
	op := "cache set " + string(p.ID)
	if ttl < time.Millisecond {
		return fmt.Errorf("%s: %w", op, domain.Invalid("ttl", "must be at least 1ms"))
	}
	if err := liveContext(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	raw, err := encodeCachedProduct(p)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := pc.c.Set(ctx, pc.key(p.ID), raw, ttl).Err(); err != nil {
		return translateErr(op, err)
	}
	return nil
}

// Delete implements ports.ProductCache.
func (pc *ProductCache) Delete(ctx context.Context, id domain.ProductID) error {
	op := "cache delete " + string(id)
	if err := liveContext(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := pc.c.Del(ctx, pc.key(id)).Err(); err != nil {
		return translateErr(op, err)
	}
	return nil
}

// Ping implements ports.Pinger: every master must answer.
func (pc *ProductCache) Ping(ctx context.Context) error { return ping(ctx, pc.c) }
