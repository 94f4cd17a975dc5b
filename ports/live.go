package ports

import (
	"time"

	"github.com/flashsale/flashsale/domain"
)

// LiveStats is what the live sale page (GET /ui/) shows of a sale as this
// instance saw it: its own purchases, saga steps and compensations, kept
// in its memory. Behind a load balancer every instance has its own.
type LiveStats interface {
	// Snapshot returns the figures as of the call, in values the caller
	// owns. Safe for concurrent use, and cheap enough to call every second
	// for each open page.
	Snapshot() LiveSnapshot
}

// LiveSnapshot is one reading of LiveStats.
type LiveSnapshot struct {
	// At is when the snapshot was taken.
	At time.Time
	// SecondsEnd is the end of the last complete second. PerSecond holds,
	// per purchase outcome, the purchases that ended in each of the
	// complete seconds before it, oldest first; every slice has the same
	// length (the window, about a minute). The second in progress is not
	// in it: its count would read as a drop.
	SecondsEnd time.Time
	PerSecond  map[string][]int64
	// Totals counts purchases by outcome since the instance started.
	Totals map[string]int64
	// Sagas are totals since the instance started.
	Sagas SagaTotals
	// StepWindow is how far back Steps look. Steps lists every step name
	// seen since the start (with zero counts when none fell in the
	// window), in the order first seen: the saga's, in practice.
	StepWindow time.Duration
	Steps      []StepLatency
	// Compensations are the latest compensations this instance finished,
	// newest first, at most a few dozen.
	Compensations []CompensationRecord
}

// SagaTotals count sagas by how they ended on this instance.
type SagaTotals struct {
	// Started: purchases that committed a saga (its order was created).
	Started int64
	// Completed, Crashed and Unavailable: purchases answered with that
	// outcome. An unavailable purchase's saga, if it started, is finished
	// by recovery.
	Completed, Crashed, Unavailable int64
	// Compensated: sagas whose compensation this instance finished, for a
	// purchase or in recovery (see Metrics.Compensated).
	Compensated int64
	// Recovered: stale sagas this instance's recovery drove to an end.
	Recovered int64
}

// StepLatency is one saga step's (or compensation's) calls in the window.
type StepLatency struct {
	Step   string
	Count  int64
	Errors int64
	// Mean and Max are exact; P50 and P99 are read from a histogram, so
	// they are bucket bounds (see the recorder's doc), never above Max.
	Mean, P50, P99, Max time.Duration
}

// CompensationRecord is one finished compensation.
type CompensationRecord struct {
	Saga    domain.SagaID
	Product domain.ProductID
	Reason  string
	At      time.Time
}
