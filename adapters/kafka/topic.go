package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	kafkago "github.com/segmentio/kafka-go"
	metadataapi "github.com/segmentio/kafka-go/protocol/metadata"

	"github.com/flashsale/flashsale/domain"
)

// ensureAttempts bounds the CreateTopics tries of EnsureTopic before it
// falls back to auto-creation. A real controller election takes well under
// the 1.4 s these tries span.
const ensureAttempts = 4

// EnsureTopic creates topic with the given partition count and replication
// factor, or leaves it as it is if it exists: an existing topic's partition
// count is never changed, because that would move saga keys to other
// partitions and break the order of sagas in flight. It is meant to run once
// at start; it is idempotent and safe to run from several instances at once.
//
// A CreateTopics answered "not controller" (a controller election, or the
// dev broker after a broker was removed and added again, which then keeps
// answering it) or with another retriable error is tried again, up to a few
// times with a growing pause. If the topic still is not created, EnsureTopic
// falls back to asking for it through a metadata request that allows
// auto-creation: a broker with auto-creation enabled (the dev broker) then
// creates it with its default partition count and replication factor, not
// the ones given here. EnsureTopic returns nil only once the cluster knows
// the topic with a leader for every partition.
//
// Errors wrap domain.ErrUnavailable when the cluster does not answer or
// the topic cannot be created or found; a refused configuration (more
// replicas than brokers, an invalid name) is returned as it is.
func EnsureTopic(ctx context.Context, brokers []string, topic string, partitions, replicationFactor int) error {
	if topic == "" || partitions < 1 || replicationFactor < 1 {
		return fmt.Errorf("ensure topic %q: want a name, partitions >= 1 and replication factor >= 1, got %d and %d",
			topic, partitions, replicationFactor)
	}
	o, err := Options{Brokers: brokers, Topic: topic, MetadataTTL: 250 * time.Millisecond}.withDefaults()
	if err != nil {
		return fmt.Errorf("ensure topic %s: %w", topic, err)
	}
	tr := newTransport(o)
	defer tr.CloseIdleConnections()
	c := &kafkago.Client{Addr: kafkago.TCP(o.Brokers...), Transport: tr, Timeout: o.WriteTimeout}

	var last error
	for attempt := range ensureAttempts {
		if attempt > 0 {
			if err := sleep(ctx, time.Duration(attempt*attempt)*100*time.Millisecond); err != nil {
				return fmt.Errorf("ensure topic %s: %w (last try: %w)", topic, err, last)
			}
		}
		last = createTopic(ctx, c, topic, partitions, replicationFactor)
		if last == nil {
			if err := waitTopic(ctx, c, topic); err != nil {
				return fmt.Errorf("ensure topic %s: %w", topic, err)
			}
			return nil
		}
		if !retriable(last) {
			return fmt.Errorf("ensure topic %s: %w", topic, last)
		}
		last = fmt.Errorf("%w: %w", domain.ErrUnavailable, last)
	}
	// Not created through the controller: ask for auto-creation.
	if err := autoCreate(ctx, c, topic); err != nil {
		return fmt.Errorf("ensure topic %s: create: %w; auto-create: %w: %w", topic, last, domain.ErrUnavailable, err)
	}
	if err := waitTopic(ctx, c, topic); err != nil {
		return fmt.Errorf("ensure topic %s: create: %v; auto-create: %w", topic, last, err)
	}
	return nil
}

// createTopic sends one CreateTopics; "already exists" is success.
func createTopic(ctx context.Context, c *kafkago.Client, topic string, partitions, rf int) error {
	resp, err := c.CreateTopics(ctx, &kafkago.CreateTopicsRequest{Topics: []kafkago.TopicConfig{{
		Topic: topic, NumPartitions: partitions, ReplicationFactor: rf,
		// The key is the saga ID: compaction would keep only each saga's
		// last event. Say so explicitly, whatever the broker's default.
		ConfigEntries: []kafkago.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "delete"}},
	}}})
	if err != nil {
		return err
	}
	if err := resp.Errors[topic]; err != nil && !errors.Is(err, kafkago.TopicAlreadyExists) {
		return err
	}
	return nil
}

// retriable reports whether a CreateTopics failure may pass. Refusals of
// the request itself (a bad name, partition count, replication factor,
// configuration or authorization) do not; anything else (no answer, a
// broker or controller not available, a timeout) may.
func retriable(err error) bool {
	var kerr kafkago.Error
	if !errors.As(err, &kerr) {
		return true
	}
	switch kerr {
	case kafkago.InvalidTopic, kafkago.InvalidPartitionNumber, kafkago.InvalidReplicationFactor,
		kafkago.InvalidReplicaAssignment, kafkago.InvalidConfiguration, kafkago.InvalidRequest,
		kafkago.PolicyViolation, kafkago.TopicAuthorizationFailed, kafkago.ClusterAuthorizationFailed,
		kafkago.UnsupportedVersion:
		return false
	}
	return true
}

// autoCreate asks for topic with a metadata request that allows the broker
// to create it.
func autoCreate(ctx context.Context, c *kafkago.Client, topic string) error {
	r, err := c.Transport.RoundTrip(ctx, c.Addr, &metadataapi.Request{
		TopicNames:             []string{topic},
		AllowAutoTopicCreation: true,
	})
	if err != nil {
		return err
	}
	for _, t := range r.(*metadataapi.Response).Topics {
		if t.Name == topic && t.ErrorCode != 0 {
			return kafkago.Error(t.ErrorCode)
		}
	}
	return nil
}

// waitTopic waits until the (cached, refreshed every 250 ms) metadata shows
// topic with a leader for every partition: creation is asynchronous in
// Kafka, and a write right after it can fail.
func waitTopic(ctx context.Context, c *kafkago.Client, topic string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		md, err := c.Metadata(ctx, &kafkago.MetadataRequest{Topics: []string{topic}})
		if err == nil {
			if err = topicReady(md, topic); err == nil {
				return nil
			}
		}
		if serr := sleep(ctx, 100*time.Millisecond); serr != nil {
			return fmt.Errorf("topic %s not ready: %w: %w", topic, domain.ErrUnavailable, err)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
