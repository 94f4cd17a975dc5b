package app_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/memory"
	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// appWith is w.app with a configuration and deps of the test's choosing.
func (w *world) appWith(cfg app.Config, hooks app.Hooks, deps func(*app.Deps)) *app.App {
	w.t.Helper()
	d := app.Deps{
		Clock: w.clock, IDs: w.ids, Inventory: w.inv, Locker: w.locker, Catalog: w.store,
		Cache: w.cache, Sagas: w.store, Orders: w.store, Outbox: w.store, Publisher: w.events,
		Payments: w.pay,
	}
	if deps != nil {
		deps(&d)
	}
	if cfg.Strategy == "" {
		cfg.Strategy = app.StrategyNone
	}
	a, err := app.New(d, cfg, hooks)
	if err != nil {
		w.t.Fatalf("app.New: %v", err)
	}
	return a
}

// slowBatch is the memory store whose group writes take a while and are
// counted, so that concurrent purchases queue behind a write in progress.
type slowBatch struct {
	*memory.Store
	delay   time.Duration
	mu      sync.Mutex
	confirm []int // the size of every WriteAll
	creates []int // the size of every CreateAll
}

func (s *slowBatch) WriteAll(ctx context.Context, changes []ports.SagaChange) ([]*domain.Saga, error) {
	time.Sleep(s.delay)
	s.mu.Lock()
	s.confirm = append(s.confirm, len(changes))
	s.mu.Unlock()
	return s.Store.WriteAll(ctx, changes)
}

func (s *slowBatch) CreateAll(ctx context.Context, sagas []*domain.Saga) error {
	time.Sleep(s.delay)
	s.mu.Lock()
	s.creates = append(s.creates, len(sagas))
	s.mu.Unlock()
	return s.Store.CreateAll(ctx, sagas)
}

func largest(sizes []int) (n, sum int) {
	for _, s := range sizes {
		n = max(n, s)
		sum += s
	}
	return n, sum
}

