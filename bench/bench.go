// Package bench is the load harness behind `flashsale bench`: it drives a
// flashsale HTTP API (the stack through nginx, or an in-process server on
// memory adapters) with open-model load (a constant arrival rate, so a slow
// answer never delays the next request and latency is not hidden by
// coordinated omission), measures this machine's ceilings in the same run
// (a bare gin handler, the reserve script alone on Redis, a durable
// single-row insert on MySQL) and reports each result as numbers and as
// ratios to those ceilings: a terminal table, a JSON file and an HTML page
// with charts. The opt-in crowd scenarios (CrowdScenarios) find where one
// hot product saturates, what the target does past it (shed answers, not
// 502s), and what a sold-out purchase and a cached read cost at full speed.
package bench

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/flashsale/flashsale/app"
)

// The scenarios.
const (
	// ScenarioSeed is the seed's race: 10 buyers at once on stock 9,
	// repeated; buyers answered lock_busy or contention retry.
	ScenarioSeed = "seed"
	// ScenarioHot is many buyers on one product whose stock runs out
	// half-way through, at a constant arrival rate.
	ScenarioHot = "hot"
	// ScenarioMix is the seed's capacity mix: cache-hit reads : other
	// product reads : purchases = 4000 : 800 : 1200, scaled to the rate.
	ScenarioMix = "mix"
	// ScenarioReads is GET /products/:id of one (cached) product only.
	ScenarioReads = "reads"
	// ScenarioSaturate is purchases of one hot product with ample stock at
	// rising rates, a step at a time, until it saturates.
	ScenarioSaturate = "saturate"
	// ScenarioOverload is purchases of one hot product at 2 and 5 times
	// its saturating rate, with reads of another product alongside.
	ScenarioOverload = "overload"
	// ScenarioSoldOut is purchases of a sold-out product, closed loop at
	// full speed, without and with an Idempotency-Key.
	ScenarioSoldOut = "soldout"
	// ScenarioReadMax is GET /products/:id of one cached product, closed
	// loop at full speed.
	ScenarioReadMax = "readmax"
)

// Scenarios lists the default scenarios, what "all" means, in the order
// they run.
func Scenarios() []string {
	return []string{ScenarioSeed, ScenarioHot, ScenarioMix, ScenarioReads}
}

// CrowdScenarios are the opt-in scenarios of "hot product at crowd speed",
// in the order they run; they take minutes (saturate up to
// len(SaturateRates) steps, overload two phases of OverloadDuration), so
// "all" leaves them out.
func CrowdScenarios() []string {
	return []string{ScenarioSaturate, ScenarioOverload, ScenarioSoldOut, ScenarioReadMax}
}

// ParseScenarios parses a comma list of scenario names from Scenarios and
// CrowdScenarios; "all" is Scenarios, "crowd" CrowdScenarios, and they
// may be listed with other names ("all,crowd"). The result is in run order.
func ParseScenarios(s string) ([]string, error) {
	known := append(Scenarios(), CrowdScenarios()...)
	var want []string
	for _, v := range strings.Split(s, ",") {
		switch v = strings.TrimSpace(v); v {
		case "all":
			want = append(want, Scenarios()...)
		case "crowd":
			want = append(want, CrowdScenarios()...)
		default:
			if !slices.Contains(known, v) {
				return nil, fmt.Errorf("unknown scenario %q (want %s, all, crowd, or a comma list)", v, strings.Join(known, ", "))
			}
			want = append(want, v)
		}
	}
	var out []string
	for _, k := range known {
		if slices.Contains(want, k) {
			out = append(out, k)
		}
	}
	return out, nil
}

// Strategies returns the lock strategies a target may run: the app's
// registered ones (app.Strategies).
func Strategies() []string {
	var names []string
	for _, s := range app.Strategies() {
		names = append(names, string(s))
	}
	return names
}

