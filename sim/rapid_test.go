package sim_test

import (
	"testing"

	"pgregory.net/rapid"

	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/sim"
)

// rapidChooser lets rapid draw every choice of a run, so a failing run
// shrinks to a minimal schedule and rapid's failure file replays it.
type rapidChooser struct{ t *rapid.T }

func (c rapidChooser) Intn(n int, label string) int {
	return rapid.IntRange(0, n-1).Draw(c.t, label)
}

// TestSimulationUnderRapid explores schedules, faults and payment outcomes
// drawn by rapid, for every strategy, in small worlds where a shrunk
// failure stays readable.
func TestSimulationUnderRapid(t *testing.T) {
	for _, s := range app.Strategies() {
		t.Run(string(s), func(t *testing.T) {
			rapid.Check(t, func(rt *rapid.T) {
				o := sim.Options{
					Buyers: rapid.IntRange(1, 8).Draw(rt, "buyers"), Products: 2,
					Stock: rapid.Int64Range(1, 4).Draw(rt, "stock"), Instances: 2,
					Strategy: s, Faults: allFaults, Chooser: rapidChooser{rt},
				}
				if r := sim.Run(o, false); r.Violation != nil {
					rt.Fatalf("%s", r.Violation)
				}
			})
		})
	}
}
