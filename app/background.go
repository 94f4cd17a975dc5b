package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// ReapExpired settles held reservations past their deadline, deciding each
// from durable saga state, never blindly:
//   - saga COMPLETED: the sale happened, so the reservation is confirmed
//     (releasing it would oversell), unless it was taken long after the
//     saga ended (its deadline more than twice the reservation TTL past
//     the saga's end): then it is a reused key's orphan, and released;
//   - saga COMPENSATED: it is released;
//   - saga RUNNING or COMPENSATING: left alone; recovery owns the saga and
//     releases the reservation when it finishes compensating;
//   - no saga: the saga died before its first commit. The reaper stores an
//     aborted saga under the same ID first (domain.Abort), which a late
//     commit of the original saga cannot overwrite, then releases.
//
// It returns how many reservations it settled.
func (a *App) ReapExpired(ctx context.Context) (int, error) {
	reaper, ok := a.d.Inventory.(ports.InventoryReaper)
	if !ok {
		return 0, errors.New("reap: the inventory adapter cannot list expired reservations")
	}
	var expired []domain.Reservation
	if err := a.step(ctx, func(ctx context.Context) error {
		var err error
		expired, err = reaper.Expired(ctx, a.now(), a.cfg.BatchSize)
		return err
	}); err != nil {
		return 0, fmt.Errorf("reap: %w", err)
	}
	settled := 0
	var errs []error
	for _, r := range expired {
		done, err := a.reapOne(ctx, r)
		if err != nil {
			errs = append(errs, fmt.Errorf("reap %s: %w", r.SagaID, err))
		}
		if done {
			settled++
		}
	}
	a.metrics.Add(ports.CounterReservationsExpired, settled)
	return settled, errors.Join(errs...)
}

func (a *App) reapOne(ctx context.Context, r domain.Reservation) (bool, error) {
	var s *domain.Saga
	err := a.step(ctx, func(ctx context.Context) error {
		var err error
		s, err = a.d.Sagas.Saga(ctx, r.SagaID)
		return err
	})
	if errors.Is(err, domain.ErrSagaNotFound) {
		return a.abortAndRelease(ctx, r, ReasonReservationExpired)
	}
	if err != nil {
		return false, err
	}
	if s.ProductID != r.ProductID || s.Qty != r.Qty {
		// An orphan: an earlier attempt under the same saga ID (the same
		// Idempotency-Key) reserved this and died; the saga that committed
		// holds another reservation. This one was never sold.
		return true, a.settle(ctx, r, a.d.Inventory.Release)
	}
	switch s.Status {
	case domain.SagaCompleted:
		if r.Deadline.After(s.UpdatedAt.Add(2 * a.cfg.ReservationTTL)) {
			// Taken long after the saga ended, so not the saga's own: a
			// key reused after the gate forgot the saga, whose request
			// never learned it held this (its reserve's answer was lost).
			// Confirming it would sell the saga's units a second time.
			// (A saga's own reservation was taken before the saga started,
			// so its deadline is at most one reservation TTL past the
			// saga's end; twice that leaves room for instances whose TTLs
			// or clocks differ.)
			return true, a.settle(ctx, r, a.d.Inventory.Release)
		}
		return true, a.settle(ctx, r, a.d.Inventory.Confirm)
	case domain.SagaCompensated:
		return true, a.settle(ctx, r, a.d.Inventory.Release)
	}
	return false, nil
}

// abortAndRelease releases the reservation of a saga that has no durable
// record. It stores the aborted saga first (domain.Abort): saga IDs are
// unique, so if the saga commits concurrently exactly one of the two writes
// wins. If the saga's commit won, nothing is released (false, nil) and the
// reservation is settled later from that saga's state.
func (a *App) abortAndRelease(ctx context.Context, r domain.Reservation, reason string) (bool, error) {
	err := a.step(ctx, func(ctx context.Context) error {
		return a.d.Sagas.Create(ctx, domain.Abort(r, reason, a.now()))
	})
	if errors.Is(err, domain.ErrDuplicate) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	a.metrics.Compensated(r.SagaID, r.ProductID, reason)
	a.notifyRelay()
	return true, a.settle(ctx, r, a.d.Inventory.Release)
}

