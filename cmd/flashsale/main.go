// Command flashsale serves the flash-sale API.
//
//	flashsale serve [--config FILE]   serve (in-memory adapters by default)
//	flashsale config [--config FILE]  print the effective configuration
//	flashsale migrate [--config FILE] apply the MySQL schema migrations
//	flashsale reconcile [--fix]       compare (and rebuild) the gate from the store
//	flashsale sim [flags]             run the deterministic simulation
//
// It is the one composition root: it reads the configuration and wires
// adapters into the use cases of package app.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/flashsale/flashsale/adapters/httpapi"
	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// The first signal asks the command to stop (serve drains, sim prints
	// what ran); a second one ends the process at once.
	context.AfterFunc(ctx, stop)
	if err := run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "flashsale:", err)
		if errors.As(err, new(usageError)) {
			os.Exit(2) // as the flag package does: the command line was refused
		}
		os.Exit(1)
	}
}

// usageError is a command line refused before anything ran: a flag that
// does not parse or is out of range, an unknown name, an extra argument.
// The process exits 2 for it, 1 for a command that ran and failed.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

func usageErrorf(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

const usage = `usage: flashsale <command> [flags]

commands:
  serve      serve the API (in-memory adapters unless the config says otherwise)
  config     print the effective configuration (secrets masked)
  migrate    apply the MySQL schema migrations (adapters.store: mysql)
  reconcile  compare the inventory gate with the durable stock; --fix rebuilds the gate
  sim        run the deterministic simulation (flashsale sim --help)
  bench      load-test the API per lock strategy, with ceilings and a report (flashsale bench --help;
             only in a flashsale built with -tags bench, as make bench builds it)
  strategies list the lock strategies (--names: their names alone, one per line)

flags:
  --config FILE   a YAML configuration file (see configs/flashsale.yaml);
                  FLASHSALE_* environment variables override it
`

// run is main without the process: it returns instead of exiting, so tests
// can drive it.
func run(ctx context.Context, args, environ []string, stdout, stderr io.Writer) error {
	// Top-level flags may come before the command (flashsale --config F
	// serve), as the usage shows; the command's own flags follow it.
	top := flag.NewFlagSet("flashsale", flag.ContinueOnError)
	top.Usage = func() { fmt.Fprint(top.Output(), usage) }
	topConfig := top.String("config", "", "YAML configuration file")
	if help, err := parseFlags(top, args, stdout, stderr); help || err != nil {
		return err
	}
	args = top.Args()
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageErrorf("no command given")
	}
	cmd, args := args[0], args[1:]
	if cmd == "strategies" {
		if *topConfig != "" {
			return usageErrorf("%s takes no --config", cmd)
		}
		return runStrategies(args, stdout, stderr)
	}
	if cmd == "sim" || cmd == "bench" {
		if *topConfig != "" {
			return usageErrorf("%s takes no --config", cmd)
		}
		if cmd == "sim" {
			return runSim(ctx, args, stdout, stderr)
		}
		return runBench(ctx, args, stdout, stderr)
	}
	switch cmd {
	case "help":
		_, err := io.WriteString(stdout, usage)
		return err
	case "serve", "config", "migrate", "reconcile":
	default:
		fmt.Fprint(stderr, usage)
		return usageErrorf("unknown command %q", cmd)
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	configPath := fs.String("config", "", "YAML configuration file")
	fix := false
	if cmd == "reconcile" {
		fs.BoolVar(&fix, "fix", false, "set the gate's stock from the durable store for drifted products at rest")
	}
	if help, err := parseFlags(fs, args, stdout, stderr); help || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected arguments: %v", fs.Args())
	}
	switch {
	case *configPath == "":
		*configPath = *topConfig
	case *topConfig != "" && *topConfig != *configPath:
		return usageErrorf("--config given twice: %q and %q", *topConfig, *configPath)
	}
	switch cmd {
	case "serve":
		cfg, err := loadConfig(*configPath, environ)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, stderr, nil)
	case "config":
		cfg, err := loadConfig(*configPath, environ)
		if err != nil {
			return err
		}
		_, err = io.WriteString(stdout, cfg.masked())
		return err
	case "migrate":
		cfg, err := loadConfig(*configPath, environ)
		if err != nil {
			return err
		}
		return migrate(ctx, cfg, stdout)
	case "reconcile":
		cfg, err := loadConfig(*configPath, environ)
		if err != nil {
			return err
		}
		return reconcile(ctx, cfg, fix, stdout, stderr)
	}
	return fmt.Errorf("unknown command %q", cmd) // checked above; kept for the compiler
}

// parseFlags parses args into fs. Asking for help (-h, --help) prints the
// usage to stdout and is no error: the exit status is 0, as for a person
// who asked. A bad flag prints the error and the usage to stderr.
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) (help bool, err error) {
	var out bytes.Buffer
	fs.SetOutput(&out)
	err = fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		_, err = out.WriteTo(stdout)
		return true, err
	case err != nil:
		_, _ = out.WriteTo(stderr)
		return false, usageError{err}
	}
	fs.SetOutput(stderr)
	return false, nil
}

