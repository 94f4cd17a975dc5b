package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/sim"
)

// Bounds of the sim's flags: beyond them a run would not fit in memory or
// in a session, and they are refused as usage errors before anything runs.
const (
	maxSimRuns      = 100_000_000
	maxSimBuyers    = 10_000_000
	maxSimProducts  = 10_000
	maxSimStock     = 1_000_000_000
	maxSimInstances = 64
)

// runSim is `flashsale sim`: many seeded runs per strategy, a progress
// line, a summary table with the wall time and sagas/s, and for a
// violation the seed, the invariant and the shortest failing trace found.
// It fails if any run broke an invariant. When ctx ends (Ctrl-C, SIGTERM)
// it stops between two steps and prints what it ran.
func runSim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	seed := fs.Uint64("seed", 1, "seed of the first run; run i uses seed+i")
	runs := fs.Int("runs", 100, fmt.Sprintf("runs per strategy (1..%d)", maxSimRuns))
	buyers := fs.Int("buyers", 50, fmt.Sprintf("purchases per run (1..%d)", maxSimBuyers))
	products := fs.Int("products", 3, fmt.Sprintf("products on sale (1..%d)", maxSimProducts))
	stock := fs.Int64("stock", 10, fmt.Sprintf("initial stock per product (1..%d)", maxSimStock))
	instances := fs.Int("instances", 3, fmt.Sprintf("app instances sharing the adapters (1..%d)", maxSimInstances))
	strategies := fs.String("strategy", "all", strategyNames()+", a comma list, or all")
	faults := fs.String("faults", "all", "comma list of "+strings.Join(sim.FaultNames(), ", ")+"; or all, none")
	bug := fs.String("bug", "", "plant a known bug, to watch the simulator catch it (one of "+strings.Join(bugNames(), ", ")+")")
	trace := fs.Bool("trace", false, "print every run's trace (use with --runs 1 to replay a seed)")
	if help, err := parseFlags(fs, args, stdout, stderr); help || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected arguments: %v", fs.Args())
	}
	ss, err := sim.ParseStrategies(*strategies)
	if err != nil {
		return usageError{err}
	}
	ff, err := sim.ParseFaults(*faults)
	if err != nil {
		return usageError{err}
	}
	var bugs sim.Bugs
	if *bug != "" {
		if bugs, err = sim.ParseBug(*bug); err != nil {
			return usageError{err}
		}
	}
	for _, f := range []struct {
		name   string
		v, max int64
	}{{"runs", int64(*runs), maxSimRuns}, {"buyers", int64(*buyers), maxSimBuyers}, {"products", int64(*products), maxSimProducts},
		{"stock", *stock, maxSimStock}, {"instances", int64(*instances), maxSimInstances}} {
		if f.v < 1 || f.v > f.max {
			return usageErrorf("--%s %d is out of range (1..%d)", f.name, f.v, f.max)
		}
	}

	defer sim.TuneGC(*buyers)()
	var runner sim.Runner // one after another, on the same workers
	defer runner.Close()
	var elapsed time.Duration // in the runs, not in shrinking their violations
	summaries := make([]*sim.Summary, len(ss))
	ran := 0 // strategies begun
	for i, s := range ss {
		if ctx.Err() != nil {
			break
		}
		ran++
		summaries[i] = &sim.Summary{}
		bar := newProgress(stderr, fmt.Sprintf("sim %-10s", s), *runs**buyers)
		for r := range *runs {
			o := sim.Options{Seed: *seed + uint64(r), Buyers: *buyers, Products: *products, Stock: *stock,
				Instances: *instances, Strategy: s, Faults: ff, Bugs: bugs,
				Progress: func(arrived int) { bar.set(r**buyers + arrived) }}
			start := time.Now()
			res := runner.Run(ctx, o, *trace)
			elapsed += time.Since(start)
			if *trace {
				fmt.Fprintf(stdout, "# strategy %s seed %d faults %s\n%s\n", s, o.Seed, ff, strings.Join(res.Trace, "\n"))
			}
			if res.Interrupted {
				break
			}
			summaries[i].Add(res)
			if res.Violation != nil {
				reportViolation(ctx, stdout, o, *bug, res)
			}
			bar.set((r + 1) * *buyers)
		}
		bar.done()
	}
	printSummary(stdout, ss[:ran], summaries[:ran], ff, elapsed)
	bad, done := 0, 0
	for _, s := range summaries[:ran] {
		bad += len(s.Violations)
		done += s.Runs
	}
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted after %d of %d runs (%d broke an invariant)", done, len(ss)**runs, bad)
	}
	if bad > 0 {
		return fmt.Errorf("%d run(s) broke an invariant", bad)
	}
	return nil
}

