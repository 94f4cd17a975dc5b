package memory

import (
	"sync"
	"time"

	"github.com/flashsale/flashsale/ports"
)

var _ ports.Clock = (*Clock)(nil)

// Clock is a manual clock: its time moves only when Advance or Set is
// called, so a test or the simulator decides exactly when deadlines, leases
// and TTLs pass. It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock showing start.
func NewClock(start time.Time) *Clock {
	return &Clock{now: start}
}

// Now returns the clock's current time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
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
	c.now = c.now.Add(d)
	return c.now
}

// Set makes the clock show t, which may be earlier than its current time
// (a simulated clock jump).
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}
