package memory

import (
	"context"
	"fmt"
	"iter"
	"slices"
	"sync"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

var _ ports.EventPublisher = (*EventLog)(nil)

// EventLog is an in-memory ports.EventPublisher that records every delivery,
// duplicates included, so tests can check both what consumers saw and how
// often. Failures can be injected with FailNext. It is safe for concurrent
// use; concurrent Publish calls are recorded whole, one after the other.
//
// By default it keeps every delivery for its lifetime, which is what tests
// and the simulator need; a long-running process should bound it with
// WithDeliveryLimit.
type EventLog struct {
	limit int

	mu sync.Mutex
	// chunks holds the deliveries in order, chunkSize to a chunk (the last
	// one filling): a long log grows without copying what it holds. n
	// counts them.
	chunks   [][]domain.Event
	n        int
	failNext int
}

const chunkSize = 1024

// EventLogOption configures NewEventLog.
type EventLogOption func(*EventLog)

// WithDeliveryLimit keeps only the n most recent deliveries: Deliveries and
// Timeline see those alone. A non-positive n panics.
func WithDeliveryLimit(n int) EventLogOption {
	mustHave(n > 0, "WithDeliveryLimit", "a positive limit")
	return func(l *EventLog) { l.limit = n }
}

// NewEventLog returns an empty log.
func NewEventLog(opts ...EventLogOption) *EventLog {
	l := &EventLog{}
	for _, opt := range opts {
		opt(l)
	}
	return l
}

// Publish implements ports.EventPublisher. A call that fails (an injected
// failure or a done context) records none of its events, so the caller's
// retry is what delivers them.
func (l *EventLog) Publish(ctx context.Context, events ...domain.Event) error {
	if err := contextErr(ctx); err != nil {
		return fmt.Errorf("publish %d events: %w", len(events), err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failNext > 0 {
		l.failNext--
		return fmt.Errorf("publish %d events: injected failure: %w", len(events), domain.ErrUnavailable)
	}
	for len(events) > 0 {
		if len(l.chunks) == 0 || len(l.chunks[len(l.chunks)-1]) == chunkSize {
			l.chunks = append(l.chunks, make([]domain.Event, 0, chunkSize))
		}
		last := &l.chunks[len(l.chunks)-1]
		k := min(chunkSize-len(*last), len(events))
		*last = append(*last, events[:k]...)
		l.n += k
		events = events[k:]
	}
	// Whole chunks go once the rest holds the limit; readers look at the
	// last limit deliveries only.
	for l.limit > 0 && len(l.chunks) > 1 && l.n-len(l.chunks[0]) >= l.limit {
		l.n -= len(l.chunks[0])
		l.chunks[0] = nil
		l.chunks = l.chunks[1:]
	}
	return nil
}

// keptLocked yields the deliveries readers may see, in order.
func (l *EventLog) keptLocked() iter.Seq[*domain.Event] {
	return func(yield func(*domain.Event) bool) {
		skip := 0
		if l.limit > 0 && l.n > l.limit {
			skip = l.n - l.limit
		}
		for _, c := range l.chunks {
			if skip >= len(c) {
				skip -= len(c)
				continue
			}
			for i := skip; i < len(c); i++ {
				if !yield(&c[i]) {
					return
				}
			}
			skip = 0
		}
	}
}

// FailNext makes the next n Publish calls fail with an error wrapping
// domain.ErrUnavailable without recording anything. It replaces any failures
// still pending; n <= 0 cancels them.
func (l *EventLog) FailNext(n int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failNext = max(n, 0)
}

// Deliveries returns a copy of every delivered event kept, in delivery
// order, redeliveries included.
func (l *EventLog) Deliveries() []domain.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	kept := l.n
	if l.limit > 0 {
		kept = min(kept, l.limit)
	}
	out := make([]domain.Event, 0, kept)
	for e := range l.keptLocked() {
		out = append(out, *e)
	}
	return out
}

// Timeline returns the saga's delivered events as a consumer that drops
// duplicates by event ID sees them: each ID once, at its first delivery.
func (l *EventLog) Timeline(saga domain.SagaID) []domain.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := make(map[string]bool)
	var out []domain.Event
	for e := range l.keptLocked() {
		if e.SagaID == saga && !seen[e.ID] {
			seen[e.ID] = true
			out = append(out, *e)
		}
	}
	return out
}

// timelineRoom is the room Timelines gives each saga's list at first: a
// saga's life has at most eight events.
const timelineRoom = 8

// Timelines returns every saga's Timeline, from one pass over the log (a
// caller checking every saga would otherwise scan it once per saga).
func (l *EventLog) Timelines() map[domain.SagaID][]domain.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[domain.SagaID][]domain.Event)
	for e := range l.keptLocked() {
		// A redelivery is dropped by the ID the saga's list already holds:
		// a list is one saga's events, a handful.
		timeline, ok := out[e.SagaID]
		if !ok {
			timeline = make([]domain.Event, 0, timelineRoom)
		}
		if !slices.ContainsFunc(timeline, func(d domain.Event) bool { return d.ID == e.ID }) {
			out[e.SagaID] = append(timeline, *e)
		}
	}
	return out
}
