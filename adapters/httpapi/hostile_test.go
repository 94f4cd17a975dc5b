package httpapi_test

// Hostile clients, through a real HTTP server: the behaviours here are
// HTTP's (connections, timeouts, net/http's own answers), so they are
// tested over TCP, not with a recorder.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/httpapi"
)

// live serves f's handler on a real listener as cmd/flashsale does: the
// problem listener, a read timeout for the whole request, a header limit.
func (f *fixture) live(readTimeout time.Duration) *httptest.Server {
	f.t.Helper()
	srv := httptest.NewUnstartedServer(f.h)
	srv.Config.ReadTimeout, srv.Config.ReadHeaderTimeout = readTimeout, readTimeout
	srv.Config.MaxHeaderBytes = 8 << 10
	srv.Listener = httpapi.ProblemListener(srv.Listener)
	srv.Start()
	f.t.Cleanup(srv.Close)
	return srv
}

// recorded turns a live response into a recorder, so the assertions the
// other tests use apply to it.
func recorded(t testing.TB, resp *http.Response) *httptest.ResponseRecorder {
	t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read the body: %v", err)
	}
	rec := httptest.NewRecorder()
	for k, vs := range resp.Header {
		rec.Header()[k] = vs
	}
	rec.WriteHeader(resp.StatusCode)
	_, _ = rec.Body.Write(body)
	return rec
}

// raw sends req as bytes on a new connection and reads one response.
func raw(t testing.TB, addr, req string) *httptest.ResponseRecorder {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read the response: %v", err)
	}
	return recorded(t, resp)
}

// slowConns are connections that each sent a purchase's headers and the
// first byte of its body, then nothing, as a client trickling its body
// would.
type slowConns []net.Conn

// slowBodies opens n slow connections.
func slowBodies(t testing.TB, addr string, n int) slowConns {
	t.Helper()
	conns := make(slowConns, 0, n)
	head := "POST /purchase HTTP/1.1\r\nHost: flashsale.test\r\nContent-Type: application/json\r\nContent-Length: 26\r\n\r\n{"
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			conns.close()
			t.Fatalf("connection %d: %v", len(conns)+1, err)
		}
		conns = append(conns, c)
		if _, err := io.WriteString(c, head); err != nil {
			conns.close()
			t.Fatal(err)
		}
	}
	return conns
}

// close hangs them all up.
func (cs slowConns) close() {
	for _, c := range cs {
		c.Close()
	}
}

// answered returns the start of what the server sent on each connection
// it answered (a slow body it reads waits for the rest of it: no answer).
func (cs slowConns) answered() []string {
	var answers []string
	buf := make([]byte, 64)
	for _, c := range cs {
		_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if n, err := c.Read(buf); n > 0 || (err != nil && !errors.Is(err, os.ErrDeadlineExceeded)) {
			answers = append(answers, fmt.Sprintf("%q %v", buf[:n], err))
		}
	}
	return answers
}

// getLatencies GETs path n times, one after another, and returns each
// answer's status and latency.
func getLatencies(t testing.TB, url string, n int) (statuses []int, latencies []time.Duration) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	for range n {
		start := time.Now()
		resp, err := client.Get(url)
		if err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		latencies = append(latencies, time.Since(start))
		statuses = append(statuses, resp.StatusCode)
	}
	return statuses, latencies
}

func p99(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)*99+99)/100-1]
}

// slowBodyConns is the crowd of the slow-body test: as many connections as
// were seen to starve other clients (issue: 2,000 from one address).
const slowBodyConns = 2000

// TestSlowBodiesDoNotStarveOtherClients: connections that trickle their
// purchase bodies hold a connection each, but no in-flight slot, so
// another client's GETs are all served, far past the cap's size. Bounded:
// 2,000 connections for a few seconds.
func TestSlowBodiesDoNotStarveOtherClients(t *testing.T) {
	f := newFixture(t, fixtureOpts{http: &httpapi.Options{MaxInFlight: 64}})
	srv := f.live(20 * time.Second)
	defer slowBodies(t, srv.Listener.Addr().String(), slowBodyConns).close()
	// Give the server the time to read every connection's headers, so
	// each request waits on its body inside the handler chain.
	time.Sleep(500 * time.Millisecond)

	statuses, latencies := getLatencies(t, srv.URL+"/products/p1", 200)
	for i, s := range statuses {
		if s != http.StatusOK {
			t.Fatalf("GET %d of %d while %d bodies trickle: %d", i+1, len(statuses), slowBodyConns, s)
		}
	}
	t.Logf("%d GETs beside %d slow bodies: all 200, p99 %s", len(statuses), slowBodyConns, p99(latencies))
}

