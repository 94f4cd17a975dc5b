package mysql

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

var _ ports.IdempotencyStore = (*IdempotencyStore)(nil)

// MaxIdempotencyKeyBytes is the longest key the store keeps.
const MaxIdempotencyKeyBytes = 255

const (
	keyInProgress = "in_progress"
	keyCompleted  = "completed"
	// Every sweepEvery-th claim deletes up to sweepLimit expired records.
	sweepEvery = 256
	sweepLimit = 1000
)

// IdempotencyStore is ports.IdempotencyStore on the primary of a DB. Each
// record lives for the store's ttl from the Begin that claimed it,
// completed or not; an expired key is new again. Expiry follows the DB's
// clock (Options.Clock). It is safe for concurrent use.
type IdempotencyStore struct {
	db     *DB
	ttl    time.Duration
	claims atomic.Uint64
}

type idempotencyRow struct {
	Key            []byte        `gorm:"column:idem_key;primaryKey"`
	RequestHash    string        `gorm:"column:request_hash"`
	Status         string        `gorm:"column:status"`
	ResponseStatus sql.NullInt32 `gorm:"column:response_status"`
	ResponseBody   []byte        `gorm:"column:response_body"`
	Created        time.Time     `gorm:"column:created_at"`
	Expires        time.Time     `gorm:"column:expires_at"`
}

func (idempotencyRow) TableName() string { return "idempotency_keys" }

// NewIdempotencyStore returns the store on db whose records expire ttl after
// Begin. It panics if db is nil or ttl is not positive: wiring errors must
// surface at start.
func NewIdempotencyStore(db *DB, ttl time.Duration) *IdempotencyStore {
	if db == nil || ttl <= 0 {
		panic("mysql.NewIdempotencyStore: a DB and a positive ttl are required")
	}
	return &IdempotencyStore{db: db, ttl: ttl}
}

// Begin implements ports.IdempotencyStore. A claim is a plain INSERT, so of
// concurrent Begins of a new key exactly one inserts and the others meet
// its primary key; an expired record is taken over by an UPDATE that
// re-checks the expiry, so of two takers one wins. A different hash is
// reported before an in-progress request (the client's mistake, which
// waiting would not fix). A key that is empty or longer than
// MaxIdempotencyKeyBytes is an error matching domain.ErrInvalidInput. A
// replayed response is the caller's copy.
func (s *IdempotencyStore) Begin(ctx context.Context, key, requestHash string) (*ports.StoredResponse, error) {
	ctx, cancel := s.db.callContext(ctx)
	defer cancel()
	if err := live(ctx); err != nil {
		return nil, fmt.Errorf("begin %q: %w", key, err)
	}
	if key == "" || len(key) > MaxIdempotencyKeyBytes {
		return nil, fmt.Errorf("begin: %w", domain.Invalid("key", "must be 1 to %d bytes", MaxIdempotencyKeyBytes))
	}
	for range MaxUpdateAttempts {
		now := s.db.now()
		g := s.db.cur.Load()
		claim := idempotencyRow{
			Key: []byte(key), RequestHash: requestHash, Status: keyInProgress, Created: now, Expires: now.Add(s.ttl),
		}
		err := g.onPrimary(ctx).Create(&claim).Error
		if err == nil {
			s.sweep(ctx, g, now)
			return nil, nil
		}
		if err = s.db.translate(ctx, err); !errors.Is(err, domain.ErrDuplicate) {
			return nil, fmt.Errorf("begin %q: %w", key, err)
		}
		var rec idempotencyRow
		err = g.onPrimary(ctx).Where("idem_key = ?", []byte(key)).Take(&rec).Error
		if errors.Is(err, gorm.ErrRecordNotFound) {
			continue // abandoned in between: claim again
		}
		if err != nil {
			return nil, fmt.Errorf("begin %q: %w", key, s.db.translate(ctx, err))
		}
		if !now.Before(rec.Expires) {
			res := g.onPrimary(ctx).Model(&idempotencyRow{}).
				Where("idem_key = ? AND expires_at <= ?", []byte(key), now).
				Updates(map[string]any{
					"request_hash": requestHash, "status": keyInProgress, "response_status": nil,
					"response_body": nil, "created_at": now, "expires_at": claim.Expires,
				})
			if res.Error != nil {
				return nil, fmt.Errorf("begin %q: %w", key, s.db.translate(ctx, res.Error))
			}
			if res.RowsAffected == 1 {
				return nil, nil
			}
			continue // another request took it over first
		}
		switch {
		case rec.RequestHash != requestHash:
			return nil, fmt.Errorf("begin %q: %w", key, domain.ErrIdempotencyMismatch)
		case rec.Status != keyCompleted:
			return nil, fmt.Errorf("begin %q: %w", key, domain.ErrRequestInProgress)
		default:
			return &ports.StoredResponse{Status: int(rec.ResponseStatus.Int32), Body: bytes.Clone(rec.ResponseBody)}, nil
		}
	}
	return nil, fmt.Errorf("begin %q: gave up after %d attempts: %w", key, MaxUpdateAttempts, domain.ErrConflict)
}

// sweep deletes some expired records now and then, so the table holds about
// one ttl of keys. Best effort: a failure is retried by a later sweep.
func (s *IdempotencyStore) sweep(ctx context.Context, g *generation, now time.Time) {
	if s.claims.Add(1)%sweepEvery != 0 {
		return
	}
	_ = g.onPrimary(ctx).Exec("DELETE FROM idempotency_keys WHERE expires_at <= ? LIMIT ?", now, sweepLimit).Error
}

// Complete implements ports.IdempotencyStore. It needs a live, uncompleted
// claim: for a key never begun, expired, abandoned or already completed it
// returns an error wrapping domain.ErrInvalidTransition and changes
// nothing, because a replayed answer must never change. It does not extend
// the record's life.
func (s *IdempotencyStore) Complete(ctx context.Context, key string, resp ports.StoredResponse) error {
	ctx, cancel := s.db.callContext(ctx)
	defer cancel()
	if err := live(ctx); err != nil {
		return fmt.Errorf("complete %q: %w", key, err)
	}
	body := resp.Body
	if body == nil {
		body = []byte{} // NULL means "no response yet"
	}
	res := s.db.cur.Load().onPrimary(ctx).Model(&idempotencyRow{}).
		Where("idem_key = ? AND status = ? AND expires_at > ?", []byte(key), keyInProgress, s.db.now()).
		Updates(map[string]any{"status": keyCompleted, "response_status": resp.Status, "response_body": body})
	if res.Error != nil {
		return fmt.Errorf("complete %q: %w", key, s.db.translate(ctx, res.Error))
	}
	if res.RowsAffected != 1 {
		return fmt.Errorf("complete %q: no live uncompleted claim: %w", key, domain.ErrInvalidTransition)
	}
	return nil
}

// Abandon implements ports.IdempotencyStore. It forgets only a live
// uncompleted claim: a completed key keeps replaying its response, and an
// unknown key is not an error.
func (s *IdempotencyStore) Abandon(ctx context.Context, key string) error {
	ctx, cancel := s.db.callContext(ctx)
	defer cancel()
	if err := live(ctx); err != nil {
		return fmt.Errorf("abandon %q: %w", key, err)
	}
	err := s.db.cur.Load().onPrimary(ctx).
		Where("idem_key = ? AND status = ? AND expires_at > ?", []byte(key), keyInProgress, s.db.now()).
		Delete(&idempotencyRow{}).Error
	if err != nil {
		return fmt.Errorf("abandon %q: %w", key, s.db.translate(ctx, err))
	}
	return nil
}
