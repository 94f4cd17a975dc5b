package mysql_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/mysql"
	"github.com/flashsale/flashsale/domain"
)

// testLog sends the adapter's log lines to the test's log.
type testLog struct{ t testing.TB }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(string(p[:len(p)-1]))
	return len(p), nil
}

// A read-only primary (demoted, or a replica reached by mistake) refuses
// writes with ErrUnavailable, a 503 the client may retry, never a bare
// server error; Ping says not ready; once it is writable again, writes go
// on through the same DB.
func TestReadOnlyPrimaryIsUnavailable(t *testing.T) {
	st := requireStack(t)
	e := requireEnv(t)
	db := e.fresh(t, func(o *mysql.Options) { o.Logger = slog.New(slog.NewTextHandler(testLog{t}, nil)) })
	ctx := context.Background()
	supply(t, db, 10)
	st.sql(t, "primary", "SET GLOBAL read_only = 1")
	t.Cleanup(func() { st.sql(t, "primary", "SET GLOBAL read_only = 0") })

	err := db.Create(ctx, startSaga(t, "s-1", 1))
	if !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("create on a read-only primary: got %v, want ErrUnavailable", err)
	}
	if _, err := db.Supply(ctx, domain.Supply{ID: product, AddStock: 1}); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("supply on a read-only primary: got %v, want ErrUnavailable", err)
	}
	if err := db.Ping(ctx); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("ping of a read-only primary: got %v, want ErrUnavailable", err)
	}
	if _, err := db.Product(ctx, product); err != nil {
		t.Fatalf("reads go on: %v", err)
	}

	st.sql(t, "primary", "SET GLOBAL read_only = 0")
	if err := db.Create(ctx, startSaga(t, "s-1", 1)); err != nil {
		t.Fatalf("create once writable again: %v", err)
	}
	if err := db.Ping(ctx); err != nil {
		t.Fatalf("ping once writable again: %v", err)
	}
}

