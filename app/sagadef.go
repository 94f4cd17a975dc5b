package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// The purchase saga, declared once. Each step names itself (the step
// metric's label and the span saga.<name>), the dependency it calls (named
// in a 503 when it does not answer), its crash points, the event that
// records it, its action and its compensation. The engine (sagaengine.go)
// runs the declaration forward and compensates it in reverse; the crash
// points and each name's dependency are derived from it, and tests hold
// ARCHITECTURE.md's step table and the events a saga records to it.
//
// A step added to the purchase (a receipt, a coupon) is one more entry here
// with its action and compensation, plus the port it calls and that port's
// adapters; TestAFourthStepIsOneEntry shows it.

// SagaStep is one forward step of the purchase saga.
type SagaStep struct {
	Name       domain.Step
	Dependency ports.Dependency
	// CrashInside is a crash point within the step (a group write that
	// dies with every member), CrashAfter the one once it is done; "" for
	// none.
	CrashInside, CrashAfter CrashPoint
	// Event is the event in the saga's timeline that records the step
	// done, "" when the timeline does not record it. The domain emits the
	// events when the saga is written (domain.Start, Saga.Complete), in
	// the steps' order.
	Event domain.EventType
	// Compensation undoes the step; nil for the point of no return (the
	// first step without one) and the steps after it.
	Compensation *SagaCompensation

	// The step's behaviour, run by the engine (App.run) in this order:
	//   - prepare, optional, runs first, unmeasured: it may end the saga,
	//     or return the context the later steps run in;
	//   - act is the call to the dependency, measured under Name within
	//     the step timeout (unless measuresItself: the confirm's group
	//     write measures itself);
	//   - failed decides what an error of act means. It is required up to
	//     the first commit (firstCommit), where nothing is stored to
	//     compensate from; without it, a step before the point of no
	//     return compensates (reason "<name>_failed"), and a step after it
	//     leaves the sale standing, its failure logged and measured;
	//   - done, optional, runs once act succeeded, before CrashAfter;
	//   - then, optional, runs past CrashAfter and may end the saga.
	// firstCommit marks the step whose success stores the saga: from then
	// on the saga can be compensated (and recovered). A step before it has
	// no stored saga to be compensated from, neither by this request nor
	// by recovery: what it holds must run out by itself when the saga is
	// never stored, as the reservation does at its deadline (the reaper).
	firstCommit    bool
	prepare        func(a *App, ctx context.Context, r *sagaRun) (context.Context, *ending)
	act            func(a *App, ctx context.Context, r *sagaRun) error
	measuresItself bool
	failed         func(a *App, ctx context.Context, r *sagaRun, err error) *ending
	done           func(a *App, r *sagaRun)
	then           func(a *App, ctx context.Context, r *sagaRun) *ending
}

// SagaCompensation is a step's compensation. Compensations run in the
// reverse order of their steps, every one of them whatever step the saga
// reached (a recoverer does not know which it reached), so each must be
// idempotent and a no-op for a step that never ran.
type SagaCompensation struct {
	Name       string
	Dependency ports.Dependency
	CrashAfter CrashPoint
	// Event is the event in the saga's timeline that records it, "" for
	// none.
	Event domain.EventType

	undo func(a *App, ctx context.Context, c *compRun) error
}

// The compensations' names.
const (
	compRelease     = "release"
	compCancelOrder = "cancel_order"
	compRefund      = "refund"
)

// The runner's bookkeeping around the steps, measured like them: the
// group writes that carry the create and confirm steps, the gate's settle
// after the point of no return, and the writes that begin and finish a
// compensation.
const (
	stepCreateGroup        = "create_group"
	stepConfirmGroup       = "confirm_group"
	stepSettleGate         = "settle_gate"
	stepBeginCompensation  = "begin_compensation"
	stepFinishCompensation = "finish_compensation"
)

