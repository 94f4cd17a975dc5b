// Package payment holds the payment gateway adapters. Simulated stands in
// for a real gateway in the simulator, the tests and development, with the
// latency, refusals and ambiguous timeouts a real one has.
package payment

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

var _ ports.Payments = (*Simulated)(nil)

// Options configure a Simulated gateway. The zero value approves every
// charge at once.
type Options struct {
	// Latency delays every Charge and Refund; 0 means no delay at all.
	Latency time.Duration
	// DeclineRate is the probability, in [0, 1], that a new charge is
	// refused.
	DeclineRate float64
	// TimeoutRate is the probability, in [0, 1], that a new charge times
	// out; DeclineRate + TimeoutRate must not exceed 1.
	TimeoutRate float64
	// Seed seeds the gateway's own random source, so a run with the same
	// seed and the same sequence of calls makes the same decisions.
	Seed uint64
}

// Validate reports whether o describes a possible gateway.
func (o Options) Validate() error {
	rate := func(field string, r float64) error {
		if math.IsNaN(r) || r < 0 || r > 1 {
			return domain.Invalid(field, "must be between 0 and 1")
		}
		return nil
	}
	if o.Latency < 0 {
		return domain.Invalid("latency", "must not be negative")
	}
	if err := rate("declineRate", o.DeclineRate); err != nil {
		return err
	}
	if err := rate("timeoutRate", o.TimeoutRate); err != nil {
		return err
	}
	if o.DeclineRate+o.TimeoutRate > 1 {
		return domain.Invalid("timeoutRate", "plus declineRate must not exceed 1")
	}
	return nil
}

// Outcome is the gateway's decision on a saga's first charge.
type Outcome int

// The possible decisions. The timeouts answer the caller with an error
// wrapping domain.ErrUnavailable; whether the money was taken is known only
// to the gateway (and to Ledger).
const (
	Approve Outcome = iota + 1
	Decline
	TimeoutCharged
	TimeoutNotCharged
)

func (o Outcome) String() string {
	switch o {
	case Approve:
		return "approve"
	case Decline:
		return "decline"
	case TimeoutCharged:
		return "timeout-charged"
	case TimeoutNotCharged:
		return "timeout-not-charged"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Entry is the gateway's record of one saga.
type Entry struct {
	AmountMinor int64 `json:"amountMinor"`
	// Charged: the money was taken (it stays true after a refund).
	Charged bool `json:"charged"`
	// Refunded: a charge was given back.
	Refunded bool `json:"refunded"`
	// Declined: the charge was refused; nothing was taken.
	Declined bool `json:"declined"`
	// Voided: Refund came before any charge, so the saga was compensated
	// first and any later charge for it is refused.
	Voided bool `json:"voided"`
}

// pcgStream is the second PCG seed word, fixed so Options.Seed alone picks
// the sequence.
const pcgStream = 0x9e3779b97f4a7c15

// Simulated is a simulated payment gateway (ports.Payments). Each saga's
// charge is decided once, by the SetDecider hook if one is set and otherwise
// by the configured rates, and the decision is remembered: a repeated Charge
// never takes money again and gets the first call's answer (nil, a decline
// or a timeout). Refunds never fail except by the caller's context. It is
// safe for concurrent use; with concurrent callers the order of random
// draws, and so the decisions, depend on scheduling.
type Simulated struct {
	latency     time.Duration
	declineRate float64
	timeoutRate float64

	mu      sync.Mutex
	rng     *rand.Rand
	decider func(domain.SagaID) Outcome
	ledger  map[domain.SagaID]*record
	charges int64
	refunds int64
}

type record struct {
	entry   Entry
	outcome Outcome
}

// NewSimulated returns a gateway configured by opts, or an error matching
// domain.ErrInvalidInput if opts are invalid.
func NewSimulated(opts Options) (*Simulated, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("payment gateway options: %w", err)
	}
	return &Simulated{
		latency:     opts.Latency,
		declineRate: opts.DeclineRate,
		timeoutRate: opts.TimeoutRate,
		rng:         rand.New(rand.NewPCG(opts.Seed, pcgStream)),
		ledger:      make(map[domain.SagaID]*record),
	}, nil
}

// SetDecider makes decide choose the outcome of every new charge instead of
// the rates; nil restores the rates. decide runs under the gateway's lock,
// so it must not call the gateway. It must return one of the Outcome
// constants; anything else panics.
func (g *Simulated) SetDecider(decide func(domain.SagaID) Outcome) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.decider = decide
}

