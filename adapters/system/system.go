// Package system holds the production Clock and IDs: the wall clock and
// random identifiers. Everything else in the service reads time and makes
// identifiers through the ports, so tests and the simulator swap these for
// the deterministic adapters of package memory.
package system

import (
	"time"

	"github.com/google/uuid"

	"github.com/flashsale/flashsale/ports"
)

var (
	_ ports.Clock = Clock{}
	_ ports.IDs   = IDs{}
)

// Clock is the wall clock. The zero value is ready to use.
type Clock struct{}

// Now returns time.Now(), with its monotonic reading, so durations between
// two readings are immune to wall-clock steps.
func (Clock) Now() time.Time { return time.Now() }

// IDs makes UUIDv7 identifiers: 36 characters of hex digits and '-', which
// pass domain ID validation, and that sort roughly by creation time (good
// for database index locality). The zero value is ready to use.
//
// They serve as lock tokens too, so they must be unguessable: in the
// google/uuid implementation the first 48 bits are the millisecond
// timestamp and the next 12 a sub-millisecond sequence, leaving 62 bits from
// crypto/rand. A token is only ever compared by the lock store, never
// exposed to clients, so 62 random bits are ample; use UUIDv4 (122 bits) if
// tokens ever leave the service.
type IDs struct{}

// NewID returns a new UUIDv7 string. It panics if the operating system's
// random source fails, which crypto/rand documents as unrecoverable.
func (IDs) NewID() string { return uuid.Must(uuid.NewV7()).String() }
