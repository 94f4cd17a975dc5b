package domain

import (
	"errors"
	"fmt"
)

// Sentinel errors. Adapters translate infrastructure failures into these (or
// wrap them), and the HTTP edge maps them to statuses in one place.
var (
	// ErrInvalidInput marks a request that can never succeed as sent.
	// It is usually carried by a *ValidationError.
	ErrInvalidInput = errors.New("invalid input")
	// ErrProductNotFound: no product has the given ID.
	ErrProductNotFound = errors.New("product not found")
	// ErrOrderNotFound: no order has the given ID.
	ErrOrderNotFound = errors.New("order not found")
	// ErrSagaNotFound: no saga has the given ID.
	ErrSagaNotFound = errors.New("saga not found")
	// ErrInsufficientStock: the available stock (stock - reserved) is lower
	// than the quantity asked for.
	ErrInsufficientStock = errors.New("insufficient stock")
	// ErrLockBusy: another holder owns the lock; retry later.
	ErrLockBusy = errors.New("lock busy")
	// ErrLockLost: the caller's token no longer owns the lock (it expired,
	// and perhaps someone else holds it now).
	ErrLockLost = errors.New("lock lost")
	// ErrContention: an optimistic update kept losing its compare-and-set
	// race and gave up after its bounded retries; retry later.
	ErrContention = errors.New("contention: retries exhausted")
	// ErrConflict: a versioned write found a newer version than the one it
	// read (a stale writer). Callers reload and retry, or give up.
	ErrConflict = errors.New("version conflict")
	// ErrDuplicate: a record with the same unique key already exists.
	ErrDuplicate = errors.New("duplicate")
	// ErrPaymentDeclined: the gateway refused the charge. Nothing was taken.
	ErrPaymentDeclined = errors.New("payment declined")
	// ErrReservationNotFound: no reservation exists for the saga.
	ErrReservationNotFound = errors.New("reservation not found")
	// ErrReservationReleased: the reservation was already released (by a
	// compensation or by the reaper); it can no longer be confirmed.
	ErrReservationReleased = errors.New("reservation already released")
	// ErrReservationConfirmed: the reservation was already confirmed; it can
	// no longer be released.
	ErrReservationConfirmed = errors.New("reservation already confirmed")
	// ErrInvalidTransition: a state machine was asked for a move it does not
	// allow (for example confirming a cancelled order).
	ErrInvalidTransition = errors.New("invalid state transition")
	// ErrIdempotencyMismatch: an Idempotency-Key was reused with a different
	// request body.
	ErrIdempotencyMismatch = errors.New("idempotency key reused with a different request")
	// ErrRequestInProgress: a request with the same Idempotency-Key is still
	// being processed.
	ErrRequestInProgress = errors.New("a request with this idempotency key is in progress")
	// ErrSaturated: this instance already runs as many purchases of the
	// product as it admits at once; the purchase was refused before it did
	// anything. Retry after a moment.
	ErrSaturated = errors.New("too many purchases of this product in flight")
	// ErrUnavailable: a dependency did not answer in time or refused the
	// connection. The operation may be retried.
	ErrUnavailable = errors.New("dependency unavailable")
)

// ValidationError says which field of a request is wrong and why.
// It matches ErrInvalidInput with errors.Is.
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return fmt.Sprintf("%s: %s", e.Field, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidInput) true for every ValidationError.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidInput }

// Invalid returns a *ValidationError for field.
func Invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
