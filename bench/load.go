package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// attackResult is one attack, measured.
type attackResult struct {
	requests   int
	throughput float64 // answers per second, any answer
	elapsed    time.Duration
	latency    Latency
	outcomes   Outcomes
	// confirmed counts 201s per product (from the answer's productId);
	// orders are the 201s' order IDs.
	confirmed map[string]int
	orders    []string
	// shedWellFormed counts the 429/503 answers that had a Retry-After
	// and a problem+json content type; shedLatency is every shed
	// answer's latency.
	shedWellFormed int
	shedLatency    []time.Duration
}

// overHTTP2 reports whether the attack on a target speaks HTTP/2: over
// TLS (the edge), as browsers do; plain HTTP is HTTP/1.1 keep-alive.
func overHTTP2(base string) bool { return strings.HasPrefix(base, "https://") }

// loadProtocol names the protocol the attack on base speaks, for the report.
func loadProtocol(base string) string {
	if overHTTP2(base) {
		return "HTTP/2 over TLS"
	}
	return "HTTP/1.1 keep-alive"
}

// attackSpec says what to send and how fast.
type attackSpec struct {
	name string
	// rate is the arrival rate (requests/s, open model); 0 is the closed
	// loop: conc workers (on conc connections over HTTP/1.1, multiplexed
	// over HTTP/2), each sending its next request when its answer is in,
	// as fast as the target allows.
	rate int
	conc int
	d    time.Duration
	// quiet shows no progress bar (an attack alongside another).
	quiet bool
	// next fills in request seq's target; it must be safe for
	// concurrent use.
	next func(seq uint64, t *vegeta.Target)
}

// attack sends requests from next at a constant rate for d (the open
// model: the arrival of a request does not wait for earlier answers), and
// classifies every answer. next must be safe for concurrent use; it gets
// the request's sequence number and fills in the target.
func (c *client) attack(ctx context.Context, name string, rate int, d time.Duration,
	next func(seq uint64, t *vegeta.Target),
) attackResult {
	return c.attackWith(ctx, attackSpec{name: name, rate: rate, d: d, next: next})
}

// attackWith runs one attack as spec says and classifies every answer.
func (c *client) attackWith(ctx context.Context, spec attackSpec) attackResult {
	workers, maxWorkers, conns := uint64(64), uint64(c.o.MaxWorkers), c.o.MaxWorkers
	pacer := vegeta.Rate{Freq: spec.rate, Per: time.Second}
	if spec.rate <= 0 {
		workers, maxWorkers, conns = uint64(spec.conc), uint64(spec.conc), spec.conc
		pacer = vegeta.Rate{Freq: 0}
	}
	// An https target is the TLS edge, which a crowd's browsers reach over
	// HTTP/2: the attack does too, its requests multiplexed on a few
	// connections. Over HTTP/1.1 every request in flight needs its own
	// connection, so past saturation the attacker dialled thousands and
	// their TLS handshakes took 1.8 of this machine's 2 cores, which
	// measured the attacker, not the service. (Clone: HTTP/2 rewrites the
	// config's ALPN list, which the setup client must not share; and
	// TLSConfig must come before HTTP2, which changes it.) The streams
	// share few connections (up to 128 each, nginx's default), so one
	// nginx worker may carry most of a run: a crowd has a connection each.
	atk := vegeta.NewAttacker(
		vegeta.TLSConfig(c.o.TLS.Clone()), vegeta.HTTP2(overHTTP2(c.base)), vegeta.KeepAlive(true),
		vegeta.Timeout(30*time.Second), vegeta.Workers(workers), vegeta.MaxWorkers(maxWorkers),
		vegeta.Connections(conns), vegeta.MaxBody(4<<10),
	)
	var seq uint64
	var mu sync.Mutex
	tr := func(t *vegeta.Target) error {
		mu.Lock()
		s := seq
		seq++
		mu.Unlock()
		spec.next(s, t)
		return nil
	}
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()

	var bar Progress = noProgress{}
	if !spec.quiet {
		bar = c.progress(fmt.Sprintf("%-10s %-6s", c.strategy, spec.name), 100)
	}
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		start := time.Now()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				bar.Set(min(99, int(100*time.Since(start)/spec.d)))
			}
		}
	}()

	var m vegeta.Metrics
	res := attackResult{confirmed: map[string]int{}}
	start := time.Now()
	for r := range atk.Attack(vegeta.Targeter(tr), pacer, spec.d, spec.name) {
		m.Add(r)
		switch classify(r, &res.outcomes) {
		case outcomeConfirmed:
			var b struct {
				ProductID string `json:"productId"`
				OrderID   string `json:"orderId"`
			}
			_ = json.Unmarshal(r.Body, &b)
			res.confirmed[b.ProductID]++
			if b.OrderID != "" {
				res.orders = append(res.orders, b.OrderID)
			}
		case outcomeShed:
			if shedWellFormed(r.Headers) {
				res.shedWellFormed++
			}
			res.shedLatency = append(res.shedLatency, r.Latency)
		}
	}
	res.elapsed = time.Since(start)
	close(done)
	bar.Set(100)
	bar.Done()
	m.Close()
	res.requests = int(m.Requests)
	if res.elapsed > 0 {
		res.throughput = float64(m.Requests) / res.elapsed.Seconds()
	}
	res.latency = Latency{Mean: ms(m.Latencies.Mean), P50: ms(m.Latencies.P50), P90: ms(m.Latencies.P90),
		P99: ms(m.Latencies.P99), Max: ms(m.Latencies.Max)}
	return res
}

// shedWellFormed reports whether a shed answer tells the client how to
// come back: a Retry-After header (delay-seconds or an HTTP date) and an
// application/problem+json content type.
func shedWellFormed(h http.Header) bool {
	ra := strings.TrimSpace(h.Get("Retry-After"))
	if ra == "" {
		return false
	}
	if n, err := strconv.Atoi(ra); err != nil || n < 0 {
		if _, err := http.ParseTime(ra); err != nil {
			return false
		}
	}
	mt, _, err := mime.ParseMediaType(h.Get("Content-Type"))
	return err == nil && mt == "application/problem+json"
}

type outcome int

const (
	outcomeOther outcome = iota
	outcomeConfirmed
	outcomeInsufficient
	outcomeBusy
	outcomeContention
	outcomeRead
	outcomeShed
)

// classify adds r's answer to o and says what it was.
func classify(r *vegeta.Result, o *Outcomes) outcome {
	return classifyAnswer(int(r.Code), r.Body, r.Error, o)
}

func classifyAnswer(status int, body []byte, transportErr string, o *Outcomes) outcome {
	switch {
	case status == 0:
		kind := "transport"
		if transportErr != "" && len(transportErr) < 80 {
			kind = "transport: " + transportErr
		}
		o.error(kind, 1)
		return outcomeOther
	case status == 201:
		o.Confirmed++
		return outcomeConfirmed
	case status == 200:
		o.Reads++
		return outcomeRead
	}
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(body, &p)
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		kind := fmt.Sprint(status)
		if p.Code != "" {
			kind += " " + p.Code
		}
		o.shed(kind, 1)
		return outcomeShed
	}
	if status == 409 {
		switch p.Code {
		case "insufficient_stock":
			o.Insufficient++
			return outcomeInsufficient
		case "lock_busy":
			o.LockBusy++
			return outcomeBusy
		case "contention":
			o.Contention++
			return outcomeContention
		}
	}
	kind := fmt.Sprint(status)
	if p.Code != "" {
		kind += " " + p.Code
	}
	o.error(kind, 1)
	return outcomeOther
}
