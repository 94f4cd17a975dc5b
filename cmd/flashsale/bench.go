//go:build bench

// The load tool (vegeta, go-echarts) is linked only into a flashsale built
// with -tags bench (scripts/bench, make bench): the server carries none
// of it. bench_off.go answers without it.

package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/flashsale/flashsale/bench"
)

// runBench is `flashsale bench`: open-model load against the API, per lock
// strategy and scenario, with this machine's ceilings measured in the same
// run; a table on stdout, JSON and HTML in --out. It fails if I1 broke.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	target := fs.String("target", "", "base URL of the API to drive (e.g. https://127.0.0.1:8443); empty: an in-process server on memory adapters per strategy")
	strategies := fs.String("strategy", "all", "in-process only: "+strategyNames()+", a comma list, or all")
	targetStrategy := fs.String("target-strategy", "none", "with --target: the strategy the target runs (recorded, not set)")
	scenarios := fs.String("scenarios", "all", "a comma list of seed, hot, mix, reads, saturate, overload, soldout, readmax; all = seed,hot,mix,reads; crowd = saturate,overload,soldout,readmax (opt-in: minutes)")
	rate := fs.Int("rate", 500, "arrival rate (requests/s) of the open-model scenarios (hot, mix, reads)")
	duration := fs.Duration("duration", 10*time.Second, "length of each open-model scenario")
	rounds := fs.Int("rounds", 20, "rounds of the seed's race (10 buyers on stock 9)")
	out := fs.String("out", ".stack/bench", "directory for bench.json and bench.html")
	adminToken := fs.String("admin-token", "", "with --target: the admin bearer token (products are created with POST /products)")
	cacert := fs.String("cacert", "", "with an https --target: the PEM CA certificate to trust (e.g. .stack/app/nginx/cert.pem)")
	redisAddr := fs.String("redis", "127.0.0.1:7379", "Redis for the reserve-script ceiling; \"off\" skips it")
	mysqlDSN := fs.String("mysql", "flashsale:flashsale@tcp(127.0.0.1:3316)/flashsale", "MySQL primary for the durable-insert ceiling; \"off\" skips it")
	ceilingDur := fs.Duration("ceiling-duration", 3*time.Second, "length of each ceiling measurement")
	maxWorkers := fs.Int("max-workers", 2048, "most requests in flight at once (past it the rate cannot be held)")
	settle := fs.Duration("settle", time.Second, "pause after a scenario's products are created (the stack's replica lag)")
	saturateRates := fs.String("saturate-rates", joinInts(bench.DefaultSaturateRates()), "saturate: the steps' arrival rates (requests/s), a comma list")
	stepDuration := fs.Duration("step-duration", 5*time.Second, "saturate: length of each step")
	saturationRate := fs.Int("saturation-rate", 0, "overload: R, the hot product's saturating rate (purchases/s); 0 takes it from saturate (run first if not listed)")
	overloadDuration := fs.Duration("overload-duration", 30*time.Second, "overload: length of each phase (2R, then 5R)")
	overloadReadRate := fs.Int("overload-read-rate", 200, "overload: reads/s of another product alongside each phase (0: none)")
	echartsJS := fs.String("echarts-js", "", "a local echarts.min.js to copy next to the HTML (offline viewing); empty loads it from the CDN")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), benchUsage)
		fs.PrintDefaults()
	}
	if help, err := parseFlags(fs, args, stdout, stderr); help || err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected arguments: %v", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	sc, err := bench.ParseScenarios(*scenarios)
	if err != nil {
		return usageError{err}
	}
	steps, err := parseInts(*saturateRates)
	if err != nil {
		return usageErrorf("--saturate-rates: %w", err)
	}
	switch {
	case *rate <= 0 || *rate > 1_000_000:
		return usageErrorf("--rate must be between 1 and 1000000")
	case *duration <= 0:
		return usageErrorf("--duration must be positive")
	case *rounds <= 0:
		return usageErrorf("--rounds must be positive")
	case *ceilingDur <= 0:
		return usageErrorf("--ceiling-duration must be positive")
	case *maxWorkers <= 0:
		return usageErrorf("--max-workers must be positive")
	case *settle < 0:
		return usageErrorf("--settle must not be negative")
	case *stepDuration <= 0:
		return usageErrorf("--step-duration must be positive")
	case *saturationRate < 0 || *saturationRate > 1_000_000:
		return usageErrorf("--saturation-rate must be between 0 and 1000000")
	case *overloadDuration <= 0:
		return usageErrorf("--overload-duration must be positive")
	case *overloadReadRate < 0 || *overloadReadRate > 1_000_000:
		return usageErrorf("--overload-read-rate must be between 0 and 1000000")
	case *out == "":
		return usageErrorf("--out must name a directory")
	}
	if *redisAddr == "off" {
		*redisAddr = ""
	}
	if *mysqlDSN == "off" {
		*mysqlDSN = ""
	}

	o := bench.Options{
		Scenarios: sc, Rate: *rate, Duration: *duration, Rounds: *rounds, MaxWorkers: *maxWorkers,
		RedisAddr: *redisAddr, MySQLDSN: *mysqlDSN, CeilingDuration: *ceilingDur, Settle: *settle, Log: io.Discard,
		SaturateRates: steps, StepDuration: *stepDuration, SaturationRate: *saturationRate,
		OverloadDuration: *overloadDuration, OverloadReadRate: *overloadReadRate,
	}
	if *overloadReadRate == 0 {
		o.OverloadReadRate = -1 // none; bench's 0 is its default
	}
	if isTerminal(stderr) {
		o.NewProgress = func(label string, total int) bench.Progress { return progressBar{newProgress(stderr, label, total)} }
	}

	if *target == "" {
		for _, name := range []string{"target-strategy", "admin-token", "cacert"} {
			if set[name] {
				return usageErrorf("--%s needs --target", name)
			}
		}
		ss, err := bench.ParseList("strategy", *strategies, bench.Strategies())
		if err != nil {
			return usageError{err}
		}
		o.TargetName = "in-process (memory adapters)"
		o.AdminToken = benchAdminToken
		for _, s := range ss {
			o.Targets = append(o.Targets, bench.Target{Strategy: s, Start: inProcessTarget(s)})
		}
	} else {
		if set["strategy"] {
			return usageErrorf("--strategy is for in-process targets; a --target runs its own strategy: say which with --target-strategy")
		}
		u, err := url.Parse(*target)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usageErrorf("--target %q is not an http(s) URL", *target)
		}
		if _, err := bench.ParseList("strategy", *targetStrategy, bench.Strategies()); err != nil || *targetStrategy == "all" {
			return usageErrorf("--target-strategy must be one of %s", strategyNames())
		}
		if *adminToken == "" {
			return usageErrorf("--target needs --admin-token (products are created with POST /products)")
		}
		if *cacert != "" {
			pem, err := os.ReadFile(*cacert)
			if err != nil {
				return usageErrorf("--cacert: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return usageErrorf("--cacert %s: no PEM certificate in it", *cacert)
			}
			o.TLS = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		}
		o.TargetName = *target
		o.AdminToken = *adminToken
		o.Targets = []bench.Target{{Strategy: *targetStrategy, URL: *target}}
	}
	rep, err := bench.Run(ctx, o)
	if err != nil {
		return err
	}
	bench.WriteTable(stdout, rep)
	jsonPath, htmlPath, err := bench.WriteFiles(*out, rep, *echartsJS)
	if err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	fmt.Fprintf(stdout, "\nreport: %s, %s\n", jsonPath, htmlPath)
	if !rep.I1OK {
		return errors.New("I1 broken: a product sold more than it was supplied (see the report)")
	}
	if !rep.OrdersOK {
		return errors.New("a purchase answered 201 is not a CONFIRMED order when read back (see the report)")
	}
	if !rep.I2OK {
		return errors.New("I2 broken: after the overload, the gate's stock is not the database's (see the report)")
	}
	return nil
}

