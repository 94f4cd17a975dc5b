package live_test

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/live"
	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// start is half-way through a second, so a second's calls never straddle
// two.
var start = time.Date(2026, 11, 26, 12, 0, 0, 500_000_000, time.UTC)

func newRecorder(t testing.TB) (*live.Recorder, *clock) {
	t.Helper()
	c := &clock{now: start}
	r, err := live.New(c)
	if err != nil {
		t.Fatal(err)
	}
	return r, c
}

func TestNewRefusesANilClock(t *testing.T) {
	if _, err := live.New(nil); err == nil {
		t.Fatal("live.New(nil) succeeded")
	}
}

// tail is the last n seconds of a per-second series.
func tail(s []int64, n int) []int64 { return s[len(s)-n:] }

func TestPurchasesPerSecondByOutcome(t *testing.T) {
	r, c := newRecorder(t)
	for range 3 {
		r.PurchaseEnded("none", "completed", time.Millisecond)
	}
	r.PurchaseEnded("none", app.OutcomeInsufficientStock.Label(), 0)
	c.advance(time.Second)
	r.PurchaseEnded("lock", "completed", time.Millisecond)
	r.PurchaseEnded("lock", "completed", time.Millisecond)
	// The second in progress is left out of the series: a part-second
	// would read as a drop in the rate.
	c.advance(time.Second)
	r.PurchaseEnded("none", "completed", time.Millisecond)

	s := r.Snapshot()
	if want := start.Truncate(time.Second).Add(2 * time.Second); !s.SecondsEnd.Equal(want) {
		t.Errorf("SecondsEnd = %v, want %v (the start of the second in progress)", s.SecondsEnd, want)
	}
	for name, series := range s.PerSecond {
		if len(series) != live.RateWindow {
			t.Errorf("PerSecond[%q] has %d seconds, want %d", name, len(series), live.RateWindow)
		}
	}
	if got := tail(s.PerSecond["completed"], 3); !slices.Equal(got, []int64{0, 3, 2}) {
		t.Errorf("completed in the last three complete seconds = %v, want [0 3 2]", got)
	}
	if got := tail(s.PerSecond[app.OutcomeInsufficientStock.Label()], 2); !slices.Equal(got, []int64{1, 0}) {
		t.Errorf("insufficient_stock in the last two seconds = %v, want [1 0]", got)
	}
	if s.Totals["completed"] != 6 || s.Totals[app.OutcomeInsufficientStock.Label()] != 1 {
		t.Errorf("totals = %v, want completed 6, insufficient_stock 1", s.Totals)
	}

	// A minute on, every second has left the window (the last, then in
	// progress, too); the totals stay.
	c.advance(time.Duration(live.RateWindow+1) * time.Second)
	s = r.Snapshot()
	for name, series := range s.PerSecond {
		for _, n := range series {
			if n != 0 {
				t.Errorf("PerSecond[%q] = %v a minute later, want all zero", name, series)
				break
			}
		}
	}
	if s.Totals["completed"] != 6 {
		t.Errorf("completed total = %d a minute later, want 6", s.Totals["completed"])
	}
}

// A ring slot reused a minute later must not keep the old second's counts.
func TestPurchasesDoNotLeakAcrossTheRing(t *testing.T) {
	r, c := newRecorder(t)
	r.PurchaseEnded("none", "completed", 0)
	c.advance(time.Duration(live.RateWindow+1) * time.Second) // the same slot
	r.PurchaseEnded("none", "completed", 0)
	c.advance(time.Second)
	s := r.Snapshot()
	if got := tail(s.PerSecond["completed"], 1)[0]; got != 1 {
		t.Errorf("the last second counts %d, want 1 (the slot's earlier second leaked in)", got)
	}
	var sum int64
	for _, n := range s.PerSecond["completed"] {
		sum += n
	}
	if sum != 1 {
		t.Errorf("the window counts %d purchases, want 1", sum)
	}
}

