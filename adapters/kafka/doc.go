// Package kafka holds flashsale's Kafka adapters, on segmentio/kafka-go:
// Publisher (ports.EventPublisher and ports.Pinger), which writes saga
// events to the events topic; Timeline, a consumer that keeps each saga's
// timeline from that topic; EnsureTopic, which creates the topic at start;
// and Decode, which parses a record value. docs/events.md documents the
// topic, the JSON envelope and the guarantees; this comment says how the
// code keeps them.
//
// # Order
//
// Every record is keyed by its saga ID and the Hash balancer (FNV-1a, as
// sarama) maps a key to one partition, where Kafka keeps order. Publish
// writes one call's events in order and returns only once they are all
// acknowledged by every in-sync replica (acks=all, synchronous writer), so a
// caller that publishes one call at a time, as the outbox relay does, never
// has a later event of a saga acknowledged before an earlier one. A call of
// more than Options.BatchSize events is sent in chunks, one after the other,
// stopping at the first failure, because one partition's messages beyond a
// batch would go in a second produce request that could succeed where the
// first failed. Callers sharing a Publisher concurrently share batches too;
// for them, the same split can, after a failure through every attempt,
// deliver a saga's later event first. The Timeline consumer places events by
// seq, so its timelines stay in order even then.
//
// # Duplicates
//
// Delivery is at least once: a failed or interrupted Publish leaves the
// outcome unknown (a produce whose answer was lost may have been written),
// and the caller publishes again. Event IDs are derived from (saga, seq), so
// a redelivery carries the same ID, and the Timeline consumer drops it.
//
// # Failures
//
// Every error of the writer wraps domain.ErrUnavailable, except a refused
// event (a *domain.ValidationError, before anything is sent) and a message
// larger than the broker accepts. A call whose context is done sends
// nothing. kafka-go refreshes its view of partition leaders only on a timer
// (Options.MetadataTTL, 1 s here instead of its 6 s), not when a broker
// answers "not leader"; the writer's retries (Options.MaxAttempts, with
// backoff up to 1 s) cover that window, so a broker that goes away costs a
// pause of a second or two (0.3 to 2.5 s in the tests), not a failed
// Publish.
//
// # Memory
//
// Timeline keeps at most TimelineOptions.MaxSagas sagas (least recently
// updated dropped first); see Timeline.
package kafka
