// Package ports declares the roles flashsale's use cases need from the world.
//
// Each interface is small and named by role. Every method's doc comment is
// its contract: which errors it returns (the sentinels of package domain),
// whether it is idempotent, and that it is safe for concurrent use (all of
// them are, unless a comment says otherwise). Contract suites for every port
// live in ports/porttest and run against each adapter.
//
// Every method takes a context; adapters honour its deadline and return an
// error wrapping domain.ErrUnavailable when a dependency does not answer.
package ports

import (
	"context"
	"errors"
	"time"

	"github.com/flashsale/flashsale/domain"
)

// Clock tells the time. Use cases never read the wall clock directly, so a
// simulation can drive time.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
}

// IDs makes identifiers.
type IDs interface {
	// NewID returns an identifier that has never been returned before and
	// satisfies domain ID validation (at most 64 characters of
	// [A-Za-z0-9._-]). Lock tokens are made with it too, so production
	// implementations must be unguessable.
	NewID() string
}

// Inventory is the stock gate every purchase passes: it holds reservations
// keyed by saga ID, each with a deadline, and keeps stock and reserved per
// product with 0 <= reserved <= stock at all times.
type Inventory interface {
	// Reserve holds r.Qty units of r.ProductID for r.SagaID until r.Deadline,
	// atomically: if stock - reserved < qty it changes nothing and returns
	// domain.ErrInsufficientStock. It returns domain.ErrProductNotFound when
	// the product has no stock record. Idempotent by (product, saga ID):
	// calling it again for the same saga and product changes nothing and
	// returns the first call's answer (nil or domain.ErrInsufficientStock),
	// except that once the reservation has been released it returns
	// domain.ErrReservationReleased (a released reservation is never handed
	// out again), and a call with another quantity returns
	// domain.ErrIdempotencyMismatch. Consumed and refused records are
	// remembered for a retention window (a day by default) longer than any
	// retry; a saga ID reused for another product is another record.
	Reserve(ctx context.Context, r domain.Reservation) error
	// Confirm consumes the saga's held reservation as a sale: reserved and
	// stock both go down by its quantity, together. It returns nil if the
	// reservation is confirmed now or was confirmed before (idempotent),
	// domain.ErrReservationReleased if it was released, and
	// domain.ErrReservationNotFound if the saga never reserved.
	Confirm(ctx context.Context, product domain.ProductID, saga domain.SagaID) error
	// Release consumes the saga's held reservation without a sale: reserved
	// goes down. It returns nil if it released now. Otherwise it changes
	// nothing and says why: domain.ErrReservationReleased (released before),
	// domain.ErrReservationConfirmed (it was sold; never undo that), or
	// domain.ErrReservationNotFound (unknown saga).
	Release(ctx context.Context, product domain.ProductID, saga domain.SagaID) error
	// Level returns the product's stock and reserved counts, or
	// domain.ErrProductNotFound.
	Level(ctx context.Context, product domain.ProductID) (domain.StockLevel, error)
}

// InventoryReaper is the optional capability the reaper uses.
type InventoryReaper interface {
	// Expired returns up to limit held reservations whose deadline is at or
	// before now, oldest deadline first. It changes nothing: the caller
	// decides (from durable saga state) whether each is confirmed or released.
	Expired(ctx context.Context, now time.Time, limit int) ([]domain.Reservation, error)
}

// InventoryLoader sets the gate's stock from the durable catalog.
type InventoryLoader interface {
	// AddStock adds delta (>= 0) to the product's stock, creating its stock
	// record at delta if it has none. Not idempotent: call it once per supply.
	AddStock(ctx context.Context, product domain.ProductID, delta int64) error
	// SetStock overwrites the product's stock (creating the record), leaving
	// reserved and held reservations as they are. It is for loading at start
	// and for reconciliation at rest.
	SetStock(ctx context.Context, product domain.ProductID, stock int64) error
}

