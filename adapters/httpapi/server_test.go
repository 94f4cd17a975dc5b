package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/httpapi"
	"github.com/flashsale/flashsale/adapters/payment"
	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
)

var (
	completedEvents = []string{"SagaStarted", "InventoryReserved", "OrderCreated", "PaymentProcessed", "OrderConfirmed"}
	// A declined charge took nothing, so there is no PaymentRefunded.
	declinedEvents = []string{"SagaStarted", "InventoryReserved", "OrderCreated", "OrderCancelled", "InventoryReleased", "SagaCompensated"}
	// A timed-out charge that did take the money is refunded.
	refundedEvents = []string{"SagaStarted", "InventoryReserved", "OrderCreated", "PaymentRefunded", "OrderCancelled", "InventoryReleased", "SagaCompensated"}
)

// statusCase is one documented status of the API.
type statusCase struct {
	name string
	opts fixtureOpts
	// setup runs before the snapshot is taken.
	setup func(t *testing.T, f *fixture)
	req   func(f *fixture) request
	// status and, for an error, its problem code.
	status     int
	code       string
	retryAfter bool
	// unchanged: the request must not change the state snapshot.
	unchanged bool
	check     func(t *testing.T, f *fixture, rec *httptest.ResponseRecorder, before snapshot)
}

func fixed(r request) func(*fixture) request { return func(*fixture) request { return r } }

func jsonPost(path, body string) request {
	return request{method: http.MethodPost, path: path, body: body, header: map[string]string{"Content-Type": "application/json"}}
}

func adminPost(body string) request {
	return request{method: http.MethodPost, path: "/products", body: body, header: map[string]string{
		"Content-Type": "application/json", "Authorization": "Bearer " + adminToken,
	}}
}