// TestBodiesReadAtOnceAreCapped: past MaxReadingBodies, a request with a
// body is answered 503 at once instead of being read, so slow clients
// cannot hold memory without bound; GETs are still served.
func TestBodiesReadAtOnceAreCapped(t *testing.T) {
	const bodyCap = 8
	f := newFixture(t, fixtureOpts{http: &httpapi.Options{MaxInFlight: 64, MaxReadingBodies: bodyCap}})
	srv := f.live(20 * time.Second)
	addr := srv.Listener.Addr().String()
	// Open slow bodies one at a time, each followed by a whole purchase:
	// the purchase is served while the slow ones fit under the cap, and
	// refused before its body is read once they fill it. Opening them one
	// by one, each after an answer, does not race the server's reading of
	// the earlier ones.
	var slow slowConns
	defer func() { slow.close() }()
	for {
		if len(slow) == 4*bodyCap {
			t.Fatalf("%d slow bodies open and whole purchases still read: no cap", len(slow))
		}
		slow = append(slow, slowBodies(t, addr, 1)...)
		rec := raw(t, addr, "POST /purchase HTTP/1.1\r\nHost: flashsale.test\r\nContent-Type: application/json\r\nContent-Length: 26\r\n\r\n{\"productId\":\"p1\",\"qty\":1}")
		if rec.Code == http.StatusServiceUnavailable {
			assertProblem(t, rec, http.StatusServiceUnavailable, "overloaded")
			assertRetryAfter(t, rec, true)
			break
		}
	}
	// Exactly the cap's worth of slow bodies is being read; any slow one
	// past it was refused like the purchase (the server may reach a slow
	// one late, after a purchase sent behind it).
	answers := slow.answered()
	if len(slow)-len(answers) != bodyCap {
		t.Fatalf("%d slow bodies open, %d answered: %d being read, want the cap of %d", len(slow), len(answers), len(slow)-len(answers), bodyCap)
	}
	for _, a := range answers {
		if !strings.Contains(a, "503 Service Unavailable") {
			t.Fatalf("a slow body was answered other than 503: %s", a)
		}
	}
	if rec := f.get("/products/p1"); rec.Code != http.StatusOK {
		t.Fatalf("GET beside a full body cap: %d", rec.Code)
	}
}

// TestRateLimitHoldsAcrossConnections: one client over 1, 32 and 128
// connections gets what its bucket allows, rate × time + burst, within
// 5%: not a multiple of it because its connections reach the bucket
// concurrently.
func TestRateLimitHoldsAcrossConnections(t *testing.T) {
	const (
		rate     = 500.0
		burst    = 50
		duration = 1500 * time.Millisecond
	)
	for _, conns := range []int{1, 32, 128} {
		t.Run(fmt.Sprintf("%d connections", conns), func(t *testing.T) {
			f := newFixture(t, fixtureOpts{http: &httpapi.Options{RateLimit: httpapi.RateLimit{PerSecond: rate, Burst: burst}}})
			srv := f.live(10 * time.Second)
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}}
			defer client.CloseIdleConnections()
			var passed, limited, other atomic.Int64
			start := time.Now()
			deadline := start.Add(duration)
			var wg sync.WaitGroup
			for range conns {
				wg.Go(func() {
					for time.Now().Before(deadline) {
						resp, err := client.Get(srv.URL + "/products/p1")
						if err != nil {
							other.Add(1)
							return
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						switch resp.StatusCode {
						case http.StatusOK:
							passed.Add(1)
						case http.StatusTooManyRequests:
							limited.Add(1)
						default:
							other.Add(1)
						}
					}
				})
			}
			wg.Wait()
			want := rate*duration.Seconds() + burst
			got := float64(passed.Load())
			t.Logf("%d connections: %.0f passed, %d limited; the bucket allows %.0f", conns, got, limited.Load(), want)
			if other.Load() > 0 {
				t.Fatalf("%d requests failed or got another status", other.Load())
			}
			if limited.Load() == 0 {
				t.Fatal("nothing was limited: the load did not reach the limit")
			}
			if got > want*1.05 || got < want*0.95 {
				t.Fatalf("%.0f passed, want %.0f ± 5%%", got, want)
			}
		})
	}
}

