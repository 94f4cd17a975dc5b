package sim

import (
	"context"
	"sort"

	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
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
	w.confirmed[s.ProductID] += s.Qty
	w.gatePending[s.ID] = domain.Reservation{SagaID: s.ID, ProductID: s.ProductID, Qty: s.Qty}
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
		w.fail("I4", "%s: %s of saga %s after it found the saga COMPENSATED", a.name, op, saga)
	}
}

// checkRelease is the compensation order on the calls made: a saga's
// reservation goes back only after its order is cancelled, never while
// the order is pending (a confirmed saga's orphan reservation, a replay's
// own, may go back).
func (w *world) checkRelease(ctx context.Context, saga domain.SagaID) {
	s, err := w.store.Saga(context.WithoutCancel(ctx), saga)
	if err == nil && s.HasOrder() && s.Order.Status == domain.OrderPending {
		w.fail("compensation-order", "reservation of saga %s released while its order is %s", saga, s.Order.Status)
	}
}

// checkSettled is I7 where the sale becomes final: the gate is told a sale
// is done (and its buyer is about to be answered) only once the saga is
// COMPLETED in the durable store.
func (w *world) checkSettled(saga domain.SagaID) {
	s, err := w.store.Saga(context.Background(), saga)
	if err != nil || s.Status != domain.SagaCompleted {
		status := "missing"
		if err == nil {
			status = string(s.Status)
		}
		w.fail("I7", "the gate settled saga %s's sale while its durable record is %s", saga, status)
	}
}

// checkLock is I8: a release or extend succeeds only for the holder.
func (w *world) checkLock(op, key, token, holder string, held bool, err error) {
	if err == nil && (!held || holder != token) {
		w.fail("I8", "%s of %s by token %s succeeded while %q held it", op, key, token, holder)
	}
}

// checkStep runs after every step: I1 at every moment, and, while Redis
// has lost nothing, that the gate's stock equals the durable stock plus
// the sales committed but not yet confirmed in the gate.
func (w *world) checkStep() {
	if w.violation != nil {
		return
	}
	ctx := context.Background()
	pending := map[domain.ProductID]int64{}
	for _, r := range w.gatePending {
		pending[r.ProductID] += r.Qty
	}
	for _, id := range w.products {
		p, err := w.store.Product(ctx, id)
		if err != nil {
			w.fail("I1", "catalog %s: %v", id, err)
			return
		}
		if w.confirmed[id] > w.supplied[id] {
			w.fail("I1", "%s: confirmed %d > supplied %d", id, w.confirmed[id], w.supplied[id])
			return
		}
		if p.Stock < 0 || p.Stock != w.supplied[id]-w.confirmed[id] {
			w.fail("I1", "%s: durable stock %d, supplied %d, confirmed %d", id, p.Stock, w.supplied[id], w.confirmed[id])
			return
		}
		l, err := w.inv.Level(ctx, id)
		if err != nil {
			w.fail("I1", "gate %s: %v", id, err)
			return
		}
		if l.Reserved < 0 || l.Available() < 0 {
			w.fail("I1", "%s: gate stock %d reserved %d", id, l.Stock, l.Reserved)
			return
		}
		if !w.redisLost && l.Stock != p.Stock+pending[id] {
			w.fail("I2", "%s: gate stock %d != durable %d + committed-not-settled %d", id, l.Stock, p.Stock, pending[id])
			return
		}
	}
}

// checkRest runs once the world is at rest: I1 to I7. Termination (I3)
// is checked before the gate's books (I2): an unfinished saga holds its
// reservation, and the cause is the one to report.
func (w *world) checkRest() {
	w.checkStep()
	if w.violation != nil {
		return
	}
	ctx := context.Background()
	for _, s := range w.store.Sagas() {
		if !s.Status.Terminal() {
			w.fail("I3", "saga %s is %s at rest", s.ID, s.Status)
			return
		}
	}
	for _, id := range w.products {
		p, _ := w.store.Product(ctx, id)
		l, _ := w.inv.Level(ctx, id)
		if l.Stock != p.Stock || l.Reserved != 0 {
			w.fail("I2", "%s at rest: gate stock %d reserved %d, durable stock %d", id, l.Stock, l.Reserved, p.Stock)
			return
		}
		if held := w.inv.Reservations(id); len(held) > 0 {
			w.fail("I2", "%s at rest: %d live reservations (first %s)", id, len(held), held[0].SagaID)
			return
		}
	}
	sagas := w.store.Sagas()
	stored := map[domain.SagaID]*domain.Saga{}
	for _, s := range sagas {
		stored[s.ID] = s
		switch {
		case s.Status == domain.SagaCompleted && (!w.charged[s.ID] || w.refunded[s.ID]):
			w.fail("I4", "completed saga %s: charged %v refunded %v", s.ID, w.charged[s.ID], w.refunded[s.ID])
			return
		case s.Status == domain.SagaCompensated && w.charged[s.ID] != w.refunded[s.ID]:
			w.fail("I4", "compensated saga %s: charged %v refunded %v", s.ID, w.charged[s.ID], w.refunded[s.ID])
			return
		}
		got := w.events.Timeline(s.ID)
		if len(got) != len(s.Events) {
			w.fail("I6", "saga %s: %d events delivered, %d recorded", s.ID, len(got), len(s.Events))
			return
		}
		for i := range got {
			if got[i].ID != s.Events[i].ID {
				w.fail("I6", "saga %s: delivery %d is %s, want %s", s.ID, i, got[i].ID, s.Events[i].ID)
				return
			}
		}
	}
	for _, id := range sortedSagaIDs(w.charged) {
		if stored[id] == nil && !w.refunded[id] {
			w.fail("I4", "saga %s was charged but has no record and no refund", id)
			return
		}
	}
	for _, id := range sortedSagaIDs(w.acked) {
		if s := stored[id]; s == nil || s.Status != domain.SagaCompleted || s.Order.Status != domain.OrderConfirmed {
			w.fail("I7", "acknowledged purchase %s is not a confirmed order at rest", id)
			return
		}
	}
	keys := make([]string, 0, len(w.keyOrders))
	for key := range w.keyOrders {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		orders := w.keyOrders[key]
		if len(orders) > 1 {
			w.fail("I5", "key %q produced %d orders", key, len(orders))
			return
		}
		for order := range orders {
			if s := stored[app.SagaIDForKey(key)]; s == nil || s.Order.ID != order {
				w.fail("I5", "key %q's order %s is not its saga's", key, order)
				return
			}
		}
	}
}