func TestDocumentedStatuses(t *testing.T) {
	cases := []statusCase{
		{
			name: "200 GET /products lists the seeded products", status: http.StatusOK, unchanged: true,
			req: fixed(request{method: http.MethodGet, path: "/products"}),
			check: func(t *testing.T, f *fixture, rec *httptest.ResponseRecorder, _ snapshot) {
				var body struct {
					Products []productView `json:"products"`
				}
				assertJSON(t, rec, http.StatusOK, &body)
				if len(body.Products) != len(seeded) {
					t.Fatalf("listed %d products, want %d: %s", len(body.Products), len(seeded), rec.Body.String())
				}
				for i := 1; i < len(body.Products); i++ {
					if body.Products[i-1].ID >= body.Products[i].ID {
						t.Errorf("products not ordered by ID: %v", sortedIDs(body.Products))
					}
				}
				byID := map[string]productView{}
				for _, p := range body.Products {
					byID[p.ID] = p
				}
				for _, s := range seeded {
					p, ok := byID[string(s.id)]
					if !ok {
						t.Errorf("product %s not listed", s.id)
						continue
					}
					if p.Name != s.name || p.PriceMinor != s.price || p.Stock != s.stock || p.Version != 1 {
						t.Errorf("listed %+v, want name %q price %d stock %d version 1", p, s.name, s.price, s.stock)
					}
				}
			},
		},
		{
			name: "200 GET /products/:id with available", status: http.StatusOK, unchanged: true,
			setup: func(t *testing.T, f *fixture) {
				// A held reservation lowers available but not stock.
				if err := f.inv.Reserve(context.Background(), domain.Reservation{SagaID: "held-1", ProductID: "p1", Qty: 2, Deadline: epoch.Add(time.Hour)}); err != nil {
					t.Fatal(err)
				}
			},
			req: fixed(request{method: http.MethodGet, path: "/products/p1"}),
			check: func(t *testing.T, f *fixture, rec *httptest.ResponseRecorder, _ snapshot) {
				var p productView
				assertJSON(t, rec, http.StatusOK, &p)
				if p.ID != "p1" || p.Name != "Flash widget" || p.PriceMinor != 1000 || p.Stock != 5 {
					t.Errorf("product = %+v", p)
				}
				if p.Available == nil {
					t.Fatalf("no available member: %s", rec.Body.String())
				}
				if *p.Available != 3 {
					t.Errorf("available = %d, want 3 (stock 5 - 2 reserved)", *p.Available)
				}
			},
		},
		{
			name: "404 product_not_found", status: http.StatusNotFound, code: "product_not_found", unchanged: true,
			req: fixed(request{method: http.MethodGet, path: "/products/nope"}),
		},
		{
			name: "201 POST /purchase", status: http.StatusCreated,
			req: fixed(jsonPost("/purchase", `{"productId":"p1","qty":2}`)),
			check: func(t *testing.T, f *fixture, rec *httptest.ResponseRecorder, before snapshot) {
				var r purchaseResult
				assertJSON(t, rec, http.StatusCreated, &r)
				if r.OrderID == "" || r.SagaID == "" || r.Status != "CONFIRMED" || r.ProductID != "p1" || r.Qty != 2 || r.AmountMinor != 2000 {
					t.Errorf("purchase answer = %+v", r)
				}
				if loc := rec.Header().Get("Location"); loc != "/orders/"+r.OrderID {
					t.Errorf("Location = %q, want /orders/%s", loc, r.OrderID)
				}
				if l := f.level("p1"); l.Stock != 3 || l.Reserved != 0 {
					t.Errorf("gate after purchase: stock %d reserved %d, want 3 and 0", l.Stock, l.Reserved)
				}
				if p := f.product("p1"); p.Stock != 3 {
					t.Errorf("catalog stock after purchase = %d, want 3", p.Stock)
				}
				if e := f.pay.Ledger()[domain.SagaID(r.SagaID)]; !e.Charged || e.Refunded || e.AmountMinor != 2000 {
					t.Errorf("ledger entry = %+v, want charged 2000", e)
				}
				if n := len(f.store.Sagas()); n != before.Sagas+1 {
					t.Errorf("sagas = %d, want %d", n, before.Sagas+1)
				}
			},
		},
		{
			name: "200 GET /orders/:id of a completed purchase", status: http.StatusOK,
			req: func(f *fixture) request {
				r := f.mustBuy("p2", 1)
				return request{method: http.MethodGet, path: "/orders/" + r.OrderID}
			},
			check: func(t *testing.T, f *fixture, rec *httptest.ResponseRecorder, _ snapshot) {
				var o orderResult
				assertJSON(t, rec, http.StatusOK, &o)
				if o.Order.Status != "CONFIRMED" || o.Order.ProductID != "p2" || o.Order.Qty != 1 || o.Order.AmountMinor != 2500 {
					t.Errorf("order = %+v", o.Order)
				}
				if o.Saga.Status != "COMPLETED" || !o.Saga.Charged || o.Saga.Refunded || o.Saga.ID != o.Order.SagaID || o.Saga.Strategy != "none" {
					t.Errorf("saga = %+v (order's saga %s)", o.Saga, o.Order.SagaID)
				}
				assertTimeline(t, o, completedEvents)
			},
		},
		{
			name: "404 order_not_found", status: http.StatusNotFound, code: "order_not_found", unchanged: true,
			req: fixed(request{method: http.MethodGet, path: "/orders/no-such-order"}),
		},
		{
			name: "400 invalid_request", status: http.StatusBadRequest, code: "invalid_request", unchanged: true,
			req: fixed(jsonPost("/purchase", `{"productId":"p1","qty":0}`)),
		},
		{
			name: "409 insufficient_stock", status: http.StatusConflict, code: "insufficient_stock", unchanged: true,
			req: fixed(jsonPost("/purchase", `{"productId":"p1","qty":6}`)),
		},
		{
			name: "409 lock_busy with Retry-After", status: http.StatusConflict, code: "lock_busy", retryAfter: true, unchanged: true,
			opts:  fixtureOpts{strategy: app.StrategyLock},
			setup: holdLock("p1"),
			req:   fixed(jsonPost("/purchase", `{"productId":"p1","qty":1}`)),
		},
		{
			name: "402 payment_declined, compensated", status: http.StatusPaymentRequired, code: "payment_declined",
			setup: func(t *testing.T, f *fixture) { f.setOutcome(payment.Decline) },
			req:   fixed(jsonPost("/purchase", `{"productId":"p1","qty":2}`)),
			check: func(t *testing.T, f *fixture, rec *httptest.ResponseRecorder, before snapshot) {
				p := assertProblem(t, rec, http.StatusPaymentRequired, "payment_declined")
				o := assertCompensated(t, f, p, before, "payment_declined")
				assertTimeline(t, o, declinedEvents)
				if e := f.pay.Ledger()[domain.SagaID(p.SagaID)]; !e.Declined || e.Charged || e.Refunded {
					t.Errorf("ledger entry = %+v, want declined only", e)
				}
			},
		},
		{
			name: "409 purchase_compensated when the payment times out: final, refunded", status: http.StatusConflict, code: "purchase_compensated",
			setup: func(t *testing.T, f *fixture) { f.setOutcome(payment.TimeoutCharged) },
			req:   fixed(jsonPost("/purchase", `{"productId":"p1","qty":2}`)),
			check: func(t *testing.T, f *fixture, rec *httptest.ResponseRecorder, before snapshot) {
				p := assertProblem(t, rec, http.StatusConflict, "purchase_compensated")
				o := assertCompensated(t, f, p, before, app.ReasonPaymentFailed)
				if !o.Saga.Refunded || o.Saga.Charged {
					t.Errorf("saga = %+v, want the taken charge refunded and the saga never completed", o.Saga)
				}
				assertTimeline(t, o, refundedEvents)
				if e := f.pay.Ledger()[domain.SagaID(p.SagaID)]; !e.Charged || !e.Refunded {
					t.Errorf("ledger entry = %+v, want charged and refunded", e)
				}
			},
		},
		{
			name: "503 unavailable when the catalog is down: nothing changes", status: http.StatusServiceUnavailable, code: "unavailable", retryAfter: true, unchanged: true,
			setup: func(t *testing.T, f *fixture) { f.catalogDown.Store(true) },
			req:   fixed(jsonPost("/purchase", `{"productId":"p1","qty":2}`)),
		},
		{
			name: "503 unavailable on a product read with the catalog down and a cold cache", status: http.StatusServiceUnavailable, code: "unavailable", retryAfter: true, unchanged: true,
			setup: func(t *testing.T, f *fixture) { f.catalogDown.Store(true) },
			req:   fixed(request{method: http.MethodGet, path: "/products/p2"}),
		},
		{
			name: "413 body_too_large", status: http.StatusRequestEntityTooLarge, code: "body_too_large", unchanged: true,
			req: fixed(jsonPost("/purchase", `{"productId":"p1","qty":1,"pad":"`+strings.Repeat("a", 1<<20)+`"}`)),
		},
		{
			name: "415 unsupported_media_type", status: http.StatusUnsupportedMediaType, code: "unsupported_media_type", unchanged: true,
			req: fixed(request{method: http.MethodPost, path: "/purchase", body: `{"productId":"p1","qty":1}`, header: map[string]string{"Content-Type": "text/plain"}}),
		},
		{
			name: "422 idempotency_key_reused", status: http.StatusUnprocessableEntity, code: "idempotency_key_reused", unchanged: true,
			setup: func(t *testing.T, f *fixture) {
				assertJSON(t, f.purchase(`{"productId":"p1","qty":1}`, "key-422"), http.StatusCreated, nil)
			},
			req: func(*fixture) request {
				r := jsonPost("/purchase", `{"productId":"p1","qty":2}`)
				r.header["Idempotency-Key"] = "key-422"
				return r
			},
		},
		{
			name: "401 unauthorized without a token", status: http.StatusUnauthorized, code: "unauthorized", unchanged: true,
			req:   fixed(jsonPost("/products", `{"id":"p1","addStock":5}`)),
			check: assertChallenge,
		},
		{
			name: "401 unauthorized with a wrong token", status: http.StatusUnauthorized, code: "unauthorized", unchanged: true,
			req: fixed(request{method: http.MethodPost, path: "/products", body: `{"id":"p1","addStock":5}`, header: map[string]string{
				"Content-Type": "application/json", "Authorization": "Bearer " + adminToken + "x",
			}}),
			check: assertChallenge,
		},
		{
			name: "401 unauthorized with the token under another scheme", status: http.StatusUnauthorized, code: "unauthorized", unchanged: true,
			req: fixed(request{method: http.MethodPost, path: "/products", body: `{"id":"p1","addStock":5}`, header: map[string]string{
				"Content-Type": "application/json", "Authorization": "Basic " + adminToken,
			}}),
			check: assertChallenge,
		},
		{
			name: "403 admin_disabled without an admin token", status: http.StatusForbidden, code: "admin_disabled", unchanged: true,
			opts: fixtureOpts{http: &httpapi.Options{}},
			// An empty bearer token must not match the empty admin token.
			req: fixed(request{method: http.MethodPost, path: "/products", body: `{"id":"p1","addStock":5}`, header: map[string]string{
				"Content-Type": "application/json", "Authorization": "Bearer ",
			}}),
		},
		{
			name: "200 POST /products with the token", status: http.StatusOK,
			req: fixed(adminPost(`{"id":"new-1","name":"New","priceMinor":300,"addStock":7}`)),
			check: func(t *testing.T, f *fixture, rec *httptest.ResponseRecorder, _ snapshot) {
				var p productView
				assertJSON(t, rec, http.StatusOK, &p)
				if p.ID != "new-1" || p.Name != "New" || p.PriceMinor != 300 || p.Stock != 7 || p.Version != 1 {
					t.Errorf("created %+v", p)
				}
				if l := f.level("new-1"); l.Stock != 7 || l.Reserved != 0 {
					t.Errorf("gate: stock %d reserved %d, want 7 and 0", l.Stock, l.Reserved)
				}
			},
		},
		{
			name: "404 not_found for an unknown route", status: http.StatusNotFound, code: "not_found", unchanged: true,
			req: fixed(request{method: http.MethodGet, path: "/no/such/route"}),
		},
		{
			name: "405 method_not_allowed", status: http.StatusMethodNotAllowed, code: "method_not_allowed", unchanged: true,
			req: fixed(request{method: http.MethodDelete, path: "/products"}),
			check: func(t *testing.T, _ *fixture, rec *httptest.ResponseRecorder, _ snapshot) {
				allow := map[string]bool{}
				for _, m := range strings.Split(rec.Header().Get("Allow"), ",") {
					allow[strings.TrimSpace(m)] = true
				}
				if !allow["GET"] || !allow["POST"] || allow["DELETE"] {
					t.Errorf("Allow = %q, want GET and POST", rec.Header().Get("Allow"))
				}
			},
		},
		{
			name: "200 /healthz", status: http.StatusOK, unchanged: true,
			req:   fixed(request{method: http.MethodGet, path: "/healthz"}),
			check: assertStatusMember("ok"),
		},
		{
			name: "200 /readyz without a probe", status: http.StatusOK, unchanged: true,
			req:   fixed(request{method: http.MethodGet, path: "/readyz"}),
			check: assertStatusMember("ready"),
		},
		{
			name: "200 /readyz with a passing probe", status: http.StatusOK, unchanged: true,
			opts: fixtureOpts{http: &httpapi.Options{AdminToken: adminToken, Ready: func(ctx context.Context) error {
				if _, ok := ctx.Deadline(); !ok {
					return errors.New("probe has no deadline")
				}
				return nil
			}}},
			req:   fixed(request{method: http.MethodGet, path: "/readyz"}),
			check: assertStatusMember("ready"),
		},
		{
			name: "503 not_ready", status: http.StatusServiceUnavailable, code: "not_ready", unchanged: true,
			opts: fixtureOpts{http: &httpapi.Options{AdminToken: adminToken, Ready: func(context.Context) error {
				return errors.New("mysql: connection refused")
			}}},
			req: fixed(request{method: http.MethodGet, path: "/readyz"}),
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.opts)
			if tc.setup != nil {
				tc.setup(t, f)
			}
			r := tc.req(f)
			before := f.snapshot()
			rec := f.serve(r)
			if tc.code != "" {
				assertProblem(t, rec, tc.status, tc.code)
			} else {
				assertJSON(t, rec, tc.status, nil)
			}
			assertRetryAfter(t, rec, tc.retryAfter)
			if tc.unchanged {
				assertUnchanged(t, before, f.snapshot())
			}
			if tc.check != nil {
				tc.check(t, f, rec, before)
			}
		})
	}
}

