package kafka_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/flashsale/flashsale/adapters/kafka"
	"github.com/flashsale/flashsale/domain"
)

// The broker these tests use: scripts/kafka up starts it (the dev broker,
// two kfake brokers). FLASHSALE_KAFKA_BROKERS points them elsewhere.
const (
	defaultBrokers = "127.0.0.1:19092,127.0.0.1:19093"
	startBroker    = "scripts/kafka up"
	// testPartitions is the partition count of every topic a test creates.
	testPartitions = 6
	// waitDeliveries bounds how long a test waits for records to arrive.
	waitDeliveries = 15 * time.Second
)

func brokerAddrs() []string {
	s := os.Getenv("FLASHSALE_KAFKA_BROKERS")
	if s == "" {
		s = defaultBrokers
	}
	return strings.Split(s, ",")
}

func inCI() bool { return os.Getenv("CI") == "true" }

// unreachable ends a test whose broker is not there: a failure under CI
// (CI=true), where the broker is part of the build, and a skip elsewhere,
// naming the command that starts it.
func unreachable(tb testing.TB, err error) {
	tb.Helper()
	what := "Kafka broker at " + strings.Join(brokerAddrs(), ",")
	if inCI() {
		tb.Fatalf("%s is unreachable (CI=true, so this fails instead of skipping): %v; start it with `%s`", what, err, startBroker)
	}
	tb.Skipf("%s is unreachable (%v); start it with `%s`", what, err, startBroker)
}

// A broker found down stays down for the rest of the run: probing again
// would cost every test its dial timeout.
var probe struct {
	once    sync.Once
	err     error
	brokers int
}

// requireBroker returns the broker addresses and how many brokers the
// cluster has, or skips (fails under CI) when it does not answer.
func requireBroker(tb testing.TB) ([]string, int) {
	tb.Helper()
	addrs := brokerAddrs()
	probe.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		tr := &kafkago.Transport{DialTimeout: time.Second}
		defer tr.CloseIdleConnections()
		c := &kafkago.Client{Addr: kafkago.TCP(addrs...), Transport: tr}
		md, err := c.Metadata(ctx, &kafkago.MetadataRequest{})
		if err != nil {
			probe.err = err
			return
		}
		probe.brokers = len(md.Brokers)
	})
	if probe.err != nil {
		unreachable(tb, probe.err)
	}
	return addrs, probe.brokers
}

var (
	runID       = randomHex(4)
	topicSerial atomic.Int64
)

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// newTopic creates a topic no other test (nor another run) uses, with
// testPartitions partitions and up to 2 replicas, and deletes it when tb
// ends.
func newTopic(tb testing.TB, brokers []string, nbrokers int) string {
	tb.Helper()
	topic := fmt.Sprintf("test-%s-%d", runID, topicSerial.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := kafka.EnsureTopic(ctx, brokers, topic, testPartitions, min(2, nbrokers)); err != nil {
		tb.Fatalf("create topic %s: %v", topic, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		tr := &kafkago.Transport{}
		defer tr.CloseIdleConnections()
		c := &kafkago.Client{Addr: kafkago.TCP(brokers...), Transport: tr}
		resp, err := c.DeleteTopics(ctx, &kafkago.DeleteTopicsRequest{Topics: []string{topic}})
		if err == nil {
			err = resp.Errors[topic]
		}
		if err != nil {
			tb.Logf("deleting topic %s: %v", topic, err)
		}
	})
	return topic
}

// newPublisher returns a publisher of topic, closed when tb ends.
func newPublisher(tb testing.TB, brokers []string, topic string) *kafka.Publisher {
	tb.Helper()
	p, err := kafka.NewPublisher(kafka.Options{Brokers: brokers, Topic: topic})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = p.Close() })
	return p
}

// collector is an independent subscriber: a consumer group of its own that
// records every record of a topic from its beginning, in the order
// received, redeliveries included.
type collector struct {
	mu      sync.Mutex
	msgs    []kafkago.Message
	arrived chan struct{} // closed and replaced on every arrival
}

// collect starts a collector of topic; it stops when tb ends.
func collect(tb testing.TB, brokers []string, topic string) *collector {
	tb.Helper()
	r := kafkago.NewReader(kafkago.ReaderConfig{
		Brokers: brokers, Topic: topic, GroupID: "collector-" + topic,
		StartOffset: kafkago.FirstOffset, MaxWait: 250 * time.Millisecond,
		HeartbeatInterval: time.Second, SessionTimeout: 6 * time.Second, RebalanceTimeout: 6 * time.Second,
		ReadLagInterval: -1,
	})
	c := &collector{arrived: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := r.FetchMessage(ctx)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			c.mu.Lock()
			c.msgs = append(c.msgs, m)
			close(c.arrived)
			c.arrived = make(chan struct{})
			c.mu.Unlock()
		}
	}()
	tb.Cleanup(func() {
		cancel()
		<-done
		_ = r.Close()
		deleteGroup(tb, brokers, "collector-"+topic)
	})
	return c
}

// deleteGroup deletes a consumer group a test used (its members have
// left), so the dev broker does not collect them run after run.
func deleteGroup(tb testing.TB, brokers []string, group string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tr := &kafkago.Transport{}
	defer tr.CloseIdleConnections()
	c := &kafkago.Client{Addr: kafkago.TCP(brokers...), Transport: tr}
	resp, err := c.DeleteGroups(ctx, &kafkago.DeleteGroupsRequest{GroupIDs: []string{group}})
	if err == nil {
		err = resp.Errors[group]
	}
	if err != nil {
		tb.Logf("deleting consumer group %s: %v", group, err)
	}
}