// VersionedReserver is the optional capability the optimistic strategy
// uses: a reservation applied only if the product's stock record still has
// the version the caller read (with Inventory.Level).
type VersionedReserver interface {
	// ReserveIfVersion is Reserve, applied only when the product's stock
	// version equals version; otherwise it changes nothing and returns
	// domain.ErrConflict. Idempotent by saga ID like Reserve.
	ReserveIfVersion(ctx context.Context, r domain.Reservation, version int64) error
}

// FreshReserver is the optional capability of an Inventory whose Reserve
// also tells a reservation it took from an earlier answer it replayed. A
// keyed purchase then learns whether it is a retry from its reservation
// itself, with no lookup before it (ReservationLookup is left to the
// sold-out fast path).
type FreshReserver interface {
	// ReserveFresh is Reserve, reporting fresh = true when this call took
	// the units and false when it replayed an earlier Reserve of the saga
	// (held or consumed). Its errors are Reserve's.
	ReserveFresh(ctx context.Context, r domain.Reservation) (fresh bool, err error)
}

// BatchConfirmer is the optional capability of an Inventory that confirms
// the reservations of many sagas of one product in one call: a hot
// product's purchases settle the gate together, as their sales were
// committed together.
type BatchConfirmer interface {
	// ConfirmAll is Confirm of each saga's reservation of product, in one
	// call: errs[i] is what Confirm would have returned for sagas[i]. A
	// non-nil err is the call's own failure (an unknown outcome for every
	// saga, as a failed Confirm's).
	ConfirmAll(ctx context.Context, product domain.ProductID, sagas []domain.SagaID) (errs []error, err error)
}

// ReservationLookup is the optional capability of an Inventory that tells,
// without changing anything, whether it holds or remembers a saga's
// reservation of a product. The sold-out fast path asks it before it answers
// an idempotent request from memory: a key whose saga already reserved must
// get its saga's answer (a replayed order), never "sold out".
type ReservationLookup interface {
	// HasReservation reports whether the gate has a record of saga's
	// Reserve of product: held, confirmed, released or refused, for as long
	// as Reserve remembers it (its retention).
	HasReservation(ctx context.Context, product domain.ProductID, saga domain.SagaID) (bool, error)
}

// BatchLookup is the optional capability of a ReservationLookup that
// answers for many sagas of one product in one call: the keyed requests
// that reach a sold-out product at the same moment ask the gate together.
type BatchLookup interface {
	// HasReservations is HasReservation of each saga, in order.
	HasReservations(ctx context.Context, product domain.ProductID, sagas []domain.SagaID) ([]bool, error)
}

// Locker hands out exclusive, expiring locks identified by a key. A holder
// proves ownership with the token it acquired with.
type Locker interface {
	// Acquire takes key for token for ttl, or returns domain.ErrLockBusy at
	// once if anyone (including the same token) holds it.
	Acquire(ctx context.Context, key, token string, ttl time.Duration) error
	// Release frees key if token still holds it; otherwise it changes nothing
	// and returns domain.ErrLockLost (never freeing another holder's lock).
	Release(ctx context.Context, key, token string) error
	// Extend resets key's ttl if token still holds it; otherwise it returns
	// domain.ErrLockLost.
	Extend(ctx context.Context, key, token string, ttl time.Duration) error
}

// Catalog is the durable product store.
type Catalog interface {
	// Product returns the product or domain.ErrProductNotFound.
	Product(ctx context.Context, id domain.ProductID) (domain.Product, error)
	// Products returns all products ordered by ID.
	Products(ctx context.Context) ([]domain.Product, error)
	// Supply creates or restocks a product (domain.Supply.Apply) under a
	// version check and returns the stored product.
	Supply(ctx context.Context, s domain.Supply) (domain.Product, error)
}

