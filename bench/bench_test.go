package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
		h, err := httpapi.New(a, memory.NewIdempotencyStore(clock, time.Hour), httpapi.Options{AdminToken: testToken})
		if err != nil {
			return "", nil, err
		}
		srv := httptest.NewServer(h)
		return srv.URL, func() error { srv.Close(); return nil }, nil
	}}
}

func shortOptions(targets ...Target) Options {
	return Options{Targets: targets, Scenarios: Scenarios, TargetName: "test", Rate: 100,
		Duration: 300 * time.Millisecond, Rounds: 3, AdminToken: testToken, CeilingDuration: 200 * time.Millisecond}
}

func TestRunAllStrategiesWritesReport(t *testing.T) {
	var targets []Target
	for _, s := range Strategies {
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
	if got, want := len(rep.Results), len(Strategies)*len(Scenarios); got != want {
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
	var back Report
	if b, err := os.ReadFile(jsonPath); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
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
	classifyAnswer(0, nil, "connection refused", &o)
	want := Outcomes{Confirmed: 1, Reads: 1, Insufficient: 1, LockBusy: 1, Contention: 1, Errors: 2,
		ErrorKinds: map[string]int{"503 unavailable": 1, "transport: connection refused": 1}}
	gotJSON, _ := json.Marshal(o)
	wantJSON, _ := json.Marshal(want)
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Errorf("got %s, want %s", gotJSON, wantJSON)
	}
}

func TestParseListAndOptions(t *testing.T) {
	if got, err := ParseList("scenario", "all", Scenarios); err != nil || len(got) != 4 {
		t.Errorf("all: %v %v", got, err)
	}
	if got, err := ParseList("strategy", "lock,none,lock", Strategies); err != nil || strings.Join(got, ",") != "lock,none" {
		t.Errorf("lock,none,lock: %v %v", got, err)
	}
	for _, bad := range []string{"", "nope", "none,", "seed"} {
		if _, err := ParseList("strategy", bad, Strategies); err == nil {
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