func (a *App) settle(ctx context.Context, r domain.Reservation, op func(context.Context, domain.ProductID, domain.SagaID) error) error {
	err := a.step(ctx, func(ctx context.Context) error { return op(ctx, r.ProductID, r.SagaID) })
	a.stockReturned(r.ProductID) // a release gives stock back; a confirm changes nothing buyers see
	if errors.Is(err, domain.ErrReservationReleased) || errors.Is(err, domain.ErrReservationConfirmed) {
		// Someone else settled it between our listing and now; the state
		// it is in was decided from the same durable saga, so it is right.
		return nil
	}
	return err
}

// RecoverStale finds unfinished sagas whose lease has expired (their runner
// died or stalled) and compensates them. Each is first claimed with a
// version-checked write that also begins compensation, so of two recoverers
// exactly one acts, and a runner that wakes up late can no longer confirm.
// Compensation, not completion, is the safe end for any saga that was not
// confirmed: the buyer was never told it succeeded.
//
// It returns how many sagas it drove to COMPENSATED.
func (a *App) RecoverStale(ctx context.Context) (int, error) {
	var ids []domain.SagaID
	if err := a.step(ctx, func(ctx context.Context) error {
		var err error
		ids, err = a.d.Sagas.Stale(ctx, a.now(), a.cfg.BatchSize)
		return err
	}); err != nil {
		return 0, fmt.Errorf("recover: %w", err)
	}
	recovered := 0
	var errs []error
	for _, id := range ids {
		done, err := a.recoverOne(ctx, id)
		if err != nil {
			errs = append(errs, err)
		}
		if done {
			recovered++
		}
	}
	a.metrics.Add(ports.CounterSagasRecovered, recovered)
	return recovered, errors.Join(errs...)
}

// recoverOne claims and compensates one stale saga, in a trace of its own
// ("saga.recover"). It reports whether it compensated the saga; losing
// the claim to another instance, or to the saga's own end, is no error.
func (a *App) recoverOne(ctx context.Context, id domain.SagaID) (done bool, err error) {
	ctx, span := a.span(ctx, "saga.recover", trace.WithNewRoot(),
		trace.WithAttributes(attribute.String("flashsale.saga_id", string(id))))
	defer func() { endSpan(span, err) }()
	// The claim is the compensation's beginning: one write takes the
	// lease and moves the saga to COMPENSATING.
	c := &compRun{id: id}
	lost := false
	err = a.timed(ctx, stepBeginCompensation, func(ctx context.Context) error {
		var err error
		c.saga, err = a.update(ctx, id, func(s *domain.Saga) error {
			now := a.now()
			if err := s.Claim(a.cfg.InstanceID, now, now.Add(a.cfg.LeaseTTL)); err != nil {
				return err
			}
			return s.BeginCompensation(ReasonLeaseExpired, now)
		})
		if errors.Is(err, domain.ErrConflict) || errors.Is(err, domain.ErrInvalidTransition) {
			// Another instance claimed it, or it finished meanwhile: the
			// step did its job, and neither its metric nor its span
			// counts an error.
			lost = true
			return nil
		}
		return err
	})
	if lost {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("recover %s: claim: %w", id, err)
	}
	if _, err := a.compensateBegun(ctx, c); err != nil {
		return false, fmt.Errorf("recover %s: %w", id, err)
	}
	return true, nil
}

// RelayEvents publishes the outbox's unpublished events in order and marks
// them published, until the outbox is empty. Delivery is at least once: a
// crash between publishing and marking publishes those events again, with
// the same IDs, and consumers drop them by ID.
func (a *App) RelayEvents(ctx context.Context) (int, error) {
	if mine, other := a.relayTurn(ctx); !mine {
		if other {
			a.metrics.OutboxLag(0) // the lease holder reports the lag, not this instance
		}
		return 0, nil
	}
	return a.relay(ctx)
}

// RelayLeaseKey is the Locker key of the relay lease (Config.RelayLease).
const RelayLeaseKey = "flashsale:relay"

