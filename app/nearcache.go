package app

import (
	"sync"
	"time"

	"github.com/flashsale/flashsale/domain"
)

// nearCache keeps product details and gate levels in this process's memory
// for a short time (Config.NearCacheTTL), in front of the product cache and
// the gate: a hot product's reads are then answered without a round trip.
// Entries carry the time they were fetched, so an answer can say its age.
// This instance forgets a product's entries as soon as it changes the
// product itself (a restock, a reservation taken or given back), so its own
// writes are read back at once; other instances' writes are seen within
// the TTL.
type nearCache struct {
	ttl     time.Duration // <= 0: off
	details sync.Map      // domain.ProductID -> nearEntry[domain.Product]
	levels  sync.Map      // domain.ProductID -> nearEntry[domain.StockLevel]
	// last keeps the last level read of each product, whatever the TTL
	// and this instance's own changes: what a read answers, marked stale,
	// when the gate does not answer (Config.StaleLevelTTL).
	last sync.Map // domain.ProductID -> nearEntry[domain.StockLevel]
}

type nearEntry[T any] struct {
	v  T
	at time.Time
}

func nearGet[T any](m *sync.Map, ttl time.Duration, id domain.ProductID, now time.Time) (nearEntry[T], bool) {
	if ttl <= 0 {
		return nearEntry[T]{}, false
	}
	v, ok := m.Load(id)
	if !ok {
		return nearEntry[T]{}, false
	}
	e := v.(nearEntry[T])
	if now.Sub(e.at) >= ttl || now.Before(e.at) {
		return nearEntry[T]{}, false
	}
	return e, true
}

func nearPut[T any](m *sync.Map, ttl time.Duration, id domain.ProductID, v T, at time.Time) {
	if ttl > 0 {
		m.Store(id, nearEntry[T]{v: v, at: at})
	}
}

func (n *nearCache) product(id domain.ProductID, now time.Time) (domain.Product, bool) {
	e, ok := nearGet[domain.Product](&n.details, n.ttl, id, now)
	return e.v, ok
}

func (n *nearCache) putProduct(p domain.Product, at time.Time) {
	nearPut(&n.details, n.ttl, p.ID, p, at)
}

func (n *nearCache) level(id domain.ProductID, now time.Time) (nearEntry[domain.StockLevel], bool) {
	return nearGet[domain.StockLevel](&n.levels, n.ttl, id, now)
}

func (n *nearCache) putLevel(l domain.StockLevel, at time.Time) {
	nearPut(&n.levels, n.ttl, l.ProductID, l, at)
	n.last.Store(l.ProductID, nearEntry[domain.StockLevel]{v: l, at: at})
}

// lastLevel returns the product's last level read, if it is younger than
// maxAge (and not from the future: a clock set back).
func (n *nearCache) lastLevel(id domain.ProductID, now time.Time, maxAge time.Duration) (nearEntry[domain.StockLevel], bool) {
	return nearGet[domain.StockLevel](&n.last, maxAge, id, now)
}

// forgetLevel drops the product's gate level: this instance changed it.
func (n *nearCache) forgetLevel(id domain.ProductID) {
	if n.ttl > 0 {
		n.levels.Delete(id)
	}
}

// forget drops everything about the product: this instance restocked or
// repriced it.
func (n *nearCache) forget(id domain.ProductID) {
	if n.ttl > 0 {
		n.details.Delete(id)
		n.levels.Delete(id)
	}
}
