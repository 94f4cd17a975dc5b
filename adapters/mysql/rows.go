package mysql

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"gorm.io/plugin/optimisticlock"

	"github.com/flashsale/flashsale/domain"
)

// The GORM models. Their time fields are deliberately not named CreatedAt
// or UpdatedAt: GORM would fill those from its own clock, and the
// optimisticlock plugin skips auto-update-time fields when it rewrites an
// update, so the adapter sets every time itself.

type productRow struct {
	ID         string                 `gorm:"column:id;primaryKey"`
	Name       string                 `gorm:"column:name"`
	PriceMinor int64                  `gorm:"column:price_minor"`
	Stock      int64                  `gorm:"column:stock"`
	Version    optimisticlock.Version `gorm:"column:version"`
	Created    time.Time              `gorm:"column:created_at"`
	Updated    time.Time              `gorm:"column:updated_at"`
}

func (productRow) TableName() string { return "products" }

func (r productRow) product() domain.Product {
	return domain.Product{
		ID: domain.ProductID(r.ID), Name: r.Name, PriceMinor: r.PriceMinor, Stock: r.Stock,
		Version: r.Version.Int64, UpdatedAt: fromDBTime(r.Updated),
	}
}

// sagaRow is a saga and its order: one row, one version.
type sagaRow struct {
	ID                  string                 `gorm:"column:id;primaryKey"`
	OrderID             sql.NullString         `gorm:"column:order_id"`
	ProductID           string                 `gorm:"column:product_id"`
	Qty                 int64                  `gorm:"column:qty"`
	AmountMinor         int64                  `gorm:"column:amount_minor"`
	Strategy            string                 `gorm:"column:strategy"`
	Status              string                 `gorm:"column:status"`
	OrderStatus         sql.NullString         `gorm:"column:order_status"`
	Charged             bool                   `gorm:"column:charged"`
	Refunded            bool                   `gorm:"column:refunded"`
	Released            bool                   `gorm:"column:released"`
	Reason              string                 `gorm:"column:reason"`
	ReservationDeadline time.Time              `gorm:"column:reservation_deadline"`
	LeaseOwner          string                 `gorm:"column:lease_owner"`
	LeaseUntil          time.Time              `gorm:"column:lease_until"`
	Started             time.Time              `gorm:"column:started_at"`
	Updated             time.Time              `gorm:"column:updated_at"`
	OrderCreated        sql.NullTime           `gorm:"column:order_created_at"`
	OrderUpdated        sql.NullTime           `gorm:"column:order_updated_at"`
	EventCount          int                    `gorm:"column:event_count"`
	Version             optimisticlock.Version `gorm:"column:version"`
}

func (sagaRow) TableName() string { return "sagas" }

// writeRow is one write's events of a saga's timeline (and of the outbox):
// the events one transaction added to the saga, in seq order, as a JSON
// array. The table's auto-increment write position, pos, is mapped only to
// be read: the database assigns it.
type writeRow struct {
	Pos          uint64       `gorm:"column:pos;primaryKey;->"`
	SagaID       string       `gorm:"column:saga_id"`
	FirstSeq     int          `gorm:"column:first_seq"`
	LastSeq      int          `gorm:"column:last_seq"`
	Events       []byte       `gorm:"column:events"`
	PublishedSeq int          `gorm:"column:published_seq"`
	PublishedAt  sql.NullTime `gorm:"column:published_at"`
}

func (writeRow) TableName() string { return "saga_event_writes" }

var sagaStatuses = map[domain.SagaStatus]bool{
	domain.SagaRunning: true, domain.SagaCompensating: true, domain.SagaCompleted: true, domain.SagaCompensated: true,
}

var orderStatuses = map[domain.OrderStatus]bool{
	domain.OrderPending: true, domain.OrderConfirmed: true, domain.OrderCancelled: true,
}

// toSagaRow maps s to its row (version left to the caller). The row has one
// product, quantity and amount for saga and order, so an order that does not
// belong to its saga exactly cannot be stored: that is ErrInvalidInput, never
// a silent change.
func toSagaRow(s *domain.Saga) (sagaRow, error) {
	if err := s.ID.Validate(); err != nil {
		return sagaRow{}, err
	}
	if !sagaStatuses[s.Status] {
		return sagaRow{}, domain.Invalid("status", "unknown saga status %q", s.Status)
	}
	if len(s.Events) > 0 && (s.Events[0].Seq != 1 || s.Events[len(s.Events)-1].Seq != len(s.Events)) {
		return sagaRow{}, domain.Invalid("events", "must be numbered 1..n")
	}
	r := sagaRow{
		ID: string(s.ID), ProductID: string(s.ProductID), Qty: s.Qty, AmountMinor: s.AmountMinor,
		Strategy: s.Strategy, Status: string(s.Status), Charged: s.Charged, Refunded: s.Refunded,
		Released: s.Released, Reason: s.Reason, LeaseOwner: s.LeaseOwner, EventCount: len(s.Events),
	}
	var err error
	for _, f := range []struct {
		dst *time.Time
		src time.Time
	}{
		{&r.ReservationDeadline, s.ReservationDeadline}, {&r.LeaseUntil, s.LeaseUntil},
		{&r.Started, s.StartedAt}, {&r.Updated, s.UpdatedAt},
	} {
		if *f.dst, err = toDBTime(f.src); err != nil {
			return sagaRow{}, err
		}
	}
	o := s.Order
	if !s.HasOrder() {
		if o != (domain.Order{}) {
			return sagaRow{}, domain.Invalid("order", "an order without an ID cannot be stored")
		}
		return r, nil
	}
	if err := o.ID.Validate(); err != nil {
		return sagaRow{}, err
	}
	if o.SagaID != s.ID || o.ProductID != s.ProductID || o.Qty != s.Qty || o.AmountMinor != s.AmountMinor {
		return sagaRow{}, domain.Invalid("order", "must have its saga's ID, product, qty and amount")
	}
	if !orderStatuses[o.Status] {
		return sagaRow{}, domain.Invalid("order.status", "unknown order status %q", o.Status)
	}
	r.OrderID = sql.NullString{String: string(o.ID), Valid: true}
	r.OrderStatus = sql.NullString{String: string(o.Status), Valid: true}
	created, err := toDBTime(o.CreatedAt)
	if err != nil {
		return sagaRow{}, err
	}
	updated, err := toDBTime(o.UpdatedAt)
	if err != nil {
		return sagaRow{}, err
	}
	r.OrderCreated = sql.NullTime{Time: created, Valid: true}
	r.OrderUpdated = sql.NullTime{Time: updated, Valid: true}
	return r, nil
}