func bugNames() []string {
	var names []string
	for _, b := range sim.PlantedBugs() {
		names = append(names, b.Name)
	}
	return names
}

// reportViolation prints a run's violation with the shortest failing run
// found by halving its buyers, as far as ctx lets it (past ctx's end, the
// run itself, replayed).
func reportViolation(ctx context.Context, w io.Writer, o sim.Options, bug string, r sim.Result) {
	o.Progress = nil
	short := sim.ShrinkContext(ctx, o, r.Violation)
	fmt.Fprintf(w, "\nVIOLATION %s\n  strategy %s, seed %d, faults %s\n", r.Violation, o.Strategy, o.Seed, o.Faults)
	if len(short.Trace) == 0 {
		fmt.Fprintf(w, "  not shrunk: interrupted (replay it for the trace)\n")
	} else {
		fmt.Fprintf(w, "  shortest failing run found: %d buyers, %d steps; its trace:\n", shortBuyers(short), short.Steps)
	}
	for _, line := range short.Trace {
		fmt.Fprintf(w, "    %s\n", line)
	}
	planted := ""
	if bug != "" {
		planted = " --bug " + bug
	}
	fmt.Fprintf(w, "  replay: flashsale sim --seed %d --runs 1 --strategy %s --faults %s --buyers %d --products %d --stock %d --instances %d%s --trace\n\n",
		o.Seed, o.Strategy, o.Faults, shortBuyers(short), o.Products, o.Stock, o.Instances, planted)
}

// shortBuyers is how many buyers the shrunk run had.
func shortBuyers(r sim.Result) int { return max(r.Buyers, 1) }

func printSummary(w io.Writer, ss []app.Strategy, sums []*sim.Summary, f sim.Faults, elapsed time.Duration) {
	fmt.Fprintf(w, "\nfaults: %s\n", f)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "strategy\truns\tsagas\tcompleted\tcompensated\tinsufficient\tlock busy\tcontention\tconflicts\tretry\tcrashed\trecovered\tp50\tp99\tviolations\t")
	for i, s := range sums {
		t := s.Total
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%d\t\n", ss[i], s.Runs, t.Sagas, t.Completed,
			t.Compensated, t.Insufficient, t.LockBusy, t.Contention, t.Conflicts, t.Unavailable, t.Crashed, t.Recovered,
			s.Latency(0.50), s.Latency(0.99), len(s.Violations))
	}
	tw.Flush()
	sagas := 0
	for _, s := range sums {
		sagas += s.Total.Sagas
	}
	fmt.Fprintf(w, "wall time %s: %d sagas, %.0f sagas/s\n", elapsed.Round(time.Millisecond), sagas, float64(sagas)/max(elapsed.Seconds(), 1e-9))
	fmt.Fprintln(w, "latency is virtual (simulated clock); conflicts = saga writes refused by their version check (a writer that lost a race); retry = answered 503 or 409 retry; crashed = lost with its instance")
}

// progress is a one-line progress bar on stderr. A bar is a few lines of
// code, so it does not warrant a dependency.
type progress struct {
	w     io.Writer
	label string
	total int
	last  int
}

func newProgress(w io.Writer, label string, total int) *progress {
	if !isTerminal(w) {
		w = io.Discard // a log file gets the summary, not 30 redraws
	}
	p := &progress{w: w, label: label, total: total, last: -1}
	p.set(0)
	return p
}

func (p *progress) set(n int) {
	const width = 30
	filled := n * width / p.total
	if filled == p.last && n != p.total {
		return
	}
	p.last = filled
	fmt.Fprintf(p.w, "\r%s [%s%s] %d/%d", p.label, strings.Repeat("#", filled), strings.Repeat(".", width-filled), n, p.total)
}

func (p *progress) done() { fmt.Fprintln(p.w) }

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
