package sim

import (
	"os"
	"runtime/debug"
)

// SmallRunBuyers is the size up to which a run counts as small for
// TuneGC.
const SmallRunBuyers = 10_000

// smallRunGCPercent is the collector's target TuneGC sets for small runs.
const smallRunGCPercent = 400

// TuneGC sets the garbage collector's target for a process about to make
// runs of the given number of buyers, and returns the function that puts
// the previous target back. A small run keeps a live heap of a few MB,
// which the default target (GOGC=100) collects every 4 MB allocated: in
// the benchmark's runs of 500 buyers the collector and the scavenger then
// take about a third of the CPU. For small runs it sets a target of 400
// (a heap of tens of MB at most); a long run's heap is large anyway and
// it is left alone, as is any target set by GOGC in the environment.
func TuneGC(buyers int) (restore func()) {
	if buyers > SmallRunBuyers || os.Getenv("GOGC") != "" {
		return func() {}
	}
	prev := debug.SetGCPercent(smallRunGCPercent)
	return func() { debug.SetGCPercent(prev) }
}
