package bench

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// client runs the scenarios against one target.
type client struct {
	o        Options
	base     string
	prefix   string // of product IDs and idempotency keys: unique per run and strategy
	strategy string
	hc       *http.Client
	// saturation is the saturate steps' outcome once run: the overload
	// scenario's R comes from it.
	saturation *Saturation
}

func newClient(o Options, base, prefix, strategy string) *client {
	return &client{o: o, base: base, prefix: prefix, strategy: strategy, hc: httpClient(o.TLS, 64)}
}

func (c *client) close() { c.hc.CloseIdleConnections() }

type noProgress struct{}

func (noProgress) Set(int) {}
func (noProgress) Done()   {}

func (c *client) progress(label string, total int) Progress {
	if c.o.NewProgress == nil {
		return noProgress{}
	}
	return c.o.NewProgress(label, total)
}

func (c *client) run(ctx context.Context, scenario string) (*Result, error) {
	switch scenario {
	case ScenarioSeed:
		return c.seed(ctx)
	case ScenarioHot:
		return c.hot(ctx)
	case ScenarioMix:
		return c.mix(ctx)
	case ScenarioReads:
		return c.reads(ctx)
	case ScenarioSaturate:
		return c.saturate(ctx)
	case ScenarioOverload:
		return c.overload(ctx)
	case ScenarioSoldOut:
		return c.soldout(ctx)
	case ScenarioReadMax:
		return c.readmax(ctx)
	}
	return nil, fmt.Errorf("unknown scenario %q", scenario)
}

// product names a product of this run.
func (c *client) product(scenario string, n int) string {
	return fmt.Sprintf("%s-%s-%d", c.prefix, scenario, n)
}

// supply creates product id with stock units (POST /products, admin).
func (c *client) supply(ctx context.Context, id string, stock int64) error {
	body, _ := json.Marshal(map[string]any{"id": id, "name": "bench " + id, "priceMinor": 1000, "addStock": stock})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/products", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.o.AdminToken)
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("create product %s: %w", id, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("create product %s: %s: %s (is --admin-token right?)", id, resp.Status, bytes.TrimSpace(b))
	}
	return nil
}

