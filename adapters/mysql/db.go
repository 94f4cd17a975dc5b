package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/XSAM/otelsql"
	mysqldriver "github.com/go-sql-driver/mysql"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	gormmysql "gorm.io/driver/mysql"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
	"gorm.io/plugin/dbresolver"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

var (
	_ ports.Catalog     = (*DB)(nil)
	_ ports.SagaStore   = (*DB)(nil)
	_ ports.OrderReader = (*DB)(nil)
	_ ports.Outbox      = (*DB)(nil)
	_ ports.Pinger      = (*DB)(nil)
)

// Pool sizes one database/sql connection pool.
type Pool struct {
	// MaxOpenConns bounds the connections to one server.
	MaxOpenConns int
	// MaxIdleConns is how many of them stay open between bursts.
	MaxIdleConns int
	// ConnMaxLifetime recycles a connection after this long.
	ConnMaxLifetime time.Duration
}

// Default pool sizes, for the 2-core machine the app and both databases
// share (STACK-NOTES: durable single-row commits scale with concurrent
// connections up to about 64, 9,100 tps, and fall off at 128, 7,500 tps).
//
//   - Primary, 64 open: every commit waits for two fsyncs and a replica
//     acknowledgement, so throughput comes from group commit, which needs
//     many transactions in flight; 64 was the measured peak, and more only
//     adds context switches on 2 cores. The seed's 300 would be far past it.
//   - Replica, 16 open: reads never wait on the disk; they are CPU-bound, and
//     16 is plenty of queueing for 2 cores (most product reads hit Redis).
//   - Idle = open: a flash sale is a burst; closing idle connections between
//     bursts would make the next burst pay for reconnects.
//   - Lifetime 5 min: connections move to a restarted or re-balanced server
//     within minutes, well under the server's wait_timeout.
var (
	DefaultPrimaryPool = Pool{MaxOpenConns: 64, MaxIdleConns: 64, ConnMaxLifetime: 5 * time.Minute}
	DefaultReplicaPool = Pool{MaxOpenConns: 16, MaxIdleConns: 16, ConnMaxLifetime: 5 * time.Minute}
)

// Other defaults of Options.
const (
	DefaultQueryTimeout    = 5 * time.Second
	DefaultConnectTimeout  = 2 * time.Second
	DefaultResolveInterval = 250 * time.Millisecond
	replicaBackoff         = time.Second
)

// MaxUpdateAttempts bounds SagaStore.Update's optimistic retries (and
// Supply's retries of a lost race).
const MaxUpdateAttempts = 8

// Options configures Open.
type Options struct {
	// PrimaryDSNs are the candidates for the writable primary, in order of
	// preference (go-sql-driver DSNs: user:pass@tcp(host:port)/db). The first
	// with @@global.read_only = 0 is used; the others are where writes go
	// after a failover. At least one is required.
	PrimaryDSNs []string
	// ReplicaDSNs serve catalog reads. Empty: the primary serves them.
	ReplicaDSNs []string
	// Primary and Replica size the pools (zero fields take the defaults
	// DefaultPrimaryPool and DefaultReplicaPool); Replica applies to each
	// replica.
	Primary Pool
	Replica Pool
	// QueryTimeout bounds every call (all of its statements), within the
	// caller's own deadline. Default DefaultQueryTimeout; negative: none.
	QueryTimeout time.Duration
	// ResolveInterval is the least time between two searches for the
	// writable primary. Default DefaultResolveInterval.
	ResolveInterval time.Duration
	// Clock stamps updated_at and published_at. Nil: the wall clock.
	Clock ports.Clock
	// Logger receives primary switches and failed searches. Nil: discarded.
	Logger *slog.Logger
	// Tracer, when set, gives every statement and transaction a span, a
	// child of its context's (otelsql, at the database/sql level, so the
	// statements the adapter sends past GORM have theirs too). Nil: none.
	Tracer trace.TracerProvider
}

// DB is an open store: it implements ports.Catalog, ports.SagaStore,
// ports.SagaBatchWriter, ports.OrderReader, ports.Outbox and ports.Pinger.
// It is safe for concurrent use. Close it when done.
type DB struct {
	opts     Options
	clock    ports.Clock
	log      *slog.Logger
	cands    []*mysqldriver.Config
	replicas []*sql.DB

	cur atomic.Pointer[generation]
	// marks holds, per product, the version this process's last write of
	// it produced: the floor a catalog read must reach (read-your-writes).
	marks versionMarks
	// replicasDownUntil (UnixNano): after a replica read failed, catalog
	// reads go straight to the primary until then, so a dead replica costs
	// one failed read per replicaBackoff, not one per request.
	replicasDownUntil atomic.Int64

	mu          sync.Mutex // guards the fields below
	closed      bool
	resolving   bool
	lastResolve time.Time
	bg          sync.WaitGroup
}

