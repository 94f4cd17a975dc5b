package app

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// CrashPoint names a point of the saga where a test may simulate the death
// of the process (Hooks.Crash).
type CrashPoint string

// The crash points, in the order a saga passes them.
const (
	CrashAfterReserve       CrashPoint = "after_reserve"
	CrashAfterCreateOrder   CrashPoint = "after_create_order"
	CrashAfterCharge        CrashPoint = "after_charge"
	CrashInConfirmGroup     CrashPoint = "in_confirm_group"
	CrashAfterConfirm       CrashPoint = "after_confirm"
	CrashCompensateBegun    CrashPoint = "compensate_after_begin"
	CrashCompensateRefunded CrashPoint = "compensate_after_refund"
	CrashCompensateReleased CrashPoint = "compensate_after_release"
)

// crashPoints lists every crash point, in the order a saga passes them
// (derived from the saga's declaration, sagadef.go).
var crashPoints = crashPointsOf(purchaseSaga)

// CrashPoints returns the purchase saga's crash points (Hooks.Crash), in
// the order a saga passes them.
func CrashPoints() []CrashPoint { return slices.Clone(crashPoints) }

// ErrCrashed is returned by a saga stopped by Hooks.Crash.
var ErrCrashed = errors.New("simulated crash")

// Reasons recorded on compensated sagas. They are stable strings: clients
// and events carry them.
const (
	ReasonPaymentDeclined    = "payment_declined"
	ReasonPaymentFailed      = "payment_failed"
	ReasonStockShortAtCommit = "stock_short_at_confirm"
	ReasonConfirmFailed      = "confirm_failed"
	ReasonLeaseExpired       = "lease_expired"
	ReasonReservationExpired = "reservation_expired"
	ReasonReserveFailed      = "reserve_failed"
)

// CompensatedError reports a purchase that started a saga and was undone:
// nothing is charged and the stock is back. It wraps the cause.
type CompensatedError struct {
	Saga  *domain.Saga
	Cause error
}

func (e *CompensatedError) Error() string {
	return fmt.Sprintf("purchase %s compensated (%s): %v", e.Saga.ID, e.Saga.Reason, e.Cause)
}

func (e *CompensatedError) Unwrap() error { return e.Cause }

// SagaIDForKey derives the saga ID of an idempotent request from its
// Idempotency-Key, so that one key can never start two sagas (I5): even if
// the idempotency store forgets the key, the saga store's unique ID refuses
// a second saga.
func SagaIDForKey(key string) domain.SagaID {
	sum := sha256.Sum256([]byte(key))
	return domain.SagaID("k-" + hex.EncodeToString(sum[:16]))
}

// Receipt is a purchase's answer: its COMPLETED saga, and whether the
// answer (that saga, or the error of a saga that compensated) is a replay
// of an earlier request's with the same Idempotency-Key.
type Receipt struct {
	Saga     *domain.Saga
	Replayed bool
}

// Purchase is Buy for callers that need only the saga.
func (a *App) Purchase(ctx context.Context, req domain.PurchaseRequest, idempotencyKey string) (*domain.Saga, error) {
	r, err := a.Buy(ctx, req, idempotencyKey)
	return r.Saga, err
}

