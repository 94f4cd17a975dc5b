// Package invariant is the one checker of the invariants I1 to I8
// (ARCHITECTURE.md, "Invariants"), shared by the simulator and the app's
// rapid state-machine test. It judges a snapshot that its caller takes of
// a world: the durable store, the inventory gate, the payment gateway's
// books, the event log, and what the clients were told. It reads nothing
// itself, so the same rules hold whoever drives the world.
//
// What a caller observes independently of the stores (which units it
// supplied, which sales it saw commit, which charges the gateway applied,
// which answers it gave) is what gives the checks their teeth: a store that
// miscounts its own books is caught against the observer's.
package invariant

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/flashsale/flashsale/domain"
)

// Violation is a broken invariant.
type Violation struct {
	Invariant string // I1 ... I8
	Detail    string
}

func (v Violation) String() string { return v.Invariant + ": " + v.Detail }

func violation(inv, format string, args ...any) Violation {
	return Violation{Invariant: inv, Detail: fmt.Sprintf(format, args...)}
}

// Product is one product as a snapshot sees it.
type Product struct {
	ID domain.ProductID
	// Supplied is every unit ever supplied, as the supplier counted.
	Supplied int64
	// Confirmed is the units of confirmed orders, as the observer counted
	// their commits.
	Confirmed int64
	// Durable is the durable store's stock.
	Durable int64
	// Gate is the inventory gate's level, and LiveReservations how many
	// reservations it holds (read at rest).
	Gate             domain.StockLevel
	LiveReservations int
	// Unsettled is the units sold durably whose reservations the gate has
	// not yet been told are sold.
	Unsettled int64
}

// Gateway is the payment gateway's books.
type Gateway struct {
	// Applied counts the charges the gateway applied, every one, and
	// ChargedSagas the sagas it charged (a caller keeps both as counters,
	// so the check at every moment costs nothing per saga).
	Applied, ChargedSagas int64
	// Charged and Refunded are the sagas charged and refunded (a refund
	// leaves Charged true); read at rest.
	Charged, Refunded map[domain.SagaID]bool
}

// Moment is what holds at every moment.
type Moment struct {
	Products []Product
	// GateTrusted says the gate has lost no write (no failover since the
	// last rebuild), so it must equal the durable stock plus the sales not
	// yet settled in it.
	GateTrusted bool
	Gateway     Gateway
}

// Check returns the violations of I1 (confirmed never above supplied,
// durable stock = supplied - confirmed and never negative, the gate's
// available never negative), I2 while the gate is trusted (gate stock =
// durable + unsettled), and I4 (no saga charged twice).
func (m Moment) Check() []Violation {
	var v []Violation
	for _, p := range m.Products {
		switch {
		case p.Confirmed > p.Supplied:
			v = append(v, violation("I1", "%s: confirmed %d > supplied %d", p.ID, p.Confirmed, p.Supplied))
		case p.Durable < 0 || p.Durable != p.Supplied-p.Confirmed:
			v = append(v, violation("I1", "%s: durable stock %d, supplied %d, confirmed %d", p.ID, p.Durable, p.Supplied, p.Confirmed))
		case p.Gate.Reserved < 0 || p.Gate.Available() < 0:
			v = append(v, violation("I1", "%s: gate stock %d reserved %d", p.ID, p.Gate.Stock, p.Gate.Reserved))
		case m.GateTrusted && p.Gate.Stock != p.Durable+p.Unsettled:
			v = append(v, violation("I2", "%s: gate stock %d != durable %d + committed-not-settled %d", p.ID, p.Gate.Stock, p.Durable, p.Unsettled))
		}
	}
	if g := m.Gateway; g.Applied != g.ChargedSagas {
		v = append(v, violation("I4", "%d charges applied to %d charged sagas", g.Applied, g.ChargedSagas))
	}
	return v
}

// Rest is a world at rest: every fault healed, every lease and deadline
// past, recovery, the reaper and the relay run.
type Rest struct {
	Moment
	// Sagas are the stored sagas.
	Sagas []*domain.Saga
	// Timeline is the event log's delivered timeline of a saga, in order,
	// duplicates dropped.
	Timeline func(domain.SagaID) []domain.Event
	// Acked are the sagas a buyer was answered COMPLETED for.
	Acked map[domain.SagaID]bool
	// KeyOrders are the orders answered per Idempotency-Key, and SagaOf
	// the saga ID a key stands for.
	KeyOrders map[string]map[domain.OrderID]bool
	SagaOf    func(key string) domain.SagaID
}

