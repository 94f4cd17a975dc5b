package payment

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// The gateway's HTTP protocol, as a real payment provider's looks: every
// call names the saga, which is the idempotency key, so a retried or
// duplicated call never moves money twice.
//
//	POST /charges  {"sagaId": "...", "amountMinor": 2599}
//	     200 {}            charged (now or before)
//	     402 {"error": ...} declined
//	     504 {"error": ...} the outcome is unknown (a timeout)
//	POST /refunds  {"sagaId": "..."}
//	     200 {"charged": true|false}
//	GET  /healthz  200
//
// A gateway that keeps a ledger (the Simulated one, served by cmd/paysim)
// also answers what it recorded for a saga, so that a test or a drill can
// check that no purchase kept money it should not have:
//
//	GET  /ledger/{sagaId}
//	     200 {"amountMinor": 2599, "charged": true, "refunded": false, "declined": false, "voided": false}
//	     404 {"error": ...} the gateway never saw the saga

var (
	_ ports.Payments = (*HTTPGateway)(nil)
	_ ports.Pinger   = (*HTTPGateway)(nil)
)

// HTTPGateway is ports.Payments over the protocol above. It is what an
// app server uses to reach a gateway in another process (cmd/paysim, or
// an adapter in front of a real provider).
type HTTPGateway struct {
	base   string
	client *http.Client
}

// HTTPOption configures NewHTTPGateway or Handler.
type HTTPOption func(*httpOptions)

type httpOptions struct{ tracer trace.TracerProvider }

// WithTracer traces the protocol's calls with tp: a client span for each
// call, whose W3C trace context (traceparent) goes with the request, and
// on the gateway's side a server span that continues it.
func WithTracer(tp trace.TracerProvider) HTTPOption {
	return func(o *httpOptions) { o.tracer = tp }
}

func httpOptionsOf(opts []HTTPOption) httpOptions {
	var o httpOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// NewHTTPGateway returns a client of the gateway at baseURL. timeout
// bounds every call (a context deadline that ends sooner wins).
func NewHTTPGateway(baseURL string, timeout time.Duration, opts ...HTTPOption) (*HTTPGateway, error) {
	if !strings.HasPrefix(baseURL, "http://") && !strings.HasPrefix(baseURL, "https://") {
		return nil, fmt.Errorf("payment gateway URL %q: want http:// or https://", baseURL)
	}
	if timeout <= 0 {
		return nil, errors.New("payment gateway timeout must be positive")
	}
	// http.DefaultTransport keeps two idle connections per host: a crowd's
	// concurrent charges then close all but two after each answer and dial
	// again (measured: 7% of an instance's CPU in dials, and the gateway's
	// too). Keep as many as an instance runs charges at once. The transport
	// is built here, as net/http's default is, rather than cloned from
	// http.DefaultTransport, which a program may have replaced.
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          idleConns,
		MaxIdleConnsPerHost:   idleConns,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
	var rt http.RoundTripper = tr
	if o := httpOptionsOf(opts); o.tracer != nil {
		rt = otelhttp.NewTransport(tr, otelhttp.WithTracerProvider(o.tracer), otelhttp.WithPropagators(propagation.TraceContext{}),
			otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "payment " + r.Method + " " + r.URL.Path }))
	}
	return &HTTPGateway{base: strings.TrimRight(baseURL, "/"), client: &http.Client{Timeout: timeout, Transport: rt}}, nil
}

// idleConns is how many idle connections to the gateway a client keeps:
// about the purchases one instance has in flight at once.
const idleConns = 512

type chargeRequest struct {
	SagaID      domain.SagaID `json:"sagaId"`
	AmountMinor int64         `json:"amountMinor"`
}

// ledger is a gateway that can say what it recorded for a saga.
type ledger interface {
	Entry(domain.SagaID) (Entry, bool)
}

type refundReply struct {
	Charged bool `json:"charged"`
}

// Charge implements ports.Payments.
func (g *HTTPGateway) Charge(ctx context.Context, saga domain.SagaID, amountMinor int64) error {
	status, _, err := g.post(ctx, "/charges", chargeRequest{SagaID: saga, AmountMinor: amountMinor})
	switch {
	case err != nil:
		return fmt.Errorf("charge %s: %w", saga, err)
	case status == http.StatusOK:
		return nil
	case status == http.StatusPaymentRequired:
		return fmt.Errorf("charge %s: %w", saga, domain.ErrPaymentDeclined)
	}
	return fmt.Errorf("charge %s: gateway answered %d: %w", saga, status, domain.ErrUnavailable)
}