// ProductCache caches product details (cache-aside).
type ProductCache interface {
	// Get returns the cached product and true, or false on a miss.
	Get(ctx context.Context, id domain.ProductID) (domain.Product, bool, error)
	// Set caches p for ttl.
	Set(ctx context.Context, p domain.Product, ttl time.Duration) error
	// Delete drops the entry; deleting a missing entry is not an error.
	Delete(ctx context.Context, id domain.ProductID) error
}

// SagaStore is the durable saga log. A saga record carries its order (they
// share one record and one version) and its event timeline, which doubles
// as the outbox: events are stored in the same write as the state they
// describe.
type SagaStore interface {
	// Create stores a new saga at version 1 (its order too). It returns
	// domain.ErrDuplicate if a saga with the same ID exists (and changes
	// nothing). A saga created with its order already CONFIRMED takes the
	// product's stock down as Update does (domain.Sold).
	Create(ctx context.Context, s *domain.Saga) error
	// Update loads the saga, applies fn to it and stores the result only if
	// the stored version is still the one loaded, bumping the version; on a
	// lost race it reloads and applies fn again, a bounded number of times,
	// then returns domain.ErrConflict. If fn returns an error nothing is
	// stored and that error is returned. The product's durable stock goes
	// down by domain.Sold(loaded, result) in the same write, and the write
	// fails with domain.ErrInsufficientStock if the stock would go negative.
	// Returns domain.ErrSagaNotFound for an unknown ID.
	Update(ctx context.Context, id domain.SagaID, fn func(*domain.Saga) error) (*domain.Saga, error)
	// Saga returns a copy of the saga or domain.ErrSagaNotFound.
	Saga(ctx context.Context, id domain.SagaID) (*domain.Saga, error)
	// Stale returns up to limit IDs of unfinished sagas whose lease ended at
	// or before now (domain.Saga.Stale), oldest lease first.
	Stale(ctx context.Context, now time.Time, limit int) ([]domain.SagaID, error)
}

// SagaBatchWriter is the optional capability of a SagaStore that stores
// many sagas in one durable write: the moves of many sagas of one product,
// so a hot product pays its stock row's lock and the commit's fsync once
// per group of sales instead of once per sale, and the creation of many
// sagas, so a crowd's first commits share their fsyncs too.
type SagaBatchWriter interface {
	// WriteAll stores every change in one atomic write: all of them or none.
	// Each change is a saga as the caller holds it (Prev, whose Version is
	// the stored version) and what it becomes (Next: Prev after domain
	// transitions; same ID, a timeline only extended). The write checks
	// every Prev.Version, appends each saga's new events to the outbox, and
	// takes the product's durable stock down once by the sum of
	// domain.Sold(Prev, Next), guarded by domain.Product.Sell. It returns
	// the stored sagas, in the order of changes, as a later Saga call
	// returns them.
	//
	// Errors, with nothing stored: domain.ErrInvalidInput (no change, or
	// changes of more than one product, or a saga twice);
	// domain.ErrSagaNotFound; domain.ErrConflict when any saga is no longer
	// at its Prev.Version (the caller falls back to Update per saga);
	// domain.ErrInsufficientStock when the stock cannot cover the sum. An
	// error wrapping domain.ErrUnavailable leaves the outcome unknown, but
	// the same for every change: all were stored or none.
	WriteAll(ctx context.Context, changes []SagaChange) ([]*domain.Saga, error)
	// CreateAll stores new sagas, of any products, in one atomic write: all
	// or none, each as Create would (version 1, its events into the outbox).
	// It writes no stock: a saga that sells at creation (domain.Sold(nil, s)
	// > 0) is domain.ErrInvalidInput. Errors, with nothing stored:
	// domain.ErrInvalidInput (none given, a saga twice, a malformed saga);
	// domain.ErrDuplicate when any saga ID or order ID exists already, or
	// an order ID is given twice; domain.ErrConflict when the write kept
	// losing a race (a deadlock) past its retries. On either the caller
	// falls back to Create per saga, which tells each its own answer. An error wrapping domain.ErrUnavailable leaves the outcome
	// unknown, but the same for every saga: all were stored or none.
	CreateAll(ctx context.Context, sagas []*domain.Saga) error
}

