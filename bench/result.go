package bench

import (
	"time"
)

// Report is one run: what was measured, on what, and the results.
type Report struct {
	Date     string    `json:"date"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	Target   string    `json:"target"`
	// Protocol is what the open-model attacks speak to the target.
	Protocol   string    `json:"protocol"`
	Machine    Machine   `json:"machine"`
	Strategies []string  `json:"strategies"`
	Scenarios  []string  `json:"scenarios"`
	Rate       int       `json:"rate"`
	DurationS  float64   `json:"durationSeconds"`
	Rounds     int       `json:"seedRounds"`
	Ceilings   []Ceiling `json:"ceilings"`
	Results    []Result  `json:"results"`
	// I1OK: no product sold more than was supplied, in any scenario.
	I1OK bool `json:"i1ok"`
	// OrdersOK: every purchase the overload scenario saw confirmed is a
	// CONFIRMED order when read back (true when it did not run).
	OrdersOK bool `json:"ordersOk"`
	// I2OK: after the overload scenario, the hot product's gate holds
	// nothing and its stock is the database's (when the database could be
	// read: see Overload.I2).
	I2OK  bool     `json:"i2ok"`
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
	// Settings are the server settings the number depends on (MySQL:
	// innodb_flush_log_at_trx_commit, sync_binlog, semi-sync).
	Settings map[string]string `json:"settings,omitempty"`
}

func (c Ceiling) measured() bool { return c.Skipped == "" && c.OpsPerSec > 0 }

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
	// Shed is 429 and 503 answers: the target (or nginx) turning work
	// away and asking for a retry; ShedKinds breaks it down by status and
	// problem code ("503 overloaded", "429 rate_limited", "503" without one).
	Shed      int            `json:"shed"`
	ShedKinds map[string]int `json:"shedKinds,omitempty"`
	// Errors is everything else: transport errors, timeouts, 502, 504,
	// other 5xx and 4xx; ErrorKinds breaks it down ("502", "409 x").
	Errors     int            `json:"errors"`
	ErrorKinds map[string]int `json:"errorKinds,omitempty"`
}

// BadGateway is how many answers were 502 (nginx with no live upstream).
func (o Outcomes) BadGateway() int { return o.ErrorKinds["502"] }

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
	for k, v := range p.ShedKinds {
		o.shed(k, v)
	}
}

func (o *Outcomes) shed(kind string, n int) {
	if o.ShedKinds == nil {
		o.ShedKinds = map[string]int{}
	}
	o.Shed += n
	o.ShedKinds[kind] += n
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
	Requests        int      `json:"requests"`
	Throughput      float64  `json:"throughput"`
	ConfirmedPerSec float64  `json:"confirmedPerSec"`
	Latency         Latency  `json:"latency"`
	Outcomes        Outcomes `json:"outcomes"`
	Seed            *Seed    `json:"seed,omitempty"`
	// Saturation, Overload and SoldOut are what those scenarios add.
	Saturation *Saturation `json:"saturation,omitempty"`
	Overload   *Overload   `json:"overload,omitempty"`
	SoldOut    *SoldOut    `json:"soldOut,omitempty"`
	I1         []I1Check   `json:"i1"`
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
	for _, c := range cs {
		if c.Name == CeilingHTTP && c.measured() && r.SoldOut != nil {
			for _, run := range []*SoldOutRun{&r.SoldOut.WithoutKey, &r.SoldOut.WithKey} {
				run.RatioHTTP = run.RejectionsPerSec / c.OpsPerSec
			}
		}
	}
	if s := r.Saturation; s != nil && s.MySQL.measured() {
		// The ceiling measured just before the steps, not the run's.
		s.SustainableToMySQL = float64(s.SustainableRate) / s.MySQL.OpsPerSec
		s.SaturationToMySQL = s.SaturationConfirmedPerSec / s.MySQL.OpsPerSec
		if r.Ratios == nil {
			r.Ratios = map[string]float64{}
		}
		r.Ratios[CeilingMySQL] = s.SaturationToMySQL
	}
}

// Saturation is the saturate scenario: one hot product with ample stock,
// open-model purchases at rising rates, a step at a time.
type Saturation struct {
	Product       string  `json:"product"`
	StepDurationS float64 `json:"stepDurationSeconds"`
	// Steps in the order they ran; the run stops after the step StopReason
	// names (empty: every step ran).
	Steps      []SaturationStep `json:"steps"`
	StopReason string           `json:"stopReason,omitempty"`
	// SustainableRate is the highest step rate held with every answer a
	// 201 and p99 under SustainableP99Ms (0: no step was).
	SustainableRate int `json:"sustainableRate"`
	// SaturationConfirmedPerSec is the most confirmed purchases/s of any
	// step, at SaturationStepRate: the hot product's capacity.
	SaturationConfirmedPerSec float64 `json:"saturationConfirmedPerSec"`
	SaturationStepRate        int     `json:"saturationStepRate"`
	// MySQL is the durable-insert ceiling measured just before the steps;
	// the two ratios are over it (0 when it was skipped).
	MySQL              Ceiling `json:"mysqlCeiling"`
	SustainableToMySQL float64 `json:"sustainableToMySQL"`
	SaturationToMySQL  float64 `json:"saturationToMySQL"`
}

// SaturationStep is one rate of the saturate scenario.
type SaturationStep struct {
	// Rate is the arrival rate asked; Throughput the answers/s, any answer.
	Rate            int      `json:"rate"`
	Requests        int      `json:"requests"`
	Throughput      float64  `json:"throughput"`
	ConfirmedPerSec float64  `json:"confirmedPerSec"`
	Latency         Latency  `json:"latency"`
	Outcomes        Outcomes `json:"outcomes"`
}

// Overload is the overload scenario: purchases of one hot product at 2R
// and 5R (R its saturating rate), with reads of another product at a
// modest rate alongside.
type Overload struct {
	// SaturationRate is R; RateFrom says where it came from.
	SaturationRate int    `json:"saturationRate"`
	RateFrom       string `json:"rateFrom"`
	// Found is the saturate steps run to find R, when neither the flag nor
	// the saturate scenario gave it.
	Found    *Saturation     `json:"foundSaturation,omitempty"`
	ReadRate int             `json:"readRate"`
	Phases   []OverloadPhase `json:"phases"`
	// Orders: every 201's order read back with GET /orders/:id after the
	// load; NotConfirmed were read and not CONFIRMED, Unreadable could not
	// be read at all. Both must be 0.
	OrdersChecked      int            `json:"ordersChecked"`
	OrdersNotConfirmed int            `json:"ordersNotConfirmed"`
	OrdersUnreadable   int            `json:"ordersUnreadable"`
	OrderProblems      map[string]int `json:"orderProblems,omitempty"`
	// I2 is the hot product's stock at rest after the load: the gate's
	// and the database's.
	I2 I2Check `json:"i2"`
}

// OrdersOK reports whether every confirmed answer's order is CONFIRMED.
func (o *Overload) OrdersOK() bool { return o.OrdersNotConfirmed == 0 && o.OrdersUnreadable == 0 }

// I2Check is I2 (conservation) for one product at rest: the gate holds
// nothing (available = stock) and its stock is the durable stock.
type I2Check struct {
	Product string `json:"product"`
	// Checked is false when the database could not be read (--mysql off,
	// or unreachable); Note says why.
	Checked       bool   `json:"checked"`
	GateStock     int64  `json:"gateStock"`
	GateAvailable int64  `json:"gateAvailable"`
	DurableStock  int64  `json:"durableStock"`
	Note          string `json:"note,omitempty"`
}

// OK reports whether I2 held, or was not checked.
func (c I2Check) OK() bool {
	return !c.Checked || (c.GateAvailable == c.GateStock && c.GateStock == c.DurableStock)
}

// OverloadPhase is one rate of the overload scenario.
type OverloadPhase struct {
	Name       string   `json:"name"` // "2R", "5R"
	Rate       int      `json:"rate"`
	Requests   int      `json:"requests"`
	Throughput float64  `json:"throughput"`
	Latency    Latency  `json:"latency"`
	Outcomes   Outcomes `json:"outcomes"`
	Confirmed  int      `json:"confirmed"`
	BadGateway int      `json:"badGateway"`
	// Shed counts 429/503 purchase answers; ShedWellFormed those with a
	// Retry-After header and an application/problem+json body;
	// ShedLatency their latency.
	Shed           int     `json:"shed"`
	ShedWellFormed int     `json:"shedWellFormed"`
	ShedLatency    Latency `json:"shedLatency"`
	// The other product's reads, alongside.
	ReadRequests int      `json:"readRequests"`
	ReadLatency  Latency  `json:"readLatency"`
	ReadOutcomes Outcomes `json:"readOutcomes"`
}

// SoldOut is the soldout scenario: purchases of a sold-out product,
// closed loop at full speed, without and with an Idempotency-Key.
type SoldOut struct {
	Concurrency int        `json:"concurrency"`
	WithoutKey  SoldOutRun `json:"withoutKey"`
	WithKey     SoldOutRun `json:"withKey"`
}

// SoldOutRun is one closed-loop run on the sold-out product.
type SoldOutRun struct {
	Requests int     `json:"requests"`
	ElapsedS float64 `json:"elapsedSeconds"`
	// RejectionsPerSec counts 409 insufficient_stock answers per second;
	// RatioHTTP is that over the HTTP ceiling.
	RejectionsPerSec float64  `json:"rejectionsPerSec"`
	RatioHTTP        float64  `json:"ratioHTTP"`
	Latency          Latency  `json:"latency"`
	Outcomes         Outcomes `json:"outcomes"`
	// Errors counts every answer that was not a 409.
	Errors int `json:"errors"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
