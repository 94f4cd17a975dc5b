package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/otel/trace"

	"github.com/flashsale/flashsale/adapters/httpapi"
	"github.com/flashsale/flashsale/adapters/memory"
	"github.com/flashsale/flashsale/adapters/payment"
	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.TestMode)
	os.Exit(m.Run())
}

const (
	adminToken   = "secret-token"
	metricsToken = "metrics-token-0123456789"
	jsonCT       = "application/json; charset=utf-8"
	problemCT    = "application/problem+json"
)

var epoch = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// seededProduct is a product every fixture starts with.
type seededProduct struct {
	id    domain.ProductID
	name  string
	price int64
	stock int64
}

// seeded is the catalog of every fresh fixture. "123" is all digits so the
// integer form of productId can buy it; "pricey" makes qty*price overflow.
var seeded = []seededProduct{
	{"p1", "Flash widget", 1000, 5},
	{"p2", "Second widget", 2500, 3},
	{"123", "Numeric widget", 700, 4},
	{"pricey", "Overflow widget", math.MaxInt64, 5},
}

// fixture is one set of memory adapters, an app over them and the HTTP
// handler under test.
type fixture struct {
	t      testing.TB
	clock  *memory.Clock
	ids    *memory.IDs
	inv    *memory.Inventory
	locker *memory.Locker
	store  *memory.Store
	cache  *memory.ProductCache
	events *memory.EventLog
	pay    *payment.Simulated
	app    *app.App
	h      http.Handler

	mu      sync.Mutex
	outcome payment.Outcome // the gateway's answer to every new charge
	// catalogDown makes the catalog fail as an unreachable database would.
	catalogDown atomic.Bool
}

type fixtureOpts struct {
	strategy app.Strategy
	// payLatency delays every charge and refund, so concurrent requests
	// overlap inside the saga.
	payLatency time.Duration
	// http replaces the default options (AdminToken: adminToken).
	http *httpapi.Options
	// tracer, when set, traces the app and the HTTP layer.
	tracer trace.TracerProvider
	// metrics records the app's purchases (nil: none).
	metrics ports.Metrics
}

func newFixture(t testing.TB, o fixtureOpts) *fixture {
	t.Helper()
	clock := memory.NewClock(epoch)
	f := &fixture{
		t:       t,
		clock:   clock,
		ids:     memory.NewIDs("id"),
		inv:     memory.NewInventory(clock),
		locker:  memory.NewLocker(clock),
		store:   memory.NewStore(clock),
		cache:   memory.NewProductCache(clock),
		events:  memory.NewEventLog(),
		outcome: payment.Approve,
	}
	pay, err := payment.NewSimulated(payment.Options{Seed: 1, Latency: o.payLatency})
	if err != nil {
		t.Fatalf("payment.NewSimulated: %v", err)
	}
	f.pay = pay
	f.pay.SetDecider(func(domain.SagaID) payment.Outcome {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.outcome
	})
	f.app, err = app.New(app.Deps{
		Clock: f.clock, IDs: f.ids, Inventory: f.inv, Locker: f.locker, Catalog: flakyCatalog{f.store, &f.catalogDown},
		Cache: f.cache, Sagas: f.store, Orders: f.store, Outbox: f.store, Publisher: f.events,
		Payments: f.pay, Tracer: o.tracer, Metrics: o.metrics,
	}, app.Config{Strategy: o.strategy}, app.Hooks{})
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	opts := httpapi.Options{AdminToken: adminToken}
	if o.http != nil {
		opts = *o.http
	}
	if o.tracer != nil {
		opts.Tracer = o.tracer
	}
	f.h, err = httpapi.New(f.app, opts)
	if err != nil {
		t.Fatalf("httpapi.New: %v", err)
	}
	for _, p := range seeded {
		if _, err := f.app.Supply(context.Background(), domain.Supply{ID: p.id, Name: p.name, PriceMinor: p.price, AddStock: p.stock}); err != nil {
			t.Fatalf("supply %s: %v", p.id, err)
		}
	}
	return f
}

func (f *fixture) setOutcome(o payment.Outcome) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.outcome = o
}

// request is one HTTP request to the handler.
type request struct {
	method string
	path   string
	body   string
	// header values; a nil map means none. Content-Type is not added
	// implicitly by serve.
	header map[string]string
	// remote is the client's address (httptest's default when empty).
	remote string
}