func holdLock(product domain.ProductID) func(*testing.T, *fixture) {
	return func(t *testing.T, f *fixture) {
		t.Helper()
		if err := f.locker.Acquire(context.Background(), app.LockKey(product), "other-holder", time.Minute); err != nil {
			t.Fatalf("hold lock: %v", err)
		}
	}
}

func assertChallenge(t *testing.T, _ *fixture, rec *httptest.ResponseRecorder, _ snapshot) {
	t.Helper()
	if got := rec.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer ") {
		t.Errorf("WWW-Authenticate = %q, want a Bearer challenge", got)
	}
}

func assertStatusMember(want string) func(*testing.T, *fixture, *httptest.ResponseRecorder, snapshot) {
	return func(t *testing.T, _ *fixture, rec *httptest.ResponseRecorder, _ snapshot) {
		t.Helper()
		var body map[string]string
		assertJSON(t, rec, http.StatusOK, &body)
		if !reflect.DeepEqual(body, map[string]string{"status": want}) {
			t.Errorf("body = %v, want status %q", body, want)
		}
	}
}

func assertTimeline(t *testing.T, o orderResult, want []string) {
	t.Helper()
	if got := o.eventTypes(); !reflect.DeepEqual(got, want) {
		t.Errorf("events = %v, want %v", got, want)
	}
	for i, e := range o.Events {
		if e.Seq != i+1 || e.SagaID != o.Saga.ID || e.OrderID != o.Order.ID || e.ID != domain.EventID(domain.SagaID(o.Saga.ID), i+1) {
			t.Errorf("event %d = %+v, want seq %d of saga %s and order %s", i, e, i+1, o.Saga.ID, o.Order.ID)
		}
	}
}

