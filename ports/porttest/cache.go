package porttest

import (
	"testing"
	"time"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// CacheHarness is what the ProductCache suite drives.
type CacheHarness struct {
	// Cache is the adapter under test.
	Cache ports.ProductCache
	// Advance moves the adapter's notion of time forward by d (a clock
	// advance, or a real sleep for Redis).
	Advance func(d time.Duration)
}

// cacheTTL and cacheStep are chosen like lockTTL and lockStep.
const (
	cacheTTL  = 400 * time.Millisecond
	cacheStep = 300 * time.Millisecond
)

// ProductCache checks the ports.ProductCache contract.
func ProductCache(t *testing.T, newHarness func(t *testing.T) CacheHarness) {
	run := func(name string, test func(t *testing.T, h CacheHarness)) {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			if h.Cache == nil || h.Advance == nil {
				t.Fatal("harness needs Cache and Advance")
			}
			test(t, h)
		})
	}
	kettle := domain.Product{ID: "p-1", Name: "Kettle", PriceMinor: 2599, Stock: 7, Version: 3, UpdatedAt: epoch}
	get := func(t *testing.T, h CacheHarness, id domain.ProductID) (domain.Product, bool) {
		t.Helper()
		p, ok, err := h.Cache.Get(t.Context(), id)
		must(t, err, "get")
		return p, ok
	}
	wantHit := func(t *testing.T, h CacheHarness, want domain.Product, when string) {
		t.Helper()
		got, ok := get(t, h, want.ID)
		if !ok {
			t.Fatalf("%s: miss, want a hit", when)
		}
		if !got.UpdatedAt.Equal(want.UpdatedAt) {
			t.Fatalf("%s: got %+v, want %+v", when, got, want)
		}
		got.UpdatedAt = want.UpdatedAt
		if got != want {
			t.Fatalf("%s: got %+v, want %+v", when, got, want)
		}
	}
	wantMiss := func(t *testing.T, h CacheHarness, id domain.ProductID, when string) {
		t.Helper()
		if got, ok := get(t, h, id); ok {
			t.Fatalf("%s: hit %+v, want a miss", when, got)
		}
	}

	run("Get of a product never set misses", func(t *testing.T, h CacheHarness) {
		wantMiss(t, h, "p-1", "empty cache")
	})

	run("Get returns what Set cached", func(t *testing.T, h CacheHarness) {
		must(t, h.Cache.Set(t.Context(), kettle, cacheTTL), "set")
		wantHit(t, h, kettle, "after set")
		wantMiss(t, h, "p-2", "another product")
	})

	run("Set replaces the cached product", func(t *testing.T, h CacheHarness) {
		must(t, h.Cache.Set(t.Context(), kettle, cacheTTL), "set")
		newer := kettle
		newer.Stock, newer.Version = 6, 4
		must(t, h.Cache.Set(t.Context(), newer, cacheTTL), "set again")
		wantHit(t, h, newer, "after the second set")
	})

	run("An entry expires after its ttl", func(t *testing.T, h CacheHarness) {
		must(t, h.Cache.Set(t.Context(), kettle, cacheTTL), "set")
		h.Advance(cacheStep)
		wantHit(t, h, kettle, "before the ttl ran out")
		h.Advance(cacheStep)
		wantMiss(t, h, kettle.ID, "after the ttl ran out")
	})

	run("Delete drops the entry, and deleting a missing entry is not an error", func(t *testing.T, h CacheHarness) {
		must(t, h.Cache.Set(t.Context(), kettle, cacheTTL), "set")
		must(t, h.Cache.Delete(t.Context(), kettle.ID), "delete")
		wantMiss(t, h, kettle.ID, "after delete")
		must(t, h.Cache.Delete(t.Context(), kettle.ID), "delete again")
		must(t, h.Cache.Delete(t.Context(), "p-never"), "delete of a product never set")
	})

	run("A call with a done context returns ErrUnavailable and changes nothing", func(t *testing.T, h CacheHarness) {
		done := doneContext(t)
		wantUnavailable(t, h.Cache.Set(done, kettle, cacheTTL), "set")
		wantMiss(t, h, kettle.ID, "after a refused set")
		must(t, h.Cache.Set(t.Context(), kettle, cacheTTL), "set")
		wantUnavailable(t, h.Cache.Delete(done, kettle.ID), "delete")
		_, _, err := h.Cache.Get(done, kettle.ID)
		wantUnavailable(t, err, "get")
		wantHit(t, h, kettle, "after a refused delete")
	})
}
