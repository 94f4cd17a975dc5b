package mysql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	mysqldriver "github.com/go-sql-driver/mysql"

	"github.com/flashsale/flashsale/domain"
)

// errLostRace is a versioned write that matched no row: someone stored a
// newer version since the load. It never leaves the package.
var errLostRace = errors.New("lost an optimistic-lock race")

// MariaDB / MySQL server error numbers the adapter tells apart.
const (
	erDupEntry            = 1062
	erDupEntryWithKeyName = 1586
	erLockWaitTimeout     = 1205
	erLockDeadlock        = 1213
	erOptionPreventsStmt  = 1290 // "running with the --read-only option"
	erReadOnlyMode        = 1836
	erReadOnlyTransaction = 1792
	erConCount            = 1040 // too many connections
	erServerShutdown      = 1053
	erNetReadError        = 1158
	erNetReadInterrupted  = 1159
	erNetErrorOnWrite     = 1160
	erNetWriteInterrupted = 1161
	erQueryInterrupted    = 1317
	erConnectionKilled    = 1927
	erStatementTimeout    = 1969 // max_statement_time
	erBadNull             = 1048
	erDataTooLong         = 1406
	erTruncatedWrongValue = 1366
	erWarnDataOutOfRange  = 1264
	erConstraintFailed    = 4025 // a CHECK constraint
)

type errKind int

const (
	kindOther       errKind = iota // a bug or an unexpected server answer: left as it is
	kindDuplicate                  // unique key
	kindConflict                   // deadlock: a lost race, retryable
	kindInvalid                    // a value the schema refuses
	kindUnavailable                // try again later; the primary is not suspect
	kindPrimaryDown                // unreachable, broken connection or timeout
	kindReadOnly                   // the server we write to is read-only
)

// classify names what err means for a caller. ctx is the call's context: a
// done context explains any error that follows it.
func classify(ctx context.Context, err error) errKind {
	if errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled) {
		return kindUnavailable // the caller gave up; the server is not to blame
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return kindPrimaryDown // a hung server looks like this
	}
	var me *mysqldriver.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case erDupEntry, erDupEntryWithKeyName:
			return kindDuplicate
		case erLockDeadlock:
			return kindConflict
		case erOptionPreventsStmt, erReadOnlyMode, erReadOnlyTransaction:
			return kindReadOnly
		case erConCount, erServerShutdown, erNetReadError, erNetReadInterrupted, erNetErrorOnWrite,
			erNetWriteInterrupted, erConnectionKilled:
			return kindPrimaryDown
		case erLockWaitTimeout, erQueryInterrupted, erStatementTimeout:
			return kindUnavailable
		case erBadNull, erDataTooLong, erTruncatedWrongValue, erWarnDataOutOfRange, erConstraintFailed:
			return kindInvalid
		}
		return kindOther
	}
	var netErr net.Error
	switch {
	case errors.Is(err, driver.ErrBadConn), errors.Is(err, mysqldriver.ErrInvalidConn),
		errors.Is(err, sql.ErrConnDone), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.As(err, &netErr):
		return kindPrimaryDown
	case strings.Contains(err.Error(), "sql: database is closed"):
		// A call that started on a pool a primary switch has just retired.
		return kindUnavailable
	}
	return kindOther
}

// translate is the one place that maps an error of the driver or GORM to
// the domain's vocabulary, keeping the original in the chain. Infrastructure
// failures become domain.ErrUnavailable (503 at the edge, never a 500 loop);
// when they say the primary is gone or read-only, a search for the writable
// primary starts (see suspectPrimary). Domain errors pass through.
func (db *DB) translate(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	switch classify(ctx, err) {
	case kindDuplicate:
		return fmt.Errorf("%w: %w", domain.ErrDuplicate, err)
	case kindConflict:
		return fmt.Errorf("%w: %w", domain.ErrConflict, err)
	case kindInvalid:
		return fmt.Errorf("%w: %w", domain.ErrInvalidInput, err)
	case kindUnavailable:
		return fmt.Errorf("%w: %w", domain.ErrUnavailable, err)
	case kindPrimaryDown:
		db.suspectPrimary()
		return fmt.Errorf("%w: %w", domain.ErrUnavailable, err)
	case kindReadOnly:
		db.suspectPrimary()
		return fmt.Errorf("%w: the primary is read-only (demoted or failed over): %w", domain.ErrUnavailable, err)
	}
	return err
}
