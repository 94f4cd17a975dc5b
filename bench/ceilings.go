package bench

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-sql-driver/mysql"
	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/flashsale/flashsale/adapters/redis"
	"github.com/flashsale/flashsale/domain"
)

// Concurrency of the closed-loop ceilings: enough to saturate a small
// machine, few enough not to measure queueing alone.
const (
	httpCeilingConc  = 64
	redisCeilingConc = 32
	mysqlCeilingConc = 32
)

// mysqlCeilingTable is the ceiling's own table, created and dropped by it.
const mysqlCeilingTable = "bench_ceiling"

func measureCeilings(ctx context.Context, o Options) []Ceiling {
	var bar Progress = noProgress{}
	if o.NewProgress != nil {
		bar = o.NewProgress(fmt.Sprintf("%-17s", "ceilings"), 3)
	}
	out := []Ceiling{httpCeiling(ctx, o)}
	bar.Set(1)
	out = append(out, redisCeiling(ctx, o.RedisAddr, o.CeilingDuration))
	bar.Set(2)
	out = append(out, mysqlCeiling(ctx, o.MySQLDSN, o.CeilingDuration))
	bar.Set(3)
	bar.Done()
	return out
}

// httpCeiling is a bare gin handler in this process over loopback, driven
// as hard as httpCeilingConc connections can: what HTTP alone costs here.
func httpCeiling(ctx context.Context, o Options) Ceiling {
	c := Ceiling{Name: CeilingHTTP, What: "bare gin handler (GET, small JSON) in process, loopback, plain HTTP/1.1",
		Concurrency: httpCeilingConc}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/ping", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.Skipped = err.Error()
		return c
	}
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()

	atk := vegeta.NewAttacker(vegeta.Workers(httpCeilingConc), vegeta.MaxWorkers(httpCeilingConc),
		vegeta.Connections(httpCeilingConc), vegeta.KeepAlive(true), vegeta.HTTP2(false))
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()
	tgt := vegeta.NewStaticTargeter(vegeta.Target{Method: http.MethodGet, URL: "http://" + ln.Addr().String() + "/ping"})
	var m vegeta.Metrics
	start := time.Now()
	for res := range atk.Attack(tgt, vegeta.Rate{Freq: 0}, o.CeilingDuration, "ceiling") {
		m.Add(res)
	}
	elapsed := time.Since(start)
	m.Close()
	c.OpsPerSec = float64(m.Requests) * m.Success / elapsed.Seconds()
	c.Latency = Latency{Mean: ms(m.Latencies.Mean), P50: ms(m.Latencies.P50), P90: ms(m.Latencies.P90),
		P99: ms(m.Latencies.P99), Max: ms(m.Latencies.Max)}
	if m.Success < 1 {
		c.Note = fmt.Sprintf("%.1f%% of requests failed", 100*(1-m.Success))
	}
	return c
}

