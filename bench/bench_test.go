package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/gin-gonic/gin"

	"github.com/flashsale/flashsale/adapters/httpapi"
	"github.com/flashsale/flashsale/adapters/memory"
	"github.com/flashsale/flashsale/adapters/payment"
	"github.com/flashsale/flashsale/adapters/system"
	"github.com/flashsale/flashsale/app"
)

const testToken = "bench-test-token"

// memoryTarget serves the API over memory adapters with strategy s.
func memoryTarget(t *testing.T, s string) Target {
	t.Helper()
	return Target{Strategy: s, Start: func(context.Context) (string, func() error, error) {
		clock := system.Clock{}
		store := memory.NewStore(clock)
		pay, err := payment.NewSimulated(payment.Options{Seed: 1})
		if err != nil {
			return "", nil, err
		}
		a, err := app.New(app.Deps{Clock: clock, IDs: system.IDs{}, Inventory: memory.NewInventory(clock),
			Locker: memory.NewLocker(clock), Catalog: store, Cache: memory.NewProductCache(clock), Sagas: store,
			Orders: store, Outbox: store, Publisher: memory.NewEventLog(memory.WithDeliveryLimit(1000)), Payments: pay},
			app.Config{Strategy: app.Strategy(s), InstanceID: "t"}, app.Hooks{})
		if err != nil {
			return "", nil, err
		}
		gin.SetMode(gin.ReleaseMode)
		h, err := httpapi.New(a, httpapi.Options{AdminToken: testToken})
		if err != nil {
			return "", nil, err
		}
		srv := httptest.NewServer(h)
		return srv.URL, func() error { srv.Close(); return nil }, nil
	}}
}

func shortOptions(targets ...Target) Options {
	return Options{Targets: targets, Scenarios: Scenarios(), TargetName: "test", Rate: 100,
		Duration: 300 * time.Millisecond, Rounds: 3, AdminToken: testToken, CeilingDuration: 200 * time.Millisecond}
}

func TestRunAllStrategiesWritesReport(t *testing.T) {
	var targets []Target
	for _, s := range Strategies() {
		targets = append(targets, memoryTarget(t, s))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := Run(ctx, shortOptions(targets...))
	if err != nil {
		t.Fatal(err)
	}
	if !rep.I1OK {
		t.Fatalf("I1 broken: %+v", rep.Results)
	}
	if got, want := len(rep.Results), len(Strategies())*len(Scenarios()); got != want {
		t.Fatalf("%d results, want %d", got, want)
	}
	for _, r := range rep.Results {
		if r.Outcomes.Errors > 0 {
			t.Errorf("%s/%s: errors %v", r.Strategy, r.Scenario, r.Outcomes.ErrorKinds)
		}
		if r.Requests == 0 || len(r.I1) == 0 {
			t.Errorf("%s/%s: %d requests, %d I1 checks", r.Strategy, r.Scenario, r.Requests, len(r.I1))
		}
		if r.Seed != nil && r.Seed.ExactlyStock != 3 {
			t.Errorf("%s/seed: %d of 3 rounds sold exactly 9: %+v", r.Strategy, r.Seed.ExactlyStock, r.Outcomes)
		}
		if r.Scenario == ScenarioHot && r.Outcomes.Confirmed != int(r.I1[0].Supplied) {
			t.Errorf("%s/hot: %d confirmed of %d supplied (stock is half the requests)", r.Strategy, r.Outcomes.Confirmed, r.I1[0].Supplied)
		}
		if _, ok := r.Ratios[CeilingHTTP]; !ok {
			t.Errorf("%s/%s: no ratio to the HTTP ceiling", r.Strategy, r.Scenario)
		}
	}
	if rep.Ceilings[0].Name != CeilingHTTP || rep.Ceilings[0].OpsPerSec <= 0 {
		t.Errorf("HTTP ceiling not measured: %+v", rep.Ceilings[0])
	}
	for _, c := range rep.Ceilings[1:] {
		if c.Skipped == "" {
			t.Errorf("ceiling %s ran with no address given", c.Name)
		}
	}

	var table bytes.Buffer
	WriteTable(&table, rep)
	for _, want := range []string{"optimistic", "seed's race", "I1 (confirmed"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	dir := t.TempDir()
	js := filepath.Join(dir, "fake-echarts.js")
	if err := os.WriteFile(js, []byte("/* echarts */"), 0o644); err != nil {
		t.Fatal(err)
	}
	jsonPath, htmlPath, err := WriteFiles(filepath.Join(dir, "out"), rep, js)
	if err != nil {
		t.Fatal(err)
	}
	back := readReport(t, jsonPath)
	if len(back.Results) != len(rep.Results) || !back.I1OK {
		t.Errorf("JSON round trip lost results")
	}
	page, err := os.ReadFile(htmlPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{TitleThroughput, TitleLatency, TitleOutcomes, TitleCeilings, TitleSeed,
		`src="./echarts.min.js"`, "echarts.init"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "out", EChartsFile)); err != nil {
		t.Errorf("echarts.min.js not copied: %v", err)
	}
}

// An API that confirms every purchase and reports nothing sold is caught.
func TestI1ViolationIsReported(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /products", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("GET /products/{id}", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"available":0}`))
	})
	mux.HandleFunc("POST /purchase", func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			ProductID string `json:"productId"`
		}
		_ = json.NewDecoder(r.Body).Decode(&b)
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"productId": b.ProductID, "status": "CONFIRMED"})
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	o := shortOptions(Target{Strategy: "none", URL: srv.URL})
	o.Scenarios = []string{ScenarioSeed, ScenarioHot}
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if rep.I1OK {
		t.Fatal("an oversold product passed I1")
	}
	for _, r := range rep.Results {
		if r.I1OK() {
			t.Errorf("%s: I1 passed with %+v", r.Scenario, r.I1)
		}
	}
	var table bytes.Buffer
	WriteTable(&table, rep)
	if !strings.Contains(table.String(), "I1 VIOLATED") {
		t.Errorf("the table does not say I1 broke:\n%s", table.String())
	}
}