// Buy runs the purchase saga in the seed's order: reserve, create the
// order, charge, confirm. On any failure after the reservation the steps
// already done are compensated in reverse order (refund, cancel the order,
// release the reservation) before Buy returns.
//
// idempotencyKey may be empty. With a key, the saga ID is derived from it
// and the saga record is the key's record: its claim is the saga's first
// commit (saga IDs are unique), its answer is the saga's state, and a
// request whose saga already exists answers from it (Receipt.Replayed): the
// confirmed order again, its compensation, domain.ErrIdempotencyMismatch for
// another product or quantity, or domain.ErrRequestInProgress. Answers
// given before a saga exists (invalid input, unknown product, insufficient
// stock, saturation) are not records: like Stripe's, a request refused
// before it began executing may be sent again with the same key. (The gate
// remembers a refused reservation for its retention, so a refused key
// asking again is refused again while that lasts.)
//
// Before any dependency is touched, two answers come from memory: a
// product whose gate recently said it cannot cover this quantity is
// answered domain.ErrInsufficientStock (the sold-out fast path; see
// Config.SoldOutTTL), and a product with Config.MaxInFlightPerProduct
// purchases already running here is answered domain.ErrSaturated.
//
// It returns the COMPLETED saga, or an error: domain.ErrInvalidInput,
// domain.ErrProductNotFound, domain.ErrInsufficientStock,
// domain.ErrSaturated, domain.ErrLockBusy, domain.ErrContention,
// domain.ErrIdempotencyMismatch, domain.ErrRequestInProgress, a
// *CompensatedError (wrapping domain.ErrPaymentDeclined, for one), or an
// error wrapping domain.ErrUnavailable when a dependency failed and the
// saga was left for recovery to finish.
func (a *App) Buy(ctx context.Context, req domain.PurchaseRequest, idempotencyKey string) (r Receipt, err error) {
	ctx, span := a.span(ctx, "purchase")
	defer func() {
		outcome := Classify(err).Label()
		if span.IsRecording() {
			span.SetAttributes(attribute.String("flashsale.product_id", string(req.ProductID)),
				attribute.Int64("flashsale.qty", req.Qty), attribute.String("flashsale.outcome", outcome))
			if r.Saga != nil {
				span.SetAttributes(attribute.String("flashsale.saga_id", string(r.Saga.ID)),
					attribute.String("flashsale.order_id", string(r.Saga.Order.ID)), attribute.Bool("flashsale.replayed", r.Replayed))
			}
		}
		// A refusal (sold out, shed, a compensated sale) is the purchase's
		// answer, in its outcome attribute; the span fails only when the
		// purchase did (a dependency away, a crash, an unexpected error).
		switch outcome {
		case "unavailable", "error", "crashed":
			endSpan(span, err)
		default:
			endSpan(span, nil)
		}
	}()
	if err := req.Validate(a.cfg.MaxQtyPerOrder); err != nil {
		return Receipt{}, err
	}
	var id domain.SagaID
	if idempotencyKey != "" {
		id = SagaIDForKey(idempotencyKey)
	}
	// A key's saga may have reserved before (a retry). Where the sold-out
	// fast path would answer, or the reserve cannot tell a replay, ask the
	// gate first; otherwise the reserve tells (reserveFresh).
	began := a.now() // before the gate is asked: see run's began
	soldOut := a.adm.soldOutFor(req.ProductID, req.Qty, began)
	asked := id != "" && (soldOut || a.reserveFresh == nil)
	known := asked && a.gateKnows(ctx, req.ProductID, id)
	if soldOut && !known {
		a.metrics.Add(ports.CounterSoldOutFromMemory, 1)
		a.metrics.PurchaseEnded(string(a.cfg.Strategy), OutcomeInsufficientStock.Label(), 0)
		return Receipt{}, fmt.Errorf("purchase %s: sold out: %w", req.ProductID, domain.ErrInsufficientStock)
	}
	if !a.adm.enter(req.ProductID) {
		a.metrics.Add(ports.CounterSaturated, 1)
		a.metrics.PurchaseEnded(string(a.cfg.Strategy), OutcomeSaturated.Label(), 0)
		return Receipt{}, fmt.Errorf("purchase %s: %w", req.ProductID, domain.ErrSaturated)
	}
	defer a.adm.exit(req.ProductID)
	if id == "" {
		id = domain.SagaID(a.d.IDs.NewID())
	}

	ctx = a.withLogAttrs(ctx, slog.String("saga_id", string(id)))
	start := a.now()
	r, err = a.purchase(ctx, id, req, began, idempotencyKey != "", asked, known)
	o := Classify(err)
	outcome := o.Label()
	a.metrics.PurchaseEnded(string(a.cfg.Strategy), outcome, a.now().Sub(start))
	if o == OutcomeLockBusy {
		a.metrics.Add(ports.CounterLockBusy, 1)
	}
	level := slog.LevelInfo
	if o == OutcomeUnavailable || outcome == "error" {
		level = slog.LevelWarn
	}
	if !a.log.Enabled(ctx, level) {
		return r, err
	}
	attrs := []slog.Attr{slog.String("outcome", outcome), slog.Duration("duration", a.now().Sub(start)),
		slog.String("product", string(req.ProductID)), slog.Int64("qty", req.Qty), slog.String("strategy", string(a.cfg.Strategy))}
	if r.Saga != nil {
		attrs = append(attrs, slog.String("order_id", string(r.Saga.Order.ID)), slog.Bool("replayed", r.Replayed))
	}
	if err != nil {
		attrs = append(attrs, slog.String("err", err.Error()))
	}
	a.log.LogAttrs(ctx, level, "purchase", attrs...)
	return r, err
}