// generation is one choice of primary: its pool and a GORM handle whose
// dbresolver sends writes there and reads to the replicas. It is replaced
// whole when the primary changes, so a call sees one consistent pair.
type generation struct {
	index   int // into DB.cands
	primary *sql.DB
	gorm    *gorm.DB
}

// Open connects to the first writable candidate of opts.PrimaryDSNs and
// prepares pools for the replicas (connected lazily). It fails with an error
// wrapping domain.ErrUnavailable if no candidate is writable, and with
// domain.ErrInvalidInput for unusable options.
func Open(ctx context.Context, opts Options) (*DB, error) {
	if len(opts.PrimaryDSNs) == 0 {
		return nil, fmt.Errorf("mysql open: %w", domain.Invalid("PrimaryDSNs", "at least one is required"))
	}
	opts.Primary = opts.Primary.withDefaults(DefaultPrimaryPool)
	opts.Replica = opts.Replica.withDefaults(DefaultReplicaPool)
	if opts.QueryTimeout == 0 {
		opts.QueryTimeout = DefaultQueryTimeout
	}
	if opts.ResolveInterval <= 0 {
		opts.ResolveInterval = DefaultResolveInterval
	}
	db := &DB{opts: opts, clock: opts.Clock, log: opts.Logger, marks: versionMarks{m: make(map[domain.ProductID]int64)}}
	if db.clock == nil {
		db.clock = wallClock{}
	}
	if db.log == nil {
		db.log = slog.New(slog.DiscardHandler)
	}
	for i, dsn := range opts.PrimaryDSNs {
		cfg, err := driverConfig(dsn)
		if err != nil {
			return nil, fmt.Errorf("mysql open: primary DSN %d: %w", i, err)
		}
		db.cands = append(db.cands, cfg)
	}
	for i, dsn := range opts.ReplicaDSNs {
		cfg, err := driverConfig(dsn)
		if err != nil {
			_ = db.closePools()
			return nil, fmt.Errorf("mysql open: replica DSN %d: %w", i, err)
		}
		pool, err := openPool(cfg, opts.Replica, opts.Tracer)
		if err != nil {
			_ = db.closePools()
			return nil, fmt.Errorf("mysql open: replica %s: %w", cfg.Addr, err)
		}
		db.replicas = append(db.replicas, pool)
	}

	ctx, cancel := db.callContext(ctx)
	defer cancel()
	index, pool, err := db.findWritable(ctx, nil)
	if err != nil {
		_ = db.closePools()
		return nil, fmt.Errorf("mysql open: %w", err)
	}
	gen, err := db.newGeneration(index, pool)
	if err != nil {
		_ = pool.Close()
		_ = db.closePools()
		return nil, fmt.Errorf("mysql open: %w", err)
	}
	db.cur.Store(gen)
	return db, nil
}

func (p Pool) withDefaults(d Pool) Pool {
	if p.MaxOpenConns <= 0 {
		p.MaxOpenConns = d.MaxOpenConns
	}
	if p.MaxIdleConns <= 0 {
		p.MaxIdleConns = min(d.MaxIdleConns, p.MaxOpenConns)
	}
	if p.ConnMaxLifetime <= 0 {
		p.ConnMaxLifetime = d.ConnMaxLifetime
	}
	return p
}

// driverConfig parses dsn and sets what the adapter relies on: times parsed
// as UTC, a connect timeout, strict SQL mode (an oversized value is an
// error, never silently cut) and client-side placeholder interpolation (one
// round trip per statement instead of prepare + execute).
func driverConfig(dsn string) (*mysqldriver.Config, error) {
	cfg, err := mysqldriver.ParseDSN(dsn)
	if err != nil {
		return nil, domain.Invalid("dsn", "%v", err)
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultConnectTimeout
	}
	cfg.InterpolateParams = true
	cfg.Logger = quietDriverLogger{}
	if cfg.Params == nil {
		cfg.Params = make(map[string]string)
	}
	if _, ok := cfg.Params["sql_mode"]; !ok {
		cfg.Params["sql_mode"] = "'STRICT_ALL_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION'"
	}
	if _, ok := cfg.Params["time_zone"]; !ok {
		cfg.Params["time_zone"] = "'+00:00'"
	}
	return cfg, nil
}

// quietDriverLogger drops go-sql-driver's own log lines ("unexpected EOF"
// on every connection a dead server broke): errors reach the caller anyway.
type quietDriverLogger struct{}

