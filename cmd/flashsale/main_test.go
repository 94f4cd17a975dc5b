package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flashsale/flashsale/app"
)

func TestDefaultConfigIsValid(t *testing.T) {
	cfg, err := loadConfig("", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Addr != ":8080" || cfg.Saga.Strategy != "none" || cfg.Adapters.Inventory != "memory" {
		t.Fatalf("unexpected defaults: %+v", cfg)
	}
}

func TestShippedConfigFileLoads(t *testing.T) {
	cfg, err := loadConfig("../../configs/flashsale.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, defaultConfig()) {
		t.Fatalf("configs/flashsale.yaml drifted from the defaults:\n%s", cfg.masked())
	}
}

func TestConfigPrecedence(t *testing.T) {
	path := writeFile(t, "saga:\n  strategy: lock\n  lock_ttl: 5s\nhttp:\n  addr: \"127.0.0.1:9000\"\n")
	cfg, err := loadConfig(path, []string{"FLASHSALE_SAGA_STRATEGY=optimistic", "FLASHSALE_CACHE_TTL=1m", "PATH=/bin"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Saga.Strategy != "optimistic" {
		t.Errorf("strategy %q: the environment must win over the file", cfg.Saga.Strategy)
	}
	if cfg.Saga.LockTTL != 5*time.Second || cfg.HTTP.Addr != "127.0.0.1:9000" {
		t.Errorf("file values lost: %+v", cfg)
	}
	if cfg.Cache.TTL != time.Minute {
		t.Errorf("cache ttl %s", cfg.Cache.TTL)
	}
}

func TestConfigErrorsAreClear(t *testing.T) {
	cases := []struct {
		name, file string
		env        []string
		want       string
	}{
		{"unknown adapter", "adapters:\n  inventory: cassandra\n", nil, `adapters.inventory: unknown adapter "cassandra"`},
		{"unknown strategy", "", []string{"FLASHSALE_SAGA_STRATEGY=pessimistic"}, `unknown lock strategy "pessimistic"`},
		{"unknown key", "saga:\n  stratgy: lock\n", nil, "field stratgy not found"},
		{"unknown variable", "", []string{"FLASHSALE_SAGA_STRATGY=lock"}, "unknown environment variable FLASHSALE_SAGA_STRATGY"},
		{"bad duration", "", []string{"FLASHSALE_SAGA_LOCK_TTL=soon"}, "FLASHSALE_SAGA_LOCK_TTL"},
		{"bad number", "", []string{"FLASHSALE_SAGA_MAX_QTY_PER_ORDER=ten"}, "FLASHSALE_SAGA_MAX_QTY_PER_ORDER"},
		{"lease shorter than saga", "saga:\n  saga_timeout: 40s\n", nil, "must be shorter than the lease ttl"},
		{"bad rate", "payments:\n  decline_rate: 2\n", nil, "rates must be within [0, 1]"},
		{"bad level", "log:\n  level: loud\n", nil, "log.level"},
		{"admin token of one character", "", []string{"FLASHSALE_ADMIN_TOKEN=x"}, "admin.token: must be at least 16 characters"},
		{"admin token with a trailing space", "", []string{"FLASHSALE_ADMIN_TOKEN=0123456789abcdef0123 "}, "admin.token: character 21 (' ') is not allowed"},
		{"admin token with a leading space", "admin:\n  token: \" 0123456789abcdef0123\"\n", nil, "admin.token: character 1 (' ') is not allowed"},
		{"short metrics token", "", []string{"FLASHSALE_HTTP_METRICS_TOKEN=short"}, "http.metrics_token: must be at least 16 characters"},
		{"no memory bound", "", []string{"FLASHSALE_MEMORY_MAX_SAGAS=0"}, "memory.max_sagas must be positive"},
		{"memory store with a Redis gate", "", []string{"FLASHSALE_ADAPTERS_INVENTORY=redis"}, "adapters.store memory needs adapters.inventory memory"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := ""
			if tc.file != "" {
				path = writeFile(t, tc.file)
			}
			_, err := loadConfig(path, tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestConfigCommandMasksSecrets(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"config"}, []string{"FLASHSALE_ADMIN_TOKEN=hunter2-hunter2-hunter2"}, &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "hunter2-hunter2-hunter2") || !strings.Contains(out.String(), "*****") {
		t.Fatalf("token not masked:\n%s", out.String())
	}
}

// TestTokensOfTheRightShapeAreAccepted: tokens as `openssl rand` makes
// them, hex or base64, pass the start-up check.
func TestTokensOfTheRightShapeAreAccepted(t *testing.T) {
	for _, tok := range []string{"0123456789abcdef", "c2VjcmV0LXRva2VuLWJhc2U2NA==", "A-Za_z.0~9+/xyzxyzxyz"} {
		if _, err := loadConfig("", []string{"FLASHSALE_ADMIN_TOKEN=" + tok, "FLASHSALE_HTTP_METRICS_TOKEN=" + tok}); err != nil {
			t.Errorf("token %q: %v", tok, err)
		}
	}
}

// TestHelpIsNotAnError: asking a command for help prints its usage on
// stdout and succeeds (exit 0).
func TestHelpIsNotAnError(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"serve", "--help"}, {"config", "-h"}, {"reconcile", "--help"}, {"sim", "--help"}, {"strategies", "-h"}} {
		var out, errOut bytes.Buffer
		if err := run(context.Background(), args, nil, &out, &errOut); err != nil {
			t.Errorf("%v: %v (stderr %q)", args, err, errOut.String())
			continue
		}
		if !strings.Contains(out.String(), "usage") && !strings.Contains(out.String(), "-config") && !strings.Contains(out.String(), "-seed") {
			t.Errorf("%v: no usage on stdout: %q", args, out.String())
		}
	}
}

// TestConfigFlagBeforeTheCommand: --config is a top-level flag, as the
// usage says: before the command or after it, not twice with two files.
func TestConfigFlagBeforeTheCommand(t *testing.T) {
	path := writeFile(t, "saga:\n  strategy: lock\n")
	for _, args := range [][]string{{"--config", path, "config"}, {"config", "--config", path}, {"--config", path, "config", "--config", path}} {
		var out bytes.Buffer
		if err := run(context.Background(), args, nil, &out, io.Discard); err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		if !strings.Contains(out.String(), "strategy: lock") {
			t.Fatalf("%v: the file was not read:\n%s", args, out.String())
		}
	}
	other := writeFile(t, "saga:\n  strategy: optimistic\n")
	if err := run(context.Background(), []string{"--config", path, "config", "--config", other}, nil, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "--config given twice") {
		t.Fatalf("two files: %v", err)
	}
	if err := run(context.Background(), []string{"--config", path, "sim"}, nil, io.Discard, io.Discard); err == nil {
		t.Fatal("sim takes no configuration file, yet --config was accepted")
	}
}

func TestUnknownCommand(t *testing.T) {
	for _, args := range [][]string{{"serv"}, {"serv", "--help"}} {
		if err := run(context.Background(), args, nil, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), `unknown command "serv"`) {
			t.Fatalf("%v: %v, want an unknown command error", args, err)
		}
	}
}

// TestServeDemoAndDrain: `flashsale serve` with no configuration serves the
// demo products, sells one, and on shutdown lets an in-flight purchase
// finish before it returns.
func TestServeDemoAndDrain(t *testing.T) {
	cfg := defaultConfig()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Payments.Latency = 300 * time.Millisecond // keeps a purchase in flight during shutdown
	base, stop := startServe(t, cfg, io.Discard)

	var list struct {
		Products []struct {
			ID    string `json:"id"`
			Stock int64  `json:"stock"`
		} `json:"products"`
	}
	getJSON(t, base+"/products", http.StatusOK, &list)
	if len(list.Products) != len(demoProducts) || list.Products[0].ID != "123" || list.Products[0].Stock != 100 {
		t.Fatalf("demo products: %+v", list.Products)
	}

	inFlight := make(chan *http.Response, 1)
	go func() {
		resp, err := http.Post(base+"/purchase", "application/json", strings.NewReader(`{"productId":123,"qty":2}`))
		if err != nil {
			t.Errorf("purchase: %v", err)
			inFlight <- nil
			return
		}
		inFlight <- resp
	}()
	// Wait until the purchase holds its reservation (it is then in the
	// slow payment step), then shut down as SIGTERM would.
	for {
		var p struct {
			Available int64 `json:"available"`
		}
		getJSON(t, base+"/products/123", http.StatusOK, &p)
		if p.Available == 98 {
			break
		}
		time.Sleep(20 * time.Millisecond) // gentle: the per-client rate limit is on
	}
	shutdown := make(chan error, 1)
	go func() { shutdown <- stop() }() // SIGTERM while the purchase is in flight

	resp := <-inFlight
	if resp == nil {
		t.FailNow()
	}
	defer resp.Body.Close()
	var order struct {
		OrderID string `json:"orderId"`
		Status  string `json:"status"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&order); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusCreated || order.Status != "CONFIRMED" {
		t.Fatalf("in-flight purchase during shutdown: %d %+v", resp.StatusCode, order)
	}
	if err := <-shutdown; err != nil {
		t.Fatalf("serve returned %v after a clean shutdown", err)
	}
}

func getJSON(t *testing.T, url string, want int, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatal(err)
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "flashsale.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestSimCommand(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"sim", "--runs", "5", "--buyers", "20", "--strategy", "none,lock"}, nil, &out, io.Discard)
	if err != nil {
		t.Fatalf("sim: %v\n%s", err, out.String())
	}
	for _, want := range []string{"faults: crash,payment,redis-failover,events,mysql-failover,lock-pause", "none", "lock", "violations"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("summary lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "optimistic") {
		t.Fatal("ran a strategy that was not asked for")
	}
}

func TestSimCommandReplaysASeed(t *testing.T) {
	args := []string{"sim", "--seed", "7", "--runs", "1", "--buyers", "10", "--strategy", "lock", "--trace"}
	var a, b bytes.Buffer
	if err := run(context.Background(), args, nil, &a, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), args, nil, &b, io.Discard); err != nil {
		t.Fatal(err)
	}
	if withoutWallTime(a.String()) != withoutWallTime(b.String()) || !strings.Contains(a.String(), "lock.Acquire lock:product:") {
		t.Fatalf("a replay printed a different trace, or no trace:\n%s", a.String())
	}
}

// withoutWallTime drops the summary's wall-time line, the one line of a
// sim's output that is not a function of its flags.
func withoutWallTime(out string) string {
	var keep []string
	for line := range strings.Lines(out) {
		if !strings.HasPrefix(line, "wall time ") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "")
}

func TestSimCommandPrintsWallTimeAndRate(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"sim", "--runs", "3", "--buyers", "20", "--strategy", "none"}, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^wall time [0-9.]+(ms|s|µs): [1-9][0-9]* sagas, [1-9][0-9]* sagas/s$`).MatchString(out.String()) {
		t.Fatalf("no wall time and rate line:\n%s", out.String())
	}
}

// TestSimCommandStopsWhenInterrupted: the context's end (Ctrl-C, SIGTERM)
// stops a run that would take hours, and the summary of what ran is
// printed.
func TestSimCommandStopsWhenInterrupted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var out bytes.Buffer
	err := run(ctx, []string{"sim", "--runs", "1000000", "--buyers", "50"}, nil, &out, io.Discard)
	total := fmt.Sprintf("of %d runs", 1000000*len(app.Strategies())) // a million per registered strategy
	if err == nil || !strings.Contains(err.Error(), "interrupted after") || !strings.Contains(err.Error(), total) {
		t.Fatalf("want an interruption, got %v", err)
	}
	if !strings.Contains(out.String(), "wall time") || !strings.Contains(out.String(), "violations") {
		t.Fatalf("no summary of what ran:\n%s", out.String())
	}
	// One long run stops too, between two steps.
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	out.Reset()
	err = run(ctx, []string{"sim", "--runs", "1", "--buyers", "10000000", "--strategy", "none"}, nil, &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "interrupted after 0 of 1 runs") {
		t.Fatalf("want the one run interrupted, got %v", err)
	}
}

// TestSimCommandCatchesAPlantedBug: --bug plants one, the run fails as the
// invariant it breaks, and the replay line carries the bug.
func TestSimCommandCatchesAPlantedBug(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"sim", "--runs", "3", "--buyers", "40", "--products", "2", "--stock", "8",
		"--strategy", "none", "--bug", "skip-refund"}, nil, &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "broke an invariant") {
		t.Fatalf("want the planted bug caught, got %v", err)
	}
	if !strings.Contains(out.String(), "VIOLATION I4") || !strings.Contains(out.String(), "--bug skip-refund --trace") {
		t.Fatalf("no I4 violation with its replay line:\n%s", out.String())
	}
}

func TestSimCommandRejectsBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"sim", "--faults", "meteor"},
		{"sim", "--strategy", "pessimistic"},
		{"sim", "--runs", "0"},
		{"sim", "--runs", "-3"},
		{"sim", "--buyers", "100000000000"},
		{"sim", "--stock", "0"},
		{"sim", "--instances", "65"},
		{"sim", "--products", "x"},
		{"sim", "--bug", "no-such-bug"},
		{"sim", "extra"},
	} {
		var out bytes.Buffer
		err := run(context.Background(), args, nil, &out, io.Discard)
		if !errors.As(err, new(usageError)) {
			t.Errorf("%v: want a usage error, got %v", args, err)
		}
		if out.Len() > 0 {
			t.Errorf("%v: ran before refusing:\n%s", args, out.String())
		}
	}
}

// lockedBuffer is a log sink the server writes from many goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

const testMetricsToken = "metrics-token-for-tests"

// TestServeMetricsOnTheirOwnListener: with http.metrics_addr, metrics are
// served there without a token, and the API's listener has no /metrics.
func TestServeMetricsOnTheirOwnListener(t *testing.T) {
	cfg := defaultConfig()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.HTTP.MetricsAddr = "127.0.0.1:0"
	logs := &lockedBuffer{}
	base, _ := startServe(t, cfg, logs)
	var addr string
	for _, line := range logs.lines() {
		var rec struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "metrics serving" {
			addr = rec.Addr
		}
	}
	if addr == "" {
		t.Fatalf("no \"metrics serving\" line in the log:\n%s", strings.Join(logs.lines(), "\n"))
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "go_goroutines") {
		t.Fatalf("metrics listener: %d %.200s", resp.StatusCode, body)
	}
	if resp, err := http.Get(base + "/metrics"); err != nil || resp.StatusCode != http.StatusNotFound {
		t.Fatalf("/metrics on the API listener: %v %v", resp, err)
	}
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Split(strings.TrimSpace(l.b.String()), "\n")
}

