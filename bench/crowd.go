package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// The crowd scenarios ("hot product at crowd speed"): how fast one hot
// product sells, what happens past that, and what a sold-out product and
// a cached read cost at full speed.
const (
	// The saturate scenario stops after a step whose p99 is over
	// saturateMaxP99Ms, or whose confirmed/s fell below saturateDrop of
	// the step before's: past saturation, more load only measures a queue.
	saturateMaxP99Ms = 1000
	saturateDrop     = 0.75
	// A step is sustainable when every answer was a 201, its p99 under
	// SustainableP99Ms and the rate asked was held (the client delivered
	// at least sustainableHeld of it; a step the load generator could not
	// deliver says nothing of the target).
	SustainableP99Ms = 100
	sustainableHeld  = 0.9
	// Purchases of the overload scenario run at these multiples of R.
	overloadLow, overloadHigh = 2, 5
	// orderCheckConc bounds the GET /orders/:id reads after overload.
	orderCheckConc = 32
)

// DefaultSaturateRates are the saturate scenario's steps (requests/s).
func DefaultSaturateRates() []int { return []int{250, 500, 1000, 2000, 3000, 4000, 6000, 8000} }

// stepOf is one saturate step's measurement.
func stepOf(rate int, a attackResult) SaturationStep {
	s := SaturationStep{Rate: rate, Requests: a.requests, Throughput: a.throughput, Latency: a.latency, Outcomes: a.outcomes}
	if a.elapsed > 0 {
		s.ConfirmedPerSec = float64(a.outcomes.Confirmed) / a.elapsed.Seconds()
	}
	return s
}

// stopAfter says whether the saturate scenario stops after the last of
// steps, and why: its p99 is over a second, or its confirmed/s fell well
// below the step before's.
func stopAfter(steps []SaturationStep) (bool, string) {
	if len(steps) == 0 {
		return false, ""
	}
	last := steps[len(steps)-1]
	if last.Latency.P99 > saturateMaxP99Ms {
		return true, fmt.Sprintf("p99 %.0f ms at %d/s is over %d ms", last.Latency.P99, last.Rate, saturateMaxP99Ms)
	}
	if len(steps) >= 2 {
		prev := steps[len(steps)-2]
		if prev.ConfirmedPerSec > 0 && last.ConfirmedPerSec < saturateDrop*prev.ConfirmedPerSec {
			return true, fmt.Sprintf("confirmed/s fell from %.0f at %d/s to %.0f at %d/s", prev.ConfirmedPerSec, prev.Rate,
				last.ConfirmedPerSec, last.Rate)
		}
	}
	return false, ""
}

// sustainable reports whether a step was held with every answer a 201
// and p99 under SustainableP99Ms.
func (s SaturationStep) sustainable() bool {
	o := s.Outcomes
	return s.Requests > 0 && o.Confirmed == s.Requests && o.Errors == 0 && o.Shed == 0 &&
		s.Latency.P99 < SustainableP99Ms && s.Throughput >= sustainableHeld*float64(s.Rate)
}

// summarise fills in the sustainable rate and the saturation point.
func (s *Saturation) summarise() {
	s.SustainableRate, s.SaturationConfirmedPerSec, s.SaturationStepRate = 0, 0, 0
	for _, st := range s.Steps {
		if st.sustainable() && st.Rate > s.SustainableRate {
			s.SustainableRate = st.Rate
		}
		if st.ConfirmedPerSec > s.SaturationConfirmedPerSec {
			s.SaturationConfirmedPerSec, s.SaturationStepRate = st.ConfirmedPerSec, st.Rate
		}
	}
}

// best is the step with the most confirmed/s (the first step if none).
func (s *Saturation) best() SaturationStep {
	for _, st := range s.Steps {
		if st.Rate == s.SaturationStepRate && st.ConfirmedPerSec == s.SaturationConfirmedPerSec {
			return st
		}
	}
	if len(s.Steps) > 0 {
		return s.Steps[0]
	}
	return SaturationStep{}
}

// saturationRate is R, the arrival rate the hot product saturates at: the
// most confirmed purchases/s any step reached, rounded.
func (s *Saturation) saturationRate() int { return int(math.Round(s.SaturationConfirmedPerSec)) }

