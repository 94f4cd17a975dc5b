package app

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/flashsale/flashsale/ports"
)

// Config tunes the use cases. Zero fields take the defaults of DefaultConfig.
type Config struct {
	// Strategy keeps concurrent buyers of one product apart.
	Strategy Strategy
	// InstanceID names this process in saga leases; unique per process.
	InstanceID string
	// MaxQtyPerOrder bounds one purchase.
	MaxQtyPerOrder int64
	// StepTimeout bounds every call to a dependency.
	StepTimeout time.Duration
	// SagaTimeout bounds a purchase's forward path; past it the saga
	// compensates. It must be shorter than LeaseTTL.
	SagaTimeout time.Duration
	// LeaseTTL is how long a saga's runner owns it; after that any instance
	// may recover it.
	LeaseTTL time.Duration
	// ReservationTTL sets a reservation's deadline. It must be longer than
	// LeaseTTL so that a reservation outlives its saga's lease.
	ReservationTTL time.Duration
	// LockTTL is the lock strategy's lock lifetime (the seed: 30 s).
	LockTTL time.Duration
	// OptimisticRetries bounds the optimistic strategy's compare-and-set retries.
	OptimisticRetries int
	// CacheTTL is the product cache's entry lifetime (the seed: 300 s).
	CacheTTL time.Duration
	// BatchSize bounds each round of the reaper and recovery.
	BatchSize int
	// MaxInFlightPerProduct bounds the purchases of one product running at
	// once on this instance; past it a purchase is refused at once with
	// ErrSaturated, before it touches any dependency. Negative: no bound.
	MaxInFlightPerProduct int
	// SoldOutTTL is how long a gate's "insufficient stock" answer is reused
	// from memory for later purchases of the same product asking as much or
	// more (the sold-out fast path). This instance's own restocks and
	// releases drop it at once; another instance's are seen within it.
	// Negative: off.
	SoldOutTTL time.Duration
	// NearCacheTTL is how long product details and the gate's available
	// count are served from this process's memory in front of the cache
	// and the gate. It bounds how stale a read's available count (which
	// says its age) and a purchase's price can be. Negative: off.
	NearCacheTTL time.Duration
	// StaleLevelTTL is how old the last gate level this instance read may
	// be and still answer a product read when the gate does not answer (a
	// Redis failover): the read then says so (ProductView.AvailableStale)
	// and how old it is (AvailableAsOf). Negative: such reads fail.
	StaleLevelTTL time.Duration
	// MaxConfirmGroup bounds how many confirms of one product (and how
	// many creations of sagas) are committed in one durable write, when the
	// store can write groups.
	MaxConfirmGroup int
	// RelayLease, when positive and a Locker is wired, makes one instance
	// at a time relay the outbox: the one holding the relay lease, which it
	// renews every round and another instance takes over this long after
	// it stopped renewing. Zero: every instance relays every round (the
	// events are the same; consumers drop the duplicates).
	RelayLease time.Duration
	// RelayPace is the shortest time from one relay round to the next
	// round woken by a saga write (rounds of the background interval are
	// not held back). Under load a round then relays what a pace's worth
	// of writes stored, in a few statements and one mark commit, rather
	// than a round, and a durable mark, per write. Negative: every write
	// wakes a round.
	RelayPace time.Duration
	// RelayBatch bounds the events of one outbox read, one publish and one
	// mark: a busy relay's rounds cost a few statements, not one per
	// BatchSize events (each mark is a durable commit).
	RelayBatch int
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Strategy:          StrategyNone,
		InstanceID:        "flashsale",
		MaxQtyPerOrder:    10,
		StepTimeout:       2 * time.Second,
		SagaTimeout:       10 * time.Second,
		LeaseTTL:          30 * time.Second,
		ReservationTTL:    60 * time.Second,
		LockTTL:           30 * time.Second,
		OptimisticRetries: 16,
		CacheTTL:          300 * time.Second,
		BatchSize:         100,

		MaxInFlightPerProduct: 256,
		SoldOutTTL:            time.Second,
		NearCacheTTL:          500 * time.Millisecond,
		StaleLevelTTL:         time.Minute,
		MaxConfirmGroup:       256,
		RelayPace:             100 * time.Millisecond,
		RelayBatch:            1000,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	c.Strategy = cmp.Or(c.Strategy, d.Strategy)
	c.InstanceID = cmp.Or(c.InstanceID, d.InstanceID)
	c.MaxQtyPerOrder = cmp.Or(c.MaxQtyPerOrder, d.MaxQtyPerOrder)
	c.StepTimeout = cmp.Or(c.StepTimeout, d.StepTimeout)
	c.SagaTimeout = cmp.Or(c.SagaTimeout, d.SagaTimeout)
	c.LeaseTTL = cmp.Or(c.LeaseTTL, d.LeaseTTL)
	c.ReservationTTL = cmp.Or(c.ReservationTTL, d.ReservationTTL)
	c.LockTTL = cmp.Or(c.LockTTL, d.LockTTL)
	c.OptimisticRetries = cmp.Or(c.OptimisticRetries, d.OptimisticRetries)
	c.CacheTTL = cmp.Or(c.CacheTTL, d.CacheTTL)
	c.BatchSize = cmp.Or(c.BatchSize, d.BatchSize)
	c.MaxInFlightPerProduct = cmp.Or(c.MaxInFlightPerProduct, d.MaxInFlightPerProduct)
	c.SoldOutTTL = cmp.Or(c.SoldOutTTL, d.SoldOutTTL)
	c.NearCacheTTL = cmp.Or(c.NearCacheTTL, d.NearCacheTTL)
	c.StaleLevelTTL = cmp.Or(c.StaleLevelTTL, d.StaleLevelTTL)
	c.MaxConfirmGroup = cmp.Or(c.MaxConfirmGroup, d.MaxConfirmGroup)
	c.RelayPace = cmp.Or(c.RelayPace, d.RelayPace)
	c.RelayBatch = cmp.Or(c.RelayBatch, d.RelayBatch)
	return c
}