// ParseList parses "a,b", or "all" for every name in valid.
func ParseList(what, s string, valid []string) ([]string, error) {
	if s == "all" {
		return slices.Clone(valid), nil
	}
	var out []string
	for _, v := range strings.Split(s, ",") {
		v = strings.TrimSpace(v)
		if !slices.Contains(valid, v) {
			return nil, fmt.Errorf("unknown %s %q (want %s, a comma list, or all)", what, v, strings.Join(valid, ", "))
		}
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no %s given", what)
	}
	return out, nil
}

// Target is one API under test, running one strategy.
type Target struct {
	// Strategy is the lock strategy the target runs (recorded, not set).
	Strategy string
	// URL is the API's base URL when Start is nil.
	URL string
	// Start, if set, starts the target and returns its URL and how to
	// stop it; it is called once, before the target's scenarios.
	Start func(ctx context.Context) (url string, stop func() error, err error)
}

// Progress is a progress display; Set takes a count out of the total
// given when it was made.
type Progress interface {
	Set(n int)
	Done()
}

// Options configure a run.
type Options struct {
	Targets   []Target
	Scenarios []string
	// TargetName names the target in the report ("in-process" or a URL).
	TargetName string
	// Rate is the arrival rate (requests/s) of the open-model scenarios.
	Rate int
	// Duration is each open-model scenario's length.
	Duration time.Duration
	// Rounds is how many times the seed's race runs.
	Rounds int
	// AdminToken authorises POST /products on the target.
	AdminToken string
	// TLS is the client's TLS configuration for https targets (nil: the
	// system's roots).
	TLS *tls.Config
	// MaxWorkers bounds the attacker's concurrent requests (0: 2048). Past
	// it the arrival rate cannot be held, which the report shows as a
	// throughput below the rate.
	MaxWorkers int
	// Ceilings: the Redis address and MySQL DSN to measure against; empty
	// skips that ceiling. CeilingDuration is each ceiling's length.
	RedisAddr       string
	MySQLDSN        string
	CeilingDuration time.Duration
	// SaturateRates are the saturate scenario's steps (requests/s; nil:
	// DefaultSaturateRates), each StepDuration long (0: 5 s).
	SaturateRates []int
	StepDuration  time.Duration
	// SaturationRate is the overload scenario's R (0: the saturate
	// scenario's, run first if it is not in Scenarios). OverloadDuration
	// is each phase's length (0: 30 s); OverloadReadRate the other
	// product's reads alongside (0: 200/s; negative: none).
	SaturationRate   int
	OverloadDuration time.Duration
	OverloadReadRate int
	// Settle is the pause after a scenario's products are created, before
	// its load (replica lag on the stack; 0 for none).
	Settle time.Duration
	// NewProgress makes a progress display; nil shows none.
	NewProgress func(label string, total int) Progress
	// Log receives notes as the run goes (nil: discarded).
	Log io.Writer
	// Now is the clock (nil: time.Now); the report's date comes from it.
	Now func() time.Time
}

