package payment_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/payment"
	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports/porttest"
)

// TestHTTPGatewayContract: the Payments contract holds across the wire.
func TestHTTPGatewayContract(t *testing.T) {
	porttest.Payments(t, func(t *testing.T) porttest.PaymentsHarness {
		g := newGateway(t, payment.Options{})
		var declined sync.Map
		g.SetDecider(func(saga domain.SagaID) payment.Outcome {
			if _, ok := declined.Load(saga); ok {
				return payment.Decline
			}
			return payment.Approve
		})
		srv := httptest.NewServer(payment.Handler(g))
		t.Cleanup(srv.Close)
		client, err := payment.NewHTTPGateway(srv.URL, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return porttest.PaymentsHarness{
			Payments: client,
			Decline:  func(saga domain.SagaID) { declined.Store(saga, true) },
			Held:     func(saga domain.SagaID) int64 { return held(g, saga) },
		}
	})
}

// TestHTTPGatewayUnknownOutcomes: a timeout at the gateway, a dead gateway
// and a hung one are all ErrUnavailable (the outcome is unknown), within
// the call's bound.
func TestHTTPGatewayUnknownOutcomes(t *testing.T) {
	g := newGateway(t, payment.Options{})
	g.SetDecider(func(domain.SagaID) payment.Outcome { return payment.TimeoutCharged })
	srv := httptest.NewServer(payment.Handler(g))
	defer srv.Close()
	client, _ := payment.NewHTTPGateway(srv.URL, time.Second)
	if err := client.Charge(context.Background(), "s-1", 100); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("gateway timeout: %v", err)
	}
	if charged, err := client.Refund(context.Background(), "s-1"); err != nil || !charged {
		t.Fatalf("refund of the ambiguous charge: %v %v, want charged", charged, err)
	}

	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // hang until the test is done (Close waits for handlers)
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer func() { close(release); hung.Close() }()
	slow, _ := payment.NewHTTPGateway(hung.URL, 100*time.Millisecond)
	start := time.Now()
	if err := slow.Charge(context.Background(), "s-2", 100); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("hung gateway: %v", err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("a hung gateway was not bounded by the client timeout")
	}
	dead, _ := payment.NewHTTPGateway("http://127.0.0.1:1", time.Second)
	if err := dead.Ping(context.Background()); !errors.Is(err, domain.ErrUnavailable) {
		t.Fatalf("dead gateway ping: %v", err)
	}
	if _, err := payment.NewHTTPGateway("ftp://x", time.Second); err == nil {
		t.Fatal("a non-HTTP URL was accepted")
	}
}

func TestHandlerRejectsBadRequests(t *testing.T) {
	srv := httptest.NewServer(payment.Handler(newGateway(t, payment.Options{})))
	defer srv.Close()
	for _, body := range []string{``, `{}`, `{"sagaId":"a b"}`, `{"sagaId":"s","x":1}`, `[1]`} {
		resp, err := http.Post(srv.URL+"/charges", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%q: %d, want 400", body, resp.StatusCode)
		}
	}
}

// TestHTTPGatewayKeepsItsConnections: a crowd's concurrent charges reuse
// their connections round after round instead of dialling the gateway
// again (net/http's default keeps two idle connections per host, and 100
// in all: 128 at once exceeds both).
func TestHTTPGatewayKeepsItsConnections(t *testing.T) {
	const conc, rounds = 128, 3
	g := newGateway(t, payment.Options{})
	inner := payment.Handler(g)
	// Every charge of a round is in flight at once, so the round needs conc
	// connections: each handler waits until conc have arrived (or its
	// request ends, so a short round cannot hang the test).
	var mu sync.Mutex
	arrived, all := 0, make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		arrived++
		if arrived%conc == 0 {
			close(all)
		}
		wait := all
		mu.Unlock()
		select {
		case <-wait:
		case <-r.Context().Done():
			return
		}
		inner.ServeHTTP(w, r)
	}))
	var dialled atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dialled.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	client, err := payment.NewHTTPGateway(srv.URL, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for round := range rounds {
		var wg sync.WaitGroup
		for i := range conc {
			wg.Go(func() {
				saga := domain.SagaID(fmt.Sprintf("s-%d-%d", round, i))
				if err := client.Charge(context.Background(), saga, 100); err != nil {
					t.Errorf("charge %s: %v", saga, err)
				}
			})
		}
		wg.Wait()
		mu.Lock()
		all = make(chan struct{}) // the next round's barrier
		mu.Unlock()
	}
	if n := dialled.Load(); n > conc {
		t.Fatalf("%d rounds of %d concurrent charges dialled %d connections, want at most %d", rounds, conc, n, conc)
	}
}

// TestHandlerServesTheLedger: GET /ledger/{sagaId} answers what the
// Simulated gateway recorded, and 404 for a saga it never saw.
func TestHandlerServesTheLedger(t *testing.T) {
	g := newGateway(t, payment.Options{})
	srv := httptest.NewServer(payment.Handler(g))
	defer srv.Close()
	client, _ := payment.NewHTTPGateway(srv.URL, time.Second)
	ctx := context.Background()
	if err := client.Charge(ctx, "s-kept", 250); err != nil {
		t.Fatal(err)
	}
	if err := client.Charge(ctx, "s-back", 300); err != nil {
		t.Fatal(err)
	}
	if _, err := client.Refund(ctx, "s-back"); err != nil {
		t.Fatal(err)
	}
	for saga, want := range map[string]string{
		"s-kept": `{"amountMinor":250,"charged":true,"refunded":false,"declined":false,"voided":false}`,
		"s-back": `{"amountMinor":300,"charged":true,"refunded":true,"declined":false,"voided":false}`,
	} {
		resp, err := http.Get(srv.URL + "/ledger/" + saga)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(b)) != want {
			t.Errorf("GET /ledger/%s: %d %s, want 200 %s", saga, resp.StatusCode, b, want)
		}
	}
	resp, err := http.Get(srv.URL + "/ledger/s-never")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /ledger of an unseen saga: %d, want 404", resp.StatusCode)
	}
}