// assertCompensated checks that the saga named by a problem was undone:
// stock back where it was, and GET /orders/:id shows CANCELLED /
// COMPENSATED with reason.
func assertCompensated(t *testing.T, f *fixture, p problem, before snapshot, reason string) orderResult {
	t.Helper()
	if p.SagaID == "" {
		t.Fatal("problem has no sagaId")
	}
	after := f.snapshot()
	if !reflect.DeepEqual(before.Levels, after.Levels) || !reflect.DeepEqual(before.Catalog, after.Catalog) || after.Held != 0 {
		t.Errorf("stock not restored:\nbefore %+v\nafter  %+v", before, after)
	}
	if after.Sagas != before.Sagas+1 {
		t.Errorf("sagas = %d, want %d", after.Sagas, before.Sagas+1)
	}
	s, err := f.store.Saga(context.Background(), domain.SagaID(p.SagaID))
	if err != nil {
		t.Fatalf("saga %s of the problem: %v", p.SagaID, err)
	}
	if !s.HasOrder() {
		t.Fatalf("saga %s has no order", s.ID)
	}
	rec := f.get("/orders/" + string(s.Order.ID))
	var o orderResult
	assertJSON(t, rec, http.StatusOK, &o)
	if o.Order.Status != "CANCELLED" || o.Saga.Status != "COMPENSATED" || o.Saga.Reason != reason || o.Saga.ID != p.SagaID {
		t.Errorf("order %s: order %s, saga %s %s (reason %q), want CANCELLED, COMPENSATED %s (reason %q)",
			s.Order.ID, o.Order.Status, o.Saga.ID, o.Saga.Status, o.Saga.Reason, p.SagaID, reason)
	}
	return o
}

