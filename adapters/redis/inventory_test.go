package redis_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/flashsale/flashsale/adapters/redis"
	"github.com/flashsale/flashsale/domain"
)

// Consumed and refused records are forgotten after the retention; held ones
// never expire (the reaper consumes them).
func TestRecordsExpireAfterRetentionExceptHeld(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		ctx := t.Context()
		const retention = 200 * time.Millisecond
		inv := redis.NewInventory(tg.client, redis.WithInventoryNamespace(namespace(t, tg.client)), redis.WithRetention(retention))
		res := func(saga string, qty int64) domain.Reservation {
			return domain.Reservation{SagaID: domain.SagaID(saga), ProductID: "p-1", Qty: qty, Deadline: time.Now().Add(time.Minute)}
		}
		if err := inv.SetStock(ctx, "p-1", 3); err != nil {
			t.Fatal(err)
		}
		for _, saga := range []string{"s-held", "s-confirmed", "s-released"} {
			if err := inv.Reserve(ctx, res(saga, 1)); err != nil {
				t.Fatal(err)
			}
		}
		if err := inv.Confirm(ctx, "p-1", "s-confirmed"); err != nil {
			t.Fatal(err)
		}
		if err := inv.Release(ctx, "p-1", "s-released"); err != nil {
			t.Fatal(err)
		}
		if err := inv.Reserve(ctx, res("s-refused", 5)); !errors.Is(err, domain.ErrInsufficientStock) {
			t.Fatalf("reserve 5 of 1: %v", err)
		}
		held := inv.KeysOf("p-1", "s-held")[1]
		if ttl := tg.client.PTTL(ctx, held).Val(); ttl != -1 {
			t.Fatalf("a HELD record has ttl %v, want none", ttl)
		}
		for _, saga := range []domain.SagaID{"s-confirmed", "s-released", "s-refused"} {
			if ttl := tg.client.PTTL(ctx, inv.KeysOf("p-1", saga)[1]).Val(); ttl <= 0 || ttl > retention {
				t.Fatalf("record of %s has ttl %v, want (0, %v]", saga, ttl, retention)
			}
		}
		time.Sleep(retention + 100*time.Millisecond)
		for _, saga := range []domain.SagaID{"s-confirmed", "s-released", "s-refused"} {
			if n := tg.client.Exists(ctx, inv.KeysOf("p-1", saga)[1]).Val(); n != 0 {
				t.Fatalf("record of %s outlived the retention", saga)
			}
		}
		if n := tg.client.Exists(ctx, held).Val(); n != 1 {
			t.Fatal("the HELD record expired")
		}
		// A retry later than the retention is a new request.
		if err := inv.Reserve(ctx, res("s-released", 1)); err != nil {
			t.Fatalf("reserve after the released record expired: %v", err)
		}
	})
}

// go-redis resends a command whose reply was lost; AddStock, not
// idempotent by contract, must not supply twice for one call.
func TestAddStockRetryOfOneCallAppliesOnce(t *testing.T) {
	tg := connectSingle(t)
	ctx := t.Context()
	inv := redis.NewInventory(tg.client, redis.WithInventoryNamespace(namespace(t, tg.client)))
	for range 3 {
		if err := inv.AddStockOp(ctx, "p-1", 5, "op-1"); err != nil {
			t.Fatal(err)
		}
	}
	if err := inv.AddStockOp(ctx, "p-1", 2, "op-2"); err != nil {
		t.Fatal(err)
	}
	if err := inv.AddStock(ctx, "p-1", 1); err != nil {
		t.Fatal(err)
	}
	if l, err := inv.Level(ctx, "p-1"); err != nil || l.Stock != 8 || l.Version != 3 {
		t.Fatalf("level %+v, %v; want stock 8 at version 3", l, err)
	}
}

