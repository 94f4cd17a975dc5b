package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

var (
	_ ports.EventPublisher = (*Publisher)(nil)
	_ ports.Pinger         = (*Publisher)(nil)
)

// Defaults of Options.
const (
	DefaultTopic        = "flashsale.events"
	DefaultWriteTimeout = 5 * time.Second
	// DefaultBatchTimeout is how long a partition's batch waits for more
	// messages before it is sent. kafka-go's own default is a second, which
	// makes every synchronous Publish take a second.
	DefaultBatchTimeout = 2 * time.Millisecond
	DefaultBatchSize    = 100
	DefaultMaxAttempts  = 6
	// DefaultMetadataTTL bounds how long the client keeps routing to a
	// partition leader that moved. kafka-go refreshes metadata only on this
	// timer (not on a NotLeaderForPartition answer), and its default is 6 s.
	DefaultMetadataTTL = time.Second
	DefaultClientID    = "flashsale"
)

// Options configures a Publisher.
type Options struct {
	// Brokers are the bootstrap host:port addresses; any live one is enough.
	Brokers []string
	// Topic is the events topic. Default DefaultTopic.
	Topic string
	// WriteTimeout bounds one produce request; a batch is tried up to
	// MaxAttempts times. Default DefaultWriteTimeout.
	WriteTimeout time.Duration
	// BatchTimeout is how long a partially filled batch waits before it is
	// sent. Default DefaultBatchTimeout (2 ms).
	BatchTimeout time.Duration
	// BatchSize is the most messages one produce request carries for one
	// partition; Publish sends a longer call in chunks of BatchSize, one
	// after the other. Default DefaultBatchSize.
	BatchSize int
	// MaxAttempts bounds the tries of one batch on retriable errors (leader
	// moved, connection refused or reset), with a backoff from 50 ms up to
	// 1 s between them. Default DefaultMaxAttempts.
	MaxAttempts int
	// MetadataTTL is how often the cluster layout is refreshed. Default
	// DefaultMetadataTTL.
	MetadataTTL time.Duration
	// ClientID names this client to the brokers. Default DefaultClientID.
	ClientID string
	// Logger receives kafka-go's error log (failed attempts). Nil: discarded.
	Logger *slog.Logger
	// Now stamps the records (their Kafka timestamp). Default time.Now.
	Now func() time.Time
	// Tracer, when set, publishes each event that carries a trace context
	// (domain.Event.TraceParent) in a producer span of that trace, whose
	// context its record's traceparent header then carries. Nil: the
	// header carries the event's trace context as it is.
	Tracer trace.TracerProvider
}

// String describes o for logs.
func (o Options) String() string {
	return fmt.Sprintf("kafka{brokers=%s topic=%s write=%s batch=%d/%s attempts=%d metadata=%s}",
		strings.Join(o.Brokers, ","), o.Topic, o.WriteTimeout, o.BatchSize, o.BatchTimeout, o.MaxAttempts, o.MetadataTTL)
}