// findSaturation runs the saturate steps on a fresh product with stock
// for every request, after measuring the MySQL ceiling just before them.
func (c *client) findSaturation(ctx context.Context) (*Saturation, []I1Check, error) {
	rates := c.o.SaturateRates
	id := c.product("saturate", 0)
	var total int64
	for _, r := range rates {
		total += int64(math.Ceil(float64(r)*c.o.StepDuration.Seconds())) + 1
	}
	stock := total + total/10 + 100
	if err := c.supply(ctx, id, stock); err != nil {
		return nil, nil, err
	}
	c.settle(ctx)
	sat := &Saturation{Product: id, StepDurationS: c.o.StepDuration.Seconds()}
	fmt.Fprintf(c.o.Log, "bench: %s / saturate: the MySQL ceiling, just before the load\n", c.strategy)
	sat.MySQL = mysqlCeiling(ctx, c.o.MySQLDSN, c.o.CeilingDuration)
	confirmed := 0
	for i, rate := range rates {
		prefix := c.prefix + "-sat-" + strconv.Itoa(i) + "-"
		a := c.attackWith(ctx, attackSpec{name: "sat" + strconv.Itoa(rate), rate: rate, d: c.o.StepDuration,
			next: func(seq uint64, t *vegeta.Target) {
				purchaseTarget(t, c.base, id, prefix+strconv.FormatUint(seq, 10))
			}})
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		confirmed += a.confirmed[id]
		sat.Steps = append(sat.Steps, stepOf(rate, a))
		if stop, why := stopAfter(sat.Steps); stop && i < len(rates)-1 {
			sat.StopReason = why
			break
		}
	}
	sat.summarise()
	checks, err := c.i1(ctx, map[string]int64{id: stock}, map[string]int{id: confirmed})
	if err != nil {
		return nil, nil, err
	}
	c.saturation = sat
	return sat, checks, nil
}

// saturate: one hot product, purchases at rising rates until it saturates.
// The row is the step with the most confirmed/s; Saturation has them all.
func (c *client) saturate(ctx context.Context) (*Result, error) {
	sat, checks, err := c.findSaturation(ctx)
	if err != nil {
		return nil, err
	}
	b := sat.best()
	r := &Result{Scenario: ScenarioSaturate, Rate: float64(b.Rate), Requests: b.Requests, Throughput: b.Throughput,
		ConfirmedPerSec: b.ConfirmedPerSec, Latency: b.Latency, Outcomes: b.Outcomes, Saturation: sat, I1: checks}
	if sat.StopReason != "" {
		r.Notes = append(r.Notes, "stopped: "+sat.StopReason)
	}
	if sat.SustainableRate == 0 {
		r.Notes = append(r.Notes, fmt.Sprintf("no step was sustainable (all 201, p99 < %d ms)", SustainableP99Ms))
	}
	if sat.MySQL.Skipped != "" {
		r.Notes = append(r.Notes, "MySQL ceiling before the steps skipped: "+sat.MySQL.Skipped)
	}
	return r, nil
}

