package sim_test

import (
	"slices"
	"testing"

	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/sim"
)

var allFaults = sim.Faults{Crash: true, Payment: true, RedisFailover: true, Events: true, MySQLFailover: true, LockPause: true}

// TestRunsHoldTheInvariants runs every strategy with every fault on, over
// many seeds.
func TestRunsHoldTheInvariants(t *testing.T) {
	runs := 60
	if testing.Short() {
		runs = 10
	}
	for _, s := range app.Strategies() {
		t.Run(string(s), func(t *testing.T) {
			var total sim.Result
			for seed := range uint64(runs) {
				o := sim.Options{Seed: seed, Buyers: 40, Products: 2, Stock: 8, Strategy: s, Faults: allFaults}
				r := sim.Run(o, false)
				if r.Violation != nil {
					short := sim.Shrink(o, r.Violation)
					t.Fatalf("seed %d: %s\nshortest trace (%d buyers):\n%s", seed, r.Violation, short.Steps, tail(short.Trace, 60))
				}
				total.Completed += r.Completed
				total.Compensated += r.Compensated
				total.Recovered += r.Recovered
				total.Crashed += r.Crashed
				total.Conflicts += r.Conflicts
			}
			// The faults must actually bite, or the runs prove nothing;
			// and two writers of one saga must really race, so the
			// version checks are exercised (a lost update is caught:
			// TestPlantedBugsAreCaught/no-version-check).
			if total.Completed == 0 || total.Compensated == 0 || total.Crashed == 0 || total.Recovered == 0 || total.Conflicts == 0 {
				t.Fatalf("faults never exercised: %+v", total)
			}
		})
	}
}

// TestSameSeedSameTrace: the trace is a function of the seed alone.
func TestSameSeedSameTrace(t *testing.T) {
	for _, s := range app.Strategies() {
		o := sim.Options{Seed: 42, Buyers: 30, Strategy: s, Faults: allFaults}
		a, b := sim.Run(o, true), sim.Run(o, true)
		if len(a.Trace) < 100 || !slices.Equal(a.Trace, b.Trace) {
			t.Fatalf("%s: two runs of seed 42 differ (%d and %d lines)", s, len(a.Trace), len(b.Trace))
		}
		o.Seed = 43
		if c := sim.Run(o, true); slices.Equal(a.Trace, c.Trace) {
			t.Fatalf("%s: seeds 42 and 43 gave the same trace", s)
		}
	}
}

func tail(lines []string, n int) string {
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := ""
	for _, l := range lines {
		out += l + "\n"
	}
	return out
}