func TestStepLatencies(t *testing.T) {
	r, c := newRecorder(t)
	for range 98 {
		r.StepDone("charge", time.Millisecond, nil)
	}
	c.advance(time.Second) // the window spans seconds
	r.StepDone("charge", 100*time.Millisecond, nil)
	r.StepDone("charge", 100*time.Millisecond, domain.ErrPaymentDeclined)
	r.StepDone("reserve", 2*time.Millisecond, nil)

	s := r.Snapshot()
	if s.StepWindow != live.StepWindow {
		t.Errorf("StepWindow = %v, want %v", s.StepWindow, live.StepWindow)
	}
	steps := map[string]ports.StepLatency{}
	var order []string
	for _, st := range s.Steps {
		steps[st.Step] = st
		order = append(order, st.Step)
	}
	if !slices.Equal(order, []string{"charge", "reserve"}) {
		t.Errorf("steps = %v, want [charge reserve] (the order first seen)", order)
	}
	ch := steps["charge"]
	if ch.Count != 100 || ch.Errors != 1 {
		t.Errorf("charge count %d errors %d, want 100 and 1", ch.Count, ch.Errors)
	}
	if want := (98*time.Millisecond + 200*time.Millisecond) / 100; ch.Mean != want {
		t.Errorf("charge mean = %v, want %v", ch.Mean, want)
	}
	if ch.Max != 100*time.Millisecond {
		t.Errorf("charge max = %v, want 100ms", ch.Max)
	}
	// P50 is in the 1 ms bucket: no lower than the true value, at most a
	// quarter above it. P99 is in the 100 ms bucket, capped by the max.
	if ch.P50 < time.Millisecond || ch.P50 > 1250*time.Microsecond {
		t.Errorf("charge p50 = %v, want within [1ms, 1.25ms]", ch.P50)
	}
	if ch.P99 != 100*time.Millisecond {
		t.Errorf("charge p99 = %v, want 100ms (its bucket, capped at the max)", ch.P99)
	}

	// Ten seconds later every call has left the window; the steps stay
	// listed, at zero.
	c.advance(live.StepWindow)
	s = r.Snapshot()
	if len(s.Steps) != 2 {
		t.Fatalf("steps = %v, want charge and reserve still listed", s.Steps)
	}
	for _, st := range s.Steps {
		if st != (ports.StepLatency{Step: st.Step}) {
			t.Errorf("%s after the window = %+v, want zero", st.Step, st)
		}
	}
}

// The histogram's quantiles are bounds: never below the true value, at
// most 25 % above it (plus the microsecond the buckets are counted in).
func TestQuantileIsATightUpperBound(t *testing.T) {
	for _, d := range []time.Duration{0, 3 * time.Microsecond, 7 * time.Microsecond, 999 * time.Microsecond,
		time.Millisecond, 1234567 * time.Nanosecond, 47 * time.Millisecond, 3 * time.Second, 59 * time.Second} {
		r, _ := newRecorder(t)
		r.StepDone("s", d, nil)
		r.StepDone("s", d+d/8, nil) // the max, above the p50's value
		st := r.Snapshot().Steps[0]
		if st.P50 < d.Truncate(time.Microsecond) || float64(st.P50) > 1.25*float64(d)+float64(time.Microsecond) {
			t.Errorf("one call of %v: p50 = %v, want within [%v, %v]", d, st.P50, d, time.Duration(1.25*float64(d)))
		}
	}
}

func TestSagaTotals(t *testing.T) {
	r, _ := newRecorder(t)
	r.StepDone(string(domain.StepCreateOrder), time.Millisecond, nil)
	r.StepDone(string(domain.StepCreateOrder), time.Millisecond, nil)
	r.StepDone(string(domain.StepCreateOrder), time.Millisecond, errors.New("store down")) // not started
	r.StepDone(string(domain.StepReserve), time.Millisecond, nil)
	r.PurchaseEnded("none", "completed", 0)
	r.PurchaseEnded("none", "crashed", 0)
	r.PurchaseEnded("none", "unavailable", 0)
	r.PurchaseEnded("none", "unavailable", 0)
	r.PurchaseEnded("none", "compensated", 0) // counted when its compensation reports
	r.Compensated("s-1", "p-1", app.ReasonPaymentDeclined)
	r.Add(ports.CounterSagasRecovered, 3)
	r.Add(ports.CounterCacheHit, 100)

	got := r.Snapshot().Sagas
	want := ports.SagaTotals{Started: 2, Completed: 1, Crashed: 1, Unavailable: 2, Compensated: 1, Recovered: 3}
	if got != want {
		t.Errorf("saga totals = %+v, want %+v", got, want)
	}
}

// The saga totals count outcomes by the labels of app.Classify's outcomes: a
// renamed outcome would leave a total at zero.
func TestSagaTotalsNameAppOutcomes(t *testing.T) {
	for _, name := range []string{"completed", "crashed", "unavailable"} {
		if !slices.Contains(app.OutcomeLabels(), name) {
			t.Errorf("the recorder totals outcome %q, which no outcome of app.Classify has", name)
		}
	}
}

