package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// attackResult is one open-model attack, measured.
type attackResult struct {
	requests   int
	throughput float64 // answers per second, any answer
	elapsed    time.Duration
	latency    Latency
	outcomes   Outcomes
	// confirmed counts 201s per product (from the answer's productId).
	confirmed map[string]int
}

// attack sends requests from next at a constant rate for d (the open
// model: the arrival of a request does not wait for earlier answers), and
// classifies every answer. next must be safe for concurrent use; it gets
// the request's sequence number and fills in the target.
func (c *client) attack(ctx context.Context, name string, rate int, d time.Duration,
	next func(seq uint64, t *vegeta.Target),
) attackResult {
	atk := vegeta.NewAttacker(
		vegeta.TLSConfig(c.o.TLS), vegeta.HTTP2(false), vegeta.KeepAlive(true),
		vegeta.Timeout(30*time.Second), vegeta.Workers(64), vegeta.MaxWorkers(uint64(c.o.MaxWorkers)),
		vegeta.Connections(c.o.MaxWorkers), vegeta.MaxBody(4<<10),
	)
	var seq uint64
	var mu sync.Mutex
	tr := func(t *vegeta.Target) error {
		mu.Lock()
		s := seq
		seq++
		mu.Unlock()
		next(s, t)
		return nil
	}
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()

	bar := c.progress(fmt.Sprintf("%-10s %-6s", c.strategy, name), 100)
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
				bar.Set(min(99, int(100*time.Since(start)/d)))
			}
		}
	}()

	var m vegeta.Metrics
	res := attackResult{confirmed: map[string]int{}}
	start := time.Now()
	for r := range atk.Attack(vegeta.Targeter(tr), vegeta.Rate{Freq: rate, Per: time.Second}, d, name) {
		m.Add(r)
		if classify(r, &res.outcomes) == outcomeConfirmed {
			var b struct {
				ProductID string `json:"productId"`
			}
			_ = json.Unmarshal(r.Body, &b)
			res.confirmed[b.ProductID]++
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

type outcome int

const (
	outcomeOther outcome = iota
	outcomeConfirmed
	outcomeInsufficient
	outcomeBusy
	outcomeContention
	outcomeRead
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
