package mysql_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/flashsale/flashsale/adapters/mysql"
	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

const product = domain.ProductID("p-1")

func supply(t testing.TB, db *mysql.DB, stock int64) domain.Product {
	t.Helper()
	p, err := db.Supply(context.Background(), domain.Supply{ID: product, Name: "Kettle", PriceMinor: 100, AddStock: stock})
	if err != nil {
		t.Fatalf("supply: %v", err)
	}
	return p
}

func startSaga(t testing.TB, id string, qty int64) *domain.Saga {
	t.Helper()
	return startSagaOf(t, product, id, qty)
}

// startSagaOf is startSaga for another product.
func startSagaOf(t testing.TB, product domain.ProductID, id string, qty int64) *domain.Saga {
	t.Helper()
	s, err := domain.Start(domain.StartParams{
		ID: domain.SagaID(id), OrderID: domain.OrderID("o-" + id), ProductID: product, Qty: qty,
		AmountMinor: qty * 100, StartedAt: epoch, ReservedAt: epoch, Deadline: epoch.Add(time.Minute),
		LeaseOwner: "owner", LeaseUntil: epoch.Add(time.Minute), Now: epoch,
	})
	if err != nil {
		t.Fatalf("domain.Start: %v", err)
	}
	return s
}

func create(t testing.TB, db *mysql.DB, id string, qty int64) *domain.Saga {
	t.Helper()
	if err := db.Create(context.Background(), startSaga(t, id, qty)); err != nil {
		t.Fatalf("create %s: %v", id, err)
	}
	return load(t, db, id)
}

func load(t testing.TB, db *mysql.DB, id string) *domain.Saga {
	t.Helper()
	s, err := db.Saga(context.Background(), domain.SagaID(id))
	if err != nil {
		t.Fatalf("saga %s: %v", id, err)
	}
	return s
}

func stockOf(t testing.TB, db *mysql.DB) int64 {
	t.Helper()
	p, err := db.Product(context.Background(), product)
	if err != nil {
		t.Fatalf("product: %v", err)
	}
	return p.Stock
}

func count(s *domain.Saga, typ domain.EventType) int {
	n := 0
	for _, e := range s.Events {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// A write prepared from a stale load never lands: the version check in the
// UPDATE (through the optimisticlock plugin) refuses it, whichever branch
// the stale writer took.
func TestStaleWriteCannotWin(t *testing.T) {
	e := requireEnv(t)
	db := e.fresh(t, nil)
	ctx := context.Background()
	supply(t, db, 10)

	for _, first := range []string{"complete", "compensate"} {
		t.Run(first+" first", func(t *testing.T) {
			id := "s-" + first
			create(t, db, id, 2)
			a, b := load(t, db, id), load(t, db, id) // two loads of version 1
			completed, compensating := a.Clone(), b.Clone()
			if err := completed.Complete(epoch); err != nil {
				t.Fatal(err)
			}
			if err := compensating.BeginCompensation("test", epoch); err != nil {
				t.Fatal(err)
			}
			winner, winnerPrev, loser, loserPrev := completed, a, compensating, b
			if first == "compensate" {
				winner, winnerPrev, loser, loserPrev = compensating, b, completed, a
			}
			before := stockOf(t, db)
			if _, err := db.WriteOver(ctx, winnerPrev, winner); err != nil {
				t.Fatalf("first write: %v", err)
			}
			if _, err := db.WriteOver(ctx, loserPrev, loser); !errors.Is(err, mysql.ErrLostRace) {
				t.Fatalf("stale write: got %v, want a lost race", err)
			}
			got := load(t, db, id)
			if got.Status != winner.Status || got.Version != 2 || len(got.Events) != len(winner.Events) {
				t.Fatalf("stored %s v%d with %d events; want the first write's %s v2 with %d",
					got.Status, got.Version, len(got.Events), winner.Status, len(winner.Events))
			}
			wantStock := before
			if first == "complete" {
				wantStock -= 2
			}
			if s := stockOf(t, db); s != wantStock {
				t.Fatalf("stock %d, want %d: the stale write touched the product", s, wantStock)
			}
		})
	}

	t.Run("through Update, both loaded before either writes", func(t *testing.T) {
		create(t, db, "s-update", 2)
		before := stockOf(t, db)
		var loaded sync.WaitGroup
		loaded.Add(2)
		var once [2]sync.Once
		barrier := func(i int) { once[i].Do(func() { loaded.Done(); loaded.Wait() }) }
		fns := []func(*domain.Saga) error{
			func(s *domain.Saga) error { barrier(0); return s.Complete(epoch) },
			func(s *domain.Saga) error { barrier(1); return s.BeginCompensation("test", epoch) },
		}
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, fn := range fns {
			wg.Go(func() { _, errs[i] = db.Update(ctx, "s-update", fn) })
		}
		wg.Wait()
		final := load(t, db, "s-update")
		won := 0
		if final.Status == domain.SagaCompleted {
			won = 0
		} else if final.Status == domain.SagaCompensating {
			won = 1
		} else {
			t.Fatalf("final status %s", final.Status)
		}
		if errs[won] != nil || !errors.Is(errs[1-won], domain.ErrInvalidTransition) {
			t.Fatalf("final %s; Complete returned %v, BeginCompensation returned %v", final.Status, errs[0], errs[1])
		}
		if final.Version != 2 {
			t.Fatalf("version %d: the loser wrote too", final.Version)
		}
		wantStock := before
		if won == 0 {
			wantStock -= 2
		}
		if s := stockOf(t, db); s != wantStock {
			t.Fatalf("stock %d, want %d", s, wantStock)
		}
	})
}

// The adapter never calls GORM's Save: on a stale versioned row Save turns
// into an upsert that overwrites the newer row and rewinds its version.
func TestNeverSave(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		ast.Inspect(f, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok {
				if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "Save" {
					t.Errorf("%s: Save called; versioned rows must go through Updates and a RowsAffected check", fset.Position(call.Pos()))
				}
			}
			return true
		})
	}
	if checked == 0 {
		t.Fatal("no source files checked")
	}
}

