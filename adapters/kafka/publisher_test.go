package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/flashsale/flashsale/adapters/kafka"
	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports/porttest"
)

func TestEventPublisherContract(t *testing.T) {
	brokers, n := requireBroker(t)
	porttest.EventPublisher(t, func(t *testing.T) porttest.PublisherHarness {
		topic := newTopic(t, brokers, n)
		sub := collect(t, brokers, topic)
		return porttest.PublisherHarness{
			Publisher: newPublisher(t, brokers, topic),
			Delivered: func(t *testing.T, atLeast int) []domain.Event {
				return events(t, sub.wait(t, atLeast))
			},
		}
	})
}

// Relay-like publishers: each of 8 goroutines owns 25 sagas and publishes
// them in calls that mix several sagas, as the outbox relay does; each saga
// must come back complete, in order, from one partition, and the sagas must
// spread over the partitions.
func TestRoundTripKeepsEachSagaInOrderAcrossPartitions(t *testing.T) {
	brokers, n := requireBroker(t)
	topic := newTopic(t, brokers, n)
	sub := collect(t, brokers, topic)
	p := newPublisher(t, brokers, topic)

	const workers, sagasEach = 8, 25
	want := make(map[domain.SagaID][]domain.Event)
	perWorker := make([][][]domain.Event, workers)
	total := 0
	for w := range workers {
		for s := range sagasEach {
			saga := domain.SagaID(fmt.Sprintf("s-%d-%02d", w, s))
			es := sagaEvents(saga, s%2 == 1)
			want[saga] = es
			perWorker[w] = append(perWorker[w], es)
			total += len(es)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			// Round robin over this worker's sagas: call k carries event k
			// of five sagas at once.
			sagas := perWorker[w]
			for k := 0; k < 7; k++ {
				for lo := 0; lo < len(sagas); lo += 5 {
					var call []domain.Event
					for _, es := range sagas[lo:min(lo+5, len(sagas))] {
						if k < len(es) {
							call = append(call, es[k])
						}
					}
					if len(call) == 0 {
						continue
					}
					if err := p.Publish(t.Context(), call...); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("publish: %v", err)
	}

	msgs := sub.wait(t, total)
	wantTimelines(t, events(t, msgs), want)
	partitionOf := make(map[string]int)
	used := make(map[int]bool)
	for _, m := range msgs {
		key := string(m.Key)
		if p, ok := partitionOf[key]; ok && p != m.Partition {
			t.Fatalf("saga %s in partitions %d and %d", key, p, m.Partition)
		}
		partitionOf[key] = m.Partition
		used[m.Partition] = true
	}
	if len(used) != testPartitions {
		t.Fatalf("%d sagas used %d of %d partitions", len(want), len(used), testPartitions)
	}
}

func TestRecordsCarryKeyHeadersAndEnvelope(t *testing.T) {
	brokers, n := requireBroker(t)
	topic := newTopic(t, brokers, n)
	sub := collect(t, brokers, topic)
	p := newPublisher(t, brokers, topic)
	es := sagaEvents("s-h", true)
	before := time.Now().Add(-time.Second)
	if err := p.Publish(t.Context(), es...); err != nil {
		t.Fatal(err)
	}
	for i, m := range sub.wait(t, len(es)) {
		if string(m.Key) != "s-h" {
			t.Fatalf("record key %q, want the saga ID", m.Key)
		}
		h := make(map[string]string)
		for _, x := range m.Headers {
			h[x.Key] = string(x.Value)
		}
		if h[kafka.HeaderEventID] != es[i].ID || h[kafka.HeaderEventType] != string(es[i].Type) ||
			h[kafka.HeaderSchemaVersion] != strconv.Itoa(domain.EventSchemaVersion) {
			t.Fatalf("record %d headers %v, want event-id %s, event-type %s, schema-version %d", i, h, es[i].ID, es[i].Type, domain.EventSchemaVersion)
		}
		// The record timestamp is the produce time; the event time is in
		// the value (2030 here).
		if m.Time.Before(before) || m.Time.After(time.Now().Add(time.Second)) {
			t.Fatalf("record timestamp %s, want about now", m.Time)
		}
	}
}

func TestPublishRefusesEventsThatBreakTheTopicGuarantees(t *testing.T) {
	// No broker needed: the events are refused before anything is sent.
	p, err := kafka.NewPublisher(kafka.Options{Brokers: []string{"127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	good := sagaEvents("s-1", false)[0]
	for name, mutate := range map[string]func(*domain.Event){
		"no saga ID":       func(e *domain.Event) { e.SagaID = "" },
		"seq 0":            func(e *domain.Event) { e.Seq = 0 },
		"underived ID":     func(e *domain.Event) { e.ID = "s-1-x" },
		"ID of other saga": func(e *domain.Event) { e.ID = domain.EventID("s-2", e.Seq) },
		"no type":          func(e *domain.Event) { e.Type = "" },
	} {
		bad := good
		mutate(&bad)
		err := p.Publish(t.Context(), good, bad)
		var ve *domain.ValidationError
		if !errors.As(err, &ve) || errors.Is(err, domain.ErrUnavailable) {
			t.Errorf("%s: got %v, want a *domain.ValidationError (and not ErrUnavailable)", name, err)
		}
	}
}

// A broker that is not there: Publish and Ping fail with ErrUnavailable,
// in bounded time, without a context deadline.
func TestUnreachableBrokerIsUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	p, err := kafka.NewPublisher(kafka.Options{Brokers: []string{addr}, WriteTimeout: time.Second, MaxAttempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	start := time.Now()
	wantUnavailable(t, p.Publish(context.Background(), sagaEvents("s-1", false)...), "publish to a closed port")
	wantUnavailable(t, p.Ping(context.Background()), "ping a closed port")
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("failing took %s", d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	wantUnavailable(t, kafka.EnsureTopic(ctx, []string{addr}, "t", 1, 1), "ensure a topic on a closed port")
}

func TestPingSeesTheTopic(t *testing.T) {
	brokers, n := requireBroker(t)
	topic := newTopic(t, brokers, n)
	if err := newPublisher(t, brokers, topic).Ping(t.Context()); err != nil {
		t.Fatalf("ping: %v", err)
	}
	wantUnavailable(t, newPublisher(t, brokers, topic+"-missing").Ping(t.Context()), "ping with a missing topic")
}

func TestEnsureTopicKeepsAnExistingTopic(t *testing.T) {
	brokers, n := requireBroker(t)
	topic := newTopic(t, brokers, n) // testPartitions partitions
	if err := kafka.EnsureTopic(t.Context(), brokers, topic, 2*testPartitions, 1); err != nil {
		t.Fatalf("ensure an existing topic: %v", err)
	}
	tr := &kafkago.Transport{}
	defer tr.CloseIdleConnections()
	c := &kafkago.Client{Addr: kafkago.TCP(brokers...), Transport: tr}
	md, err := c.Metadata(t.Context(), &kafkago.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		t.Fatal(err)
	}
	if got := len(md.Topics[0].Partitions); got != testPartitions {
		t.Fatalf("topic has %d partitions, want the %d it was created with", got, testPartitions)
	}
	// Compaction would keep one event per saga (the key).
	cfg, err := c.DescribeConfigs(t.Context(), &kafkago.DescribeConfigsRequest{Resources: []kafkago.DescribeConfigRequestResource{{
		ResourceType: kafkago.ResourceTypeTopic, ResourceName: topic, ConfigNames: []string{"cleanup.policy"},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	if es := cfg.Resources[0].ConfigEntries; len(es) != 1 || es[0].ConfigValue != "delete" {
		t.Fatalf("cleanup.policy: %+v, want delete", es)
	}
	err = kafka.EnsureTopic(t.Context(), brokers, topic+"-wide", 1, n+1)
	if err == nil || errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("replication factor %d on %d brokers: got %v, want a refusal that is not ErrUnavailable", n+1, n, err)
	}
}

// BenchmarkPublish measures synchronous, acknowledged (acks=all) publishes
// against the broker of FLASHSALE_KAFKA_BROKERS, one call at a time (as
// one relay publishes) and from 8 goroutines.
func BenchmarkPublish(b *testing.B) {
	brokers, n := requireBroker(b)
	for _, bc := range []struct {
		name           string
		perCall, procs int
	}{{"1event/1caller", 1, 1}, {"100events/1caller", 100, 1}, {"1event/8callers", 1, 8}} {
		b.Run(bc.name, func(b *testing.B) {
			topic := newTopic(b, brokers, n)
			p := newPublisher(b, brokers, topic)
			var mu sync.Mutex
			next := 0
			batch := func() []domain.Event {
				mu.Lock()
				defer mu.Unlock()
				es := make([]domain.Event, bc.perCall)
				for i := range es {
					next++
					saga := domain.SagaID(fmt.Sprintf("b-%d", next/5))
					seq := next%5 + 1
					es[i] = domain.Event{ID: domain.EventID(saga, seq), SagaID: saga, Seq: seq,
						Type: domain.EventOrderCreated, At: epoch, ProductID: "p-1", OrderID: "o-1", Qty: 1}
				}
				return es
			}
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			for w := range bc.procs {
				wg.Go(func() {
					// b.N calls in all, split over the callers.
					for i := w; i < b.N; i += bc.procs {
						if err := p.Publish(context.Background(), batch()...); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N*bc.perCall)/time.Since(start).Seconds(), "events/s")
		})
	}
}