// TestServeMetricsAndLogs: after a purchase, /metrics shows it, and the
// purchase's log line carries the request, saga and order IDs.
func TestServeMetricsAndLogs(t *testing.T) {
	cfg := defaultConfig()
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.HTTP.MetricsToken = testMetricsToken
	logs := &lockedBuffer{}
	base, _ := startServe(t, cfg, logs)

	req, _ := http.NewRequest(http.MethodPost, base+"/purchase", strings.NewReader(`{"productId":"124","qty":1}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Request-ID", "req-metrics-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var order struct{ OrderID, SagaID string }
	_ = json.NewDecoder(resp.Body).Decode(&order)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("X-Request-ID") != "req-metrics-1" {
		t.Fatalf("purchase: %d, X-Request-ID %q", resp.StatusCode, resp.Header.Get("X-Request-ID"))
	}

	// Metrics answer to their token only.
	if resp, err := http.Get(base + "/metrics"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("/metrics without the token: %v %v", resp, err)
	}
	mreq, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	mreq.Header.Set("Authorization", "Bearer "+testMetricsToken)
	mresp, err := http.DefaultClient.Do(mreq)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	for _, want := range []string{
		`flashsale_purchases_total{outcome="completed",strategy="none"} 1`,
		`flashsale_http_requests_total{method="POST",route="/purchase",status="201"} 1`,
		`flashsale_saga_step_duration_seconds_count{step="charge"} 1`,
		`flashsale_events_total{kind="lock_busy"} 0`,
		`go_goroutines`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	found := false
	for _, line := range logs.lines() {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["msg"] != "purchase" {
			continue
		}
		found = true
		if rec["request_id"] != "req-metrics-1" || rec["saga_id"] != order.SagaID || rec["order_id"] != order.OrderID || rec["outcome"] != "completed" {
			t.Errorf("purchase log line lacks its IDs or outcome: %s", line)
		}
	}
	if !found {
		t.Fatalf("no purchase log line in:\n%s", strings.Join(logs.lines(), "\n"))
	}
}

// startServe runs serve with cfg in the background, as `flashsale serve`
// would run, and returns its base URL and stop, which shuts it down as
// SIGTERM does and returns serve's result. The test's cleanup stops it too.
func startServe(t *testing.T, cfg Config, logs io.Writer) (base string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	served := make(chan error, 1)
	go func() { served <- serve(ctx, cfg, logs, ready) }()
	select {
	case addr := <-ready:
		base = "http://" + addr
	case err := <-served:
		cancel()
		t.Fatalf("serve: %v", err)
	}
	var once sync.Once
	var result error
	stop = func() error {
		once.Do(func() { cancel(); result = <-served })
		return result
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return base, stop
}

// TestEveryTaggedSecretIsMasked sets every field tagged secret, wherever
// it is in the configuration, and finds none of them in the masked
// output; a DSN keeps all but its password. A secret added later is
// covered by its tag alone.
func TestEveryTaggedSecretIsMasked(t *testing.T) {
	cfg := defaultConfig()
	const secret = "s3cret-s3cret-s3cret"
	n := 0
	var set func(v reflect.Value)
	set = func(v reflect.Value) {
		for i := range v.NumField() {
			f, field := v.Field(i), v.Type().Field(i)
			switch kind := field.Tag.Get("secret"); {
			case kind == "dsn":
				f.Set(reflect.ValueOf([]string{"user:" + secret + "@tcp(db:3306)/flashsale"}))
				n++
			case kind != "" && f.Kind() == reflect.String:
				f.SetString(secret)
				n++
			case kind != "":
				f.Set(reflect.ValueOf([]string{secret}))
				n++
			case f.Kind() == reflect.Struct:
				set(f)
			}
		}
	}
	set(reflect.ValueOf(&cfg).Elem())
	if n < 5 {
		t.Fatalf("found %d secret fields, want the 5 known at least", n)
	}
	out := cfg.masked()
	if strings.Contains(out, secret) {
		t.Fatalf("a secret shows in the masked configuration:\n%s", out)
	}
	if !strings.Contains(out, "user:*****@tcp(db:3306)/flashsale") {
		t.Fatalf("a DSN lost more than its password:\n%s", out)
	}
	if cfg.MySQL.PrimaryDSNs[0] != "user:"+secret+"@tcp(db:3306)/flashsale" {
		t.Fatal("masking changed the caller's configuration")
	}
}