const benchUsage = `usage: flashsale bench [flags]

Drives the API with load per lock strategy and scenario, measures this
machine's ceilings (bare gin HTTP, the Redis reserve script, a durable MySQL
insert) in the same run, and writes a table, bench.json and bench.html.

Scenarios (--scenarios; "all" is the first four, "crowd" the last four):
  seed      the seed's race: 10 buyers at once on stock 9, --rounds times
  hot       one product at --rate for --duration, stock for half of it
  mix       cache-hit reads : other reads : purchases = 4000 : 800 : 1200 at --rate
  reads     GET /products/:id of one cached product at --rate
  saturate  one hot product, stock for every request, at each of --saturate-rates
            for --step-duration, stopping after a step with p99 > 1 s or
            confirmed/s well below the step before's; reports the sustainable
            rate (every answer 201, p99 < 100 ms) and confirmed/s at saturation,
            both over the MySQL ceiling measured just before the steps
  overload  one hot product at 2R then 5R for --overload-duration each (R from
            --saturation-rate or saturate), reads of another product at
            --overload-read-rate alongside; counts 502s, shed 429/503 answers
            (with Retry-After and problem+json or not), and reads every 201's
            order back: it must be CONFIRMED
  soldout   purchases of a sold-out product, closed loop (64 connections) for
            --ceiling-duration, without then with an Idempotency-Key;
            409 insufficient_stock answers/s over the HTTP ceiling
  readmax   GET /products/:id of one cached product, closed loop (64
            connections) for --ceiling-duration, over the HTTP ceiling

Flags:
`

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 || n > 1_000_000 {
			return nil, fmt.Errorf("%q is not a rate between 1 and 1000000", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func joinInts(ns []int) string {
	var parts []string
	for _, n := range ns {
		parts = append(parts, strconv.Itoa(n))
	}
	return strings.Join(parts, ",")
}

// inProcessTarget serves the API on 127.0.0.1:0 over memory adapters with
// strategy s, as `flashsale serve` would with the defaults, but with the
// rate limit off (one client sends everything), no demo products and
// benchAdminToken as its admin token.
func inProcessTarget(s string) func(ctx context.Context) (string, func() error, error) {
	return func(ctx context.Context) (string, func() error, error) {
		cfg := defaultConfig()
		cfg.HTTP.Addr = "127.0.0.1:0"
		cfg.HTTP.RateLimitPerSecond = 0
		cfg.HTTP.ShutdownTimeout = 10 * time.Second
		cfg.Saga.Strategy = s
		cfg.Saga.InstanceID = "bench-" + s
		cfg.Demo.Products = false
		cfg.Admin.Token = benchAdminToken
		cfg.Log.Level = "error"
		if err := cfg.validate(); err != nil {
			return "", nil, err
		}
		sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		ready := make(chan string, 1)
		done := make(chan error, 1)
		go func() { done <- serve(sctx, cfg, io.Discard, ready) }()
		select {
		case addr := <-ready:
			stop := func() error {
				cancel()
				return <-done
			}
			return "http://" + addr, stop, nil
		case err := <-done:
			cancel()
			return "", nil, err
		case <-ctx.Done():
			cancel()
			<-done
			return "", nil, ctx.Err()
		}
	}
}

// benchAdminToken is the in-process servers' admin token, made once per
// process.
var benchAdminToken = randomToken()

func randomToken() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// progressBar adapts sim's progress line to bench.Progress.
type progressBar struct{ p *progress }

func (b progressBar) Set(n int) { b.p.set(n) }
func (b progressBar) Done()     { b.p.done() }