// gateKnows reports whether the gate has a record of saga's reservation of
// product (held, consumed or refused, within its retention): then the
// request is a retry, whose answer must come from its saga. When the gate
// cannot tell (no ReservationLookup, or it failed) it answers true, the
// careful side: the saga store is asked first.
func (a *App) gateKnows(ctx context.Context, product domain.ProductID, saga domain.SagaID) bool {
	lookup, ok := a.d.Inventory.(ports.ReservationLookup)
	if !ok {
		return true
	}
	var has bool
	err := a.step(ctx, func(ctx context.Context) error {
		var err error
		if a.lookups == nil {
			has, err = lookup.HasReservation(ctx, product, saga)
			return err
		}
		// With the product's other keyed requests of the moment, in one
		// call, which the leader's client going away must not end for
		// the others (it keeps the step's deadline).
		has, err = a.lookups.write(ctx, string(product), saga, func(lctx context.Context, sagas []domain.SagaID) ([]bool, error) {
			ctx, cancel := context.WithoutCancel(lctx), func() {}
			if deadline, ok := lctx.Deadline(); ok {
				ctx, cancel = context.WithDeadline(ctx, deadline)
			}
			defer cancel()
			answers, err := a.lookupAll.HasReservations(ctx, product, sagas)
			if err == nil && len(answers) != len(sagas) {
				err = fmt.Errorf("gate lookup: %d answers for %d sagas", len(answers), len(sagas))
			}
			return answers, err
		})
		return err
	})
	return err != nil || has
}

// purchase runs the saga. keyed says the saga ID comes from an
// Idempotency-Key; asked, that the gate was asked whether it has a record
// of it, and known its answer (a retry).
func (a *App) purchase(ctx context.Context, id domain.SagaID, req domain.PurchaseRequest, began time.Time, keyed, asked, known bool) (Receipt, error) {
	if keyed && known {
		// A retry: its saga, if it has one, is the answer (a MySQL read
		// that only retries pay).
		if r, err := a.existing(ctx, id, req); !errors.Is(err, domain.ErrSagaNotFound) {
			return r, err
		}
	}
	// The saga runs to its end even if the client goes away: stopping
	// half-way would leave work for recovery for no reason.
	ctx, cancel := a.withTimeout(detached(ctx), a.cfg.SagaTimeout)
	defer cancel()

	// The price, from the near cache or the product cache: a purchase of a
	// cached product reads no database. The saga records the amount it
	// charges (ARCHITECTURE.md, "Prices").
	product, err := a.productDetails(ctx, req.ProductID, false)
	if err != nil {
		return Receipt{}, fmt.Errorf("purchase: %w", unavailableFrom(ports.DependencyStore, err))
	}
	if product.PriceMinor > 0 && req.Qty > math.MaxInt64/product.PriceMinor {
		return Receipt{}, domain.Invalid("qty", "order amount overflows")
	}

	exit, err := a.guard.Enter(ctx, req.ProductID)
	if err != nil {
		return Receipt{}, unavailableFrom(ports.DependencyLock, err)
	}
	fresh := freshUnknown
	switch {
	case keyed && !asked:
		fresh = freshFromReserve
	case keyed && !known:
		fresh = freshYes
	}
	startedAt := a.now()
	r, err := a.run(ctx, &sagaRun{
		id: id, req: req, product: product, began: began, fresh: fresh, own: fresh == freshYes, startedAt: startedAt,
		res: domain.Reservation{SagaID: id, ProductID: req.ProductID, Qty: req.Qty, Deadline: startedAt.Add(a.cfg.ReservationTTL)},
	})
	if !errors.Is(err, ErrCrashed) {
		exit() // a crashed process releases nothing: its lock runs out its TTL
	}
	return r, err
}

// existing answers a repeated idempotent purchase from its saga.
func (a *App) existing(ctx context.Context, id domain.SagaID, req domain.PurchaseRequest) (Receipt, error) {
	s, err := a.storedSaga(ctx, id)
	if err != nil {
		return Receipt{}, err
	}
	return answer(s, req)
}

// storedSaga reads a saga within one step's timeout.
func (a *App) storedSaga(ctx context.Context, id domain.SagaID) (*domain.Saga, error) {
	ctx, cancel := a.withTimeout(ctx, a.cfg.StepTimeout)
	defer cancel()
	return a.d.Sagas.Saga(ctx, id)
}

