package memory

import (
	"context"
	"fmt"
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

	mu         sync.Mutex
	deliveries []domain.Event
	failNext   int
}

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
	l.deliveries = append(l.deliveries, events...)
	// Compacting only once the slice holds twice the limit keeps Publish
	// amortised O(1); readers look at the last limit entries only.
	if l.limit > 0 && len(l.deliveries) >= 2*l.limit {
		l.deliveries = slices.Clone(l.deliveries[len(l.deliveries)-l.limit:])
	}
	return nil
}

// keptLocked returns the deliveries readers may see.
func (l *EventLog) keptLocked() []domain.Event {
	if l.limit > 0 && len(l.deliveries) > l.limit {
		return l.deliveries[len(l.deliveries)-l.limit:]
	}
	return l.deliveries
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
	return slices.Clone(l.keptLocked())
}

// Timeline returns the saga's delivered events as a consumer that drops
// duplicates by event ID sees them: each ID once, at its first delivery.
func (l *EventLog) Timeline(saga domain.SagaID) []domain.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := make(map[string]bool)
	var out []domain.Event
	for _, e := range l.keptLocked() {
		if e.SagaID == saga && !seen[e.ID] {
			seen[e.ID] = true
			out = append(out, e)
		}
	}
	return out
}

// Timelines returns every saga's Timeline, from one pass over the log (a
// caller checking every saga would otherwise scan it once per saga).
func (l *EventLog) Timelines() map[domain.SagaID][]domain.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	seen := make(map[string]bool)
	out := make(map[domain.SagaID][]domain.Event)
	for _, e := range l.keptLocked() {
		if !seen[e.ID] {
			seen[e.ID] = true
			out[e.SagaID] = append(out[e.SagaID], e)
		}
	}
	return out
}
