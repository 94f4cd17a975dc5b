package redis

import (
	"testing"
	"time"

	"github.com/flashsale/flashsale/domain"
)

// TestCachedProductRoundTrips: the cache's format carries every field of a
// product there and back, and its names are the ones entries already in
// Redis were written with.
func TestCachedProductRoundTrips(t *testing.T) {
	p := domain.Product{ID: "p-1", Name: "Phone", PriceMinor: 129900, Stock: 7, Version: 3,
		UpdatedAt: time.Date(2026, 11, 30, 12, 0, 0, 5, time.UTC)}
	raw, err := encodeCachedProduct(p)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"id":"p-1","name":"Phone","priceMinor":129900,"stock":7,"version":3,"updatedAt":"2026-11-30T12:00:00.000000005Z"}`
	if string(raw) != want {
		t.Fatalf("encoded %s, want %s", raw, want)
	}
	got, err := decodeCachedProduct(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !got.UpdatedAt.Equal(p.UpdatedAt) {
		t.Fatalf("updatedAt %v, want %v", got.UpdatedAt, p.UpdatedAt)
	}
	got.UpdatedAt = p.UpdatedAt
	if got != p {
		t.Fatalf("decoded %+v, want %+v", got, p)
	}
	if _, err := decodeCachedProduct([]byte(`{"id":`)); err == nil {
		t.Fatal("a damaged entry decoded")
	}
}