func TestI1Check(t *testing.T) {
	for _, c := range []struct {
		supplied, available int64
		confirmed           int
		ok                  bool
	}{
		{9, 0, 9, true}, {9, 1, 8, true}, {9, 0, 10, false}, {9, -1, 9, false}, {9, 9, 1, false}, {9, 10, 0, false},
	} {
		if got := newI1Check("p", c.supplied, c.available, c.confirmed).OK; got != c.ok {
			t.Errorf("supplied %d available %d confirmed %d: ok %v, want %v", c.supplied, c.available, c.confirmed, got, c.ok)
		}
	}
}

func TestClassify(t *testing.T) {
	var o Outcomes
	classifyAnswer(201, nil, "", &o)
	classifyAnswer(200, nil, "", &o)
	classifyAnswer(409, []byte(`{"code":"insufficient_stock"}`), "", &o)
	classifyAnswer(409, []byte(`{"code":"lock_busy"}`), "", &o)
	classifyAnswer(409, []byte(`{"code":"contention"}`), "", &o)
	classifyAnswer(503, []byte(`{"code":"unavailable"}`), "", &o)
	classifyAnswer(503, []byte(`<html>503 Service Temporarily Unavailable</html>`), "", &o)
	classifyAnswer(429, []byte(`{"code":"rate_limited"}`), "", &o)
	classifyAnswer(502, []byte(`<html>502 Bad Gateway</html>`), "", &o)
	classifyAnswer(504, nil, "", &o)
	classifyAnswer(409, []byte(`{"code":"nope"}`), "", &o)
	classifyAnswer(0, nil, "connection refused", &o)
	want := Outcomes{Confirmed: 1, Reads: 1, Insufficient: 1, LockBusy: 1, Contention: 1,
		Shed: 3, ShedKinds: map[string]int{"503 unavailable": 1, "503": 1, "429 rate_limited": 1},
		Errors: 4, ErrorKinds: map[string]int{"502": 1, "504": 1, "409 nope": 1, "transport: connection refused": 1}}
	gotJSON, _ := json.Marshal(o)
	wantJSON, _ := json.Marshal(want)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Errorf("got %s, want %s", gotJSON, wantJSON)
	}
}

