package memory_test

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/memory"
	"github.com/flashsale/flashsale/domain"
)

func TestClockMovesOnlyWhenTold(t *testing.T) {
	c := memory.NewClock(start)
	if !c.Now().Equal(start) {
		t.Fatalf("new clock shows %v", c.Now())
	}
	if got := c.Advance(time.Minute); !got.Equal(start.Add(time.Minute)) || !c.Now().Equal(got) {
		t.Fatalf("advance returned %v, clock shows %v", got, c.Now())
	}
	c.Set(start.Add(-time.Hour))
	if !c.Now().Equal(start.Add(-time.Hour)) {
		t.Fatalf("set backwards: clock shows %v", c.Now())
	}
	defer func() {
		if recover() == nil {
			t.Fatal("advancing by a negative duration did not panic")
		}
	}()
	c.Advance(-time.Second)
}

func TestClockIsSafeForConcurrentAdvances(t *testing.T) {
	c := memory.NewClock(start)
	var wg sync.WaitGroup
	for range 50 {
		wg.Add(1)
		go func() { defer wg.Done(); c.Advance(time.Second); _ = c.Now() }()
	}
	wg.Wait()
	if !c.Now().Equal(start.Add(50 * time.Second)) {
		t.Fatalf("after 50 advances of 1s: %v", c.Now().Sub(start))
	}
}

func TestIDsAreSequentialWithTheirPrefix(t *testing.T) {
	ids := memory.NewIDs("s")
	if got := []string{ids.NewID(), ids.NewID()}; !slices.Equal(got, []string{"s-000001", "s-000002"}) {
		t.Fatalf("first ids %v", got)
	}
	if got := memory.NewIDs("").NewID(); got != "000001" {
		t.Fatalf("first id without prefix %q", got)
	}
}

func TestLockerRefusesMalformedRequests(t *testing.T) {
	l := memory.NewLocker(memory.NewClock(start))
	for name, err := range map[string]error{
		"empty key":     l.Acquire(t.Context(), "", "a", time.Second),
		"empty token":   l.Acquire(t.Context(), "k", "", time.Second),
		"sub-ms ttl":    l.Acquire(t.Context(), "k", "a", time.Microsecond),
		"extend by 0ns": l.Extend(t.Context(), "k", "a", 0),
	} {
		if !errors.Is(err, domain.ErrInvalidInput) {
			t.Fatalf("%s: %v, want ErrInvalidInput", name, err)
		}
	}
	if err := l.Acquire(t.Context(), "k", "a", time.Second); err != nil {
		t.Fatalf("the refused requests took the key: %v", err)
	}
}

func TestProductCacheRefusesSubMillisecondTTL(t *testing.T) {
	c := memory.NewProductCache(memory.NewClock(start))
	p := domain.Product{ID: "p-1"}
	if err := c.Set(t.Context(), p, 0); !errors.Is(err, domain.ErrInvalidInput) {
		t.Fatalf("set with ttl 0: %v", err)
	}
	if _, ok, _ := c.Get(t.Context(), "p-1"); ok {
		t.Fatal("a refused set cached the product")
	}
}

func TestEventLogFailNextFailsThatManyPublishesAndRecordsNothing(t *testing.T) {
	log := memory.NewEventLog()
	e := domain.Event{ID: "s-1-001", SagaID: "s-1", Seq: 1}
	log.FailNext(2)
	for i := range 2 {
		if err := log.Publish(t.Context(), e); !errors.Is(err, domain.ErrUnavailable) {
			t.Fatalf("publish %d: %v, want ErrUnavailable", i, err)
		}
	}
	if got := log.Deliveries(); len(got) != 0 {
		t.Fatalf("failed publishes recorded %v", got)
	}
	if err := log.Publish(t.Context(), e); err != nil {
		t.Fatalf("third publish: %v", err)
	}
	log.FailNext(5)
	log.FailNext(0)
	if err := log.Publish(t.Context(), e); err != nil {
		t.Fatalf("publish after cancelling failures: %v", err)
	}
	if got := log.Deliveries(); len(got) != 2 {
		t.Fatalf("deliveries %v, want the event twice", got)
	}
}

func TestEventLogTimelineDropsRedeliveriesAndOtherSagas(t *testing.T) {
	log := memory.NewEventLog()
	a1 := domain.Event{ID: "s-a-001", SagaID: "s-a", Seq: 1}
	a2 := domain.Event{ID: "s-a-002", SagaID: "s-a", Seq: 2}
	b1 := domain.Event{ID: "s-b-001", SagaID: "s-b", Seq: 1}
	for _, batch := range [][]domain.Event{{a1}, {b1, a1}, {a2, a1, a2}} {
		if err := log.Publish(t.Context(), batch...); err != nil {
			t.Fatal(err)
		}
	}
	if got := log.Timeline("s-a"); !slices.Equal(got, []domain.Event{a1, a2}) {
		t.Fatalf("timeline of s-a %v", got)
	}
	timelines := log.Timelines()
	if len(timelines) != 2 || !slices.Equal(timelines["s-a"], log.Timeline("s-a")) || !slices.Equal(timelines["s-b"], log.Timeline("s-b")) {
		t.Fatalf("timelines %v, want each saga's Timeline", timelines)
	}
	all := log.Deliveries()
	if len(all) != 6 {
		t.Fatalf("%d deliveries, want 6", len(all))
	}
	all[0].ID = "tampered"
	if log.Deliveries()[0].ID != "s-a-001" {
		t.Fatal("Deliveries shares its slice with the log")
	}
}

func TestEventLogWithDeliveryLimitKeepsTheMostRecent(t *testing.T) {
	log := memory.NewEventLog(memory.WithDeliveryLimit(3))
	for seq := 1; seq <= 10; seq++ {
		e := domain.Event{ID: domain.EventID("s-1", seq), SagaID: "s-1", Seq: seq}
		if err := log.Publish(t.Context(), e); err != nil {
			t.Fatal(err)
		}
		got := log.Deliveries()
		if len(got) != min(seq, 3) || got[len(got)-1].Seq != seq {
			t.Fatalf("after %d publishes kept %v", seq, got)
		}
	}
	var seqs []int
	for _, e := range log.Timeline("s-1") {
		seqs = append(seqs, e.Seq)
	}
	if !slices.Equal(seqs, []int{8, 9, 10}) {
		t.Fatalf("timeline kept seqs %v, want 8 9 10", seqs)
	}
}