var purchaseSaga = []SagaStep{
	{
		Name: domain.StepReserve, Dependency: ports.DependencyInventory, CrashAfter: CrashAfterReserve,
		Event: domain.EventInventoryReserved,
		act:   (*App).reserve, failed: (*App).reserveFailed, done: (*App).reserved, then: (*App).replayedReservation,
		Compensation: &SagaCompensation{
			Name: compRelease, Dependency: ports.DependencyInventory, CrashAfter: CrashCompensateReleased,
			Event: domain.EventInventoryReleased, undo: (*App).release,
		},
	},
	{
		Name: domain.StepCreateOrder, Dependency: ports.DependencyStore, CrashAfter: CrashAfterCreateOrder,
		Event:       domain.EventOrderCreated,
		firstCommit: true, prepare: (*App).startSaga, act: (*App).createOrder, failed: (*App).createFailed, done: (*App).created,
		// The cancel is one write with the refund's record, so the crash
		// point after it is named for the refund.
		Compensation: &SagaCompensation{
			Name: compCancelOrder, Dependency: ports.DependencyStore, CrashAfter: CrashCompensateRefunded,
			Event: domain.EventOrderCancelled, undo: (*App).cancelOrder,
		},
	},
	{
		Name: domain.StepCharge, Dependency: ports.DependencyPayments, CrashAfter: CrashAfterCharge,
		Event: domain.EventPaymentProcessed,
		act:   (*App).charge, failed: (*App).chargeFailed,
		Compensation: &SagaCompensation{
			Name: compRefund, Dependency: ports.DependencyPayments,
			Event: domain.EventPaymentRefunded, undo: (*App).refund,
		},
	},
	{
		Name: domain.StepConfirm, Dependency: ports.DependencyStore, CrashInside: CrashInConfirmGroup, CrashAfter: CrashAfterConfirm,
		Event: domain.EventOrderConfirmed,
		act:   (*App).confirmOrder, measuresItself: true, failed: (*App).confirmFailed, done: (*App).confirmed, then: (*App).settleConfirmed,
	},
}

var bookkeeping = map[string]ports.Dependency{
	stepCreateGroup: ports.DependencyStore, stepConfirmGroup: ports.DependencyStore,
	stepSettleGate: ports.DependencyInventory, stepBeginCompensation: ports.DependencyStore,
	stepFinishCompensation: ports.DependencyStore,
}

// SagaSteps returns the purchase saga's declaration, in order.
func SagaSteps() []SagaStep { return slices.Clone(purchaseSaga) }

// checkSaga refuses a declaration the engine cannot run safely: one
// without exactly one first commit, or without a point of no return after
// it; a step without an action; a step up to the first commit that does
// not answer its own failures (nothing is stored yet to compensate from);
// a compensation without its undo.
func checkSaga(steps []SagaStep) error {
	commit, pnr := -1, pointOfNoReturn(steps)
	for i, s := range steps {
		switch {
		case s.act == nil:
			return fmt.Errorf("saga step %s has no action", s.Name)
		case s.Compensation != nil && s.Compensation.undo == nil:
			return fmt.Errorf("saga step %s: its compensation %s has no undo", s.Name, s.Compensation.Name)
		case s.firstCommit && commit >= 0:
			return fmt.Errorf("saga steps %s and %s both make the first commit", steps[commit].Name, s.Name)
		case s.firstCommit:
			commit = i
		}
		if commit < 0 || s.firstCommit {
			if s.failed == nil {
				return fmt.Errorf("saga step %s comes before the saga is stored and must answer its own failures", s.Name)
			}
		}
	}
	if commit < 0 {
		return errors.New("the saga has no first commit")
	}
	if pnr <= commit || pnr == len(steps) {
		return errors.New("the saga has no point of no return after its first commit")
	}
	return nil
}

// pointOfNoReturn is the index of the first step without a compensation,
// len(steps) if none.
func pointOfNoReturn(steps []SagaStep) int {
	for i, s := range steps {
		if s.Compensation == nil {
			return i
		}
	}
	return len(steps)
}

// crashPointsOf lists a declaration's crash points in the order a saga
// passes them: each step's inside and after, then the compensation's
// begin and each compensation's, in reverse step order.
func crashPointsOf(steps []SagaStep) []CrashPoint {
	var out []CrashPoint
	add := func(p CrashPoint) {
		if p != "" {
			out = append(out, p)
		}
	}
	for _, s := range steps {
		add(s.CrashInside)
		add(s.CrashAfter)
	}
	add(CrashCompensateBegun)
	for _, s := range slices.Backward(steps) {
		if s.Compensation != nil {
			add(s.Compensation.CrashAfter)
		}
	}
	return out
}