// Refund implements ports.Payments.
func (g *HTTPGateway) Refund(ctx context.Context, saga domain.SagaID) (bool, error) {
	status, body, err := g.post(ctx, "/refunds", chargeRequest{SagaID: saga})
	if err != nil {
		return false, fmt.Errorf("refund %s: %w", saga, err)
	}
	if status != http.StatusOK {
		return false, fmt.Errorf("refund %s: gateway answered %d: %w", saga, status, domain.ErrUnavailable)
	}
	var r refundReply
	if err := json.Unmarshal(body, &r); err != nil {
		return false, fmt.Errorf("refund %s: bad answer: %w", saga, domain.ErrUnavailable)
	}
	return r.Charged, nil
}

// Ping implements ports.Pinger.
func (g *HTTPGateway) Ping(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.base+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := g.client.Do(req)
	if err != nil {
		return fmt.Errorf("payment gateway: %w: %w", domain.ErrUnavailable, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("payment gateway answered %d: %w", resp.StatusCode, domain.ErrUnavailable)
	}
	return nil
}

// post sends v and returns the status and body. Any failure to get an
// answer is ErrUnavailable: the outcome is unknown, and the saga's
// compensation (a refund, idempotent by saga) settles it.
func (g *HTTPGateway) post(ctx context.Context, path string, v any) (int, []byte, error) {
	payload, _ := json.Marshal(v) // plain structs always marshal
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.base+path, bytes.NewReader(payload))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := g.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %w", domain.ErrUnavailable, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %w", domain.ErrUnavailable, err)
	}
	return resp.StatusCode, body, nil
}

// Handler serves gateway g over the protocol above: cmd/paysim serves
// the Simulated gateway with it, so several app processes share one
// ledger, as they share one real provider. With WithTracer, every call
// but the health check is a server span continuing the caller's trace.
func Handler(g ports.Payments, opts ...HTTPOption) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("POST /charges", func(w http.ResponseWriter, r *http.Request) {
		var req chargeRequest
		if !decode(w, r, &req) {
			return
		}
		err := g.Charge(r.Context(), req.SagaID, req.AmountMinor)
		switch {
		case err == nil:
			reply(w, http.StatusOK, struct{}{})
		case errors.Is(err, domain.ErrPaymentDeclined):
			reply(w, http.StatusPaymentRequired, map[string]string{"error": err.Error()})
		case errors.Is(err, domain.ErrInvalidInput):
			reply(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		default:
			reply(w, http.StatusGatewayTimeout, map[string]string{"error": err.Error()})
		}
	})
	mux.HandleFunc("POST /refunds", func(w http.ResponseWriter, r *http.Request) {
		var req chargeRequest
		if !decode(w, r, &req) {
			return
		}
		charged, err := g.Refund(r.Context(), req.SagaID)
		if err != nil {
			reply(w, http.StatusGatewayTimeout, map[string]string{"error": err.Error()})
			return
		}
		reply(w, http.StatusOK, refundReply{Charged: charged})
	})
	if l, ok := g.(ledger); ok {
		mux.HandleFunc("GET /ledger/{sagaId}", func(w http.ResponseWriter, r *http.Request) {
			e, seen := l.Entry(domain.SagaID(r.PathValue("sagaId")))
			if !seen {
				reply(w, http.StatusNotFound, map[string]string{"error": "no record of this saga"})
				return
			}
			reply(w, http.StatusOK, e)
		})
	}
	o := httpOptionsOf(opts)
	if o.tracer == nil {
		return mux
	}
	return otelhttp.NewHandler(mux, "paysim", otelhttp.WithTracerProvider(o.tracer), otelhttp.WithPropagators(propagation.TraceContext{}),
		otelhttp.WithFilter(func(r *http.Request) bool { return r.URL.Path != "/healthz" }),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "paysim " + r.Method + " " + r.URL.Path }))
}

func decode(w http.ResponseWriter, r *http.Request, v *chargeRequest) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<12))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil || v.SagaID.Validate() != nil {
		reply(w, http.StatusBadRequest, map[string]string{"error": "want {\"sagaId\": ..., \"amountMinor\": ...}"})
		return false
	}
	return true
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