// Charge implements ports.Payments. A malformed saga ID or a non-positive
// amount is an error matching domain.ErrInvalidInput. When ctx ends during
// the latency the call returns an error wrapping domain.ErrUnavailable and
// ctx's error, and the request never reached the gateway: nothing is
// decided. A saga refunded before it was ever charged is refused with
// domain.ErrPaymentDeclined, so a charge that arrives after its
// compensation cannot take money. A repeated call with another amount is
// another request, not a retry: it takes nothing and returns an error
// wrapping domain.ErrIdempotencyMismatch, rather than "ok" for an amount
// that was never charged.
func (g *Simulated) Charge(ctx context.Context, saga domain.SagaID, amountMinor int64) error {
	if err := saga.Validate(); err != nil {
		return fmt.Errorf("charge: %w", err)
	}
	if amountMinor <= 0 {
		return fmt.Errorf("charge %s: %w", saga, domain.Invalid("amountMinor", "must be positive"))
	}
	if err := g.wait(ctx); err != nil {
		return fmt.Errorf("charge %s: %w", saga, err)
	}

	g.mu.Lock()
	defer g.mu.Unlock()
	rec, ok := g.ledger[saga]
	if !ok {
		rec = &record{entry: Entry{AmountMinor: amountMinor}, outcome: g.decideLocked(saga)}
		switch rec.outcome {
		case Approve, TimeoutCharged:
			rec.entry.Charged = true
			g.charges++
		case Decline:
			rec.entry.Declined = true
		}
		g.ledger[saga] = rec
	}
	if rec.entry.Voided {
		return fmt.Errorf("charge %s: already compensated: %w", saga, domain.ErrPaymentDeclined)
	}
	if rec.entry.AmountMinor != amountMinor {
		return fmt.Errorf("charge %s: %d asked before, now %d: %w",
			saga, rec.entry.AmountMinor, amountMinor, domain.ErrIdempotencyMismatch)
	}
	switch rec.outcome {
	case Decline:
		return fmt.Errorf("charge %s: %w", saga, domain.ErrPaymentDeclined)
	case TimeoutCharged, TimeoutNotCharged:
		return fmt.Errorf("charge %s: gateway timed out: %w", saga, domain.ErrUnavailable)
	}
	return nil
}

// decideLocked picks a new charge's outcome. The caller holds g.mu, which
// also guards the random source.
func (g *Simulated) decideLocked(saga domain.SagaID) Outcome {
	if g.decider != nil {
		o := g.decider(saga)
		if o < Approve || o > TimeoutNotCharged {
			panic(fmt.Sprintf("payment.Simulated: decider returned %v for %s", o, saga))
		}
		return o
	}
	r := g.rng.Float64()
	switch {
	case r < g.declineRate:
		return Decline
	case r < g.declineRate+g.timeoutRate:
		// The request reached the gateway but its answer was lost: whether
		// the charge went through is a coin flip the caller cannot see.
		if g.rng.IntN(2) == 0 {
			return TimeoutCharged
		}
		return TimeoutNotCharged
	}
	return Approve
}

// Refund implements ports.Payments. A saga with no charge decision yet is
// recorded as voided (see Charge) and answers false. A malformed saga ID is
// an error matching domain.ErrInvalidInput.
func (g *Simulated) Refund(ctx context.Context, saga domain.SagaID) (bool, error) {
	if err := saga.Validate(); err != nil {
		return false, fmt.Errorf("refund: %w", err)
	}
	if err := g.wait(ctx); err != nil {
		return false, fmt.Errorf("refund %s: %w", saga, err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	rec, ok := g.ledger[saga]
	if !ok {
		g.ledger[saga] = &record{entry: Entry{Voided: true}, outcome: Decline}
		return false, nil
	}
	if !rec.entry.Charged {
		return false, nil
	}
	if !rec.entry.Refunded {
		rec.entry.Refunded = true
		g.refunds++
	}
	return true, nil
}

// wait models the network round trip, giving up when ctx ends first.
func (g *Simulated) wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", domain.ErrUnavailable, err)
	}
	if g.latency == 0 {
		return nil
	}
	timer := time.NewTimer(g.latency)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", domain.ErrUnavailable, ctx.Err())
	}
}

// Ledger returns a copy of the gateway's record of every saga it has seen.
// Test support: with it a test checks that no saga was charged twice and
// that every compensated, charged saga was refunded.
func (g *Simulated) Ledger() map[domain.SagaID]Entry {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[domain.SagaID]Entry, len(g.ledger))
	for id, rec := range g.ledger {
		out[id] = rec.entry
	}
	return out
}

// Entry returns the gateway's record of one saga, and whether it has one.
func (g *Simulated) Entry(saga domain.SagaID) (Entry, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	rec, ok := g.ledger[saga]
	if !ok {
		return Entry{}, false
	}
	return rec.entry, true
}

// ChargesApplied returns how many charges took money. Test support.
func (g *Simulated) ChargesApplied() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.charges
}

// RefundsApplied returns how many refunds gave money back. Test support.
func (g *Simulated) RefundsApplied() int64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.refunds
}