// TestHeadAnswersLikeGet: every GET route answers HEAD with GET's status
// and headers and no body (health checkers use HEAD).
func TestHeadAnswersLikeGet(t *testing.T) {
	f := newFixture(t, fixtureOpts{http: &httpapi.Options{AdminToken: adminToken, MetricsHandler: http.NotFoundHandler(), MetricsToken: metricsToken}})
	srv := f.live(5 * time.Second)
	for _, path := range []string{"/healthz", "/readyz", "/openapi.json", "/products", "/products/p1", "/products/nope", "/orders/nope", "/sagas/nope/events", "/metrics"} {
		get, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		getRec := recorded(t, get)
		head, err := http.Head(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		headRec := recorded(t, head)
		if headRec.Code != getRec.Code || headRec.Header().Get("Content-Type") != getRec.Header().Get("Content-Type") {
			t.Errorf("HEAD %s: %d %q; GET: %d %q", path, headRec.Code, headRec.Header().Get("Content-Type"), getRec.Code, getRec.Header().Get("Content-Type"))
		}
		if headRec.Body.Len() != 0 {
			t.Errorf("HEAD %s has a body: %q", path, headRec.Body)
		}
	}
}

// TestBodyTimeoutIs408: a purchase whose body does not arrive within the
// read timeout is answered 408 problem+json, and buys nothing.
func TestBodyTimeoutIs408(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	srv := f.live(300 * time.Millisecond)
	before := f.snapshot()
	rec := raw(t, srv.Listener.Addr().String(),
		"POST /purchase HTTP/1.1\r\nHost: flashsale.test\r\nContent-Type: application/json\r\nContent-Length: 26\r\n\r\n{\"productId\":")
	assertProblem(t, rec, http.StatusRequestTimeout, "request_timeout")
	assertUnchanged(t, before, f.snapshot())
}

// TestServersOwnAnswersAreProblems: what net/http answers by itself before
// any handler runs (headers too large, an unparseable request) is
// problem+json too.
func TestServersOwnAnswersAreProblems(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	srv := f.live(5 * time.Second)
	addr := srv.Listener.Addr().String()
	for _, c := range []struct {
		name, req string
		status    int
		code      string
	}{
		{"headers too large", "GET /products HTTP/1.1\r\nHost: flashsale.test\r\nX-Big: " + strings.Repeat("b", 64<<10) + "\r\n\r\n", http.StatusRequestHeaderFieldsTooLarge, "headers_too_large"},
		{"malformed header line", "GET /products HTTP/1.1\r\nHost: flashsale.test\r\nnot a header\r\n\r\n", http.StatusBadRequest, "bad_request"},
		{"no Host", "GET /products HTTP/1.1\r\n\r\n", http.StatusBadRequest, "bad_request"},
		{"unknown transfer coding", "POST /purchase HTTP/1.1\r\nHost: flashsale.test\r\nTransfer-Encoding: rot13\r\n\r\n", http.StatusNotImplemented, "not_implemented"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := assertProblem(t, raw(t, addr, c.req), c.status, c.code)
			if p.Detail == "" {
				t.Error("the problem has no detail")
			}
		})
	}
	// Everything else passes through untouched.
	if rec := raw(t, addr, "GET /products/p1 HTTP/1.1\r\nHost: flashsale.test\r\n\r\n"); rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != jsonCT {
		t.Fatalf("a normal GET: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
}

// TestTwoIdempotencyKeysAreRefused: which of two keys would the client
// mean? Neither is guessed: 400, and nothing is bought.
func TestTwoIdempotencyKeysAreRefused(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	srv := f.live(5 * time.Second)
	before := f.snapshot()
	rec := raw(t, srv.Listener.Addr().String(), "POST /purchase HTTP/1.1\r\nHost: flashsale.test\r\nContent-Type: application/json\r\n"+
		"Idempotency-Key: first\r\nIdempotency-Key: second\r\nContent-Length: 26\r\n\r\n{\"productId\":\"p1\",\"qty\":1}")
	assertProblem(t, rec, http.StatusBadRequest, "invalid_idempotency_key")
	assertUnchanged(t, before, f.snapshot())
}

// TestMetricsNeedTheirToken: /metrics answers only to the metrics token,
// is off (403) without one, and is under the rate limit like /openapi.json:
// a flood of either cannot slow other clients down.
func TestMetricsNeedTheirToken(t *testing.T) {
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "up 1\n") })
	f := newFixture(t, fixtureOpts{http: &httpapi.Options{MetricsHandler: metrics, MetricsToken: metricsToken,
		RateLimit: httpapi.RateLimit{PerSecond: 0.001, Burst: 3}}})
	scrape := func(remote, token string) *httptest.ResponseRecorder {
		h := map[string]string{}
		if token != "" {
			h["Authorization"] = "Bearer " + token
		}
		return f.serve(request{method: http.MethodGet, path: "/metrics", remote: remote, header: h})
	}
	assertProblem(t, scrape("192.0.2.1:1", ""), http.StatusUnauthorized, "unauthorized")
	assertProblem(t, scrape("192.0.2.2:1", adminToken), http.StatusUnauthorized, "unauthorized")
	if rec := scrape("192.0.2.3:1", metricsToken); rec.Code != http.StatusOK || rec.Body.String() != "up 1\n" {
		t.Fatalf("with the token: %d %q", rec.Code, rec.Body)
	}
	for _, path := range []string{"/metrics", "/openapi.json"} {
		flood := request{method: http.MethodGet, path: path, remote: "198.51.100.9:1", header: map[string]string{"Authorization": "Bearer " + metricsToken}}
		limited := 0
		for range 10 {
			if f.serve(flood).Code == http.StatusTooManyRequests {
				limited++
			}
		}
		if limited < 7 {
			t.Errorf("a flood of %s: %d of 10 limited, want at least 7", path, limited)
		}
	}

	off := newFixture(t, fixtureOpts{http: &httpapi.Options{MetricsHandler: metrics}})
	rec := off.serve(request{method: http.MethodGet, path: "/metrics", header: map[string]string{"Authorization": "Bearer " + metricsToken}})
	assertProblem(t, rec, http.StatusForbidden, "metrics_disabled")
}

