package app

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/singleflight"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// App is the set of use cases wired to one set of ports. It is safe for
// concurrent use.
type App struct {
	d   Deps
	cfg Config
	// guard and reserver are the lock strategy's (StrategyDef.New).
	guard    Guard
	reserver Reserver
	// reserveFresh is the reserve telling a reservation it took from a
	// replayed one, or nil (a reserver that is no FreshReserver): with it
	// a keyed purchase needs no lookup of the gate before it reserves.
	reserveFresh func(context.Context, domain.Reservation) (bool, error)
	log          *slog.Logger

	// reads collapses concurrent cache misses of one product into one
	// catalog read; levels, concurrent gate reads of one product's level.
	reads  singleflight.Group
	levels singleflight.Group
	near   *nearCache
	adm    *admission
	// batch writes groups of sagas; nil when the saga store cannot. Then
	// confirms groups the confirms of each product, creates the creations.
	batch    ports.SagaBatchWriter
	confirms *groupWriter[ports.SagaChange, *domain.Saga]
	creates  *groupWriter[ports.SagaChange, *domain.Saga]
	// settles confirms the gate's reservations of one product's sales in
	// one call, when the inventory can (ports.BatchConfirmer); nil else.
	settles    *groupWriter[domain.SagaID, error]
	confirmAll ports.BatchConfirmer
	// lookups asks the gate about the keyed requests of one product
	// arriving together in one call (ports.BatchLookup); nil else.
	lookups   *groupWriter[domain.SagaID, bool]
	lookupAll ports.BatchLookup
	// relayToken proves this instance's hold of the relay lease; lease is
	// what this instance knows of it.
	relayToken string
	lease      struct {
		mu    sync.Mutex
		held  bool
		other bool      // the last ask found another instance holding it
		askAt time.Time // the next time the Locker is asked
	}
	// published wakes the relay after a saga's durable write.
	published chan struct{}
	hooks     Hooks
	// saga is the purchase saga's declaration (sagadef.go) that run and
	// compensate execute; dependencies names the dependency each step,
	// compensation and bookkeeping write calls.
	saga            []SagaStep
	dependencies    map[string]ports.Dependency
	pointOfNoReturn int // the index of saga's first step without a compensation
	metrics         ports.Metrics
	tracer          trace.Tracer // nil: no spans (span)
}

// Hooks let tests stop a saga at a chosen point, as if the process died
// there. Production code leaves them nil.
type Hooks struct {
	// Crash is consulted at every CrashPoint; returning true ends the saga
	// at once with ErrCrashed, skipping every later step and compensation.
	Crash func(saga domain.SagaID, at CrashPoint) bool
	// Await blocks until ch is closed; nil is a plain receive. A purchase
	// waiting for its confirm group uses it: the simulator makes it yield
	// to its scheduler instead of blocking it. When it is set the app also
	// stops collapsing concurrent reads of one product into one
	// (singleflight), whose waits it could not route through Await.
	Await func(ctx context.Context, ch <-chan struct{})
	// VirtualTime says the app runs on a virtual clock whose adapters
	// never block (the simulator): then it sets no real-time deadlines,
	// which could decide nothing there and cost a timer each.
	VirtualTime bool
}

// New wires the use cases. It fails fast on a missing dependency or an
// inconsistent configuration.
func New(d Deps, cfg Config, hooks Hooks) (*App, error) {
	cfg = cfg.withDefaults()
	if err := d.check(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	guard, reserver, err := newStrategy(cfg.Strategy, StrategyPorts{
		Inventory: d.Inventory, Locker: d.Locker, IDs: d.IDs, Logger: d.Logger, Config: cfg, VirtualTime: hooks.VirtualTime,
	})
	if err != nil {
		return nil, err
	}
	var reserveFresh func(context.Context, domain.Reservation) (bool, error)
	if fr, ok := reserver.(FreshReserver); ok {
		reserveFresh = fr.ReserveFresh
	}
	m := d.Metrics
	if m == nil || isNilInterface(m) {
		m = noMetrics{}
	}
	var tracer trace.Tracer
	if d.Tracer != nil && !isNilInterface(d.Tracer) {
		tracer = d.Tracer.Tracer(TracerName)
	}
	a := &App{d: d, cfg: cfg, tracer: tracer, guard: guard, reserver: reserver, reserveFresh: reserveFresh, log: d.Logger, published: make(chan struct{}, 1), hooks: hooks, metrics: m,
		near:       &nearCache{ttl: cfg.NearCacheTTL},
		adm:        &admission{limit: int64(cfg.MaxInFlightPerProduct), ttl: cfg.SoldOutTTL},
		relayToken: cfg.InstanceID + "-" + d.IDs.NewID()}
	if err := a.useSaga(purchaseSaga); err != nil {
		return nil, fmt.Errorf("the purchase saga's declaration: %w", err)
	}
	if w, ok := d.Sagas.(ports.SagaBatchWriter); ok {
		a.batch = w
		a.confirms = newGroupWriter[ports.SagaChange, *domain.Saga](cfg.MaxConfirmGroup, hooks, CrashInConfirmGroup, sagaOfChange)
		a.creates = newGroupWriter[ports.SagaChange, *domain.Saga](cfg.MaxConfirmGroup, hooks, "", sagaOfChange)
	}
	if bl, ok := d.Inventory.(ports.BatchLookup); ok {
		a.lookupAll = bl
		a.lookups = newGroupWriter[domain.SagaID, bool](cfg.MaxConfirmGroup, hooks, "", sagaOfID)
	}
	if bc, ok := d.Inventory.(ports.BatchConfirmer); ok {
		a.confirmAll = bc
		a.settles = newGroupWriter[domain.SagaID, error](cfg.MaxConfirmGroup, hooks, "", sagaOfID)
	}
	return a, nil
}

// useSaga makes steps the purchase saga's declaration that a runs, once
// checkSaga accepts it.
func (a *App) useSaga(steps []SagaStep) error {
	if err := checkSaga(steps); err != nil {
		return err
	}
	a.saga, a.dependencies, a.pointOfNoReturn = steps, dependenciesOf(steps), pointOfNoReturn(steps)
	return nil
}

// detached is context.WithoutCancel(ctx), or ctx itself when nothing can
// cancel it (no Done channel: no cancellation and no deadline), which
// saves a layer every later Value lookup walks through.
func detached(ctx context.Context) context.Context {
	if ctx.Done() == nil {
		return ctx
	}
	return context.WithoutCancel(ctx)
}

// withTimeout is context.WithTimeout, but a no-op under
// Hooks.VirtualTime.
func (a *App) withTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	if a.hooks.VirtualTime {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, d)
}

// Config returns the effective configuration.
func (a *App) Config() Config { return a.cfg }

func (a *App) now() time.Time { return a.d.Clock.Now() }

func isNilInterface(v any) bool {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Interface, reflect.Chan:
		return rv.IsNil()
	}
	return false
}

func sorted(s []string) []string { sort.Strings(s); return s }
