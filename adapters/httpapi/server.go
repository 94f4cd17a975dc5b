// Package httpapi is the REST adapter (gin): it decodes requests, calls the
// use cases of package app, and maps every error to one problem shape.
package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.opentelemetry.io/contrib/instrumentation/github.com/gin-gonic/gin/otelgin"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// Options configure the handler.
type Options struct {
	// AdminToken guards the admin routes (Authorization: Bearer <token>).
	// Empty turns the admin routes off: they answer 403, never open.
	AdminToken string
	// MaxBodyBytes bounds request bodies (default 64 KiB).
	MaxBodyBytes int64
	// Ready reports whether the instance's dependencies answer; nil means
	// always ready.
	Ready func(context.Context) error
	// Logger defaults to discarding.
	Logger *slog.Logger
	// RateLimit limits each client; zero PerSecond turns it off.
	RateLimit RateLimit
	// MaxInFlight caps the requests being served at once (health checks
	// excepted); beyond it requests get 503 overloaded. 0 means no cap.
	MaxInFlight int
	// MaxReadingBodies caps the request bodies being read at once (a body
	// is read whole before its request counts against MaxInFlight): it
	// bounds the memory slow clients can hold, MaxReadingBodies ×
	// MaxBodyBytes; beyond it, 503 overloaded before reading. 0 means 4 ×
	// MaxInFlight (no cap when MaxInFlight is 0).
	MaxReadingBodies int
	// TrustedProxies are the addresses (or CIDRs) whose X-Forwarded-For
	// names the client, for rate limiting. Empty trusts no proxy.
	TrustedProxies []string
	// Metrics records every request; nil records nothing.
	Metrics ports.RequestMetrics
	// MetricsHandler, when set, is served at GET /metrics to requests
	// bearing MetricsToken (Authorization: Bearer), under the rate limit
	// and the in-flight cap. With no token the route answers 403: serve
	// metrics on a listener of their own instead (see cmd/flashsale).
	MetricsHandler http.Handler
	MetricsToken   string
	// Timeline, when set, serves GET /sagas/{id}/events from the event
	// stream (a Kafka consumer); otherwise the durable store answers.
	Timeline ports.EventTimeline
	// Live, when set, is served at GET /ui/stats for the live sale page
	// (GET /ui/); nil: that route answers 404 live_stats_off.
	Live ports.LiveStats
	// Tracer, when set, gives every request but the health checks and
	// metrics a server span that continues the caller's W3C trace context
	// (traceparent), and a sampled request's answer an X-Trace-ID header.
	// Nil: no tracing.
	Tracer trace.TracerProvider
	// TraceOnlyAsked leaves out of tracing, at no cost, every request
	// whose traceparent header does not say "sampled": set it when the
	// sampler would record no other (tracing.sample_ratio 0).
	TraceOnlyAsked bool
}

// OpenAPI is the API's OpenAPI 3 document, served at /openapi.json. A test
// checks it against the router and validates real responses with it.
//
//go:embed openapi.json
var OpenAPI []byte

// docsCSP keeps GET /docs to this service's own resources.
const docsCSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
	"font-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

// The API reference for people, GET /docs: Redoc (vendored from npm, the
// redoc package at 2.5.4, MIT; docs/redoc.LICENSE) rendering /openapi.json
// in the browser, with nothing fetched from outside the service.
var (
	//go:embed docs/index.html
	docsPage []byte
	//go:embed docs/redoc.standalone.js
	redocScript []byte
)

// DefaultMaxBodyBytes is the default request body limit.
const DefaultMaxBodyBytes = 64 << 10

type server struct {
	app  *app.App
	opts Options
	// bodies and views keep the JSON of answers a crowd asks for again and
	// again (a sold-out problem, a near-cached product view), so a refusal
	// from memory or a cached read is not marshalled anew each time.
	bodies   bodyCache
	views    viewCache
	log      *slog.Logger
	limiter  *clientLimiter
	inFlight chan struct{}
	reading  chan struct{}
	ui       uiCatalog // the live page's products
}

