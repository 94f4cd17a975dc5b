package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"
)

// The row types' GORM schemas, parsed once. The adapter's own statements
// (the multi-row INSERTs here, the group UPDATE in batch.go) take their
// columns and values from them, as GORM's reads and updates do, so the
// struct tags are the one mapping between rows and columns.
var (
	sagaSchema  = mustSchema(&sagaRow{})
	writeSchema = mustSchema(&writeRow{})
)

func mustSchema(row any) *schema.Schema {
	s, err := schema.Parse(row, &sync.Map{}, schema.NamingStrategy{})
	if err != nil {
		panic(fmt.Sprintf("mysql: the GORM schema of %T: %v", row, err)) // a programming error
	}
	return s
}

// columns lists s's mapped fields in struct order.
func columns(s *schema.Schema) []*schema.Field {
	var fs []*schema.Field
	for _, f := range s.Fields {
		if f.DBName != "" {
			fs = append(fs, f)
		}
	}
	return fs
}

// insertStmt writes rows of type R into one table with multi-row INSERTs
// of every mapped column, so the hottest writes (a saga's creation and
// every event) skip GORM's callbacks. The statements are the ones GORM's
// Create sent; measured with BenchmarkCreateSaga, a Create went from 218
// allocations (23.9 kB) to 121 (13.8 kB), and the client's CPU per create
// down by a fifth.
type insertStmt[R any] struct {
	columns []*schema.Field
	prefix  string // "INSERT INTO t (a, b) VALUES "
	tuple   string // "(?, ?)"
}

// maxInsertRows bounds the rows of one INSERT: a statement stays well under
// max_allowed_packet and, should the driver ever prepare it instead of
// interpolating, under the 65,535 placeholders a prepared statement takes.
// Bigger writes are several statements in the caller's transaction.
const maxInsertRows = 500

func newInsert[R any](s *schema.Schema) insertStmt[R] {
	var fs []*schema.Field
	for _, f := range columns(s) {
		if f.Creatable { // not a column only the database writes (writeRow.Pos)
			fs = append(fs, f)
		}
	}
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.DBName
	}
	return insertStmt[R]{
		columns: fs,
		prefix:  "INSERT INTO " + s.Table + " (" + strings.Join(names, ", ") + ") VALUES ",
		tuple:   "(?" + strings.Repeat(", ?", len(fs)-1) + ")",
	}
}

var (
	sagaInsert  = newInsert[sagaRow](sagaSchema)
	writeInsert = newInsert[writeRow](writeSchema)
)

// execer is what runs a statement: a transaction (*sql.Tx, or the ConnPool
// of a GORM transaction).
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// exec inserts rows, in the order given (an auto-increment key such as
// saga_event_writes.pos ascends along it), maxInsertRows to a statement.
func (s insertStmt[R]) exec(ctx context.Context, tx execer, rows []R) error {
	for len(rows) > 0 {
		n := min(len(rows), maxInsertRows)
		var q strings.Builder
		q.Grow(len(s.prefix) + n*(len(s.tuple)+2))
		q.WriteString(s.prefix)
		args := make([]any, 0, n*len(s.columns))
		for i := range rows[:n] {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString(s.tuple)
			row := reflect.ValueOf(&rows[i]).Elem()
			for _, f := range s.columns {
				v, _ := f.ValueOf(ctx, row)
				args = append(args, v)
			}
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// insertSagas inserts new saga rows and then their events' writes, inside tx.
func insertSagas(ctx context.Context, tx execer, sagas []sagaRow, events []writeRow) error {
	if err := sagaInsert.exec(ctx, tx, sagas); err != nil {
		return err
	}
	return writeInsert.exec(ctx, tx, events)
}

// createTx runs write, a transaction that inserts new sagas, on the primary,
// and runs it again, up to MaxUpdateAttempts times in all, while it is a
// deadlock's victim. Racing inserts of one key can deadlock in InnoDB (each
// takes a shared lock on the other's row, or on a delete-marked row of that
// key, in its duplicate check, and both then wait to write): that is a lost
// race, rolled back whole, and the attempt after it finds the winner's row,
// domain.ErrDuplicate, the answer the caller is owed. Its error is
// untranslated.
func (db *DB) createTx(ctx context.Context, write func(tx *gorm.DB) error) error {
	var err error
	for range MaxUpdateAttempts {
		err = db.cur.Load().onPrimary(ctx).Transaction(write)
		if err == nil || classify(ctx, err) != kindConflict {
			return err
		}
	}
	return err
}