// TestConfirmsAreGroupedPerProduct: a crowd buying one product confirms in
// groups (one durable write for many sales), every buyer told "confirmed"
// has a COMPLETED saga, and I1/I2 hold at rest.
func TestConfirmsAreGroupedPerProduct(t *testing.T) {
	w := newWorld(t)
	store := &slowBatch{Store: w.store, delay: 2 * time.Millisecond}
	a := w.appWith(app.Config{}, app.Hooks{}, func(d *app.Deps) { d.Sagas = store })
	w.supply(a, "hot", 150)

	const buyers = 200
	var wg sync.WaitGroup
	var ok, short atomic.Int64
	errs := make(chan error, buyers)
	start := make(chan struct{})
	for i := range buyers {
		wg.Go(func() {
			<-start
			s, err := a.Purchase(context.Background(), domain.PurchaseRequest{ProductID: "hot", Qty: 1}, fmt.Sprint("k", i))
			switch {
			case err == nil && s.Status == domain.SagaCompleted:
				ok.Add(1)
			case errors.Is(err, domain.ErrInsufficientStock):
				short.Add(1)
			default:
				errs <- fmt.Errorf("buyer %d: %v %v", i, s, err)
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if ok.Load() != 150 || short.Load() != 50 {
		t.Errorf("%d confirmed, %d insufficient; want 150 and 50", ok.Load(), short.Load())
	}
	largestConfirm, confirmed := largest(store.confirm)
	largestCreate, created := largest(store.creates)
	if confirmed != 150 || created != 150 {
		t.Errorf("groups wrote %d confirms and %d creations, want 150 each", confirmed, created)
	}
	if largestConfirm < 2 || largestCreate < 2 {
		t.Errorf("largest groups: %d confirms, %d creations; a crowd must share writes", largestConfirm, largestCreate)
	}
	if len(store.confirm) >= 150 {
		t.Errorf("%d confirm writes for 150 sales: nothing was grouped", len(store.confirm))
	}
	w.settle(a)
	w.assertOK(w.restViolations())
}

// TestCrashInAConfirmGroupEndsEveryMemberAlike: the process dies while a
// group of confirms is being written: none of its members learns anything,
// and after recovery they all ended the same way (compensated: the group
// never committed), with I2 at rest.
func TestCrashInAConfirmGroupEndsEveryMemberAlike(t *testing.T) {
	w := newWorld(t)
	store := &slowBatch{Store: w.store, delay: 5 * time.Millisecond}
	// The group that holds buyer c30 dies, with all its members.
	victim := app.SagaIDForKey("c30")
	hooks := app.Hooks{Crash: func(id domain.SagaID, at app.CrashPoint) bool {
		return at == app.CrashInConfirmGroup && id == victim
	}}
	a := w.appWith(app.Config{}, hooks, func(d *app.Deps) { d.Sagas = store })
	w.supply(a, "hot", 100)

	var wg sync.WaitGroup
	var mu sync.Mutex
	results := map[domain.SagaID]error{}
	for i := range 60 {
		wg.Go(func() {
			key := fmt.Sprint("c", i)
			_, err := a.Purchase(context.Background(), domain.PurchaseRequest{ProductID: "hot", Qty: 1}, key)
			mu.Lock()
			results[app.SagaIDForKey(key)] = err
			mu.Unlock()
		})
	}
	wg.Wait()
	var dead []domain.SagaID
	for id, err := range results {
		if errors.Is(err, app.ErrCrashed) {
			dead = append(dead, id)
		} else if err != nil {
			t.Errorf("saga %s: %v", id, err)
		}
	}
	if len(dead) == 0 {
		t.Fatal("no group crashed: the test did not test anything")
	}
	w.settle(w.app(app.StrategyNone, "survivor"))
	for _, id := range dead {
		s, err := w.store.Saga(context.Background(), id)
		if err != nil {
			t.Fatalf("saga %s: %v", id, err)
		}
		if s.Status != domain.SagaCompensated {
			t.Errorf("member %s of the crashed group ended %s; every member must end compensated", id, s.Status)
		}
	}
	w.assertOK(w.restViolations())
}

// countingInventory counts the gate calls a purchase makes.
type countingInventory struct {
	*memory.Inventory
	reserves, lookups atomic.Int64
}

func (c *countingInventory) Reserve(ctx context.Context, r domain.Reservation) error {
	c.reserves.Add(1)
	return c.Inventory.Reserve(ctx, r)
}

func (c *countingInventory) HasReservation(ctx context.Context, p domain.ProductID, s domain.SagaID) (bool, error) {
	c.lookups.Add(1)
	return c.Inventory.HasReservation(ctx, p, s)
}

// TestSoldOutIsAnsweredFromMemory: once the gate said a product cannot
// cover a quantity, later purchases asking as much are refused without a
// reservation attempt; a keyed request whose saga bought before still gets
// its order; a restock or a release by this instance, or the TTL running
// out, opens the product again.
func TestSoldOutIsAnsweredFromMemory(t *testing.T) {
	w := newWorld(t)
	inv := &countingInventory{Inventory: w.inv}
	a := w.appWith(app.Config{SoldOutTTL: time.Second}, app.Hooks{}, func(d *app.Deps) { d.Inventory = inv })
	w.supply(a, "p", 2)
	ctx := context.Background()
	buy := func(qty int64, key string) (app.Receipt, error) {
		return a.Buy(ctx, domain.PurchaseRequest{ProductID: "p", Qty: qty}, key)
	}
	first, err := buy(2, "early-bird")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := buy(1, ""); !errors.Is(err, domain.ErrInsufficientStock) {
		t.Fatalf("after selling out: %v", err)
	}
	before := inv.reserves.Load()
	for range 10 {
		if _, err := buy(1, ""); !errors.Is(err, domain.ErrInsufficientStock) {
			t.Fatalf("sold out from memory: %v", err)
		}
	}
	if n := inv.reserves.Load() - before; n != 0 {
		t.Errorf("%d reservations tried on a product known sold out", n)
	}
	// The early bird retries (its answer was lost): it gets its order, not
	// "sold out".
	again, err := buy(2, "early-bird")
	if err != nil || !again.Replayed || again.Saga.Order.ID != first.Saga.Order.ID {
		t.Fatalf("keyed retry after sell-out: %+v %v", again, err)
	}
	// A new key is looked up in the gate (one round trip), not reserved.
	before = inv.reserves.Load()
	if _, err := buy(1, "late-comer"); !errors.Is(err, domain.ErrInsufficientStock) || inv.reserves.Load() != before {
		t.Fatalf("new key on a sold-out product: %v (%d reserves)", err, inv.reserves.Load()-before)
	}
	// A restock here opens it at once.
	w.supply(a, "p", 1)
	if _, err := buy(1, ""); err != nil {
		t.Fatalf("after a restock: %v", err)
	}
	// Sold out again; past the TTL the gate is asked again.
	if _, err := buy(1, ""); !errors.Is(err, domain.ErrInsufficientStock) {
		t.Fatal(err)
	}
	before = inv.reserves.Load()
	w.clock.Advance(time.Second)
	_, _ = buy(1, "")
	if inv.reserves.Load() == before {
		t.Error("the sold-out mark outlived its TTL")
	}
	w.settle(a)
	w.assertOK(w.restViolations())
}

// TestSoldOutMarkIgnoresARetriedRefusal: a key refused while the product
// was sold out asks again after a restock on another instance: the gate
// replays its refusal, but that must not mark the product sold out for
// everyone else.
func TestSoldOutMarkIgnoresARetriedRefusal(t *testing.T) {
	w := newWorld(t)
	a := w.appWith(app.Config{SoldOutTTL: time.Minute}, app.Hooks{}, nil)
	other := w.appWith(app.Config{SoldOutTTL: time.Minute, InstanceID: "other"}, app.Hooks{}, nil)
	w.supply(a, "p", 1)
	ctx := context.Background()
	if _, err := other.Purchase(ctx, domain.PurchaseRequest{ProductID: "p", Qty: 1}, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Purchase(ctx, domain.PurchaseRequest{ProductID: "p", Qty: 1}, "unlucky"); !errors.Is(err, domain.ErrInsufficientStock) {
		t.Fatal(err)
	}
	w.supply(other, "p", 5) // a's mark does not see this restock
	w.clock.Advance(2 * time.Minute)
	if _, err := a.Purchase(ctx, domain.PurchaseRequest{ProductID: "p", Qty: 1}, "unlucky"); !errors.Is(err, domain.ErrInsufficientStock) {
		t.Fatalf("the refused key asks again: %v (the gate replays its refusal)", err)
	}
	if _, err := a.Purchase(ctx, domain.PurchaseRequest{ProductID: "p", Qty: 1}, ""); err != nil {
		t.Fatalf("another buyer after the restock: %v", err)
	}
}

// blockingPayments holds every charge until released.
type blockingPayments struct {
	ports.Payments
	gate chan struct{}
}

func (b blockingPayments) Charge(ctx context.Context, saga domain.SagaID, amount int64) error {
	<-b.gate
	return b.Payments.Charge(ctx, saga, amount)
}

// TestAdmissionShedsPastTheProductLimit: with two purchases of a product
// in flight, a third is refused at once with ErrSaturated and changes
// nothing; another product is not affected; the slots come back.
func TestAdmissionShedsPastTheProductLimit(t *testing.T) {
	w := newWorld(t)
	release := make(chan struct{})
	a := w.appWith(app.Config{MaxInFlightPerProduct: 2}, app.Hooks{}, func(d *app.Deps) {
		d.Payments = blockingPayments{Payments: w.pay, gate: release}
	})
	w.supply(a, "p", 10)
	w.supply(a, "q", 10)
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if _, err := a.Purchase(ctx, domain.PurchaseRequest{ProductID: "p", Qty: 1}, ""); err != nil {
				t.Error(err)
			}
		})
	}
	deadline := time.Now().Add(5 * time.Second)
	for l, _ := w.inv.Level(ctx, "p"); l.Reserved < 2 && time.Now().Before(deadline); l, _ = w.inv.Level(ctx, "p") {
		time.Sleep(time.Millisecond)
	}
	before, _ := w.inv.Level(ctx, "p")
	if _, err := a.Purchase(ctx, domain.PurchaseRequest{ProductID: "p", Qty: 1}, "third"); !errors.Is(err, domain.ErrSaturated) {
		t.Fatalf("third purchase of p: %v, want ErrSaturated", err)
	}
	if after, _ := w.inv.Level(ctx, "p"); after.Stock != before.Stock || after.Reserved != before.Reserved {
		t.Errorf("a shed purchase changed the gate: %+v -> %+v", before, after)
	}
	if _, err := w.store.Saga(ctx, app.SagaIDForKey("third")); !errors.Is(err, domain.ErrSagaNotFound) {
		t.Errorf("a shed purchase left a saga: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := a.Purchase(ctx, domain.PurchaseRequest{ProductID: "q", Qty: 1}, "")
		done <- err
	}()
	close(release)
	if err := <-done; err != nil {
		t.Errorf("another product: %v", err)
	}
	wg.Wait()
	if _, err := a.Purchase(ctx, domain.PurchaseRequest{ProductID: "p", Qty: 1}, "third"); err != nil {
		t.Errorf("after the slots came back: %v", err)
	}
	w.settle(a)
	w.assertOK(w.restViolations())
}

// countingCatalog counts catalog reads.
type countingCatalog struct {
	ports.Catalog
	reads atomic.Int64
}

func (c *countingCatalog) Product(ctx context.Context, id domain.ProductID) (domain.Product, error) {
	c.reads.Add(1)
	return c.Catalog.Product(ctx, id)
}

// TestPurchaseOfACachedProductReadsNoDatabase: the price comes from the
// caches; the catalog is read once, on the first miss.
func TestPurchaseOfACachedProductReadsNoDatabase(t *testing.T) {
	w := newWorld(t)
	cat := &countingCatalog{Catalog: w.store}
	a := w.appWith(app.Config{}, app.Hooks{}, func(d *app.Deps) { d.Catalog = cat })
	w.supply(a, "p", 10)
	for i := range 5 {
		s, err := a.Purchase(context.Background(), domain.PurchaseRequest{ProductID: "p", Qty: 1}, "")
		if err != nil {
			t.Fatal(err)
		}
		if s.AmountMinor != 1000 {
			t.Errorf("purchase %d charged %d, want the price 1000", i, s.AmountMinor)
		}
	}
	if n := cat.reads.Load(); n != 1 {
		t.Errorf("%d catalog reads for 5 purchases of one product, want 1 (the first miss)", n)
	}
}

// TestNearCacheSaysItsAge: a read served from the near cache after another
// instance sold says when its count was read; a fresh read is live.
func TestNearCacheSaysItsAge(t *testing.T) {
	w := newWorld(t)
	a := w.appWith(app.Config{NearCacheTTL: time.Second}, app.Hooks{}, nil)
	other := w.appWith(app.Config{InstanceID: "other"}, app.Hooks{}, nil)
	w.supply(a, "p", 10)
	ctx := context.Background()
	v, err := a.Product(ctx, "p", app.ReadOptions{})
	if err != nil || v.Available != 10 || !v.AvailableAsOf.Equal(w.clock.Now()) {
		t.Fatalf("first read %+v %v", v, err)
	}
	readAt := w.clock.Now()
	if _, err := other.Purchase(ctx, domain.PurchaseRequest{ProductID: "p", Qty: 3}, ""); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(500 * time.Millisecond)
	if v, _ := a.Product(ctx, "p", app.ReadOptions{}); v.Available != 10 || !v.AvailableAsOf.Equal(readAt) {
		t.Errorf("near read %d as of %s; want the cached 10 as of %s", v.Available, v.AvailableAsOf, readAt)
	}
	if v, _ := a.Product(ctx, "p", app.ReadOptions{Fresh: true}); v.Available != 7 || v.Stock != 7 || !v.AvailableAsOf.Equal(w.clock.Now()) {
		t.Errorf("fresh read %+v; want stock and available 7, now", v)
	}
	w.clock.Advance(time.Second)
	if v, _ := a.Product(ctx, "p", app.ReadOptions{}); v.Available != 7 {
		t.Errorf("after the TTL: %d, want 7", v.Available)
	}
}

// gateDown is the world's inventory whose Level fails as an unreachable
// Redis does while down is set.
type gateDown struct {
	*memory.Inventory
	down atomic.Bool
}

func (g *gateDown) Level(ctx context.Context, id domain.ProductID) (domain.StockLevel, error) {
	if g.down.Load() {
		return domain.StockLevel{}, fmt.Errorf("gate: connection refused: %w", domain.ErrUnavailable)
	}
	return g.Inventory.Level(ctx, id)
}

// TestReadsOutliveTheGate: while the gate does not answer, a product read
// answers the last level this instance read, marked stale and saying its
// age, for up to StaleLevelTTL, even after this instance's own sales
// dropped it from the near cache; a read that asks for a live level, one
// past the TTL, and one of a product never read, fail as unavailable.
func TestReadsOutliveTheGate(t *testing.T) {
	w := newWorld(t)
	gate := &gateDown{Inventory: w.inv}
	a := w.appWith(app.Config{StaleLevelTTL: time.Minute}, app.Hooks{}, func(d *app.Deps) { d.Inventory = gate })
	w.supply(a, "p", 10)
	w.supply(a, "q", 10)
	ctx := context.Background()
	if _, err := a.Product(ctx, "q", app.ReadOptions{}); err != nil { // q's details are cached, its level too
		t.Fatal(err)
	}
	if _, err := a.Purchase(ctx, domain.PurchaseRequest{ProductID: "p", Qty: 2}, ""); err != nil {
		t.Fatal(err)
	}
	readAt := w.clock.Now()
	if v, err := a.Product(ctx, "p", app.ReadOptions{}); err != nil || v.Available != 8 || v.AvailableStale {
		t.Fatalf("live read %+v %v", v, err)
	}
	if _, err := a.Purchase(ctx, domain.PurchaseRequest{ProductID: "p", Qty: 1}, ""); err != nil { // drops p's near level
		t.Fatal(err)
	}

	gate.down.Store(true)
	w.clock.Advance(30 * time.Second)
	v, err := a.Product(ctx, "p", app.ReadOptions{})
	if err != nil || !v.AvailableStale || v.Available != 8 || v.Stock != 8 || !v.AvailableAsOf.Equal(readAt) {
		t.Fatalf("read with the gate down: %+v %v; want the last level read (8 as of %s), marked stale", v, err, readAt)
	}
	_, err = a.Product(ctx, "p", app.ReadOptions{Fresh: true})
	if dep, _ := ports.UnavailableDependency(err); !errors.Is(err, domain.ErrUnavailable) || dep != ports.DependencyInventory {
		t.Errorf("a live read with the gate down: %v (dependency %q), want unavailable, naming the inventory", err, dep)
	}
	w.clock.Advance(31 * time.Second)
	if _, err := a.Product(ctx, "p", app.ReadOptions{}); !errors.Is(err, domain.ErrUnavailable) {
		t.Errorf("a read past StaleLevelTTL: %v, want unavailable", err)
	}

	gate.down.Store(false)
	if v, err := a.Product(ctx, "p", app.ReadOptions{}); err != nil || v.AvailableStale || v.Available != 7 {
		t.Errorf("the gate back: %+v %v, want live 7", v, err)
	}
	off := w.appWith(app.Config{StaleLevelTTL: -1, InstanceID: "off"}, app.Hooks{}, func(d *app.Deps) { d.Inventory = gate })
	if _, err := off.Product(ctx, "q", app.ReadOptions{}); err != nil {
		t.Fatal(err)
	}
	gate.down.Store(true)
	w.clock.Advance(2 * time.Second)
	if _, err := off.Product(ctx, "q", app.ReadOptions{}); !errors.Is(err, domain.ErrUnavailable) {
		t.Errorf("StaleLevelTTL off: %v, want unavailable", err)
	}
}

// TestRelayLeaseOneRelayAtATime: with a relay lease, one instance relays;
// the other skips its rounds without asking the Locker each time, and
// takes over once the holder stops renewing.
func TestRelayLeaseOneRelayAtATime(t *testing.T) {
	w := newWorld(t)
	cfg := app.Config{RelayLease: 3 * time.Second, InstanceID: "a"}
	a := w.appWith(cfg, app.Hooks{}, nil)
	cfg.InstanceID = "b"
	b := w.appWith(cfg, app.Hooks{}, nil)
	w.supply(a, "p", 10)
	ctx := context.Background()
	buy := func() {
		t.Helper()
		if _, err := a.Purchase(ctx, domain.PurchaseRequest{ProductID: "p", Qty: 1}, ""); err != nil {
			t.Fatal(err)
		}
	}
	buy()
	if n, err := a.RelayEvents(ctx); err != nil || n == 0 {
		t.Fatalf("the first relay takes the lease and publishes: %d %v", n, err)
	}
	buy()
	if n, err := b.RelayEvents(ctx); err != nil || n != 0 {
		t.Fatalf("the other instance relayed %d (%v) while the lease is held", n, err)
	}
	if n, err := a.RelayEvents(ctx); err != nil || n == 0 {
		t.Fatalf("the holder relays again: %d %v", n, err)
	}
	// The holder stops (it dies): after its lease the other takes over.
	buy()
	w.clock.Advance(3 * time.Second)
	if n, err := b.RelayEvents(ctx); err != nil || n == 0 {
		t.Fatalf("after the holder's lease ended: %d %v", n, err)
	}
	if err := a.Drain(ctx); err != nil {
		t.Fatalf("drain relays whoever holds the lease: %v", err)
	}
	w.settle(b)
	w.assertOK(w.restViolations())
}

// forgottenPurchase is a world whose gate (retention an hour) has
// forgotten a completed purchase of 2 of "p" (stock 5) under the key
// "old-key": three hours later, reaped.
func forgottenPurchase(t *testing.T) (*world, *app.App, app.Receipt) {
	t.Helper()
	w := newWorld(t)
	w.inv = memory.NewInventory(w.clock, memory.WithRetention(time.Hour))
	a := w.appWith(app.Config{}, app.Hooks{}, func(d *app.Deps) { d.Inventory = w.inv })
	w.supply(a, "p", 5)
	ctx := context.Background()
	first, err := a.Buy(ctx, domain.PurchaseRequest{ProductID: "p", Qty: 2}, "old-key")
	if err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(3 * time.Hour) // past the record's deadline and retention
	if _, err := a.ReapExpired(ctx); err != nil {
		t.Fatal(err)
	}
	if ok, _ := w.inv.HasReservation(ctx, "p", first.Saga.ID); ok {
		t.Fatal("the gate still remembers the record: the test needs it forgotten")
	}
	return w, a, first
}

// TestKeyReplayedAfterTheGateForgotItLeavesNoOrphan: a completed purchase
// replayed after the gate's record of it aged out (its retention, or a
// Redis failover) answers from the saga, and the reservation the replay
// took on the way is given back, not confirmed by the reaper as if it
// were the sale (that would take the gate's stock down twice: I2).
func TestKeyReplayedAfterTheGateForgotItLeavesNoOrphan(t *testing.T) {
	w, a, first := forgottenPurchase(t)
	ctx := context.Background()
	req := domain.PurchaseRequest{ProductID: "p", Qty: 2}
	again, err := a.Buy(ctx, req, "old-key")
	if err != nil || !again.Replayed || again.Saga.Order.ID != first.Saga.Order.ID {
		t.Fatalf("replay after the gate forgot: %+v %v", again, err)
	}
	w.settle(a)
	w.assertOK(w.restViolations())

	// The key reused with another body is refused, and holds no stock:
	// the reservation it took on the way is given back at once, not left
	// for the reaper at its deadline.
	w.clock.Advance(3 * time.Hour)
	if _, err := a.ReapExpired(ctx); err != nil {
		t.Fatal(err)
	}
	before, _ := w.inv.Level(ctx, "p")
	if _, err := a.Buy(ctx, domain.PurchaseRequest{ProductID: "p", Qty: 3}, "old-key"); !errors.Is(err, domain.ErrIdempotencyMismatch) {
		t.Fatalf("the key with another body: %v, want ErrIdempotencyMismatch", err)
	}
	if after, _ := w.inv.Level(ctx, "p"); after.Stock != before.Stock || after.Reserved != before.Reserved {
		t.Fatalf("the refused request changed the gate: %+v, then %+v", before, after)
	}
}

// roundCounter counts relay rounds: each ends with one Unpublished call
// that finds nothing.
type roundCounter struct {
	ports.Outbox
	rounds atomic.Int64
}

func (c *roundCounter) Unpublished(ctx context.Context, limit int) ([]domain.Event, error) {
	es, err := c.Outbox.Unpublished(ctx, limit)
	if err == nil && len(es) == 0 {
		c.rounds.Add(1)
	}
	return es, err
}

// TestRelayRoundsWokenByWritesKeepThePace: a burst of writes wakes the
// relay far fewer times than it writes (Config.RelayPace), and every event
// is still published.
func TestRelayRoundsWokenByWritesKeepThePace(t *testing.T) {
	w := newWorld(t)
	counter := &roundCounter{}
	const pace = 300 * time.Millisecond
	a := w.appWith(app.Config{RelayPace: pace}, app.Hooks{}, func(d *app.Deps) {
		counter.Outbox = d.Outbox
		d.Outbox = counter
	})
	w.supply(a, "p", 100)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.RunBackground(ctx, time.Hour) }()
	defer func() { cancel(); <-done }()

	start := time.Now()
	const buys = 20
	for range buys {
		if _, err := a.Purchase(context.Background(), domain.PurchaseRequest{ProductID: "p", Qty: 1}, ""); err != nil {
			t.Fatal(err)
		}
	}
	// 20 sagas of five events each, all published.
	for deadline := time.Now().Add(10 * time.Second); len(w.events.Deliveries()) < 5*buys; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("published %d of %d events", len(w.events.Deliveries()), 5*buys)
		}
	}
	elapsed := time.Since(start)
	// A round at the first write, then at most one per pace.
	if rounds, most := counter.rounds.Load(), 2+int64(elapsed/pace); rounds > most {
		t.Fatalf("%d relay rounds for %d writes in %s; the pace allows %d", rounds, 2*buys, elapsed, most)
	}
}