// TestSupplyCreatesRestocksAndInvalidatesCache follows a product from its
// creation through a cached read to a restock that the next read shows
// without waiting for the cache TTL.
func TestSupplyCreatesRestocksAndInvalidatesCache(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	ctx := context.Background()

	var created productView
	assertJSON(t, f.supply(`{"id":"fresh","name":"Fresh","priceMinor":450,"addStock":2}`), http.StatusOK, &created)
	if created.Stock != 2 || created.Version != 1 {
		t.Fatalf("created %+v", created)
	}

	var p productView
	assertJSON(t, f.get("/products/fresh"), http.StatusOK, &p)
	if p.Stock != 2 || p.Available == nil || *p.Available != 2 {
		t.Fatalf("first read %s", f.get("/products/fresh").Body.String())
	}
	if cached, hit, err := f.cache.Get(ctx, "fresh"); err != nil || !hit || cached.Stock != 2 {
		t.Fatalf("the read did not fill the cache: %+v %v %v", cached, hit, err)
	}

	// Restock, keeping name and price.
	var restocked productView
	assertJSON(t, f.supply(`{"id":"fresh","addStock":10}`), http.StatusOK, &restocked)
	if restocked.Stock != 12 || restocked.Name != "Fresh" || restocked.PriceMinor != 450 || restocked.Version != 2 {
		t.Fatalf("restocked %+v", restocked)
	}
	if _, hit, _ := f.cache.Get(ctx, "fresh"); hit {
		t.Fatal("the restock left the stale cache entry in place")
	}

	// No clock advance: the cache TTL has not run out, so only the
	// invalidation can make the next read fresh.
	assertJSON(t, f.get("/products/fresh"), http.StatusOK, &p)
	if p.Stock != 12 || p.Available == nil || *p.Available != 12 || p.Version != 2 {
		t.Errorf("read after restock: %+v (available %v), want stock 12", p, p.Available)
	}
	if l := f.level("fresh"); l.Stock != 12 {
		t.Errorf("gate stock = %d, want 12", l.Stock)
	}

	// The restocked units can be bought.
	r := f.mustBuy("fresh", 10)
	if r.AmountMinor != 4500 {
		t.Errorf("amount = %d, want 4500", r.AmountMinor)
	}
	assertJSON(t, f.get("/products/fresh"), http.StatusOK, &p)
	if *p.Available != 2 {
		t.Errorf("available after buying 10 of 12 = %d, want 2", *p.Available)
	}
}

