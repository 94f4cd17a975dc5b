package sim

import (
	"context"

	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/sim/invariant"
)

// Violation is a broken invariant.
type Violation struct {
	Invariant string // I1 ... I8, or "panic", "api"
	Detail    string
	Step      int
}

// observe records a stored saga the moment its write commits. A saga
// record keeps the order it was created with for life: another order
// under the same saga ID is a second saga started with its key (I5). An
// order is cancelled only after the refund of a saga whose charge was
// asked (compensations run in reverse order).
func (w *world) observe(s *domain.Saga) {
	if s.HasOrder() {
		if first, ok := w.orderOf[s.ID]; !ok {
			w.orderOf[s.ID] = s.Order.ID
		} else if first != s.Order.ID {
			w.fail("I5", "saga %s started twice: order %s, then order %s", s.ID, first, s.Order.ID)
		}
		if s.Order.Status == domain.OrderCancelled && !w.cancelled[s.ID] {
			w.cancelled[s.ID] = true
			if w.chargeAsked[s.ID] && !w.refundAsked[s.ID] {
				w.fail("compensation-order", "saga %s: order cancelled before its charge was refunded", s.ID)
			}
		}
	}
	if s.Status != domain.SagaCompleted || w.completed[s.ID] {
		return
	}
	w.completed[s.ID] = true
	b := w.book(s.ProductID)
	b.confirmed += s.Qty
	w.gatePending[s.ID] = domain.Reservation{SagaID: s.ID, ProductID: s.ProductID, Qty: s.Qty}
	b.unsettled += s.Qty
}

// loaded is told an actor's store update read saga (before its change).
func (w *world) loaded(ctx context.Context, s *domain.Saga) {
	a, _ := ctx.Value(ctxKey{}).(*actor)
	if a == nil {
		return
	}
	if a.compensated == nil {
		a.compensated = map[domain.SagaID]bool{}
	}
	a.compensated[s.ID] = s.Status == domain.SagaCompensated
}

// readAfresh is told an actor read a saga: what it does next is decided on
// that read (the reaper settling a reservation the gate still lists), not
// on the compensation it ran before.
func (w *world) readAfresh(ctx context.Context, id domain.SagaID) {
	if a, _ := ctx.Value(ctxKey{}).(*actor); a != nil {
		delete(a.compensated, id)
	}
}

// checkEffect is I4's "running a compensation twice changes nothing": an
// actor that found a saga COMPENSATED makes no gateway or gate call for it.
func (w *world) checkEffect(ctx context.Context, op string, saga domain.SagaID) {
	if a, _ := ctx.Value(ctxKey{}).(*actor); a != nil && a.compensated[saga] {
		w.fail("I4", "%s: %s of saga %s after it found the saga COMPENSATED", a.name(), op, saga)
	}
}

// checkRelease is the compensation order on the calls made: a saga's
// reservation goes back only after its order is cancelled, never while
// the order is pending (a confirmed saga's orphan reservation, a replay's
// own, may go back).
func (w *world) checkRelease(ctx context.Context, saga domain.SagaID) {
	w.store.View(saga, func(s *domain.Saga) {
		if s != nil && s.HasOrder() && s.Order.Status == domain.OrderPending {
			w.fail("compensation-order", "reservation of saga %s released while its order is %s", saga, s.Order.Status)
		}
	})
}

// checkSettled is I7 where the sale becomes final: the gate is told a sale
// is done (and its buyer is about to be answered) only once the saga is
// COMPLETED in the durable store.
func (w *world) checkSettled(saga domain.SagaID) {
	w.store.View(saga, func(s *domain.Saga) {
		if s == nil || s.Status != domain.SagaCompleted {
			status := "missing"
			if s != nil {
				status = string(s.Status)
			}
			w.fail("I7", "the gate settled saga %s's sale while its durable record is %s", saga, status)
		}
	})
}

// checkLock is I8: a release or extend succeeds only for the holder.
func (w *world) checkLock(op, key, token, holder string, held bool, err error) {
	w.report(invariant.LockOp(op, key, token, holder, held, err))
}

// report records the first of vs as the run's violation.
func (w *world) report(vs []invariant.Violation) {
	if len(vs) > 0 {
		w.fail(vs[0].Invariant, "%s", vs[0].Detail)
	}
}

// moment is the snapshot the shared checker judges at every step: the
// stores as they are, and what the simulator observed on its own.
func (w *world) moment(atRest bool) invariant.Moment {
	m := invariant.Moment{GateTrusted: !w.redisLost, Gateway: invariant.Gateway{
		Applied: w.pay.ChargesApplied(), ChargedSagas: int64(len(w.charged)), Charged: w.charged, Refunded: w.refunded,
	}}
	// The products' slice is the world's, reused by every step's check
	// (the checker keeps none of it).
	m.Products = w.momentProducts[:0]
	defer func() { w.momentProducts = m.Products }()
	// Products are never removed.
	w.momentStock = w.store.AppendStock(w.momentStock[:0], w.products)
	w.momentLevels = w.inv.AppendLevels(w.momentLevels[:0], w.products)
	for i, id := range w.products {
		live := 0
		if atRest {
			live = len(w.inv.Reservations(id))
		}
		m.Products = append(m.Products, invariant.Product{
			ID: id, Supplied: w.productBooks[i].supplied, Confirmed: w.productBooks[i].confirmed, Durable: w.momentStock[i],
			Gate: w.momentLevels[i], LiveReservations: live, Unsettled: w.productBooks[i].unsettled,
		})
	}
	return m
}

// checkStep runs after every step: what holds at every moment (I1, I4's
// one charge per saga, and the gate's books while Redis has lost nothing).
// A step that changed nothing it reads (an actor's read, the clock, a
// new buyer) leaves its verdict as it was, and is not checked again.
func (w *world) checkStep() {
	if w.violation != nil || !w.changed {
		return
	}
	w.changed = false
	w.report(w.moment(false).Check())
}

// checkRest runs once the world is at rest: I1 to I7.
func (w *world) checkRest() {
	if w.violation != nil {
		return
	}
	moment, timeline := w.moment(true), timelines(w.events.Timelines())
	w.store.ViewSagas(func(sagas []*domain.Saga) {
		w.report(invariant.Rest{
			Moment: moment, Sagas: sagas, Timeline: timeline,
			Acked: w.acked, KeyOrders: w.keyOrders, SagaOf: app.SagaIDForKey,
		}.Check())
	})
}

func timelines(all map[domain.SagaID][]domain.Event) func(domain.SagaID) []domain.Event {
	return func(id domain.SagaID) []domain.Event { return all[id] }
}

// settled is told the gate confirmed saga's sale: it is no longer
// committed-but-unsettled.
func (w *world) settled(saga domain.SagaID) {
	if r, ok := w.gatePending[saga]; ok {
		w.book(r.ProductID).unsettled -= r.Qty
		delete(w.gatePending, saga)
	}
}
