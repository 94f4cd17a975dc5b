package httpapi

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
)

// A cached body is the JSON of the value asked for: a changed view is
// marshalled anew, and the problem cache stops growing at its bound.
func TestBodyCachesServeTheCurrentValue(t *testing.T) {
	var vc viewCache
	v := app.ProductView{Product: domain.Product{ID: "p", Name: "P", PriceMinor: 10, Stock: 5}, Available: 5, AvailableAsOf: time.Unix(1, 0).UTC()}
	first := vc.of(v)
	v.Available = 4
	second := vc.of(v)
	var got app.ProductView
	if err := json.Unmarshal(second, &got); err != nil || got.Available != 4 {
		t.Fatalf("after a change: %s (%v)", second, err)
	}
	if string(first) == string(second) {
		t.Fatal("a changed view served the old body")
	}
	var bc bodyCache
	for i := range maxCachedBodies + 10 {
		p := newProblem(409, "insufficient_stock", "n")
		p.Status = 400 + i // distinct values
		if b := bc.of(p); len(b) == 0 {
			t.Fatal("empty body")
		}
	}
	n := 0
	bc.m.Range(func(any, any) bool { n++; return true })
	if n != maxCachedBodies {
		t.Errorf("%d bodies kept, want the bound %d", n, maxCachedBodies)
	}
}