// dependenciesOf maps every name a runner of steps measures to the
// dependency it calls.
func dependenciesOf(steps []SagaStep) map[string]ports.Dependency {
	m := make(map[string]ports.Dependency, 2*len(steps)+len(bookkeeping))
	for _, s := range steps {
		m[string(s.Name)] = s.Dependency
		if s.Compensation != nil {
			m[s.Compensation.Name] = s.Compensation.Dependency
		}
	}
	for name, dep := range bookkeeping {
		m[name] = dep
	}
	return m
}

// Step 1: reserve, with the strategy's reserver.

func (a *App) reserve(ctx context.Context, r *sagaRun) error {
	if r.fresh != freshFromReserve {
		return a.reserver.Reserve(ctx, r.res)
	}
	var err error
	r.own, err = a.reserveFresh(ctx, r.res)
	return err
}

func (a *App) reserveFailed(ctx context.Context, r *sagaRun, err error) *ending {
	if errors.Is(err, domain.ErrInsufficientStock) {
		a.noteShort(ctx, r.req)
	}
	if errors.Is(err, domain.ErrReservationReleased) {
		// A saga with this ID (an earlier request with the same key)
		// reserved and was undone: its record is the answer.
		if rc, xerr := a.existing(ctx, r.id, r.req); !errors.Is(xerr, domain.ErrSagaNotFound) {
			return endWith(rc, xerr)
		}
		return endWith(Receipt{}, fmt.Errorf("reserve: %w", err))
	}
	if errors.Is(err, domain.ErrUnavailable) {
		// The reserve may have applied before the error (a timeout): give
		// it back now rather than at its deadline.
		a.abortUncommitted(ctx, r.res)
	}
	return endWith(Receipt{}, fmt.Errorf("reserve: %w", err))
}

func (a *App) reserved(r *sagaRun) { a.near.forgetLevel(r.req.ProductID) }

// replayedReservation answers a retry whose reserve replayed an earlier
// request's with its key from that request's saga, once stored. Not stored
// yet (that request is between its reserve and its first commit, or died
// there): this one goes on with the reservation, as a retry the gate knew
// does.
func (a *App) replayedReservation(ctx context.Context, r *sagaRun) *ending {
	if r.fresh != freshFromReserve || r.own {
		return nil
	}
	if rc, err := a.existing(ctx, r.id, r.req); !errors.Is(err, domain.ErrSagaNotFound) {
		return endWith(rc, err)
	}
	return nil
}

// Step 2: create the order. This is the saga's first commit, carrying
// SagaStarted, InventoryReserved and OrderCreated.

func (a *App) startSaga(ctx context.Context, r *sagaRun) (context.Context, *ending) {
	now := a.now()
	s, err := domain.Start(domain.StartParams{
		ID: r.id, OrderID: domain.OrderID(a.d.IDs.NewID()), ProductID: r.req.ProductID, Qty: r.req.Qty,
		AmountMinor: r.product.PriceMinor * r.req.Qty, Strategy: string(a.cfg.Strategy),
		StartedAt: r.startedAt, ReservedAt: now, Deadline: r.res.Deadline,
		LeaseOwner: a.cfg.InstanceID, LeaseUntil: now.Add(a.cfg.LeaseTTL), Now: now,
	})
	if err != nil {
		a.abortUncommitted(ctx, r.res)
		return ctx, endWith(Receipt{}, fmt.Errorf("create order: %w", err))
	}
	r.saga = s
	return a.withLogAttrs(ctx, slog.String("order_id", string(s.Order.ID))), nil
}

func (a *App) createOrder(ctx context.Context, r *sagaRun) error {
	stampTrace(ctx, r.saga.Events) // the step's span: the commit carries them
	return a.create(ctx, r.saga)
}