// serve runs the API until ctx ends, then drains: it stops accepting,
// lets in-flight purchases finish (each saga runs to its end), publishes
// the outbox, and returns. If ready is not nil it receives the bound
// address once the server listens.
func serve(ctx context.Context, cfg Config, logOut io.Writer, ready chan<- string) error {
	log, err := newLogger(cfg.Log, logOut)
	if err != nil {
		return err
	}
	if cfg.Saga.InstanceID == "" {
		host, _ := os.Hostname()
		cfg.Saga.InstanceID = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	w, err := wire(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer w.close()
	if cfg.Demo.Products && cfg.Adapters.Store == "memory" {
		if err := seedDemo(ctx, w.app); err != nil {
			return fmt.Errorf("demo products: %w", err)
		}
	} else if n, err := w.app.LoadInventory(ctx); err != nil {
		return err
	} else if n > 0 {
		log.Info("loaded the inventory gate from the catalog", "products", n)
	}

	gin.SetMode(gin.ReleaseMode)
	opts := httpapi.Options{
		AdminToken: cfg.Admin.Token, MaxBodyBytes: cfg.HTTP.MaxBodyBytes, Logger: log,
		MaxInFlight: cfg.HTTP.MaxInFlight, TrustedProxies: cfg.HTTP.TrustedProxies, Ready: w.ready,
		RateLimit: httpapi.RateLimit{PerSecond: cfg.HTTP.RateLimitPerSecond, Burst: cfg.HTTP.RateLimitBurst},
	}
	var metricsSrv *http.Server
	if w.metrics != nil {
		opts.Metrics = w.metrics
		if cfg.HTTP.MetricsAddr == "" {
			opts.MetricsHandler, opts.MetricsToken = w.metrics.Handler(), cfg.HTTP.MetricsToken
		} else {
			metricsSrv, err = serveMetrics(cfg.HTTP, w.metrics.Handler(), log)
			if err != nil {
				return err
			}
			defer metricsSrv.Close()
		}
	}
	if w.timeline != nil {
		opts.Timeline = w.timeline
	}
	if w.live != nil { // a nil *live.Recorder in the interface would not be nil
		opts.Live = w.live
	}
	if w.tracer.Enabled() {
		opts.Tracer, opts.TraceOnlyAsked = w.tracer, cfg.Tracing.SampleRatio == 0
	}
	h, err := httpapi.New(w.app, opts)
	if err != nil {
		return err
	}
	srv := httpServer(cfg.HTTP, h, log)
	ln, err := net.Listen("tcp", cfg.HTTP.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.HTTP.Addr, err)
	}
	ln = httpapi.ProblemListener(ln)
	log.Info("flashsale serving", "addr", ln.Addr().String(), "strategy", cfg.Saga.Strategy,
		"instance", cfg.Saga.InstanceID, "adapters", cfg.Adapters)
	if ready != nil {
		ready <- ln.Addr().String()
	}

	bgCtx, stopBG := context.WithCancel(context.Background())
	bgDone := make(chan struct{})
	go func() { defer close(bgDone); w.app.RunBackground(bgCtx, cfg.Saga.BackgroundInterval) }()
	if w.timeline != nil {
		go func() {
			if err := w.timeline.Run(bgCtx); err != nil {
				log.Error("kafka timeline consumer stopped", "err", err)
			}
		}()
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		stopBG()
		<-bgDone
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: draining in-flight requests")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.HTTP.ShutdownTimeout)
	defer cancel()
	err = srv.Shutdown(sctx)
	stopBG()
	<-bgDone
	if derr := w.app.Drain(sctx); derr != nil {
		err = errors.Join(err, fmt.Errorf("drain outbox: %w", derr))
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// httpServer is the server of the API and of the metrics listener: the
// whole request, body included, must arrive within read_timeout.
func httpServer(c HTTPConfig, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler: h, ReadTimeout: c.ReadTimeout, ReadHeaderTimeout: c.ReadTimeout,
		WriteTimeout: c.WriteTimeout, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: maxHeaderBytes,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// maxHeaderBytes bounds a request's header block; past it, 431.
const maxHeaderBytes = 64 << 10

// serveMetrics serves the Prometheus handler alone on http.metrics_addr,
// so a scraper reaches it on a private address without a token and the
// API's clients cannot reach it at all.
func serveMetrics(c HTTPConfig, metrics http.Handler, log *slog.Logger) (*http.Server, error) {
	ln, err := net.Listen("tcp", c.MetricsAddr)
	if err != nil {
		return nil, fmt.Errorf("listen %s (http.metrics_addr): %w", c.MetricsAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	srv := httpServer(c, mux, log)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener stopped", "err", err)
		}
	}()
	log.Info("metrics serving", "addr", ln.Addr().String())
	return srv, nil
}

// demoProducts are served by `flashsale serve` with no configuration, so
// curl works at once. 123 is the seed's example product.
var demoProducts = []domain.Supply{
	{ID: "123", Name: "Flash Phone X", PriceMinor: 49_900, AddStock: 100},
	{ID: "124", Name: "Limited Sneakers", PriceMinor: 12_000, AddStock: 9},
	{ID: "125", Name: "Concert Ticket", PriceMinor: 7_500, AddStock: 1},
}

func seedDemo(ctx context.Context, a *app.App) error {
	for _, s := range demoProducts {
		if _, err := a.Supply(ctx, s); err != nil {
			return err
		}
	}
	return nil
}

func newLogger(c LogConfig, out io.Writer) (*slog.Logger, error) {
	level, err := parseLevel(c.Level)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewJSONHandler(out, opts)
	if c.Format == "text" {
		h = slog.NewTextHandler(out, opts)
	}
	// Lines made with a request's or a saga's context carry its IDs.
	return slog.New(app.ContextHandler(h)), nil
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return 0, fmt.Errorf("log.level: %q is not debug, info, warn or error", s)
	}
	return l, nil
}
