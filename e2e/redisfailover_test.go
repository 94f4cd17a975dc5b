package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
)

// master returns the address of the online master serving product's keys
// (their hash tag is {p:<id>}).
func (s *stack) master(t *testing.T, product string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	slot, err := s.rc.ClusterKeySlot(ctx, "{p:"+product+"}").Result()
	if err != nil {
		t.Fatal(err)
	}
	shards, err := s.rc.ClusterShards(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range shards {
		if !slices.ContainsFunc(sh.Slots, func(r goredis.SlotRange) bool { return int64(r.Start) <= slot && slot <= int64(r.End) }) {
			continue
		}
		for _, n := range sh.Nodes {
			if n.Role == "master" && n.Health == "online" {
				return fmt.Sprintf("%s:%d", n.IP, n.Port)
			}
		}
	}
	t.Fatalf("no online master serves slot %d of %s", slot, product)
	return ""
}

// redisPID is the process ID of the Redis server at addr.
func redisPID(t *testing.T, addr string) int {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: time.Second})
	defer c.Close()
	info, err := c.Info(context.Background(), "server").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			pid, err := strconv.Atoi(v)
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
	}
	t.Fatalf("no process_id in %s's INFO", addr)
	return 0
}

// TestRedisMasterKilledThroughNginx: the Redis master serving a product is
// killed (kill -9) while keyed purchases of it and of a product on another
// master, and reads of it, run through nginx, open model; three times, each
// with fresh products. Reads never fail (the last level read answers,
// marked availableStale); the other product's purchases never fail (the
// other masters serve their slots: cluster-require-full-coverage no); the
// product's own purchases answer 503 with Retry-After, naming the
// inventory as what did not answer, until its replica is promoted, then
// sell again. Retried with their keys, every purchase ends
// in its one saga (a 503'd one's was undone: its retry answers 409
// purchase_compensated); at rest both products hold I1 and I2, every 201
// is a COMPLETED saga and every other answer's saga COMPENSATED. The log gives the seconds from each kill to the first
// sale after it (scripts/redis: 1 s node timeout; ARCHITECTURE.md).
func TestRedisMasterKilledThroughNginx(t *testing.T) {
	s := needStack(t)
	t.Cleanup(func() { s.healRedis(t) })
	const (
		supplied = 2000
		rate     = 30 // per second: purchases of each product, and reads
		before   = 2 * time.Second
		total    = 9 * time.Second
	)
	s.healRedis(t) // every master with a synced replica before the first kill
	for round := range 3 {
		hot := s.newProduct(t, fmt.Sprintf("redis-kill-%d", round), supplied)
		victim := s.master(t, hot)
		var other string
		for range 50 {
			other = s.newProduct(t, fmt.Sprintf("redis-other-%d", round), supplied)
			if s.master(t, other) != victim {
				break
			}
		}
		if s.master(t, other) == victim {
			t.Fatal("no product on another master in 50 tries")
		}
		pid := redisPID(t, victim)

		type sent struct {
			key, product string
			at           time.Time
			a            answer
		}
		var (
			mu        sync.Mutex
			buys      []sent
			reads     int
			readFails []string
			stale     int
			wg        sync.WaitGroup
			killedAt  time.Time
		)
		start := time.Now()
		tick := time.NewTicker(time.Second / rate)
		for i := 0; time.Since(start) < total; i++ {
			<-tick.C
			if killedAt.IsZero() && time.Since(start) >= before {
				if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
					t.Fatalf("kill -9 %d (%s): %v", pid, victim, err)
				}
				killedAt = time.Now()
			}
			for _, product := range []string{hot, other} {
				key := fmt.Sprintf("%s-%d", product, i)
				wg.Go(func() {
					at := time.Now()
					a := s.purchase(s.client, nginxBase, product, 1, key)
					mu.Lock()
					buys = append(buys, sent{key, product, at, a})
					mu.Unlock()
				})
			}
			wg.Go(func() {
				var view struct{ AvailableStale bool }
				msg, err := s.getJSON(nginxBase+"/products/"+hot, &view)
				mu.Lock()
				defer mu.Unlock()
				reads++
				if err != nil {
					readFails = append(readFails, msg)
				} else if view.AvailableStale {
					stale++
				}
			})
		}
		tick.Stop()
		wg.Wait()

		slices.SortFunc(buys, func(x, y sent) int { return x.at.Compare(y.at) })
		var lastHotFail, firstSaleAfter time.Time
		hotAnswers, otherAnswers := []answer{}, []answer{}
		for _, b := range buys {
			if b.product == other {
				otherAnswers = append(otherAnswers, b.a)
				if b.a.Status != http.StatusCreated {
					t.Errorf("round %d: a purchase of the product on another master got %d %s %v", round, b.a.Status, b.a.Code, b.a.Err)
				}
				continue
			}
			hotAnswers = append(hotAnswers, b.a)
			switch {
			case b.a.Status == http.StatusCreated:
				if b.at.After(killedAt) && firstSaleAfter.IsZero() && b.at.After(lastHotFail) {
					firstSaleAfter = b.at
				}
			case b.a.Status == http.StatusServiceUnavailable && b.a.RetryAfter != "":
				lastHotFail, firstSaleAfter = b.at, time.Time{}
				if b.a.Code == "unavailable" && b.a.Dependency != "inventory" {
					t.Errorf("round %d: purchase %s: 503 unavailable naming %q, want the inventory", round, b.key, b.a.Dependency)
				}
			default:
				t.Errorf("round %d: purchase %s: %d %s %v, want 201 or a 503 with Retry-After", round, b.key, b.a.Status, b.a.Code, b.a.Err)
			}
		}
		resumed := "no sale after the kill"
		if !firstSaleAfter.IsZero() {
			resumed = firstSaleAfter.Sub(killedAt).Round(10 * time.Millisecond).String()
		}
		t.Logf("round %d: killed master %s (pid %d); the product's purchases %v, resumed %s after the kill; the other master's product's %v; reads %d (%d stale), failed %d",
			round, victim, pid, tally(hotAnswers), resumed, tally(otherAnswers), reads, stale, len(readFails))
		if len(readFails) > 0 {
			t.Errorf("round %d: %d of %d reads failed, e.g. %s", round, len(readFails), reads, readFails[0])
		}
		if firstSaleAfter.IsZero() {
			t.Errorf("round %d: the product never sold again after its master's kill", round)
		}

		// Retried with their keys (each client on its own), every purchase
		// ends in its one saga.
		final := map[string]answer{}
		for i := range buys {
			b := &buys[i]
			wg.Go(func() {
				for deadline := time.Now().Add(30 * time.Second); retryable(b.a) && time.Now().Before(deadline); {
					time.Sleep(retryDelay(b.a))
					b.a = s.purchase(s.client, nginxBase, b.product, 1, b.key)
				}
			})
		}
		wg.Wait()
		for _, b := range buys {
			a := b.a
			// A 503 from a reserve the gate never answered is undone under
			// the key's saga (the reserve may have applied), so its retry
			// answers that: compensated, nothing charged.
			if a.Status != http.StatusCreated && a.Code != "purchase_compensated" {
				t.Errorf("round %d: purchase %s ended %d %s %v after its retries", round, b.key, a.Status, a.Code, a.Err)
			}
			final[b.key] = a
		}
		for _, product := range []string{hot, other} {
			rest := s.waitAtRest(t, product, supplied, 30*time.Second)
			for key, a := range final {
				if !strings.HasPrefix(key, product+"-") {
					continue
				}
				saga := string(app.SagaIDForKey(key))
				switch {
				case a.Status == http.StatusCreated && (a.SagaID != saga || rest.Status[saga] != string(domain.SagaCompleted)):
					t.Errorf("key %s: 201 for saga %s, %q at rest; want its key's saga %s, COMPLETED", key, a.SagaID, rest.Status[saga], saga)
				case a.Status != http.StatusCreated && rest.Status[saga] != string(domain.SagaCompensated):
					t.Errorf("key %s: answered %d %s, its saga %q at rest; want COMPENSATED", key, a.Status, a.Code, rest.Status[saga])
				}
			}
		}
		s.healRedis(t) // the killed node back, as its new master's replica
	}
}