// settle waits after a scenario's products are created: on the stack the
// catalog is read from a replica, and an instance that did not create a
// product answers 404 product_not_found to reads and purchases of it
// until the replica has it. The scenario measures sales, not that lag.
func (c *client) settle(ctx context.Context) {
	if c.o.Settle <= 0 {
		return
	}
	t := time.NewTimer(c.o.Settle)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// available is GET /products/:id's available quantity; live asks for it
// past the near cache (Cache-Control: no-cache), as I1 checks must.
func (c *client) available(ctx context.Context, id string, live bool) (int64, error) {
	_, avail, err := c.level(ctx, id, live)
	return avail, err
}

// level returns a product's available quantity and, when its view shows
// it, its stock (the gate's; nil when not shown).
func (c *client) level(ctx context.Context, id string, live bool) (stock *int64, available int64, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/products/"+id, nil)
	if err != nil {
		return nil, 0, err
	}
	if live {
		req.Header.Set("Cache-Control", "no-cache")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	var p struct {
		Stock     *int64 `json:"stock"`
		Available *int64 `json:"available"`
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("GET /products/%s: %s", id, resp.Status)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&p); err != nil || p.Available == nil {
		return nil, 0, fmt.Errorf("GET /products/%s: no available quantity in the answer", id)
	}
	return p.Stock, *p.Available, nil
}

// i2AtRest checks I2 for product once the load is over: it waits (up to
// wait) until the gate holds none of it (available = stock), then compares
// the gate's stock with the database's (products.stock, read from dsn).
func (c *client) i2AtRest(ctx context.Context, product, dsn string, wait time.Duration) I2Check {
	check := I2Check{Product: product}
	if dsn == "" {
		check.Note = "not checked: no MySQL DSN (--mysql off)"
		return check
	}
	deadline := time.Now().Add(wait)
	for {
		stock, avail, err := c.level(ctx, product, true)
		if err == nil && stock == nil {
			check.Note = "not checked: the product's view shows no stock"
			return check
		}
		if err == nil {
			check.GateStock, check.GateAvailable = *stock, avail
			if avail == *stock {
				break
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			if err != nil {
				check.Note = fmt.Sprintf("not checked: the gate could not be read: %v", err)
				return check
			}
			break // checked as it is: reservations still held break I2
		}
		time.Sleep(250 * time.Millisecond)
	}
	cfg, err := ceilingDSN(dsn)
	if err != nil {
		check.Note = "not checked: " + err.Error()
		return check
	}
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		check.Note = "not checked: " + err.Error()
		return check
	}
	defer db.Close()
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.QueryRowContext(qctx, "SELECT stock FROM products WHERE id = ?", product).Scan(&check.DurableStock); err != nil {
		check.Note = fmt.Sprintf("not checked: the durable stock could not be read: %v", err)
		return check
	}
	check.Checked = true
	return check
}

// i1 checks I1 for each product: what it was supplied, what is left, and
// how many purchases of it were answered 201.
func (c *client) i1(ctx context.Context, supplied map[string]int64, confirmed map[string]int) ([]I1Check, error) {
	ids := make([]string, 0, len(supplied))
	for id := range supplied {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var out []I1Check
	for _, id := range ids {
		// An overloaded target may answer 5xx for a while after the load
		// (nginx ejects instances that failed): keep asking.
		avail, err := c.available(ctx, id, true)
		for wait := time.Now(); err != nil && time.Since(wait) < 30*time.Second && ctx.Err() == nil; {
			time.Sleep(250 * time.Millisecond)
			avail, err = c.available(ctx, id, true)
		}
		if err != nil {
			return nil, fmt.Errorf("I1 check: %w", err)
		}
		out = append(out, newI1Check(id, supplied[id], avail, confirmed[id]))
	}
	return out, nil
}

// purchaseTarget is a purchase of one unit; an empty key sends none.
func purchaseTarget(t *vegeta.Target, base, product, key string) {
	t.Method = http.MethodPost
	t.URL = base + "/purchase"
	t.Body = []byte(`{"productId":"` + product + `","qty":1}`)
	t.Header = http.Header{"Content-Type": {"application/json"}}
	if key != "" {
		t.Header.Set("Idempotency-Key", key)
	}
}

func readTarget(t *vegeta.Target, base, product string) {
	t.Method = http.MethodGet
	t.URL = base + "/products/" + product
	t.Header = nil
	t.Body = nil
}

// openResult turns an attack into a Result with its I1 checks.
func (c *client) openResult(ctx context.Context, scenario string, a attackResult, supplied map[string]int64) (*Result, error) {
	r := &Result{Scenario: scenario, Rate: float64(c.o.Rate), Requests: a.requests, Throughput: a.throughput,
		Latency: a.latency, Outcomes: a.outcomes}
	if a.elapsed > 0 {
		r.ConfirmedPerSec = float64(a.outcomes.Confirmed) / a.elapsed.Seconds()
	}
	if a.throughput < 0.9*float64(c.o.Rate) {
		r.Notes = append(r.Notes, fmt.Sprintf("held %.0f of the %d requests/s asked: the target (or the client) saturated", a.throughput, c.o.Rate))
	}
	checks, err := c.i1(ctx, supplied, a.confirmed)
	if err != nil {
		return nil, err
	}
	r.I1 = checks
	return r, nil
}

// hot: many buyers on one product, at the rate, with stock for half of
// them: ample, then exhausted.
func (c *client) hot(ctx context.Context) (*Result, error) {
	id := c.product("hot", 0)
	total := int64(float64(c.o.Rate) * c.o.Duration.Seconds())
	stock := max(total/2, 1)
	if err := c.supply(ctx, id, stock); err != nil {
		return nil, err
	}
	c.settle(ctx)
	a := c.attack(ctx, "hot", c.o.Rate, c.o.Duration, func(seq uint64, t *vegeta.Target) {
		purchaseTarget(t, c.base, id, c.prefix+"-hot-"+strconv.FormatUint(seq, 10))
	})
	return c.openResult(ctx, ScenarioHot, a, map[string]int64{id: stock})
}

// The seed's capacity mix, as a cycle of 30 requests: 20 cache-hit reads,
// 4 reads of other products, 6 purchases (4000 : 800 : 1200).
const (
	mixCycle     = 30
	mixHitReads  = 20
	mixOtherRead = 4
	// mixOthers other products take the other reads in turn; the first
	// read of each misses the cache (the catalog, a replica on the stack).
	mixOthers = 200
	// mixBuyables products take the purchases in turn, each with stock
	// for every purchase that could reach it.
	mixBuyables = 10
)

func (c *client) mix(ctx context.Context) (*Result, error) {
	hit := c.product("mix-hit", 0)
	if err := c.supply(ctx, hit, 1); err != nil {
		return nil, err
	}
	others := make([]string, mixOthers)
	for i := range others {
		others[i] = c.product("mix-other", i)
		if err := c.supply(ctx, others[i], 1); err != nil {
			return nil, err
		}
	}
	total := int64(float64(c.o.Rate)*c.o.Duration.Seconds()) + mixCycle
	per := total*(mixCycle-mixHitReads-mixOtherRead)/mixCycle/mixBuyables + 1
	supplied := map[string]int64{}
	buyables := make([]string, mixBuyables)
	for i := range buyables {
		buyables[i] = c.product("mix-buy", i)
		if err := c.supply(ctx, buyables[i], per); err != nil {
			return nil, err
		}
		supplied[buyables[i]] = per
	}
	c.settle(ctx)
	if _, err := c.available(ctx, hit, false); err != nil { // warm the cache
		return nil, err
	}
	a := c.attack(ctx, "mix", c.o.Rate, c.o.Duration, func(seq uint64, t *vegeta.Target) {
		n := seq / mixCycle
		switch k := seq % mixCycle; {
		case k < mixHitReads:
			readTarget(t, c.base, hit)
		case k < mixHitReads+mixOtherRead:
			readTarget(t, c.base, others[(n*mixOtherRead+k-mixHitReads)%mixOthers])
		default:
			p := buyables[(n*(mixCycle-mixHitReads-mixOtherRead)+k-mixHitReads-mixOtherRead)%mixBuyables]
			purchaseTarget(t, c.base, p, c.prefix+"-mix-"+strconv.FormatUint(seq, 10))
		}
	})
	return c.openResult(ctx, ScenarioMix, a, supplied)
}

// reads: GET /products/:id of one product, served from the cache.
func (c *client) reads(ctx context.Context) (*Result, error) {
	id := c.product("reads", 0)
	if err := c.supply(ctx, id, 1); err != nil {
		return nil, err
	}
	c.settle(ctx)
	if _, err := c.available(ctx, id, false); err != nil { // warm the cache
		return nil, err
	}
	a := c.attack(ctx, "reads", c.o.Rate, c.o.Duration, func(_ uint64, t *vegeta.Target) { readTarget(t, c.base, id) })
	return c.openResult(ctx, ScenarioReads, a, map[string]int64{id: 1})
}

// The seed's race.
const (
	seedBuyers = 10
	seedStock  = 9
	// A buyer answered lock_busy, contention or 503 retries after a
	// jittered backoff, for at most seedGiveUp.
	seedBackoff = 5 * time.Millisecond
	seedGiveUp  = 10 * time.Second
)

// seed: 10 buyers at once on stock 9, Rounds times. Every buyer retries
// until it gets an order or is told the stock is gone, as the seed's
// buyers would; a round is right when exactly 9 got one.
func (c *client) seed(ctx context.Context) (*Result, error) {
	res := &Result{Scenario: ScenarioSeed, Seed: &Seed{Buyers: seedBuyers, Stock: seedStock}}
	var buyerLat, roundLat, reqLat []time.Duration
	var mu sync.Mutex
	supplied, confirmed := map[string]int64{}, map[string]int{}
	bar := c.progress(fmt.Sprintf("%-10s %-6s", c.strategy, "seed"), c.o.Rounds)
	for round := range c.o.Rounds {
		id := c.product("seed", round)
		if err := c.supply(ctx, id, seedStock); err != nil {
			return nil, err
		}
		supplied[id] = seedStock
	}
	c.settle(ctx)
	began := time.Now()
	for round := range c.o.Rounds {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		id := c.product("seed", round)
		var got Outcomes
		start := make(chan struct{})
		var wg sync.WaitGroup
		t0 := time.Now()
		for b := range seedBuyers {
			wg.Go(func() {
				<-start
				var first, final Outcomes
				attempts := 0
				for {
					attempts++
					key := fmt.Sprintf("%s-seed-%d-%d-%d", c.prefix, round, b, attempts)
					t := time.Now()
					status, body, err := c.post(ctx, id, key)
					lat := time.Since(t)
					var o Outcomes
					errText := ""
					if err != nil {
						errText = err.Error()
					}
					kind := classifyAnswer(status, body, errText, &o)
					mu.Lock()
					reqLat = append(reqLat, lat)
					mu.Unlock()
					if attempts == 1 {
						first = o
					}
					retry := kind == outcomeBusy || kind == outcomeContention || status == http.StatusServiceUnavailable
					if !retry || time.Since(t0) > seedGiveUp || ctx.Err() != nil {
						final = o
						break
					}
					time.Sleep(seedBackoff + rand.N(seedBackoff*time.Duration(min(attempts, 8))))
				}
				d := time.Since(t0)
				mu.Lock()
				defer mu.Unlock()
				res.Seed.First.add(first)
				got.add(final)
				res.Seed.Attempts += attempts
				buyerLat = append(buyerLat, d)
			})
		}
		close(start)
		wg.Wait()
		roundLat = append(roundLat, time.Since(t0))
		res.Outcomes.add(got)
		confirmed[id] = got.Confirmed
		if got.Confirmed == seedStock && got.Insufficient == seedBuyers-seedStock {
			res.Seed.ExactlyStock++
		}
		bar.Set(round + 1)
	}
	bar.Done()
	elapsed := time.Since(began)
	res.Requests = res.Seed.Attempts
	res.Throughput = float64(res.Requests) / elapsed.Seconds()
	res.ConfirmedPerSec = float64(res.Outcomes.Confirmed) / elapsed.Seconds()
	res.Latency = exactLatency(reqLat)
	res.Seed.Buyer = exactLatency(buyerLat)
	res.Seed.Round = exactLatency(roundLat)
	if res.Seed.ExactlyStock != c.o.Rounds {
		res.Notes = append(res.Notes, fmt.Sprintf("only %d of %d rounds sold exactly %d of %d", res.Seed.ExactlyStock, c.o.Rounds, seedStock, seedBuyers))
	}
	checks, err := c.i1(ctx, supplied, confirmed)
	if err != nil {
		return nil, err
	}
	res.I1 = checks
	return res, nil
}

// exactLatency is the exact distribution of a few thousand samples at most.
func exactLatency(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	slices.Sort(ds)
	var total time.Duration
	for _, d := range ds {
		total += d
	}
	q := func(p float64) float64 { return ms(ds[min(len(ds)-1, int(p*float64(len(ds))))]) }
	return Latency{Mean: ms(total / time.Duration(len(ds))), P50: q(0.5), P90: q(0.9), P99: q(0.99), Max: ms(ds[len(ds)-1])}
}

// post sends one purchase of one unit of product and returns the answer.
func (c *client) post(ctx context.Context, product, key string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/purchase",
		bytes.NewReader([]byte(`{"productId":"`+product+`","qty":1}`)))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return resp.StatusCode, b, nil
}
