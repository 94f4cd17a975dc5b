package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	goredis "github.com/redis/go-redis/v9"
	kafkago "github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/trace"

	"github.com/flashsale/flashsale/adapters/kafka"
	"github.com/flashsale/flashsale/adapters/live"
	"github.com/flashsale/flashsale/adapters/memory"
	"github.com/flashsale/flashsale/adapters/mysql"
	"github.com/flashsale/flashsale/adapters/payment"
	"github.com/flashsale/flashsale/adapters/prometheus"
	"github.com/flashsale/flashsale/adapters/redis"
	"github.com/flashsale/flashsale/adapters/system"
	"github.com/flashsale/flashsale/adapters/tracing"
	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// wired is the running service's object graph and what it must close.
type wired struct {
	app     *app.App
	metrics *prometheus.Metrics // nil when metrics are off
	// live keeps this instance's figures for the live sale page (/ui/).
	live *live.Recorder
	// timeline is the event consumer's timelines (Kafka's), when there is
	// one; the server runs it.
	timeline interface {
		ports.EventTimeline
		Run(ctx context.Context) error
	}
	pingers []ports.Pinger
	closers []func() error
	// tracer is the tracer provider: the no-op one when tracing is off.
	tracer *tracing.Provider
}

// ready is /readyz: every adapter that talks to a server must answer.
func (w wired) ready(ctx context.Context) error {
	var errs []error
	for _, p := range w.pingers {
		errs = append(errs, p.Ping(ctx))
	}
	return errors.Join(errs...)
}

func (w wired) close() {
	for i := len(w.closers) - 1; i >= 0; i-- {
		_ = w.closers[i]()
	}
}

