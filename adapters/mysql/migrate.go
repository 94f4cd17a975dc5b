package mysql

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/pressly/goose/v3"
)

// Migrations are versioned SQL files run by goose (github.com/pressly/goose/v3),
// chosen because it is well kept and small: plain, reviewable SQL files
// with Up and Down sections, embedded in the binary (embed.FS, so
// `flashsale migrate` needs no files on disk), a version table in the
// database itself, and a Provider API that takes a context and a *sql.DB
// and has no global state. golang-migrate has a heavier driver model and a
// "dirty" state that needs a human after a failed step; GORM's AutoMigrate
// is not versioned and cannot express the CHECK constraints and indexes
// this schema relies on.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migrateLock names the MySQL advisory lock that keeps two processes (two
// app servers starting at once) from migrating together.
const migrateLock = "flashsale.migrate"

// Migrate brings the schema of db (the primary) up to date. It is
// idempotent: on an up-to-date database it changes nothing. Concurrent
// Migrates, in one process or several, run one after the other.
func Migrate(ctx context.Context, db *sql.DB) error {
	if db == nil {
		return errors.New("migrate: no database")
	}
	dir, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	provider, err := goose.NewProvider(goose.DialectMySQL, db, dir,
		goose.WithSessionLocker(getLock{name: migrateLock, timeout: time.Minute}),
		goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := provider.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// SchemaVersion returns the latest migration applied to db (0 if none).
func SchemaVersion(ctx context.Context, db *sql.DB) (int64, error) {
	dir, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return 0, err
	}
	provider, err := goose.NewProvider(goose.DialectMySQL, db, dir, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return 0, err
	}
	return provider.GetDBVersion(ctx)
}

// Migrate runs the package-level Migrate on the current primary.
func (db *DB) Migrate(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if err := Migrate(ctx, db.cur.Load().primary); err != nil {
		return db.translate(ctx, err)
	}
	return nil
}

// getLock is a goose.SessionLocker on MySQL's GET_LOCK: held by the
// migrating connection, released when it is done or gone.
type getLock struct {
	name    string
	timeout time.Duration
}

func (l getLock) SessionLock(ctx context.Context, conn *sql.Conn) error {
	var got sql.NullInt64
	err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", l.name, int(l.timeout.Seconds())).Scan(&got)
	if err != nil {
		return fmt.Errorf("lock %s: %w", l.name, err)
	}
	if !got.Valid || got.Int64 != 1 {
		return fmt.Errorf("lock %s: not acquired within %s (another migration runs)", l.name, l.timeout)
	}
	return nil
}

func (l getLock) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	_, err := conn.ExecContext(ctx, "DO RELEASE_LOCK(?)", l.name)
	return err
}
