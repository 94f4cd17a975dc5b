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

// Strategy names how concurrent buyers of one product are kept apart.
type Strategy string

// The lock strategies. None is the default and the safe choice: the
// inventory's atomic reservation alone decides who gets stock. Lock is the
// seed's per-product lock held across the saga (kept for comparison: it
// turns a hot product into a queue). Optimistic reserves by
// compare-and-set on the product's stock version, with bounded retries.
const (
	StrategyNone       Strategy = "none"
	StrategyLock       Strategy = "lock"
	StrategyOptimistic Strategy = "optimistic"
)

// Strategies lists the valid strategies.
var Strategies = []Strategy{StrategyNone, StrategyLock, StrategyOptimistic}

// ParseStrategy validates a strategy name.
func ParseStrategy(s string) (Strategy, error) {
	for _, v := range Strategies {
		if string(v) == s {
			return v, nil
		}
	}
	return "", fmt.Errorf("unknown lock strategy %q (want none, lock or optimistic)", s)
}

// gate is what a strategy contributes to a purchase: an optional guard held
// across the saga, and the reservation step.
type gate interface {
	// enter runs before the saga's first step; the returned exit runs after
	// its last, whatever happened.
	enter(ctx context.Context, product domain.ProductID) (exit func(), err error)
	reserve(ctx context.Context, r domain.Reservation) error
}

func newGate(s Strategy, d Deps, cfg Config, virtualTime bool) (gate, error) {
	switch s {
	case StrategyNone:
		return atomicGate{inv: d.Inventory}, nil
	case StrategyLock:
		if d.Locker == nil {
			return nil, errors.New("strategy lock needs a Locker")
		}
		return &lockGate{inv: d.Inventory, locker: d.Locker, ids: d.IDs, ttl: cfg.LockTTL, timeout: cfg.StepTimeout, virtualTime: virtualTime, log: d.Logger}, nil
	case StrategyOptimistic:
		vr, ok := d.Inventory.(ports.VersionedReserver)
		if !ok {
			return nil, errors.New("strategy optimistic needs an inventory that supports versioned reserves")
		}
		return optimisticGate{inv: d.Inventory, vr: vr, retries: cfg.OptimisticRetries}, nil
	}
	return nil, fmt.Errorf("unknown lock strategy %q", s)
}

// freshReserveOf returns the gate's reserve as one that tells a
// reservation it took from one it replayed (ports.FreshReserver), or nil,
// and a keyed purchase asks the gate before it reserves instead. Only the
// atomic gate uses it: the optimistic gate reserves by version, the lock
// gate takes the product's lock first (a retry of a finished purchase must
// learn it is one before it queues for the lock, or it could be answered
// lock_busy instead of its order), and an inventory may lack the
// capability.
func freshReserveOf(g gate, inv ports.Inventory) func(context.Context, domain.Reservation) (bool, error) {
	fr, ok := inv.(ports.FreshReserver)
	if _, atomic := g.(atomicGate); !ok || !atomic {
		return nil
	}
	return fr.ReserveFresh
}

// atomicGate relies on the inventory's atomic reserve alone.
type atomicGate struct{ inv ports.Inventory }

func (atomicGate) enter(context.Context, domain.ProductID) (func(), error) { return func() {}, nil }

func (g atomicGate) reserve(ctx context.Context, r domain.Reservation) error {
	return g.inv.Reserve(ctx, r)
}

// lockGate is the seed's strategy: one lock per product, held for the whole
// saga; a busy lock is answered at once with domain.ErrLockBusy. The lock is
// an optimisation of contention only: correctness never depends on it,
// because the reservation under it is atomic and release checks the token.
type lockGate struct {
	inv     ports.Inventory
	locker  ports.Locker
	ids     ports.IDs
	ttl     time.Duration
	timeout time.Duration
	// virtualTime: no real-time deadlines (Hooks.VirtualTime).
	virtualTime bool
	log         *slog.Logger
}

func (g *lockGate) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if g.virtualTime {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, g.timeout)
}

// LockKey is the key of a product's lock (the seed's lock:product:<id>).
func LockKey(id domain.ProductID) string { return "lock:product:" + string(id) }

func (g *lockGate) enter(ctx context.Context, product domain.ProductID) (func(), error) {
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

func (g *lockGate) reserve(ctx context.Context, r domain.Reservation) error {
	return g.inv.Reserve(ctx, r)
}

// optimisticGate reads the stock level and reserves only if its version is
// unchanged, retrying a bounded number of times on a lost race.
type optimisticGate struct {
	inv     ports.Inventory
	vr      ports.VersionedReserver
	retries int
}

func (optimisticGate) enter(context.Context, domain.ProductID) (func(), error) {
	return func() {}, nil
}

func (g optimisticGate) reserve(ctx context.Context, r domain.Reservation) error {
	for attempt := 0; attempt <= g.retries; attempt++ {
		level, err := g.inv.Level(ctx, r.ProductID)
		if err != nil {
			return err
		}
		if err := level.CanReserve(r.Qty); err != nil {
			return err
		}
		err = g.vr.ReserveIfVersion(ctx, r, level.Version)
		if !errors.Is(err, domain.ErrConflict) {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %w", domain.ErrUnavailable, ctx.Err())
		}
	}
	return domain.ErrContention
}