// Concurrent confirmations of one order: exactly one performs it (stock
// goes down once, one OrderConfirmed); the others find it done (a no-op
// returning nil) or give up with ErrConflict.
func TestConcurrentConfirmsOfOneOrder(t *testing.T) {
	e := requireEnv(t)
	db := e.fresh(t, nil)
	supply(t, db, 10)
	create(t, db, "s-1", 3)
	const n = 16
	sawRunning := make([]bool, n) // as seen by the attempt Update committed last
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = db.Update(context.Background(), "s-1", func(s *domain.Saga) error {
				sawRunning[i] = s.Status == domain.SagaRunning
				return s.Complete(epoch)
			})
		})
	}
	close(start)
	wg.Wait()
	confirmers, noops, conflicts := 0, 0, 0
	for i, err := range errs {
		switch {
		case err == nil && sawRunning[i]:
			confirmers++
		case err == nil:
			noops++
		case errors.Is(err, domain.ErrConflict):
			conflicts++
		default:
			t.Fatalf("confirm %d: %v", i, err)
		}
	}
	final := load(t, db, "s-1")
	t.Logf("%d confirmed, %d found it confirmed, %d gave up with ErrConflict", confirmers, noops, conflicts)
	if confirmers != 1 {
		t.Fatalf("%d confirmations performed, want exactly 1", confirmers)
	}
	if final.Order.Status != domain.OrderConfirmed || count(final, domain.EventOrderConfirmed) != 1 {
		t.Fatalf("order %s with %d OrderConfirmed events", final.Order.Status, count(final, domain.EventOrderConfirmed))
	}
	if s := stockOf(t, db); s != 7 {
		t.Fatalf("stock %d after confirming 3 of 10 (%d times?)", s, (10-s)/3)
	}
}

// Read-your-writes: a saga is found by ID and by order ID the moment its
// Create returns, and a confirmation's stock change is seen by the next
// catalog read, replica lag or not.
func TestReadYourWrites(t *testing.T) {
	e := requireEnv(t)
	db := e.fresh(t, nil)
	ctx := context.Background()
	const n = 100
	supply(t, db, n)
	for i := range n {
		id := fmt.Sprintf("s-%03d", i)
		if err := db.Create(ctx, startSaga(t, id, 1)); err != nil {
			t.Fatalf("create %s: %v", id, err)
		}
		if _, err := db.Saga(ctx, domain.SagaID(id)); err != nil {
			t.Fatalf("saga %s right after create: %v", id, err)
		}
		if _, err := db.SagaOfOrder(ctx, domain.OrderID("o-"+id)); err != nil {
			t.Fatalf("order o-%s right after create: %v", id, err)
		}
		if _, err := db.Update(ctx, domain.SagaID(id), func(s *domain.Saga) error { return s.Complete(epoch) }); err != nil {
			t.Fatalf("complete %s: %v", id, err)
		}
		s, err := db.SagaOfOrder(ctx, domain.OrderID("o-"+id))
		if err != nil || s.Order.Status != domain.OrderConfirmed {
			t.Fatalf("order o-%s right after confirm: %v, %+v", id, err, s)
		}
		if got, want := stockOf(t, db), int64(n-i-1); got != want {
			t.Fatalf("stock %d right after confirmation %d, want %d", got, i+1, want)
		}
	}
	ps, err := db.Products(ctx)
	if err != nil || len(ps) != 1 || ps[0].Stock != 0 {
		t.Fatalf("products: %v %+v", err, ps)
	}
}

