package sim

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Result is what one run did.
type Result struct {
	Seed         uint64
	Sagas        int // purchases answered
	Completed    int
	Compensated  int
	Insufficient int
	LockBusy     int // the lock strategy's "busy, retry" answers (lock waits)
	Contention   int
	// Conflicts counts writes refused by a version check: a saga's writer
	// that lost the race to another writer of the same saga.
	Conflicts   int
	Unavailable int // retry answers: a dependency failed, or a request was in progress
	Crashed     int // purchases killed with their instance
	Recovered   int // stale sagas driven to an end by recovery
	Reaped      int // expired reservations settled by the reaper
	Steps       int
	// Buyers is how many buyers the run had (Shrink's runs have fewer).
	Buyers int
	// Interrupted: the run was stopped (RunContext's context ended)
	// before it came to rest; its invariants were checked only until then.
	Interrupted bool
	Violation   *Violation
	// Trace is the run's step-by-step log, when Run was asked to keep it.
	Trace []string

	latencies []time.Duration
}

// Latency returns the q-quantile (0..1) of completed purchases' virtual
// latency.
func (r Result) Latency(q float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	s := slices.Clone(r.latencies)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))]
}

// Run runs one simulation. With trace, the result keeps the step-by-step
// trace (the same seed always gives the same trace, byte for byte).
func Run(o Options, trace bool) Result {
	return RunContext(context.Background(), o, trace)
}

// RunContext is Run that stops early, between two steps, when ctx ends:
// the result is then Interrupted, with what ran until then (and no check
// at rest).
func RunContext(ctx context.Context, o Options, trace bool) Result {
	var r Runner
	defer r.Close()
	return r.Run(ctx, o, trace)
}

// A Runner runs simulations one after another on the same workers: the
// coroutines that run actors, and the stacks they grew, carry over from
// one run to the next, where each RunContext starts its own. Close ends
// them. A Runner is for one goroutine at a time; its zero value is ready.
type Runner struct {
	idle []*worker
}

// Run is RunContext on the runner's workers.
func (r *Runner) Run(ctx context.Context, o Options, trace bool) Result {
	w, err := newWorld(o)
	if err != nil {
		return Result{Seed: o.Seed, Violation: &Violation{Invariant: "setup", Detail: err.Error()}}
	}
	w.workers, w.idle = r.idle, slices.Clone(r.idle)
	r.idle = nil
	w.record = trace
	w.ctx = ctx
	w.run()
	if len(w.actors) > 0 {
		w.stopActors() // a violation ended the run with sagas in flight
	}
	r.idle = w.releaseWorkers()
	w.res.Interrupted = w.interrupted
	w.res.Seed = w.opts.Seed
	w.res.Steps = w.step
	w.res.Buyers = w.opts.Buyers
	w.res.Violation = w.violation
	w.res.Trace = w.trace
	return w.res
}

// Close ends the runner's workers.
func (r *Runner) Close() {
	for _, wk := range r.idle {
		wk.stop()
	}
	r.idle = nil
}

// Shrink looks for a shorter run with the same seed that breaks the same
// invariant, by halving the number of buyers, and returns the shortest
// failing run found (with its trace).
func Shrink(o Options, v *Violation) Result {
	return ShrinkContext(context.Background(), o, v)
}

// ShrinkContext is Shrink that stops when ctx ends, returning the shortest
// failing run found so far; if ctx ends before the given run is replayed,
// that run without its trace.
func ShrinkContext(ctx context.Context, o Options, v *Violation) Result {
	best := RunContext(ctx, o, true)
	if best.Interrupted {
		return Result{Seed: o.Seed, Buyers: o.withDefaults().Buyers, Violation: v}
	}
	for b := o.withDefaults().Buyers / 2; b >= 1 && ctx.Err() == nil; b /= 2 {
		o.Buyers = b
		r := RunContext(ctx, o, true)
		if r.Interrupted || r.Violation == nil || r.Violation.Invariant != v.Invariant {
			break
		}
		best = r
	}
	return best
}

func (v *Violation) String() string {
	return fmt.Sprintf("%s at step %d: %s", v.Invariant, v.Step, v.Detail)
}

// Summary adds up the results of many runs of one strategy.
type Summary struct {
	Runs       int
	Total      Result // counts summed over the runs
	Violations []Result
	latencies  []time.Duration
}

// Add counts one run.
func (s *Summary) Add(r Result) {
	s.Runs++
	t := &s.Total
	t.Sagas += r.Sagas
	t.Completed += r.Completed
	t.Compensated += r.Compensated
	t.Insufficient += r.Insufficient
	t.LockBusy += r.LockBusy
	t.Contention += r.Contention
	t.Conflicts += r.Conflicts
	t.Unavailable += r.Unavailable
	t.Crashed += r.Crashed
	t.Recovered += r.Recovered
	t.Reaped += r.Reaped
	t.Steps += r.Steps
	s.latencies = append(s.latencies, r.latencies...)
	if r.Violation != nil {
		s.Violations = append(s.Violations, r)
	}
}

// Latency returns the q-quantile of virtual purchase latency over all runs.
func (s *Summary) Latency(q float64) time.Duration {
	return Result{latencies: s.latencies}.Latency(q)
}
