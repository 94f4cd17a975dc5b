package app

import (
	"context"
	"errors"

	"github.com/flashsale/flashsale/domain"
)

// An Outcome is how a request to the app ended: its error classified once,
// here. The HTTP adapter's statuses and problem codes, the metrics' and
// logs' labels (Label) and the simulator's classes all map from it.
type Outcome int

// The outcomes, finest first; Label groups some for the metrics.
const (
	OutcomeCompleted         Outcome = iota
	OutcomeCompensated               // begun, then undone (CompensatedError)
	OutcomePaymentDeclined           // undone: the gateway declined the charge
	OutcomeCrashed                   // the process died mid-saga (tests and the simulator)
	OutcomeInvalid                   // bad input: nothing was done
	OutcomeProductNotFound           // no such product
	OutcomeSagaNotFound              // no such saga (reads)
	OutcomeOrderNotFound             // no such order (reads)
	OutcomeInsufficientStock         // not enough stock left for the quantity
	OutcomeSaturated                 // this instance admits no more purchases of the product now
	OutcomeLockBusy                  // the lock strategy's product lock is held
	OutcomeContention                // the optimistic strategy ran out of retries, or a write lost its race
	OutcomeInProgress                // a request with this Idempotency-Key is running
	OutcomeKeyReused                 // the Idempotency-Key came with another request
	OutcomeAbandoned                 // the key's purchase was abandoned and its stock released
	OutcomeUnavailable               // a dependency did not answer
	OutcomeError                     // anything else: a bug or an unclassified failure
)

// Classify returns err's outcome (OutcomeCompleted for nil).
func Classify(err error) Outcome {
	if err == nil {
		return OutcomeCompleted
	}
	_, compensated := errors.AsType[*CompensatedError](err) // no allocation, unlike errors.As
	switch {
	case errors.Is(err, domain.ErrPaymentDeclined):
		return OutcomePaymentDeclined
	case compensated:
		return OutcomeCompensated
	case errors.Is(err, ErrCrashed):
		return OutcomeCrashed
	case errors.Is(err, domain.ErrInvalidInput):
		return OutcomeInvalid
	case errors.Is(err, domain.ErrProductNotFound):
		return OutcomeProductNotFound
	case errors.Is(err, domain.ErrSagaNotFound):
		return OutcomeSagaNotFound
	case errors.Is(err, domain.ErrOrderNotFound):
		return OutcomeOrderNotFound
	case errors.Is(err, domain.ErrLockBusy):
		return OutcomeLockBusy
	case errors.Is(err, domain.ErrContention), errors.Is(err, domain.ErrConflict):
		return OutcomeContention
	case errors.Is(err, domain.ErrInsufficientStock):
		return OutcomeInsufficientStock
	case errors.Is(err, domain.ErrRequestInProgress):
		return OutcomeInProgress
	case errors.Is(err, domain.ErrIdempotencyMismatch):
		return OutcomeKeyReused
	case errors.Is(err, domain.ErrReservationReleased):
		return OutcomeAbandoned
	case errors.Is(err, domain.ErrSaturated):
		return OutcomeSaturated
	case errors.Is(err, domain.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return OutcomeUnavailable
	}
	return OutcomeError
}

var outcomeLabels = [...]string{
	OutcomeCompleted: "completed", OutcomeCompensated: "compensated", OutcomePaymentDeclined: "compensated",
	OutcomeCrashed: "crashed", OutcomeInvalid: "invalid", OutcomeProductNotFound: "product_not_found",
	OutcomeSagaNotFound: "error", OutcomeOrderNotFound: "error", // reads' outcomes: a purchase meeting one is a bug
	OutcomeInsufficientStock: "insufficient_stock", OutcomeSaturated: "saturated", OutcomeLockBusy: "lock_busy",
	OutcomeContention: "contention", OutcomeInProgress: "in_progress", OutcomeKeyReused: "key_conflict",
	OutcomeAbandoned: "key_conflict", OutcomeUnavailable: "unavailable", OutcomeError: "error",
}

// Label is the outcome's name in metrics, logs and spans: the purchases
// metric's outcome label, which dashboards and alerts name
// (OutcomeLabels). A declined payment is "compensated", a reused or
// abandoned key "key_conflict".
func (o Outcome) Label() string {
	if o < 0 || int(o) >= len(outcomeLabels) {
		return "error"
	}
	return outcomeLabels[o]
}

func (o Outcome) String() string { return o.Label() }

// Retry says the answer asks the client to try again later, as it is: the
// outcome of a moment (a held lock, a lost race, a saturated instance, a
// request still running, a dependency away), not of the request.
func (o Outcome) Retry() bool {
	switch o {
	case OutcomeLockBusy, OutcomeContention, OutcomeInProgress, OutcomeSaturated, OutcomeUnavailable:
		return true
	}
	return false
}

// OutcomeLabels lists every label a purchase's outcome has (Label): the
// values of the purchases metric's outcome label.
func OutcomeLabels() []string {
	return []string{"completed", "compensated", "crashed", "invalid", "product_not_found", "insufficient_stock",
		"saturated", "lock_busy", "contention", "in_progress", "key_conflict", "unavailable", "error"}
}