// overload: purchases of one hot product at 2R, then 5R, R its saturating
// rate (--saturation-rate, or the saturate scenario's of this run, or
// found here), each with reads of another product at a modest rate
// alongside. Then I1, every 201's order read back (it must be CONFIRMED),
// and I2 at rest for the hot product (its gate's stock is the database's).
func (c *client) overload(ctx context.Context) (*Result, error) {
	ov := &Overload{SaturationRate: c.o.SaturationRate, RateFrom: "--saturation-rate", ReadRate: c.o.OverloadReadRate}
	var checks []I1Check
	if ov.SaturationRate <= 0 {
		if c.saturation == nil {
			sat, found, err := c.findSaturation(ctx)
			if err != nil {
				return nil, err
			}
			checks, ov.Found = found, sat
			ov.RateFrom = "found here (the saturate steps)"
		} else {
			ov.RateFrom = "the saturate scenario, earlier in this run"
		}
		ov.SaturationRate = c.saturation.saturationRate()
		if ov.SaturationRate <= 0 {
			return nil, errors.New("overload: no purchase was confirmed at any saturate step, so there is no saturating rate; give --saturation-rate")
		}
	}
	hot, other := c.product("overload-hot", 0), c.product("overload-read", 0)
	d := c.o.OverloadDuration
	stock := int64(math.Ceil(float64((overloadLow+overloadHigh)*ov.SaturationRate)*d.Seconds())) + 100
	if err := c.supply(ctx, hot, stock); err != nil {
		return nil, err
	}
	if err := c.supply(ctx, other, 1); err != nil {
		return nil, err
	}
	c.settle(ctx)
	if _, err := c.available(ctx, other, false); err != nil { // warm the cache
		return nil, err
	}

	res := &Result{Scenario: ScenarioOverload, Overload: ov}
	var orders []string
	var elapsed time.Duration
	confirmed := 0
	for _, k := range []int{overloadLow, overloadHigh} {
		rate := k * ov.SaturationRate
		name := strconv.Itoa(k) + "R"
		var reads attackResult
		var wg sync.WaitGroup
		if ov.ReadRate > 0 {
			wg.Go(func() {
				reads = c.attackWith(ctx, attackSpec{name: "reads", rate: ov.ReadRate, d: d, quiet: true,
					next: func(_ uint64, t *vegeta.Target) { readTarget(t, c.base, other) }})
			})
		}
		prefix := c.prefix + "-over-" + name + "-"
		a := c.attackWith(ctx, attackSpec{name: "ovl" + name, rate: rate, d: d, next: func(seq uint64, t *vegeta.Target) {
			purchaseTarget(t, c.base, hot, prefix+strconv.FormatUint(seq, 10))
		}})
		wg.Wait()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		ov.Phases = append(ov.Phases, phaseOf(name, rate, a, reads))
		orders = append(orders, a.orders...)
		confirmed += a.confirmed[hot]
		elapsed += a.elapsed
		res.Requests += a.requests
		res.Outcomes.add(a.outcomes)
		res.Latency, res.Rate = a.latency, float64(rate)
	}
	if elapsed > 0 {
		res.Throughput = float64(res.Requests) / elapsed.Seconds()
		res.ConfirmedPerSec = float64(res.Outcomes.Confirmed) / elapsed.Seconds()
	}
	more, err := c.i1(ctx, map[string]int64{hot: stock, other: 1}, map[string]int{hot: confirmed})
	if err != nil {
		return nil, err
	}
	res.I1 = append(checks, more...)
	ov.OrdersChecked = len(orders)
	ov.OrdersNotConfirmed, ov.OrdersUnreadable, ov.OrderProblems = c.checkOrders(ctx, orders)
	ov.I2 = c.i2AtRest(ctx, hot, c.o.MySQLDSN, 60*time.Second)
	if !ov.I2.OK() {
		res.Notes = append(res.Notes, fmt.Sprintf("I2 VIOLATED at rest: %s: gate stock %d, available %d, durable stock %d",
			hot, ov.I2.GateStock, ov.I2.GateAvailable, ov.I2.DurableStock))
	}
	res.Notes = append(res.Notes, fmt.Sprintf("R = %d/s (%s); the row sums both phases, its latency and rate are the %dR phase's",
		ov.SaturationRate, ov.RateFrom, overloadHigh))
	for _, p := range ov.Phases {
		if p.BadGateway > 0 {
			res.Notes = append(res.Notes, fmt.Sprintf("%s: %d answers were 502", p.Name, p.BadGateway))
		}
		if p.Shed > p.ShedWellFormed {
			res.Notes = append(res.Notes, fmt.Sprintf("%s: %d of %d shed answers lacked Retry-After or problem+json",
				p.Name, p.Shed-p.ShedWellFormed, p.Shed))
		}
	}
	if !ov.OrdersOK() {
		res.Notes = append(res.Notes, fmt.Sprintf("%d of %d confirmed orders not CONFIRMED at rest, %d unreadable: %v",
			ov.OrdersNotConfirmed, ov.OrdersChecked, ov.OrdersUnreadable, ov.OrderProblems))
	}
	return res, nil
}

// phaseOf is one overload phase: the purchases a, the reads alongside.
func phaseOf(name string, rate int, a, reads attackResult) OverloadPhase {
	return OverloadPhase{Name: name, Rate: rate, Requests: a.requests, Throughput: a.throughput, Latency: a.latency,
		Outcomes: a.outcomes, Confirmed: a.outcomes.Confirmed, BadGateway: a.outcomes.BadGateway(),
		Shed: a.outcomes.Shed, ShedWellFormed: a.shedWellFormed, ShedLatency: exactLatency(a.shedLatency),
		ReadRequests: reads.requests, ReadLatency: reads.latency, ReadOutcomes: reads.outcomes}
}

// checkOrders reads every order back (orderCheckConc at a time) and counts
// those not CONFIRMED and those it could not read, with what was wrong.
func (c *client) checkOrders(ctx context.Context, ids []string) (notConfirmed, unreadable int, problems map[string]int) {
	var mu sync.Mutex
	sem := make(chan struct{}, orderCheckConc)
	var wg sync.WaitGroup
	for _, id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			status, err := c.orderStatus(ctx, id)
			for try := 1; err != nil && try < 5 && ctx.Err() == nil; try++ {
				// Replica lag or an instance ejected for a moment.
				time.Sleep(time.Duration(try) * 200 * time.Millisecond)
				status, err = c.orderStatus(ctx, id)
			}
			if err == nil && status == "CONFIRMED" {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if problems == nil {
				problems = map[string]int{}
			}
			if err != nil {
				unreadable++
				problems[err.Error()]++
				return
			}
			notConfirmed++
			problems["status "+status]++
		})
	}
	wg.Wait()
	return notConfirmed, unreadable, problems
}

