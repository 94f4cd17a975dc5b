package redis_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/flashsale/flashsale/adapters/redis"
	"github.com/flashsale/flashsale/domain"
)

// slotOwners maps every slot to the address of its master.
func slotOwners(t *testing.T, c *goredis.ClusterClient) map[int]string {
	t.Helper()
	shards, err := c.ClusterShards(t.Context()).Result()
	if err != nil {
		t.Fatalf("cluster shards: %v", err)
	}
	owners := make(map[int]string)
	for _, sh := range shards {
		master := ""
		for _, n := range sh.Nodes {
			if n.Role == "master" && n.Health == "online" { // a failed old master may still be listed
				master = net.JoinHostPort(n.IP, strconv.FormatInt(n.Port, 10))
			}
		}
		if master == "" {
			t.Fatalf("a shard of slots %v has no master: %+v", sh.Slots, sh.Nodes)
		}
		for _, r := range sh.Slots {
			for s := r.Start; s <= r.End; s++ {
				owners[int(s)] = master
			}
		}
	}
	return owners
}

// productsOnEveryMaster picks one product ID per master, asking the cluster
// itself (CLUSTER KEYSLOT) where each product's keys live, and checks that
// all the keys a script touches for one product share its slot.
func productsOnEveryMaster(t *testing.T, c *goredis.ClusterClient, inv *redis.Inventory) (ids []domain.ProductID, owner map[domain.ProductID]string) {
	t.Helper()
	ctx := t.Context()
	owners := slotOwners(t, c)
	owner = make(map[domain.ProductID]string)
	seen := make(map[string]bool)
	for i := 0; len(seen) < 3 && i < 1000; i++ {
		id := domain.ProductID(fmt.Sprintf("x-%d", i))
		keys := inv.KeysOf(id, "s-1")
		slot, err := c.ClusterKeySlot(ctx, keys[0]).Result()
		if err != nil {
			t.Fatalf("cluster keyslot: %v", err)
		}
		for _, k := range keys[1:] {
			if s, err := c.ClusterKeySlot(ctx, k).Result(); err != nil || s != slot {
				t.Fatalf("key %s is in slot %d (err %v), want %d like %s: a script on both would fail CROSSSLOT", k, s, err, slot, keys[0])
			}
		}
		addr := owners[int(slot)]
		if addr == "" {
			t.Fatalf("slot %d has no master", slot)
		}
		if !seen[addr] {
			seen[addr] = true
			ids = append(ids, id)
			owner[id] = addr
		}
	}
	if len(seen) < 3 {
		t.Fatalf("found products on %d masters, want 3", len(seen))
	}
	return ids, owner
}