// TestSupplyByIntegerID: the admin route accepts the seed clients' integer
// IDs as the purchase route does.
func TestSupplyByIntegerID(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	var p productView
	assertJSON(t, f.supply(`{"id":123,"addStock":6}`), http.StatusOK, &p)
	if p.ID != "123" || p.Stock != 10 {
		t.Errorf("restocked %+v, want product 123 with stock 10", p)
	}
}

// TestPurchaseByIntegerProductID: {"productId": 123} buys product "123".
func TestPurchaseByIntegerProductID(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	rec := f.purchase(`{"productId":123,"qty":2}`, "")
	var r purchaseResult
	assertJSON(t, rec, http.StatusCreated, &r)
	if r.ProductID != "123" || r.Qty != 2 || r.AmountMinor != 1400 {
		t.Errorf("purchase = %+v", r)
	}
	if l := f.level("123"); l.Stock != 2 {
		t.Errorf("gate stock = %d, want 2", l.Stock)
	}
}

// TestSellOut: stock 3, three buyers of 1 then a fourth: the fourth is told
// why and the product shows nothing available.
func TestSellOut(t *testing.T) {
	for _, s := range app.Strategies() {
		t.Run(string(s), func(t *testing.T) {
			f := newFixture(t, fixtureOpts{strategy: s})
			for i := range 3 {
				if r := f.mustBuy("p2", 1); r.Status != "CONFIRMED" {
					t.Fatalf("buyer %d: %+v", i, r)
				}
			}
			before := f.snapshot()
			assertProblem(t, f.purchase(`{"productId":"p2","qty":1}`, ""), http.StatusConflict, "insufficient_stock")
			assertUnchanged(t, before, f.snapshot())
			var p productView
			assertJSON(t, f.get("/products/p2"), http.StatusOK, &p)
			if p.Stock != 0 || p.Available == nil || *p.Available != 0 {
				t.Errorf("sold-out product %+v available %v", p, p.Available)
			}
			if l := f.level("p2"); l.Stock != 0 || l.Reserved != 0 {
				t.Errorf("gate: %+v", l)
			}
		})
	}
}

