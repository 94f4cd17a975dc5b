package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
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
