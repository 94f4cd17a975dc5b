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
	if len(s.outbox.entries) != 1 || len(s.outbox.index) != 1 || s.outbox.entries[0].event.ID != "s-099-001" {
		t.Fatalf("outbox kept %d entries and %d index keys after publishing 99 of 100",
			len(s.outbox.entries), len(s.outbox.index))
	}
}