// TestPurchaseOfProductMissingFromGate: a catalog product the gate has not
// loaded is not sold (404) and reads as 0 available.
func TestPurchaseOfProductMissingFromGate(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	// Straight into the catalog, as if the gate lost its data.
	if _, err := f.store.Supply(context.Background(), domain.Supply{ID: "ghost", Name: "Ghost", PriceMinor: 100, AddStock: 3}); err != nil {
		t.Fatal(err)
	}
	var p productView
	assertJSON(t, f.get("/products/ghost"), http.StatusOK, &p)
	if p.Stock != 3 || p.Available == nil || *p.Available != 0 {
		t.Errorf("ghost product %+v available %v, want stock 3 available 0", p, p.Available)
	}
	sagas := len(f.store.Sagas())
	assertProblem(t, f.purchase(`{"productId":"ghost","qty":1}`, ""), http.StatusNotFound, "product_not_found")
	if n := len(f.store.Sagas()); n != sagas {
		t.Errorf("sagas = %d, want %d", n, sagas)
	}
}

// TestLockReleasedAfterPurchase: under the lock strategy a purchase frees
// its lock, so the next buyer is not told "busy".
func TestLockReleasedAfterPurchase(t *testing.T) {
	f := newFixture(t, fixtureOpts{strategy: app.StrategyLock})
	f.mustBuy("p1", 1)
	f.setOutcome(payment.Decline)
	assertProblem(t, f.purchase(`{"productId":"p1","qty":1}`, ""), http.StatusPaymentRequired, "payment_declined")
	f.setOutcome(payment.Approve)
	f.mustBuy("p1", 1)
	if err := f.locker.Acquire(context.Background(), app.LockKey("p1"), "probe", time.Second); err != nil {
		t.Errorf("lock still held after the purchases: %v", err)
	}
}

func TestNotReadyDetail(t *testing.T) {
	// The probe's error goes to the log, not to anonymous clients: it may
	// name hosts or connection strings.
	f := newFixture(t, fixtureOpts{http: &httpapi.Options{Ready: func(context.Context) error { return fmt.Errorf("redis 10.0.0.7:6379 down") }}})
	p := assertProblem(t, f.get("/readyz"), http.StatusServiceUnavailable, "not_ready")
	if strings.Contains(p.Detail, "10.0.0.7") || strings.Contains(p.Detail, "redis") {
		t.Errorf("detail leaks the probe's error: %q", p.Detail)
	}
}

func TestNewRequiresApp(t *testing.T) {
	if h, err := httpapi.New(nil, httpapi.Options{}); err == nil || h != nil {
		t.Errorf("New(nil app) = %v, %v; want an error", h, err)
	}
}

// TestMaxBodyBytesOption: a smaller limit is applied, a body under it passes.
func TestMaxBodyBytesOption(t *testing.T) {
	f := newFixture(t, fixtureOpts{http: &httpapi.Options{MaxBodyBytes: 40}})
	assertJSON(t, f.purchase(`{"productId":"p1","qty":1}`, ""), http.StatusCreated, nil)
	before := f.snapshot()
	assertProblem(t, f.purchase(`{"productId":"p1",   "qty":1,   "x":"0123456789"}`, ""), http.StatusRequestEntityTooLarge, "body_too_large")
	assertUnchanged(t, before, f.snapshot())
}

