package mysql_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/flashsale/flashsale/adapters/mysql"
)

// The tests run against a MariaDB primary + replica: by default the ones
// scripts/mariadb starts. FLASHSALE_MYSQL_PRIMARY and FLASHSALE_MYSQL_REPLICA
// point them elsewhere (a database the tests may empty at will). Tests in
// this package share those databases: none of them runs in parallel.
const (
	defaultPrimaryDSN = "flashsale:flashsale@tcp(127.0.0.1:3316)/flashsale_test?parseTime=true&timeout=2s"
	defaultReplicaDSN = "flashsale:flashsale@tcp(127.0.0.1:3317)/flashsale_test?parseTime=true&timeout=2s"
)

// env is the test databases, reachable and migrated.
type env struct {
	primaryDSN, replicaDSN string
	primary, replica       *sql.DB // plain pools for set-up and checks
}

var shared struct {
	mu       sync.Mutex
	env      *env
	migrated bool
}

func dsnFromEnv(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func inCI() bool { return os.Getenv("CI") == "true" }

// unavailable fails the test in CI and skips it elsewhere.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if inCI() {
		t.Fatalf("CI=true: "+format, args...)
	}
	t.Skipf(format, args...)
}

// requireEnv returns the test databases, migrated, or skips (fails in CI)
// when they cannot be reached.
func requireEnv(t testing.TB) *env {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.env == nil {
		e := &env{
			primaryDSN: dsnFromEnv("FLASHSALE_MYSQL_PRIMARY", defaultPrimaryDSN),
			replicaDSN: dsnFromEnv("FLASHSALE_MYSQL_REPLICA", defaultReplicaDSN),
		}
		var err error
		if e.primary, err = pingDSN(e.primaryDSN); err != nil {
			unavailable(t, "MariaDB primary not reachable (%v); start the test stack with `scripts/mariadb up` "+
				"or set FLASHSALE_MYSQL_PRIMARY / FLASHSALE_MYSQL_REPLICA", err)
		}
		if e.replica, err = pingDSN(e.replicaDSN); err != nil {
			_ = e.primary.Close()
			unavailable(t, "MariaDB replica not reachable (%v); start the test stack with `scripts/mariadb up` "+
				"or set FLASHSALE_MYSQL_PRIMARY / FLASHSALE_MYSQL_REPLICA", err)
		}
		shared.env = e
	}
	if !shared.migrated {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := mysql.Migrate(ctx, shared.env.primary); err != nil {
			t.Fatalf("migrate the test database: %v", err)
		}
		shared.migrated = true
	}
	return shared.env
}

// forgetSchema makes the next requireEnv migrate again (the stack was
// rebuilt) and reconnect.
func forgetSchema() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.env != nil {
		_ = shared.env.primary.Close()
		_ = shared.env.replica.Close()
	}
	shared.env = nil
	shared.migrated = false
}

func pingDSN(dsn string) (*sql.DB, error) {
	cfg, err := mysqldriver.ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	cfg.ParseTime = true
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	connector, err := mysqldriver.NewConnector(cfg)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(connector)
	db.SetMaxOpenConns(4)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("%s: %w", cfg.Addr, err)
	}
	return db, nil
}

// clean empties every table and waits until the replica has applied that,
// so a test never sees the previous one's rows on either server.
func (e *env) clean(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tx, err := e.primary.BeginTx(ctx, nil)
	if err != nil {
		t.Fatalf("clean: %v", err)
	}
	for _, table := range []string{"saga_event_writes", "sagas", "products"} {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+table); err != nil {
			_ = tx.Rollback()
			t.Fatalf("clean %s: %v", table, err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("clean: %v", err)
	}
	e.waitReplica(t)
}

// waitReplica waits until the replica has applied everything the primary
// has committed so far.
func (e *env) waitReplica(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var pos string
	if err := e.primary.QueryRowContext(ctx, "SELECT @@global.gtid_binlog_pos").Scan(&pos); err != nil {
		t.Fatalf("primary GTID position: %v", err)
	}
	var res sql.NullInt64
	if err := e.replica.QueryRowContext(ctx, "SELECT MASTER_GTID_WAIT(?, 5)", pos).Scan(&res); err != nil {
		t.Fatalf("wait for the replica: %v", err)
	}
	if !res.Valid || res.Int64 != 0 {
		t.Fatalf("the replica did not reach the primary's position %s within 5s", pos)
	}
}

// open opens a DB on the test primary and replica; edit adjusts the
// options. It is closed when the test ends.
func (e *env) open(t testing.TB, edit func(*mysql.Options)) *mysql.DB {
	t.Helper()
	opts := mysql.Options{
		PrimaryDSNs: []string{e.primaryDSN}, ReplicaDSNs: []string{e.replicaDSN},
		Primary: mysql.Pool{MaxOpenConns: 32}, Replica: mysql.Pool{MaxOpenConns: 8},
	}
	if edit != nil {
		edit(&opts)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	db, err := mysql.Open(ctx, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// fresh empties the tables and opens a DB on them.
func (e *env) fresh(t testing.TB, edit func(*mysql.Options)) *mysql.DB {
	t.Helper()
	e.clean(t)
	return e.open(t, edit)
}

// ---- the script-managed stack (failover and replica-lag tests) -----------

// stack is the MariaDB pair scripts/mariadb runs, which tests may kill,
// pause and promote.
type stack struct {
	script string
	dir    string // <stack>/mariadb
}

// requireStack returns the script-managed stack, or skips (fails in CI)
// when the tests run against other servers or the stack is not up.
func requireStack(t testing.TB) stack {
	t.Helper()
	e := requireEnv(t)
	if e.primaryDSN != defaultPrimaryDSN || e.replicaDSN != defaultReplicaDSN {
		t.Skip("FLASHSALE_MYSQL_PRIMARY/REPLICA point at servers this test must not kill; it needs the `scripts/mariadb up` stack")
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	repo := filepath.Clean(filepath.Join(wd, "..", ".."))
	base := os.Getenv("FLASHSALE_STACK_DIR")
	if base == "" {
		base = filepath.Join(repo, ".stack")
	}
	s := stack{script: filepath.Join(repo, "scripts", "mariadb"), dir: filepath.Join(base, "mariadb")}
	for _, f := range []string{s.script, s.cnf("primary"), s.cnf("replica")} {
		if _, err := os.Stat(f); err != nil {
			unavailable(t, "the MariaDB test stack is not the one scripts/mariadb runs (%v); start it with `scripts/mariadb up`", err)
		}
	}
	if _, err := exec.LookPath("mariadb"); err != nil {
		unavailable(t, "the mariadb client is not installed: %v", err)
	}
	return s
}

func (s stack) cnf(node string) string { return filepath.Join(s.dir, node, "my.cnf") }

// sql runs statements as root on node over its socket.
func (s stack) sql(t testing.TB, node, statements string) string {
	t.Helper()
	out, err := exec.Command("mariadb", "--defaults-file="+s.cnf(node), "-uroot", "-N", "-B", "-e", statements).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %s: %v\n%s", node, statements, err, out)
	}
	return strings.TrimSpace(string(out))
}

// run runs scripts/mariadb with args.
func (s stack) run(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command(s.script, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/mariadb %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (s stack) pid(t testing.TB, node string) int {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(s.dir, node, "mariadbd.pid"))
	if err != nil {
		t.Fatalf("pidfile of the %s: %v", node, err)
	}
	var pid int
	if _, err := fmt.Sscan(string(raw), &pid); err != nil || pid <= 0 {
		t.Fatalf("pidfile of the %s holds %q", node, raw)
	}
	return pid
}
