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

// TestOutcomeLabelsAreEveryOutcome: OutcomeLabels lists exactly the labels
// of the outcomes Classify gives (dashboards and alerts are checked against
// the list), for every error a purchase can end with, wrapped or not.
func TestOutcomeLabelsAreEveryOutcome(t *testing.T) {
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
			o := app.Classify(e).Label()
			if !slices.Contains(app.OutcomeLabels(), o) {
				t.Errorf("Classify(%v) is %q, not in OutcomeLabels", e, o)
			}
			seen[o] = true
		}
	}
	for _, name := range app.OutcomeLabels() {
		if !seen[name] {
			t.Errorf("OutcomeLabels lists %q, which no purchase error gives", name)
		}
	}
}

// TestClassifyIsFinerThanTheLabels: each error a request can end with has
// its own outcome, wrapped or not, and a retry is asked exactly for the
// outcomes of a moment.
func TestClassifyIsFinerThanTheLabels(t *testing.T) {
	declined := &app.CompensatedError{Saga: &domain.Saga{ID: "s-1"}, Cause: domain.ErrPaymentDeclined}
	for _, c := range []struct {
		err   error
		want  app.Outcome
		retry bool
	}{
		{nil, app.OutcomeCompleted, false},
		{&app.CompensatedError{Saga: &domain.Saga{ID: "s-1"}, Cause: errors.New("gateway down")}, app.OutcomeCompensated, false},
		{declined, app.OutcomePaymentDeclined, false},
		{domain.ErrPaymentDeclined, app.OutcomePaymentDeclined, false},
		{app.ErrCrashed, app.OutcomeCrashed, false},
		{domain.Invalid("qty", "must be positive"), app.OutcomeInvalid, false},
		{domain.ErrProductNotFound, app.OutcomeProductNotFound, false},
		{domain.ErrSagaNotFound, app.OutcomeSagaNotFound, false},
		{domain.ErrOrderNotFound, app.OutcomeOrderNotFound, false},
		{domain.ErrInsufficientStock, app.OutcomeInsufficientStock, false},
		{domain.ErrSaturated, app.OutcomeSaturated, true},
		{domain.ErrLockBusy, app.OutcomeLockBusy, true},
		{domain.ErrContention, app.OutcomeContention, true},
		{domain.ErrConflict, app.OutcomeContention, true},
		{domain.ErrRequestInProgress, app.OutcomeInProgress, true},
		{domain.ErrIdempotencyMismatch, app.OutcomeKeyReused, false},
		{domain.ErrReservationReleased, app.OutcomeAbandoned, false},
		{domain.ErrUnavailable, app.OutcomeUnavailable, true},
		{context.DeadlineExceeded, app.OutcomeUnavailable, true},
		{errors.New("something else"), app.OutcomeError, false},
	} {
		for _, err := range []error{c.err, fmt.Errorf("wrapped: %w", c.err)} {
			if c.err == nil {
				err = nil
			}
			if got := app.Classify(err); got != c.want || got.Retry() != c.retry {
				t.Errorf("Classify(%v) = %v (retry %v), want %v (retry %v)", err, got, got.Retry(), c.want, c.retry)
			}
		}
	}
	if app.OutcomePaymentDeclined.Label() != "compensated" || app.OutcomeAbandoned.Label() != "key_conflict" {
		t.Error("the labels no longer group a decline with compensations, or an abandoned key with a reused one")
	}
}
