package redis_test

import (
	"errors"
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/redis"
	"github.com/flashsale/flashsale/domain"
)

// A holder paused past its ttl must not free or prolong the next holder's
// lock (I8): A's release and extend fail with ErrLockLost and B's lock, its
// token and its ttl, are exactly as B set them.
func TestLockSafetyAfterExpiry(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		ctx := t.Context()
		locker := redis.NewLocker(tg.client)
		key := namespace(t, tg.client) + "lock:product:123"
		const ttl = 100 * time.Millisecond

		if err := locker.Acquire(ctx, key, "token-a", ttl); err != nil {
			t.Fatalf("A acquires: %v", err)
		}
		time.Sleep(ttl + 50*time.Millisecond) // A pauses past its ttl
		if err := locker.Acquire(ctx, key, "token-b", time.Second); err != nil {
			t.Fatalf("B acquires after A's ttl: %v", err)
		}
		if err := locker.Release(ctx, key, "token-a"); !errors.Is(err, domain.ErrLockLost) {
			t.Fatalf("A releases: got %v, want ErrLockLost", err)
		}
		if err := locker.Extend(ctx, key, "token-a", time.Hour); !errors.Is(err, domain.ErrLockLost) {
			t.Fatalf("A extends: got %v, want ErrLockLost", err)
		}
		holder, err := tg.client.Get(ctx, key).Result()
		if err != nil || holder != "token-b" {
			t.Fatalf("after A's release and extend the key holds %q (err %v), want B's token", holder, err)
		}
		if left := tg.client.PTTL(ctx, key).Val(); left <= 0 || left > time.Second {
			t.Fatalf("B's lock has ttl %v left, want B's own (0, 1s]: A's extend must not touch it", left)
		}
		if err := locker.Acquire(ctx, key, "token-c", ttl); !errors.Is(err, domain.ErrLockBusy) {
			t.Fatalf("C acquires while B holds: got %v, want ErrLockBusy", err)
		}
		if err := locker.Release(ctx, key, "token-b"); err != nil {
			t.Fatalf("B releases its own lock: %v", err)
		}
	})
}

func TestLockerRefusesMalformedCalls(t *testing.T) {
	tg := connectSingle(t)
	locker := redis.NewLocker(tg.client)
	ctx := t.Context()
	for name, err := range map[string]error{
		"empty key":         locker.Acquire(ctx, "", "a", time.Second),
		"empty token":       locker.Acquire(ctx, "k", "", time.Second),
		"sub-ms ttl":        locker.Acquire(ctx, "k", "a", time.Microsecond),
		"extend sub-ms ttl": locker.Extend(ctx, "k", "a", 0),
	} {
		if !errors.Is(err, domain.ErrInvalidInput) {
			t.Errorf("%s: got %v, want ErrInvalidInput", name, err)
		}
	}
}