// New returns the API's handler. gin's mode is the caller's choice
// (gin.SetMode): this package sets no global state.
func New(a *app.App, opts Options) (http.Handler, error) {
	if a == nil {
		return nil, errors.New("httpapi: an app is required")
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &server{app: a, opts: opts, log: opts.Logger}

	r := gin.New()
	if err := r.SetTrustedProxies(opts.TrustedProxies); err != nil {
		return nil, fmt.Errorf("httpapi: trusted proxies: %w", err)
	}
	r.HandleMethodNotAllowed = true
	// A redirect would answer with HTML; every answer is JSON.
	r.RedirectTrailingSlash = false
	r.ContextWithFallback = true
	if opts.Tracer != nil {
		// A server span per request, continuing the caller's W3C trace
		// context; the health checks and metrics scrapes are not traced.
		r.Use(otelgin.Middleware("flashsale", otelgin.WithTracerProvider(opts.Tracer),
			otelgin.WithPropagators(propagation.TraceContext{}),
			otelgin.WithGinFilter(func(c *gin.Context) bool {
				switch c.FullPath() {
				case "/healthz", "/readyz", "/metrics":
					return false
				}
				return !opts.TraceOnlyAsked || askedToTrace(c.Request)
			})))
	}
	r.Use(s.requestID, s.recoverPanics, s.observe)

	// Every GET route answers HEAD too: health checkers use it.
	get := func(path string, h ...gin.HandlerFunc) {
		r.GET(path, h...)
		r.HEAD(path, h...)
	}
	// Health checks are never limited: the load balancer must see the
	// instance even when it is saturated, or it would eject it.
	get("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	get("/readyz", s.ready)

	// Everything else is guarded: the client's rate first, then, for the
	// routes with a body, the body is read whole, and only then does the
	// request take one of the MaxInFlight slots.
	var limit, shed []gin.HandlerFunc
	if opts.RateLimit.PerSecond > 0 {
		s.limiter = newClientLimiter(opts.RateLimit)
		limit = append(limit, s.rateLimit)
	}
	if opts.MaxInFlight > 0 {
		s.inFlight = make(chan struct{}, opts.MaxInFlight)
		shed = append(shed, s.shed)
		if opts.MaxReadingBodies == 0 {
			opts.MaxReadingBodies = 4 * opts.MaxInFlight
		}
	}
	if opts.MaxReadingBodies > 0 {
		s.reading = make(chan struct{}, opts.MaxReadingBodies)
	}
	s.opts = opts
	guarded := func(h ...gin.HandlerFunc) []gin.HandlerFunc {
		return slices.Concat(limit, shed, h)
	}
	r.NoRoute(guarded(func(c *gin.Context) { sendProblem(c, newProblem(http.StatusNotFound, "not_found", "no such route")) })...)
	r.NoMethod(guarded(func(c *gin.Context) {
		sendProblem(c, newProblem(http.StatusMethodNotAllowed, "method_not_allowed", "this route does not accept "+c.Request.Method))
	})...)
	// withBody's last handler is the route's; any before it (the admin
	// check) run before the body is read, so a refused client's body is
	// never read.
	withBody := func(h ...gin.HandlerFunc) []gin.HandlerFunc {
		last := len(h) - 1
		return slices.Concat(limit, h[:last], []gin.HandlerFunc{s.readBody}, shed, h[last:])
	}

	get("/openapi.json", guarded(func(c *gin.Context) { c.Data(http.StatusOK, "application/json", OpenAPI) })...)
	get("/docs", guarded(func(c *gin.Context) {
		// The page may load only from this service: Redoc's footer links a
		// logo on its CDN, which the browser then does not fetch. Redoc
		// styles with inline <style> and searches in a blob: worker.
		c.Header("Content-Security-Policy", docsCSP)
		c.Data(http.StatusOK, "text/html; charset=utf-8", docsPage)
	})...)
	get("/docs/redoc.standalone.js", guarded(func(c *gin.Context) {
		// Not versioned in its path: a short cache, so an upgrade shows soon.
		c.Header("Cache-Control", "public, max-age=300")
		c.Data(http.StatusOK, "text/javascript; charset=utf-8", redocScript)
	})...)
	get("/ui/", guarded(s.uiPage)...)
	get("/ui/app.js", guarded(uiAsset("text/javascript; charset=utf-8", uiScript))...)
	get("/ui/app.css", guarded(uiAsset("text/css; charset=utf-8", uiStyle))...)
	get("/ui/stats", guarded(s.uiStats)...)
	if opts.MetricsHandler != nil {
		metrics := bearer(opts.MetricsToken, "flashsale-metrics", "metrics_disabled", "metrics need a token: none is configured")
		get("/metrics", guarded(metrics, gin.WrapH(opts.MetricsHandler))...)
	}
	get("/products", guarded(s.listProducts)...)
	get("/products/:id", guarded(s.getProduct)...)
	get("/orders/:id", guarded(s.getOrder)...)
	get("/sagas/:id/events", guarded(s.sagaEvents)...)
	admin := bearer(opts.AdminToken, "flashsale-admin", "admin_disabled", "admin routes are off: no admin token is configured")
	r.POST("/products", withBody(admin, s.supply)...)
	r.POST("/purchase", withBody(s.purchase)...)
	return r, nil
}

func (s *server) recoverPanics(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.ErrorContext(c.Request.Context(), "panic serving request", "method", c.Request.Method, "path", c.Request.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			sendProblem(c, newProblem(http.StatusInternalServerError, "internal", "internal error"))
		}
	}()
	c.Next()
}

// requestID names the request: the client's X-Request-ID if it is a
// sane token, else a new one. It is echoed in the response and carried by
// every log line made for the request.
func (s *server) requestID(c *gin.Context) {
	id := c.GetHeader("X-Request-ID")
	if !validRequestID(id) {
		var b [8]byte
		_, _ = rand.Read(b[:]) // crypto/rand never fails on Linux
		id = hex.EncodeToString(b[:])
	}
	c.Header("X-Request-ID", id)
	attrs := []slog.Attr{slog.String("request_id", id)}
	if sc := trace.SpanContextFromContext(c.Request.Context()); sc.IsSampled() {
		// A traced request's log lines name its trace, and its answer
		// does too, so a client can quote it.
		c.Header("X-Trace-ID", sc.TraceID().String())
		attrs = append(attrs, slog.String("trace_id", sc.TraceID().String()))
	}
	c.Request = c.Request.WithContext(app.WithLogAttrs(c.Request.Context(), attrs...))
	c.Next()
}

// askedToTrace reports whether r's W3C trace context says it is sampled.
func askedToTrace(r *http.Request) bool {
	if r.Header.Get("traceparent") == "" {
		return false
	}
	ctx := propagation.TraceContext{}.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	return trace.SpanContextFromContext(ctx).IsSampled()
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x21 || c > 0x7e {
			return false
		}
	}
	return true
}