// wire builds the adapters the configuration names and the use cases on
// top of them. This is the only place that knows which adapters exist.
func wire(ctx context.Context, cfg Config, log *slog.Logger) (w wired, err error) {
	defer func() {
		if err != nil {
			w.close()
		}
	}()
	clock := system.Clock{}
	d := app.Deps{Clock: clock, IDs: system.IDs{}, Logger: log}

	// Tracing first: the adapters built below take its provider (nil when
	// it is off, so they leave their instrumentation out).
	if w.tracer, err = tracing.New(ctx, cfg.Tracing.config(), "flashsale", cfg.Saga.InstanceID); err != nil {
		return w, err
	}
	w.closers = append(w.closers, func() error {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := w.tracer.Shutdown(sctx); err != nil {
			log.Warn("tracing: flushing spans at shutdown", "err", err)
		}
		return nil
	})
	// The app and the edge start traces; the adapters' per-call spans only
	// continue them (tracing.WithinTraces).
	var tp trace.TracerProvider
	if w.tracer.Enabled() {
		d.Tracer = w.tracer
		tp = tracing.WithinTraces(w.tracer)
	}

	var memStore *memory.Store
	// The durable store: catalog, saga log (each saga row is also its
	// Idempotency-Key's record), orders, outbox.
	switch cfg.Adapters.Store {
	case "memory":
		// Bounded: finished sagas age out after memory.retention, and a
		// full store refuses new purchases rather than forget a saga early.
		memStore = memory.NewStore(clock, memory.WithSagaRetention(cfg.Memory.Retention), memory.WithCapacity(cfg.Memory.MaxSagas))
		d.Catalog, d.Sagas, d.Orders, d.Outbox = memStore, memStore, memStore, memStore
	case "mysql":
		db, err := openMySQL(ctx, cfg, log, tp)
		if err != nil {
			return w, err
		}
		w.closers = append(w.closers, db.Close)
		w.pingers = append(w.pingers, db)
		d.Catalog, d.Sagas, d.Orders, d.Outbox = db, db, db, db
	}

	// The gate, the locks and the product cache.
	needRedis := cfg.Adapters.Inventory == "redis" || cfg.Adapters.Lock == "redis" || cfg.Adapters.Cache == "redis"
	var client goredis.UniversalClient
	if needRedis {
		c, err := redis.NewClient(redis.Options{
			Addrs: cfg.Redis.Addrs, Cluster: cfg.Redis.Cluster, Password: cfg.Redis.Password,
			DialTimeout: cfg.Redis.DialTimeout, ReadTimeout: cfg.Redis.ReadTimeout,
			WriteTimeout: cfg.Redis.WriteTimeout, PoolSize: cfg.Redis.PoolSize, Tracer: tp,
		})
		if err != nil {
			return w, fmt.Errorf("redis: %w", err)
		}
		client = c
		w.closers = append(w.closers, c.Close)
	}
	switch cfg.Adapters.Inventory {
	case "memory":
		// The gate forgets a record well before the store forgets its saga
		// (half the retention): a retry the gate no longer knows is then
		// answered from the saga, and its own reservation given back. The
		// other way round, a retry the gate calls "reserved" with no saga
		// left would sell again.
		opts := []memory.InventoryOption{memory.WithRetention(cfg.Memory.Retention / 2)}
		if memStore != nil {
			opts = append(opts, memory.WithSagaRoom(memStore))
		}
		d.Inventory = memory.NewInventory(clock, opts...)
	case "redis":
		inv := redis.NewInventory(client)
		d.Inventory = inv
		w.pingers = append(w.pingers, inv)
	}
	switch cfg.Adapters.Lock {
	case "memory":
		d.Locker = memory.NewLocker(clock)
	case "redis":
		d.Locker = redis.NewLocker(client)
	}
	switch cfg.Adapters.Cache {
	case "memory":
		d.Cache = memory.NewProductCache(clock)
	case "redis":
		d.Cache = redis.NewProductCache(client)
	}

	// Events: published by the outbox relay.
	switch cfg.Adapters.Events {
	case "memory":
		// A delivery limit keeps a long-running server's memory bounded.
		d.Publisher = memory.NewEventLog(memory.WithDeliveryLimit(10_000))
	case "kafka":
		k := cfg.Kafka
		tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := kafka.EnsureTopic(tctx, k.Brokers, k.Topic, k.Partitions, k.ReplicationFactor)
		cancel()
		if err != nil {
			return w, fmt.Errorf("kafka topic %s: %w", k.Topic, err)
		}
		pub, err := kafka.NewPublisher(kafka.Options{Brokers: k.Brokers, Topic: k.Topic, WriteTimeout: k.WriteTimeout,
			ClientID: cfg.Saga.InstanceID, Logger: log, Tracer: tp})
		if err != nil {
			return w, fmt.Errorf("kafka: %w", err)
		}
		w.closers = append(w.closers, pub.Close)
		w.pingers = append(w.pingers, pub)
		d.Publisher = pub
		if k.Timeline {
			// Its own consumer group, from the beginning of the topic: each
			// instance keeps every saga's timeline (see docs/events.md).
			tl, err := kafka.NewTimeline(kafka.TimelineOptions{Brokers: k.Brokers, Topic: k.Topic,
				GroupID: "flashsale-timeline-" + cfg.Saga.InstanceID, StartOffset: kafkago.FirstOffset, Logger: log})
			if err != nil {
				return w, fmt.Errorf("kafka timeline: %w", err)
			}
			w.closers = append(w.closers, tl.Close)
			w.timeline = tl
		}
	}

	switch cfg.Adapters.Payments {
	case "simulated":
		gateway, err := payment.NewSimulated(payment.Options{
			Latency: cfg.Payments.Latency, DeclineRate: cfg.Payments.DeclineRate,
			TimeoutRate: cfg.Payments.TimeoutRate, Seed: cfg.Payments.Seed,
		})
		if err != nil {
			return w, fmt.Errorf("payments: %w", err)
		}
		d.Payments = gateway
	case "http":
		var popts []payment.HTTPOption
		if tp != nil {
			popts = append(popts, payment.WithTracer(tp))
		}
		gateway, err := payment.NewHTTPGateway(cfg.Payments.URL, cfg.Payments.Timeout, popts...)
		if err != nil {
			return w, fmt.Errorf("payments: %w", err)
		}
		d.Payments = gateway
		w.pingers = append(w.pingers, gateway)
	}

	if cfg.HTTP.Metrics {
		w.metrics = prometheus.New()
		d.Metrics = w.metrics
	}
	// The live page's recorder (http.live_page, on by default): a few
	// kilobytes and a mutex per purchase, and the page is how a sale is
	// watched.
	if cfg.HTTP.LivePage {
		if w.live, err = live.New(clock); err != nil {
			return w, err
		}
		d.Metrics = live.Tee(d.Metrics, w.live)
	}
	var hooks app.Hooks
	if cfg.crashAt != "" {
		log.Warn("test-only crash switch on: the process exits at this saga step", "crash_at", cfg.crashAt)
		hooks.Crash = func(id domain.SagaID, at app.CrashPoint) bool {
			if at == cfg.crashAt {
				log.Error("FLASHSALE_CRASH_AT: exiting now, as if killed", "saga_id", id, "crash_at", at)
				os.Exit(crashExitCode) // no deferred cleanup, no drain: a crash
			}
			return false
		}
	}
	if w.app, err = app.New(d, cfg.appConfig(), hooks); err != nil {
		return w, err
	}
	return w, nil
}

func openMySQL(ctx context.Context, cfg Config, log *slog.Logger, tp trace.TracerProvider) (*mysql.DB, error) {
	m := cfg.MySQL
	db, err := mysql.Open(ctx, mysql.Options{
		PrimaryDSNs: m.PrimaryDSNs, ReplicaDSNs: m.ReplicaDSNs,
		Primary:      mysql.Pool{MaxOpenConns: m.PrimaryMaxConns, MaxIdleConns: m.PrimaryMaxConns, ConnMaxLifetime: m.ConnMaxLifetime},
		Replica:      mysql.Pool{MaxOpenConns: m.ReplicaMaxConns, MaxIdleConns: m.ReplicaMaxConns, ConnMaxLifetime: m.ConnMaxLifetime},
		QueryTimeout: m.QueryTimeout, Logger: log, Tracer: tp,
	})
	if err != nil {
		return nil, fmt.Errorf("mysql: %w", err)
	}
	if m.MigrateOnStart {
		if err := db.Migrate(ctx); err != nil {
			db.Close()
			return nil, fmt.Errorf("mysql migrate: %w", err)
		}
	}
	return db, nil
}