func (f *fixture) serve(r request) *httptest.ResponseRecorder {
	f.t.Helper()
	req := httptest.NewRequest(r.method, "http://flashsale.test"+r.path, strings.NewReader(r.body))
	for k, v := range r.header {
		// Set directly so values a client library would refuse (control
		// characters) still reach the handler.
		req.Header[http.CanonicalHeaderKey(k)] = []string{v}
	}
	if r.remote != "" {
		req.RemoteAddr = r.remote
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	return rec
}

func (f *fixture) get(path string) *httptest.ResponseRecorder {
	f.t.Helper()
	return f.serve(request{method: http.MethodGet, path: path})
}

// purchase posts body to /purchase as JSON, with key as Idempotency-Key
// when it is not empty.
func (f *fixture) purchase(body, key string) *httptest.ResponseRecorder {
	f.t.Helper()
	h := map[string]string{"Content-Type": "application/json"}
	if key != "" {
		h["Idempotency-Key"] = key
	}
	return f.serve(request{method: http.MethodPost, path: "/purchase", body: body, header: h})
}

func (f *fixture) supply(body string) *httptest.ResponseRecorder {
	f.t.Helper()
	return f.serve(request{method: http.MethodPost, path: "/products", body: body, header: map[string]string{
		"Content-Type": "application/json", "Authorization": "Bearer " + adminToken,
	}})
}

// snapshot is the observable state a rejected request must not change.
type snapshot struct {
	Catalog map[domain.ProductID]catalogEntry
	Levels  map[domain.ProductID]levelEntry
	// Held counts the HELD reservations of every catalog product.
	Held        int
	Sagas       int
	Ledger      int
	Unpublished int
}

type catalogEntry struct {
	Stock   int64
	Version int64
	Price   int64
	Name    string
}

type levelEntry struct {
	Stock    int64
	Reserved int64
}

func (f *fixture) snapshot() snapshot {
	f.t.Helper()
	ctx := context.Background()
	s := snapshot{Catalog: map[domain.ProductID]catalogEntry{}, Levels: map[domain.ProductID]levelEntry{}}
	ps, err := f.store.Products(ctx)
	if err != nil {
		f.t.Fatalf("snapshot: products: %v", err)
	}
	for _, p := range ps {
		s.Catalog[p.ID] = catalogEntry{Stock: p.Stock, Version: p.Version, Price: p.PriceMinor, Name: p.Name}
		l, err := f.inv.Level(ctx, p.ID)
		if err != nil {
			f.t.Fatalf("snapshot: level of %s: %v", p.ID, err)
		}
		s.Levels[p.ID] = levelEntry{Stock: l.Stock, Reserved: l.Reserved}
		s.Held += len(f.inv.Reservations(p.ID))
	}
	s.Sagas = len(f.store.Sagas())
	s.Ledger = len(f.pay.Ledger())
	evs, err := f.store.Unpublished(ctx, math.MaxInt32)
	if err != nil {
		f.t.Fatalf("snapshot: unpublished: %v", err)
	}
	s.Unpublished = len(evs)
	return s
}

// assertUnchanged fails t if the state differs from before.
func assertUnchanged(t testing.TB, before, after snapshot) {
	t.Helper()
	if !reflect.DeepEqual(before, after) {
		t.Errorf("state changed by a rejected request:\nbefore %+v\nafter  %+v", before, after)
	}
}

// problemMembers are the members a problem may carry; sagaId is optional.
var problemMembers = map[string]bool{"type": true, "title": true, "status": true, "detail": true, "code": true, "sagaId": false, "dependency": false}

type problem struct {
	Type       string `json:"type"`
	Title      string `json:"title"`
	Status     int    `json:"status"`
	Detail     string `json:"detail"`
	Code       string `json:"code"`
	SagaID     string `json:"sagaId"`
	Dependency string `json:"dependency"`
}

// assertProblem checks status, media type and the exact problem shape,
// and returns the decoded problem.
func assertProblem(t testing.TB, rec *httptest.ResponseRecorder, status int, code string) problem {
	t.Helper()
	ct := rec.Header().Get("Content-Type")
	if rec.Code != status && ct != problemCT {
		t.Fatalf("status = %d (Content-Type %q), want a %d problem; body %s", rec.Code, ct, status, rec.Body.String())
	}
	if rec.Code != status {
		t.Errorf("status = %d, want %d; body %s", rec.Code, status, rec.Body.String())
	}
	if ct != problemCT {
		t.Errorf("Content-Type = %q, want %q", ct, problemCT)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(rec.Body.Bytes(), &members); err != nil {
		t.Fatalf("problem body is not a JSON object: %v; body %q", err, rec.Body.String())
	}
	for name := range members {
		if _, ok := problemMembers[name]; !ok {
			t.Errorf("problem has unexpected member %q; body %s", name, rec.Body.String())
		}
	}
	for name, required := range problemMembers {
		if _, ok := members[name]; required && !ok {
			t.Errorf("problem lacks member %q; body %s", name, rec.Body.String())
		}
	}
	var p problem
	dec := json.NewDecoder(strings.NewReader(rec.Body.String()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("problem members have wrong types: %v; body %s", err, rec.Body.String())
	}
	if p.Status != rec.Code {
		t.Errorf("problem status member = %d, HTTP status = %d", p.Status, rec.Code)
	}
	if p.Code != code {
		t.Errorf("problem code = %q, want %q; body %s", p.Code, code, rec.Body.String())
	}
	if want := "urn:flashsale:problem:" + p.Code; p.Type != want {
		t.Errorf("problem type = %q, want %q", p.Type, want)
	}
	if want := http.StatusText(rec.Code); p.Title != want {
		t.Errorf("problem title = %q, want %q", p.Title, want)
	}
	if strings.TrimSpace(p.Detail) == "" {
		t.Errorf("problem detail is empty; body %s", rec.Body.String())
	}
	if _, ok := members["dependency"]; ok {
		known := []string{"inventory", "store", "payments", "lock"}
		if p.Code != "unavailable" || !slices.Contains(known, p.Dependency) {
			t.Errorf("problem %s names dependency %q: only an unavailable one names one, of %v", p.Code, p.Dependency, known)
		}
	}
	if raw, ok := members["sagaId"]; ok {
		var id string
		if err := json.Unmarshal(raw, &id); err != nil || domain.SagaID(id).Validate() != nil {
			t.Errorf("problem sagaId %s is not a valid saga ID", raw)
		}
	}
	return p
}

// assertJSON checks a success response's status and media type and decodes
// its body into dst (unknown members are allowed).
func assertJSON(t testing.TB, rec *httptest.ResponseRecorder, status int, dst any) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d; body %s", rec.Code, status, rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); ct != jsonCT {
		t.Errorf("Content-Type = %q, want %q", ct, jsonCT)
	}
	if dst != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), dst); err != nil {
			t.Fatalf("body is not the expected JSON: %v; body %s", err, rec.Body.String())
		}
	}
}