// answer is what a saga tells a request with its Idempotency-Key: the
// saga's outcome if the request is the saga's own, 422 if its body is
// another's, 409 while the saga runs.
func answer(s *domain.Saga, req domain.PurchaseRequest) (Receipt, error) {
	if s.ProductID != req.ProductID || s.Qty != req.Qty {
		return Receipt{}, domain.ErrIdempotencyMismatch
	}
	switch s.Status {
	case domain.SagaCompleted:
		return Receipt{Saga: s, Replayed: true}, nil
	case domain.SagaCompensated:
		return Receipt{Replayed: true}, &CompensatedError{Saga: s, Cause: causeOf(s.Reason)}
	}
	return Receipt{}, domain.ErrRequestInProgress
}

// causeOf is the error a compensated saga answers with again.
func causeOf(reason string) error {
	if reason == ReasonPaymentDeclined {
		return domain.ErrPaymentDeclined
	}
	return errors.New(reason)
}

// freshness says what a purchase knows of whether the reservation it will
// hold is its own, rather than one an earlier request with its key took.
type freshness int

const (
	freshUnknown     freshness = iota // not keyed, or a retry the gate knew
	freshYes                          // the gate had no record when the request began
	freshFromReserve                  // the reserve tells (App.reserveFresh)
)

// settleGate confirms the gate's reservation of a durable sale: in one call
// with the product's other sales settling at the moment, when the
// inventory can (a hot product's confirms are committed in groups, and
// settle in groups the same way), else alone.
func (a *App) settleGate(ctx context.Context, product domain.ProductID, id domain.SagaID) error {
	if a.settles == nil {
		return a.d.Inventory.Confirm(ctx, product, id)
	}
	answer, err := a.settles.write(ctx, string(product), id, func(ctx context.Context, ids []domain.SagaID) ([]error, error) {
		errs, err := a.confirmAll.ConfirmAll(ctx, product, ids)
		if err == nil && len(errs) != len(ids) {
			err = fmt.Errorf("settle the gate: %d answers for %d sagas", len(errs), len(ids))
		}
		return errs, err
	})
	if err != nil {
		return err
	}
	return answer
}

// create makes the saga's first commit: in a group with other purchases'
// creations when the store can write groups, else (and when its group was
// refused as a whole, say for one duplicate ID) alone.
func (a *App) create(ctx context.Context, s *domain.Saga) error {
	if a.batch != nil {
		_, err := a.creates.write(ctx, "", ports.SagaChange{Next: s}, func(ctx context.Context, changes []ports.SagaChange) ([]*domain.Saga, error) {
			sagas := make([]*domain.Saga, len(changes))
			for i, c := range changes {
				sagas[i] = c.Next
			}
			return nil, a.timed(ctx, stepCreateGroup, func(ctx context.Context) error { return a.batch.CreateAll(ctx, sagas) })
		})
		if !errors.Is(err, domain.ErrDuplicate) && !errors.Is(err, domain.ErrInvalidInput) && !errors.Is(err, domain.ErrConflict) {
			return err
		}
	}
	return a.step(ctx, func(ctx context.Context) error { return a.d.Sagas.Create(ctx, s) })
}

// confirm completes the created saga s: in a group of the product's
// confirms when the store can write groups, else (and when its group was
// refused as a whole) alone, by a version-checked Update.
func (a *App) confirm(ctx context.Context, s *domain.Saga) (done *domain.Saga, err error) {
	ctx, span := a.span(ctx, "saga.confirm")
	defer func() { endSpan(span, err) }()
	if a.batch != nil {
		next := s.Clone()
		if err := next.Complete(a.now()); err != nil {
			return nil, err
		}
		stampTrace(ctx, next.Events[len(s.Events):])
		start := a.now()
		done, err := a.confirms.write(ctx, string(s.ProductID), ports.SagaChange{Prev: s, Next: next},
			func(ctx context.Context, changes []ports.SagaChange) ([]*domain.Saga, error) {
				a.metrics.Add(ports.CounterConfirmGroups, 1)
				a.metrics.Add(ports.CounterConfirmsGrouped, len(changes))
				var out []*domain.Saga
				err := a.timed(ctx, stepConfirmGroup, func(ctx context.Context) error {
					var err error
					out, err = a.batch.WriteAll(ctx, changes)
					if err == nil && len(out) != len(changes) {
						// Unknown outcome for every member: recovery settles them.
						err = fmt.Errorf("confirm group: %d sagas stored for %d changes: %w", len(out), len(changes), domain.ErrUnavailable)
					}
					return err
				})
				return out, err
			})
		a.metrics.StepDone(string(domain.StepConfirm), a.now().Sub(start), err)
		if !errors.Is(err, domain.ErrConflict) && !errors.Is(err, domain.ErrInsufficientStock) {
			return done, err
		}
		// Refused as a whole: a member's saga moved (a recoverer took it
		// over) or the stock cannot cover every member. Each finds out
		// alone which it is.
	}
	err = a.measured(ctx, string(domain.StepConfirm), func(ctx context.Context) error {
		var err error
		done, err = a.update(ctx, s.ID, func(s *domain.Saga) error { return s.Complete(a.now()) })
		return err
	})
	return done, err
}