// go-redis resends the reserve script whose reply was lost; the record
// the resend finds is the call's own, and ReserveFresh must say fresh, or a
// keyed purchase would take a reservation it believes is an earlier
// request's and never give it back.
func TestReserveFreshRetryOfOneCallIsStillFresh(t *testing.T) {
	tg := connectSingle(t)
	ctx := t.Context()
	inv := redis.NewInventory(tg.client, redis.WithInventoryNamespace(namespace(t, tg.client)))
	if err := inv.SetStock(ctx, "p-1", 5); err != nil {
		t.Fatal(err)
	}
	r := domain.Reservation{SagaID: "s-1", ProductID: "p-1", Qty: 2, Deadline: time.Now().Add(time.Minute)}
	for i := range 3 { // the call and two resends of it
		if fresh, err := inv.ReserveFreshNonce(ctx, r, "call-1"); err != nil || !fresh {
			t.Fatalf("send %d of one call: fresh %v, %v; want fresh", i+1, fresh, err)
		}
	}
	if fresh, err := inv.ReserveFreshNonce(ctx, r, "call-2"); err != nil || fresh {
		t.Fatalf("another call for the same saga: fresh %v, %v; want a replay", fresh, err)
	}
	if fresh, err := inv.ReserveFresh(ctx, r); err != nil || fresh {
		t.Fatalf("ReserveFresh for the same saga: fresh %v, %v; want a replay", fresh, err)
	}
	if l, err := inv.Level(ctx, "p-1"); err != nil || l.Reserved != 2 {
		t.Fatalf("level %+v, %v; want 2 reserved once", l, err)
	}
}

func TestStockBoundsAndValidation(t *testing.T) {
	tg := connectSingle(t)
	ctx := t.Context()
	inv := redis.NewInventory(tg.client, redis.WithInventoryNamespace(namespace(t, tg.client)))
	if err := inv.SetStock(ctx, "p-1", redis.MaxStock-1); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"add past MaxStock":     inv.AddStock(ctx, "p-1", 2),
		"set above MaxStock":    inv.SetStock(ctx, "p-1", redis.MaxStock+1),
		"set negative":          inv.SetStock(ctx, "p-1", -1),
		"malformed product":     inv.SetStock(ctx, "p{1}", 1),
		"malformed saga":        inv.Reserve(ctx, domain.Reservation{SagaID: "s 1", ProductID: "p-1", Qty: 1}),
		"malformed product res": inv.Reserve(ctx, domain.Reservation{SagaID: "s-1", ProductID: "", Qty: 1}),
	} {
		if !errors.Is(err, domain.ErrInvalidInput) {
			t.Errorf("%s: got %v, want ErrInvalidInput", name, err)
		}
	}
	if l, err := inv.Level(ctx, "p-1"); err != nil || l.Stock != redis.MaxStock-1 {
		t.Fatalf("level %+v, %v", l, err)
	}
	if err := inv.AddStock(ctx, "p-1", 1); err != nil {
		t.Fatalf("add up to MaxStock: %v", err)
	}
}

// The products set is what Expired walks; the loader registers each product.
func TestLoaderRegistersProducts(t *testing.T) {
	tg := connectSingle(t)
	ctx := t.Context()
	inv := redis.NewInventory(tg.client, redis.WithInventoryNamespace(namespace(t, tg.client)))
	_ = inv.AddStock(ctx, "p-a", 1)
	_ = inv.SetStock(ctx, "p-b", 1)
	got, err := tg.client.SMembers(ctx, inv.ProductsKey()).Result()
	if err != nil || len(got) != 2 {
		t.Fatalf("products set %v, %v; want p-a and p-b", got, err)
	}
}

func TestStatusMapping(t *testing.T) {
	for status, want := range map[int64]error{
		1: domain.ErrInsufficientStock, 2: domain.ErrProductNotFound, 3: domain.ErrReservationNotFound,
		4: domain.ErrReservationReleased, 5: domain.ErrReservationConfirmed, 6: domain.ErrIdempotencyMismatch,
		7: domain.ErrConflict, 8: domain.ErrInvalidInput, 9: domain.ErrInvalidInput, 10: domain.ErrLockLost,
	} {
		if err := redis.StatusError("op", status, 0); !errors.Is(err, want) {
			t.Errorf("status %d: %v, want %v", status, err, want)
		}
	}
	if err := redis.StatusError("op", 0, 0); err != nil {
		t.Errorf("status 0: %v", err)
	}
	for _, status := range []int64{11, 99} {
		if err := redis.StatusError("op", status, 0); err == nil {
			t.Errorf("status %d must be an error", status)
		}
	}
}

