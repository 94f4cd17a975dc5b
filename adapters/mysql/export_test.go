package mysql

import (
	"context"
	"database/sql"
	"io/fs"

	"github.com/pressly/goose/v3"

	"github.com/flashsale/flashsale/domain"
)

// ErrLostRace is errLostRace, for the stale-write tests.
var ErrLostRace = errLostRace

// WriteOver stores next over prev, as loaded, with the version check and
// nothing else: no reload, no retry. It is what Update does after fn.
func (db *DB) WriteOver(ctx context.Context, prev, next *domain.Saga) (*domain.Saga, error) {
	return db.write(ctx, db.cur.Load(), prev, next)
}

// MigrateDownTo rolls db's schema back to version, for the migration test.
func MigrateDownTo(ctx context.Context, db *sql.DB, version int64) error {
	dir, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	provider, err := goose.NewProvider(goose.DialectMySQL, db, dir, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return err
	}
	_, err = provider.DownTo(ctx, version)
	return err
}