func (quietDriverLogger) Print(...any) {}

func openPool(cfg *mysqldriver.Config, p Pool, tracer trace.TracerProvider) (*sql.DB, error) {
	connector, err := mysqldriver.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	var pool *sql.DB
	if tracer == nil {
		pool = sql.OpenDB(connector)
	} else {
		// Spans for statements and transactions; none for each row read,
		// for a session reset or for a connection's checkout.
		pool = otelsql.OpenDB(connector, otelsql.WithTracerProvider(tracer),
			otelsql.WithAttributes(attribute.String("db.system.name", "mariadb"), attribute.String("server.address", cfg.Addr)),
			otelsql.WithSpanOptions(otelsql.SpanOptions{OmitRows: true, OmitConnResetSession: true, OmitConnectorConnect: true}))
	}
	pool.SetMaxOpenConns(p.MaxOpenConns)
	pool.SetMaxIdleConns(p.MaxIdleConns)
	pool.SetConnMaxLifetime(p.ConnMaxLifetime)
	return pool, nil
}

// newGeneration builds the GORM handle for primary pool and the replicas.
func (db *DB) newGeneration(index int, primary *sql.DB) (*generation, error) {
	dialector := func(pool *sql.DB) gorm.Dialector {
		// SkipInitializeWithVersion: no round trip at construction, so a
		// replica that is down does not stop a primary switch.
		return gormmysql.New(gormmysql.Config{Conn: pool, SkipInitializeWithVersion: true})
	}
	g, err := gorm.Open(dialector(primary), &gorm.Config{
		SkipDefaultTransaction: true, // the adapter opens the transactions it needs
		DisableAutomaticPing:   true,
		Logger:                 logger.Discard,
		NowFunc:                db.now,
	})
	if err != nil {
		return nil, err
	}
	var replicas []gorm.Dialector
	for _, pool := range db.replicas {
		replicas = append(replicas, dialector(pool))
	}
	resolver := dbresolver.Register(dbresolver.Config{
		Replicas: replicas, // empty: reads go to the primary
		Policy:   dbresolver.StrictRoundRobinPolicy(),
	})
	if err := g.Use(resolver); err != nil {
		return nil, err
	}
	return &generation{index: index, primary: primary, gorm: g}, nil
}

// findWritable returns the candidate to write to and a pool for it: the
// current one (cur, may be nil) if it is still writable, else the first
// writable candidate in order. It fails with an error wrapping
// domain.ErrUnavailable when none is.
func (db *DB) findWritable(ctx context.Context, cur *generation) (int, *sql.DB, error) {
	var errs []error
	if cur != nil {
		writable, err := isWritable(ctx, cur.primary)
		if err == nil && writable {
			return cur.index, cur.primary, nil
		}
		errs = append(errs, candidateErr(db.cands[cur.index], err))
	}
	for i, cfg := range db.cands {
		if cur != nil && i == cur.index {
			continue
		}
		pool, err := openPool(cfg, db.opts.Primary, db.opts.Tracer)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", cfg.Addr, err))
			continue
		}
		writable, err := isWritable(ctx, pool)
		if err == nil && writable {
			return i, pool, nil
		}
		_ = pool.Close()
		errs = append(errs, candidateErr(cfg, err))
	}
	return 0, nil, fmt.Errorf("no writable primary among %d candidates (%w): %w",
		len(db.cands), errors.Join(errs...), domain.ErrUnavailable)
}

func candidateErr(cfg *mysqldriver.Config, err error) error {
	if err != nil {
		return fmt.Errorf("%s: %w", cfg.Addr, err)
	}
	return fmt.Errorf("%s: read-only", cfg.Addr)
}

func isWritable(ctx context.Context, pool *sql.DB) (bool, error) {
	var readOnly bool
	if err := pool.QueryRowContext(ctx, "SELECT @@global.read_only").Scan(&readOnly); err != nil {
		return false, err
	}
	return !readOnly, nil
}

// suspectPrimary starts a background search for the writable primary,
// unless one runs, ran less than ResolveInterval ago, or the DB is closed.
func (db *DB) suspectPrimary() {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed || db.resolving || time.Since(db.lastResolve) < db.opts.ResolveInterval {
		return
	}
	db.resolving = true
	db.bg.Add(1)
	go func() {
		defer db.bg.Done()
		db.resolve()
		db.mu.Lock()
		db.resolving = false
		db.lastResolve = time.Now()
		db.mu.Unlock()
	}()
}

