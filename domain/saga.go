package domain

import "time"

// SagaStatus is the saga's state:
// RUNNING -> COMPLETED, or RUNNING -> COMPENSATING -> COMPENSATED.
type SagaStatus string

// Saga states.
const (
	SagaRunning      SagaStatus = "RUNNING"
	SagaCompensating SagaStatus = "COMPENSATING"
	SagaCompleted    SagaStatus = "COMPLETED"
	SagaCompensated  SagaStatus = "COMPENSATED"
)

// Terminal reports whether s is an end state.
func (s SagaStatus) Terminal() bool { return s == SagaCompleted || s == SagaCompensated }

// Step names a forward step of the purchase saga. The saga's declaration
// (app.SagaSteps) orders them and gives each its compensation.
type Step string

// The saga's forward steps.
const (
	StepReserve     Step = "reserve"
	StepCreateOrder Step = "create_order"
	StepCharge      Step = "charge"
	StepConfirm     Step = "confirm" // the point of no return
)

// Saga is the purchase saga and its order: one aggregate, stored as one
// record, guarded by one version. Every transition is idempotent: applying
// it again changes nothing and emits no second event, so a retry, a
// duplicate delivery or a second recoverer is harmless.
//
// The saga becomes durable at its first commit (Start), after its
// reservation is held; before that its only effect is a reservation with a
// deadline, which the reaper reclaims if the saga never commits.
type Saga struct {
	ID          SagaID
	ProductID   ProductID
	Qty         int64
	AmountMinor int64
	Strategy    string
	Status      SagaStatus
	// Order is the saga's order; its ID is empty for a saga that was aborted
	// before it created one (see Abort).
	Order Order
	// Charged: the gateway accepted the charge. Refunded: a refund of that
	// charge was made. Released: the reservation was given back.
	Charged  bool
	Refunded bool
	Released bool
	Reason   string
	// ReservationDeadline is when the reaper may reclaim the reservation.
	ReservationDeadline time.Time
	// LeaseOwner runs the saga until LeaseUntil; after that any instance may
	// claim it (Claim) and drive it to an end.
	LeaseOwner string
	LeaseUntil time.Time
	StartedAt  time.Time
	UpdatedAt  time.Time
	// Events is the saga's whole timeline, in order.
	Events []Event
	// Version is the optimistic-lock version of the stored record.
	Version int64
}

// StartParams are the facts known when a saga's first commit happens.
type StartParams struct {
	ID          SagaID
	OrderID     OrderID
	ProductID   ProductID
	Qty         int64
	AmountMinor int64
	Strategy    string
	StartedAt   time.Time // when the purchase began (SagaStarted's time)
	ReservedAt  time.Time // when the reservation was taken
	Deadline    time.Time // the reservation's deadline
	LeaseOwner  string
	LeaseUntil  time.Time
	Now         time.Time
}

// eventsInALife is room for the events of a saga's longest life, so the
// saga Start returns records them without copying its timeline: three at
// the start, then a confirm's two or a compensation's up to four.
const eventsInALife = 8

// Start returns a RUNNING saga whose reservation is held and whose order is
// PENDING, with the events SagaStarted, InventoryReserved and OrderCreated.
func Start(p StartParams) (*Saga, error) {
	if err := p.ID.Validate(); err != nil {
		return nil, err
	}
	if err := p.OrderID.Validate(); err != nil {
		return nil, err
	}
	if p.Qty <= 0 {
		return nil, Invalid("qty", "must be positive")
	}
	s := &Saga{
		ID: p.ID, ProductID: p.ProductID, Qty: p.Qty, AmountMinor: p.AmountMinor,
		Strategy: p.Strategy, Status: SagaRunning,
		Order: Order{
			ID: p.OrderID, SagaID: p.ID, ProductID: p.ProductID, Qty: p.Qty,
			AmountMinor: p.AmountMinor, Status: OrderPending, CreatedAt: p.Now, UpdatedAt: p.Now,
		},
		ReservationDeadline: p.Deadline,
		LeaseOwner:          p.LeaseOwner, LeaseUntil: p.LeaseUntil,
		StartedAt: p.StartedAt, UpdatedAt: p.Now,
		Events: make([]Event, 0, eventsInALife),
	}
	s.emit(EventSagaStarted, p.StartedAt, "")
	s.emit(EventInventoryReserved, p.ReservedAt, "")
	s.emit(EventOrderCreated, p.Now, "")
	return s, nil
}

// Abort returns the record of a saga that reserved stock but never made its
// first commit: the reaper writes it, already COMPENSATED, before releasing
// the reservation. Because a saga record is unique by ID, the reaper's Abort
// and a late Start of the same saga cannot both be stored: whichever loses
// backs off, so a released reservation is never confirmed.
func Abort(r Reservation, reason string, now time.Time) *Saga {
	s := &Saga{
		ID: r.SagaID, ProductID: r.ProductID, Qty: r.Qty, Status: SagaCompensated,
		Released: true, Reason: reason, ReservationDeadline: r.Deadline,
		StartedAt: now, UpdatedAt: now,
		Events: make([]Event, 0, 4),
	}
	s.emit(EventSagaStarted, now, "")
	s.emit(EventInventoryReserved, now, "")
	s.emit(EventInventoryReleased, now, reason)
	s.emit(EventSagaCompensated, now, reason)
	return s
}

