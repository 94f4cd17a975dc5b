package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/httpapi"
)

// TestRateLimitPerClient: a burst from one client gets 429 with
// Retry-After and the problem body, while another client is served.
func TestRateLimitPerClient(t *testing.T) {
	f := newFixture(t, fixtureOpts{http: &httpapi.Options{RateLimit: httpapi.RateLimit{PerSecond: 1, Burst: 5}}})
	flood := request{method: http.MethodGet, path: "/products/p1", remote: "198.51.100.7:4000"}
	limited := 0
	for i := range 20 {
		rec := f.serve(flood)
		switch rec.Code {
		case http.StatusOK:
			if i >= 6 { // 5 in the burst, at most one more refilled meanwhile
				t.Fatalf("request %d of the burst was served", i+1)
			}
		case http.StatusTooManyRequests:
			limited++
			assertProblem(t, rec, http.StatusTooManyRequests, "rate_limited")
			assertRetryAfter(t, rec, true)
		default:
			t.Fatalf("request %d: %d %s", i+1, rec.Code, rec.Body)
		}
	}
	if limited < 14 {
		t.Fatalf("%d of 20 requests limited, want at least 14", limited)
	}
	other := f.serve(request{method: http.MethodGet, path: "/products/p1", remote: "203.0.113.9:5000"})
	if other.Code != http.StatusOK {
		t.Fatalf("another client got %d while the first was limited", other.Code)
	}
	// Health checks are never limited: the load balancer must see the
	// instance even under a flood.
	if rec := f.serve(request{method: http.MethodGet, path: "/healthz", remote: "198.51.100.7:4000"}); rec.Code != http.StatusOK {
		t.Fatalf("healthz under the flood: %d", rec.Code)
	}
}

// TestProxyAddressesAreTrustedOnlyWhenConfigured: behind nginx the client
// is the forwarded address; otherwise X-Forwarded-For is ignored, so a
// client cannot dodge its limit by lying about its address.
func TestProxyAddressesAreTrustedOnlyWhenConfigured(t *testing.T) {
	limit := httpapi.RateLimit{PerSecond: 0.001, Burst: 1}
	spoof := func(xff string) request {
		return request{method: http.MethodGet, path: "/products/p1", remote: "10.0.0.2:1000", header: map[string]string{"X-Forwarded-For": xff}}
	}
	open := newFixture(t, fixtureOpts{http: &httpapi.Options{RateLimit: limit}})
	if open.serve(spoof("1.1.1.1")).Code != http.StatusOK || open.serve(spoof("2.2.2.2")).Code != http.StatusTooManyRequests {
		t.Fatal("an untrusted X-Forwarded-For changed who the client is")
	}
	proxied := newFixture(t, fixtureOpts{http: &httpapi.Options{RateLimit: limit, TrustedProxies: []string{"10.0.0.2"}}})
	if proxied.serve(spoof("1.1.1.1")).Code != http.StatusOK || proxied.serve(spoof("2.2.2.2")).Code != http.StatusOK {
		t.Fatal("behind a trusted proxy, two forwarded clients must be limited separately")
	}
	if proxied.serve(spoof("1.1.1.1")).Code != http.StatusTooManyRequests {
		t.Fatal("the forwarded client was not limited")
	}
}

// TestLoadIsShedNotQueued: past MaxInFlight a request is answered 503 at
// once, and the request in flight completes.
func TestLoadIsShedNotQueued(t *testing.T) {
	f := newFixture(t, fixtureOpts{payLatency: 300 * time.Millisecond, http: &httpapi.Options{MaxInFlight: 1}})
	done := make(chan *httptest.ResponseRecorder, 1)
	go func() { done <- f.purchase(`{"productId":"p1","qty":1}`, "") }()
	// Wait until the first purchase holds its reservation: it is in flight.
	for {
		l, err := f.inv.Level(context.Background(), "p1")
		if err != nil {
			t.Fatal(err)
		}
		if l.Reserved == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	rec := f.get("/products")
	assertProblem(t, rec, http.StatusServiceUnavailable, "overloaded")
	assertRetryAfter(t, rec, true)
	if h := f.get("/healthz"); h.Code != http.StatusOK {
		t.Fatalf("healthz while saturated: %d", h.Code)
	}
	if first := <-done; first.Code != http.StatusCreated {
		t.Fatalf("the request in flight: %d %s", first.Code, first.Body)
	}
	if rec := f.get("/products"); rec.Code != http.StatusOK {
		t.Fatalf("after the load passed: %d", rec.Code)
	}
}