func TestParseListAndOptions(t *testing.T) {
	if got, err := ParseList("scenario", "all", Scenarios()); err != nil || len(got) != 4 {
		t.Errorf("all: %v %v", got, err)
	}
	for in, want := range map[string]string{
		"all":                       "seed,hot,mix,reads",
		"crowd":                     "saturate,overload,soldout,readmax",
		"readmax, saturate,hot":     "hot,saturate,readmax",
		"all,crowd":                 "seed,hot,mix,reads,saturate,overload,soldout,readmax",
		"overload,overload,soldout": "overload,soldout",
	} {
		if got, err := ParseScenarios(in); err != nil || strings.Join(got, ",") != want {
			t.Errorf("ParseScenarios(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "flood", "saturate,", "none"} {
		if _, err := ParseScenarios(bad); err == nil {
			t.Errorf("ParseScenarios(%q) accepted", bad)
		}
	}
	if got, err := ParseList("strategy", "lock,none,lock", Strategies()); err != nil || strings.Join(got, ",") != "lock,none" {
		t.Errorf("lock,none,lock: %v %v", got, err)
	}
	for _, bad := range []string{"", "nope", "none,", "seed"} {
		if _, err := ParseList("strategy", bad, Strategies()); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	o := shortOptions(Target{Strategy: "none", URL: "http://127.0.0.1:1"})
	o.Rate = 0
	if _, err := Run(context.Background(), o); err == nil {
		t.Error("rate 0 accepted")
	}
	o = shortOptions(Target{Strategy: "pessimistic", URL: "http://127.0.0.1:1"})
	if _, err := Run(context.Background(), o); err == nil {
		t.Error("an unknown strategy accepted")
	}
}

func step(rate, requests, confirmed, shed, errs int, throughput, confirmedPerSec, p99 float64) SaturationStep {
	o := Outcomes{Confirmed: confirmed, Insufficient: requests - confirmed - shed - errs}
	if shed > 0 {
		o.shed("503 product_saturated", shed)
	}
	if errs > 0 {
		o.error("502", errs)
	}
	return SaturationStep{Rate: rate, Requests: requests, Throughput: throughput, ConfirmedPerSec: confirmedPerSec,
		Latency: Latency{P99: p99}, Outcomes: o}
}

func TestSaturateStopsPastSaturation(t *testing.T) {
	ok := step(250, 1250, 1250, 0, 0, 250, 250, 20)
	for _, c := range []struct {
		name  string
		steps []SaturationStep
		stop  bool
		why   string
	}{
		{"no step yet", nil, false, ""},
		{"fast first step", []SaturationStep{ok}, false, ""},
		{"p99 just under a second", []SaturationStep{step(500, 2500, 2500, 0, 0, 500, 500, 999)}, false, ""},
		{"p99 over a second", []SaturationStep{ok, step(500, 2500, 2500, 0, 0, 500, 500, 1001)}, true, "p99 1001 ms at 500/s"},
		{"confirmed/s fell well below", []SaturationStep{step(1000, 5000, 2000, 3000, 0, 1000, 400, 50),
			step(2000, 10000, 1450, 8550, 0, 2000, 290, 60)}, true, "fell from 400 at 1000/s to 290 at 2000/s"},
		{"confirmed/s fell a little", []SaturationStep{step(1000, 5000, 2000, 3000, 0, 1000, 400, 50),
			step(2000, 10000, 1550, 8450, 0, 2000, 310, 60)}, false, ""},
		{"nothing confirmed before", []SaturationStep{step(1000, 5000, 0, 5000, 0, 1000, 0, 50),
			step(2000, 10000, 0, 10000, 0, 2000, 0, 60)}, false, ""},
		{"only the last step counts", []SaturationStep{step(500, 2500, 2500, 0, 0, 500, 500, 1500),
			step(1000, 5000, 5000, 0, 0, 1000, 1000, 20)}, false, ""},
	} {
		stop, why := stopAfter(c.steps)
		if stop != c.stop || !strings.Contains(why, c.why) {
			t.Errorf("%s: stop %v (%q), want %v (%q)", c.name, stop, why, c.stop, c.why)
		}
	}
}

func TestSustainableRateAndSaturation(t *testing.T) {
	s := &Saturation{Steps: []SaturationStep{
		step(250, 1250, 1250, 0, 0, 250, 250, 20),         // sustainable
		step(500, 2500, 2500, 0, 0, 495, 495, 80),         // sustainable
		step(1000, 5000, 5000, 0, 0, 990, 600.4, 150),     // p99 too high
		step(2000, 10000, 9999, 1, 0, 1990, 580, 40),      // one shed answer
		step(3000, 15000, 15000, 0, 0, 2000, 560, 50),     // the rate was not held
		step(4000, 20000, 19999, 0, 1, 3990, 550, 30),     // one 502
		step(6000, 30000, 20000, 0, 0, 6000, 590, 30),     // 409s are not 201s
		step(8000, 40000, 40000, 0, 0, 7900, 600.3, 99.9), // sustainable, highest
	}}
	s.summarise()
	if s.SustainableRate != 8000 {
		t.Errorf("sustainable rate %d, want 8000", s.SustainableRate)
	}
	if s.SaturationConfirmedPerSec != 600.4 || s.SaturationStepRate != 1000 || s.saturationRate() != 600 {
		t.Errorf("saturation %.1f/s at step %d (R %d), want 600.4 at 1000 (R 600)", s.SaturationConfirmedPerSec,
			s.SaturationStepRate, s.saturationRate())
	}
	if b := s.best(); b.Rate != 1000 {
		t.Errorf("best step %d, want 1000", b.Rate)
	}
	s.Steps = s.Steps[2:5]
	s.summarise()
	if s.SustainableRate != 0 {
		t.Errorf("sustainable rate %d with no sustainable step, want 0", s.SustainableRate)
	}
}

func TestRatios(t *testing.T) {
	cs := []Ceiling{
		{Name: CeilingHTTP, OpsPerSec: 10000},
		{Name: CeilingRedis, OpsPerSec: 5000},
		{Name: CeilingMySQL, OpsPerSec: 2000},
	}
	near := func(what string, got, want float64) {
		t.Helper()
		if d := got - want; d > 1e-9 || d < -1e-9 {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	r := Result{Requests: 2000, Throughput: 1000, ConfirmedPerSec: 200,
		Outcomes: Outcomes{Confirmed: 400, Insufficient: 600, Reads: 1000}}
	r.ratios(cs)
	near("http", r.Ratios[CeilingHTTP], 0.1)
	near("redis", r.Ratios[CeilingRedis], 0.1) // 500 purchase answers/s of 5000
	near("mysql", r.Ratios[CeilingMySQL], 0.1)

	// The saturate scenario's ratios are over the MySQL ceiling measured
	// just before its steps, not the run's.
	sat := Result{Requests: 5000, Throughput: 1000, ConfirmedPerSec: 400, Outcomes: Outcomes{Confirmed: 2000, Insufficient: 3000},
		Saturation: &Saturation{SustainableRate: 250, SaturationConfirmedPerSec: 400,
			MySQL: Ceiling{Name: CeilingMySQL, OpsPerSec: 1000}}}
	sat.ratios(cs)
	near("sustainable/mysql", sat.Saturation.SustainableToMySQL, 0.25)
	near("saturation/mysql", sat.Saturation.SaturationToMySQL, 0.4)
	near("saturate row mysql", sat.Ratios[CeilingMySQL], 0.4)
	skipped := Result{Requests: 5000, Throughput: 1000, ConfirmedPerSec: 400, Outcomes: Outcomes{Confirmed: 2000},
		Saturation: &Saturation{SustainableRate: 250, SaturationConfirmedPerSec: 400,
			MySQL: Ceiling{Name: CeilingMySQL, Skipped: "not reachable"}}}
	skipped.ratios(cs)
	near("sustainable/skipped mysql", skipped.Saturation.SustainableToMySQL, 0)
	near("saturate row, the run's mysql", skipped.Ratios[CeilingMySQL], 0.2)

	so := Result{Requests: 20000, Throughput: 5000, Outcomes: Outcomes{Insufficient: 20000},
		SoldOut: &SoldOut{WithoutKey: SoldOutRun{RejectionsPerSec: 5000}, WithKey: SoldOutRun{RejectionsPerSec: 2500}}}
	so.ratios(cs)
	near("soldout without key", so.SoldOut.WithoutKey.RatioHTTP, 0.5)
	near("soldout with key", so.SoldOut.WithKey.RatioHTTP, 0.25)
	noHTTP := Result{SoldOut: &SoldOut{WithoutKey: SoldOutRun{RejectionsPerSec: 5000}}}
	noHTTP.ratios([]Ceiling{{Name: CeilingHTTP, Skipped: "x"}})
	near("soldout, no HTTP ceiling", noHTTP.SoldOut.WithoutKey.RatioHTTP, 0)
}

func TestShedWellFormed(t *testing.T) {
	for _, c := range []struct {
		h  http.Header
		ok bool
	}{
		{http.Header{"Retry-After": {"1"}, "Content-Type": {"application/problem+json"}}, true},
		{http.Header{"Retry-After": {"0"}, "Content-Type": {"application/problem+json; charset=utf-8"}}, true},
		{http.Header{"Retry-After": {"Wed, 21 Oct 2026 07:28:00 GMT"}, "Content-Type": {"application/problem+json"}}, true},
		{http.Header{"Content-Type": {"application/problem+json"}}, false},
		{http.Header{"Retry-After": {"soon"}, "Content-Type": {"application/problem+json"}}, false},
		{http.Header{"Retry-After": {"-1"}, "Content-Type": {"application/problem+json"}}, false},
		{http.Header{"Retry-After": {"1"}, "Content-Type": {"application/json"}}, false},
		{http.Header{"Retry-After": {"1"}, "Content-Type": {"text/html"}}, false},
		{http.Header{"Retry-After": {"1"}}, false},
	} {
		if got := shedWellFormed(c.h); got != c.ok {
			t.Errorf("%v: %v, want %v", c.h, got, c.ok)
		}
	}
}

// fakeShop is an in-process stand-in for the API whose purchase answers
// are chosen by the test: answer gets the purchase's sequence number
// (1, 2, ...) and writes the answer, or returns false to confirm it.
type fakeShop struct {
	mu        sync.Mutex
	supplied  map[string]int64
	sold      map[string]int64
	purchases int
	orders    map[string]string // order ID to status
	answer    func(n int, w http.ResponseWriter) bool
	// staleReads: GET /products/:id without Cache-Control: no-cache
	// answers what was supplied, as a cache that never saw a sale.
	staleReads bool
}

func newFakeShop(answer func(n int, w http.ResponseWriter) bool) (*fakeShop, *httptest.Server) {
	f := &fakeShop{supplied: map[string]int64{}, sold: map[string]int64{}, orders: map[string]string{}, answer: answer, staleReads: true}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /products", func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			ID       string `json:"id"`
			AddStock int64  `json:"addStock"`
		}
		_ = json.NewDecoder(r.Body).Decode(&b)
		f.mu.Lock()
		f.supplied[b.ID] += b.AddStock
		f.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	})
	mux.HandleFunc("GET /products/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		f.mu.Lock()
		avail := f.supplied[id] - f.sold[id]
		if f.staleReads && r.Header.Get("Cache-Control") != "no-cache" {
			avail = f.supplied[id]
		}
		f.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"id": id, "available": avail})
	})
	mux.HandleFunc("POST /purchase", func(w http.ResponseWriter, r *http.Request) {
		var b struct {
			ProductID string `json:"productId"`
		}
		_ = json.NewDecoder(r.Body).Decode(&b)
		f.mu.Lock()
		defer f.mu.Unlock()
		f.purchases++
		if f.answer != nil && f.answer(f.purchases, w) {
			return
		}
		if f.sold[b.ProductID] >= f.supplied[b.ProductID] {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusConflict)
			_, _ = w.Write([]byte(`{"code":"insufficient_stock"}`))
			return
		}
		f.sold[b.ProductID]++
		id := fmt.Sprintf("o-%d", f.purchases)
		f.orders[id] = "CONFIRMED"
		if len(f.orders) == 1 {
			f.orders[id] = "PENDING" // one order that is not what its answer said
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(map[string]any{"orderId": id, "productId": b.ProductID, "status": "CONFIRMED"})
	})
	mux.HandleFunc("GET /orders/{id}", func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		st, ok := f.orders[r.PathValue("id")]
		f.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"order": map[string]any{"status": st}})
	})
	return f, httptest.NewServer(mux)
}

