package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/gin-gonic/gin"

	"github.com/flashsale/flashsale/adapters/httpapi"
	"github.com/flashsale/flashsale/adapters/payment"
	"github.com/flashsale/flashsale/app"
)

func loadOpenAPI(t *testing.T) (*openapi3.T, routers.Router) {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromData(httpapi.OpenAPI)
	if err != nil {
		t.Fatalf("load openapi.json: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI 3 document: %v", err)
	}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return doc, router
}

// TestOpenAPICoversEveryRoute: every route the router serves is in the
// document, and every operation the document lists is served.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	f := newFixture(t, fixtureOpts{http: &httpapi.Options{AdminToken: adminToken, MetricsHandler: http.NotFoundHandler()}})
	engine, ok := f.h.(*gin.Engine)
	if !ok {
		t.Fatalf("the handler is a %T, not a *gin.Engine", f.h)
	}
	served := map[string]bool{}
	for _, r := range engine.Routes() {
		path := r.Path
		for _, seg := range strings.Split(path, "/") {
			if strings.HasPrefix(seg, ":") {
				path = strings.Replace(path, seg, "{"+seg[1:]+"}", 1)
			}
		}
		served[r.Method+" "+path] = true
	}
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	for route := range served {
		if !documented[route] {
			t.Errorf("served but not documented: %s", route)
		}
	}
	for route := range documented {
		if !served[route] {
			t.Errorf("documented but not served: %s", route)
		}
	}
}

// TestResponsesMatchOpenAPI sends requests that produce every documented
// status, errors included, and validates each real response (status,
// headers, body) and each accepted request against the document.
func TestResponsesMatchOpenAPI(t *testing.T) {
	_, router := loadOpenAPI(t)
	f := newFixture(t, fixtureOpts{strategy: app.StrategyLock, http: &httpapi.Options{
		AdminToken: adminToken, RateLimit: httpapi.RateLimit{PerSecond: 0.001, Burst: 1}, MetricsHandler: http.NotFoundHandler(),
	}})
	var order string
	client := 0
	send := func(r request, want int) *httptest.ResponseRecorder {
		t.Helper()
		client++ // each request from its own client, so the rate limit only bites on purpose
		if r.remote == "" {
			r.remote = fmt.Sprintf("192.0.2.%d:1", client)
		}
		rec := f.serve(r)
		if rec.Code != want {
			t.Fatalf("%s %s: %d, want %d: %s", r.method, r.path, rec.Code, want, rec.Body)
		}
		validate(t, router, r, rec)
		return rec
	}
	json := func(method, path, body string) request {
		return request{method: method, path: path, body: body, header: map[string]string{"Content-Type": "application/json"}}
	}
	send(request{method: http.MethodGet, path: "/products"}, http.StatusOK)
	send(request{method: http.MethodGet, path: "/products/p1"}, http.StatusOK)
	send(request{method: http.MethodGet, path: "/products/nope"}, http.StatusNotFound)
	send(request{method: http.MethodGet, path: "/products/" + strings.Repeat("x", 65)}, http.StatusBadRequest)
	rec := send(json(http.MethodPost, "/purchase", `{"productId":"p1","qty":1}`), http.StatusCreated)
	order = strings.TrimPrefix(rec.Header().Get("Location"), "/orders/")
	send(request{method: http.MethodGet, path: "/orders/" + order}, http.StatusOK)
	send(request{method: http.MethodGet, path: "/orders/nope"}, http.StatusNotFound)
	send(request{method: http.MethodGet, path: "/orders/a%20b"}, http.StatusBadRequest)
	send(json(http.MethodPost, "/purchase", `{"productId":"p1","qty":0}`), http.StatusBadRequest)
	send(json(http.MethodPost, "/purchase", `{"productId":"nope","qty":1}`), http.StatusNotFound)
	send(json(http.MethodPost, "/purchase", `{"productId":"p2","qty":9}`), http.StatusConflict)
	send(request{method: http.MethodPost, path: "/purchase", body: `{}`, header: map[string]string{"Content-Type": "text/plain"}}, http.StatusUnsupportedMediaType)
	send(json(http.MethodPost, "/purchase", `{"productId":"p1","qty":1,"pad":"`+strings.Repeat("a", 70<<10)+`"}`), http.StatusRequestEntityTooLarge)
	keyed := json(http.MethodPost, "/purchase", `{"productId":"p1","qty":1}`)
	keyed.header["Idempotency-Key"] = "openapi-key"
	send(keyed, http.StatusCreated)
	other := json(http.MethodPost, "/purchase", `{"productId":"p1","qty":2}`)
	other.header["Idempotency-Key"] = "openapi-key"
	send(other, http.StatusUnprocessableEntity)
	f.setOutcome(payment.Decline)
	send(json(http.MethodPost, "/purchase", `{"productId":"p1","qty":1}`), http.StatusPaymentRequired)
	f.setOutcome(payment.Approve)
	if err := f.locker.Acquire(context.Background(), app.LockKey("p1"), "other-buyer", time.Minute); err != nil {
		t.Fatal(err)
	}
	send(json(http.MethodPost, "/purchase", `{"productId":"p1","qty":1}`), http.StatusConflict) // lock_busy
	f.catalogDown.Store(true)
	send(request{method: http.MethodGet, path: "/products"}, http.StatusServiceUnavailable)
	f.catalogDown.Store(false)
	admin := json(http.MethodPost, "/products", `{"id":"new","name":"New","priceMinor":100,"addStock":3}`)
	admin.header["Authorization"] = "Bearer " + adminToken
	send(admin, http.StatusOK)
	admin.header["Authorization"] = "Bearer wrong"
	send(admin, http.StatusUnauthorized)
	send(request{method: http.MethodGet, path: "/healthz"}, http.StatusOK)
	send(request{method: http.MethodGet, path: "/readyz"}, http.StatusOK)
	send(request{method: http.MethodGet, path: "/openapi.json"}, http.StatusOK)
	limited := request{method: http.MethodGet, path: "/products", remote: "198.51.100.1:1"}
	send(limited, http.StatusOK)
	send(limited, http.StatusTooManyRequests)

	off := newFixture(t, fixtureOpts{http: &httpapi.Options{}})
	rec = off.serve(admin)
	if rec.Code != http.StatusForbidden {
		t.Fatalf("admin off: %d", rec.Code)
	}
	validate(t, router, admin, rec)
}

