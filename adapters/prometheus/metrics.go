// Package prometheus records flashsale's metrics with the Prometheus
// client library and serves them for scraping.
package prometheus

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	prom "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

var (
	_ ports.Metrics        = (*Metrics)(nil)
	_ ports.RequestMetrics = (*Metrics)(nil)
)

// Metrics implements ports.Metrics and ports.RequestMetrics on its own
// registry (no global state), which Handler serves.
type Metrics struct {
	reg       *prom.Registry
	requests  *prom.CounterVec
	reqTime   *prom.HistogramVec
	purchases *prom.CounterVec
	purTime   *prom.HistogramVec
	stepTime  *prom.HistogramVec
	stepErrs  *prom.CounterVec
	counters  *prom.CounterVec
	comps     *prom.CounterVec

	reqSeries  sync.Map // requestKey -> requestSeries
	purSeries  sync.Map // purchaseKey -> requestSeries
	reqSeriesN atomic.Int64
	outboxLag  prom.Gauge

	compReasons sync.Map // reason -> prom.Counter
	compN       atomic.Int64
}

// Latency buckets from 1 ms to 10 s: a cache hit is around a millisecond,
// a saga tens of milliseconds, a timed-out step seconds.
var buckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// New returns metrics on a fresh registry, with the Go runtime and process
// collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prom.NewRegistry(),
		requests: prom.NewCounterVec(prom.CounterOpts{Name: "flashsale_http_requests_total",
			Help: "HTTP requests by route template, method and status."}, []string{"route", "method", "status"}),
		reqTime: prom.NewHistogramVec(prom.HistogramOpts{Name: "flashsale_http_request_duration_seconds",
			Help: "HTTP request latency by route template.", Buckets: buckets}, []string{"route"}),
		purchases: prom.NewCounterVec(prom.CounterOpts{Name: "flashsale_purchases_total",
			Help: "Purchases by lock strategy and outcome (completed, compensated, insufficient_stock, lock_busy, ...)."}, []string{"strategy", "outcome"}),
		purTime: prom.NewHistogramVec(prom.HistogramOpts{Name: "flashsale_purchase_duration_seconds",
			Help: "Purchase latency by outcome.", Buckets: buckets}, []string{"outcome"}),
		stepTime: prom.NewHistogramVec(prom.HistogramOpts{Name: "flashsale_saga_step_duration_seconds",
			Help: "Saga step and compensation latency.", Buckets: buckets}, []string{"step"}),
		stepErrs: prom.NewCounterVec(prom.CounterOpts{Name: "flashsale_saga_step_errors_total",
			Help: "Saga steps and compensations that returned an error."}, []string{"step"}),
		counters: prom.NewCounterVec(prom.CounterOpts{Name: "flashsale_events_total",
			Help: "Operational totals: cache_hit, cache_miss, lock_busy, reservations_expired, sagas_recovered, events_published."}, []string{"kind"}),
		comps: prom.NewCounterVec(prom.CounterOpts{Name: "flashsale_compensations_total",
			Help: "Sagas whose compensation this instance finished, by reason (payment_declined, lease_expired, ...)."}, []string{"reason"}),
		outboxLag: prom.NewGauge(prom.GaugeOpts{Name: "flashsale_outbox_lag_seconds",
			Help: "Age of the oldest unpublished event the last relay round found (0: none, or another instance relays)."}),
	}
	m.reg.MustRegister(m.requests, m.reqTime, m.purchases, m.purTime, m.stepTime, m.stepErrs, m.counters, m.comps, m.outboxLag,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Every counter kind appears from the start, at zero, so dashboards
	// and alerts see the series before the first event.
	for _, c := range []ports.Counter{ports.CounterCacheHit, ports.CounterCacheMiss, ports.CounterNearCacheHit,
		ports.CounterLockBusy, ports.CounterReservationsExpired, ports.CounterSagasRecovered, ports.CounterEventsPublished,
		ports.CounterSoldOutFromMemory, ports.CounterSaturated, ports.CounterConfirmGroups, ports.CounterConfirmsGrouped,
		ports.CounterStaleReads} {
		m.counters.WithLabelValues(string(c))
	}
	return m
}

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// PurchaseEnded implements ports.Metrics.
func (m *Metrics) PurchaseEnded(strategy, outcome string, d time.Duration) {
	k := purchaseKey{strategy, outcome}
	v, ok := m.purSeries.Load(k)
	if !ok {
		// Strategies and outcomes are the app's own few names.
		v, _ = m.purSeries.LoadOrStore(k, requestSeries{m.purchases.WithLabelValues(strategy, outcome), m.purTime.WithLabelValues(outcome)})
	}
	rs := v.(requestSeries)
	rs.count.Inc()
	rs.time.Observe(d.Seconds())
}

type purchaseKey struct{ strategy, outcome string }

// StepDone implements ports.Metrics.
func (m *Metrics) StepDone(step string, d time.Duration, err error) {
	m.stepTime.WithLabelValues(step).Observe(d.Seconds())
	if err != nil {
		m.stepErrs.WithLabelValues(step).Inc()
	}
}

// Add implements ports.Metrics.
func (m *Metrics) Add(c ports.Counter, n int) {
	if n > 0 {
		m.counters.WithLabelValues(string(c)).Add(float64(n))
	}
}

// OutboxLag implements ports.Metrics.
func (m *Metrics) OutboxLag(d time.Duration) { m.outboxLag.Set(max(d, 0).Seconds()) }

// Compensated implements ports.Metrics. Reasons are the app's few
// constants, but they are read back from stored sagas, so at most
// maxReasons distinct ones get a series; any beyond share "other".
func (m *Metrics) Compensated(_ domain.SagaID, _ domain.ProductID, reason string) {
	if c, ok := m.compReasons.Load(reason); ok {
		c.(prom.Counter).Inc()
		return
	}
	if m.compN.Add(1) > maxReasons {
		m.comps.WithLabelValues("other").Inc()
		return
	}
	c, _ := m.compReasons.LoadOrStore(reason, m.comps.WithLabelValues(reason))
	c.(prom.Counter).Inc()
}

const maxReasons = 32

// RequestDone implements ports.RequestMetrics. An unmatched route is
// recorded as "unmatched", so scanners cannot grow the label set.
func (m *Metrics) RequestDone(route, method string, status int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	k := requestKey{route, method, status}
	if v, ok := m.reqSeries.Load(k); ok {
		rs := v.(requestSeries)
		rs.count.Inc()
		rs.time.Observe(d.Seconds())
		return
	}
	rs := requestSeries{m.requests.WithLabelValues(route, method, strconv.Itoa(status)), m.reqTime.WithLabelValues(route)}
	if m.reqSeriesN.Add(1) <= maxRequestSeries {
		m.reqSeries.Store(k, rs)
	}
	rs.count.Inc()
	rs.time.Observe(d.Seconds())
}

// The series of one (route, method, status), kept so that a request does
// not hash its label values again: at tens of thousands of requests a
// second that was a visible share of a cached read's cost. At most
// maxRequestSeries are kept (methods are the client's to choose).
type requestKey struct {
	route, method string
	status        int
}

type requestSeries struct {
	count prom.Counter
	time  prom.Observer
}

const maxRequestSeries = 1024
