package memory

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

var _ ports.Locker = (*Locker)(nil)

// Locker is an in-memory ports.Locker. A lock expires when the clock reaches
// its acquisition (or last extension) time plus its ttl; from then on its
// token no longer holds it, exactly as a Redis key with PX expiry vanishes.
// It is safe for concurrent use.
type Locker struct {
	clock ports.Clock

	mu    sync.Mutex
	locks map[string]heldLock
	sweep sweeper
}

type heldLock struct {
	token     string
	expiresAt time.Time
}

// NewLocker returns a locker that reads time from clock. It panics if clock
// is nil.
func NewLocker(clock ports.Clock) *Locker {
	mustHave(clock != nil, "NewLocker", "a clock")
	return &Locker{clock: clock, locks: make(map[string]heldLock)}
}

// liveLocked returns key's lock if it has not expired at now.
func (l *Locker) liveLocked(key string, now time.Time) (heldLock, bool) {
	h, ok := l.locks[key]
	if !ok || !now.Before(h.expiresAt) {
		return heldLock{}, false
	}
	return h, true
}

// Acquire implements ports.Locker. An empty key or token, or a ttl below
// one millisecond (the smallest a Redis PX expiry can express), is an error
// matching domain.ErrInvalidInput.
func (l *Locker) Acquire(ctx context.Context, key, token string, ttl time.Duration) error {
	if err := contextErr(ctx); err != nil {
		return fmt.Errorf("acquire lock %q: %w", key, err)
	}
	if err := validateLock(key, token, ttl); err != nil {
		return fmt.Errorf("acquire lock %q: %w", key, err)
	}
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, held := l.liveLocked(key, now); held {
		return fmt.Errorf("acquire lock %q: %w", key, domain.ErrLockBusy)
	}
	if l.sweep.due(len(l.locks)) {
		for k := range l.locks {
			if _, live := l.liveLocked(k, now); !live {
				delete(l.locks, k)
			}
		}
		l.sweep.swept(len(l.locks))
	}
	l.locks[key] = heldLock{token: token, expiresAt: now.Add(ttl)}
	return nil
}

// Release implements ports.Locker.
func (l *Locker) Release(ctx context.Context, key, token string) error {
	if err := contextErr(ctx); err != nil {
		return fmt.Errorf("release lock %q: %w", key, err)
	}
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	h, held := l.liveLocked(key, now)
	if !held || h.token != token {
		return fmt.Errorf("release lock %q: %w", key, domain.ErrLockLost)
	}
	delete(l.locks, key)
	return nil
}

// Extend implements ports.Locker. The new expiry is now plus ttl, whether
// that is earlier or later than the old one, as with Redis PEXPIRE.
func (l *Locker) Extend(ctx context.Context, key, token string, ttl time.Duration) error {
	if err := contextErr(ctx); err != nil {
		return fmt.Errorf("extend lock %q: %w", key, err)
	}
	if err := validateLock(key, token, ttl); err != nil {
		return fmt.Errorf("extend lock %q: %w", key, err)
	}
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	h, held := l.liveLocked(key, now)
	if !held || h.token != token {
		return fmt.Errorf("extend lock %q: %w", key, domain.ErrLockLost)
	}
	h.expiresAt = now.Add(ttl)
	l.locks[key] = h
	return nil
}

func validateLock(key, token string, ttl time.Duration) error {
	switch {
	case key == "":
		return domain.Invalid("key", "must not be empty")
	case token == "":
		return domain.Invalid("token", "must not be empty")
	case ttl < time.Millisecond:
		return domain.Invalid("ttl", "must be at least 1ms")
	}
	return nil
}

// Holder returns the token holding key now, if any. It lets a checker
// verify lock safety (I8) independently of what callers were told.
func (l *Locker) Holder(key string) (token string, held bool) {
	now := l.clock.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	h, ok := l.liveLocked(key, now)
	return h.token, ok
}

// LockerSnapshot is a copy of a Locker's locks.
type LockerSnapshot struct{ locks map[string]heldLock }

// Snapshot copies the locks, for simulating a failover that loses the
// writes made after it (see Inventory.Snapshot).
func (l *Locker) Snapshot() *LockerSnapshot {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := &LockerSnapshot{locks: make(map[string]heldLock, len(l.locks))}
	for k, h := range l.locks {
		s.locks[k] = h
	}
	return s
}

// Restore replaces the locks with a snapshot's.
func (l *Locker) Restore(s *LockerSnapshot) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.locks = make(map[string]heldLock, len(s.locks))
	for k, h := range s.locks {
		l.locks[k] = h
	}
}
