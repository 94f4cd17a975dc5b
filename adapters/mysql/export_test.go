package mysql

import (
	"context"

	"github.com/flashsale/flashsale/domain"
)

// ErrLostRace is errLostRace, for the stale-write tests.
var ErrLostRace = errLostRace

// WriteOver stores next over prev, as loaded, with the version check and
// nothing else: no reload, no retry. It is what Update does after fn.
func (db *DB) WriteOver(ctx context.Context, prev, next *domain.Saga) (*domain.Saga, error) {
	return db.write(ctx, db.cur.Load(), prev, next)
}