// closedLoop runs op from conc goroutines for d and measures it.
func closedLoop(ctx context.Context, conc int, d time.Duration, op func(ctx context.Context, i int64) error) (float64, Latency, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var n atomic.Int64
	var mu sync.Mutex
	var lats []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Go(func() {
			var mine []time.Duration
			for ctx.Err() == nil {
				t := time.Now()
				if err := op(ctx, n.Add(1)); err != nil {
					if ctx.Err() == nil {
						mu.Lock()
						firstErr = cmpErr(firstErr, err)
						mu.Unlock()
					}
					break
				}
				mine = append(mine, time.Since(t))
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if firstErr != nil {
		return 0, Latency{}, firstErr
	}
	slices.Sort(lats)
	return float64(len(lats)) / elapsed.Seconds(), exactLatency(lats), nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

func reachable(addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return err
	}
	return conn.Close()
}

// redisCeiling is the reserve Lua script alone (redis.Inventory.Reserve)
// on one hot product, under its own key namespace, deleted afterwards.
func redisCeiling(ctx context.Context, addr string, d time.Duration) Ceiling {
	c := Ceiling{Name: CeilingRedis, What: "reserve Lua script alone (Inventory.Reserve, one product) on " + addr,
		Concurrency: redisCeilingConc}
	if addr == "" {
		c.What, c.Skipped = "reserve Lua script alone on Redis", "no Redis address given"
		return c
	}
	if err := reachable(addr); err != nil {
		c.Skipped = fmt.Sprintf("Redis at %s not reachable (%v)", addr, err)
		return c
	}
	client, err := redis.NewClient(redis.Options{Addrs: []string{addr}, PoolSize: redisCeilingConc})
	if err != nil {
		c.Skipped = err.Error()
		return c
	}
	defer client.Close()
	ns := newRunID() + "-ceiling:"
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var cursor uint64
		for {
			keys, next, err := client.Scan(cctx, cursor, ns+"*", 1000).Result()
			if err != nil {
				return
			}
			if len(keys) > 0 {
				client.Del(cctx, keys...)
			}
			if cursor = next; cursor == 0 {
				return
			}
		}
	}()
	inv := redis.NewInventory(client, redis.WithInventoryNamespace(ns))
	if err := inv.SetStock(ctx, "ceiling", redis.MaxStock); err != nil {
		c.Skipped = fmt.Sprintf("Redis at %s: %v", addr, err)
		return c
	}
	deadline := time.Now().Add(time.Hour)
	ops, lat, err := closedLoop(ctx, redisCeilingConc, d, func(ctx context.Context, i int64) error {
		return inv.Reserve(ctx, domain.Reservation{SagaID: domain.SagaID(fmt.Sprintf("s-%d", i)), ProductID: "ceiling",
			Qty: 1, Deadline: deadline})
	})
	if err != nil {
		c.Skipped = fmt.Sprintf("Redis at %s: %v", addr, err)
		return c
	}
	c.OpsPerSec, c.Latency = ops, lat
	return c
}

// mysqlCeiling is a durable single-row INSERT (autocommit) on the primary,
// into its own table bench_ceiling, created and dropped here: the
// database's ceiling, not the client's. So each INSERT is one round trip
// (interpolateParams: no prepare and close per statement) on one of
// mysqlCeilingConc connections. The settings the number depends on are
// recorded: innodb_flush_log_at_trx_commit, sync_binlog, and semi-sync
// (Rpl_semi_sync_master_status; "n/a" on a server without it). The
// saturate scenario calls it again just before its load.
func mysqlCeiling(ctx context.Context, dsn string, d time.Duration) Ceiling {
	c := Ceiling{Name: CeilingMySQL, What: "durable single-row INSERT (autocommit, one round trip) into " + mysqlCeilingTable + " on the primary",
		Concurrency: mysqlCeilingConc}
	if dsn == "" {
		c.Skipped = "no MySQL DSN given"
		return c
	}
	cfg, err := ceilingDSN(dsn)
	if err != nil {
		c.Skipped = err.Error()
		return c
	}
	addr := cfg.Addr
	if err := reachable(addr); err != nil {
		c.Skipped = fmt.Sprintf("MySQL at %s not reachable (%v)", addr, err)
		return c
	}
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		c.Skipped = err.Error()
		return c
	}
	defer db.Close()
	db.SetMaxOpenConns(mysqlCeilingConc)
	db.SetMaxIdleConns(mysqlCeilingConc)
	setup, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var flush, syncBinlog string
	if err := db.QueryRowContext(setup, "SELECT @@innodb_flush_log_at_trx_commit, @@sync_binlog").Scan(&flush, &syncBinlog); err != nil {
		c.Skipped = fmt.Sprintf("MySQL at %s: %v", addr, err)
		return c
	}
	semiSync := "n/a"
	var name, value string
	switch err := db.QueryRowContext(setup, "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_status'").Scan(&name, &value); {
	case err == nil:
		semiSync = value
	case errors.Is(err, sql.ErrNoRows):
	default:
		c.Skipped = fmt.Sprintf("MySQL at %s: %v", addr, err)
		return c
	}
	c.Settings = map[string]string{"innodb_flush_log_at_trx_commit": flush, "sync_binlog": syncBinlog,
		"rpl_semi_sync_master_status": semiSync, "addr": addr}
	c.Note = fmt.Sprintf("innodb_flush_log_at_trx_commit=%s, sync_binlog=%s, semi-sync=%s", flush, syncBinlog, semiSync)
	if _, err := db.ExecContext(setup, "DROP TABLE IF EXISTS "+mysqlCeilingTable); err != nil {
		c.Skipped = fmt.Sprintf("MySQL at %s: %v", addr, err)
		return c
	}
	if _, err := db.ExecContext(setup, "CREATE TABLE "+mysqlCeilingTable+
		" (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, v VARCHAR(64) NOT NULL, at DATETIME(6) NOT NULL) ENGINE=InnoDB"); err != nil {
		c.Skipped = fmt.Sprintf("MySQL at %s: %v", addr, err)
		return c
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = db.ExecContext(dctx, "DROP TABLE IF EXISTS "+mysqlCeilingTable)
	}()
	ops, lat, err := closedLoop(ctx, mysqlCeilingConc, d, func(ctx context.Context, i int64) error {
		_, err := db.ExecContext(ctx, "INSERT INTO "+mysqlCeilingTable+" (v, at) VALUES (?, NOW(6))", "row-"+strconv.FormatInt(i, 10))
		return err
	})
	if err != nil {
		c.Skipped = fmt.Sprintf("MySQL at %s: %v", addr, err)
		return c
	}
	c.OpsPerSec, c.Latency = ops, lat
	return c
}

// ceilingDSN is dsn with interpolateParams on: the driver then sends a
// statement with arguments as one query instead of prepare, execute and
// close, three round trips that would measure the client.
func ceilingDSN(dsn string) (*mysql.Config, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("MySQL DSN: %w", err)
	}
	cfg.InterpolateParams = true
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:3306"
	}
	return cfg, nil
}
