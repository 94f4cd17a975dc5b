package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
)

// FuzzPurchaseBody throws arbitrary bodies, media types and keys at
// POST /purchase. Whatever arrives: never a 5xx, every error is the one
// problem shape, and a refused request changes nothing.
func FuzzPurchaseBody(f *testing.F) {
	f.Add(`{"productId":"p1","qty":1}`, "application/json", "")
	f.Add(`{"productId":123,"qty":2}`, "application/json; charset=utf-8", "key-1")
	f.Add(`{"productId":"p1","qty":1.5}`, "application/json", "")
	f.Add(`{"productId":"p1","qty":"1"}`, "application/json", "")
	f.Add(`{"productId":null,"qty":99999999999999999999}`, "application/json", "")
	f.Add(`[{"productId":"p1","qty":1}]`, "application/json", "")
	f.Add(`{"productId":"p1","qty":1}{"x":1}`, "application/json", "")
	f.Add(`{"productId":"1; DROP TABLE products;--","qty":1}`, "application/json", "k")
	f.Add(`{"productId":"p1","qty":1,"extra":true}`, "text/plain", "a b")
	f.Fuzz(func(t *testing.T, body, contentType, key string) {
		fx := newFixture(t, fixtureOpts{})
		before := fx.snapshot()
		r := request{method: http.MethodPost, path: "/purchase", body: body, header: map[string]string{"Content-Type": contentType}}
		if key != "" {
			r.header["Idempotency-Key"] = key
		}
		rec := fx.serve(r)
		switch {
		case rec.Code >= 500:
			t.Fatalf("%d for body %q, type %q, key %q: %s", rec.Code, body, contentType, key, rec.Body)
		case rec.Code >= 400:
			assertProblemShape(t, rec)
			assertUnchanged(t, before, fx.snapshot())
		case rec.Code != http.StatusCreated:
			t.Fatalf("unexpected %d: %s", rec.Code, rec.Body)
		}
	})
}

// FuzzIdempotencyKey sends two purchases with one key. Whatever the key
// and bodies: never a 5xx; the same request twice gets the same answer;
// and the key never starts more than one saga (I5).
func FuzzIdempotencyKey(f *testing.F) {
	f.Add("key-1", `{"productId":"p1","qty":1}`, `{"productId":"p1","qty":1}`)
	f.Add("key-2", `{"productId":"p1","qty":1}`, `{"productId":"p1","qty":2}`)
	f.Add("key-3", `{"productId":"p2","qty":9}`, `{"productId":"p2","qty":9}`)
	f.Add("k\x7f", `{"productId":"p1","qty":1}`, `{"productId":"p1","qty":1}`)
	f.Add("key-4", `{"qty":1,"productId":"p1"}`, `{"productId":"p1","qty":1}`)
	f.Fuzz(func(t *testing.T, key, first, second string) {
		fx := newFixture(t, fixtureOpts{})
		a, b := fx.purchase(first, key), fx.purchase(second, key)
		for _, rec := range []int{a.Code, b.Code} {
			if rec >= 500 {
				t.Fatalf("5xx for key %q: %s / %s", key, a.Body, b.Body)
			}
		}
		// Without a key two identical requests are two purchases; with one,
		// the second gets the first's answer.
		if key != "" && first == second && a.Code != b.Code {
			t.Fatalf("the same request twice: %d then %d", a.Code, b.Code)
		}
		if key != "" && first == second && a.Code == http.StatusCreated && !bytes.Equal(a.Body.Bytes(), b.Body.Bytes()) {
			t.Fatalf("the same request twice got two orders:\n%s\n%s", a.Body, b.Body)
		}
		sagas := 0
		for _, s := range fx.store.Sagas() {
			if s.ID == app.SagaIDForKey(key) {
				sagas++
			}
		}
		if sagas > 1 {
			t.Fatalf("key %q started %d sagas", key, sagas)
		}
		if key != "" && a.Code == http.StatusCreated && b.Code == http.StatusCreated {
			var x, y struct{ OrderID domain.OrderID }
			_ = json.Unmarshal(a.Body.Bytes(), &x)
			_ = json.Unmarshal(b.Body.Bytes(), &y)
			if x.OrderID != y.OrderID {
				t.Fatalf("one key, two orders: %s and %s", x.OrderID, y.OrderID)
			}
		}
	})
}

// assertProblemShape is assertProblem for an error whose code is not known
// in advance.
func assertProblemShape(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	var p struct{ Code string }
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Code == "" {
		t.Fatalf("%d without a problem body: %q", rec.Code, rec.Body)
	}
	assertProblem(t, rec, rec.Code, p.Code)
}