// lookupCounter counts the gate's lookups, one at a time or together:
// calls, and sagas looked up. Each call takes delay, as a round trip to
// Redis does, so concurrent lookups can queue behind it.
type lookupCounter struct {
	*memory.Inventory
	delay          time.Duration
	calls, lookups atomic.Int64
}

func (c *lookupCounter) HasReservation(ctx context.Context, product domain.ProductID, saga domain.SagaID) (bool, error) {
	c.calls.Add(1)
	c.lookups.Add(1)
	time.Sleep(c.delay)
	return c.Inventory.HasReservation(ctx, product, saga)
}

func (c *lookupCounter) HasReservations(ctx context.Context, product domain.ProductID, sagas []domain.SagaID) ([]bool, error) {
	c.calls.Add(1)
	c.lookups.Add(int64(len(sagas)))
	time.Sleep(c.delay)
	return c.Inventory.HasReservations(ctx, product, sagas)
}

// TestKeyedPurchaseLearnsARetryFromItsReserve: with a gate that tells a
// replayed reservation (ports.FreshReserver), a keyed purchase makes no
// lookup before it reserves, and a retry is still answered from its saga:
// the same order, replayed, nothing sold twice. The lookup comes back where
// the sold-out fast path would answer.
func TestKeyedPurchaseLearnsARetryFromItsReserve(t *testing.T) {
	w := newWorld(t)
	counter := &lookupCounter{Inventory: w.inv}
	a := w.appWith(app.Config{}, app.Hooks{}, func(d *app.Deps) { d.Inventory = counter })
	w.supply(a, "p", 2)
	ctx := context.Background()
	req := domain.PurchaseRequest{ProductID: "p", Qty: 2}
	first, err := a.Buy(ctx, req, "key-1")
	if err != nil || first.Replayed {
		t.Fatalf("first: %+v %v", first, err)
	}
	again, err := a.Buy(ctx, req, "key-1")
	if err != nil || !again.Replayed || again.Saga.Order.ID != first.Saga.Order.ID {
		t.Fatalf("retry: %+v %v; want the first order replayed", again, err)
	}
	if n := counter.lookups.Load(); n != 0 {
		t.Fatalf("%d gate lookups; the reserve tells a retry", n)
	}
	if _, err := a.Buy(ctx, req, "key-2"); !errors.Is(err, domain.ErrInsufficientStock) {
		t.Fatalf("another key on the sold-out product: %v", err)
	}
	// Sold out in memory now: a retry of key-1 must still get its order.
	again, err = a.Buy(ctx, req, "key-1")
	if err != nil || !again.Replayed || again.Saga.Order.ID != first.Saga.Order.ID {
		t.Fatalf("retry on the sold-out product: %+v %v", again, err)
	}
	if n := counter.lookups.Load(); n == 0 {
		t.Fatal("no gate lookup before answering a keyed request from the sold-out mark")
	}
	w.settle(a)
	w.assertOK(w.restViolations())
}

