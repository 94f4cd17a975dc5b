package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/flashsale/flashsale/adapters/httpapi"
)

// The handler's own cost per request, without the network: a sold-out
// purchase answered from memory and a near-cached product read, beside a
// bare gin handler (what the bench's ceilings compare the API with).

func benchServe(b *testing.B, h http.Handler, method, path, body string, header map[string]string) {
	b.Helper()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		for k, v := range header {
			req.Header.Set(k, v)
		}
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}

func BenchmarkHandlerBareGin(b *testing.B) {
	r := gin.New()
	r.POST("/purchase", func(c *gin.Context) {
		c.Data(http.StatusConflict, "application/problem+json", []byte(`{"code":"insufficient_stock"}`))
	})
	benchServe(b, r, http.MethodPost, "/purchase", `{"productId":"p1","qty":1}`, map[string]string{"Content-Type": "application/json"})
}

func BenchmarkHandlerSoldOut(b *testing.B) {
	f := newFixture(b, fixtureOpts{http: &httpapi.Options{MaxInFlight: 2048}})
	for range 5 {
		f.purchase(`{"productId":"p1","qty":1}`, "")
	}
	if rec := f.purchase(`{"productId":"p1","qty":1}`, ""); rec.Code != http.StatusConflict {
		b.Fatalf("not sold out: %d", rec.Code)
	}
	benchServe(b, f.h, http.MethodPost, "/purchase", `{"productId":"p1","qty":1}`, map[string]string{"Content-Type": "application/json"})
}

func BenchmarkHandlerCachedRead(b *testing.B) {
	f := newFixture(b, fixtureOpts{http: &httpapi.Options{MaxInFlight: 2048}})
	f.get("/products/p1")
	benchServe(b, f.h, http.MethodGet, "/products/p1", "", nil)
}