// HasOrder reports whether the saga created an order.
func (s *Saga) HasOrder() bool { return s.Order.ID != "" }

// Complete records the charge and confirms the order: PaymentProcessed and
// OrderConfirmed, and the saga is COMPLETED. It is the point of no return.
// Completing a completed saga is a no-op; completing any other state is
// ErrInvalidTransition (for example a saga a recoverer began to compensate).
func (s *Saga) Complete(now time.Time) error {
	switch s.Status {
	case SagaCompleted:
		return nil
	case SagaRunning:
	default:
		return ErrInvalidTransition
	}
	if _, err := s.Order.Confirm(now); err != nil {
		return err
	}
	s.Charged = true
	s.Status = SagaCompleted
	s.UpdatedAt = now
	s.emit(EventPaymentProcessed, now, "")
	s.emit(EventOrderConfirmed, now, "")
	return nil
}

// BeginCompensation moves a RUNNING saga to COMPENSATING with the reason.
// It is a no-op on a saga already compensating or compensated, and
// ErrInvalidTransition on a COMPLETED one.
func (s *Saga) BeginCompensation(reason string, now time.Time) error {
	switch s.Status {
	case SagaCompensating, SagaCompensated:
		return nil
	case SagaCompleted:
		return ErrInvalidTransition
	}
	s.Status = SagaCompensating
	s.Reason = reason
	s.UpdatedAt = now
	return nil
}

// RecordRefund records the outcome of the refund compensation. charged says
// whether the gateway held a charge for this saga (and has now refunded it);
// PaymentRefunded is emitted exactly once, and only then.
func (s *Saga) RecordRefund(charged bool, now time.Time) error {
	if s.Status != SagaCompensating {
		return s.compensationState()
	}
	if charged && !s.Refunded {
		s.Refunded = true
		s.UpdatedAt = now
		s.emit(EventPaymentRefunded, now, s.Reason)
	}
	return nil
}

// CancelOrder cancels the saga's PENDING order (OrderCancelled, once).
func (s *Saga) CancelOrder(now time.Time) error {
	if s.Status != SagaCompensating {
		return s.compensationState()
	}
	if !s.HasOrder() {
		return nil
	}
	changed, err := s.Order.Cancel(now)
	if err != nil {
		return err
	}
	if changed {
		s.UpdatedAt = now
		s.emit(EventOrderCancelled, now, s.Reason)
	}
	return nil
}

// FinishCompensation records the released reservation (InventoryReleased)
// and ends the saga COMPENSATED (SagaCompensated). It is a no-op on a
// compensated saga.
func (s *Saga) FinishCompensation(now time.Time) error {
	if s.Status == SagaCompensated {
		return nil
	}
	if s.Status != SagaCompensating {
		return ErrInvalidTransition
	}
	if s.HasOrder() && s.Order.Status != OrderCancelled {
		return ErrInvalidTransition // compensations run in reverse order
	}
	if !s.Released {
		s.Released = true
		s.emit(EventInventoryReleased, now, s.Reason)
	}
	s.Status = SagaCompensated
	s.UpdatedAt = now
	s.emit(EventSagaCompensated, now, s.Reason)
	return nil
}

func (s *Saga) compensationState() error {
	if s.Status == SagaCompensated {
		return nil // already done: a late duplicate is harmless
	}
	return ErrInvalidTransition
}

// Claim gives the saga to owner until until, if its lease has expired or
// owner already holds it. Stores apply Claim under a version check, so of
// two instances claiming at once exactly one wins.
func (s *Saga) Claim(owner string, now, until time.Time) error {
	if s.Status.Terminal() {
		return ErrInvalidTransition
	}
	if s.LeaseOwner != owner && now.Before(s.LeaseUntil) {
		return ErrConflict
	}
	s.LeaseOwner = owner
	s.LeaseUntil = until
	s.UpdatedAt = now
	return nil
}

// Stale reports whether the saga is unfinished and its lease has run out,
// so a recoverer should take it over.
func (s *Saga) Stale(now time.Time) bool {
	return !s.Status.Terminal() && !now.Before(s.LeaseUntil)
}

func (s *Saga) emit(t EventType, at time.Time, reason string) {
	seq := len(s.Events) + 1
	e := Event{
		ID: EventID(s.ID, seq), SagaID: s.ID, Seq: seq, Type: t, At: at,
		ProductID: s.ProductID, OrderID: s.Order.ID, Qty: s.Qty, Reason: reason,
	}
	if t == EventPaymentProcessed || t == EventPaymentRefunded {
		e.AmountMinor = s.AmountMinor
	}
	s.Events = append(s.Events, e)
}

// Clone returns a deep copy, so stores can hand out sagas without sharing
// the events slice.
func (s *Saga) Clone() *Saga {
	c := *s
	c.Events = append([]Event(nil), s.Events...)
	return &c
}

// Sold is the quantity of the saga's product that the move from prev to
// next sells: the order's quantity when the move confirms the order (prev is
// nil for a saga being created), otherwise 0. It is the one rule by which a
// store takes durable stock down: in the same write as the move, guarded by
// Product.Sell so stock never goes below zero.
func Sold(prev, next *Saga) int64 {
	if next == nil || !next.HasOrder() || next.Order.Status != OrderConfirmed {
		return 0
	}
	if prev != nil && prev.HasOrder() && prev.Order.Status == OrderConfirmed {
		return 0
	}
	return next.Order.Qty
}