func TestNewClientValidatesOptions(t *testing.T) {
	for name, o := range map[string]redis.Options{
		"no address":             {},
		"two addrs, not cluster": {Addrs: []string{"a:1", "b:2"}},
		"empty address":          {Addrs: []string{""}},
		"negative timeout":       {Addrs: []string{"a:1"}, ReadTimeout: -1},
	} {
		if _, err := redis.NewClient(o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	o := redis.Options{Addrs: []string{"a:1"}, Password: "hunter2"}
	if s := o.String(); strings.Contains(s, "hunter2") {
		t.Errorf("Options.String shows the password: %s", s)
	}
}

func TestConstructorsFailFast(t *testing.T) {
	wantPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", name)
			}
		}()
		f()
	}
	var nilClient *goredis.Client
	wantPanic("NewInventory(nil)", func() { redis.NewInventory(nil) })
	wantPanic("NewInventory(typed nil)", func() { redis.NewInventory(nilClient) })
	wantPanic("NewLocker(nil)", func() { redis.NewLocker(nil) })
	wantPanic("NewProductCache(nil)", func() { redis.NewProductCache(nil) })
	deaf := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"}) // ignores context deadlines
	defer deaf.Close()
	wantPanic("NewInventory(client without ContextTimeoutEnabled)", func() { redis.NewInventory(deaf) })
	wantPanic("WithRetention(0)", func() { redis.WithRetention(0) })
	wantPanic("WithInventoryNamespace({)", func() { redis.WithInventoryNamespace("a{b") })
}

// A replica promoted by a failover has never seen the scripts (Redis 7
// replicates their effects, not the scripts) and answers NOSCRIPT to
// EVALSHA; every call must fall back to EVAL. SCRIPT FLUSH makes the
// standalone node look like that.
func TestScriptsSurviveAnEmptyScriptCache(t *testing.T) {
	tg := connectSingle(t)
	ctx := t.Context()
	inv := redis.NewInventory(tg.client, redis.WithInventoryNamespace(namespace(t, tg.client)))
	locker := redis.NewLocker(tg.client)
	key := namespace(t, tg.client) + "lock"
	res := domain.Reservation{SagaID: "s-1", ProductID: "p-1", Qty: 1, Deadline: time.Now().Add(time.Minute)}
	steps := []struct {
		name string
		do   func() error
	}{
		{"set stock", func() error { return inv.SetStock(ctx, "p-1", 5) }},
		{"add stock", func() error { return inv.AddStock(ctx, "p-1", 1) }},
		{"reserve", func() error { return inv.Reserve(ctx, res) }},
		{"confirm", func() error { return inv.Confirm(ctx, "p-1", "s-1") }},
		{"reserve another", func() error { res.SagaID = "s-2"; return inv.Reserve(ctx, res) }},
		{"release", func() error { return inv.Release(ctx, "p-1", "s-2") }},
		{"acquire", func() error { return locker.Acquire(ctx, key, "t", time.Second) }},
		{"extend", func() error { return locker.Extend(ctx, key, "t", time.Second) }},
		{"unlock", func() error { return locker.Release(ctx, key, "t") }},
	}
	for _, s := range steps {
		if err := tg.client.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if err := s.do(); err != nil {
			t.Fatalf("%s after SCRIPT FLUSH: %v", s.name, err)
		}
	}
	if l, err := inv.Level(ctx, "p-1"); err != nil || l.Stock != 5 || l.Reserved != 0 {
		t.Fatalf("level %+v, %v; want stock 5, reserved 0", l, err)
	}
}