func assertRetryAfter(t *testing.T, rec *httptest.ResponseRecorder, want bool) {
	t.Helper()
	got := rec.Header().Get("Retry-After")
	switch {
	case want && got != "1":
		t.Errorf("Retry-After = %q, want \"1\"", got)
	case !want && got != "":
		t.Errorf("Retry-After = %q on a final answer, want none", got)
	}
}

// purchaseResult is the body of a 201 from POST /purchase.
type purchaseResult struct {
	OrderID     string `json:"orderId"`
	SagaID      string `json:"sagaId"`
	Status      string `json:"status"`
	ProductID   string `json:"productId"`
	Qty         int64  `json:"qty"`
	AmountMinor int64  `json:"amountMinor"`
}

// orderResult is the body of GET /orders/:id.
type orderResult struct {
	Order struct {
		ID          string `json:"id"`
		SagaID      string `json:"sagaId"`
		ProductID   string `json:"productId"`
		Qty         int64  `json:"qty"`
		AmountMinor int64  `json:"amountMinor"`
		Status      string `json:"status"`
	} `json:"order"`
	Saga struct {
		ID       string `json:"id"`
		Status   string `json:"status"`
		Reason   string `json:"reason"`
		Strategy string `json:"strategy"`
		Charged  bool   `json:"charged"`
		Refunded bool   `json:"refunded"`
	} `json:"saga"`
	Events []struct {
		ID      string `json:"id"`
		SagaID  string `json:"sagaId"`
		Seq     int    `json:"seq"`
		Type    string `json:"type"`
		OrderID string `json:"orderId"`
		Reason  string `json:"reason"`
	} `json:"events"`
}

func (o orderResult) eventTypes() []string {
	ts := make([]string, len(o.Events))
	for i, e := range o.Events {
		ts[i] = e.Type
	}
	return ts
}

// productView is the body of GET /products/:id.
type productView struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	PriceMinor int64  `json:"priceMinor"`
	Stock      int64  `json:"stock"`
	Version    int64  `json:"version"`
	Available  *int64 `json:"available"`
}

// mustBuy buys qty of product through the API and returns the answer.
func (f *fixture) mustBuy(product string, qty int64) purchaseResult {
	f.t.Helper()
	rec := f.purchase(fmt.Sprintf(`{"productId":%q,"qty":%d}`, product, qty), "")
	var r purchaseResult
	assertJSON(f.t, rec, http.StatusCreated, &r)
	return r
}

func (f *fixture) level(id domain.ProductID) domain.StockLevel {
	f.t.Helper()
	l, err := f.inv.Level(context.Background(), id)
	if err != nil {
		f.t.Fatalf("level of %s: %v", id, err)
	}
	return l
}

func (f *fixture) product(id domain.ProductID) domain.Product {
	f.t.Helper()
	p, err := f.store.Product(context.Background(), id)
	if err != nil {
		f.t.Fatalf("product %s: %v", id, err)
	}
	return p
}

func sortedIDs(ps []productView) []string {
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	sort.Strings(ids)
	return ids
}

// flakyCatalog is the fixture's catalog: the store's, failing like an
// unreachable database while down is set.
type flakyCatalog struct {
	ports.Catalog
	down *atomic.Bool
}

func (c flakyCatalog) Product(ctx context.Context, id domain.ProductID) (domain.Product, error) {
	if c.down.Load() {
		return domain.Product{}, fmt.Errorf("catalog: connection refused: %w", domain.ErrUnavailable)
	}
	return c.Catalog.Product(ctx, id)
}

func (c flakyCatalog) Products(ctx context.Context) ([]domain.Product, error) {
	if c.down.Load() {
		return nil, fmt.Errorf("catalog: connection refused: %w", domain.ErrUnavailable)
	}
	return c.Catalog.Products(ctx)
}
