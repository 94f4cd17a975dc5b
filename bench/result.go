package bench

import (
	"time"
)

// Report is one run: what was measured, on what, and the results.
type Report struct {
	Date       string    `json:"date"`
	Started    time.Time `json:"started"`
	Finished   time.Time `json:"finished"`
	Target     string    `json:"target"`
	Machine    Machine   `json:"machine"`
	Strategies []string  `json:"strategies"`
	Scenarios  []string  `json:"scenarios"`
	Rate       int       `json:"rate"`
	DurationS  float64   `json:"durationSeconds"`
	Rounds     int       `json:"seedRounds"`
	Ceilings   []Ceiling `json:"ceilings"`
	Results    []Result  `json:"results"`
	// I1OK: no product sold more than was supplied, in any scenario.
	I1OK  bool     `json:"i1ok"`
	Notes []string `json:"notes,omitempty"`
}

// Machine is where the run happened.
type Machine struct {
	CPUs      int    `json:"cpus"`
	GOOS      string `json:"goos"`
	GOARCH    string `json:"goarch"`
	GoVersion string `json:"goVersion"`
}

// The ceilings.
const (
	CeilingHTTP  = "http"  // a bare gin handler, in process, over loopback
	CeilingRedis = "redis" // the reserve script alone (Inventory.Reserve)
	CeilingMySQL = "mysql" // a durable single-row INSERT on the primary
)

// Ceiling is a physical limit of this machine, measured closed-loop at a
// fixed concurrency: the most operations per second it sustained.
type Ceiling struct {
	Name        string  `json:"name"`
	What        string  `json:"what"`
	OpsPerSec   float64 `json:"opsPerSec"`
	Concurrency int     `json:"concurrency"`
	Latency     Latency `json:"latency"`
	Skipped     string  `json:"skipped,omitempty"`
	Note        string  `json:"note,omitempty"`
}

// Latency is a latency distribution in milliseconds.
type Latency struct {
	Mean float64 `json:"meanMs"`
	P50  float64 `json:"p50Ms"`
	P90  float64 `json:"p90Ms"`
	P99  float64 `json:"p99Ms"`
	Max  float64 `json:"maxMs"`
}

// Outcomes counts answers by what they mean.
type Outcomes struct {
	Confirmed    int `json:"confirmed"`    // 201: an order confirmed
	Insufficient int `json:"insufficient"` // 409 insufficient_stock
	LockBusy     int `json:"lockBusy"`     // 409 lock_busy
	Contention   int `json:"contention"`   // 409 contention
	Reads        int `json:"reads"`        // 200 on a GET
	// Errors is everything else: transport errors, timeouts, 5xx, other
	// 4xx; ErrorKinds breaks it down.
	Errors     int            `json:"errors"`
	ErrorKinds map[string]int `json:"errorKinds,omitempty"`
}

// Purchases is how many purchase answers there were.
func (o Outcomes) Purchases() int { return o.Confirmed + o.Insufficient + o.LockBusy + o.Contention }

func (o *Outcomes) add(p Outcomes) {
	o.Confirmed += p.Confirmed
	o.Insufficient += p.Insufficient
	o.LockBusy += p.LockBusy
	o.Contention += p.Contention
	o.Reads += p.Reads
	for k, v := range p.ErrorKinds { // error() counts Errors too
		o.error(k, v)
	}
}

func (o *Outcomes) error(kind string, n int) {
	if o.ErrorKinds == nil {
		o.ErrorKinds = map[string]int{}
	}
	o.Errors += n
	o.ErrorKinds[kind] += n
}

// I1Check is I1 (no oversell) for one product at the end of a scenario:
// confirmed answers ≤ supplied − available ≤ supplied, available ≥ 0.
type I1Check struct {
	Product   string `json:"product"`
	Supplied  int64  `json:"supplied"`
	Available int64  `json:"available"`
	Confirmed int    `json:"confirmedAnswers"`
	OK        bool   `json:"ok"`
}

func newI1Check(product string, supplied, available int64, confirmed int) I1Check {
	sold := supplied - available
	return I1Check{Product: product, Supplied: supplied, Available: available, Confirmed: confirmed,
		OK: available >= 0 && int64(confirmed) <= sold && sold <= supplied}
}

// Seed is what the seed's race adds: 10 buyers at once on stock 9, each
// retrying lock_busy and contention until bought or sold out.
type Seed struct {
	Buyers int `json:"buyers"`
	Stock  int `json:"stock"`
	// ExactlyStock counts the rounds where exactly Stock buyers got an
	// order and the rest were told insufficient stock.
	ExactlyStock int `json:"roundsExact"`
	// First is every buyer's first answer.
	First Outcomes `json:"firstAnswers"`
	// Attempts is the number of requests, retries included.
	Attempts int `json:"attempts"`
	// Buyer is a buyer's time from the start of the round to its final
	// answer; Round is the time until the last buyer's.
	Buyer Latency `json:"buyerLatency"`
	Round Latency `json:"roundLatency"`
}

// Result is one scenario against one strategy.
type Result struct {
	Strategy string `json:"strategy"`
	Scenario string `json:"scenario"`
	// Rate is the arrival rate asked for (0 for the seed, which is closed).
	Rate float64 `json:"rate"`
	// Requests sent; Throughput is the answers per second over the
	// scenario, any answer; ConfirmedPerSec counts orders only.
	Requests        int       `json:"requests"`
	Throughput      float64   `json:"throughput"`
	ConfirmedPerSec float64   `json:"confirmedPerSec"`
	Latency         Latency   `json:"latency"`
	Outcomes        Outcomes  `json:"outcomes"`
	Seed            *Seed     `json:"seed,omitempty"`
	I1              []I1Check `json:"i1"`
	// Ratios are this result over each ceiling measured: throughput over
	// the HTTP ceiling, purchase answers/s over the reserve script's,
	// confirmed orders/s over the durable insert's.
	Ratios map[string]float64 `json:"ratios,omitempty"`
	Notes  []string           `json:"notes,omitempty"`
}

// I1OK reports whether every I1 check of r passed.
func (r Result) I1OK() bool {
	for _, c := range r.I1 {
		if !c.OK {
			return false
		}
	}
	return true
}

func (r *Result) ratios(cs []Ceiling) {
	for _, c := range cs {
		if c.Skipped != "" || c.OpsPerSec <= 0 {
			continue
		}
		var v float64
		switch c.Name {
		case CeilingHTTP:
			v = r.Throughput
		case CeilingRedis:
			if r.Outcomes.Purchases() == 0 {
				continue
			}
			v = r.Throughput * float64(r.Outcomes.Purchases()) / float64(max(r.Requests, 1))
		case CeilingMySQL:
			if r.Outcomes.Purchases() == 0 {
				continue
			}
			v = r.ConfirmedPerSec
		}
		if r.Ratios == nil {
			r.Ratios = map[string]float64{}
		}
		r.Ratios[c.Name] = v / c.OpsPerSec
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