// saga rebuilds the aggregate from its row and its events.
func (r sagaRow) saga(events []domain.Event) *domain.Saga {
	s := &domain.Saga{
		ID: domain.SagaID(r.ID), ProductID: domain.ProductID(r.ProductID), Qty: r.Qty,
		AmountMinor: r.AmountMinor, Strategy: r.Strategy, Status: domain.SagaStatus(r.Status),
		Charged: r.Charged, Refunded: r.Refunded, Released: r.Released, Reason: r.Reason,
		ReservationDeadline: fromDBTime(r.ReservationDeadline), LeaseOwner: r.LeaseOwner,
		LeaseUntil: fromDBTime(r.LeaseUntil), StartedAt: fromDBTime(r.Started),
		UpdatedAt: fromDBTime(r.Updated), Events: events, Version: r.Version.Int64,
	}
	if r.OrderID.Valid {
		s.Order = domain.Order{
			ID: domain.OrderID(r.OrderID.String), SagaID: s.ID, ProductID: s.ProductID, Qty: s.Qty,
			AmountMinor: s.AmountMinor, Status: domain.OrderStatus(r.OrderStatus.String), Version: s.Version,
			CreatedAt: fromDBTime(r.OrderCreated.Time), UpdatedAt: fromDBTime(r.OrderUpdated.Time),
		}
	}
	return s
}

// stored returns s as a later load will return it: times in UTC to the
// microsecond, events as their JSON payload keeps them.
func stored(s *domain.Saga, version int64) (*domain.Saga, error) {
	r, err := toSagaRow(s)
	if err != nil {
		return nil, err
	}
	r.Version = optimisticlock.Version{Int64: version, Valid: true}
	events := make([]domain.Event, len(s.Events))
	for i, e := range s.Events {
		events[i] = storedEvent(e)
	}
	if len(events) == 0 {
		events = nil
	}
	return r.saga(events), nil
}

// storedEvent is e as its JSON payload gives it back: JSON keeps the
// nanoseconds; the location becomes UTC.
func storedEvent(e domain.Event) domain.Event {
	e.At = e.At.UTC()
	return e
}

// toWriteRows makes the rows of one saga write that adds events (consecutive
// seqs of one saga, as toSagaRow checks the whole timeline): one row, none
// for no events.
func toWriteRows(saga domain.SagaID, events []domain.Event) ([]writeRow, error) {
	if len(events) == 0 {
		return nil, nil
	}
	stored := make([]eventJSON, len(events))
	for i, e := range events {
		stored[i] = toEventJSON(storedEvent(e))
	}
	payload, err := json.Marshal(stored)
	if err != nil {
		return nil, fmt.Errorf("events of %s: %w", saga, err)
	}
	first, last := events[0].Seq, events[len(events)-1].Seq
	return []writeRow{{SagaID: string(saga), FirstSeq: first, LastSeq: last, Events: payload, PublishedSeq: first - 1}}, nil
}

// decodeEvents reads a write's events back.
func decodeEvents(payload []byte) ([]domain.Event, error) {
	var stored []eventJSON
	if err := json.Unmarshal(payload, &stored); err != nil {
		return nil, fmt.Errorf("decode events: %w", err)
	}
	es := make([]domain.Event, len(stored))
	for i, e := range stored {
		es[i] = storedEvent(e.event())
	}
	return es, nil
}

// DATETIME holds years 1000 to 9999 to the microsecond; the zero time.Time
// (year 1) is stored as the smallest DATETIME, so it still sorts first (a
// lease that never started is over; an aborted saga has none).
var (
	minDBTime = time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC)
	maxDBTime = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
)

// dbTime is t as a DATETIME(6) column keeps it.
func dbTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func toDBTime(t time.Time) (time.Time, error) {
	if t.IsZero() {
		return minDBTime, nil
	}
	t = dbTime(t)
	if !t.After(minDBTime) || t.After(maxDBTime) {
		return time.Time{}, domain.Invalid("time", "%s is outside the years 1000 to 9999", t.Format(time.RFC3339))
	}
	return t, nil
}

func fromDBTime(t time.Time) time.Time {
	if !t.After(minDBTime) {
		return time.Time{}
	}
	return dbTime(t)
}
