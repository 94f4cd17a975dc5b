package redis_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/flashsale/flashsale/adapters/redis"
	"github.com/flashsale/flashsale/domain"
)

// closedPort returns an address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// silentServer accepts connections and never answers: a hung Redis.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}

// With Redis down or hung, every call returns an error wrapping
// domain.ErrUnavailable by its context deadline: never a hang, never
// another error the HTTP edge would turn into a 500.
func TestRedisDownIsUnavailableWithinTheDeadline(t *testing.T) {
	const deadline = 300 * time.Millisecond
	const slack = 250 * time.Millisecond
	cases := []struct {
		name string
		opts redis.Options
	}{
		{"refused/standalone", redis.Options{Addrs: []string{closedPort(t)}}},
		{"refused/cluster", redis.Options{Addrs: []string{closedPort(t), closedPort(t)}, Cluster: true}},
		{"hung/standalone", redis.Options{Addrs: []string{silentServer(t)}}},
		{"hung/cluster", redis.Options{Addrs: []string{silentServer(t)}, Cluster: true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := redis.NewClient(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			inv := redis.NewInventory(c)
			locker := redis.NewLocker(c)
			cache := redis.NewProductCache(c)
			res := domain.Reservation{SagaID: "s-1", ProductID: "p-1", Qty: 1, Deadline: time.Now().Add(time.Minute)}
			calls := map[string]func(ctx context.Context) error{
				"reserve":   func(ctx context.Context) error { return inv.Reserve(ctx, res) },
				"confirm":   func(ctx context.Context) error { return inv.Confirm(ctx, "p-1", "s-1") },
				"release":   func(ctx context.Context) error { return inv.Release(ctx, "p-1", "s-1") },
				"level":     func(ctx context.Context) error { _, err := inv.Level(ctx, "p-1"); return err },
				"expired":   func(ctx context.Context) error { _, err := inv.Expired(ctx, time.Now(), 10); return err },
				"add stock": func(ctx context.Context) error { return inv.AddStock(ctx, "p-1", 1) },
				"set stock": func(ctx context.Context) error { return inv.SetStock(ctx, "p-1", 1) },
				"ping":      inv.Ping,
				"acquire":   func(ctx context.Context) error { return locker.Acquire(ctx, "k", "t", time.Second) },
				"unlock":    func(ctx context.Context) error { return locker.Release(ctx, "k", "t") },
				"extend":    func(ctx context.Context) error { return locker.Extend(ctx, "k", "t", time.Second) },
				"cache get": func(ctx context.Context) error { _, _, err := cache.Get(ctx, "p-1"); return err },
				"cache set": func(ctx context.Context) error {
					return cache.Set(ctx, domain.Product{ID: "p-1"}, time.Second)
				},
				"cache delete": func(ctx context.Context) error { return cache.Delete(ctx, "p-1") },
			}
			// All at once: a pool of callers blocked on a dead server must
			// each still be answered by its own deadline.
			var wg sync.WaitGroup
			for name, call := range calls {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx, cancel := context.WithTimeout(t.Context(), deadline)
					defer cancel()
					start := time.Now()
					err := call(ctx)
					took := time.Since(start)
					if !errors.Is(err, domain.ErrUnavailable) {
						t.Errorf("%s: got %v, want an error wrapping ErrUnavailable", name, err)
					}
					if took > deadline+slack {
						t.Errorf("%s took %v with a %v deadline", name, took, deadline)
					}
				}()
			}
			wg.Wait()
		})
	}
}

// Without a context deadline the client's own timeouts still bound a call.
func TestRedisHungWithoutDeadlineIsBoundedByClientTimeouts(t *testing.T) {
	c, err := redis.NewClient(redis.Options{Addrs: []string{silentServer(t)}, ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_, err = redis.NewInventory(c).Level(context.Background(), "p-1")
	if !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("took %v", took)
	}
	t.Logf("a hung server without a context deadline answered %v after %v", err, time.Since(start).Round(time.Millisecond))
}

func TestErrorTranslation(t *testing.T) {
	for _, tc := range []struct {
		err         error
		unavailable bool
	}{
		{context.DeadlineExceeded, true},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{goredis.ErrClosed, true},
		{goredis.ErrPoolTimeout, true},
		{errors.New("redis: cluster has no nodes"), true},
		{goredis.ErrCrossSlot, false},
		{goredis.ErrNoScript, false},
	} {
		err := redis.TranslateErr("op", tc.err)
		if got := errors.Is(err, domain.ErrUnavailable); got != tc.unavailable {
			t.Errorf("%v: unavailable=%t, want %t", tc.err, got, tc.unavailable)
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("%v: the original error is not wrapped: %v", tc.err, err)
		}
	}
}

// Transient replies are unavailability, checked against a live server's
// real error types where one is at hand.
func TestTransientRepliesAreUnavailable(t *testing.T) {
	tg := connectSingle(t)
	// A Redis reply error, produced by the server itself.
	err := tg.client.Do(t.Context(), "CLUSTER", "INFO").Err() // not in cluster mode: ERR
	if err == nil {
		t.Fatal("CLUSTER INFO on a standalone node should fail")
	}
	if errors.Is(redis.TranslateErr("op", err), domain.ErrUnavailable) {
		t.Fatalf("a plain ERR reply %v must not read as unavailable", err)
	}
	// A script whose answer is an error reply of the transient kind.
	err = tg.client.Eval(t.Context(), "return redis.error_reply('CLUSTERDOWN The cluster is down')", nil).Err()
	if !errors.Is(redis.TranslateErr("op", err), domain.ErrUnavailable) {
		t.Fatalf("%v must read as unavailable", err)
	}
}