// Validate reports the first inconsistent setting.
func (c Config) Validate() error {
	if _, err := ParseStrategy(string(c.Strategy)); err != nil {
		return err
	}
	var errs []error
	for name, d := range map[string]time.Duration{
		"step timeout": c.StepTimeout, "saga timeout": c.SagaTimeout, "lease ttl": c.LeaseTTL,
		"reservation ttl": c.ReservationTTL, "lock ttl": c.LockTTL, "cache ttl": c.CacheTTL,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %s", name, d))
		}
	}
	if c.MaxQtyPerOrder <= 0 || c.MaxQtyPerOrder > 1_000_000 {
		errs = append(errs, fmt.Errorf("max qty per order must be between 1 and 1000000, got %d", c.MaxQtyPerOrder))
	}
	if c.MaxConfirmGroup <= 0 {
		errs = append(errs, fmt.Errorf("max confirm group must be positive, got %d", c.MaxConfirmGroup))
	}
	if c.OptimisticRetries < 0 || c.BatchSize <= 0 || c.RelayBatch <= 0 {
		errs = append(errs, errors.New("optimistic retries must be >= 0, batch size and relay batch > 0"))
	}
	if c.SagaTimeout >= c.LeaseTTL {
		errs = append(errs, fmt.Errorf("saga timeout (%s) must be shorter than the lease ttl (%s), or a live saga could be recovered under its runner", c.SagaTimeout, c.LeaseTTL))
	}
	if c.ReservationTTL <= c.LeaseTTL {
		errs = append(errs, fmt.Errorf("reservation ttl (%s) must be longer than the lease ttl (%s)", c.ReservationTTL, c.LeaseTTL))
	}
	return errors.Join(errs...)
}

// Deps are the ports the use cases run on. Locker is needed only by the
// lock strategy; Logger defaults to discarding.
type Deps struct {
	Clock     ports.Clock
	IDs       ports.IDs
	Inventory ports.Inventory
	Locker    ports.Locker
	Catalog   ports.Catalog
	Cache     ports.ProductCache
	Sagas     ports.SagaStore
	Orders    ports.OrderReader
	Outbox    ports.Outbox
	Publisher ports.EventPublisher
	Payments  ports.Payments
	Logger    *slog.Logger
	// Metrics is optional; nil records nothing.
	Metrics ports.Metrics
	// Tracer is optional; nil traces nothing (OpenTelemetry's no-op
	// provider). See TracerName for the spans it gets.
	Tracer trace.TracerProvider
}

func (d Deps) check() error {
	var missing []string
	for name, v := range map[string]any{
		"Clock": d.Clock, "IDs": d.IDs, "Inventory": d.Inventory, "Catalog": d.Catalog,
		"Cache": d.Cache, "Sagas": d.Sagas, "Orders": d.Orders, "Outbox": d.Outbox,
		"Publisher": d.Publisher, "Payments": d.Payments,
	} {
		if v == nil || isNilInterface(v) {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("app: missing dependencies: %v", sorted(missing))
	}
	return nil
}
