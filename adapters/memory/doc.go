// Package memory holds deterministic in-memory adapters for every port in
// package ports. The simulator, the tests and the development server run the
// application on them.
//
// They are deterministic by construction: time comes only from a ports.Clock
// passed to each constructor (never the wall clock), identifiers are
// sequential, and nothing draws random numbers. Each adapter is safe for
// concurrent use and honours the port contracts exactly as the real adapters
// must, including the races a real database allows (see Store.Update), so a
// test that passes here exercises the application's concurrency handling
// rather than a forgiving fake.
//
// A call whose context is already done returns an error wrapping both
// domain.ErrUnavailable and the context's error, and changes nothing: that
// is what a networked adapter does when it cannot send the request, and the
// application must cope with it in the simulation too.
//
// Methods documented as test support are not part of any port; they let
// invariant checks look inside an adapter.
package memory

import (
	"context"
	"fmt"

	"github.com/flashsale/flashsale/domain"
)

// contextErr returns nil while ctx is live, and otherwise the error every
// adapter in this package returns for a call it refuses to start.
func contextErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", domain.ErrUnavailable, err)
	}
	return nil
}

// mustHave panics when a constructor's dependency is missing: wiring errors
// must surface at start, not at the first request.
func mustHave(ok bool, constructor, what string) {
	if !ok {
		panic(fmt.Sprintf("memory.%s: %s is required", constructor, what))
	}
}