// TestProductViewStockIsLive: after a sale, GET /products/{id} shows the
// gate's stock, as GET /products does, not the product cache's copy from
// before the sale; the view says when it was read.
func TestProductViewStockIsLive(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	var before struct {
		Stock     int64 `json:"stock"`
		Available int64 `json:"available"`
	}
	assertJSON(t, f.get("/products/p1"), http.StatusOK, &before) // fills the product cache
	f.mustBuy("p1", 2)
	f.clock.Advance(time.Second) // past the near cache, well within the product cache's TTL
	var after struct {
		Stock         int64     `json:"stock"`
		Available     int64     `json:"available"`
		AvailableAsOf time.Time `json:"availableAsOf"`
	}
	assertJSON(t, f.get("/products/p1"), http.StatusOK, &after)
	var list struct {
		Products []struct {
			ID    string `json:"id"`
			Stock int64  `json:"stock"`
		} `json:"products"`
	}
	assertJSON(t, f.get("/products"), http.StatusOK, &list)
	listed := int64(-1)
	for _, p := range list.Products {
		if p.ID == "p1" {
			listed = p.Stock
		}
	}
	if after.Stock != before.Stock-2 || after.Available != before.Available-2 || after.Stock != listed {
		t.Fatalf("after selling 2 of %d: view stock %d available %d, list stock %d", before.Stock, after.Stock, after.Available, listed)
	}
	if !after.AvailableAsOf.Equal(f.clock.Now()) {
		t.Fatalf("availableAsOf %s, want the read's time %s", after.AvailableAsOf, f.clock.Now())
	}
}
