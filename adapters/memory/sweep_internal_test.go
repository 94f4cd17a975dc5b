package memory

import (
	"fmt"
	"testing"
	"time"

	"github.com/flashsale/flashsale/domain"
)

// These tests look inside the adapters: what they check (that expired
// entries do not pile up) is invisible through the ports.

func TestLockerSweepsExpiredLocks(t *testing.T) {
	clock := NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	l := NewLocker(clock)
	for i := range 10_000 {
		if err := l.Acquire(t.Context(), fmt.Sprintf("k-%d", i), "t", time.Millisecond); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Millisecond) // every lock expires before the next
	}
	if n := len(l.locks); n > 2*minSweepThreshold {
		t.Fatalf("%d lock entries kept for 1 live lock", n)
	}
}

func TestProductCacheSweepsExpiredEntries(t *testing.T) {
	clock := NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	c := NewProductCache(clock)
	for i := range 10_000 {
		p := domain.Product{ID: domain.ProductID(fmt.Sprintf("p-%d", i))}
		if err := c.Set(t.Context(), p, time.Millisecond); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Millisecond)
	}
	if n := len(c.entries); n > 2*minSweepThreshold {
		t.Fatalf("%d cache entries kept for 1 live one", n)
	}
}

func TestSweepKeepsLiveEntries(t *testing.T) {
	clock := NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	l := NewLocker(clock)
	for i := range 1000 {
		if err := l.Acquire(t.Context(), fmt.Sprintf("k-%d", i), "t", time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 1000 {
		if err := l.Release(t.Context(), fmt.Sprintf("k-%d", i), "t"); err != nil {
			t.Fatalf("lock k-%d was swept while live: %v", i, err)
		}
	}
}

func TestOutboxDropsThePublishedHead(t *testing.T) {
	s := NewStore(NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)))
	for i := range 100 {
		saga := domain.SagaID(fmt.Sprintf("s-%03d", i))
		s.outbox.append(domain.Event{ID: domain.EventID(saga, 1), SagaID: saga, Seq: 1})
	}
	var ids []string
	for i := range 99 {
		ids = append(ids, domain.EventID(domain.SagaID(fmt.Sprintf("s-%03d", i)), 1))
	}
	s.outbox.markPublished(ids)
	if s.outbox.len() != 1 || len(s.outbox.index) != 1 || s.outbox.at(s.outbox.index[eventKey{"s-099", 1}]).event.ID != "s-099-001" {
		t.Fatalf("outbox kept %d entries and %d index keys after publishing 99 of 100",
			s.outbox.len(), len(s.outbox.index))
	}
}

// TestEventLogKeepsItsLimitAcrossChunks: a bounded log drops whole chunks
// at its head, keeps the most recent deliveries in order, and holds no
// more than the limit and two chunks.
func TestEventLogKeepsItsLimitAcrossChunks(t *testing.T) {
	const limit = chunkSize + chunkSize/2
	l := NewEventLog(WithDeliveryLimit(limit))
	for seq := 1; seq <= 5*chunkSize+7; seq++ {
		if err := l.Publish(t.Context(), domain.Event{ID: domain.EventID("s-1", seq), SagaID: "s-1", Seq: seq}); err != nil {
			t.Fatal(err)
		}
		if l.n > limit+2*chunkSize {
			t.Fatalf("after %d publishes the log holds %d", seq, l.n)
		}
	}
	got := l.Deliveries()
	if len(got) != limit {
		t.Fatalf("kept %d deliveries, want %d", len(got), limit)
	}
	for i, e := range got {
		if want := 5*chunkSize + 7 - limit + 1 + i; e.Seq != want {
			t.Fatalf("delivery %d is seq %d, want %d", i, e.Seq, want)
		}
	}
}

// TestOutboxDropsWholeChunks: an outbox longer than a chunk keeps its
// entries in order across chunks, answers Unpublished oldest first, and
// drops its published head chunk by chunk, down to nothing.
func TestOutboxDropsWholeChunks(t *testing.T) {
	s := NewStore(NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)))
	const n = 3*chunkSize + 10
	var ids []string
	for i := range n {
		saga := domain.SagaID(fmt.Sprintf("s-%05d", i))
		s.outbox.append(domain.Event{ID: domain.EventID(saga, 1), SagaID: saga, Seq: 1})
		ids = append(ids, domain.EventID(saga, 1))
	}
	// Publish the second half first: the head stays, nothing is dropped.
	s.outbox.markPublished(ids[n/2:])
	if got := s.outbox.len(); got != n {
		t.Fatalf("kept %d entries, want %d while the head is unpublished", got, n)
	}
	first := s.outbox.unpublished(3)
	if len(first) != 3 || first[0].ID != ids[0] || first[2].ID != ids[2] {
		t.Fatalf("unpublished head %v", first)
	}
	if rest := s.outbox.unpublished(n); len(rest) != n/2 || rest[len(rest)-1].ID != ids[n/2-1] {
		t.Fatalf("unpublished %d, the last %s; want %d up to %s", len(rest), rest[len(rest)-1].ID, n/2, ids[n/2-1])
	}
	s.outbox.markPublished(ids[:n/2])
	if s.outbox.len() != 0 || len(s.outbox.index) != 0 || len(s.outbox.chunks) > 1 {
		t.Fatalf("after publishing all: %d entries, %d indexed, %d chunks", s.outbox.len(), len(s.outbox.index), len(s.outbox.chunks))
	}
	// It goes on appending where it stopped.
	s.outbox.append(domain.Event{ID: domain.EventID("t-1", 1), SagaID: "t-1", Seq: 1})
	if got := s.outbox.unpublished(5); len(got) != 1 || got[0].ID != "t-1-001" {
		t.Fatalf("after a new append, unpublished %v", got)
	}
}