// Check returns the violations of what holds at rest, in this order (the
// first is the cause to report): Moment's; I3 (every saga ended); I2 (the
// gate equals the durable stock, nothing reserved, no live reservation);
// I4 (a completed saga charged and not refunded, a compensated one refunded
// exactly when charged, no charge without a saga); I6 (each saga's
// delivered timeline is its stored one); I7 (every acknowledged purchase a
// confirmed order); I5 (one order per key, the key's saga's).
func (r Rest) Check() []Violation {
	v := r.Moment.Check()
	sagas := slices.SortedFunc(slices.Values(r.Sagas), func(a, b *domain.Saga) int { return cmp.Compare(a.ID, b.ID) })
	stored := make(map[domain.SagaID]*domain.Saga, len(sagas))
	for _, s := range sagas {
		stored[s.ID] = s
		if !s.Status.Terminal() {
			v = append(v, violation("I3", "saga %s is %s at rest", s.ID, s.Status))
		}
	}
	for _, p := range r.Products {
		if p.Gate.Stock != p.Durable || p.Gate.Reserved != 0 {
			v = append(v, violation("I2", "%s at rest: gate stock %d reserved %d, durable stock %d", p.ID, p.Gate.Stock, p.Gate.Reserved, p.Durable))
		} else if p.LiveReservations > 0 {
			v = append(v, violation("I2", "%s at rest: %d live reservations", p.ID, p.LiveReservations))
		}
	}
	g := r.Gateway
	for _, s := range sagas {
		switch {
		case s.Status == domain.SagaCompleted && (!g.Charged[s.ID] || g.Refunded[s.ID]):
			v = append(v, violation("I4", "completed saga %s: charged %v refunded %v", s.ID, g.Charged[s.ID], g.Refunded[s.ID]))
		case s.Status == domain.SagaCompensated && g.Charged[s.ID] != g.Refunded[s.ID]:
			v = append(v, violation("I4", "compensated saga %s: charged %v refunded %v", s.ID, g.Charged[s.ID], g.Refunded[s.ID]))
		}
	}
	for _, id := range sortedKeys(g.Charged) {
		if g.Charged[id] && stored[id] == nil && !g.Refunded[id] {
			v = append(v, violation("I4", "saga %s was charged but has no record and no refund", id))
		}
	}
	for _, s := range sagas {
		if r.Timeline == nil {
			break
		}
		got := r.Timeline(s.ID)
		if len(got) != len(s.Events) {
			v = append(v, violation("I6", "saga %s: %d events delivered, %d recorded", s.ID, len(got), len(s.Events)))
			continue
		}
		for i := range got {
			if got[i].ID != s.Events[i].ID || got[i].Seq != i+1 {
				v = append(v, violation("I6", "saga %s: delivery %d is %s (seq %d), want %s", s.ID, i, got[i].ID, got[i].Seq, s.Events[i].ID))
				break
			}
		}
	}
	for _, id := range sortedKeys(r.Acked) {
		if s := stored[id]; r.Acked[id] && (s == nil || s.Status != domain.SagaCompleted || s.Order.Status != domain.OrderConfirmed) {
			v = append(v, violation("I7", "acknowledged purchase %s is not a confirmed order at rest", id))
		}
	}
	for _, key := range sortedKeys(r.KeyOrders) {
		orders := r.KeyOrders[key]
		if len(orders) > 1 {
			v = append(v, violation("I5", "key %q produced %d orders", key, len(orders)))
			continue
		}
		for order := range orders {
			if s := stored[r.SagaOf(key)]; s == nil || s.Order.ID != order {
				v = append(v, violation("I5", "key %q's order %s is not its saga's", key, order))
			}
		}
	}
	return v
}

// LockOp is I8: a release or an extend of a lock succeeded (err nil) only
// if token held it (held, by holder) when it was made.
func LockOp(op, key, token, holder string, held bool, err error) []Violation {
	if err == nil && (!held || holder != token) {
		return []Violation{violation("I8", "%s of %s by token %s succeeded while %q held it", op, key, token, holder)}
	}
	return nil
}

func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
