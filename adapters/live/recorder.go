package live

import (
	"errors"
	"math/bits"
	"sync"
	"time"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

var (
	_ ports.Metrics   = (*Recorder)(nil)
	_ ports.LiveStats = (*Recorder)(nil)
)

const (
	// RateWindow is how many complete seconds of purchases a snapshot
	// shows per outcome.
	RateWindow = 60
	// StepWindow is how far back a snapshot's step latencies look: the
	// second in progress and the nine before it.
	StepWindow = 10 * time.Second
	// KeptCompensations is how many of the latest compensations a snapshot
	// lists.
	KeptCompensations = 20

	stepSlots = int(StepWindow / time.Second)
	// At most maxOutcomes outcome names and maxSteps step names are kept
	// apart; the last slot of each is "other", shared by any name beyond.
	// The app has 13 outcomes and 10 steps.
	maxOutcomes = 24
	maxSteps    = 16
	otherName   = "other"
	// nBuckets covers 0 to 2^26 µs (about 67 s), four buckets per power
	// of two; slower calls share the last one.
	nBuckets = 100
)

// The outcomes the saga totals count: labels of app.Classify's outcomes (a test
// holds them to app.OutcomeLabels).
const (
	outcomeCompleted   = "completed"
	outcomeCrashed     = "crashed"
	outcomeUnavailable = "unavailable"
)

// Recorder is a ports.Metrics that keeps what the live page shows, and
// serves it as ports.LiveStats. Its methods are safe for concurrent use
// and never fail.
//
// Purchases are counted per wall-clock second of its Clock in a ring of
// RateWindow+1 seconds. Step latencies are kept per second for
// StepWindow: count, errors, sum and max exactly, and a histogram with
// four buckets per power of two, from which P50 and P99 are read as the
// bucket's upper bound (at most 25 % above the true value, and never
// above the exact max).
type Recorder struct {
	clock ports.Clock
	// start is when the recorder began, as the clock read it (with Go's
	// monotonic reading, from the wall clock): seconds are counted from
	// it, so a wall clock set back does not leave every slot "in the
	// future" and the figures blank until it catches up.
	start time.Time
	frac  time.Duration // start's part of a second past its Unix second

	mu       sync.Mutex
	outcomes names
	steps    names
	rates    [RateWindow + 1]rateSlot
	lat      [stepSlots]latSlot
	totals   [maxOutcomes]int64
	sagas    ports.SagaTotals
	comps    [KeptCompensations]ports.CompensationRecord
	compNext int // where the next compensation goes
	compLen  int
}

type rateSlot struct {
	sec int64 // Unix second the counts are of
	n   [maxOutcomes]int64
}

type latSlot struct {
	sec   int64
	steps [maxSteps]stepAgg
}

type stepAgg struct {
	count, errs int64
	sum, max    time.Duration
	hist        [nBuckets]uint32
}

// New returns a Recorder that reads the time from clock (the wall clock
// in production: the figures are per second of it).
func New(clock ports.Clock) (*Recorder, error) {
	if clock == nil {
		return nil, errors.New("live: a clock is required")
	}
	start := clock.Now()
	return &Recorder{
		clock:    clock,
		start:    start,
		frac:     time.Duration(start.Nanosecond()),
		outcomes: names{index: map[string]int{}, limit: maxOutcomes},
		steps:    names{index: map[string]int{}, limit: maxSteps},
	}, nil
}

// names gives each name seen a small index, up to limit; names beyond
// share the last index, "other", and are not remembered, so the map stays
// bounded whatever callers pass.
type names struct {
	index map[string]int
	list  []string
	limit int
}

func (n *names) of(name string) int {
	if i, ok := n.index[name]; ok {
		return i
	}
	if len(n.list) < n.limit-1 {
		n.index[name] = len(n.list)
		n.list = append(n.list, name)
		return len(n.list) - 1
	}
	if len(n.list) == n.limit-1 {
		n.list = append(n.list, otherName)
	}
	return n.limit - 1
}

// second is the second t falls in, counted from the recorder's start (see
// Recorder.start), as a Unix second of the start's wall clock.
func (r *Recorder) second(t time.Time) int64 {
	since := t.Sub(r.start) + r.frac // monotonic when both readings have it
	secs := int64(since / time.Second)
	if since < 0 && since%time.Second != 0 {
		secs-- // floor: a clock without monotonic readings may go back
	}
	return r.start.Unix() + secs
}

// slot maps a second to its place in a ring of n.
func slot(sec int64, n int) int { return int((sec%int64(n) + int64(n)) % int64(n)) }

// PurchaseEnded implements ports.Metrics.
func (r *Recorder) PurchaseEnded(_, outcome string, _ time.Duration) {
	sec := r.second(r.clock.Now())
	r.mu.Lock()
	defer r.mu.Unlock()
	i := r.outcomes.of(outcome)
	r.totals[i]++
	switch outcome {
	case outcomeCompleted:
		r.sagas.Completed++
	case outcomeCrashed:
		r.sagas.Crashed++
	case outcomeUnavailable:
		r.sagas.Unavailable++
	}
	s := &r.rates[slot(sec, len(r.rates))]
	if s.sec > sec {
		return // a caller that read the clock a whole ring ago: only totalled
	}
	if s.sec != sec {
		*s = rateSlot{sec: sec}
	}
	s.n[i]++
}

// StepDone implements ports.Metrics. A create_order step that succeeded
// is a saga started.
func (r *Recorder) StepDone(step string, d time.Duration, err error) {
	d = max(d, 0)
	sec := r.second(r.clock.Now())
	r.mu.Lock()
	defer r.mu.Unlock()
	if err == nil && step == string(domain.StepCreateOrder) {
		r.sagas.Started++
	}
	i := r.steps.of(step)
	s := &r.lat[slot(sec, len(r.lat))]
	if s.sec > sec {
		return
	}
	if s.sec != sec {
		s.sec = sec
		clear(s.steps[:])
	}
	a := &s.steps[i]
	a.count++
	if err != nil {
		a.errs++
	}
	a.sum += d
	a.max = max(a.max, d)
	a.hist[bucketOf(d)]++
}

// Add implements ports.Metrics: of the counters, the page shows only
// recovered sagas.
func (r *Recorder) Add(c ports.Counter, n int) {
	if c != ports.CounterSagasRecovered || n <= 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sagas.Recovered += int64(n)
}

// OutboxLag implements ports.Metrics; the page does not show it.
func (r *Recorder) OutboxLag(time.Duration) {}

// Compensated implements ports.Metrics: the saga joins the latest
// compensations (the oldest of KeptCompensations drops out) and the
// compensated total.
func (r *Recorder) Compensated(saga domain.SagaID, product domain.ProductID, reason string) {
	now := r.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sagas.Compensated++
	r.comps[r.compNext] = ports.CompensationRecord{Saga: saga, Product: product, Reason: reason, At: now}
	r.compNext = (r.compNext + 1) % len(r.comps)
	r.compLen = min(r.compLen+1, len(r.comps))
}

// Snapshot implements ports.LiveStats.
func (r *Recorder) Snapshot() ports.LiveSnapshot {
	now := r.clock.Now()
	sec := r.second(now)
	r.mu.Lock()
	defer r.mu.Unlock()
	out := ports.LiveSnapshot{
		At: now, SecondsEnd: time.Unix(sec, 0).In(now.Location()),
		PerSecond: make(map[string][]int64, len(r.outcomes.list)), Totals: make(map[string]int64, len(r.outcomes.list)),
		Sagas: r.sagas, StepWindow: StepWindow,
	}
	for i, name := range r.outcomes.list {
		series := out.PerSecond[name] // "other" may be a real name as well as the overflow
		if series == nil {
			series = make([]int64, RateWindow)
			out.PerSecond[name] = series
		}
		for k := range RateWindow {
			at := sec - RateWindow + int64(k)
			if s := &r.rates[slot(at, len(r.rates))]; s.sec == at {
				series[k] += s.n[i]
			}
		}
		out.Totals[name] += r.totals[i]
	}
	out.Steps = make([]ports.StepLatency, 0, len(r.steps.list))
	for i, name := range r.steps.list {
		var sum stepAgg
		for k := range r.lat {
			s := &r.lat[k]
			if s.sec <= sec-int64(stepSlots) || s.sec > sec {
				continue
			}
			a := &s.steps[i]
			sum.count += a.count
			sum.errs += a.errs
			sum.sum += a.sum
			sum.max = max(sum.max, a.max)
			for b, n := range a.hist {
				sum.hist[b] += n
			}
		}
		st := ports.StepLatency{Step: name, Count: sum.count, Errors: sum.errs, Max: sum.max}
		if sum.count > 0 {
			st.Mean = sum.sum / time.Duration(sum.count)
			st.P50 = min(quantile(&sum.hist, sum.count, 0.50), sum.max)
			st.P99 = min(quantile(&sum.hist, sum.count, 0.99), sum.max)
		}
		out.Steps = append(out.Steps, st)
	}
	out.Compensations = make([]ports.CompensationRecord, r.compLen)
	for k := range r.compLen {
		out.Compensations[k] = r.comps[slot(int64(r.compNext-1-k), len(r.comps))]
	}
	return out
}

// bucketOf is d's histogram bucket: 0 to 3 µs one bucket each, then four
// buckets per power of two (the two bits after the leading one).
func bucketOf(d time.Duration) int {
	us := uint64(d / time.Microsecond)
	if us < 4 {
		return int(us)
	}
	n := bits.Len64(us) // at least 3
	sub := int(us>>(n-3)) & 3
	return min(4+(n-3)*4+sub, nBuckets-1)
}

// bucketUpper is the (exclusive) upper bound of bucket i.
func bucketUpper(i int) time.Duration {
	if i < 4 {
		return time.Duration(i+1) * time.Microsecond
	}
	k, sub := (i-4)/4, (i-4)%4
	return time.Duration((5+sub)<<k) * time.Microsecond
}

// quantile is the upper bound of the bucket holding the q-th of count
// observations.
func quantile(hist *[nBuckets]uint32, count int64, q float64) time.Duration {
	rank := max(int64(q*float64(count)+0.999999), 1)
	var seen int64
	for i, n := range hist {
		seen += int64(n)
		if seen >= rank {
			return bucketUpper(i)
		}
	}
	return bucketUpper(nBuckets - 1)
}