func (o Options) withDefaults() (Options, error) {
	if len(o.Brokers) == 0 {
		return o, errors.New("kafka: at least one broker address is required")
	}
	for _, b := range o.Brokers {
		if _, _, err := net.SplitHostPort(b); err != nil {
			return o, fmt.Errorf("kafka: broker address %q: %w", b, err)
		}
	}
	if o.WriteTimeout < 0 || o.BatchTimeout < 0 || o.BatchSize < 0 || o.MaxAttempts < 0 || o.MetadataTTL < 0 {
		return o, errors.New("kafka: timeouts, batch size and attempts must not be negative")
	}
	if o.Topic == "" {
		o.Topic = DefaultTopic
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.BatchTimeout == 0 {
		o.BatchTimeout = DefaultBatchTimeout
	}
	if o.BatchSize == 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.MaxAttempts == 0 {
		o.MaxAttempts = DefaultMaxAttempts
	}
	if o.MetadataTTL == 0 {
		o.MetadataTTL = DefaultMetadataTTL
	}
	if o.ClientID == "" {
		o.ClientID = DefaultClientID
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}

// newTransport is the connection pool of one client. Each Publisher (and
// EnsureTopic call) has its own, so closing it closes its connections and
// its metadata TTL is its own.
func newTransport(o Options) *kafkago.Transport {
	return &kafkago.Transport{
		Dial:        (&net.Dialer{Timeout: 3 * time.Second}).DialContext,
		DialTimeout: 3 * time.Second,
		MetadataTTL: o.MetadataTTL,
		ClientID:    o.ClientID,
	}
}

// Publisher is the Kafka ports.EventPublisher (and ports.Pinger). Each event
// becomes one record of the topic, keyed by its saga ID, with the JSON
// envelope of docs/events.md as value. Publish returns once every record of
// the call is acknowledged by all in-sync replicas (acks=all). It is safe
// for concurrent use.
type Publisher struct {
	opts      Options
	tracer    trace.Tracer // nil: no spans
	transport *kafkago.Transport
	writer    *kafkago.Writer
}

// NewPublisher returns a publisher for opts.Topic. It does not connect: the
// first Publish or Ping does. The topic must exist (EnsureTopic creates
// it); the publisher never auto-creates it, so a mistyped topic fails
// instead of silently getting a default partition count. Close it when done.
func NewPublisher(opts Options) (*Publisher, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	tr := newTransport(o)
	w := &kafkago.Writer{
		Addr:         kafkago.TCP(o.Brokers...),
		Topic:        o.Topic,
		Balancer:     &kafkago.Hash{},
		RequiredAcks: kafkago.RequireAll,
		Async:        false,
		BatchTimeout: o.BatchTimeout,
		BatchSize:    o.BatchSize,
		WriteTimeout: o.WriteTimeout,
		ReadTimeout:  o.WriteTimeout,
		MaxAttempts:  o.MaxAttempts,
		// backoff(n) = n² × min, capped: 50, 200, 450, 800, 1000 ms...
		// Long enough for the metadata to notice a moved leader.
		WriteBackoffMin: 50 * time.Millisecond,
		WriteBackoffMax: time.Second,
		Transport:       tr,
	}
	if o.Logger != nil {
		w.ErrorLogger = kafkago.LoggerFunc(func(msg string, args ...any) {
			o.Logger.Warn("kafka writer", "topic", o.Topic, "msg", fmt.Sprintf(msg, args...))
		})
	}
	pub := &Publisher{opts: o, transport: tr, writer: w}
	if o.Tracer != nil {
		pub.tracer = o.Tracer.Tracer("github.com/flashsale/flashsale/adapters/kafka")
	}
	return pub, nil
}

// Topic is the topic the publisher writes.
func (p *Publisher) Topic() string { return p.opts.Topic }

// Publish implements ports.EventPublisher: it writes the events in order
// and returns nil only when all of them are acknowledged by every in-sync
// replica. Events of one saga go to one partition (the key is the saga ID),
// so they keep their order there. An event without a saga ID, with a seq
// below 1 or with an ID not derived from (saga, seq) is refused with a
// *domain.ValidationError before anything is sent.
//
// A call whose context is done sends nothing and returns an error wrapping
// domain.ErrUnavailable. Any failure after sending began (a broker not
// answering through every attempt, a context ending mid-call) also wraps
// domain.ErrUnavailable and leaves the outcome unknown: some or all of the
// records may have been written, or may still be written after Publish
// returned. The caller publishes them again, and the redelivery carries the
// same event IDs, which consumers drop.
//
// A call longer than Options.BatchSize is sent in chunks, one after the
// other, and stops at the first chunk that fails: a later event of a saga is
// then never acknowledged before an earlier one.
func (p *Publisher) Publish(ctx context.Context, events ...domain.Event) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("publish %d events: %w: %w", len(events), domain.ErrUnavailable, err)
	}
	if len(events) == 0 {
		return nil
	}
	now := p.opts.Now()
	msgs := make([]kafkago.Message, len(events))
	for i, e := range events {
		m, err := message(e, now)
		if err != nil {
			return fmt.Errorf("publish event %d of %d: %w", i+1, len(events), err)
		}
		msgs[i] = m
	}
	spans := p.startSpans(events, msgs)
	err := p.write(ctx, events, msgs)
	for _, span := range spans {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
	return err
}

// startSpans starts the producer span of each traced event (Options.Tracer)
// and puts its context in the event's record.
func (p *Publisher) startSpans(events []domain.Event, msgs []kafkago.Message) []trace.Span {
	if p.tracer == nil {
		return nil
	}
	var spans []trace.Span
	prop := propagation.TraceContext{}
	for i, e := range events {
		if e.TraceParent == "" {
			continue
		}
		parent := prop.Extract(context.Background(), propagation.MapCarrier{HeaderTraceParent: e.TraceParent})
		if !trace.SpanContextFromContext(parent).IsValid() {
			continue // kept as it is in the header
		}
		ctx, span := p.tracer.Start(parent, "publish "+p.opts.Topic, trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(attribute.String("messaging.system", "kafka"), attribute.String("messaging.destination.name", p.opts.Topic),
				attribute.String("messaging.message.id", e.ID), attribute.String("flashsale.event_type", string(e.Type)),
				attribute.String("flashsale.saga_id", string(e.SagaID))))
		carrier := propagation.MapCarrier{}
		prop.Inject(ctx, carrier)
		for j, h := range msgs[i].Headers {
			if h.Key == HeaderTraceParent {
				msgs[i].Headers[j].Value = []byte(carrier.Get(HeaderTraceParent))
			}
		}
		spans = append(spans, span)
	}
	return spans
}

// write sends msgs, the records of events, in chunks.
func (p *Publisher) write(ctx context.Context, events []domain.Event, msgs []kafkago.Message) error {
	// Chunks: a partition's batch holds at most BatchSize messages, so a
	// longer call would span two batches of one partition, written one
	// after the other; if the first failed through every attempt and the
	// second succeeded, a saga's later events would be acknowledged before
	// its earlier ones. One chunk at a time, stopping at the first failure,
	// rules that out for a caller that publishes one call at a time.
	for start := 0; start < len(msgs); start += p.opts.BatchSize {
		chunk := msgs[start:min(start+p.opts.BatchSize, len(msgs))]
		if err := p.writer.WriteMessages(ctx, chunk...); err != nil {
			return fmt.Errorf("publish %d events to %s (%d acknowledged before the failure): %w", len(events), p.opts.Topic, start, translateErr(err))
		}
	}
	return nil
}

// translateErr is the one place a write error is classified. Every failure
// of the writer is an infrastructure failure whose outcome is unknown (a
// timeout, a refused or reset connection, a leader that moved, a closed
// writer, a done context), so it wraps domain.ErrUnavailable; the one
// exception is a message larger than the broker accepts, which no retry
// fixes.
func translateErr(err error) error {
	var tooLarge kafkago.MessageTooLargeError
	if errors.As(err, &tooLarge) || errors.Is(err, kafkago.MessageSizeTooLarge) {
		return err
	}
	var werrs kafkago.WriteErrors
	if errors.As(err, &werrs) {
		// One error per message, mostly the same few: report the first.
		for _, e := range werrs {
			if e != nil {
				return fmt.Errorf("%w: %d of %d messages failed, first: %w", domain.ErrUnavailable, werrs.Count(), len(werrs), e)
			}
		}
	}
	return fmt.Errorf("%w: %w", domain.ErrUnavailable, err)
}

// Ping implements ports.Pinger: it asks a broker for its API versions (a
// real round trip, not the cached metadata) and checks that the topic is
// known to the cluster with a leader for every partition. Errors wrap
// domain.ErrUnavailable.
func (p *Publisher) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("kafka ping: %w: %w", domain.ErrUnavailable, err)
	}
	c := &kafkago.Client{Addr: kafkago.TCP(p.opts.Brokers...), Transport: p.transport, Timeout: p.opts.WriteTimeout}
	if _, err := c.ApiVersions(ctx, &kafkago.ApiVersionsRequest{}); err != nil {
		return fmt.Errorf("kafka ping: %w: %w", domain.ErrUnavailable, err)
	}
	md, err := c.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{p.opts.Topic}})
	if err != nil {
		return fmt.Errorf("kafka ping: %w: %w", domain.ErrUnavailable, err)
	}
	return topicReady(md, p.opts.Topic)
}

// topicReady checks that md describes topic with a leader for every
// partition.
func topicReady(md *kafkago.MetadataResponse, topic string) error {
	for _, t := range md.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return fmt.Errorf("kafka topic %s: %w: %w", topic, domain.ErrUnavailable, t.Error)
		}
		if len(t.Partitions) == 0 {
			return fmt.Errorf("kafka topic %s has no partitions: %w", topic, domain.ErrUnavailable)
		}
		for _, part := range t.Partitions {
			if part.Error != nil {
				return fmt.Errorf("kafka topic %s partition %d: %w: %w", topic, part.ID, domain.ErrUnavailable, part.Error)
			}
		}
		return nil
	}
	return fmt.Errorf("kafka topic %s is unknown to the cluster: %w", topic, domain.ErrUnavailable)
}

// Close flushes nothing new (Publish is synchronous), waits for the
// writer's in-flight batches and closes its connections.
func (p *Publisher) Close() error {
	err := p.writer.Close()
	p.transport.CloseIdleConnections()
	return err
}
