package app

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/flashsale/flashsale/domain"
)

// admission keeps a crowd from queueing on one product: it bounds the
// purchases of each product in flight on this instance and remembers, for a
// short while, that a product's gate answered "insufficient stock", so the
// crowd that keeps coming after a sell-out is answered from memory. Neither
// touches a dependency; both are per instance.
type admission struct {
	limit int64 // <= 0: no bound
	ttl   time.Duration

	inFlight sync.Map // domain.ProductID -> *atomic.Int64
	soldOut  sync.Map // domain.ProductID -> soldOutMark
}

// soldOutMark says the gate refused qty units of a product at the time at:
// fewer than qty were available then.
type soldOutMark struct {
	qty int64
	at  time.Time
}

// enter admits one purchase of product, or reports false when the product
// already has limit purchases in flight here. A true answer must be paired
// with one exit.
func (ad *admission) enter(product domain.ProductID) bool {
	if ad.limit <= 0 {
		return true
	}
	v, ok := ad.inFlight.Load(product)
	if !ok {
		v, _ = ad.inFlight.LoadOrStore(product, new(atomic.Int64))
	}
	n := v.(*atomic.Int64)
	if n.Add(1) > ad.limit {
		n.Add(-1)
		return false
	}
	return true
}

func (ad *admission) exit(product domain.ProductID) {
	if ad.limit <= 0 {
		return
	}
	if v, ok := ad.inFlight.Load(product); ok {
		v.(*atomic.Int64).Add(-1)
	}
}

// soldOutFor reports whether a purchase of qty units of product can be
// answered "insufficient stock" from memory at now: the gate refused as
// much or less, less than ttl ago, and nothing this instance did since could
// have given stock back.
func (ad *admission) soldOutFor(product domain.ProductID, qty int64, now time.Time) bool {
	if ad.ttl <= 0 {
		return false
	}
	v, ok := ad.soldOut.Load(product)
	if !ok {
		return false
	}
	m := v.(soldOutMark)
	return qty >= m.qty && now.Sub(m.at) < ad.ttl
}

// markSoldOut records that the gate refused qty units of product at now.
// A live mark for a smaller quantity is kept: it covers more requests.
func (ad *admission) markSoldOut(product domain.ProductID, qty int64, now time.Time) {
	if ad.ttl <= 0 {
		return
	}
	if v, ok := ad.soldOut.Load(product); ok {
		if m := v.(soldOutMark); m.qty < qty && now.Sub(m.at) < ad.ttl {
			return
		}
	}
	ad.soldOut.Store(product, soldOutMark{qty: qty, at: now})
}

// stockMayHaveReturned drops the product's mark: this instance restocked
// it or released a reservation of it.
func (ad *admission) stockMayHaveReturned(product domain.ProductID) {
	ad.soldOut.Delete(product)
}
