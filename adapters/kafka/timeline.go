package kafka

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	kafkago "github.com/segmentio/kafka-go"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

var _ ports.EventTimeline = (*Timeline)(nil)

// Defaults of TimelineOptions.
const (
	DefaultMaxSagas       = 10_000
	DefaultCommitInterval = time.Second
)

// TimelineOptions configures a Timeline consumer.
type TimelineOptions struct {
	// Brokers are the bootstrap host:port addresses.
	Brokers []string
	// Topic is the events topic. Default DefaultTopic.
	Topic string
	// GroupID is the consumer group; required. Members of one group share
	// the topic's partitions, so each sees only its partitions' sagas: give
	// every process that must answer for every saga a group of its own
	// (for example "flashsale-timeline-<instance>").
	GroupID string
	// StartOffset is where a group with no committed offset starts:
	// kafkago.FirstOffset (the default: replay what the topic retains) or
	// kafkago.LastOffset (only events published from now on).
	StartOffset int64
	// MaxSagas bounds memory: the timelines of at most this many sagas are
	// kept, the least recently updated are dropped first. Default
	// DefaultMaxSagas.
	MaxSagas int
	// CommitInterval is how often consumed offsets are committed (in the
	// background). Default DefaultCommitInterval. Offsets are committed only
	// after their event was applied, so a restart redelivers at most this
	// window, and the duplicates are dropped.
	CommitInterval time.Duration
	// Logger receives malformed records and consumer errors. Nil: discarded.
	Logger *slog.Logger
}

// TimelineStats counts what a Timeline consumer has seen.
type TimelineStats struct {
	// Consumed counts every record read, duplicates and malformed ones
	// included.
	Consumed int64
	// Applied counts events added to a timeline.
	Applied int64
	// Duplicates counts redeliveries dropped by event ID.
	Duplicates int64
	// Conflicts counts redeliveries whose content differs from the first
	// delivery (same ID): a producer bug. The first delivery is kept.
	Conflicts int64
	// Malformed counts records Decode refused; they are skipped.
	Malformed int64
	// OutOfOrder counts events that arrived after a later event of their
	// saga; they are put in their place by seq.
	OutOfOrder int64
	// Evicted counts sagas dropped to stay within MaxSagas.
	Evicted int64
	// Sagas is how many timelines are kept now.
	Sagas int
}

// Timeline is a consumer of the events topic that keeps each saga's
// timeline: every event once (redeliveries are dropped by event ID), in seq
// order. It reads with a kafka-go consumer group (FetchMessage, then
// CommitMessages once the event is applied: at least once).
//
// Memory is bounded: at most MaxSagas timelines are kept, and the least
// recently updated saga is dropped first. A saga dropped that way is
// unknown to Timeline afterwards (the durable saga store still has it); if
// one of its events is redelivered later, the saga comes back with that
// event alone.
//
// The timelines live in memory only: a restarted process starts empty and,
// with the same GroupID, resumes after its committed offsets, so it never
// sees older events again. A process that must rebuild its view at start
// uses a fresh GroupID with StartOffset kafkago.FirstOffset.
//
// Timeline is safe for concurrent use; Run must be called once.
type Timeline struct {
	opts    TimelineOptions
	log     *slog.Logger
	reader  *kafkago.Reader
	running atomic.Bool

	mu    sync.Mutex
	sagas map[domain.SagaID]*list.Element // of *sagaTimeline
	lru   *list.List                      // front: most recently updated
	stats TimelineStats
}

type sagaTimeline struct {
	id     domain.SagaID
	events []domain.Event // by seq
}

// NewTimeline returns a consumer of opts.Topic. It does not connect: Run
// does.
func NewTimeline(opts TimelineOptions) (*Timeline, error) {
	po, err := Options{Brokers: opts.Brokers, Topic: opts.Topic}.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("kafka timeline: %w", err)
	}
	opts.Brokers, opts.Topic = po.Brokers, po.Topic
	if opts.GroupID == "" {
		return nil, errors.New("kafka timeline: a GroupID is required")
	}
	if opts.MaxSagas < 0 || opts.CommitInterval < 0 {
		return nil, errors.New("kafka timeline: MaxSagas and CommitInterval must not be negative")
	}
	switch opts.StartOffset {
	case 0:
		opts.StartOffset = kafkago.FirstOffset
	case kafkago.FirstOffset, kafkago.LastOffset:
	default:
		return nil, fmt.Errorf("kafka timeline: StartOffset %d is neither kafkago.FirstOffset nor kafkago.LastOffset", opts.StartOffset)
	}
	if opts.MaxSagas == 0 {
		opts.MaxSagas = DefaultMaxSagas
	}
	if opts.CommitInterval == 0 {
		opts.CommitInterval = DefaultCommitInterval
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg := kafkago.ReaderConfig{
		Brokers:        opts.Brokers,
		GroupID:        opts.GroupID,
		Topic:          opts.Topic,
		StartOffset:    opts.StartOffset,
		CommitInterval: opts.CommitInterval,
		MinBytes:       1,
		MaxBytes:       10 << 20,
		// A fetch waits at most this long for new records: it bounds how
		// long Close waits, not how soon events arrive (a fetch returns as
		// soon as there is one).
		MaxWait:           500 * time.Millisecond,
		HeartbeatInterval: time.Second,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  time.Second,
		ReadBackoffMin:    50 * time.Millisecond,
		ReadBackoffMax:    time.Second,
		// Lag reporting costs a request per partition per interval; unused.
		ReadLagInterval: -1,
		ErrorLogger: kafkago.LoggerFunc(func(msg string, args ...any) {
			log.Warn("kafka timeline reader", "topic", opts.Topic, "msg", fmt.Sprintf(msg, args...))
		}),
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("kafka timeline: %w", err)
	}
	return &Timeline{
		opts:   opts,
		log:    log,
		reader: kafkago.NewReader(cfg),
		sagas:  make(map[domain.SagaID]*list.Element),
		lru:    list.New(),
	}, nil
}