func TestCompensationsAreTheLatestNewestFirst(t *testing.T) {
	r, c := newRecorder(t)
	const n = live.KeptCompensations + 5
	for i := range n {
		r.Compensated(domain.SagaID(fmt.Sprintf("s-%d", i)), "p-1", app.ReasonLeaseExpired)
		c.advance(time.Millisecond)
	}
	got := r.Snapshot().Compensations
	if len(got) != live.KeptCompensations {
		t.Fatalf("%d compensations listed, want the latest %d", len(got), live.KeptCompensations)
	}
	for k, rec := range got {
		i := n - 1 - k
		want := ports.CompensationRecord{Saga: domain.SagaID(fmt.Sprintf("s-%d", i)), Product: "p-1",
			Reason: app.ReasonLeaseExpired, At: start.Add(time.Duration(i) * time.Millisecond)}
		if rec != want {
			t.Errorf("compensation %d = %+v, want %+v", k, rec, want)
		}
	}
	if s := r.Snapshot().Sagas.Compensated; s != n {
		t.Errorf("compensated total = %d, want %d (the list is bounded, the total is not)", s, n)
	}

	r2, _ := newRecorder(t)
	r2.Compensated("s-only", "p-2", app.ReasonConfirmFailed)
	if got := r2.Snapshot().Compensations; len(got) != 1 || got[0].Saga != "s-only" {
		t.Errorf("one compensation: listed %+v", got)
	}
}

// Names are the callers' to choose: past a few dozen they share "other",
// so the recorder's memory stays bounded, and nothing is lost from the
// totals.
func TestNamesAreBounded(t *testing.T) {
	r, c := newRecorder(t)
	const n = 100
	for i := range n {
		r.PurchaseEnded("none", fmt.Sprintf("outcome-%d", i), 0)
		r.StepDone(fmt.Sprintf("step-%d", i), time.Millisecond, nil)
	}
	c.advance(time.Second)
	s := r.Snapshot()
	if len(s.Totals) >= n || len(s.PerSecond) >= n || len(s.Steps) >= n {
		t.Fatalf("%d outcomes and %d steps kept apart, want a bounded number", len(s.Totals), len(s.Steps))
	}
	var total, lastSecond, calls int64
	for name, v := range s.Totals {
		total += v
		lastSecond += tail(s.PerSecond[name], 1)[0]
	}
	for _, st := range s.Steps {
		calls += st.Count
	}
	if total != n || lastSecond != n || calls != n {
		t.Errorf("totals sum to %d, the last second to %d, step calls to %d; want %d each", total, lastSecond, calls, n)
	}
	if s.Totals["other"] == 0 {
		t.Errorf("no name was counted as other: %v", s.Totals)
	}
}

// The hot path allocates nothing once a name has been seen.
func TestRecordingDoesNotAllocate(t *testing.T) {
	r, c := newRecorder(t)
	r.PurchaseEnded("none", "completed", time.Millisecond)
	r.StepDone("charge", time.Millisecond, nil)
	r.Compensated("s-1", "p-1", app.ReasonPaymentDeclined)
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		if i++; i%100 == 0 {
			c.advance(time.Second) // new seconds too, not only the same slot
		}
		r.PurchaseEnded("none", "completed", time.Millisecond)
		r.StepDone("charge", time.Millisecond, nil)
		r.Compensated("s-1", "p-1", app.ReasonPaymentDeclined)
		r.Add(ports.CounterSagasRecovered, 1)
	})
	if allocs != 0 {
		t.Errorf("a recording allocates %.1f times, want 0", allocs)
	}
}

// Concurrent recordings and snapshots lose no count (run with -race).
func TestConcurrentRecording(t *testing.T) {
	r, _ := newRecorder(t)
	const goroutines, each = 8, 500
	var wg sync.WaitGroup
	release := make(chan struct{})
	for range goroutines {
		wg.Go(func() {
			<-release
			for range each {
				r.PurchaseEnded("none", "completed", time.Millisecond)
				r.StepDone("charge", time.Millisecond, nil)
			}
		})
	}
	wg.Go(func() {
		<-release
		for range 50 {
			_ = r.Snapshot()
		}
	})
	close(release)
	wg.Wait()
	s := r.Snapshot()
	if s.Totals["completed"] != goroutines*each || s.Sagas.Completed != goroutines*each {
		t.Errorf("completed = %d (sagas %d), want %d", s.Totals["completed"], s.Sagas.Completed, goroutines*each)
	}
	if s.Steps[0].Count != goroutines*each {
		t.Errorf("charge calls = %d, want %d", s.Steps[0].Count, goroutines*each)
	}
}

func BenchmarkPurchaseEnded(b *testing.B) {
	benchRecord(b, func(r *live.Recorder) { r.PurchaseEnded("none", "completed", time.Millisecond) })
}

func BenchmarkStepDone(b *testing.B) {
	benchRecord(b, func(r *live.Recorder) { r.StepDone("charge", time.Millisecond, nil) })
}

// benchRecord runs record on one recorder from GOMAXPROCS goroutines, as
// concurrent purchases do.
func benchRecord(b *testing.B, record func(*live.Recorder)) {
	r, err := live.New(wallClock{})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			record(r)
		}
	})
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }
