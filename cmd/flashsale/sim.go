package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/sim"
)

// runSim is `flashsale sim`: many seeded runs per strategy, a progress
// line, a summary table, and for a violation the seed, the invariant and
// the shortest failing trace found. It fails if any run broke an invariant.
func runSim(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	seed := fs.Uint64("seed", 1, "seed of the first run; run i uses seed+i")
	runs := fs.Int("runs", 100, "runs per strategy")
	buyers := fs.Int("buyers", 50, "purchases per run")
	products := fs.Int("products", 3, "products on sale")
	stock := fs.Int64("stock", 10, "initial stock per product")
	instances := fs.Int("instances", 3, "app instances sharing the adapters")
	strategies := fs.String("strategy", "all", "none, lock, optimistic, a comma list, or all")
	faults := fs.String("faults", "all", "comma list of "+strings.Join(sim.FaultNames, ", ")+"; or all, none")
	trace := fs.Bool("trace", false, "print every run's trace (use with --runs 1 to replay a seed)")
	if help, err := parseFlags(fs, args, stdout, stderr); help || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	ss, err := sim.ParseStrategies(*strategies)
	if err != nil {
		return err
	}
	ff, err := sim.ParseFaults(*faults)
	if err != nil {
		return err
	}
	if *runs <= 0 || *buyers <= 0 || *products <= 0 || *stock <= 0 || *instances <= 0 {
		return errors.New("runs, buyers, products, stock and instances must be positive")
	}

	summaries := make([]*sim.Summary, len(ss))
	for i, s := range ss {
		summaries[i] = &sim.Summary{}
		bar := newProgress(stderr, fmt.Sprintf("sim %-10s", s), *runs)
		for r := range *runs {
			o := sim.Options{Seed: *seed + uint64(r), Buyers: *buyers, Products: *products, Stock: *stock,
				Instances: *instances, Strategy: s, Faults: ff}
			res := sim.Run(o, *trace)
			if *trace {
				fmt.Fprintf(stdout, "# strategy %s seed %d faults %s\n%s\n", s, o.Seed, ff, strings.Join(res.Trace, "\n"))
			}
			summaries[i].Add(res)
			if res.Violation != nil {
				reportViolation(stdout, o, res)
			}
			bar.set(r + 1)
		}
		bar.done()
	}
	printSummary(stdout, ss, summaries, ff)
	bad := 0
	for _, s := range summaries {
		bad += len(s.Violations)
	}
	if bad > 0 {
		return fmt.Errorf("%d run(s) broke an invariant", bad)
	}
	return nil
}

func reportViolation(w io.Writer, o sim.Options, r sim.Result) {
	short := sim.Shrink(o, r.Violation)
	fmt.Fprintf(w, "\nVIOLATION %s\n  strategy %s, seed %d, faults %s\n  shortest failing run found: %d buyers, %d steps; its trace:\n",
		r.Violation, o.Strategy, o.Seed, o.Faults, shortBuyers(short), short.Steps)
	for _, line := range short.Trace {
		fmt.Fprintf(w, "    %s\n", line)
	}
	fmt.Fprintf(w, "  replay: flashsale sim --seed %d --runs 1 --strategy %s --faults %s --buyers %d --products %d --stock %d --instances %d --trace\n\n",
		o.Seed, o.Strategy, o.Faults, shortBuyers(short), o.Products, o.Stock, o.Instances)
}

// shortBuyers is how many buyers the shrunk run had: at least as many as
// answered.
func shortBuyers(r sim.Result) int { return max(r.Sagas, 1) }

func printSummary(w io.Writer, ss []app.Strategy, sums []*sim.Summary, f sim.Faults) {
	fmt.Fprintf(w, "\nfaults: %s\n", f)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "strategy\truns\tsagas\tcompleted\tcompensated\tinsufficient\tlock busy\tcontention\tretry\tcrashed\trecovered\tp50\tp99\tviolations\t")
	for i, s := range sums {
		t := s.Total
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%d\t\n", ss[i], s.Runs, t.Sagas, t.Completed,
			t.Compensated, t.Insufficient, t.LockBusy, t.Contention, t.Unavailable, t.Crashed, t.Recovered,
			s.Latency(0.50), s.Latency(0.99), len(s.Violations))
	}
	tw.Flush()
	fmt.Fprintln(w, "latency is virtual (simulated clock); retry = answered 503 or 409 retry; crashed = lost with its instance")
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