// orderStatus is GET /orders/:id's order status.
func (c *client) orderStatus(ctx context.Context, id string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/orders/"+id, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return "", errors.New("transport error")
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return "", fmt.Errorf("GET /orders: %d", resp.StatusCode)
	}
	var b struct {
		Order struct {
			Status string `json:"status"`
		} `json:"order"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&b); err != nil {
		return "", errors.New("GET /orders: not JSON")
	}
	return b.Order.Status, nil
}

// soldout: purchases of a sold-out product, closed loop at full speed
// (like the HTTP ceiling), without and then with an Idempotency-Key.
func (c *client) soldout(ctx context.Context) (*Result, error) {
	id := c.product("soldout", 0)
	if err := c.supply(ctx, id, 1); err != nil {
		return nil, err
	}
	c.settle(ctx)
	bought := 0
	for try := 0; ; try++ {
		status, body, err := c.post(ctx, id, c.prefix+"-soldout-buy-"+strconv.Itoa(try))
		var o Outcomes
		errText := ""
		if err != nil {
			errText = err.Error()
		}
		kind := classifyAnswer(status, body, errText, &o)
		if kind == outcomeConfirmed {
			bought = 1
		}
		if kind == outcomeConfirmed || kind == outcomeInsufficient {
			break
		}
		if try >= 20 || ctx.Err() != nil {
			return nil, fmt.Errorf("soldout: buying the one unit of %s: %d %s %s", id, status, body, errText)
		}
		time.Sleep(100 * time.Millisecond)
	}
	so := &SoldOut{Concurrency: httpCeilingConc}
	res := &Result{Scenario: ScenarioSoldOut, SoldOut: so}
	var elapsed time.Duration
	confirmed := bought
	for _, withKey := range []bool{false, true} {
		name, run := "sold", &so.WithoutKey
		if withKey {
			name, run = "sold+k", &so.WithKey
		}
		prefix := c.prefix + "-soldout-"
		a := c.attackWith(ctx, attackSpec{name: name, conc: httpCeilingConc, d: c.o.CeilingDuration,
			next: func(seq uint64, t *vegeta.Target) {
				key := ""
				if withKey {
					key = prefix + strconv.FormatUint(seq, 10)
				}
				purchaseTarget(t, c.base, id, key)
			}})
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		*run = soldOutRunOf(a)
		confirmed += a.confirmed[id]
		elapsed += a.elapsed
		res.Requests += a.requests
		res.Outcomes.add(a.outcomes)
		if !withKey {
			res.Latency = a.latency
		}
	}
	if elapsed > 0 {
		res.Throughput = float64(res.Requests) / elapsed.Seconds()
		res.ConfirmedPerSec = float64(res.Outcomes.Confirmed) / elapsed.Seconds()
	}
	res.Notes = append(res.Notes, fmt.Sprintf("rejections/s without a key %.0f, with one %.0f (409 insufficient_stock answers/s; the row's latency is the run without)",
		so.WithoutKey.RejectionsPerSec, so.WithKey.RejectionsPerSec))
	checks, err := c.i1(ctx, map[string]int64{id: 1}, map[string]int{id: confirmed})
	if err != nil {
		return nil, err
	}
	res.I1 = checks
	return res, nil
}

// soldOutRunOf measures one closed-loop run on a sold-out product: only a
// 409 insufficient_stock is a rejection; any answer other than a 409 is
// an error.
func soldOutRunOf(a attackResult) SoldOutRun {
	r := SoldOutRun{Requests: a.requests, ElapsedS: a.elapsed.Seconds(), Latency: a.latency, Outcomes: a.outcomes}
	if a.elapsed > 0 {
		r.RejectionsPerSec = float64(a.outcomes.Insufficient) / a.elapsed.Seconds()
	}
	r.Errors = a.requests - a.outcomes.Insufficient - a.outcomes.LockBusy - a.outcomes.Contention
	return r
}

// readmax: GET /products/:id of one cached product, closed loop at full
// speed on as many connections as the HTTP ceiling.
func (c *client) readmax(ctx context.Context) (*Result, error) {
	id := c.product("readmax", 0)
	if err := c.supply(ctx, id, 1); err != nil {
		return nil, err
	}
	c.settle(ctx)
	if _, err := c.available(ctx, id, false); err != nil { // warm the cache
		return nil, err
	}
	a := c.attackWith(ctx, attackSpec{name: "readmax", conc: httpCeilingConc, d: c.o.CeilingDuration,
		next: func(_ uint64, t *vegeta.Target) { readTarget(t, c.base, id) }})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := &Result{Scenario: ScenarioReadMax, Requests: a.requests, Throughput: a.throughput, Latency: a.latency, Outcomes: a.outcomes}
	checks, err := c.i1(ctx, map[string]int64{id: 1}, a.confirmed)
	if err != nil {
		return nil, err
	}
	r.I1 = checks
	return r, nil
}
