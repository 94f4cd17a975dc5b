// Package live keeps the figures of the live sale page (GET /ui/) in this
// process's memory: a Recorder is a ports.Metrics that counts purchases
// per second by outcome over the last minute, times the saga's steps over
// the last ten seconds, totals the sagas, and remembers the latest
// compensations with their reasons; its Snapshot is ports.LiveStats.
//
// It sits on the purchase hot path next to the Prometheus metrics (Tee
// feeds both), so a call takes one short mutex and allocates nothing once
// an outcome or step name has been seen. Its memory is fixed: rings of
// one-second slots, a bounded set of names, a bounded list.
//
// The figures are this instance's alone: behind a load balancer each
// instance counts the purchases it served. Prometheus is where the
// instances are summed.
package live
