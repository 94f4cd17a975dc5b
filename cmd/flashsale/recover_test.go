package main

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/memory"
	"github.com/flashsale/flashsale/adapters/mysql"
	"github.com/flashsale/flashsale/adapters/payment"
	"github.com/flashsale/flashsale/adapters/redis"
	"github.com/flashsale/flashsale/adapters/system"
	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
)

// TestTwoRecoverersOnMySQL: two instances recovering the same stale sagas
// at once, on the real MariaDB and Redis, compensate each exactly once:
// the store's version check lets one claim win.
func TestTwoRecoverersOnMySQL(t *testing.T) {
	needServices(t)
	realEnv(t) // a fresh database
	ctx := context.Background()
	dsn := func(addr string) string { return "flashsale:flashsale@tcp(" + addr + ")/" + realDB }
	db, err := mysql.Open(ctx, mysql.Options{PrimaryDSNs: []string{dsn(realPrimary)}, ReplicaDSNs: []string{dsn(realReplica)}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	client, err := redis.NewClient(redis.Options{Addrs: []string{realRedis}})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	gateway, err := payment.NewSimulated(payment.Options{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	inv := redis.NewInventory(client)
	crashAfterCharge := func(_ domain.SagaID, at app.CrashPoint) bool { return at == app.CrashAfterCharge }
	instance := func(name string, hooks app.Hooks) *app.App {
		a, err := app.New(app.Deps{
			Clock: system.Clock{}, IDs: system.IDs{}, Inventory: inv, Locker: redis.NewLocker(client),
			Catalog: db, Cache: memory.NewProductCache(system.Clock{}), Sagas: db, Orders: db, Outbox: db,
			Publisher: memory.NewEventLog(), Payments: gateway,
		}, app.Config{InstanceID: name, StepTimeout: time.Second, SagaTimeout: 2 * time.Second,
			LeaseTTL: 3 * time.Second, ReservationTTL: 10 * time.Second}, hooks)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	dying := instance("dying", app.Hooks{Crash: crashAfterCharge})
	r1, r2 := instance("r1", app.Hooks{}), instance("r2", app.Hooks{})

	product := domain.ProductID(fmt.Sprintf("recover-%d", time.Now().UnixNano()))
	if _, err := r1.Supply(ctx, domain.Supply{ID: product, Name: "r", PriceMinor: 100, AddStock: 20}); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if _, err := dying.Purchase(ctx, domain.PurchaseRequest{ProductID: product, Qty: 1}, ""); !errors.Is(err, app.ErrCrashed) {
			t.Fatalf("purchase: %v", err)
		}
	}
	time.Sleep(3100 * time.Millisecond) // the dead instance's leases run out

	counts := make(chan int, 2)
	start := make(chan struct{})
	for _, a := range []*app.App{r1, r2} {
		go func() {
			<-start
			n, err := a.RecoverStale(ctx)
			if err != nil {
				t.Error(err)
			}
			counts <- n
		}()
	}
	close(start)
	if total := <-counts + <-counts; total != 10 {
		t.Fatalf("recovered %d sagas in all, want exactly 10", total)
	}
	if got := gateway.RefundsApplied(); got != 10 || gateway.ChargesApplied() != 10 {
		t.Fatalf("%d charges, %d refunds; want 10 and 10", gateway.ChargesApplied(), gateway.RefundsApplied())
	}
	l, err := inv.Level(ctx, product)
	if err != nil || l.Stock != 20 || l.Reserved != 0 {
		t.Fatalf("gate after recovery: %+v %v; want stock 20, nothing reserved", l, err)
	}
}