// getJSON GETs url into v; on failure it returns what went wrong.
func (s *stack) getJSON(url string, v any) (string, error) {
	resp, err := s.client.Get(url)
	if err != nil {
		return err.Error(), err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return resp.Status, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return "undecodable body: " + err.Error(), err
	}
	return "", nil
}

// healRedis starts the cluster's stopped nodes again (scripts/redis up
// all): a killed master comes back as its successor's replica.
func (s *stack) healRedis(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(s.repo, "scripts", "redis"), "up", "all").CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/redis up all: %v\n%s", err, out)
	}
	// A restarted node is a replica only once it has synced: until then
	// its shard's master has no replica to fail over to.
	var last string
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		shards, err := s.rc.ClusterShards(ctx).Result()
		ready := err == nil && len(shards) > 0
		last = fmt.Sprint(err)
		for _, sh := range shards {
			if len(sh.Slots) == 0 {
				continue
			}
			masters, replicas := 0, 0
			for _, n := range sh.Nodes {
				switch {
				case n.Health != "online":
				case n.Role == "master":
					masters++
				default:
					replicas++
				}
			}
			if masters != 1 || replicas == 0 {
				ready = false
				last = fmt.Sprintf("shard of slots %v: %d online masters, %d online replicas", sh.Slots, masters, replicas)
			}
		}
		if ready {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Redis Cluster did not get a synced replica for every master within 60 s: %s", last)
		}
	}
}