// observe records each request's metric and a debug access-log line.
func (s *server) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	d := time.Since(start)
	if s.opts.Metrics != nil {
		s.opts.Metrics.RequestDone(c.FullPath(), c.Request.Method, c.Writer.Status(), d)
	}
	s.log.DebugContext(c.Request.Context(), "request", "method", c.Request.Method, "path", c.Request.URL.Path, "status", c.Writer.Status(), "duration", d)
}

func (s *server) ready(c *gin.Context) {
	if s.opts.Ready != nil {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
		defer cancel()
		if err := s.opts.Ready(ctx); err != nil {
			// The reason goes to the log only: it may name hosts or DSNs.
			s.log.WarnContext(ctx, "not ready", "err", err)
			sendProblem(c, newProblem(http.StatusServiceUnavailable, "not_ready", "a dependency of this instance is not ready"))
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready"})
}

func (s *server) listProducts(c *gin.Context) {
	ps, err := s.app.Products(c)
	if err != nil {
		writeProblem(c, s.log, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"products": productsOf(ps)})
}

func (s *server) getProduct(c *gin.Context) {
	p, err := s.app.Product(c, domain.ProductID(c.Param("id")), app.ReadOptions{Fresh: noCache(c.Request.Header)})
	if err != nil {
		writeProblem(c, s.log, err)
		return
	}
	c.Data(http.StatusOK, "application/json; charset=utf-8", s.views.of(p))
}

// bearer guards a route with a bearer token (Authorization: Bearer
// <token>), compared in constant time. An empty token turns the route off:
// 403 with disabledCode, never open.
func bearer(token, realm, disabledCode, disabledDetail string) gin.HandlerFunc {
	if token == "" {
		return func(c *gin.Context) {
			sendProblem(c, newProblem(http.StatusForbidden, disabledCode, disabledDetail))
		}
	}
	want := sha256.Sum256([]byte(token))
	return func(c *gin.Context) {
		scheme, given, ok := strings.Cut(c.GetHeader("Authorization"), " ")
		ok = ok && strings.EqualFold(scheme, "Bearer") // schemes are case-insensitive (RFC 9110)
		digest := sha256.Sum256([]byte(given))
		// Comparing digests keeps the comparison constant-time in the
		// token's length as well as its content.
		if !ok || subtle.ConstantTimeCompare(digest[:], want[:]) != 1 {
			c.Header("WWW-Authenticate", `Bearer realm="`+realm+`"`)
			sendProblem(c, newProblem(http.StatusUnauthorized, "unauthorized", "a valid bearer token is required"))
			return
		}
		c.Next()
	}
}

func (s *server) supply(c *gin.Context) {
	var body supplyBody
	if err := decodeJSON(c, &body); err != nil {
		writeProblem(c, s.log, err)
		return
	}
	sup, err := body.supply()
	if err != nil {
		writeProblem(c, s.log, err)
		return
	}
	p, err := s.app.Supply(c, sup)
	if err != nil {
		writeProblem(c, s.log, err)
		return
	}
	c.JSON(http.StatusOK, productOf(p))
}

// purchaseResponse is the body of a successful purchase.
type purchaseResponse struct {
	OrderID     domain.OrderID     `json:"orderId"`
	SagaID      domain.SagaID      `json:"sagaId"`
	Status      domain.OrderStatus `json:"status"`
	ProductID   domain.ProductID   `json:"productId"`
	Qty         int64              `json:"qty"`
	AmountMinor int64              `json:"amountMinor"`
}

// purchase decodes the request and runs the use case. The Idempotency-Key
// protocol (claim, answer, replay) lives in app, on the saga record: this
// handler only passes the key on and renders the answer.
func (s *server) purchase(c *gin.Context) {
	key, err := idempotencyKey(c.Request.Header)
	if err != nil {
		writeProblem(c, s.log, err)
		return
	}
	var body purchaseBody
	if err := decodeJSON(c, &body); err != nil {
		writeProblem(c, s.log, err)
		return
	}
	req, err := body.request()
	if err != nil {
		writeProblem(c, s.log, err)
		return
	}
	r, err := s.app.Buy(c, req, key)
	if r.Replayed {
		c.Header("Idempotent-Replayed", "true")
	}
	if err != nil {
		p := problemFor(err)
		if p.Status == http.StatusInternalServerError {
			// app.Buy logs every purchase's outcome; a shed or unavailable
			// answer is not an error of this service, and logging each
			// one at error level would cost most under overload.
			s.log.ErrorContext(c.Request.Context(), "purchase failed", "product", req.ProductID, "err", err)
		}
		if p.retryAfter > 0 {
			c.Header("Retry-After", strconv.Itoa(p.retryAfter))
		}
		var body []byte
		if p.SagaID != "" {
			body, _ = json.Marshal(p) // one saga's: never kept
		} else {
			body = s.bodies.of(p) // the same few problems for a whole crowd
		}
		c.Data(p.Status, ProblemContentType, body)
		return
	}
	saga := r.Saga
	c.Header("Location", "/orders/"+string(saga.Order.ID))
	c.JSON(http.StatusCreated, purchaseResponse{
		OrderID: saga.Order.ID, SagaID: saga.ID, Status: saga.Order.Status,
		ProductID: saga.ProductID, Qty: saga.Qty, AmountMinor: saga.AmountMinor,
	})
}

// noCache reports whether the request asks not to be served from a cache
// (Cache-Control: no-cache or max-age=0, RFC 9111).
func noCache(h http.Header) bool {
	for _, v := range h.Values("Cache-Control") {
		for _, d := range strings.Split(v, ",") {
			d = strings.ToLower(strings.TrimSpace(d))
			if d == "no-cache" || d == "max-age=0" {
				return true
			}
		}
	}
	return false
}

// orderResponse is GET /orders/:id.
type orderResponse struct {
	Order  orderJSON   `json:"order"`
	Saga   sagaView    `json:"saga"`
	Events []eventJSON `json:"events"`
}

type sagaView struct {
	ID        domain.SagaID     `json:"id"`
	Status    domain.SagaStatus `json:"status"`
	Reason    string            `json:"reason,omitempty"`
	Strategy  string            `json:"strategy,omitempty"`
	Charged   bool              `json:"charged"`
	Refunded  bool              `json:"refunded"`
	StartedAt time.Time         `json:"startedAt"`
	UpdatedAt time.Time         `json:"updatedAt"`
}

func (s *server) getOrder(c *gin.Context) {
	saga, err := s.app.Order(c, domain.OrderID(c.Param("id")))
	if err != nil {
		writeProblem(c, s.log, err)
		return
	}
	c.JSON(http.StatusOK, orderResponse{
		Order: orderOf(saga.Order),
		Saga: sagaView{
			ID: saga.ID, Status: saga.Status, Reason: saga.Reason, Strategy: saga.Strategy,
			Charged: saga.Charged, Refunded: saga.Refunded, StartedAt: saga.StartedAt, UpdatedAt: saga.UpdatedAt,
		},
		Events: eventsOf(saga.Events),
	})
}

// sagaEventsResponse is GET /sagas/:id/events.
type sagaEventsResponse struct {
	SagaID domain.SagaID `json:"sagaId"`
	Source string        `json:"source"` // "kafka" or "store"
	Events []eventJSON   `json:"events"`
}

func (s *server) sagaEvents(c *gin.Context) {
	id := domain.SagaID(c.Param("id"))
	if err := id.Validate(); err != nil {
		writeProblem(c, s.log, err)
		return
	}
	if s.opts.Timeline != nil {
		evs := s.opts.Timeline.Timeline(id)
		if len(evs) == 0 {
			writeProblem(c, s.log, domain.ErrSagaNotFound)
			return
		}
		c.JSON(http.StatusOK, sagaEventsResponse{SagaID: id, Source: s.opts.Timeline.Source(), Events: eventsOf(evs)})
		return
	}
	evs, err := s.app.SagaEvents(c, id)
	if err != nil {
		writeProblem(c, s.log, err)
		return
	}
	c.JSON(http.StatusOK, sagaEventsResponse{SagaID: id, Source: "store", Events: eventsOf(evs)})
}