// TestConcurrentBuyersOverHTTP is the seed's scenario over the API: ten
// buyers at once, stock 9: nine orders, one told why; at rest stock 0,
// reserved 0. Under the lock strategy the losers are told "busy, retry"
// instead, and never a 5xx.
func TestConcurrentBuyersOverHTTP(t *testing.T) {
	for _, s := range app.Strategies() {
		t.Run(string(s), func(t *testing.T) {
			f := newFixture(t, fixtureOpts{strategy: s, payLatency: 20 * time.Millisecond})
			assertJSON(t, f.supply(`{"id":"hot","name":"Hot","priceMinor":100,"addStock":9}`), http.StatusOK, nil)
			const buyers = 10
			recs := make([]*httptest.ResponseRecorder, buyers)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range buyers {
				wg.Go(func() {
					<-start
					recs[i] = f.purchase(`{"productId":"hot","qty":1}`, fmt.Sprintf("buyer-%d", i))
				})
			}
			close(start)
			wg.Wait()

			created, insufficient, busy := 0, 0, 0
			orders := map[string]bool{}
			for i, rec := range recs {
				switch {
				case rec.Code == http.StatusCreated:
					var r purchaseResult
					assertJSON(t, rec, http.StatusCreated, &r)
					orders[r.OrderID] = true
					created++
				case rec.Code == http.StatusConflict && decodeProblem(t, rec).Code == "insufficient_stock":
					assertProblem(t, rec, http.StatusConflict, "insufficient_stock")
					insufficient++
				case rec.Code == http.StatusConflict && s != app.StrategyNone:
					// lock_busy under lock, contention under optimistic.
					p := assertProblem(t, rec, http.StatusConflict, decodeProblem(t, rec).Code)
					if p.Code != "lock_busy" && p.Code != "contention" {
						t.Errorf("buyer %d: %s", i, rec.Body)
					}
					assertRetryAfter(t, rec, true)
					busy++
				default:
					t.Errorf("buyer %d: %d %s", i, rec.Code, rec.Body)
				}
			}
			t.Logf("%d created, %d insufficient, %d busy", created, insufficient, busy)
			if len(orders) != created {
				t.Errorf("%d orders for %d answers", len(orders), created)
			}
			if s == app.StrategyNone && (created != 9 || insufficient != 1) {
				t.Errorf("created %d, insufficient %d; want 9 and 1", created, insufficient)
			}
			if created > 9 || created == 0 {
				t.Errorf("created %d of a stock of 9", created)
			}
			l, p := f.level("hot"), f.product("hot")
			if l.Stock != 9-int64(created) || l.Reserved != 0 || p.Stock != l.Stock {
				t.Errorf("at rest: gate %+v, catalog stock %d; want %d, reserved 0", l, p.Stock, 9-created)
			}
			if c := f.pay.ChargesApplied(); c != int64(created) {
				t.Errorf("charges = %d, want %d", c, created)
			}
		})
	}
}

// TestTrailingSlash documents gin's trailing-slash redirect: a redirect,
// not a problem, never a 5xx, and nothing is bought.
func TestTrailingSlash(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	before := f.snapshot()
	for _, r := range []request{
		{method: http.MethodGet, path: "/products/"},
		{method: http.MethodGet, path: "/products/p1/"},
		jsonPost("/purchase/", `{"productId":"p1","qty":1}`),
	} {
		rec := f.serve(r)
		switch rec.Code {
		case http.StatusMovedPermanently, http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
			if loc := rec.Header().Get("Location"); !strings.HasSuffix(loc, strings.TrimSuffix(r.path, "/")) {
				t.Errorf("%s %s: Location %q", r.method, r.path, loc)
			}
		case http.StatusNotFound:
			assertProblem(t, rec, http.StatusNotFound, "not_found")
		default:
			t.Errorf("%s %s: %d %s", r.method, r.path, rec.Code, rec.Body)
		}
		t.Logf("%s %s -> %d", r.method, r.path, rec.Code)
	}
	assertUnchanged(t, before, f.snapshot())
}