func (a *App) createFailed(ctx context.Context, r *sagaRun, err error) *ending {
	if !errors.Is(err, domain.ErrDuplicate) {
		// The commit may or may not have happened. If it did, recovery
		// compensates it after its lease; if not, the reaper aborts it at
		// the reservation's deadline. Releasing here could release the
		// reservation of a committed saga, so do neither.
		return endWith(Receipt{}, fmt.Errorf("create order: %w", err))
	}
	// The reaper aborted this saga (its reservation expired before we got
	// here), a concurrent request with the same key won, or the key's saga
	// ended long ago. The stored saga is the answer.
	stored, xerr := a.storedSaga(ctx, r.id)
	if xerr != nil {
		return endWith(Receipt{}, xerr)
	}
	a.releaseIfOrphan(ctx, r.res, r.own, r.began, stored)
	return endWith(answer(stored, r.req))
}

func (a *App) created(r *sagaRun) {
	r.saga.Version = 1 // as Create stored it (ports.SagaStore)
	a.notifyRelay()
}

// Step 3: charge.

func (a *App) charge(ctx context.Context, r *sagaRun) error {
	return a.d.Payments.Charge(ctx, r.id, r.saga.AmountMinor)
}

func (a *App) chargeFailed(_ context.Context, _ *sagaRun, err error) *ending {
	reason := ReasonPaymentFailed
	if errors.Is(err, domain.ErrPaymentDeclined) {
		reason = ReasonPaymentDeclined
	}
	return compensateFor(reason, fmt.Errorf("charge: %w", err))
}

// Step 4: confirm: the order CONFIRMED and the durable stock down, in one
// version-checked write (the point of no return), grouped with other
// confirms of the product when the store can.

func (a *App) confirmOrder(ctx context.Context, r *sagaRun) error {
	var err error
	r.done, err = a.confirm(ctx, r.saga)
	return err
}

func (a *App) confirmFailed(_ context.Context, _ *sagaRun, err error) *ending {
	switch {
	case errors.Is(err, domain.ErrInsufficientStock):
		return compensateFor(ReasonStockShortAtCommit, fmt.Errorf("confirm: %w", err))
	case errors.Is(err, domain.ErrInvalidTransition):
		// A recoverer took the saga over (we outlived our lease) and is
		// compensating it.
		return endWith(Receipt{}, fmt.Errorf("confirm: saga taken over by recovery: %w", domain.ErrUnavailable))
	}
	// Unknown outcome: the write may have landed. Recovery settles it.
	return endWith(Receipt{}, fmt.Errorf("confirm: %w", err))
}

func (a *App) confirmed(*sagaRun) { a.notifyRelay() }

// settleConfirmed lets the gate forget the reservation of a durable sale.
// If this fails the reaper confirms it at its deadline (the saga is
// COMPLETED, so it is never released).
func (a *App) settleConfirmed(ctx context.Context, r *sagaRun) *ending {
	if err := a.timed(ctx, stepSettleGate, func(ctx context.Context) error {
		return a.settleGate(ctx, r.req.ProductID, r.id)
	}); err != nil {
		a.log.ErrorContext(ctx, "confirm reservation after commit; the reaper will retry", "err", err)
	}
	return nil
}

// The compensations, which the engine runs in reverse order.

// refund undoes the charge. It is asked even when the charge's answer was
// an error: a timed-out charge may have been taken.
func (a *App) refund(ctx context.Context, c *compRun) error {
	var err error
	c.charged, err = a.d.Payments.Refund(ctx, c.id)
	return err
}

// cancelOrder undoes the order, recorded with the refund in one write.
func (a *App) cancelOrder(ctx context.Context, c *compRun) error {
	s, err := a.update(ctx, c.id, func(s *domain.Saga) error {
		if err := s.RecordRefund(c.charged, a.now()); err != nil {
			return err
		}
		return s.CancelOrder(a.now())
	})
	if err == nil {
		c.saga = s
	}
	return err
}

// release undoes the reservation. ErrReservationConfirmed would mean the
// gate sold stock for a saga that never completed: it refuses to go on.
func (a *App) release(ctx context.Context, c *compRun) error {
	err := a.d.Inventory.Release(ctx, c.saga.ProductID, c.id)
	if err != nil && !errors.Is(err, domain.ErrReservationReleased) && !errors.Is(err, domain.ErrReservationNotFound) {
		return err
	}
	a.stockReturned(c.saga.ProductID)
	return nil
}