// wait returns the records received once there are at least atLeast,
// failing tb after waitDeliveries.
func (c *collector) wait(tb testing.TB, atLeast int) []kafkago.Message {
	tb.Helper()
	return c.waitUntil(tb, fmt.Sprintf("at least %d records", atLeast), func(msgs []kafkago.Message) bool { return len(msgs) >= atLeast })
}

// waitDistinct returns the records received once they hold n distinct
// keys+values (redeliveries count once), failing tb after waitDeliveries.
func (c *collector) waitDistinct(tb testing.TB, n int) []kafkago.Message {
	tb.Helper()
	return c.waitUntil(tb, fmt.Sprintf("%d distinct records", n), func(msgs []kafkago.Message) bool {
		seen := make(map[string]bool, len(msgs))
		for _, m := range msgs {
			seen[string(m.Key)+"\x00"+string(m.Value)] = true
		}
		return len(seen) >= n
	})
}

func (c *collector) waitUntil(tb testing.TB, what string, done func([]kafkago.Message) bool) []kafkago.Message {
	tb.Helper()
	deadline := time.NewTimer(waitDeliveries)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		msgs, arrived := c.msgs, c.arrived
		c.mu.Unlock()
		// c.msgs is only appended to: the prefix read is stable.
		if done(msgs) {
			return append([]kafkago.Message(nil), msgs...)
		}
		select {
		case <-arrived:
		case <-deadline.C:
			tb.Fatalf("%d records received after %s, want %s", len(msgs), waitDeliveries, what)
		}
	}
}

// events decodes records, failing tb on a malformed one.
func events(tb testing.TB, msgs []kafkago.Message) []domain.Event {
	tb.Helper()
	es := make([]domain.Event, len(msgs))
	for i, m := range msgs {
		e, err := kafka.Decode(m.Value)
		if err != nil {
			tb.Fatalf("record at offset %d of partition %d: %v", m.Offset, m.Partition, err)
		}
		es[i] = e
	}
	return es
}

var epoch = time.Date(2030, 1, 1, 12, 0, 0, 123456789, time.UTC)

// sagaEvents returns a whole saga as the app writes it: the five events of
// a completed purchase, or the six of a compensated one (odd sagas).
func sagaEvents(saga domain.SagaID, compensated bool) []domain.Event {
	types := []domain.EventType{domain.EventSagaStarted, domain.EventInventoryReserved, domain.EventOrderCreated,
		domain.EventPaymentProcessed, domain.EventOrderConfirmed}
	if compensated {
		types = []domain.EventType{domain.EventSagaStarted, domain.EventInventoryReserved, domain.EventOrderCreated,
			domain.EventPaymentRefunded, domain.EventOrderCancelled, domain.EventInventoryReleased, domain.EventSagaCompensated}
	}
	es := make([]domain.Event, len(types))
	for i, typ := range types {
		e := domain.Event{
			ID: domain.EventID(saga, i+1), SagaID: saga, Seq: i + 1, Type: typ,
			At: epoch.Add(time.Duration(i) * time.Millisecond), ProductID: "p-7", OrderID: domain.OrderID("o-" + saga), Qty: 2,
		}
		if typ == domain.EventPaymentProcessed || typ == domain.EventPaymentRefunded {
			e.AmountMinor = 1998
		}
		if typ.IsCompensation() {
			e.Reason = "payment_declined"
		}
		es[i] = e
	}
	return es
}

// wantTimelines checks that, among first deliveries (dropping redeliveries
// by ID, each of which must equal its first delivery), every saga's events
// are exactly want[saga], in order.
func wantTimelines(tb testing.TB, delivered []domain.Event, want map[domain.SagaID][]domain.Event) {
	tb.Helper()
	seen := make(map[string]domain.Event)
	got := make(map[domain.SagaID][]domain.Event)
	for _, e := range delivered {
		if first, ok := seen[e.ID]; ok {
			if !equalEvent(first, e) {
				tb.Fatalf("event %s redelivered as %+v, first delivered as %+v", e.ID, e, first)
			}
			continue
		}
		seen[e.ID] = e
		got[e.SagaID] = append(got[e.SagaID], e)
	}
	for saga, es := range want {
		wantSameEvents(tb, string(saga), got[saga], es)
	}
	if len(got) != len(want) {
		tb.Fatalf("events of %d sagas delivered, want %d", len(got), len(want))
	}
}

func wantSameEvents(tb testing.TB, what string, got, want []domain.Event) {
	tb.Helper()
	if len(got) != len(want) {
		tb.Fatalf("%s: %d events, want %d:\n got %v\nwant %v", what, len(got), len(want), ids(got), ids(want))
	}
	for i := range want {
		if !equalEvent(got[i], want[i]) {
			tb.Fatalf("%s: event %d is %+v, want %+v", what, i, got[i], want[i])
		}
	}
}

func ids(es []domain.Event) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func equalEvent(a, b domain.Event) bool {
	if !a.At.Equal(b.At) {
		return false
	}
	a.At, b.At = time.Time{}, time.Time{}
	return a == b
}

// waitFor polls cond until it holds, failing tb after waitDeliveries.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(waitDeliveries)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s waiting for %s", waitDeliveries, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func wantUnavailable(tb testing.TB, err error, what string) {
	tb.Helper()
	if !errors.Is(err, domain.ErrUnavailable) {
		tb.Fatalf("%s: got %v, want an error wrapping domain.ErrUnavailable", what, err)
	}
}