// slowConfirmAll counts ConfirmAll calls and makes each take a while, as a
// round trip to Redis does, so concurrent settles queue behind it.
type slowConfirmAll struct {
	*memory.Inventory
	calls, sagas atomic.Int64
}

func (s *slowConfirmAll) ConfirmAll(ctx context.Context, p domain.ProductID, sagas []domain.SagaID) ([]error, error) {
	s.calls.Add(1)
	s.sagas.Add(int64(len(sagas)))
	time.Sleep(20 * time.Millisecond)
	return s.Inventory.ConfirmAll(ctx, p, sagas)
}

// TestSalesOfOneProductSettleTheGateTogether: concurrent purchases of one
// product confirm their reservations in fewer gate calls than purchases
// (ports.BatchConfirmer), each exactly once.
func TestSalesOfOneProductSettleTheGateTogether(t *testing.T) {
	w := newWorld(t)
	inv := &slowConfirmAll{Inventory: w.inv}
	a := w.appWith(app.Config{}, app.Hooks{}, func(d *app.Deps) { d.Inventory = inv })
	const buyers = 20
	w.supply(a, "p", buyers)
	var wg sync.WaitGroup
	errs := make([]error, buyers)
	for i := range buyers {
		wg.Go(func() {
			_, errs[i] = a.Purchase(context.Background(), domain.PurchaseRequest{ProductID: "p", Qty: 1}, "")
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("buyer %d: %v", i, err)
		}
	}
	if calls, sagas := inv.calls.Load(), inv.sagas.Load(); sagas != buyers || calls >= buyers {
		t.Fatalf("%d sagas settled in %d calls; want all %d in fewer calls", sagas, calls, buyers)
	}
	if l, err := w.inv.Level(context.Background(), "p"); err != nil || l.Stock != 0 || l.Reserved != 0 {
		t.Fatalf("gate %+v (%v): want every unit sold and nothing held", l, err)
	}
	w.settle(a)
	w.assertOK(w.restViolations())
}

// TestKeyedRequestsOnASoldOutProductAskTheGateTogether: keyed requests
// arriving together at a product sold out in memory ask the gate in fewer
// calls than requests (ports.BatchLookup), and each still gets its own
// answer: the key that bought its order back, the others sold out.
func TestKeyedRequestsOnASoldOutProductAskTheGateTogether(t *testing.T) {
	w := newWorld(t)
	inv := &lookupCounter{Inventory: w.inv, delay: 20 * time.Millisecond}
	a := w.appWith(app.Config{}, app.Hooks{}, func(d *app.Deps) { d.Inventory = inv })
	w.supply(a, "p", 1)
	ctx := context.Background()
	req := domain.PurchaseRequest{ProductID: "p", Qty: 1}
	bought, err := a.Buy(ctx, req, "buyer")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Buy(ctx, req, "late"); !errors.Is(err, domain.ErrInsufficientStock) {
		t.Fatalf("the sold-out purchase that arms the mark: %v", err)
	}
	calls := inv.calls.Load()
	const crowd = 20
	var wg sync.WaitGroup
	errs := make([]error, crowd)
	receipts := make([]app.Receipt, crowd)
	for i := range crowd {
		key := fmt.Sprintf("crowd-%d", i)
		if i == 0 {
			key = "buyer"
		}
		wg.Go(func() { receipts[i], errs[i] = a.Buy(ctx, req, key) })
	}
	wg.Wait()
	if r := receipts[0]; errs[0] != nil || !r.Replayed || r.Saga.Order.ID != bought.Saga.Order.ID {
		t.Fatalf("the key that bought: %+v %v; want its order replayed", r, errs[0])
	}
	for i := 1; i < crowd; i++ {
		if !errors.Is(errs[i], domain.ErrInsufficientStock) {
			t.Fatalf("crowd-%d: %v, want insufficient stock", i, errs[i])
		}
	}
	if n := inv.calls.Load() - calls; n >= crowd {
		t.Fatalf("%d gate lookups for %d keyed requests arriving together", n, crowd)
	}
	w.settle(a)
	w.assertOK(w.restViolations())
}

// TestLockStrategyRetryGetsItsOrderWhileTheLockIsHeld: under strategy lock
// a retry of a finished purchase learns it is one before it queues for the
// product's lock: it gets its order back, not lock_busy, while another
// buyer holds the lock.
func TestLockStrategyRetryGetsItsOrderWhileTheLockIsHeld(t *testing.T) {
	w := newWorld(t)
	a := w.appWith(app.Config{Strategy: app.StrategyLock}, app.Hooks{}, nil)
	w.supply(a, "p", 3)
	ctx := context.Background()
	req := domain.PurchaseRequest{ProductID: "p", Qty: 1}
	first, err := a.Buy(ctx, req, "key-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.locker.Acquire(ctx, app.LockKey("p"), "another-buyer", time.Minute); err != nil {
		t.Fatal(err)
	}
	again, err := a.Buy(ctx, req, "key-1")
	if err != nil || !again.Replayed || again.Saga.Order.ID != first.Saga.Order.ID {
		t.Fatalf("retry while the lock is held: %+v %v; want the first order replayed", again, err)
	}
	if err := w.locker.Release(ctx, app.LockKey("p"), "another-buyer"); err != nil {
		t.Fatal(err)
	}
	w.settle(a)
	w.assertOK(w.restViolations())
}

// TestReaperReleasesAReusedKeysLostReservation: a key reused long after
// its saga completed (the gate forgot the saga) takes a reservation whose
// answer is lost (a Redis timeout): the request never learns it holds it.
// The reaper finds the key's saga COMPLETED but the reservation taken long
// after it ended, and releases it rather than sell the saga's units twice
// (I2 at rest).
func TestReaperReleasesAReusedKeysLostReservation(t *testing.T) {
	w, a, first := forgottenPurchase(t)
	ctx := context.Background()
	// What a reserve whose answer was lost leaves behind.
	ttl := a.Config().ReservationTTL
	lost := domain.Reservation{SagaID: first.Saga.ID, ProductID: "p", Qty: 2, Deadline: w.clock.Now().Add(ttl)}
	if err := w.inv.Reserve(ctx, lost); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(ttl + time.Second)
	if n, err := a.ReapExpired(ctx); err != nil || n != 1 {
		t.Fatalf("reaped %d (%v), want the lost reservation", n, err)
	}
	if l, err := w.inv.Level(ctx, "p"); err != nil || l.Stock != 3 || l.Reserved != 0 {
		t.Fatalf("gate %+v (%v): want 3 in stock (one sale of 2), nothing held", l, err)
	}
	w.settle(a)
	w.assertOK(w.restViolations())
}

// TestReaperConfirmsACompletedSagasOwnReservation: the saga's own
// reservation, left held when the purchase's gate settle failed, is still
// confirmed by the reaper (it was taken before the saga ended).
func TestReaperConfirmsACompletedSagasOwnReservation(t *testing.T) {
	w := newWorld(t)
	inv := &failingConfirms{Inventory: w.inv}
	a := w.appWith(app.Config{}, app.Hooks{}, func(d *app.Deps) { d.Inventory = inv })
	w.supply(a, "p", 5)
	ctx := context.Background()
	if _, err := a.Buy(ctx, domain.PurchaseRequest{ProductID: "p", Qty: 2}, "key"); err != nil {
		t.Fatal(err)
	}
	if l, _ := w.inv.Level(ctx, "p"); l.Reserved != 2 {
		t.Fatalf("gate %+v: the settle should have failed and left 2 held", l)
	}
	w.clock.Advance(a.Config().ReservationTTL + time.Second)
	if n, err := a.ReapExpired(ctx); err != nil || n != 1 {
		t.Fatalf("reaped %d (%v)", n, err)
	}
	if l, _ := w.inv.Level(ctx, "p"); l.Stock != 3 || l.Reserved != 0 {
		t.Fatalf("gate %+v: want the sale confirmed (3 left)", l)
	}
	w.settle(a)
	w.assertOK(w.restViolations())
}

// failingConfirms fails the purchase's gate settle (Confirm and
// ConfirmAll) while the reaper's Confirm goes through.
type failingConfirms struct {
	*memory.Inventory
	failed atomic.Bool
}

func (f *failingConfirms) ConfirmAll(ctx context.Context, p domain.ProductID, sagas []domain.SagaID) ([]error, error) {
	f.failed.Store(true)
	return nil, fmt.Errorf("settle: %w", domain.ErrUnavailable)
}

func (f *failingConfirms) Confirm(ctx context.Context, p domain.ProductID, saga domain.SagaID) error {
	if !f.failed.Load() {
		f.failed.Store(true)
		return fmt.Errorf("settle: %w", domain.ErrUnavailable)
	}
	return f.Inventory.Confirm(ctx, p, saga)
}