func (o *Options) validate() error {
	if len(o.Targets) == 0 {
		return errors.New("bench: no target")
	}
	if len(o.Scenarios) == 0 {
		return errors.New("bench: no scenario")
	}
	for _, s := range o.Scenarios {
		if !slices.Contains(Scenarios(), s) && !slices.Contains(CrowdScenarios(), s) {
			return fmt.Errorf("bench: unknown scenario %q", s)
		}
	}
	if len(o.SaturateRates) == 0 {
		o.SaturateRates = DefaultSaturateRates()
	}
	for _, r := range o.SaturateRates {
		if r <= 0 {
			return fmt.Errorf("bench: saturate rate %d is not positive", r)
		}
	}
	if o.StepDuration <= 0 {
		o.StepDuration = 5 * time.Second
	}
	if o.OverloadDuration <= 0 {
		o.OverloadDuration = 30 * time.Second
	}
	switch {
	case o.OverloadReadRate == 0:
		o.OverloadReadRate = 200
	case o.OverloadReadRate < 0:
		o.OverloadReadRate = 0
	}
	if o.SaturationRate < 0 {
		return errors.New("bench: the saturation rate must not be negative")
	}
	for _, t := range o.Targets {
		if !slices.Contains(Strategies(), t.Strategy) {
			return fmt.Errorf("bench: unknown strategy %q", t.Strategy)
		}
		if t.Start == nil && t.URL == "" {
			return errors.New("bench: a target needs a URL or a Start function")
		}
	}
	if o.Rate <= 0 || o.Duration <= 0 || o.Rounds <= 0 {
		return errors.New("bench: rate, duration and rounds must be positive")
	}
	if o.CeilingDuration <= 0 {
		o.CeilingDuration = 2 * time.Second
	}
	if o.MaxWorkers <= 0 {
		o.MaxWorkers = 2048
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return nil
}

// Run measures the ceilings, then runs every scenario against every
// target, and returns the report. It fails only when it cannot run at all
// (bad options, a target that does not start, a product it cannot create);
// a broken invariant is in the report (Report.I1OK), for the caller to
// turn into a failure after writing the report.
func Run(ctx context.Context, o Options) (*Report, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	rep := &Report{
		Date: o.Now().UTC().Format("2006-01-02"), Started: o.Now().UTC(), Target: o.TargetName, Protocol: loadProtocol(o.TargetName),
		Machine:   Machine{CPUs: runtime.NumCPU(), GOOS: runtime.GOOS, GOARCH: runtime.GOARCH, GoVersion: runtime.Version()},
		Scenarios: o.Scenarios, Rate: o.Rate, DurationS: o.Duration.Seconds(), Rounds: o.Rounds, I1OK: true, OrdersOK: true, I2OK: true,
	}
	for _, t := range o.Targets {
		rep.Strategies = append(rep.Strategies, t.Strategy)
	}
	rep.Ceilings = measureCeilings(ctx, o)
	for _, c := range rep.Ceilings {
		if c.Skipped != "" {
			rep.Notes = append(rep.Notes, fmt.Sprintf("ceiling %s skipped: %s", c.Name, c.Skipped))
		}
	}
	runID := newRunID()
	for _, t := range o.Targets {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		url, stop := t.URL, func() error { return nil }
		if t.Start != nil {
			var err error
			if url, stop, err = t.Start(ctx); err != nil {
				return rep, fmt.Errorf("bench: start the %s target: %w", t.Strategy, err)
			}
		}
		c := newClient(o, strings.TrimRight(url, "/"), runID+"-"+t.Strategy, t.Strategy)
		for _, sc := range o.Scenarios {
			fmt.Fprintf(o.Log, "bench: %s / %s\n", t.Strategy, sc)
			res, err := c.run(ctx, sc)
			if err != nil {
				_ = stop()
				return rep, fmt.Errorf("bench: %s / %s: %w", t.Strategy, sc, err)
			}
			res.Strategy = t.Strategy
			res.ratios(rep.Ceilings)
			rep.Results = append(rep.Results, *res)
			if !res.I1OK() {
				rep.I1OK = false
			}
			if res.Overload != nil && !res.Overload.OrdersOK() {
				rep.OrdersOK = false
			}
			if res.Overload != nil && !res.Overload.I2.OK() {
				rep.I2OK = false
			}
		}
		c.close()
		if err := stop(); err != nil {
			rep.Notes = append(rep.Notes, fmt.Sprintf("stopping the %s target: %v", t.Strategy, err))
		}
	}
	rep.Finished = o.Now().UTC()
	return rep, nil
}

func newRunID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "b" + hex.EncodeToString(b[:])
}

// httpClient is the client of the closed-loop parts (product setup, the
// seed's race, I1 reads).
func httpClient(tlsCfg *tls.Config, conns int) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsCfg
	tr.MaxIdleConnsPerHost = conns
	tr.ForceAttemptHTTP2 = false
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}