// shedAnswers cycles through the answers an overloaded edge gives: a
// well-formed 503 and 429, a 503 without Retry-After, an nginx 502 and
// 503 page, then a confirmed purchase.
func shedAnswers(n int, w http.ResponseWriter) bool {
	switch n % 6 {
	case 1:
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"code":"product_saturated"}`))
	case 2:
		w.Header().Set("Retry-After", "2")
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"code":"rate_limited"}`))
	case 3:
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"code":"overloaded"}`))
	case 4:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = w.Write([]byte(`<html>502 Bad Gateway</html>`))
	case 5:
		w.Header().Set("Retry-After", "1")
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`<html>503</html>`))
	default:
		return false
	}
	return true
}

// Shed answers are told from 502s and other errors, and a shed answer
// counts as well formed only with Retry-After and problem+json.
func TestAttackClassifiesShedAnswers(t *testing.T) {
	_, srv := newFakeShop(shedAnswers)
	defer srv.Close()
	o := shortOptions(Target{Strategy: "none", URL: srv.URL})
	if err := o.validate(); err != nil {
		t.Fatal(err)
	}
	c := newClient(o, srv.URL, "t", "none")
	if err := c.supply(context.Background(), "p", 10_000_000); err != nil { // never the limit: every sixth answer sells
		t.Fatal(err)
	}
	a := c.attackWith(context.Background(), attackSpec{name: "t", conc: 4, d: 300 * time.Millisecond,
		next: func(seq uint64, tg *vegeta.Target) { purchaseTarget(tg, srv.URL, "p", fmt.Sprint("k", seq)) }})
	n, o2 := a.requests, a.outcomes
	if n < 60 {
		t.Fatalf("only %d requests in 300ms", n)
	}
	sixth := func(k int) int { return n/6 + map[bool]int{true: 1}[n%6 >= k] } // answers with n%6 == k, k in 1..5
	confirmed := n / 6
	if o2.Confirmed != confirmed || len(a.orders) != confirmed || a.confirmed["p"] != confirmed {
		t.Errorf("%d requests: confirmed %d, orders %d, per product %d; want %d", n, o2.Confirmed, len(a.orders), a.confirmed["p"], confirmed)
	}
	if want := sixth(1) + sixth(2) + sixth(3) + sixth(5); o2.Shed != want {
		t.Errorf("shed %d (%v), want %d", o2.Shed, o2.ShedKinds, want)
	}
	if want := sixth(1) + sixth(2); a.shedWellFormed != want {
		t.Errorf("well-formed shed %d, want %d", a.shedWellFormed, want)
	}
	if o2.ShedKinds["503 product_saturated"] != sixth(1) || o2.ShedKinds["429 rate_limited"] != sixth(2) ||
		o2.ShedKinds["503 overloaded"] != sixth(3) || o2.ShedKinds["503"] != sixth(5) {
		t.Errorf("shed kinds %v", o2.ShedKinds)
	}
	if o2.BadGateway() != sixth(4) || o2.Errors != sixth(4) {
		t.Errorf("502s %d, errors %d (%v); want %d", o2.BadGateway(), o2.Errors, o2.ErrorKinds, sixth(4))
	}
	if len(a.shedLatency) != o2.Shed {
		t.Errorf("%d shed latencies for %d shed answers", len(a.shedLatency), o2.Shed)
	}
}

// The overload scenario through a fake edge: 502s and malformed shed
// answers are counted per phase, I1 is read live (the fake's cached reads
// never see a sale), and an order answered 201 that is not CONFIRMED at
// rest fails the run's order check.
func TestOverloadCountsAndChecksOrders(t *testing.T) {
	shop, srv := newFakeShop(shedAnswers)
	defer srv.Close()
	o := shortOptions(Target{Strategy: "none", URL: srv.URL})
	o.Scenarios = []string{ScenarioOverload}
	o.SaturationRate, o.OverloadDuration, o.OverloadReadRate = 40, 300*time.Millisecond, 20
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 1 || rep.Results[0].Overload == nil {
		t.Fatalf("results %+v", rep.Results)
	}
	r := rep.Results[0]
	ov := r.Overload
	if len(ov.Phases) != 2 || ov.Phases[0].Rate != 80 || ov.Phases[1].Rate != 200 || ov.RateFrom != "--saturation-rate" {
		t.Fatalf("phases %+v from %q", ov.Phases, ov.RateFrom)
	}
	total := 0
	for _, p := range ov.Phases {
		total += p.Requests
		if p.BadGateway == 0 || p.Shed == 0 || p.ShedWellFormed == 0 || p.ShedWellFormed >= p.Shed || p.Confirmed == 0 {
			t.Errorf("%s: 502 %d, shed %d, well formed %d, confirmed %d", p.Name, p.BadGateway, p.Shed, p.ShedWellFormed, p.Confirmed)
		}
		if p.ReadRequests == 0 || p.ReadOutcomes.Reads != p.ReadRequests {
			t.Errorf("%s: %d reads, %+v", p.Name, p.ReadRequests, p.ReadOutcomes)
		}
	}
	shop.mu.Lock()
	purchases := shop.purchases
	shop.mu.Unlock()
	if total != purchases || r.Requests != purchases {
		t.Errorf("phases saw %d purchases, the row %d, the shop %d", total, r.Requests, purchases)
	}
	if !rep.I1OK {
		t.Errorf("I1 failed, so the check read the cached quantity: %+v", r.I1)
	}
	if ov.OrdersChecked != r.Outcomes.Confirmed || ov.OrdersNotConfirmed != 1 || ov.OrdersUnreadable != 0 ||
		ov.OrderProblems["status PENDING"] != 1 || rep.OrdersOK {
		t.Errorf("orders checked %d of %d confirmed, not confirmed %d, unreadable %d (%v), run ok %v",
			ov.OrdersChecked, r.Outcomes.Confirmed, ov.OrdersNotConfirmed, ov.OrdersUnreadable, ov.OrderProblems, rep.OrdersOK)
	}
	var table bytes.Buffer
	WriteTable(&table, rep)
	for _, want := range []string{"overload: one hot product", "with Retry-After+problem", "not CONFIRMED 1", "orders (every 201", "VIOLATED"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
}

// An I1 check that read the near cache would miss an oversell: the fake
// answers cached reads as if nothing had sold.
func TestI1ReadsPastTheCache(t *testing.T) {
	shop, srv := newFakeShop(nil)
	defer srv.Close()
	shop.orders["o-0"] = "CONFIRMED" // so no order is PENDING
	c := newClient(shortOptions(), srv.URL, "t", "none")
	ctx := context.Background()
	if err := c.supply(ctx, "p", 3); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if status, body, err := c.post(ctx, "p", fmt.Sprint("k", i)); err != nil || status != http.StatusCreated {
			t.Fatalf("purchase %d: %d %s %v", i, status, body, err)
		}
	}
	if cached, _ := c.available(ctx, "p", false); cached != 3 {
		t.Fatalf("the fake's cached read says %d, want 3", cached)
	}
	checks, err := c.i1(ctx, map[string]int64{"p": 3}, map[string]int{"p": 3})
	if err != nil || len(checks) != 1 || !checks[0].OK || checks[0].Available != 0 {
		t.Errorf("I1 %+v, %v; want ok with 0 available", checks, err)
	}
}

// The crowd scenarios on the memory adapters: the saturate steps, R taken
// from them for overload, soldout and readmax at full speed, in the
// table, the JSON and the HTML.
func TestCrowdScenariosInProcess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	o := shortOptions(memoryTarget(t, "none"))
	o.Scenarios = CrowdScenarios()
	o.SaturateRates, o.StepDuration = []int{50, 100}, 500*time.Millisecond
	o.OverloadDuration, o.OverloadReadRate = 300*time.Millisecond, 20
	rep, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.I1OK || !rep.OrdersOK || len(rep.Results) != 4 {
		t.Fatalf("I1 %v, orders %v, %d results", rep.I1OK, rep.OrdersOK, len(rep.Results))
	}
	sat, ov, so, rm := rep.Results[0], rep.Results[1], rep.Results[2], rep.Results[3]
	s := sat.Saturation
	if s == nil || len(s.Steps) != 2 || s.Steps[0].Rate != 50 || s.Steps[1].Rate != 100 {
		t.Fatalf("saturate steps %+v", s)
	}
	for _, st := range s.Steps {
		if st.Outcomes.Confirmed != st.Requests || st.Requests == 0 {
			t.Errorf("step %d: %d of %d confirmed (stock is ample): %+v", st.Rate, st.Outcomes.Confirmed, st.Requests, st.Outcomes)
		}
	}
	if s.SustainableRate != 100 {
		t.Errorf("sustainable rate %d on memory adapters at 100/s, want 100: %+v", s.SustainableRate, s.Steps)
	}
	if s.MySQL.Skipped == "" || s.SustainableToMySQL != 0 || s.SaturationConfirmedPerSec < 50 {
		t.Errorf("saturation %+v", s)
	}
	if ov.Overload == nil || ov.Overload.SaturationRate != s.saturationRate() || ov.Overload.RateFrom != "the saturate scenario, earlier in this run" {
		t.Fatalf("overload %+v, R from saturate %d", ov.Overload, s.saturationRate())
	}
	if ov.Overload.OrdersChecked != ov.Outcomes.Confirmed || ov.Overload.OrdersChecked == 0 {
		t.Errorf("overload: %d orders checked of %d confirmed", ov.Overload.OrdersChecked, ov.Outcomes.Confirmed)
	}
	for _, p := range ov.Overload.Phases {
		if p.BadGateway != 0 || p.ReadRequests == 0 {
			t.Errorf("overload %s: %+v", p.Name, p)
		}
	}
	if so.SoldOut == nil {
		t.Fatal("no soldout detail")
	}
	for name, run := range map[string]SoldOutRun{"without key": so.SoldOut.WithoutKey, "with key": so.SoldOut.WithKey} {
		if run.Requests == 0 || run.Errors != 0 || run.Outcomes.Insufficient != run.Requests || run.RejectionsPerSec <= 0 || run.RatioHTTP <= 0 {
			t.Errorf("soldout %s: %+v", name, run)
		}
	}
	if so.Outcomes.Confirmed != 0 || so.I1[0].Supplied != 1 || so.I1[0].Available != 0 {
		t.Errorf("soldout: %d confirmed during the load, I1 %+v", so.Outcomes.Confirmed, so.I1)
	}
	if rm.Outcomes.Reads != rm.Requests || rm.Requests == 0 || rm.Ratios[CeilingHTTP] <= 0 || rm.Rate != 0 {
		t.Errorf("readmax: %+v", rm)
	}
	var table bytes.Buffer
	WriteTable(&table, rep)
	for _, want := range []string{"saturate: one hot product", "sustainable rate 100/s", "overload: one hot product", "soldout: purchases",
		"readmax", "orders (every 201"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	dir := t.TempDir()
	jsonPath, htmlPath, err := WriteFiles(dir, rep, "")
	if err != nil {
		t.Fatal(err)
	}
	back := readReport(t, jsonPath)
	if back.Results[0].Saturation == nil || len(back.Results[0].Saturation.Steps) != 2 || back.Results[2].SoldOut == nil {
		t.Errorf("JSON lost the crowd details")
	}
	page, err := os.ReadFile(htmlPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{TitleSaturate, TitleOverload, TitleThroughput, "yAxisIndex"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
}

// Overload without a saturation rate and without the saturate scenario
// runs the steps itself, and checks I1 on their product too.
func TestOverloadFindsItsRate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	o := shortOptions(memoryTarget(t, "none"))
	o.Scenarios = []string{ScenarioOverload}
	o.SaturateRates, o.StepDuration = []int{40}, 300*time.Millisecond
	o.OverloadDuration, o.OverloadReadRate = 200*time.Millisecond, -1
	rep, err := Run(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	ov := rep.Results[0].Overload
	if ov == nil || ov.Found == nil || ov.RateFrom != "found here (the saturate steps)" || ov.SaturationRate != ov.Found.saturationRate() ||
		ov.SaturationRate == 0 || ov.ReadRate != 0 {
		t.Fatalf("overload %+v", ov)
	}
	if ov.Phases[0].ReadRequests != 0 {
		t.Errorf("reads ran at rate 0: %+v", ov.Phases[0])
	}
	var products []string
	for _, c := range rep.Results[0].I1 {
		products = append(products, c.Product)
	}
	if len(products) != 3 || !strings.Contains(strings.Join(products, ","), "saturate") || !rep.I1OK || !rep.OrdersOK {
		t.Errorf("I1 checks %v (ok %v), orders ok %v", products, rep.I1OK, rep.OrdersOK)
	}
}

// readReport reads a bench.json.
func readReport(t *testing.T, path string) Report {
	t.Helper()
	var r Report
	if b, err := os.ReadFile(path); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestI2CheckHoldsOnlyWhenTheGateHoldsNothingAndAgreesWithTheDatabase(t *testing.T) {
	for _, c := range []struct {
		name  string
		check I2Check
		ok    bool
	}{
		{"not checked", I2Check{Note: "no DSN"}, true},
		{"at rest and equal", I2Check{Checked: true, GateStock: 7, GateAvailable: 7, DurableStock: 7}, true},
		{"the gate sold twice", I2Check{Checked: true, GateStock: 5, GateAvailable: 5, DurableStock: 7}, false},
		{"a reservation still held", I2Check{Checked: true, GateStock: 7, GateAvailable: 6, DurableStock: 7}, false},
	} {
		if got := c.check.OK(); got != c.ok {
			t.Errorf("%s: OK() = %v, want %v", c.name, got, c.ok)
		}
	}
}

// TestLoadProtocol: the attack speaks HTTP/2 to a TLS target (the edge, as
// browsers do) and HTTP/1.1 otherwise, and the report says which.
func TestLoadProtocol(t *testing.T) {
	for base, want := range map[string]bool{"https://127.0.0.1:8443": true, "http://127.0.0.1:18091": false, "in-process": false} {
		if got := overHTTP2(base); got != want {
			t.Errorf("overHTTP2(%q) = %v, want %v", base, got, want)
		}
	}
	if got := loadProtocol("https://127.0.0.1:8443"); got != "HTTP/2 over TLS" {
		t.Errorf("loadProtocol(https) = %q", got)
	}
	var b strings.Builder
	WriteTable(&b, &Report{Target: "https://edge", Protocol: loadProtocol("https://edge")})
	if !strings.Contains(b.String(), "target https://edge (HTTP/2 over TLS)") {
		t.Errorf("the table's first line does not name the protocol: %q", strings.SplitN(strings.TrimSpace(b.String()), "\n", 2)[0])
	}
}
