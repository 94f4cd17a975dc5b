package main

import (
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/flashsale/flashsale/app"
)

// runStrategies is `flashsale strategies`: the registered lock strategies
// (app.StrategyDefs), with their doc lines or, with --names, their names
// alone (for scripts).
func runStrategies(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("strategies", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: flashsale strategies [--names]\n\nLists the lock strategies, the default first.")
		fs.PrintDefaults()
	}
	names := fs.Bool("names", false, "print the names alone, one per line")
	if help, err := parseFlags(fs, args, stdout, stderr); help || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("strategies takes no arguments (got %q)", fs.Args())
	}
	if *names {
		for _, s := range app.Strategies() {
			if _, err := fmt.Fprintln(stdout, s); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	for _, d := range app.StrategyDefs() {
		fmt.Fprintf(tw, "%s\t%s\n", d.Name, d.Doc)
	}
	return tw.Flush()
}

// strategyNames is the registered strategies, for help texts.
func strategyNames() string {
	var names []string
	for _, s := range app.Strategies() {
		names = append(names, string(s))
	}
	return strings.Join(names, ", ")
}
