package memory_test

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/flashsale/flashsale/adapters/memory"
	"github.com/flashsale/flashsale/domain"
)

// TestInventoryMatchesItsModel drives the inventory with random sequences of
// every operation, clock moves and reaper scans included, and compares each
// answer and each level with a plain model of the contract. Failures shrink
// to a short sequence and are replayed from testdata/rapid.
func TestInventoryMatchesItsModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		const retention = time.Hour
		clock := memory.NewClock(start)
		inv := memory.NewInventory(clock, memory.WithRetention(retention))
		m := &inventoryModel{levels: map[domain.ProductID]*modelLevel{}, records: map[domain.SagaID]*modelRecord{}}
		ctx := context.Background()

		sagaGen := rapid.SampledFrom([]domain.SagaID{"s-0", "s-1", "s-2", "s-3", "s-4", "s-5"})
		productGen := rapid.SampledFrom([]domain.ProductID{"p-1", "p-2"})
		drawReservation := func(rt *rapid.T) domain.Reservation {
			return domain.Reservation{
				SagaID:    sagaGen.Draw(rt, "saga"),
				ProductID: productGen.Draw(rt, "product"),
				Qty:       rapid.Int64Range(-1, 4).Draw(rt, "qty"),
				Deadline:  clock.Now().Add(time.Duration(rapid.IntRange(0, 120).Draw(rt, "dueMinutes")) * time.Minute),
			}
		}
		same := func(rt *rapid.T, op string, got, want error) {
			if errKind(got) != errKind(want) {
				rt.Fatalf("%s: adapter answered %v, model %v", op, got, want)
			}
		}

		rt.Repeat(map[string]func(*rapid.T){
			"": func(rt *rapid.T) {
				for _, p := range []domain.ProductID{"p-1", "p-2"} {
					l, err := inv.Level(ctx, p)
					ml, ok := m.levels[p]
					if !ok {
						same(rt, "level", err, domain.ErrProductNotFound)
						continue
					}
					if err != nil || l.Stock != ml.stock || l.Reserved != ml.reserved {
						rt.Fatalf("level of %s: %+v (%v), model %+v", p, l, err, *ml)
					}
					if l.Reserved < 0 || l.Reserved > l.Stock {
						rt.Fatalf("invariant broken: %+v", l)
					}
					var sum int64
					for _, r := range inv.Reservations(p) {
						sum += r.Qty
					}
					if sum != l.Reserved {
						rt.Fatalf("held reservations of %s sum to %d, reserved is %d", p, sum, l.Reserved)
					}
				}
			},
			"reserve": func(rt *rapid.T) {
				r := drawReservation(rt)
				m.forget(clock.Now(), retention)
				same(rt, "reserve", inv.Reserve(ctx, r), m.reserve(r, nil))
			},
			"reserveIfVersion": func(rt *rapid.T) {
				r := drawReservation(rt)
				stale := rapid.Bool().Draw(rt, "stale")
				l, _ := inv.Level(ctx, r.ProductID)
				v := l.Version
				if stale {
					v--
				}
				m.forget(clock.Now(), retention)
				same(rt, "reserve if version", inv.ReserveIfVersion(ctx, r, v), m.reserve(r, &stale))
			},
			"confirm": func(rt *rapid.T) {
				p, s := productGen.Draw(rt, "product"), sagaGen.Draw(rt, "saga")
				m.forget(clock.Now(), retention)
				same(rt, "confirm", inv.Confirm(ctx, p, s), m.consume(p, s, domain.ReservationConfirmed))
			},
			"release": func(rt *rapid.T) {
				p, s := productGen.Draw(rt, "product"), sagaGen.Draw(rt, "saga")
				m.forget(clock.Now(), retention)
				same(rt, "release", inv.Release(ctx, p, s), m.consume(p, s, domain.ReservationReleased))
			},
			"hasReservation": func(rt *rapid.T) {
				p, s := productGen.Draw(rt, "product"), sagaGen.Draw(rt, "saga")
				m.forget(clock.Now(), retention)
				got, err := inv.HasReservation(ctx, p, s)
				rec, want := m.records[s]
				want = want && rec.res.ProductID == p
				if err != nil || got != want {
					rt.Fatalf("has reservation %s of %s: %v (%v), model %v", s, p, got, err, want)
				}
			},
			"addStock": func(rt *rapid.T) {
				p, d := productGen.Draw(rt, "product"), rapid.Int64Range(0, 5).Draw(rt, "delta")
				same(rt, "add stock", inv.AddStock(ctx, p, d), m.addStock(p, d))
			},
			"setStock": func(rt *rapid.T) {
				p, n := productGen.Draw(rt, "product"), rapid.Int64Range(0, 10).Draw(rt, "stock")
				same(rt, "set stock", inv.SetStock(ctx, p, n), m.setStock(p, n))
			},
			"advance": func(rt *rapid.T) {
				clock.Advance(time.Duration(rapid.IntRange(0, 90).Draw(rt, "minutes")) * time.Minute)
			},
			"expired": func(rt *rapid.T) {
				limit := rapid.IntRange(0, 4).Draw(rt, "limit")
				got, err := inv.Expired(ctx, clock.Now(), limit)
				if err != nil {
					rt.Fatalf("expired: %v", err)
				}
				want := m.expired(clock.Now(), retention, limit)
				if !slices.Equal(got, want) {
					rt.Fatalf("expired %v, model %v", got, want)
				}
			},
		})
	})
}

