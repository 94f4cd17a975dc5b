package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// StrategyLock is the seed's per-product lock held across the saga, kept
// for comparison: it turns a hot product into a queue.
const StrategyLock Strategy = "lock"

func init() {
	RegisterStrategy(StrategyDef{
		Name: StrategyLock,
		Doc:  "the seed's per-product lock, held across the saga; a busy lock answers lock_busy at once",
		New: func(p StrategyPorts) (Guard, Reserver, error) {
			if p.Locker == nil {
				return nil, nil, errors.New("needs a Locker")
			}
			return &lockGuard{locker: p.Locker, ids: p.IDs, ttl: p.Config.LockTTL, timeout: p.Config.StepTimeout,
				virtualTime: p.VirtualTime, log: p.Logger}, AtomicReserver(p.Inventory), nil
		},
	})
}

// lockGuard holds one lock per product for the whole saga; a busy lock is
// answered at once with domain.ErrLockBusy. The lock is an optimisation of
// contention only: correctness never depends on it, because the
// reservation under it is atomic and release checks the token.
type lockGuard struct {
	locker  ports.Locker
	ids     ports.IDs
	ttl     time.Duration
	timeout time.Duration
	// virtualTime: no real-time deadlines (Hooks.VirtualTime).
	virtualTime bool
	log         *slog.Logger
}

func (g *lockGuard) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if g.virtualTime {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, g.timeout)
}

// LockKey is the key of a product's lock (the seed's lock:product:<id>).
func LockKey(id domain.ProductID) string { return "lock:product:" + string(id) }

func (g *lockGuard) Enter(ctx context.Context, product domain.ProductID) (func(), error) {
	key, token := LockKey(product), g.ids.NewID()
	actx, cancel := g.withTimeout(ctx)
	defer cancel()
	if err := g.locker.Acquire(actx, key, token, g.ttl); err != nil {
		return nil, fmt.Errorf("lock %s: %w", product, err)
	}
	return func() {
		// Release even if the saga's context has ended: a lock left behind
		// blocks the product until its TTL.
		rctx, cancel := g.withTimeout(detached(ctx))
		defer cancel()
		if err := g.locker.Release(rctx, key, token); err != nil {
			// ErrLockLost: the saga outlived the TTL and someone else may
			// hold the lock now; the token check kept us from freeing it.
			g.log.WarnContext(ctx, "lock release", "product", product, "err", err)
		}
	}, nil
}
