package sim_test

import (
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/sim"
)

// plantedSeeds bounds the search for a seed that exposes a planted bug.
// Most are caught at the first few seeds; a lost update (no-version-check)
// needs two writers of one saga to race, about one run in fifty.
const plantedSeeds = 400

// TestPlantedBugsAreCaught is the simulator's proof of power: with each
// planted bug on (one per invariant I1-I8, a lost update, compensations out
// of order), the default simulation (every fault on) finds a violation, of
// the invariant the bug breaks, and the failing seed replays the same
// trace. A bug is tried with every strategy whose path it sits on.
func TestPlantedBugsAreCaught(t *testing.T) {
	only := map[string][]app.Strategy{
		// The optimistic strategy checks the level before it reserves, so
		// an unchecked reserve never runs short there.
		"reserve-without-check": {app.StrategyNone, app.StrategyLock},
		// Only the lock strategy takes locks.
		"release-without-token": {app.StrategyLock},
	}
	covered := map[string]bool{}
	for _, bug := range sim.PlantedBugs() {
		covered[bug.Breaks[0]] = true
		strategies := app.Strategies()
		if s, ok := only[bug.Name]; ok {
			strategies = s
		}
		for _, s := range strategies {
			t.Run(bug.Name+"/"+string(s), func(t *testing.T) {
				bugs, err := sim.ParseBug(bug.Name)
				if err != nil {
					t.Fatal(err)
				}
				for seed := range uint64(plantedSeeds) {
					o := sim.Options{Seed: seed, Buyers: 40, Products: 2, Stock: 8, Strategy: s, Faults: allFaults, Bugs: bugs}
					r := sim.Run(o, true)
					if r.Violation == nil {
						continue
					}
					if !slices.Contains(bug.Breaks, r.Violation.Invariant) {
						t.Fatalf("seed %d: caught as %s, want one of %v", seed, r.Violation, bug.Breaks)
					}
					again := sim.Run(o, true)
					if again.Violation == nil || *again.Violation != *r.Violation || !slices.Equal(again.Trace, r.Trace) {
						t.Fatalf("seed %d did not replay the same failing trace", seed)
					}
					t.Logf("caught at seed %d: %s", seed, r.Violation)
					return
				}
				t.Fatalf("the planted bug %s survived %d seeds", bug.Name, plantedSeeds)
			})
		}
	}
	for _, inv := range []string{"I1", "I2", "I3", "I4", "I5", "I6", "I7", "I8"} {
		if !covered[inv] {
			t.Errorf("no planted bug breaks %s", inv)
		}
	}
}

// TestPlantedBugsAreInertWhenOff: the same seeds without the bug pass, so
// the catch above is the bug's and not the simulator's.
func TestPlantedBugsAreInertWhenOff(t *testing.T) {
	for _, s := range app.Strategies() {
		for seed := range uint64(plantedSeeds) {
			o := sim.Options{Seed: seed, Buyers: 40, Products: 2, Stock: 8, Strategy: s, Faults: allFaults}
			if r := sim.Run(o, false); r.Violation != nil {
				t.Fatalf("%s seed %d: %s", s, seed, r.Violation)
			}
		}
	}
}

func TestParseBugRefusesUnknownNames(t *testing.T) {
	if _, err := sim.ParseBug("no-such-bug"); err == nil {
		t.Fatal("an unknown bug was accepted")
	}
}

// TestViolatingRunsLeaveNoGoroutines: a run that ends on a violation, with
// sagas still in flight, stops their goroutines (a run with --bug breaks
// an invariant almost every time, and each kept its world alive).
func TestViolatingRunsLeaveNoGoroutines(t *testing.T) {
	bugs, err := sim.ParseBug("double-release")
	if err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	violations := 0
	for seed := range uint64(20) {
		r := sim.Run(sim.Options{Seed: seed, Buyers: 40, Products: 2, Stock: 8, Strategy: app.StrategyNone, Faults: allFaults, Bugs: bugs}, false)
		if r.Violation != nil {
			violations++
		}
	}
	if violations == 0 {
		t.Fatal("no run broke an invariant: the test shows nothing")
	}
	// A run waits for its goroutines to return; the runtime counts one
	// out a moment after that, so give the last run's a moment to go (a
	// leak would keep hundreds, for good).
	after := runtime.NumGoroutine()
	for deadline := time.Now().Add(time.Second); after > before+2 && time.Now().Before(deadline); after = runtime.NumGoroutine() {
		time.Sleep(time.Millisecond)
	}
	if after > before+2 {
		t.Fatalf("%d goroutines before %d violating runs, %d after", before, violations, after)
	}
}
