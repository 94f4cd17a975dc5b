package invariant_test

import (
	"testing"
	"time"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/sim/invariant"
)

var at = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// restWorld is a consistent world at rest: product p supplied 10, one
// completed sale of 2 (saga s1, key k1, charged), one compensated saga s2
// (charged and refunded), every timeline delivered.
func restWorld(t *testing.T) invariant.Rest {
	t.Helper()
	start := func(id domain.SagaID, order domain.OrderID) *domain.Saga {
		s, err := domain.Start(domain.StartParams{ID: id, OrderID: order, ProductID: "p", Qty: 2, AmountMinor: 200,
			StartedAt: at, ReservedAt: at, Deadline: at.Add(time.Minute), LeaseOwner: "a", LeaseUntil: at.Add(time.Minute), Now: at})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s1 := start("s1", "o1")
	if err := s1.Complete(at); err != nil {
		t.Fatal(err)
	}
	s2 := start("s2", "o2")
	for _, step := range []func() error{
		func() error { return s2.BeginCompensation("payment_failed", at) },
		func() error { return s2.RecordRefund(true, at) },
		func() error { return s2.CancelOrder(at) },
		func() error { return s2.FinishCompensation(at) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	timelines := map[domain.SagaID][]domain.Event{"s1": s1.Clone().Events, "s2": s2.Clone().Events}
	return invariant.Rest{
		Moment: invariant.Moment{
			GateTrusted: true,
			Products: []invariant.Product{{ID: "p", Supplied: 10, Confirmed: 2, Durable: 8,
				Gate: domain.StockLevel{ProductID: "p", Stock: 8}}},
			Gateway: invariant.Gateway{Applied: 2, ChargedSagas: 2,
				Charged:  map[domain.SagaID]bool{"s1": true, "s2": true},
				Refunded: map[domain.SagaID]bool{"s2": true}},
		},
		Sagas:     []*domain.Saga{s1, s2},
		Timeline:  func(id domain.SagaID) []domain.Event { return timelines[id] },
		Acked:     map[domain.SagaID]bool{"s1": true},
		KeyOrders: map[string]map[domain.OrderID]bool{"k1": {"o1": true}},
		SagaOf:    func(string) domain.SagaID { return "s1" },
	}
}

func TestAConsistentWorldPasses(t *testing.T) {
	if v := restWorld(t).Check(); len(v) > 0 {
		t.Fatalf("violations of a consistent world: %v", v)
	}
}

// TestEveryCheckCanFail breaks the consistent world one fact at a time;
// each break must be reported first as the invariant it breaks, so no
// check is vacuous.
func TestEveryCheckCanFail(t *testing.T) {
	cases := []struct {
		name    string
		want    string
		breakIt func(r *invariant.Rest)
	}{
		{"confirmed above supplied", "I1", func(r *invariant.Rest) { r.Products[0].Confirmed = 11 }},
		{"durable stock off the books", "I1", func(r *invariant.Rest) { r.Products[0].Durable = 9 }},
		{"gate overbooked", "I1", func(r *invariant.Rest) { r.Products[0].Gate.Reserved = 9 }},
		{"gate apart from the store", "I2", func(r *invariant.Rest) { r.Products[0].Gate.Stock = 7 }},
		{"a reservation left at rest", "I2", func(r *invariant.Rest) {
			r.GateTrusted = false
			r.Products[0].Gate.Reserved = 1
		}},
		{"a live reservation record at rest", "I2", func(r *invariant.Rest) { r.Products[0].LiveReservations = 1 }},
		{"a saga still running", "I3", func(r *invariant.Rest) { r.Sagas[1].Status = domain.SagaCompensating }},
		{"a second charge", "I4", func(r *invariant.Rest) { r.Gateway.Applied = 3 }},
		{"a completed saga refunded", "I4", func(r *invariant.Rest) { r.Gateway.Refunded["s1"] = true }},
		{"a refund skipped", "I4", func(r *invariant.Rest) { delete(r.Gateway.Refunded, "s2") }},
		{"a charge with no saga", "I4", func(r *invariant.Rest) {
			r.Gateway.Charged["ghost"] = true
			r.Gateway.Applied, r.Gateway.ChargedSagas = 3, 3
		}},
		{"a key with two orders", "I5", func(r *invariant.Rest) { r.KeyOrders["k1"]["o2"] = true }},
		{"a key's order not its saga's", "I5", func(r *invariant.Rest) { r.KeyOrders["k1"] = map[domain.OrderID]bool{"o2": true} }},
		{"an event lost", "I6", func(r *invariant.Rest) {
			full := r.Timeline
			r.Timeline = func(id domain.SagaID) []domain.Event { e := full(id); return e[:len(e)-1] }
		}},
		{"events out of order", "I6", func(r *invariant.Rest) {
			full := r.Timeline
			r.Timeline = func(id domain.SagaID) []domain.Event {
				e := append([]domain.Event(nil), full(id)...)
				e[0], e[1] = e[1], e[0]
				return e
			}
		}},
		{"an acknowledged sale lost", "I7", func(r *invariant.Rest) { r.Acked["s2"] = true }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := restWorld(t)
			tc.breakIt(&r)
			v := r.Check()
			if len(v) == 0 || v[0].Invariant != tc.want {
				t.Fatalf("want %s first, got %v", tc.want, v)
			}
		})
	}
}

func TestLockOp(t *testing.T) {
	if v := invariant.LockOp("release", "k", "t1", "t1", true, nil); len(v) != 0 {
		t.Fatalf("the holder's release: %v", v)
	}
	if v := invariant.LockOp("release", "k", "t1", "t2", true, errLock); len(v) != 0 {
		t.Fatalf("a refused release: %v", v)
	}
	for _, held := range []bool{true, false} {
		if v := invariant.LockOp("extend", "k", "t1", "t2", held, nil); len(v) != 1 || v[0].Invariant != "I8" {
			t.Fatalf("a non-holder's extend (held %v): %v", held, v)
		}
	}
}

var errLock = domain.ErrLockLost
