package sim_test

import (
	"testing"

	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/sim"
)

// BenchmarkSimulatedSagas measures simulated purchases per second with
// every fault on and the invariants checked after every step.
func BenchmarkSimulatedSagas(b *testing.B) {
	for _, s := range app.Strategies {
		b.Run(string(s), func(b *testing.B) {
			sagas := 0
			for i := range b.N {
				r := sim.Run(sim.Options{Seed: uint64(i), Buyers: 500, Products: 3, Stock: 100, Strategy: s, Faults: allFaults}, false)
				if r.Violation != nil {
					b.Fatalf("seed %d: %s", i, r.Violation)
				}
				sagas += r.Sagas
			}
			b.ReportMetric(float64(sagas)/b.Elapsed().Seconds(), "sagas/s")
		})
	}
}