// resolve finds the writable primary and switches to it if it changed.
func (db *DB) resolve() {
	ctx, cancel := context.WithTimeout(context.Background(), max(2*DefaultConnectTimeout, db.opts.QueryTimeout))
	defer cancel()
	cur := db.cur.Load()
	index, pool, err := db.findWritable(ctx, cur)
	if err != nil {
		db.log.Warn("mysql: primary unavailable", "err", err)
		return
	}
	if index == cur.index {
		return
	}
	next, err := db.newGeneration(index, pool)
	if err != nil {
		_ = pool.Close()
		db.log.Error("mysql: cannot switch primary", "to", db.cands[index].Addr, "err", err)
		return
	}
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		_ = pool.Close()
		return
	}
	db.cur.Store(next)
	db.mu.Unlock()
	db.log.Warn("mysql: switched primary", "from", db.cands[cur.index].Addr, "to", db.cands[index].Addr)
	// Calls already running on the old pool finish (or fail) there; Close
	// waits for them, so it must not block the switch.
	db.bg.Add(1)
	go func() {
		defer db.bg.Done()
		_ = cur.primary.Close()
	}()
}

// replicasUsable reports whether catalog reads should try a replica.
func (db *DB) replicasUsable() bool { return time.Now().UnixNano() >= db.replicasDownUntil.Load() }

// replicaFailed sends catalog reads to the primary for replicaBackoff.
func (db *DB) replicaFailed(err error) {
	db.replicasDownUntil.Store(time.Now().Add(replicaBackoff).UnixNano())
	db.log.Warn("mysql: replica read failed; reading the primary for a while", "for", replicaBackoff, "err", err)
}

// Primary returns the address (host:port) of the server writes go to now.
func (db *DB) Primary() string { return db.cands[db.cur.Load().index].Addr }

// Ping implements ports.Pinger: the primary answers and accepts writes.
// A read-only primary is unavailable (and starts a search for the new one).
func (db *DB) Ping(ctx context.Context) error {
	ctx, cancel := db.callContext(ctx)
	defer cancel()
	if err := live(ctx); err != nil {
		return fmt.Errorf("mysql ping: %w", err)
	}
	writable, err := isWritable(ctx, db.cur.Load().primary)
	if err != nil {
		return fmt.Errorf("mysql ping: %w", db.translate(ctx, err))
	}
	if !writable {
		db.suspectPrimary()
		return fmt.Errorf("mysql ping: primary %s is read-only: %w", db.Primary(), domain.ErrUnavailable)
	}
	return nil
}

// Close stops the background search and closes every pool. Calls after
// Close fail with domain.ErrUnavailable.
func (db *DB) Close() error {
	db.mu.Lock()
	if db.closed {
		db.mu.Unlock()
		return nil
	}
	db.closed = true
	db.mu.Unlock()
	db.bg.Wait()
	var errs []error
	if g := db.cur.Load(); g != nil {
		errs = append(errs, g.primary.Close())
	}
	errs = append(errs, db.closePools())
	return errors.Join(errs...)
}

func (db *DB) closePools() error {
	var errs []error
	for _, pool := range db.replicas {
		errs = append(errs, pool.Close())
	}
	return errors.Join(errs...)
}

// callContext bounds a call by Options.QueryTimeout.
func (db *DB) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if db.opts.QueryTimeout > 0 {
		return context.WithTimeout(ctx, db.opts.QueryTimeout)
	}
	return context.WithCancel(ctx)
}

// onPrimary starts a statement on the current primary.
func (g *generation) onPrimary(ctx context.Context) *gorm.DB {
	return g.gorm.WithContext(ctx).Clauses(dbresolver.Write)
}

// onReplica starts a statement on a replica (the primary if there is none).
func (g *generation) onReplica(ctx context.Context) *gorm.DB {
	return g.gorm.WithContext(ctx).Clauses(dbresolver.Read)
}

// now is the time the adapter stores: UTC, to the microsecond a DATETIME(6)
// keeps, so what a write returns equals what a later read finds.
func (db *DB) now() time.Time { return dbTime(db.clock.Now()) }

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

// live returns nil while ctx is live, and otherwise the error a call it
// refuses to start returns.
func live(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", domain.ErrUnavailable, err)
	}
	return nil
}

// versionMarks is a floor per product for catalog reads.
type versionMarks struct {
	mu sync.Mutex
	m  map[domain.ProductID]int64
}

func (v *versionMarks) note(id domain.ProductID, version int64) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if version > v.m[id] {
		v.m[id] = version
	}
}

func (v *versionMarks) get(id domain.ProductID) int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.m[id]
}

func (v *versionMarks) snapshot() map[domain.ProductID]int64 {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := make(map[domain.ProductID]int64, len(v.m))
	for id, version := range v.m {
		out[id] = version
	}
	return out
}