// SagaChange is one saga's move in a SagaBatchWriter.WriteAll.
type SagaChange struct {
	Prev, Next *domain.Saga
}

// GroupProduct checks changes as SagaBatchWriter.WriteAll requires them and
// returns their one product, or an error matching domain.ErrInvalidInput:
// no change, a change without both sagas, one that changes the saga's ID,
// more than one product, or a saga twice. Adapters call it first.
func GroupProduct(changes []SagaChange) (domain.ProductID, error) {
	if len(changes) == 0 {
		return "", domain.Invalid("changes", "must not be empty")
	}
	var product domain.ProductID
	seen := make(map[domain.SagaID]bool, len(changes))
	for i, c := range changes {
		if c.Prev == nil || c.Next == nil {
			return "", domain.Invalid("changes", "change %d lacks its Prev or Next saga", i)
		}
		if i == 0 {
			product = c.Next.ProductID
		}
		if c.Next.ID != c.Prev.ID {
			return "", domain.Invalid("changes", "change %d moves saga %s to ID %s", i, c.Prev.ID, c.Next.ID)
		}
		if c.Next.ProductID != product || c.Prev.ProductID != product {
			return "", domain.Invalid("changes", "sagas of products %s and %s in one write", product, c.Next.ProductID)
		}
		if seen[c.Next.ID] {
			return "", domain.Invalid("changes", "saga %s twice in one write", c.Next.ID)
		}
		seen[c.Next.ID] = true
	}
	return product, nil
}

// OrderReader finds orders by their own ID.
type OrderReader interface {
	// SagaOfOrder returns the saga that owns the order, or
	// domain.ErrOrderNotFound.
	SagaOfOrder(ctx context.Context, id domain.OrderID) (*domain.Saga, error)
}

// EventPublisher delivers saga events to subscribers (Kafka in production).
type EventPublisher interface {
	// Publish delivers events, in order, at least once. Events of one saga
	// keep their order; a redelivery carries the same event ID.
	Publish(ctx context.Context, events ...domain.Event) error
}

// EventTimeline is the saga timelines as a consumer of the published
// events saw them (the Kafka consumer in production).
type EventTimeline interface {
	// Timeline returns the saga's events in order, once each; empty when
	// the consumer has seen none.
	Timeline(saga domain.SagaID) []domain.Event
	// Source names where the events were read ("kafka"), for answers
	// that say where a timeline comes from.
	Source() string
}

// Outbox lists the saga events not yet published, for the relay.
type Outbox interface {
	// Unpublished returns up to limit events not yet marked published,
	// each saga's events in order, oldest first.
	Unpublished(ctx context.Context, limit int) ([]domain.Event, error)
	// MarkPublished marks the events with these IDs published, each with
	// the earlier events of its saga: the relay publishes each saga's
	// events in order, so the saga's published events are always a prefix
	// of its timeline (and a store may keep one mark per saga write).
	// IDs it does not hold are ignored. Idempotent.
	MarkPublished(ctx context.Context, ids []string) error
}

// Payments is the payment gateway.
type Payments interface {
	// Charge takes amount for the saga. Idempotent by saga ID: a second call
	// never charges again and returns the first call's answer. A refusal is
	// domain.ErrPaymentDeclined. Any other error (a timeout) leaves the
	// outcome unknown; the caller compensates with Refund, which is safe.
	Charge(ctx context.Context, saga domain.SagaID, amountMinor int64) error
	// Refund gives back the saga's charge, if there is one. It returns true if
	// the saga was charged (and is now refunded), false if it never was.
	// Idempotent: a second call refunds nothing more and answers the same.
	// A Refund that finds no charge voids the saga: a Charge arriving later
	// (a delayed retry) is refused with domain.ErrPaymentDeclined, so money
	// is never taken after the saga compensated.
	Refund(ctx context.Context, saga domain.SagaID) (charged bool, err error)
}

