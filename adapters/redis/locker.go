package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

var (
	_ ports.Locker = (*Locker)(nil)
	_ ports.Pinger = (*Locker)(nil)
)

// Locker is the Redis ports.Locker: a lock is the key itself, set with
// SET key token NX PX ttl, so it vanishes at its ttl even if its holder
// dies. Release and Extend compare the token inside a Lua script, so a
// holder paused past its ttl can neither free nor prolong the lock of the
// holder after it. Keys are used exactly as given (the app passes
// lock:product:<id>). It is safe for concurrent use.
//
// A lock lives on one master: a failover that loses the SET before the
// replica received it frees the lock early. The lock only reduces
// contention; the reservation and the durable version checks keep a sale
// correct without it.
type Locker struct {
	c goredis.UniversalClient
}

// NewLocker returns a locker over c. It panics if c is nil or would ignore
// context deadlines (see NewClient).
func NewLocker(c goredis.UniversalClient) *Locker {
	mustClient(c, "NewLocker")
	return &Locker{c: c}
}

// Acquire implements ports.Locker. An empty key or token, or a ttl below
// one millisecond (the smallest PX expiry), is an error matching
// domain.ErrInvalidInput.
//
// If the SET reached Redis but its reply was lost and go-redis resent it,
// the resend answers ErrLockBusy for the caller's own lock: the contract
// forbids telling the two apart, and the lock then frees itself at its ttl.
func (l *Locker) Acquire(ctx context.Context, key, token string, ttl time.Duration) error {
	op := fmt.Sprintf("acquire lock %q", key)
	if err := validateLock(key, token, ttl); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := liveContext(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	err := l.c.Do(ctx, "SET", key, token, "NX", "PX", ttl.Milliseconds()).Err()
	switch {
	case errors.Is(err, goredis.Nil): // NX refused: someone holds it
		return fmt.Errorf("%s: %w", op, domain.ErrLockBusy)
	case err != nil:
		return translateErr(op, err)
	}
	return nil
}

// Release implements ports.Locker.
func (l *Locker) Release(ctx context.Context, key, token string) error {
	return runScript(ctx, l.c, unlockScript, fmt.Sprintf("release lock %q", key), []string{key}, token)
}

// Extend implements ports.Locker. The new expiry is now plus ttl, whether
// that is earlier or later than the old one (PEXPIRE). An empty key or
// token, or a ttl below one millisecond, is an error matching
// domain.ErrInvalidInput.
func (l *Locker) Extend(ctx context.Context, key, token string, ttl time.Duration) error {
	op := fmt.Sprintf("extend lock %q", key)
	if err := validateLock(key, token, ttl); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return runScript(ctx, l.c, extendScript, op, []string{key}, token, ttl.Milliseconds())
}

// Ping implements ports.Pinger: every master must answer.
func (l *Locker) Ping(ctx context.Context) error { return ping(ctx, l.c) }

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
