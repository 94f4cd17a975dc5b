package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/flashsale/flashsale/adapters/kafka"
	"github.com/flashsale/flashsale/domain"
)

// listeners wraps kfake's listeners so a test can also cut the connections
// a removed broker had accepted. kfake's RemoveNode closes the listener
// only; a broker that dies takes its connections with it.
type listeners struct {
	mu     sync.Mutex
	byPort map[int]*trackedListener
}

type trackedListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *listeners) listen(network, address string) (net.Listener, error) {
	ln, err := net.Listen(network, address)
	if err != nil {
		return nil, err
	}
	tl := &trackedListener{Listener: ln}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byPort == nil {
		l.byPort = make(map[int]*trackedListener)
	}
	l.byPort[ln.Addr().(*net.TCPAddr).Port] = tl
	return tl, nil
}

func (l *trackedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

// cut closes every connection the listener on port accepted.
func (l *listeners) cut(port int) int {
	l.mu.Lock()
	tl := l.byPort[port]
	l.mu.Unlock()
	tl.mu.Lock()
	defer tl.mu.Unlock()
	for _, c := range tl.conns {
		_ = c.Close()
	}
	n := len(tl.conns)
	tl.conns = nil
	return n
}

func portOf(tb testing.TB, addr string) int {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		tb.Fatal(err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// A bounded stream of relay-like publishes runs while one of two brokers
// (the controller, leader of half the partitions) is removed and its
// connections cut, then added back. Publishing resumes on the surviving
// broker; a failed call is retried as the relay retries it; and everything
// acknowledged reads back, each saga complete and in order, duplicates
// equal to their first delivery. After the re-add the cluster answers
// CreateTopics with NotController, and EnsureTopic still gets its topic.
//
// With one attempt per batch the writer gives up at the first error and the
// relay loop's republishing is what carries the stream through.
func TestBrokerRemovedMidStreamLosesNothingAcknowledged(t *testing.T) {
	for _, attempts := range []int{kafka.DefaultMaxAttempts, 1} {
		t.Run(fmt.Sprintf("attempts=%d", attempts), func(t *testing.T) {
			t.Parallel()
			brokerRemovedMidStream(t, attempts)
		})
	}
}

func brokerRemovedMidStream(t *testing.T, attempts int) {
	lns := &listeners{}
	c, err := kfake.NewCluster(kfake.NumBrokers(2), kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(testPartitions), kfake.ListenFn(lns.listen))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close) // after the collector's own cleanup
	addrs := c.ListenAddrs()
	const topic = "flashsale.events"
	if err := kafka.EnsureTopic(t.Context(), addrs, topic, testPartitions, 2); err != nil {
		t.Fatal(err)
	}
	p, err := kafka.NewPublisher(kafka.Options{Brokers: addrs, Topic: topic, WriteTimeout: 2 * time.Second, MaxAttempts: attempts})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	const relays, sagasEach, perCall = 4, 20, 5
	want := make(map[domain.SagaID][]domain.Event)
	work := make([][][]domain.Event, relays) // per relay: its calls, in order
	total := 0
	for r := range relays {
		var sagas [][]domain.Event
		for s := range sagasEach {
			saga := domain.SagaID(fmt.Sprintf("s-%d-%02d", r, s))
			es := sagaEvents(saga, s%2 == 1)
			want[saga], total = es, total+len(es)
			sagas = append(sagas, es)
		}
		for k := 0; k < 7; k++ {
			for lo := 0; lo < len(sagas); lo += perCall {
				var call []domain.Event
				for _, es := range sagas[lo:min(lo+perCall, len(sagas))] {
					if k < len(es) {
						call = append(call, es[k])
					}
				}
				if len(call) > 0 {
					work[r] = append(work[r], call)
				}
			}
		}
	}

	var acked, failures atomic.Int64
	var lastAck atomic.Int64 // unix nanos of the last acknowledged call
	var maxStall atomic.Int64
	lastAck.Store(time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, relays)
	for r := range relays {
		wg.Go(func() {
			for _, call := range work[r] {
				// The relay's loop: a failed call is published again,
				// whole, until it is acknowledged.
				for {
					err := p.Publish(ctx, call...)
					if err == nil {
						break
					}
					failures.Add(1)
					if !errors.Is(err, domain.ErrUnavailable) || ctx.Err() != nil {
						errs <- err
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
				now := time.Now().UnixNano()
				if stall := now - lastAck.Swap(now); stall > maxStall.Load() {
					maxStall.Store(stall)
				}
				acked.Add(int64(len(call)))
				time.Sleep(3 * time.Millisecond) // a stream, not a burst
			}
		})
	}
	waitAcked := func(n int) {
		t.Helper()
		for acked.Load() < int64(n) {
			if ctx.Err() != nil {
				t.Fatalf("%d of %d events acknowledged before the deadline", acked.Load(), total)
			}
			time.Sleep(time.Millisecond)
		}
	}

	waitAcked(total / 3)
	const victim = 1 // the last broker is kfake's controller
	victimAddr := addrs[victim]
	if err := c.RemoveNode(victim); err != nil {
		t.Fatal(err)
	}
	cut := lns.cut(portOf(t, victimAddr))
	removedAt := acked.Load()
	t.Logf("removed broker %d at %d/%d events acknowledged; cut %d connections", victim, removedAt, total, cut)
	// Readiness follows: the survivor answers for the whole topic.
	pingStart := time.Now()
	for err := p.Ping(ctx); err != nil; err = p.Ping(ctx) {
		if time.Since(pingStart) > 5*time.Second {
			t.Fatalf("ping still fails 5 s after the removal: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("ping answered %s after the removal", time.Since(pingStart).Round(time.Millisecond))
	waitAcked(int(removedAt) + total/6) // publishing resumed on the survivor
	if _, _, err := c.AddNode(victim, portOf(t, victimAddr)); err != nil {
		t.Fatal(err)
	}
	t.Logf("added broker %d back at %d/%d events acknowledged", victim, acked.Load(), total)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("publish gave up: %v", err)
	}
	t.Logf("%d events acknowledged; %d failed calls retried; longest gap between acknowledgements %s",
		acked.Load(), failures.Load(), time.Duration(maxStall.Load()))

	sub := collect(t, addrs, topic)
	msgs := sub.waitDistinct(t, total)
	wantTimelines(t, events(t, msgs), want)
	t.Logf("read back %d records for %d events (%d redeliveries)", len(msgs), total, len(msgs)-total)

	// The dev broker's quirk after a re-add: its controller is gone for
	// good. EnsureTopic falls back to auto-creation.
	tr := &kafkago.Transport{}
	defer tr.CloseIdleConnections()
	probe, err := (&kafkago.Client{Addr: kafkago.TCP(addrs...), Transport: tr}).CreateTopics(ctx,
		&kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{{Topic: "probe", NumPartitions: 1, ReplicationFactor: 1}}})
	if err == nil {
		err = probe.Errors["probe"]
	}
	t.Logf("CreateTopics after the re-add answers: %v", err)
	if err := kafka.EnsureTopic(ctx, addrs, "after-readd", testPartitions, 2); err != nil {
		t.Fatalf("ensure a topic after the re-add: %v", err)
	}
	p2, err := kafka.NewPublisher(kafka.Options{Brokers: addrs, Topic: "after-readd"})
	if err != nil {
		t.Fatal(err)
	}
	defer p2.Close()
	if err := p2.Publish(ctx, sagaEvents("s-after", false)...); err != nil {
		t.Fatalf("publish to the topic made after the re-add: %v", err)
	}
	if err := p2.Ping(ctx); err != nil {
		t.Fatalf("ping after the re-add: %v", err)
	}
}