// Pinger is the optional capability /readyz uses: an adapter that talks to
// a server reports whether that server answers.
type Pinger interface {
	// Ping returns nil if the adapter's dependency answers within ctx's
	// deadline, or an error wrapping domain.ErrUnavailable.
	Ping(ctx context.Context) error
}

// Metrics receives what operators watch. Implementations are cheap, safe
// for concurrent use, and never fail: a metrics outage must not fail a
// purchase.
type Metrics interface {
	// PurchaseEnded records one purchase's outcome (see app.Outcome) and
	// how long it took.
	PurchaseEnded(strategy, outcome string, d time.Duration)
	// StepDone records one call of a saga step or compensation.
	StepDone(step string, d time.Duration, err error)
	// Add adds n to one of the Counter totals.
	Add(c Counter, n int)
	// OutboxLag records the age of the oldest unpublished event a relay
	// round read (before it publishes them), or 0 when the round found
	// none or another instance holds the relay lease. A round that cannot
	// read the outbox, or cannot tell who holds the lease, records nothing.
	OutboxLag(d time.Duration)
	// Compensated records a saga this instance moved to COMPENSATED, with
	// its product and its reason (one of app's Reason constants): by the
	// purchase that gave up, the recovery that took the saga over, or the
	// reaper that aborted a saga that never committed. It is called once
	// per saga: only the write that made the move reports it.
	Compensated(saga domain.SagaID, product domain.ProductID, reason string)
}

// Counter names a total that Metrics keeps.
type Counter string

// The counters.
const (
	CounterCacheHit            Counter = "cache_hit"
	CounterCacheMiss           Counter = "cache_miss"
	CounterNearCacheHit        Counter = "near_cache_hit"
	CounterSoldOutFromMemory   Counter = "sold_out_from_memory"
	CounterSaturated           Counter = "saturated"
	CounterConfirmGroups       Counter = "confirm_groups"
	CounterConfirmsGrouped     Counter = "confirms_grouped"
	CounterLockBusy            Counter = "lock_busy"
	CounterReservationsExpired Counter = "reservations_expired"
	CounterSagasRecovered      Counter = "sagas_recovered"
	CounterEventsPublished     Counter = "events_published"
	// CounterStaleReads counts product reads answered with the last level
	// read because the gate did not answer.
	CounterStaleReads Counter = "stale_reads"
)

// RequestMetrics receives one record per HTTP request.
type RequestMetrics interface {
	// RequestDone records a request: its route template ("" when no route
	// matched), method, status and duration.
	RequestDone(route, method string, status int, d time.Duration)
}

// Dependency names the role of a dependency that did not answer, as a
// client may be told it: never a technology or an address.
type Dependency string

// The dependencies a use case may find away.
const (
	DependencyInventory Dependency = "inventory" // the stock gate (Inventory)
	DependencyStore     Dependency = "store"     // the durable store: sagas, orders, catalog
	DependencyPayments  Dependency = "payments"  // the payment gateway
	DependencyLock      Dependency = "lock"      // the lock strategy's Locker
)

// UnavailableError is an error matching domain.ErrUnavailable that names
// the dependency which did not answer.
type UnavailableError struct {
	Dependency Dependency
	Err        error // matches domain.ErrUnavailable
}

func (e *UnavailableError) Error() string { return string(e.Dependency) + ": " + e.Err.Error() }

func (e *UnavailableError) Unwrap() error { return e.Err }

// UnavailableDependency returns the dependency an ErrUnavailable names,
// the first in err's chain; false when err names none.
func UnavailableDependency(err error) (Dependency, bool) {
	if ue, ok := errors.AsType[*UnavailableError](err); ok {
		return ue.Dependency, true
	}
	return "", false
}