// relayTurn reports whether this instance relays this round (mine):
// always without a relay lease; with one, only while it holds it; and,
// when it does not, whether another instance does (other; false when the
// Locker could not tell). It asks the Locker at most every third of the
// lease: the holder renews its lease then (Extend), the others try to take
// it (Acquire) then, so rounds woken by every saga write cost no round
// trip.
func (a *App) relayTurn(ctx context.Context) (mine, other bool) {
	if a.cfg.RelayLease <= 0 || a.d.Locker == nil {
		return true, false
	}
	now := a.now()
	a.lease.mu.Lock()
	defer a.lease.mu.Unlock()
	if now.Before(a.lease.askAt) {
		return a.lease.held, a.lease.other
	}
	lease := a.cfg.RelayLease
	op := a.d.Locker.Acquire
	if a.lease.held {
		op = a.d.Locker.Extend
	}
	err := a.step(ctx, func(ctx context.Context) error { return op(ctx, RelayLeaseKey, a.relayToken, lease) })
	if err != nil && a.lease.held {
		// Lost it (expired while we were slow): try to take it again.
		err = a.step(ctx, func(ctx context.Context) error {
			return a.d.Locker.Acquire(ctx, RelayLeaseKey, a.relayToken, lease)
		})
	}
	a.lease.held = err == nil
	a.lease.other = errors.Is(err, domain.ErrLockBusy)
	a.lease.askAt = now.Add(lease / 3)
	return a.lease.held, a.lease.other
}

func (a *App) relay(ctx context.Context) (int, error) {
	sent := 0
	for {
		var evs []domain.Event
		if err := a.step(ctx, func(ctx context.Context) error {
			var err error
			evs, err = a.d.Outbox.Unpublished(ctx, a.cfg.RelayBatch)
			return err
		}); err != nil {
			return sent, fmt.Errorf("relay: %w", err)
		}
		if len(evs) == 0 {
			a.metrics.OutboxLag(0)
			return sent, nil
		}
		// The oldest event still waiting, before the publish: a broker that
		// refuses every batch makes the lag grow round after round. (The
		// batch is in write order; its events were stamped by the clocks of
		// the instances that wrote them.)
		oldest := evs[0].At
		for _, e := range evs[1:] {
			if e.At.Before(oldest) {
				oldest = e.At
			}
		}
		a.metrics.OutboxLag(a.now().Sub(oldest))
		if err := a.step(ctx, func(ctx context.Context) error { return a.d.Publisher.Publish(ctx, evs...) }); err != nil {
			return sent, fmt.Errorf("relay publish: %w", err)
		}
		ids := make([]string, len(evs))
		for i, e := range evs {
			ids[i] = e.ID
		}
		if err := a.step(ctx, func(ctx context.Context) error { return a.d.Outbox.MarkPublished(ctx, ids) }); err != nil {
			return sent, fmt.Errorf("relay mark: %w", err)
		}
		sent += len(evs)
		a.metrics.Add(ports.CounterEventsPublished, len(evs))
	}
}

// RunBackground runs the relay (woken by saga writes, at most once per
// Config.RelayPace, and every interval), the reaper and recovery until ctx ends. Errors are logged and
// retried on the next round: each of the three is idempotent.
func (a *App) RunBackground(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var (
		lastRelay time.Time
		paced     *time.Timer // a round woken by writes, held back to the pace
		due       <-chan time.Time
	)
	defer func() {
		if paced != nil {
			paced.Stop()
		}
	}()
	relay := func() {
		a.logRound("relay", a.RelayEvents)
		lastRelay = time.Now()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.published:
			if due != nil {
				continue // a round is already due
			}
			wait := a.cfg.RelayPace - time.Since(lastRelay)
			if wait <= 0 {
				relay()
				continue
			}
			if paced == nil {
				paced = time.NewTimer(wait)
			} else {
				paced.Reset(wait)
			}
			due = paced.C
		case <-due:
			due = nil
			relay()
		case <-t.C:
			a.logRound("recover", a.RecoverStale)
			a.logRound("reap", a.ReapExpired)
			relay()
		}
	}
}

// Drain publishes what the outbox holds, for a clean shutdown, whoever
// holds the relay lease.
func (a *App) Drain(ctx context.Context) error {
	_, err := a.relay(ctx)
	return err
}

func (a *App) logRound(name string, f func(context.Context) (int, error)) {
	n, err := f(context.Background())
	if err != nil {
		a.log.Warn(name, "n", n, "err", err) // background rounds have no request context
	} else if n > 0 && name != "relay" {
		a.log.Info(name, "n", n)
	}
}