// noteShort is told the gate refused req for insufficient stock. It arms
// the sold-out fast path after checking the gate's level: a remembered
// refusal replayed to a retried key says nothing about the stock now, and
// must not turn other buyers away.
func (a *App) noteShort(ctx context.Context, req domain.PurchaseRequest) {
	at := a.now()
	var level domain.StockLevel
	if err := a.step(ctx, func(ctx context.Context) error {
		var err error
		level, err = a.d.Inventory.Level(ctx, req.ProductID)
		return err
	}); err != nil {
		return
	}
	if avail := level.Available(); avail < req.Qty {
		a.adm.markSoldOut(req.ProductID, max(avail, 0)+1, at)
	}
}

// releaseIfOrphan gives back the reservation this request took for a key
// whose saga had ended before the request began, with the gate's record of
// it forgotten (past its retention, or lost in a Redis failover): that
// reservation is this request's own (fresh), not the saga's sale, and the
// reaper, seeing a COMPLETED saga, would confirm it and take the gate's
// stock down twice. That holds whatever the request's body: a request that
// reuses the key with another body (422) must not keep stock held either.
// A saga still running, or one that ended after this request began (a
// concurrent duplicate), keeps whatever it holds.
func (a *App) releaseIfOrphan(ctx context.Context, res domain.Reservation, fresh bool, startedAt time.Time, s *domain.Saga) {
	if !fresh || !s.Status.Terminal() || !s.UpdatedAt.Before(startedAt) {
		return
	}
	if err := a.settle(ctx, res, a.d.Inventory.Release); err != nil {
		a.log.WarnContext(ctx, "release a replay's own reservation; the reaper will settle it", "err", err)
	}
}

// stockReturned is told this instance gave stock of product back to the
// gate (a released reservation): what memory says about it is stale.
func (a *App) stockReturned(product domain.ProductID) {
	a.adm.stockMayHaveReturned(product)
	a.near.forgetLevel(product)
}

// abortUncommitted gives back the reservation of a saga that has not
// committed, through the same fence as the reaper (abortAndRelease), so a
// concurrent request with the same key cannot commit on a released
// reservation. A failure leaves the reservation to the reaper.
func (a *App) abortUncommitted(ctx context.Context, r domain.Reservation) {
	if _, err := a.abortAndRelease(ctx, r, ReasonReserveFailed); err != nil {
		a.log.WarnContext(ctx, "abort uncommitted reservation; the reaper will retry", "err", err)
	}
}

// step runs one call to a dependency under the step timeout, reporting a
// deadline as domain.ErrUnavailable.
func (a *App) step(ctx context.Context, call func(context.Context) error) error {
	sctx, cancel := a.withTimeout(ctx, a.cfg.StepTimeout)
	defer cancel()
	err := call(sctx)
	if err != nil && sctx.Err() != nil && !errors.Is(err, domain.ErrUnavailable) {
		return fmt.Errorf("%w: %w", domain.ErrUnavailable, err)
	}
	return err
}

func (a *App) crash(id domain.SagaID, at CrashPoint) bool {
	return at != "" && a.hooks.Crash != nil && a.hooks.Crash(id, at)
}

func (a *App) notifyRelay() {
	select {
	case a.published <- struct{}{}:
	default:
	}
}

// Order returns the saga that owns an order (the order, its saga status and
// its events), read from the durable store so it never lags a purchase.
func (a *App) Order(ctx context.Context, id domain.OrderID) (*domain.Saga, error) {
	if err := id.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := a.withTimeout(ctx, a.cfg.StepTimeout)
	defer cancel()
	s, err := a.d.Orders.SagaOfOrder(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("order %s: %w", id, err)
	}
	return s, nil
}

// SagaEvents returns a saga's event timeline from the durable store (the
// outbox), or domain.ErrSagaNotFound.
func (a *App) SagaEvents(ctx context.Context, id domain.SagaID) ([]domain.Event, error) {
	if err := id.Validate(); err != nil {
		return nil, err
	}
	ctx, cancel := a.withTimeout(ctx, a.cfg.StepTimeout)
	defer cancel()
	s, err := a.d.Sagas.Saga(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("saga %s: %w", id, err)
	}
	return s.Events, nil
}
