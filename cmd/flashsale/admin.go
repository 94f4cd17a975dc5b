package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"

	"github.com/flashsale/flashsale/app"
)

// migrate applies the schema migrations to the configured MySQL primary.
func migrate(ctx context.Context, cfg Config, out io.Writer) error {
	if cfg.Adapters.Store != "mysql" {
		return errors.New("migrate: adapters.store is not mysql; nothing to migrate")
	}
	cfg.MySQL.MigrateOnStart = false
	db, err := openMySQL(ctx, cfg, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	fmt.Fprintf(out, "migrated %s\n", db.Primary())
	return nil
}

// reconcile compares the inventory gate with the durable store and, with
// fix, rebuilds the gate's stock of drifted products at rest. Drift left
// unfixed is an error, so scripts and cron jobs can alert on it.
func reconcile(ctx context.Context, cfg Config, fix bool, out, logs io.Writer) error {
	log, err := newLogger(cfg.Log, logs)
	if err != nil {
		return err
	}
	w, err := wire(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer w.close()
	// A progress line on a terminal: a catalog of many products takes one
	// gate read each.
	var bar *progress
	drifts, err := w.app.Reconcile(ctx, app.ReconcileOptions{Fix: fix, Progress: func(done, total int) {
		if bar == nil {
			if total == 0 {
				return
			}
			bar = newProgress(logs, "reconcile", total)
		}
		bar.set(done)
	}})
	if bar != nil {
		bar.done() // ends the line, also when reconcile stopped on an error
	}
	if err != nil {
		return err
	}
	if len(drifts) == 0 {
		fmt.Fprintln(out, "no drift: the gate matches the durable stock")
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "product\tdurable stock\tgate stock\tgate reserved\tmissing\tfixed\tnote")
	unfixed := 0
	for _, d := range drifts {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%t\t%t\t%s\n", d.ProductID, d.DurableStock, d.GateStock, d.GateReserved, d.Missing, d.Fixed, d.Skipped)
		if !d.Fixed {
			unfixed++
		}
	}
	tw.Flush()
	if unfixed > 0 {
		return fmt.Errorf("reconcile: %d product(s) drift and were not fixed", unfixed)
	}
	return nil
}
