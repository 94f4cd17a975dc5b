package redis_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/flashsale/flashsale/adapters/redis"
)

// The servers these tests use: scripts/redis up starts both.
const (
	defaultSingleAddr   = "127.0.0.1:7379"
	defaultClusterAddrs = "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003,127.0.0.1:7004,127.0.0.1:7005,127.0.0.1:7006"
	startSingle         = "scripts/redis up single"
	startCluster        = "scripts/redis up cluster"
)

func singleAddr() string {
	if a := os.Getenv("FLASHSALE_REDIS_ADDR"); a != "" {
		return a
	}
	return defaultSingleAddr
}

func clusterAddrs() []string {
	s := os.Getenv("FLASHSALE_REDIS_CLUSTER_ADDRS")
	if s == "" {
		s = defaultClusterAddrs
	}
	return strings.Split(s, ",")
}

// unreachable ends a test whose server is not there: a failure under CI
// (CI=true), where the servers are part of the build, and a skip elsewhere,
// naming the command that starts them.
func unreachable(tb testing.TB, what, start string, err error) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s is unreachable (CI=true, so this fails instead of skipping): %v; start it with `%s`", what, err, start)
	}
	tb.Skipf("%s is unreachable (%v); start it with `%s`", what, err, start)
}

// A server found down stays down for the rest of the run: probing again
// would cost every test a second of dial retries.
var (
	singleDown  sync.Map // addr -> error
	clusterDown sync.Map
)

// target is one Redis deployment the suites run against.
type target struct {
	name   string
	client goredis.UniversalClient
}

// connectSingle returns a client for the standalone node, or skips/fails.
func connectSingle(tb testing.TB) target {
	tb.Helper()
	c, err := redis.NewClient(redis.Options{Addrs: []string{singleAddr()}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	what := "standalone Redis at " + singleAddr()
	if err, down := singleDown.Load(singleAddr()); down {
		unreachable(tb, what, startSingle, err.(error))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		singleDown.Store(singleAddr(), err)
		unreachable(tb, what, startSingle, err)
	}
	return target{name: "standalone", client: c}
}

// connectCluster returns a client for the cluster once every master answers
// and the cluster says ok (it may be settling after the failover test), or
// skips/fails.
func connectCluster(tb testing.TB) target {
	tb.Helper()
	addrs := clusterAddrs()
	c, err := redis.NewClient(redis.Options{Addrs: addrs, Cluster: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	what := "Redis Cluster at " + strings.Join(addrs, ",")
	if err, down := clusterDown.Load(what); down {
		unreachable(tb, what, startCluster, err.(error))
	}
	// A refused connection fails at once; a cluster that answers but is not
	// ok yet (settling after the failover test) gets a while to settle.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	err = c.Ping(ctx).Err()
	cancel()
	if err != nil {
		clusterDown.Store(what, err)
		unreachable(tb, what, startCluster, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		err = clusterOK(c.(*goredis.ClusterClient))
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		unreachable(tb, what, startCluster, err)
	}
	return target{name: "cluster", client: c}
}

func clusterOK(c *goredis.ClusterClient) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c.ReloadState(ctx)
	var masters atomic.Int32 // ForEachMaster calls fn concurrently
	err := c.ForEachMaster(ctx, func(ctx context.Context, n *goredis.Client) error {
		info, err := n.ClusterInfo(ctx).Result()
		if err != nil {
			return err
		}
		if !strings.Contains(info, "cluster_state:ok") {
			return fmt.Errorf("%s: cluster_state is not ok", n.Options().Addr)
		}
		masters.Add(1)
		return nil
	})
	if err == nil && masters.Load() < 3 {
		err = fmt.Errorf("%d masters answer, want 3", masters.Load())
	}
	return err
}

// forEachTarget runs test against the standalone node and the cluster, in
// parallel (they are different servers); each skips or fails on its own
// when its server is not there.
func forEachTarget(t *testing.T, test func(t *testing.T, tg target)) {
	for _, tg := range []struct {
		name    string
		connect func(testing.TB) target
	}{{"standalone", connectSingle}, {"cluster", connectCluster}} {
		t.Run(tg.name, func(t *testing.T) {
			t.Parallel()
			test(t, tg.connect(t))
		})
	}
}

var (
	runID    = randomHex(4)
	nsSerial atomic.Int64
)

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// namespace returns a key prefix no other test (nor another run) uses, and
// deletes every key under it when tb ends, so suites written for an empty
// keyspace can share one server and leave nothing behind.
func namespace(tb testing.TB, c goredis.UniversalClient) string {
	ns := fmt.Sprintf("test-%s-%d:", runID, nsSerial.Add(1))
	tb.Cleanup(func() {
		if err := deleteKeys(c, ns+"*"); err != nil {
			tb.Logf("cleaning up keys %s*: %v", ns, err)
		}
	})
	return ns
}

// deleteKeys deletes the keys matching pattern on every master.
func deleteKeys(c goredis.UniversalClient, pattern string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	del := func(ctx context.Context, n *goredis.Client) error {
		var keys []string
		iter := n.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			return err
		}
		// One DEL per key: on a cluster, keys of several slots cannot
		// share a command.
		_, err := n.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for _, k := range keys {
				p.Del(ctx, k)
			}
			return nil
		})
		return err
	}
	switch v := c.(type) {
	case *goredis.ClusterClient:
		return v.ForEachMaster(ctx, del)
	case *goredis.Client:
		return del(ctx, v)
	}
	return fmt.Errorf("unknown client %T", c)
}

// repoRoot is the module root, found from the package directory.
func repoRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// stackDir is where scripts/redis keeps its state.
func stackDir(tb testing.TB) string {
	if d := os.Getenv("FLASHSALE_STACK_DIR"); d != "" {
		return filepath.Join(d, "redis")
	}
	return filepath.Join(repoRoot(tb), ".stack", "redis")
}
