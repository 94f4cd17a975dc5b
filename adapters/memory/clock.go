package memory

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/flashsale/flashsale/ports"
)

var _ ports.Clock = (*Clock)(nil)

// Clock is a manual clock: its time moves only when Advance or Set is
// called, so a test or the simulator decides exactly when deadlines, leases
// and TTLs pass. It is safe for concurrent use.
type Clock struct {
	mu sync.Mutex // serialises the writers
	// ns is the time in Unix nanoseconds, read without a lock; loc is the
	// location of the start time, which the clock keeps showing.
	ns  atomic.Int64
	loc *time.Location
}

// NewClock returns a clock showing start, which must lie between the years
// 1678 and 2262 (Unix nanoseconds).
func NewClock(start time.Time) *Clock {
	c := &Clock{loc: start.Location()}
	c.ns.Store(start.UnixNano())
	return c
}

// Now returns the clock's current time. It takes no lock: it is read far
// more often than it moves.
func (c *Clock) Now() time.Time {
	return time.Unix(0, c.ns.Load()).In(c.loc)
}

// Advance moves the clock forward by d and returns the new time. A negative
// d panics: time that runs backwards through Advance is always a bug in the
// caller (use Set to jump deliberately).
func (c *Clock) Advance(d time.Duration) time.Time {
	if d < 0 {
		panic("memory.Clock.Advance: negative duration")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ns.Add(int64(d))
	return c.Now()
}

// Set makes the clock show the instant t, which may be earlier than its
// current time (a simulated clock jump), in the start's location. Like the
// start, t must lie between the years 1678 and 2262.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ns.Store(t.UnixNano())
}