func validate(t *testing.T, router routers.Router, r request, rec *httptest.ResponseRecorder) {
	t.Helper()
	req := httptest.NewRequest(r.method, "http://flashsale.test"+r.path, strings.NewReader(r.body))
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	route, params, err := router.FindRoute(req)
	if err != nil {
		t.Fatalf("%s %s: not in the document: %v", r.method, r.path, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true}}
	if rec.Code < 300 {
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			t.Errorf("%s %s: an accepted request does not match the document: %v", r.method, r.path, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: rec.Code, Header: rec.Header(),
		Body: io.NopCloser(bytes.NewReader(rec.Body.Bytes())), Options: in.Options}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Errorf("%s %s -> %d: the response does not match the document: %v\n%s", r.method, r.path, rec.Code, err, rec.Body)
	}
}

// TestServerAnswersAreDocumented: the answers no operation gives but the
// server does (no such route, another method, a body too slow, headers too
// large, unparseable HTTP) are in the document: each operation's default
// response, described by code, and a real 404 and 405 match its schema.
func TestServerAnswersAreDocumented(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.Responses.Default() == nil {
				t.Errorf("%s %s: no default response for the server's own answers", method, path)
			}
		}
	}
	server := doc.Components.Responses["ServerProblem"]
	if server == nil || server.Value == nil {
		t.Fatal("components.responses.ServerProblem is missing")
	}
	for _, code := range []string{"not_found", "method_not_allowed", "request_timeout", "headers_too_large", "bad_request"} {
		if !strings.Contains(*server.Value.Description, "`"+code+"`") || !strings.Contains(doc.Info.Description, "`"+code+"`") {
			t.Errorf("the server's answer %q is not described", code)
		}
	}
	schema := server.Value.Content.Get(httpapi.ProblemContentType).Schema.Value
	f := newFixture(t, fixtureOpts{})
	for _, r := range []request{{method: http.MethodGet, path: "/nowhere"}, {method: http.MethodDelete, path: "/products"}} {
		rec := f.serve(r)
		if rec.Code != http.StatusNotFound && rec.Code != http.StatusMethodNotAllowed {
			t.Fatalf("%s %s: %d", r.method, r.path, rec.Code)
		}
		var body any
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		if err := schema.VisitJSON(body); err != nil {
			t.Errorf("%s %s -> %d does not match ServerProblem: %v", r.method, r.path, rec.Code, err)
		}
	}
}
