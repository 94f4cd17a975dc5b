// Package examplestrategy is a fourth lock strategy, written as any new
// one would be: this one file registers it (app.RegisterStrategy), and
// the app, `flashsale strategies`, the simulator and the bench list and
// run it with no change of theirs. It is registered wherever the package
// is imported: the tests that show that, not the server.
package examplestrategy

import (
	"context"
	"fmt"
	"sync"

	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
)

// Semaphore admits at most Permits purchases of one product at a time in
// one process, and answers the next at once with domain.ErrLockBusy: a
// lock strategy with room for a few. Reserving is the inventory's atomic
// reserve, as for strategy none.
const Semaphore app.Strategy = "semaphore"

// Permits is how many purchases of one product a process runs at once.
const Permits = 4

func init() {
	app.RegisterStrategy(app.StrategyDef{
		Name: Semaphore,
		Doc:  fmt.Sprintf("at most %d purchases of a product at once per process; the next answers lock_busy (an example)", Permits),
		New: func(p app.StrategyPorts) (app.Guard, app.Reserver, error) {
			return &semaphore{held: map[domain.ProductID]int{}}, app.AtomicReserver(p.Inventory), nil
		},
	})
}

type semaphore struct {
	mu   sync.Mutex
	held map[domain.ProductID]int
}

func (s *semaphore) Enter(_ context.Context, product domain.ProductID) (func(), error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held[product] >= Permits {
		return nil, fmt.Errorf("semaphore %s: %d purchases in flight: %w", product, Permits, domain.ErrLockBusy)
	}
	s.held[product]++
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.held[product]--; s.held[product] == 0 {
			delete(s.held, product)
		}
	}, nil
}
