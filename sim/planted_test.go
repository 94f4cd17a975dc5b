package sim_test

import (
	"slices"
	"testing"

	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/sim"
)

// TestPlantedBugsAreCaught is the simulator's proof of power: with each
// planted bug on, the default simulation (every fault on) finds a
// violation within a few seeds, of the invariant the bug breaks, and the
// failing seed replays the same trace.
func TestPlantedBugsAreCaught(t *testing.T) {
	cases := []struct {
		bug      string
		strategy app.Strategy
		want     string
	}{
		{"reserve-without-check", app.StrategyNone, "I2"},
		{"double-release", app.StrategyOptimistic, "I2"},
		{"release-without-token", app.StrategyLock, "I8"},
	}
	for _, tc := range cases {
		t.Run(tc.bug, func(t *testing.T) {
			bugs, err := sim.ParseBug(tc.bug)
			if err != nil {
				t.Fatal(err)
			}
			for seed := range uint64(20) {
				o := sim.Options{Seed: seed, Buyers: 40, Products: 2, Stock: 8, Strategy: tc.strategy, Faults: allFaults, Bugs: bugs}
				r := sim.Run(o, true)
				if r.Violation == nil {
					continue
				}
				if r.Violation.Invariant != tc.want {
					t.Fatalf("seed %d: caught as %s, want %s", seed, r.Violation, tc.want)
				}
				again := sim.Run(o, true)
				if again.Violation == nil || *again.Violation != *r.Violation || !slices.Equal(again.Trace, r.Trace) {
					t.Fatalf("seed %d did not replay the same failing trace", seed)
				}
				t.Logf("caught at seed %d: %s", seed, r.Violation)
				return
			}
			t.Fatalf("the planted bug %s survived 20 seeds", tc.bug)
		})
	}
}

// TestPlantedBugsAreInertWhenOff: the same seeds without the bug pass, so
// the catch above is the bug's and not the simulator's.
func TestPlantedBugsAreInertWhenOff(t *testing.T) {
	for _, s := range app.Strategies {
		for seed := range uint64(20) {
			o := sim.Options{Seed: seed, Buyers: 40, Products: 2, Stock: 8, Strategy: s, Faults: allFaults}
			if r := sim.Run(o, false); r.Violation != nil {
				t.Fatalf("%s seed %d: %s", s, seed, r.Violation)
			}
		}
	}
}