// Run consumes the topic until ctx ends (it then returns nil) or the
// consumer is closed (it returns an error). Transient errors are logged and
// retried. A malformed record is logged, counted and skipped: one bad
// record must not stop the timeline.
func (t *Timeline) Run(ctx context.Context) error {
	if !t.running.CompareAndSwap(false, true) {
		return errors.New("kafka timeline: Run called twice")
	}
	backoff := 50 * time.Millisecond
	for {
		m, err := t.reader.FetchMessage(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
			return fmt.Errorf("kafka timeline: %w", err)
		}
		if err != nil {
			t.log.Warn("kafka timeline fetch", "topic", t.opts.Topic, "err", err)
			if sleep(ctx, backoff) != nil {
				return nil
			}
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		t.consume(m)
		// Committed only once applied. With a CommitInterval the commit is
		// queued and sent in the background.
		if err := t.reader.CommitMessages(ctx, m); err != nil && ctx.Err() == nil {
			t.log.Warn("kafka timeline commit", "topic", t.opts.Topic, "partition", m.Partition, "offset", m.Offset, "err", err)
		}
	}
}

// consume applies one record.
func (t *Timeline) consume(m kafkago.Message) {
	e, err := Decode(m.Value)
	for _, h := range m.Headers {
		if h.Key == HeaderTraceParent {
			e.TraceParent = string(h.Value) // the header, not the envelope, carries it
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stats.Consumed++
	if err != nil {
		t.stats.Malformed++
		t.log.Warn("kafka timeline: skipping a malformed record", "topic", m.Topic,
			"partition", m.Partition, "offset", m.Offset, "err", err)
		return
	}
	t.applyLocked(e)
}

func (t *Timeline) applyLocked(e domain.Event) {
	el, ok := t.sagas[e.SagaID]
	if !ok {
		el = t.lru.PushFront(&sagaTimeline{id: e.SagaID})
		t.sagas[e.SagaID] = el
		for t.lru.Len() > t.opts.MaxSagas {
			oldest := t.lru.Back()
			delete(t.sagas, oldest.Value.(*sagaTimeline).id)
			t.lru.Remove(oldest)
			t.stats.Evicted++
		}
	} else {
		t.lru.MoveToFront(el)
	}
	st := el.Value.(*sagaTimeline)
	// IDs are derived from (saga, seq) (Decode checks it), so within a
	// saga the same ID is the same seq: find it by seq.
	i := sort.Search(len(st.events), func(i int) bool { return st.events[i].Seq >= e.Seq })
	if i < len(st.events) && st.events[i].ID == e.ID {
		t.stats.Duplicates++
		if !sameEvent(st.events[i], e) {
			t.stats.Conflicts++
			t.log.Warn("kafka timeline: a redelivered event differs from its first delivery; keeping the first",
				"event", e.ID, "first", st.events[i], "again", e)
		}
		return
	}
	if i < len(st.events) {
		t.stats.OutOfOrder++
	}
	st.events = slices.Insert(st.events, i, e)
	t.stats.Applied++
}

func sameEvent(a, b domain.Event) bool {
	if !a.At.Equal(b.At) {
		return false
	}
	a.At, b.At = time.Time{}, time.Time{}
	return a == b
}

// Timeline returns a copy of the saga's events, each once, in seq order,
// or nil if the consumer has seen none (or dropped the saga, see
// MaxSagas). Events still in flight may be missing at the end, and, after
// a partial publish failure, in the middle.
func (t *Timeline) Timeline(saga domain.SagaID) []domain.Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	el, ok := t.sagas[saga]
	if !ok {
		return nil
	}
	return slices.Clone(el.Value.(*sagaTimeline).events)
}

// Source is "kafka": the timelines are the topic's (ports.EventTimeline).
func (t *Timeline) Source() string { return "kafka" }

// Stats returns the consumer's counters.
func (t *Timeline) Stats() TimelineStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.stats
	s.Sagas = t.lru.Len()
	return s
}

// Close stops the consumer: it commits the offsets of applied events, leaves
// the group and closes its connections. A running Run returns.
func (t *Timeline) Close() error {
	return t.reader.Close()
}
