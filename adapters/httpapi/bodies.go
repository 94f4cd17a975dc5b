package httpapi

import (
	"encoding/json"
	"sync"
	"sync/atomic"

	"github.com/flashsale/flashsale/app"
)

// bodyCache remembers the JSON of values answered often: a key is the
// value itself (a comparable problem), so a changed value is a new
// key and never serves an old body. It keeps at most maxCachedBodies
// values, the first ones seen; past that it marshals every time, so
// clients cannot grow it.
type bodyCache struct {
	m sync.Map // any (comparable) -> []byte
	n atomic.Int64
}

const maxCachedBodies = 4096

// of returns v's JSON. v must be comparable and always marshal.
func (b *bodyCache) of(v any) []byte {
	if body, ok := b.m.Load(v); ok {
		return body.([]byte)
	}
	body, _ := json.Marshal(v) // every value given here marshals
	if b.n.Add(1) <= maxCachedBodies {
		b.m.Store(v, body)
	}
	return body
}

// viewCache keeps, per product, the JSON of the last view answered, and
// reuses it while the view is the same (the near cache serves one view for
// a while). Products that exist bound it.
type viewCache struct {
	m sync.Map // domain.ProductID -> viewBody
}

type viewBody struct {
	v    app.ProductView
	body []byte
}

func (vc *viewCache) of(v app.ProductView) []byte {
	if e, ok := vc.m.Load(v.ID); ok && e.(viewBody).v == v {
		return e.(viewBody).body
	}
	body, _ := json.Marshal(productViewOf(v)) // a view always marshals
	vc.m.Store(v.ID, viewBody{v: v, body: body})
	return body
}
