package app_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
)

// TestOutcomeNamesAreEveryOutcome: OutcomeNames lists exactly the names
// Outcome gives (dashboards and alerts are checked against the list), for
// every error a purchase can end with, wrapped or not.
func TestOutcomeNamesAreEveryOutcome(t *testing.T) {
	errs := []error{
		nil, &app.CompensatedError{Cause: errors.New("gateway down")}, domain.ErrPaymentDeclined, app.ErrCrashed,
		domain.ErrInvalidInput, domain.ErrProductNotFound, domain.ErrInsufficientStock, domain.ErrSaturated,
		domain.ErrLockBusy, domain.ErrContention, domain.ErrConflict, domain.ErrRequestInProgress,
		domain.ErrIdempotencyMismatch, domain.ErrReservationReleased, domain.ErrUnavailable,
		context.DeadlineExceeded, errors.New("something else"),
	}
	seen := map[string]bool{}
	for _, err := range errs {
		for _, e := range []error{err, fmt.Errorf("wrapped: %w", err)} {
			if err == nil && e != nil {
				continue
			}
			o := app.Outcome(e)
			if !slices.Contains(app.OutcomeNames(), o) {
				t.Errorf("Outcome(%v) = %q, not in OutcomeNames", e, o)
			}
			seen[o] = true
		}
	}
	for _, name := range app.OutcomeNames() {
		if !seen[name] {
			t.Errorf("OutcomeNames lists %q, which no purchase error gives", name)
		}
	}
}