func errKind(err error) error {
	for _, sentinel := range []error{
		domain.ErrInvalidInput, domain.ErrProductNotFound, domain.ErrInsufficientStock, domain.ErrConflict,
		domain.ErrIdempotencyMismatch,
		domain.ErrReservationNotFound, domain.ErrReservationReleased, domain.ErrReservationConfirmed,
	} {
		if errors.Is(err, sentinel) {
			return sentinel
		}
	}
	return err
}

// inventoryModel is the Inventory contract written as plainly as possible.
type inventoryModel struct {
	levels  map[domain.ProductID]*modelLevel
	records map[domain.SagaID]*modelRecord
}

type modelLevel struct{ stock, reserved int64 }

type modelRecord struct {
	res   domain.Reservation
	state domain.ReservationState // "" for a refused reserve
}

// reserve models Reserve, or ReserveIfVersion when stale is not nil.
func (m *inventoryModel) reserve(r domain.Reservation, stale *bool) error {
	if r.Qty <= 0 {
		return domain.ErrInvalidInput
	}
	if rec, ok := m.records[r.SagaID]; ok {
		if rec.res.ProductID != r.ProductID || rec.res.Qty != r.Qty {
			return domain.ErrIdempotencyMismatch
		}
		if rec.state == "" {
			return domain.ErrInsufficientStock
		}
		if rec.state == domain.ReservationReleased {
			return domain.ErrReservationReleased
		}
		return nil
	}
	l, ok := m.levels[r.ProductID]
	if !ok {
		return domain.ErrProductNotFound
	}
	if stale != nil && *stale {
		return domain.ErrConflict
	}
	if l.stock-l.reserved < r.Qty {
		m.records[r.SagaID] = &modelRecord{res: r}
		return domain.ErrInsufficientStock
	}
	l.reserved += r.Qty
	m.records[r.SagaID] = &modelRecord{res: r, state: domain.ReservationHeld}
	return nil
}

func (m *inventoryModel) consume(p domain.ProductID, s domain.SagaID, to domain.ReservationState) error {
	rec, ok := m.records[s]
	if !ok || rec.state == "" || rec.res.ProductID != p {
		return domain.ErrReservationNotFound
	}
	switch {
	case rec.state == to && to == domain.ReservationConfirmed:
		return nil
	case rec.state == domain.ReservationReleased:
		return domain.ErrReservationReleased
	case rec.state == domain.ReservationConfirmed:
		return domain.ErrReservationConfirmed
	}
	l := m.levels[p]
	l.reserved -= rec.res.Qty
	if to == domain.ReservationConfirmed {
		l.stock -= rec.res.Qty
	}
	rec.state = to
	return nil
}

func (m *inventoryModel) addStock(p domain.ProductID, delta int64) error {
	if l, ok := m.levels[p]; ok {
		l.stock += delta
	} else {
		m.levels[p] = &modelLevel{stock: delta}
	}
	return nil
}

func (m *inventoryModel) setStock(p domain.ProductID, stock int64) error {
	l, ok := m.levels[p]
	if !ok {
		m.levels[p] = &modelLevel{stock: stock}
		return nil
	}
	if stock < l.reserved {
		return domain.ErrInvalidInput
	}
	l.stock = stock
	return nil
}

// forget drops the consumed and refused records whose deadline plus the
// retention is at or before now: every call that reads records answers as
// if they were gone.
func (m *inventoryModel) forget(now time.Time, retention time.Duration) {
	for s, rec := range m.records {
		if rec.state != domain.ReservationHeld && !now.Before(rec.res.Deadline.Add(retention)) {
			delete(m.records, s)
		}
	}
}

// expired forgets, as every call does, then lists.
func (m *inventoryModel) expired(now time.Time, retention time.Duration, limit int) []domain.Reservation {
	m.forget(now, retention)
	var due []domain.Reservation
	for _, rec := range m.records {
		if rec.state == domain.ReservationHeld && !rec.res.Deadline.After(now) {
			due = append(due, rec.res)
		}
	}
	slices.SortFunc(due, func(a, b domain.Reservation) int {
		return cmp.Or(a.Deadline.Compare(b.Deadline), cmp.Compare(a.SagaID, b.SagaID))
	})
	if limit <= 0 {
		return nil
	}
	return due[:min(limit, len(due))]
}