// Every script and command runs for products on different masters, and
// Expired gathers reservations across them, without a CROSSSLOT.
func TestClusterScriptsNeverCrossSlot(t *testing.T) {
	tg := connectCluster(t)
	cc := tg.client.(*goredis.ClusterClient)
	ctx := t.Context()
	ns := namespace(t, tg.client)
	inv := redis.NewInventory(tg.client, redis.WithInventoryNamespace(ns))
	locker := redis.NewLocker(tg.client)
	cache := redis.NewProductCache(tg.client, redis.WithCacheNamespace(ns))
	ids, owner := productsOnEveryMaster(t, cc, inv)
	t.Logf("products by master: %v", owner)

	must := func(err error, what string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	due := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, id := range ids {
		must(inv.SetStock(ctx, id, 10), "set stock of "+string(id))
		must(inv.AddStock(ctx, id, 5), "add stock to "+string(id))
		l, err := inv.Level(ctx, id)
		must(err, "level")
		// Deadlines interleave across products, so Expired's order is
		// decided across masters.
		r := func(saga string, minutes int) domain.Reservation {
			return domain.Reservation{SagaID: domain.SagaID(saga), ProductID: id, Qty: 1, Deadline: due.Add(time.Duration(minutes) * time.Minute)}
		}
		must(inv.Reserve(ctx, r("s-held", 10*i+1)), "reserve")
		must(inv.ReserveIfVersion(ctx, r("s-versioned", 10*i+2), l.Version+1), "reserve if version")
		must(inv.Reserve(ctx, r("s-confirmed", 10*i+3)), "reserve")
		must(inv.Reserve(ctx, r("s-released", 10*i+4)), "reserve")
		must(inv.Confirm(ctx, id, "s-confirmed"), "confirm")
		must(inv.Release(ctx, id, "s-released"), "release")
		if l, err = inv.Level(ctx, id); err != nil || l.Stock != 14 || l.Reserved != 2 {
			t.Fatalf("level of %s: %+v, %v; want stock 14, reserved 2", id, l, err)
		}
		held, err := inv.Reservations(ctx, id)
		must(err, "reservations")
		if len(held) != 2 {
			t.Fatalf("held reservations of %s: %+v, want 2", id, held)
		}

		key := ns + "lock:product:" + string(id)
		must(locker.Acquire(ctx, key, "token", time.Second), "acquire")
		must(locker.Extend(ctx, key, "token", time.Second), "extend")
		must(locker.Release(ctx, key, "token"), "release lock")

		p := domain.Product{ID: id, Name: "n", PriceMinor: 1, Stock: 14, Version: 2, UpdatedAt: due}
		must(cache.Set(ctx, p, time.Second), "cache set")
		if _, ok, err := cache.Get(ctx, id); err != nil || !ok {
			t.Fatalf("cache get %s: hit %t, err %v", id, ok, err)
		}
		must(cache.Delete(ctx, id), "cache delete")
	}
	got, err := inv.Expired(ctx, due.Add(time.Hour), 100)
	must(err, "expired")
	var want []string
	for i, id := range ids {
		want = append(want, fmt.Sprintf("%s/s-held@%d", id, 10*i+1), fmt.Sprintf("%s/s-versioned@%d", id, 10*i+2))
	}
	var gotS []string
	for _, r := range got {
		gotS = append(gotS, fmt.Sprintf("%s/%s@%d", r.ProductID, r.SagaID, int(r.Deadline.Sub(due).Minutes())))
	}
	if strings.Join(gotS, " ") != strings.Join(want, " ") {
		t.Fatalf("expired across masters:\n got %v\nwant %v", gotS, want)
	}
	if got, err := inv.Expired(ctx, due.Add(time.Hour), 3); err != nil || len(got) != 3 || got[2].ProductID != ids[1] {
		t.Fatalf("expired with limit 3: %+v, %v", got, err)
	}
	must(inv.Ping(ctx), "ping every master")
}

// nodePid reads the pid of the node at addr from scripts/redis's pidfile and
// checks it against the node's own answer, so the test kills the right
// process.
func nodePid(t *testing.T, addr string) int {
	t.Helper()
	_, port, _ := strings.Cut(addr, ":")
	pidfile := filepath.Join(stackDir(t), "cluster", port, "redis.pid")
	raw, err := os.ReadFile(pidfile)
	if err != nil {
		unreachable(t, "a cluster started by scripts/redis (pidfile "+pidfile+")", startCluster, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatalf("pidfile %s: %v", pidfile, err)
	}
	node := goredis.NewClient(&goredis.Options{Addr: addr})
	defer node.Close()
	info, err := node.Info(t.Context(), "server").Result()
	if err != nil {
		t.Fatalf("info server of %s: %v", addr, err)
	}
	if !strings.Contains(info, fmt.Sprintf("process_id:%d\r\n", pid)) {
		t.Fatalf("pidfile %s says %d, but %s is another process; not killing it", pidfile, pid, addr)
	}
	return pid
}

// killNow sends SIGKILL: the master gets no chance to hand over.
func killNow(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}

// restoreCluster restarts the killed node through scripts/redis, which
// finds the cluster half up and restarts it from its nodes.conf; it rejoins
// as a replica of the master that replaced it.
func restoreCluster(t *testing.T) {
	cmd := exec.Command(filepath.Join(repoRoot(t), "scripts", "redis"), "up", "cluster")
	cmd.Env = os.Environ()
	out, err := cmd.CombinedOutput()
	t.Logf("scripts/redis up cluster:\n%s", out)
	if err != nil {
		t.Errorf("restoring the cluster: %v", err)
	}
}

// A stream of reserves while the master owning the product is killed: the
// reserves resume within 10 s of the kill, no reservation is applied twice
// (reserved always equals the sum of the held records, and replaying every
// saga afterwards changes nothing for those already held), and stock -
// reserved is never negative.
func TestClusterFailoverDuringReserves(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a cluster master; not in -short")
	}
	tg := connectCluster(t)
	cc := tg.client.(*goredis.ClusterClient)
	ctx := t.Context()
	inv := redis.NewInventory(tg.client, redis.WithInventoryNamespace(namespace(t, tg.client)))
	ids, owner := productsOnEveryMaster(t, cc, inv)
	product := ids[0]
	victim := owner[product]
	pid := nodePid(t, victim)
	const stock = 1_000_000
	if err := inv.SetStock(ctx, product, stock); err != nil {
		t.Fatal(err)
	}

	type attempt struct {
		saga domain.SagaID
		qty  int64
		err  error
	}
	var (
		mu          sync.Mutex
		attempts    []attempt
		killedAt    time.Time
		sawOutage   bool
		run         int // successes in a row, among calls started after the kill
		runStart    time.Time
		resumedAt   time.Time
		badLevels   []string
		serial      atomic.Int64
		stop        = make(chan struct{})
		stopOnce    sync.Once
		streamStart = time.Now()
	)
	halt := func() { stopOnce.Do(func() { close(stop) }) }
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return time.Since(streamStart) > 20*time.Second // bounded whatever happens
		}
	}
	record := func(started time.Time, a attempt) {
		mu.Lock()
		defer mu.Unlock()
		attempts = append(attempts, a)
		if killedAt.IsZero() || started.Before(killedAt) {
			return
		}
		if a.err != nil {
			sawOutage, run = true, 0
			return
		}
		if run == 0 {
			runStart = started
		}
		run++
		if sawOutage && run >= 20 && resumedAt.IsZero() {
			resumedAt = runStart
			go func() { time.Sleep(500 * time.Millisecond); halt() }()
		}
	}

	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stopped() {
				n := serial.Add(1)
				a := attempt{saga: domain.SagaID(fmt.Sprintf("f-%06d", n)), qty: n%3 + 1}
				started := time.Now()
				cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
				a.err = inv.Reserve(cctx, domain.Reservation{SagaID: a.saga, ProductID: product, Qty: a.qty, Deadline: started.Add(time.Hour)})
				cancel()
				record(started, a)
				if a.err != nil {
					time.Sleep(20 * time.Millisecond) // do not spin on a dead shard
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // the invariant, read while the writes and the failover go on
		defer wg.Done()
		for !stopped() {
			cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
			l, err := inv.Level(cctx, product)
			cancel()
			if err == nil && (l.Reserved < 0 || l.Stock-l.Reserved < 0) {
				mu.Lock()
				badLevels = append(badLevels, fmt.Sprintf("%+v", l))
				mu.Unlock()
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()

	time.Sleep(time.Second)
	mu.Lock()
	killedAt = time.Now()
	mu.Unlock()
	if err := killNow(pid); err != nil {
		halt()
		wg.Wait()
		t.Fatalf("kill -9 %d (%s): %v", pid, victim, err)
	}
	t.Cleanup(func() { restoreCluster(t) })
	t.Logf("killed master %s (pid %d), owner of %s", victim, pid, product)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	var ok, failed int
	for _, a := range attempts {
		if a.err == nil {
			ok++
			continue
		}
		failed++
		if !errors.Is(a.err, domain.ErrUnavailable) {
			t.Errorf("reserve %s failed with %v, want an error wrapping ErrUnavailable", a.saga, a.err)
		}
	}
	t.Logf("%d reserves: %d ok, %d unavailable", len(attempts), ok, failed)
	if !sawOutage {
		t.Fatalf("no reserve failed after the kill: the product was not on the killed master")
	}
	if resumedAt.IsZero() {
		t.Fatalf("reserves did not resume within %v of the kill", time.Since(killedAt).Round(time.Millisecond))
	}
	outage := resumedAt.Sub(killedAt)
	t.Logf("reserves resumed %v after the kill", outage.Round(time.Millisecond))
	if outage > 10*time.Second {
		t.Errorf("reserves resumed %v after the kill, want within 10s", outage)
	}
	if len(badLevels) > 0 {
		t.Errorf("levels with stock - reserved < 0 or reserved < 0: %v", badLevels)
	}

	// Conservation: reserved is exactly the sum of the held records.
	checkHeld := func(when string) (map[domain.SagaID]int64, domain.StockLevel) {
		t.Helper()
		l, err := inv.Level(ctx, product)
		if err != nil {
			t.Fatalf("level %s: %v", when, err)
		}
		held, err := inv.Reservations(ctx, product)
		if err != nil {
			t.Fatalf("reservations %s: %v", when, err)
		}
		bySaga := make(map[domain.SagaID]int64, len(held))
		var sum int64
		for _, r := range held {
			bySaga[r.SagaID] = r.Qty
			sum += r.Qty
		}
		if l.Stock != stock || l.Reserved != sum {
			t.Fatalf("%s: level %+v, but %d held records sum to %d (stock %d): a reservation was applied twice or leaked", when, l, len(held), sum, stock)
		}
		return bySaga, l
	}
	held, _ := checkHeld("after the failover")
	lost := 0
	for _, a := range attempts {
		if a.err == nil {
			if q, ok := held[a.saga]; !ok {
				lost++ // acknowledged by the old master, not yet replicated
			} else if q != a.qty {
				t.Errorf("saga %s holds %d, asked %d", a.saga, q, a.qty)
			}
		}
	}
	t.Logf("acknowledged reservations lost to asynchronous replication: %d", lost)

	// Replay every saga, as a client retrying after an unknown outcome
	// would: held ones answer nil and change nothing, the rest are applied
	// now, once.
	var want int64
	for _, a := range attempts {
		if err := inv.Reserve(ctx, domain.Reservation{SagaID: a.saga, ProductID: product, Qty: a.qty, Deadline: time.Now().Add(time.Hour)}); err != nil {
			t.Fatalf("replaying %s: %v", a.saga, err)
		}
		want += a.qty
	}
	_, l := checkHeld("after replaying every saga")
	if l.Reserved != want {
		t.Fatalf("after replaying %d sagas reserved=%d, want %d: each saga counted once", len(attempts), l.Reserved, want)
	}
}
