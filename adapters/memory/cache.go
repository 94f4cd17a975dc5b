package memory

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

var _ ports.ProductCache = (*ProductCache)(nil)

// ProductCache is an in-memory ports.ProductCache. An entry expires when the
// clock reaches the time it was set plus its ttl. Products are values, so
// every Get already returns a copy. It is safe for concurrent use.
type ProductCache struct {
	clock ports.Clock

	mu      sync.Mutex
	entries map[domain.ProductID]cachedProduct
	sweep   sweeper
}

type cachedProduct struct {
	product   domain.Product
	expiresAt time.Time
}

// NewProductCache returns an empty cache that reads time from clock. It
// panics if clock is nil.
func NewProductCache(clock ports.Clock) *ProductCache {
	mustHave(clock != nil, "NewProductCache", "a clock")
	return &ProductCache{clock: clock, entries: make(map[domain.ProductID]cachedProduct)}
}

// Get implements ports.ProductCache.
func (c *ProductCache) Get(ctx context.Context, id domain.ProductID) (domain.Product, bool, error) {
	if err := contextErr(ctx); err != nil {
		return domain.Product{}, false, fmt.Errorf("cache get %s: %w", id, err)
	}
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	if !ok {
		return domain.Product{}, false, nil
	}
	if !now.Before(e.expiresAt) {
		delete(c.entries, id)
		return domain.Product{}, false, nil
	}
	return e.product, true, nil
}

// Set implements ports.ProductCache. A ttl below one millisecond is an error
// matching domain.ErrInvalidInput, as Redis refuses such an expiry.
func (c *ProductCache) Set(ctx context.Context, p domain.Product, ttl time.Duration) error {
	if err := contextErr(ctx); err != nil {
		return fmt.Errorf("cache set %s: %w", p.ID, err)
	}
	if ttl < time.Millisecond {
		return fmt.Errorf("cache set %s: %w", p.ID, domain.Invalid("ttl", "must be at least 1ms"))
	}
	now := c.clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sweep.due(len(c.entries)) {
		for id, e := range c.entries {
			if !now.Before(e.expiresAt) {
				delete(c.entries, id)
			}
		}
		c.sweep.swept(len(c.entries))
	}
	c.entries[p.ID] = cachedProduct{product: p, expiresAt: now.Add(ttl)}
	return nil
}

// Delete implements ports.ProductCache.
func (c *ProductCache) Delete(ctx context.Context, id domain.ProductID) error {
	if err := contextErr(ctx); err != nil {
		return fmt.Errorf("cache delete %s: %w", id, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, id)
	return nil
}
