// Command paysim serves the simulated payment gateway over HTTP, so that
// several flashsale processes share one ledger, as they would share one
// real payment provider (adapters.payments: http, payments.url).
//
//	paysim [--addr 127.0.0.1:18090] [--latency 0s] [--decline-rate 0] [--timeout-rate 0] [--seed 1]
//	       [--tracing-exporter none|otlp|file] [--tracing-endpoint host:port] [--tracing-file path]
//	       [--tracing-sample-ratio 0] [--tracing-follow-callers=true]
//
// With tracing on, each charge and refund is a server span continuing the
// caller's trace (the app's HTTP gateway client sends its traceparent).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/flashsale/flashsale/adapters/payment"
	"github.com/flashsale/flashsale/adapters/tracing"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stderr, nil); err != nil {
		fmt.Fprintln(os.Stderr, "paysim:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends. ready, if not nil, receives the bound address.
func run(ctx context.Context, args []string, logs io.Writer, ready chan<- string) error {
	fs := flag.NewFlagSet("paysim", flag.ContinueOnError)
	fs.SetOutput(logs)
	addr := fs.String("addr", "127.0.0.1:18090", "listen address")
	var opts payment.Options
	fs.DurationVar(&opts.Latency, "latency", 0, "latency of every call")
	fs.Float64Var(&opts.DeclineRate, "decline-rate", 0, "share of charges declined (0..1)")
	fs.Float64Var(&opts.TimeoutRate, "timeout-rate", 0, "share of charges that time out, charged or not (0..1)")
	fs.Uint64Var(&opts.Seed, "seed", 1, "seed of the gateway's decisions")
	var tc tracing.Config
	fs.StringVar(&tc.Exporter, "tracing-exporter", tracing.ExporterNone, "where spans go: none, otlp or file")
	fs.StringVar(&tc.Endpoint, "tracing-endpoint", "", "OTLP/HTTP collector host:port (exporter otlp)")
	fs.StringVar(&tc.File, "tracing-file", "", "file the spans are appended to as JSON lines (exporter file)")
	fs.Float64Var(&tc.SampleRatio, "tracing-sample-ratio", 0, "share of calls traced, unless the caller's trace decides (0..1)")
	fs.BoolVar(&tc.FollowCallers, "tracing-follow-callers", true, "trace every call whose caller's trace is sampled (its callers are the app's instances)")
	fs.DurationVar(&tc.BatchTimeout, "tracing-batch-timeout", 0, "how long spans wait to be exported in a batch (0: 5s)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	g, err := payment.NewSimulated(opts)
	if err != nil {
		return err
	}
	tp, err := tracing.New(ctx, tc, "paysim", "")
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tp.Shutdown(sctx); err != nil {
			fmt.Fprintln(logs, "paysim: flushing spans:", err)
		}
	}()
	var hopts []payment.HTTPOption
	if tp.Enabled() {
		hopts = append(hopts, payment.WithTracer(tp))
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: payment.Handler(g, hopts...), ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(logs, "paysim: serving the simulated gateway on %s\n", ln.Addr())
	if ready != nil {
		ready <- ln.Addr().String()
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
