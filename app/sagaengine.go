package app

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/flashsale/flashsale/domain"
)

// The saga engine runs a saga's declaration (SagaStep, sagadef.go): its
// steps forward, one after another, and on a failure after the first
// commit their compensations in reverse order (LIFO), each under its own
// name, timeout and crash point. What a step does is in its functions; the
// engine knows only the shape every step has, so a step added to the
// declaration needs nothing here.

// sagaRun is one purchase saga's state as its steps read and write it.
type sagaRun struct {
	id      domain.SagaID
	req     domain.PurchaseRequest
	product domain.Product
	// startedAt is when the saga began, res the reservation it asks for.
	startedAt time.Time
	res       domain.Reservation
	// began is when the request began, before the gate was asked about
	// it: a saga of its key that ended before then cannot be using a
	// reservation this request found fresh.
	began time.Time
	fresh freshness
	// own says the reservation held is this request's own, not one an
	// earlier request with its key took.
	own bool
	// saga is the saga of the first commit (set just before it); done is
	// the COMPLETED saga.
	saga *domain.Saga
	done *domain.Saga
}

// An ending ends a saga's forward run before its last step: with an answer
// (a retry answered from its key's saga), an error, or by compensating the
// steps done.
type ending struct {
	receipt Receipt
	err     error
	// compensate, when set, is the reason to compensate for; err is the
	// cause.
	compensate string
}

func endWith(r Receipt, err error) *ending { return &ending{receipt: r, err: err} }

func compensateFor(reason string, cause error) *ending {
	return &ending{err: cause, compensate: reason}
}

// compRun is one compensation's state as the compensations read and write
// it.
type compRun struct {
	id domain.SagaID
	// saga is the saga as the compensation's last write left it.
	saga *domain.Saga
	// charged says the refund found a charge to give back.
	charged bool
}

// run runs the saga's steps forward and returns the purchase's answer.
func (a *App) run(ctx context.Context, r *sagaRun) (Receipt, error) {
	for i := range a.saga {
		st := &a.saga[i]
		if st.prepare != nil {
			var end *ending
			if ctx, end = st.prepare(a, ctx, r); end != nil {
				return a.end(ctx, r, end)
			}
		}
		if err := a.act(ctx, st, r); err != nil {
			if errors.Is(err, ErrCrashed) {
				return Receipt{}, err
			}
			if end := a.failed(ctx, i, st, r, err); end != nil {
				return a.end(ctx, r, end)
			}
			continue // past the point of no return: the sale stands
		}
		if st.done != nil {
			st.done(a, r)
		}
		if a.crash(r.id, st.CrashAfter) {
			return Receipt{}, ErrCrashed
		}
		if st.then != nil {
			if end := st.then(a, ctx, r); end != nil {
				return a.end(ctx, r, end)
			}
		}
	}
	return Receipt{Saga: r.done}, nil
}

// act runs a step's call, measured under its name.
func (a *App) act(ctx context.Context, st *SagaStep, r *sagaRun) error {
	if st.measuresItself {
		return st.act(a, ctx, r)
	}
	return a.timed(ctx, string(st.Name), func(ctx context.Context) error { return st.act(a, ctx, r) })
}

// failed is what the failure of step i means: the step's own answer, or
// by default a compensation before the point of no return (checkSaga
// holds that such a step comes after the first commit), and after it
// nothing: the sale is durable and stands, the failure logged (and
// measured under the step's name).
func (a *App) failed(ctx context.Context, i int, st *SagaStep, r *sagaRun, err error) *ending {
	if st.failed != nil {
		return st.failed(a, ctx, r, err)
	}
	err = fmt.Errorf("%s: %w", st.Name, err)
	if i > a.pointOfNoReturn {
		a.log.ErrorContext(ctx, "a saga step after the point of no return failed; the sale stands", "step", st.Name, "err", err)
		return nil
	}
	return compensateFor(string(st.Name)+"_failed", err)
}

// end ends a forward run.
func (a *App) end(ctx context.Context, r *sagaRun, e *ending) (Receipt, error) {
	if e.compensate == "" {
		return e.receipt, e.err
	}
	s, err := a.compensate(ctx, r.id, e.compensate)
	if errors.Is(err, ErrCrashed) {
		return Receipt{}, err
	}
	if err != nil {
		a.log.ErrorContext(ctx, "compensation incomplete; recovery will finish it", "reason", e.compensate, "err", err)
		return Receipt{}, fmt.Errorf("%w (compensation pending: %v)", e.err, err)
	}
	return Receipt{}, &CompensatedError{Saga: s, Cause: e.err}
}

// compensate undoes a saga's steps in reverse order: with the declared
// compensations, each idempotent and each run whatever step the saga
// reached, between a write that begins the compensation and one that
// finishes it. So compensate may run again after a crash, or on two
// instances at once, and the outcome is the same. It returns the
// COMPENSATED saga.
func (a *App) compensate(ctx context.Context, id domain.SagaID, reason string) (*domain.Saga, error) {
	c := &compRun{id: id}
	err := a.timed(ctx, stepBeginCompensation, func(ctx context.Context) error {
		var err error
		c.saga, err = a.update(ctx, id, func(s *domain.Saga) error { return s.BeginCompensation(reason, a.now()) })
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("begin compensation: %w", err)
	}
	return a.compensateBegun(ctx, c)
}

// compensateBegun is compensate after the write that began it: c.saga is
// the saga as that write left it (COMPENSATING, or COMPENSATED already).
func (a *App) compensateBegun(ctx context.Context, c *compRun) (*domain.Saga, error) {
	id := c.id
	if c.saga.Status == domain.SagaCompensated {
		return c.saga, nil
	}
	if a.crash(id, CrashCompensateBegun) {
		return nil, ErrCrashed
	}
	for _, st := range slices.Backward(a.saga) {
		comp := st.Compensation
		if comp == nil {
			continue
		}
		if err := a.timed(ctx, comp.Name, func(ctx context.Context) error { return comp.undo(a, ctx, c) }); err != nil {
			return nil, fmt.Errorf("%s: %w", comp.Name, err)
		}
		if c.saga.Status == domain.SagaCompensated {
			// Another compensator (a recoverer, or the runner it took
			// over from) finished meanwhile: its compensations are done,
			// and this one must not call a dependency again.
			return c.saga, nil
		}
		if a.crash(id, comp.CrashAfter) {
			return nil, ErrCrashed
		}
	}
	var finished bool // this call's write moved the saga to COMPENSATED
	err := a.timed(ctx, stepFinishCompensation, func(ctx context.Context) error {
		s, err := a.update(ctx, id, func(s *domain.Saga) error {
			finished = s.Status == domain.SagaCompensating
			return s.FinishCompensation(a.now())
		})
		c.saga = s
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("finish compensation: %w", err)
	}
	if finished {
		a.metrics.Compensated(c.saga.ID, c.saga.ProductID, c.saga.Reason)
	}
	a.notifyRelay()
	return c.saga, nil
}
