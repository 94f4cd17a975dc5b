package sim_test

import (
	"context"
	"testing"

	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/sim"
)

// BenchmarkSimulatedSagas measures simulated purchases per second with
// every fault on and the invariants checked after every step.
//
// It tunes the collector as flashsale sim does for runs of this size
// (TuneGC); BENCHMARKS.md gives the figures with the default too
// (GOGC=100 in the environment).
func BenchmarkSimulatedSagas(b *testing.B) {
	defer sim.TuneGC(500)()
	for _, s := range app.Strategies() {
		b.Run(string(s), func(b *testing.B) {
			var runner sim.Runner
			defer runner.Close()
			sagas := 0
			for i := range b.N {
				r := runner.Run(context.Background(), sim.Options{Seed: uint64(i), Buyers: 500, Products: 3, Stock: 100, Strategy: s, Faults: allFaults}, false)
				if r.Violation != nil {
					b.Fatalf("seed %d: %s", i, r.Violation)
				}
				sagas += r.Sagas
			}
			b.ReportMetric(float64(sagas)/b.Elapsed().Seconds(), "sagas/s")
		})
	}
}

// BenchmarkSimulatedBuyers reports the cost per buyer of one long run and
// of many short ones of the same number of buyers (every fault on,
// strategy none), to show whether it grows with a run's length
// (BENCHMARKS.md, "Deterministic simulation").
func BenchmarkSimulatedBuyers(b *testing.B) {
	const buyers = 20000
	for _, c := range []struct {
		name       string
		runs, size int
	}{{"one-run-of-20000", 1, buyers}, {"400-runs-of-50", buyers / 50, 50}} {
		b.Run(c.name, func(b *testing.B) {
			var runner sim.Runner // as flashsale sim runs them
			defer runner.Close()
			for i := range b.N {
				for r := range c.runs {
					res := runner.Run(context.Background(), sim.Options{Seed: uint64(i*c.runs + r), Buyers: c.size, Products: 3, Stock: 100000,
						Strategy: app.StrategyNone, Faults: allFaults}, false)
					if res.Violation != nil {
						b.Fatalf("seed %d: %s", res.Seed, res.Violation)
					}
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*buyers), "ns/buyer")
		})
	}
}
