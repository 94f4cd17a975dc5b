package kafka_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/flashsale/flashsale/adapters/kafka"
	"github.com/flashsale/flashsale/domain"
)

// runTimeline starts a Timeline consumer of topic in a group of its own; it
// stops when tb ends, and Run must then have returned nil.
func runTimeline(tb testing.TB, brokers []string, topic string, maxSagas int) *kafka.Timeline {
	tb.Helper()
	tl, err := kafka.NewTimeline(kafka.TimelineOptions{
		Brokers: brokers, Topic: topic, GroupID: "timeline-" + topic, MaxSagas: maxSagas,
		CommitInterval: 100 * time.Millisecond,
	})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tl.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				tb.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			tb.Errorf("Run did not return 5 s after its context ended")
		}
		if err := tl.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
		deleteGroup(tb, brokers, "timeline-"+topic)
	})
	return tl
}

func waitApplied(tb testing.TB, tl *kafka.Timeline, consumed int64) kafka.TimelineStats {
	tb.Helper()
	waitFor(tb, fmt.Sprintf("%d records consumed", consumed), func() bool { return tl.Stats().Consumed >= consumed })
	return tl.Stats()
}

// Many sagas over every partition, published in calls that mix sagas: the
// consumer's timelines equal what was published.
func TestTimelineKeepsEachSagaInOrder(t *testing.T) {
	brokers, n := requireBroker(t)
	topic := newTopic(t, brokers, n)
	p := newPublisher(t, brokers, topic)
	tl := runTimeline(t, brokers, topic, 0)

	const sagas = 120
	all := make([][]domain.Event, sagas)
	total := 0
	for i := range all {
		all[i] = sagaEvents(domain.SagaID(fmt.Sprintf("s-%03d", i)), i%3 == 0)
		total += len(all[i])
	}
	// Step k publishes event k of every saga in one call, as a relay
	// catching up would.
	for k := 0; k < 7; k++ {
		var call []domain.Event
		for _, es := range all {
			if k < len(es) {
				call = append(call, es[k])
			}
		}
		if err := p.Publish(t.Context(), call...); err != nil {
			t.Fatal(err)
		}
	}
	st := waitApplied(t, tl, int64(total))
	for _, es := range all {
		wantSameEvents(t, string(es[0].SagaID), tl.Timeline(es[0].SagaID), es)
	}
	if st.Applied != int64(total) || st.Duplicates != 0 || st.OutOfOrder != 0 || st.Malformed != 0 || st.Sagas != sagas {
		t.Fatalf("stats %+v, want %d applied in %d sagas, nothing else", st, total, sagas)
	}
	if got := tl.Timeline("unknown"); got != nil {
		t.Fatalf("timeline of an unknown saga: %v", got)
	}
}

// The relay's at-least-once: a crash between publish and mark publishes
// again, with the same IDs. The consumer drops the redeliveries; a
// malformed record is skipped without stopping it.
func TestTimelineDropsDuplicatesByEventID(t *testing.T) {
	brokers, n := requireBroker(t)
	topic := newTopic(t, brokers, n)
	p := newPublisher(t, brokers, topic)
	tl := runTimeline(t, brokers, topic, 0)

	a, b := sagaEvents("s-a", false), sagaEvents("s-b", true)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(p.Publish(t.Context(), a[:3]...))
	must(p.Publish(t.Context(), a[:3]...)) // the relay died before marking
	must(p.Publish(t.Context(), append(a[1:], b...)...))
	must(p.Publish(t.Context(), b...))
	// A record that is not an event, written by someone else. (Its own
	// transport: kafka-go's default one caches metadata for 6 s and may not
	// know the topic yet.)
	tr := &kafkago.Transport{}
	defer tr.CloseIdleConnections()
	w := &kafkago.Writer{Addr: kafkago.TCP(brokers...), Topic: topic, Balancer: &kafkago.Hash{},
		RequiredAcks: kafkago.RequireAll, BatchTimeout: time.Millisecond, Transport: tr}
	must(w.WriteMessages(t.Context(), kafkago.Message{Key: []byte("s-a"), Value: []byte(`{"not":"an event"}`)}))
	must(w.Close())
	must(p.Publish(t.Context(), a[len(a)-1]))

	published := 3 + 3 + (len(a) - 1) + len(b) + len(b) + 1 + 1
	st := waitApplied(t, tl, int64(published))
	wantSameEvents(t, "s-a", tl.Timeline("s-a"), a)
	wantSameEvents(t, "s-b", tl.Timeline("s-b"), b)
	want := kafka.TimelineStats{Consumed: int64(published), Applied: int64(len(a) + len(b)),
		Duplicates: int64(published - 1 - len(a) - len(b)), Malformed: 1, Sagas: 2}
	if st != want {
		t.Fatalf("stats %+v, want %+v", st, want)
	}
}

// Memory is bounded: only the MaxSagas most recently updated sagas stay.
func TestTimelineKeepsAtMostMaxSagas(t *testing.T) {
	brokers, n := requireBroker(t)
	topic := newTopic(t, brokers, n)
	p := newPublisher(t, brokers, topic)
	tl := runTimeline(t, brokers, topic, 5)

	// One saga at a time, each waited for, so "most recent" is well
	// defined across partitions.
	for i := range 12 {
		es := sagaEvents(domain.SagaID(fmt.Sprintf("s-%02d", i)), false)
		if err := p.Publish(t.Context(), es...); err != nil {
			t.Fatal(err)
		}
		waitApplied(t, tl, int64((i+1)*len(es)))
	}
	st := tl.Stats()
	if st.Sagas != 5 || st.Evicted != 7 {
		t.Fatalf("stats %+v, want 5 sagas kept and 7 evicted", st)
	}
	for i := range 12 {
		got := tl.Timeline(domain.SagaID(fmt.Sprintf("s-%02d", i)))
		if kept := i >= 7; kept != (got != nil) {
			t.Fatalf("saga %d: timeline %v, want kept=%t", i, ids(got), kept)
		}
	}
}

func TestTimelineRunEnds(t *testing.T) {
	brokers, n := requireBroker(t)
	topic := newTopic(t, brokers, n)
	tl, err := kafka.NewTimeline(kafka.TimelineOptions{Brokers: brokers, Topic: topic, GroupID: "g-" + topic})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- tl.Run(context.Background()) }()
	time.Sleep(200 * time.Millisecond)
	if err := tl.Run(context.Background()); err == nil {
		t.Fatal("a second Run returned nil, want an error")
	}
	if err := tl.Close(); err != nil {
		t.Fatal(err)
	}
	defer deleteGroup(t, brokers, "g-"+topic)
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Run returned nil after Close, want an error saying it is closed")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return 5 s after Close")
	}
}

func TestNewTimelineRefusesBadOptions(t *testing.T) {
	for name, o := range map[string]kafka.TimelineOptions{
		"no brokers":   {GroupID: "g"},
		"no group":     {Brokers: []string{"127.0.0.1:1"}},
		"bad offset":   {Brokers: []string{"127.0.0.1:1"}, GroupID: "g", StartOffset: 42},
		"negative cap": {Brokers: []string{"127.0.0.1:1"}, GroupID: "g", MaxSagas: -1},
	} {
		if _, err := kafka.NewTimeline(o); err == nil {
			t.Errorf("%s: NewTimeline accepted %+v", name, o)
		}
	}
}
