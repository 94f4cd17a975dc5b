package memory

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

var _ ports.IdempotencyStore = (*IdempotencyStore)(nil)

// IdempotencyStore is an in-memory ports.IdempotencyStore. Each record lives
// for the store's ttl from the Begin that claimed it, completed or not; an
// expired key is treated as never seen. It is safe for concurrent use.
type IdempotencyStore struct {
	clock ports.Clock
	ttl   time.Duration

	mu      sync.Mutex
	records map[string]*idempotencyRecord
	sweep   sweeper
}

type idempotencyRecord struct {
	hash      string
	expiresAt time.Time
	// resp is nil while the first request is still running.
	resp *ports.StoredResponse
}

// NewIdempotencyStore returns an empty store whose records expire ttl after
// Begin, by clock. It panics if clock is nil or ttl is not positive.
func NewIdempotencyStore(clock ports.Clock, ttl time.Duration) *IdempotencyStore {
	mustHave(clock != nil, "NewIdempotencyStore", "a clock")
	mustHave(ttl > 0, "NewIdempotencyStore", "a positive ttl")
	return &IdempotencyStore{clock: clock, ttl: ttl, records: make(map[string]*idempotencyRecord)}
}

// liveLocked returns key's record if it has not expired at now.
func (s *IdempotencyStore) liveLocked(key string, now time.Time) (*idempotencyRecord, bool) {
	rec, ok := s.records[key]
	if !ok || !now.Before(rec.expiresAt) {
		return nil, false
	}
	return rec, true
}

// Begin implements ports.IdempotencyStore. A different hash is reported
// before an in-progress request, because it is the client's mistake and
// waiting would not fix it. An empty key is an error matching
// domain.ErrInvalidInput. A replayed response is a copy.
func (s *IdempotencyStore) Begin(ctx context.Context, key, requestHash string) (*ports.StoredResponse, error) {
	if err := contextErr(ctx); err != nil {
		return nil, fmt.Errorf("begin %q: %w", key, err)
	}
	if key == "" {
		return nil, fmt.Errorf("begin: %w", domain.Invalid("key", "must not be empty"))
	}
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.liveLocked(key, now)
	switch {
	case !ok:
		if s.sweep.due(len(s.records)) {
			for k := range s.records {
				if _, live := s.liveLocked(k, now); !live {
					delete(s.records, k)
				}
			}
			s.sweep.swept(len(s.records))
		}
		s.records[key] = &idempotencyRecord{hash: requestHash, expiresAt: now.Add(s.ttl)}
		return nil, nil
	case rec.hash != requestHash:
		return nil, fmt.Errorf("begin %q: %w", key, domain.ErrIdempotencyMismatch)
	case rec.resp == nil:
		return nil, fmt.Errorf("begin %q: %w", key, domain.ErrRequestInProgress)
	default:
		return copyResponse(*rec.resp), nil
	}
}

// Complete implements ports.IdempotencyStore. It needs a live, uncompleted
// claim: for a key never begun, expired, abandoned or already completed it
// returns an error wrapping domain.ErrInvalidTransition and changes
// nothing, because a replayed answer must never change. It does not extend
// the record's life.
func (s *IdempotencyStore) Complete(ctx context.Context, key string, resp ports.StoredResponse) error {
	if err := contextErr(ctx); err != nil {
		return fmt.Errorf("complete %q: %w", key, err)
	}
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.liveLocked(key, now)
	if !ok {
		return fmt.Errorf("complete %q: no claim: %w", key, domain.ErrInvalidTransition)
	}
	if rec.resp != nil {
		return fmt.Errorf("complete %q: already completed: %w", key, domain.ErrInvalidTransition)
	}
	rec.resp = copyResponse(resp)
	return nil
}

// Abandon implements ports.IdempotencyStore. It forgets only an uncompleted
// claim: a completed key keeps replaying its response, and an unknown key
// is not an error.
func (s *IdempotencyStore) Abandon(ctx context.Context, key string) error {
	if err := contextErr(ctx); err != nil {
		return fmt.Errorf("abandon %q: %w", key, err)
	}
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec, ok := s.liveLocked(key, now); ok && rec.resp == nil {
		delete(s.records, key)
	}
	return nil
}

// copyResponse keeps callers from sharing the stored body.
func copyResponse(r ports.StoredResponse) *ports.StoredResponse {
	return &ports.StoredResponse{Status: r.Status, Body: bytes.Clone(r.Body)}
}
