package porttest

import (
	"fmt"
	"testing"
	"time"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// PublisherHarness is what the EventPublisher suite drives.
type PublisherHarness struct {
	// Publisher is the adapter under test.
	Publisher ports.EventPublisher
	// Delivered returns every delivery a subscriber has received so far, in
	// the order received, redeliveries included. An asynchronous adapter
	// waits until at least atLeast deliveries arrived (failing t on
	// timeout); the suite never asks for more than it published.
	Delivered func(t *testing.T, atLeast int) []domain.Event
}

// sagaEvents returns n events of saga numbered 1..n.
func sagaEvents(saga domain.SagaID, n int) []domain.Event {
	es := make([]domain.Event, n)
	for i := range es {
		es[i] = domain.Event{
			ID: domain.EventID(saga, i+1), SagaID: saga, Seq: i + 1, Type: domain.EventSagaStarted,
			At: epoch.Add(time.Duration(i) * time.Second), ProductID: "p-1", Qty: 1,
		}
	}
	return es
}

// firstDeliveries drops redeliveries by event ID, as a consumer does, and
// checks that every redelivery carries the same event as the first.
func firstDeliveries(t *testing.T, delivered []domain.Event) []domain.Event {
	t.Helper()
	seen := make(map[string]domain.Event)
	var out []domain.Event
	for _, e := range delivered {
		if first, ok := seen[e.ID]; ok {
			if !equalEvent(first, e) {
				t.Fatalf("event %s redelivered as %+v, first delivered as %+v", e.ID, e, first)
			}
			continue
		}
		seen[e.ID] = e
		out = append(out, e)
	}
	return out
}

// wantSagaOrder checks that, among first deliveries, each saga's events are
// exactly seq 1..counts[saga], in order.
func wantSagaOrder(t *testing.T, firsts []domain.Event, counts map[domain.SagaID]int) {
	t.Helper()
	next := make(map[domain.SagaID]int)
	for _, e := range firsts {
		next[e.SagaID]++
		if e.Seq != next[e.SagaID] {
			t.Fatalf("event %s (seq %d) delivered as the saga's event %d", e.ID, e.Seq, next[e.SagaID])
		}
	}
	for saga, n := range counts {
		if next[saga] != n {
			t.Fatalf("%d distinct events of %s delivered, want %d", next[saga], saga, n)
		}
	}
}

// EventPublisher checks the ports.EventPublisher contract.
func EventPublisher(t *testing.T, newHarness func(t *testing.T) PublisherHarness) {
	run := func(name string, test func(t *testing.T, h PublisherHarness)) {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			if h.Publisher == nil || h.Delivered == nil {
				t.Fatal("harness needs Publisher and Delivered")
			}
			test(t, h)
		})
	}

	run("Publish delivers the events in order", func(t *testing.T, h PublisherHarness) {
		es := sagaEvents("s-1", 3)
		must(t, h.Publisher.Publish(t.Context(), es...), "publish")
		firsts := firstDeliveries(t, h.Delivered(t, 3))
		wantSagaOrder(t, firsts, map[domain.SagaID]int{"s-1": 3})
		for i, e := range firsts {
			if !equalEvent(e, es[i]) {
				t.Fatalf("delivered %+v, published %+v", e, es[i])
			}
		}
	})

	run("Events of one saga keep their order across calls", func(t *testing.T, h PublisherHarness) {
		es := sagaEvents("s-1", 4)
		for _, batch := range [][]domain.Event{es[:1], es[1:3], es[3:]} {
			must(t, h.Publisher.Publish(t.Context(), batch...), "publish")
		}
		wantSagaOrder(t, firstDeliveries(t, h.Delivered(t, 4)), map[domain.SagaID]int{"s-1": 4})
	})

	run("A redelivery carries the same event ID", func(t *testing.T, h PublisherHarness) {
		es := sagaEvents("s-1", 2)
		must(t, h.Publisher.Publish(t.Context(), es...), "publish")
		must(t, h.Publisher.Publish(t.Context(), es...), "publish again")
		delivered := h.Delivered(t, 4)
		if len(delivered) < 4 {
			t.Fatalf("%d deliveries of 2 events published twice, want at least 4", len(delivered))
		}
		wantSagaOrder(t, firstDeliveries(t, delivered), map[domain.SagaID]int{"s-1": 2})
	})

	run("Publish of no events succeeds", func(t *testing.T, h PublisherHarness) {
		must(t, h.Publisher.Publish(t.Context()), "publish nothing")
	})

	run("A call with a done context returns ErrUnavailable", func(t *testing.T, h PublisherHarness) {
		wantUnavailable(t, h.Publisher.Publish(doneContext(t), sagaEvents("s-1", 1)...), "publish")
	})

	run("race: 10 sagas published at once keep each saga's order", func(t *testing.T, h PublisherHarness) {
		const sagas, each = 10, 20
		counts := make(map[domain.SagaID]int)
		for i := range sagas {
			counts[domain.SagaID(fmt.Sprintf("s-%02d", i))] = each
		}
		errs := race(sagas, func(i int) error {
			for _, e := range sagaEvents(domain.SagaID(fmt.Sprintf("s-%02d", i)), each) {
				if err := h.Publisher.Publish(t.Context(), e); err != nil {
					return err
				}
			}
			return nil
		})
		if ok, _, other := countErrs(errs); ok != sagas {
			t.Fatalf("publishers failed: %v", other)
		}
		wantSagaOrder(t, firstDeliveries(t, h.Delivered(t, sagas*each)), counts)
	})
}
