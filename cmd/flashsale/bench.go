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
	"time"

	"github.com/flashsale/flashsale/bench"
)

// runBench is `flashsale bench`: open-model load against the API, per lock
// strategy and scenario, with this machine's ceilings measured in the same
// run; a table on stdout, JSON and HTML in --out. It fails if I1 broke.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("target", "", "base URL of the API to drive (e.g. https://127.0.0.1:8443); empty: an in-process server on memory adapters per strategy")
	strategies := fs.String("strategy", "all", "in-process only: none, lock, optimistic, a comma list, or all")
	targetStrategy := fs.String("target-strategy", "none", "with --target: the strategy the target runs (recorded, not set)")
	scenarios := fs.String("scenarios", "all", "seed, hot, mix, reads, a comma list, or all")
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
	echartsJS := fs.String("echarts-js", "", "a local echarts.min.js to copy next to the HTML (offline viewing); empty loads it from the CDN")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	sc, err := bench.ParseList("scenario", *scenarios, bench.Scenarios)
	if err != nil {
		return err
	}
	switch {
	case *rate <= 0 || *rate > 1_000_000:
		return errors.New("--rate must be between 1 and 1000000")
	case *duration <= 0:
		return errors.New("--duration must be positive")
	case *rounds <= 0:
		return errors.New("--rounds must be positive")
	case *ceilingDur <= 0:
		return errors.New("--ceiling-duration must be positive")
	case *maxWorkers <= 0:
		return errors.New("--max-workers must be positive")
	case *settle < 0:
		return errors.New("--settle must not be negative")
	case *out == "":
		return errors.New("--out must name a directory")
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
	}
	if isTerminal(stderr) {
		o.NewProgress = func(label string, total int) bench.Progress { return progressBar{newProgress(stderr, label, total)} }
	}

	if *target == "" {
		for _, name := range []string{"target-strategy", "admin-token", "cacert"} {
			if set[name] {
				return fmt.Errorf("--%s needs --target", name)
			}
		}
		ss, err := bench.ParseList("strategy", *strategies, bench.Strategies)
		if err != nil {
			return err
		}
		o.TargetName = "in-process (memory adapters)"
		o.AdminToken = benchAdminToken
		for _, s := range ss {
			o.Targets = append(o.Targets, bench.Target{Strategy: s, Start: inProcessTarget(s)})
		}
	} else {
		if set["strategy"] {
			return errors.New("--strategy is for in-process targets; a --target runs its own strategy: say which with --target-strategy")
		}
		u, err := url.Parse(*target)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--target %q is not an http(s) URL", *target)
		}
		if _, err := bench.ParseList("strategy", *targetStrategy, bench.Strategies); err != nil || *targetStrategy == "all" {
			return fmt.Errorf("--target-strategy must be one of none, lock, optimistic")
		}
		if *adminToken == "" {
			return errors.New("--target needs --admin-token (products are created with POST /products)")
		}
		if *cacert != "" {
			pem, err := os.ReadFile(*cacert)
			if err != nil {
				return fmt.Errorf("--cacert: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return fmt.Errorf("--cacert %s: no PEM certificate in it", *cacert)
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
	return nil
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
