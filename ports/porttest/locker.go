package porttest

import (
	"fmt"
	"testing"
	"time"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// LockerHarness is what the Locker suite drives.
type LockerHarness struct {
	// Locker is the adapter under test.
	Locker ports.Locker
	// Advance moves the adapter's notion of time forward by d: a clock
	// advance for an adapter on a manual clock, a real sleep for Redis.
	Advance func(d time.Duration)
}

// lockTTL is long enough that a networked adapter's round trips do not eat
// it, and short enough that sleeping through it keeps the suite quick. The
// suite advances time in steps of lockStep, well clear of the boundary.
const (
	lockTTL  = 400 * time.Millisecond
	lockStep = 300 * time.Millisecond
)

// Locker checks the ports.Locker contract.
func Locker(t *testing.T, newHarness func(t *testing.T) LockerHarness) {
	run := func(name string, test func(t *testing.T, h LockerHarness)) {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			if h.Locker == nil || h.Advance == nil {
				t.Fatal("harness needs Locker and Advance")
			}
			test(t, h)
		})
	}
	// held checks that key is held by someone: a fresh token cannot take it.
	held := func(t *testing.T, h LockerHarness, key, when string) {
		t.Helper()
		wantErr(t, h.Locker.Acquire(t.Context(), key, "probe", lockTTL), domain.ErrLockBusy, when+": acquire by another")
	}

	run("Acquire takes a free key", func(t *testing.T, h LockerHarness) {
		must(t, h.Locker.Acquire(t.Context(), "k", "a", lockTTL), "acquire")
		held(t, h, "k", "after acquire")
		must(t, h.Locker.Release(t.Context(), "k", "a"), "release by the holder")
	})

	run("Acquire of a held key returns ErrLockBusy, even for the same token", func(t *testing.T, h LockerHarness) {
		ctx := t.Context()
		must(t, h.Locker.Acquire(ctx, "k", "a", lockTTL), "acquire")
		wantErr(t, h.Locker.Acquire(ctx, "k", "b", lockTTL), domain.ErrLockBusy, "acquire by another token")
		wantErr(t, h.Locker.Acquire(ctx, "k", "a", lockTTL), domain.ErrLockBusy, "acquire by the same token")
		must(t, h.Locker.Release(ctx, "k", "a"), "the first holder still holds it")
	})

	run("Locks on different keys are independent", func(t *testing.T, h LockerHarness) {
		ctx := t.Context()
		must(t, h.Locker.Acquire(ctx, "k1", "a", lockTTL), "acquire k1")
		must(t, h.Locker.Acquire(ctx, "k2", "b", lockTTL), "acquire k2")
		must(t, h.Locker.Release(ctx, "k1", "a"), "release k1")
		held(t, h, "k2", "after releasing k1")
	})

	run("Release by the holder frees the key", func(t *testing.T, h LockerHarness) {
		ctx := t.Context()
		must(t, h.Locker.Acquire(ctx, "k", "a", lockTTL), "acquire")
		must(t, h.Locker.Release(ctx, "k", "a"), "release")
		must(t, h.Locker.Acquire(ctx, "k", "b", lockTTL), "acquire by another after release")
	})

	run("Release again returns ErrLockLost", func(t *testing.T, h LockerHarness) {
		ctx := t.Context()
		must(t, h.Locker.Acquire(ctx, "k", "a", lockTTL), "acquire")
		must(t, h.Locker.Release(ctx, "k", "a"), "release")
		wantErr(t, h.Locker.Release(ctx, "k", "a"), domain.ErrLockLost, "second release")
		wantErr(t, h.Locker.Release(ctx, "never-held", "a"), domain.ErrLockLost, "release of a key never held")
	})

	run("Release with another token returns ErrLockLost and keeps the holder's lock", func(t *testing.T, h LockerHarness) {
		ctx := t.Context()
		must(t, h.Locker.Acquire(ctx, "k", "a", lockTTL), "acquire")
		wantErr(t, h.Locker.Release(ctx, "k", "b"), domain.ErrLockLost, "release by a stranger")
		held(t, h, "k", "after a stranger's release")
		must(t, h.Locker.Release(ctx, "k", "a"), "release by the holder")
	})

	run("Release after expiry returns ErrLockLost and keeps the new holder's lock", func(t *testing.T, h LockerHarness) {
		ctx := t.Context()
		must(t, h.Locker.Acquire(ctx, "k", "a", lockTTL), "acquire")
		h.Advance(lockTTL + lockStep)
		must(t, h.Locker.Acquire(ctx, "k", "b", lockTTL), "acquire by another after expiry")
		wantErr(t, h.Locker.Release(ctx, "k", "a"), domain.ErrLockLost, "release by the expired holder")
		held(t, h, "k", "after the expired holder's release")
		must(t, h.Locker.Release(ctx, "k", "b"), "release by the new holder")
	})

	run("Release after expiry with nobody holding returns ErrLockLost", func(t *testing.T, h LockerHarness) {
		ctx := t.Context()
		must(t, h.Locker.Acquire(ctx, "k", "a", lockTTL), "acquire")
		h.Advance(lockTTL + lockStep)
		wantErr(t, h.Locker.Release(ctx, "k", "a"), domain.ErrLockLost, "release after expiry")
	})

	run("A lock expires after its ttl and another token can take it", func(t *testing.T, h LockerHarness) {
		ctx := t.Context()
		must(t, h.Locker.Acquire(ctx, "k", "a", lockTTL), "acquire")
		h.Advance(lockStep)
		held(t, h, "k", "before the ttl ran out")
		h.Advance(lockStep)
		must(t, h.Locker.Acquire(ctx, "k", "b", lockTTL), "acquire after expiry")
	})

	run("Extend by the holder resets the ttl", func(t *testing.T, h LockerHarness) {
		ctx := t.Context()
		must(t, h.Locker.Acquire(ctx, "k", "a", lockTTL), "acquire")
		h.Advance(lockStep)
		must(t, h.Locker.Extend(ctx, "k", "a", lockTTL), "extend")
		h.Advance(lockStep) // past the first ttl, within the extended one
		held(t, h, "k", "after the original ttl")
		must(t, h.Locker.Extend(ctx, "k", "a", lockTTL), "extend again")
		must(t, h.Locker.Release(ctx, "k", "a"), "release by the holder")
	})

	run("Extend with another token returns ErrLockLost and keeps the holder's ttl", func(t *testing.T, h LockerHarness) {
		ctx := t.Context()
		must(t, h.Locker.Acquire(ctx, "k", "a", lockTTL), "acquire")
		h.Advance(lockStep)
		wantErr(t, h.Locker.Extend(ctx, "k", "b", 10*lockTTL), domain.ErrLockLost, "extend by a stranger")
		held(t, h, "k", "after a stranger's extend")
		h.Advance(lockStep)
		// Had the stranger's extend applied, the lock would still be held.
		must(t, h.Locker.Acquire(ctx, "k", "c", lockTTL), "acquire after the holder's own ttl")
	})

	run("Extend after expiry returns ErrLockLost", func(t *testing.T, h LockerHarness) {
		ctx := t.Context()
		must(t, h.Locker.Acquire(ctx, "k", "a", lockTTL), "acquire")
		h.Advance(lockTTL + lockStep)
		wantErr(t, h.Locker.Extend(ctx, "k", "a", lockTTL), domain.ErrLockLost, "extend after expiry")
		must(t, h.Locker.Acquire(ctx, "k", "b", lockTTL), "acquire: the late extend took nothing")
		wantErr(t, h.Locker.Extend(ctx, "k", "a", lockTTL), domain.ErrLockLost, "extend of another's lock")
		must(t, h.Locker.Release(ctx, "k", "b"), "the new holder still holds it")
	})

	run("A call with a done context returns ErrUnavailable and changes nothing", func(t *testing.T, h LockerHarness) {
		done := doneContext(t)
		wantUnavailable(t, h.Locker.Acquire(done, "free", "a", lockTTL), "acquire")
		must(t, h.Locker.Acquire(t.Context(), "free", "b", lockTTL), "acquire: the refused acquire took nothing")
		wantUnavailable(t, h.Locker.Release(done, "free", "b"), "release")
		wantUnavailable(t, h.Locker.Extend(done, "free", "b", lockTTL), "extend")
		held(t, h, "free", "after a refused release")
	})

	run("race: 50 acquirers of one key, exactly 1 wins", func(t *testing.T, h LockerHarness) {
		errs := race(50, func(i int) error {
			return h.Locker.Acquire(t.Context(), "k", fmt.Sprintf("token-%02d", i), lockTTL)
		})
		ok, matched, other := countErrs(errs, domain.ErrLockBusy)
		if ok != 1 || matched[0] != 49 || len(other) > 0 {
			t.Fatalf("%d won, %d got ErrLockBusy, other errors %v; want 1 and 49", ok, matched[0], other)
		}
		for i, err := range errs {
			if err == nil {
				must(t, h.Locker.Release(t.Context(), "k", fmt.Sprintf("token-%02d", i)), "release by the winner")
			}
		}
	})
}