// A process that did not write the product reads the replica, which
// catches up.
func TestReplicaReadEventuallySeesProduct(t *testing.T) {
	e := requireEnv(t)
	writer := e.fresh(t, nil)
	reader := e.open(t, nil)
	want := supply(t, writer, 5)
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := reader.Product(context.Background(), product)
		if err == nil && got == want {
			return
		}
		if err != nil && !errors.Is(err, domain.ErrProductNotFound) {
			t.Fatalf("product: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 5 s the replica shows %+v (%v), want %+v", got, err, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// With the replica's applier paused, catalog reads prove both halves of
// the split: a process that wrote the product is served its own write (the
// primary answers for the lagging replica); one that did not sees the
// replica as it is, except that a miss is confirmed on the primary (a
// product another instance created a moment ago is never a false 404).
func TestReplicaLagIsHiddenFromTheWriter(t *testing.T) {
	st := requireStack(t)
	e := requireEnv(t)
	writer := e.fresh(t, nil)
	reader := e.open(t, nil)
	ctx := context.Background()
	st.sql(t, "replica", "STOP SLAVE SQL_THREAD")
	t.Cleanup(func() { st.sql(t, "replica", "START SLAVE SQL_THREAD") })

	supply(t, writer, 10)
	if p, err := reader.Product(ctx, product); err != nil || p.Stock != 10 {
		t.Fatalf("a reader that did not write: got %+v, %v; want the product from the primary (the paused replica misses it)", p, err)
	}
	if _, err := reader.Product(ctx, "p-absent"); !errors.Is(err, domain.ErrProductNotFound) {
		t.Fatalf("an unknown product: %v, want ErrProductNotFound", err)
	}
	if s := stockOf(t, writer); s != 10 {
		t.Fatalf("the writer reads stock %d, want its own 10", s)
	}
	create(t, writer, "s-1", 3)
	if _, err := writer.Update(ctx, "s-1", func(s *domain.Saga) error { return s.Complete(epoch) }); err != nil {
		t.Fatal(err)
	}
	if s := stockOf(t, writer); s != 7 {
		t.Fatalf("the writer reads stock %d after its confirmation, want 7", s)
	}
	ps, err := writer.Products(ctx)
	if err != nil || len(ps) != 1 || ps[0].Stock != 7 {
		t.Fatalf("the writer lists %+v (%v), want stock 7", ps, err)
	}
	if ps, err := reader.Products(ctx); err != nil || len(ps) != 0 {
		t.Fatalf("a reader that did not write lists %+v (%v), want the paused replica's empty catalog", ps, err)
	}

	st.sql(t, "replica", "START SLAVE SQL_THREAD")
	e.waitReplica(t)
	if s := stockOf(t, reader); s != 7 {
		t.Fatalf("after the replica caught up a reader sees stock %d, want 7", s)
	}
}

// A replica that does not answer costs no availability: catalog reads
// fall back to the primary.
func TestDeadReplicaReadsFromPrimary(t *testing.T) {
	e := requireEnv(t)
	e.clean(t)
	dead := func(o *mysql.Options) {
		o.ReplicaDSNs = []string{"flashsale:flashsale@tcp(127.0.0.1:1)/flashsale_test?timeout=1s"}
	}
	writer := e.open(t, dead)
	want := supply(t, writer, 3)
	reader := e.open(t, dead) // no write of its own to fall back for
	for range 3 {
		got, err := reader.Product(context.Background(), product)
		if err != nil || got != want {
			t.Fatalf("product with a dead replica: %+v, %v; want %+v", got, err, want)
		}
		ps, err := reader.Products(context.Background())
		if err != nil || len(ps) != 1 || ps[0] != want {
			t.Fatalf("products with a dead replica: %+v, %v", ps, err)
		}
	}
}

// What Supply returns is what the primary stores, version included.
func TestSupplyReturnsTheStoredRow(t *testing.T) {
	e := requireEnv(t)
	db := e.fresh(t, nil)
	for i, s := range []domain.Supply{
		{ID: product, Name: "Kettle", PriceMinor: 100, AddStock: 5},
		{ID: product, AddStock: 2},
		{ID: product, Name: "Big kettle"},
	} {
		got, err := db.Supply(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		var version, stock int64
		var name string
		if err := e.primary.QueryRow("SELECT version, stock, name FROM products WHERE id = ?", product).Scan(&version, &stock, &name); err != nil {
			t.Fatal(err)
		}
		if got.Version != int64(i+1) || version != got.Version || stock != got.Stock || name != got.Name {
			t.Fatalf("supply %d returned v%d stock %d %q; the primary holds v%d stock %d %q",
				i, got.Version, got.Stock, got.Name, version, stock, name)
		}
	}
}

func TestCreateWithATakenOrderIDIsDuplicate(t *testing.T) {
	e := requireEnv(t)
	db := e.fresh(t, nil)
	supply(t, db, 10)
	create(t, db, "s-1", 1)
	other := startSaga(t, "s-2", 1)
	other.Order.ID = "o-s-1"
	if err := db.Create(context.Background(), other); !errors.Is(err, domain.ErrDuplicate) {
		t.Fatalf("got %v, want ErrDuplicate", err)
	}
	if _, err := db.Saga(context.Background(), "s-2"); !errors.Is(err, domain.ErrSagaNotFound) {
		t.Fatalf("the refused saga: %v", err)
	}
}

// A saga created already confirmed decrements stock in the same
// transaction, guarded.
func TestCreateConfirmedDecrementsStock(t *testing.T) {
	e := requireEnv(t)
	db := e.fresh(t, nil)
	supply(t, db, 3)
	s := startSaga(t, "s-1", 2)
	if err := s.Complete(epoch); err != nil {
		t.Fatal(err)
	}
	if err := db.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	big := startSaga(t, "s-2", 2)
	if err := big.Complete(epoch); err != nil {
		t.Fatal(err)
	}
	if err := db.Create(context.Background(), big); !errors.Is(err, domain.ErrInsufficientStock) {
		t.Fatalf("second confirmed create: %v, want ErrInsufficientStock", err)
	}
	if _, err := db.Saga(context.Background(), "s-2"); !errors.Is(err, domain.ErrSagaNotFound) {
		t.Fatalf("the refused saga was stored: %v", err)
	}
	if got := stockOf(t, db); got != 1 {
		t.Fatalf("stock %d, want 1", got)
	}
}

func TestOpenWithoutAWritablePrimaryIsUnavailable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := mysql.Open(ctx, mysql.Options{PrimaryDSNs: []string{"u:p@tcp(127.0.0.1:1)/x"}})
	if !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("nothing listening: got %v, want ErrUnavailable", err)
	}
	if _, err := mysql.Open(ctx, mysql.Options{}); !errors.Is(err, domain.ErrInvalidInput) {
		t.Fatalf("no DSN: got %v, want ErrInvalidInput", err)
	}
	e := requireEnv(t)
	_, err = mysql.Open(ctx, mysql.Options{PrimaryDSNs: []string{e.replicaDSN}})
	if !errors.Is(err, domain.ErrUnavailable) || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("only a read-only candidate: got %v, want ErrUnavailable (read-only)", err)
	}
}

// Migrations build the schema on an empty database and are idempotent,
// also when several processes start at once.
func TestMigrations(t *testing.T) {
	e := requireEnv(t)
	ctx := context.Background()
	const name = "flashsale_migrate_test"
	empty, _ := e.emptyDatabase(t, name)

	if v, err := mysql.SchemaVersion(ctx, empty); err != nil || v != 0 {
		t.Fatalf("empty database at version %d (%v)", v, err)
	}
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range errs {
		wg.Go(func() { errs[i] = mysql.Migrate(ctx, empty) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent migrations: %v", err)
	}
	if err := mysql.Migrate(ctx, empty); err != nil {
		t.Fatalf("migrating again: %v", err)
	}
	v, err := mysql.SchemaVersion(ctx, empty)
	if err != nil || v != 3 {
		t.Fatalf("version %d (%v) after migrating, want 3", v, err)
	}
	tables := func() []string {
		t.Helper()
		rows, err := empty.QueryContext(ctx, "SELECT table_name FROM information_schema.tables "+
			"WHERE table_schema = ? AND table_name <> 'goose_db_version'", name)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var names []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			names = append(names, n)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		slices.Sort(names)
		return names
	}
	if got, want := tables(), []string{"products", "saga_event_writes", "sagas"}; !slices.Equal(got, want) {
		t.Fatalf("tables %v, want %v (00002 drops idempotency_keys, 00003 replaces saga_events)", got, want)
	}
	// 00002 goes down and up again: Down recreates 00001's table.
	if err := mysql.MigrateDownTo(ctx, empty, 1); err != nil {
		t.Fatalf("migrate down to 1: %v", err)
	}
	if got, want := tables(), []string{"idempotency_keys", "products", "saga_events", "sagas"}; !slices.Equal(got, want) {
		t.Fatalf("tables %v after going down to 1, want %v", got, want)
	}
	if err := mysql.Migrate(ctx, empty); err != nil {
		t.Fatalf("migrating up again: %v", err)
	}
	if got, want := tables(), []string{"products", "saga_event_writes", "sagas"}; !slices.Equal(got, want) {
		t.Fatalf("tables %v after going up again, want %v", got, want)
	}
	var collation string
	err = empty.QueryRowContext(ctx, "SELECT table_collation FROM information_schema.tables WHERE table_schema = ? AND table_name = 'products'", name).Scan(&collation)
	if err != nil || !strings.HasPrefix(collation, "utf8mb4") {
		t.Fatalf("products collation %q (%v), want utf8mb4", collation, err)
	}
}

func TestPing(t *testing.T) {
	e := requireEnv(t)
	db := e.open(t, nil)
	if err := db.Ping(context.Background()); err != nil {
		t.Fatalf("ping: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := db.Ping(ctx); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("ping with a done context: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := db.Ping(context.Background()); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("ping after close: %v, want ErrUnavailable", err)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	forgetSchema()
	os.Exit(code)
}

// WriteAll's one UPDATE stores times to the microsecond and NULLs as the
// per-row write does: what it returns is what a later load finds, down to
// the microsecond, for sagas with and without an order.
func TestWriteAllStoresWhatItReturns(t *testing.T) {
	e := requireEnv(t)
	db := e.fresh(t, nil)
	ctx := context.Background()
	supply(t, db, 10)
	at := epoch.Add(1234567891 * time.Nanosecond).In(time.FixedZone("X", 3600))
	a, b := create(t, db, "s-a", 2), create(t, db, "s-b", 3)
	aborted := domain.Abort(domain.Reservation{SagaID: "s-c", ProductID: product, Qty: 1, Deadline: at}, "expired", at)
	if err := db.Create(ctx, aborted); err != nil {
		t.Fatal(err)
	}
	c := load(t, db, "s-c")
	changes := []ports.SagaChange{{Prev: a, Next: a.Clone()}, {Prev: b, Next: b.Clone()}, {Prev: c, Next: c.Clone()}}
	if err := changes[0].Next.Complete(at); err != nil {
		t.Fatal(err)
	}
	if err := changes[1].Next.BeginCompensation("because", at); err != nil {
		t.Fatal(err)
	}
	changes[1].Next.LeaseOwner, changes[1].Next.LeaseUntil = "", time.Time{}
	changes[2].Next.Reason = "touched"
	got, err := db.WriteAll(ctx, changes)
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range got {
		if later := load(t, db, string(s.ID)); !reflect.DeepEqual(later, s) {
			t.Fatalf("change %d: WriteAll returned\n%+v\na later load finds\n%+v", i, s, later)
		}
	}
	if !got[0].UpdatedAt.Equal(at.Truncate(time.Microsecond)) || got[1].LeaseOwner != "" || !got[1].LeaseUntil.IsZero() {
		t.Fatalf("stored %v, lease %q until %v", got[0].UpdatedAt, got[1].LeaseOwner, got[1].LeaseUntil)
	}
	if s := stockOf(t, db); s != 8 {
		t.Fatalf("stock %d, want 8", s)
	}
}

// TestMigration00003KeepsEveryEvent: events stored one per row before 00003
// come out of the outbox after it as they went in, with what was published
// still published, and 00003's Down gives the rows of saga_events back.
func TestMigration00003KeepsEveryEvent(t *testing.T) {
	e := requireEnv(t)
	ctx := context.Background()
	conn, dsn := e.emptyDatabase(t, "flashsale_migrate_00003_test")
	if err := mysql.Migrate(ctx, conn); err != nil {
		t.Fatal(err)
	}
	if err := mysql.MigrateDownTo(ctx, conn, 2); err != nil {
		t.Fatalf("down to 2: %v", err)
	}

	at := time.Date(2026, 11, 29, 12, 0, 0, 123456789, time.UTC)
	events := []domain.Event{
		{ID: "s-1-001", SagaID: "s-1", Seq: 1, Type: domain.EventSagaStarted, At: at, ProductID: product, Qty: 1},
		{ID: "s-1-002", SagaID: "s-1", Seq: 2, Type: domain.EventInventoryReserved, At: at.Add(time.Millisecond), ProductID: product, Qty: 1},
		{ID: "s-2-001", SagaID: "s-2", Seq: 1, Type: domain.EventSagaStarted, At: at.Add(2 * time.Second), ProductID: product, Qty: 2},
		{ID: "s-1-003", SagaID: "s-1", Seq: 3, Type: domain.EventOrderCreated, At: at.Add(3 * time.Second).Truncate(time.Second), ProductID: product, OrderID: "o-1", Qty: 1, AmountMinor: 500},
	}
	published := map[string]bool{"s-1-001": true, "s-1-002": true}
	for _, ev := range events {
		// A version 2 row's payload: the event in the names it was written with.
		legacy := map[string]any{"id": ev.ID, "sagaId": ev.SagaID, "seq": ev.Seq, "type": ev.Type, "at": ev.At,
			"productId": ev.ProductID, "qty": ev.Qty}
		if ev.OrderID != "" {
			legacy["orderId"] = ev.OrderID
		}
		if ev.AmountMinor != 0 {
			legacy["amountMinor"] = ev.AmountMinor
		}
		payload, err := json.Marshal(legacy)
		if err != nil {
			t.Fatal(err)
		}
		var pub any
		if published[ev.ID] {
			pub = at
		}
		if _, err := conn.ExecContext(ctx, "INSERT INTO saga_events (id, saga_id, seq, type, payload, occurred_at, published_at) "+
			"VALUES (?, ?, ?, ?, ?, ?, ?)", ev.ID, ev.SagaID, ev.Seq, ev.Type, payload, ev.At.Truncate(time.Microsecond), pub); err != nil {
			t.Fatal(err)
		}
	}
	if err := mysql.Migrate(ctx, conn); err != nil {
		t.Fatalf("up to 3: %v", err)
	}
	db := e.open(t, func(o *mysql.Options) { o.PrimaryDSNs, o.ReplicaDSNs = []string{dsn}, nil })
	got, err := db.Unpublished(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	if want := []domain.Event{events[2], events[3]}; !slices.EqualFunc(got, want, func(a, b domain.Event) bool {
		return a.ID == b.ID && a.At.Equal(b.At) && a.Type == b.Type && a.OrderID == b.OrderID && a.AmountMinor == b.AmountMinor
	}) {
		t.Fatalf("unpublished after 00003: %+v, want %+v", got, want)
	}

	if err := mysql.MigrateDownTo(ctx, conn, 2); err != nil {
		t.Fatalf("down to 2 again: %v", err)
	}
	rows, err := conn.QueryContext(ctx, "SELECT id, seq, type, occurred_at, published_at IS NOT NULL FROM saga_events ORDER BY pos")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var back []string
	for rows.Next() {
		var id, typ string
		var seq int
		var occurred time.Time
		var pub bool
		if err := rows.Scan(&id, &seq, &typ, &occurred, &pub); err != nil {
			t.Fatal(err)
		}
		back = append(back, fmt.Sprintf("%s %d %s %s %v", id, seq, typ, occurred.UTC().Format(time.RFC3339Nano), pub))
	}
	var want []string
	for _, ev := range events {
		want = append(want, fmt.Sprintf("%s %d %s %s %v", ev.ID, ev.Seq, ev.Type, ev.At.Truncate(time.Microsecond).Format(time.RFC3339Nano), published[ev.ID]))
	}
	if !slices.Equal(back, want) {
		t.Fatalf("saga_events after going down:\n%s\nwant\n%s", strings.Join(back, "\n"), strings.Join(want, "\n"))
	}
}

// emptyDatabase creates database name on the test primary, empty, dropped
// when the test ends, and returns a connection to it and its DSN.
func (e *env) emptyDatabase(t *testing.T, name string) (*sql.DB, string) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.primary.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name); err != nil {
		t.Fatal(err)
	}
	if _, err := e.primary.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = e.primary.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name) })
	cfg, err := mysqldriver.ParseDSN(e.primaryDSN)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DBName = name
	conn, err := pingDSN(cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn, cfg.FormatDSN()
}