// Failover: a stream of purchases (create, then confirm) runs while the
// primary is kill -9'd and the replica promoted. Writes resume through the
// same DB, without reopening it, and every acknowledged write is on the new
// primary. The stack is rebuilt (scripts/mariadb reset) afterwards.
func TestFailover(t *testing.T) {
	st := requireStack(t)
	e := requireEnv(t)
	e.clean(t)
	t.Cleanup(func() {
		start := time.Now()
		st.run(t, "reset")
		forgetSchema()
		t.Logf("stack rebuilt in %v", time.Since(start).Round(time.Millisecond))
	})
	db := e.open(t, func(o *mysql.Options) {
		o.PrimaryDSNs = []string{e.primaryDSN, e.replicaDSN}
		o.QueryTimeout = 2 * time.Second
		o.Logger = slog.New(slog.NewTextHandler(testLog{t}, nil))
	})
	ctx := context.Background()
	const stock = 1_000_000
	supply(t, db, stock)
	oldPrimary := db.Primary()

	var (
		mu        sync.Mutex
		acked     = make(map[string]bool) // saga ID -> its confirmation was acknowledged too
		refused   = make(map[string]int)  // error kind -> count while the primary was down
		unexpect  []error
		promoted  atomic.Bool
		completes atomic.Int64 // acknowledged confirmations
		after     atomic.Int64 // ... after the promotion
		stop      = make(chan struct{})
		wg        sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if errors.Is(err, domain.ErrUnavailable) {
			refused["ErrUnavailable"]++
			return
		}
		unexpect = append(unexpect, err)
	}
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("f%d-%05d", w, i)
				if err := db.Create(ctx, startSaga(t, id, 1)); err != nil {
					fail(err)
					time.Sleep(5 * time.Millisecond)
					continue
				}
				mu.Lock()
				acked[id] = false
				mu.Unlock()
				if _, err := db.Update(ctx, domain.SagaID(id), func(s *domain.Saga) error { return s.Complete(epoch) }); err != nil {
					fail(err)
					time.Sleep(5 * time.Millisecond)
					continue
				}
				mu.Lock()
				acked[id] = true
				mu.Unlock()
				completes.Add(1)
				if promoted.Load() {
					after.Add(1)
				}
			}
		})
	}
	waitFor := func(what string, limit time.Duration, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(limit)
		for !ok() {
			if time.Now().After(deadline) {
				close(stop)
				wg.Wait()
				t.Fatalf("%s: not within %v", what, limit)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}

	waitFor("50 purchases before the failure", 15*time.Second, func() bool { return completes.Load() >= 50 })
	pid := st.pid(t, "primary")
	killed := time.Now()
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", pid, err)
	}
	before := completes.Load()
	time.Sleep(300 * time.Millisecond) // writes fail meanwhile
	out := st.run(t, "promote")
	promotedAt := time.Now()
	promoted.Store(true)
	t.Logf("killed the primary (pid %d) after %d purchases; %s", pid, before, out)
	waitFor("50 purchases after the promotion", 20*time.Second, func() bool { return after.Load() >= 50 })
	resumed := time.Now()
	close(stop)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	if len(unexpect) > 0 {
		t.Fatalf("%d failures were not ErrUnavailable, e.g. %v", len(unexpect), unexpect[0])
	}
	if db.Primary() == oldPrimary {
		t.Fatalf("still writing to %s", oldPrimary)
	}
	t.Logf("writes to %s resumed %v after the promotion (%v after the kill); %d refused as unavailable; %d acknowledged creates, %d confirmations",
		db.Primary(), resumed.Sub(promotedAt).Round(time.Millisecond), resumed.Sub(killed).Round(time.Millisecond),
		refused["ErrUnavailable"], len(acked), completes.Load())

	// Every acknowledged write is on the new primary: read it there directly.
	newPrimary, err := pingDSN(e.replicaDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer newPrimary.Close()
	// It acknowledges orders now: every commit durable on its disk (as a
	// replica it fsynced none; scripts/mariadb promote restores them).
	var flush, syncBinlog int
	if err := newPrimary.QueryRowContext(ctx, "SELECT @@global.innodb_flush_log_at_trx_commit, @@global.sync_binlog").Scan(&flush, &syncBinlog); err != nil {
		t.Fatal(err)
	}
	if flush != 1 || syncBinlog != 1 {
		t.Errorf("the promoted primary runs with innodb_flush_log_at_trx_commit=%d, sync_binlog=%d; want 1 and 1", flush, syncBinlog)
	}
	status := make(map[string]string)
	rows, err := newPrimary.QueryContext(ctx, "SELECT id, status FROM sagas")
	if err != nil {
		t.Fatal(err)
	}
	completed := int64(0)
	for rows.Next() {
		var id, s string
		if err := rows.Scan(&id, &s); err != nil {
			t.Fatal(err)
		}
		status[id] = s
		if s == string(domain.SagaCompleted) {
			completed++
		}
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	lost := 0
	for id, confirmed := range acked {
		got, ok := status[id]
		if !ok || (confirmed && got != string(domain.SagaCompleted)) {
			lost++
			t.Errorf("acknowledged saga %s (confirmed: %v) is %q on the new primary", id, confirmed, got)
		}
	}
	if lost > 0 {
		t.Fatalf("%d acknowledged writes lost", lost)
	}
	// Durable stock agrees with the confirmed orders (I1, I2 at rest).
	var left int64
	if err := newPrimary.QueryRowContext(ctx, "SELECT stock FROM products WHERE id = ?", product).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != stock-completed {
		t.Fatalf("stock %d on the new primary, %d supplied - %d completed = %d", left, stock, completed, stock-completed)
	}
	// And the same DB reads them, still without reopening.
	for id := range acked {
		if _, err := db.Saga(ctx, domain.SagaID(id)); err != nil {
			t.Fatalf("saga %s through the failed-over DB: %v", id, err)
		}
		break
	}
}
