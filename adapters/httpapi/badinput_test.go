package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
)

// badCase is one request the API must refuse without changing anything,
// or (when accept is set) one whose outcome this file documents.
type badCase struct {
	name   string
	method string // default POST
	path   string // default /purchase
	body   string
	// ct is the Content-Type; "" means application/json, noCT sends none.
	ct   string
	noCT bool
	// admin adds the admin bearer token.
	admin  bool
	header map[string]string
	// status and problem code of the refusal.
	status int
	code   string
	// alternatives, when set, replaces status and code: the answer may be
	// any of these statuses, each with its code.
	alternatives map[int]string
	// accept marks a case that may succeed; it checks the outcome itself.
	accept func(t *testing.T, f *fixture, rec *httptest.ResponseRecorder, before snapshot)
}

func (c badCase) request() request {
	r := request{method: c.method, path: c.path, body: c.body, header: map[string]string{}}
	if r.method == "" {
		r.method = http.MethodPost
	}
	if r.path == "" {
		r.path = "/purchase"
	}
	switch {
	case c.noCT:
	case c.ct != "":
		r.header["Content-Type"] = c.ct
	case r.method == http.MethodPost:
		r.header["Content-Type"] = "application/json"
	}
	if c.admin {
		r.header["Authorization"] = "Bearer " + adminToken
	}
	for k, v := range c.header {
		r.header[k] = v
	}
	return r
}

const maxQty = 10 // app.DefaultConfig().MaxQtyPerOrder, checked in TestBadInput

func purchaseBody(productID string, qty any) string {
	return fmt.Sprintf(`{"productId":%s,"qty":%v}`, productID, qty)
}

func badInputCases() []badCase {
	const (
		bad       = http.StatusBadRequest
		invalid   = "invalid_request"
		malformed = "malformed_json"
	)
	valid := `{"productId":"p1","qty":1}`
	id65 := strings.Repeat("a", 65)
	cases := []badCase{
		// Not one JSON object.
		{name: "malformed JSON", body: `{productId: p1, qty: 1}`, status: bad, code: malformed},
		{name: "truncated JSON", body: `{"productId":"p1","qty":`, status: bad, code: malformed},
		{name: "truncated string", body: `{"productId":"p1`, status: bad, code: malformed},
		{name: "empty body", body: ``, status: bad, code: malformed},
		{name: "whitespace body", body: " \n\t ", status: bad, code: malformed},
		{name: "JSON array", body: `[{"productId":"p1","qty":1}]`, status: bad, code: invalid},
		{name: "JSON string", body: `"p1"`, status: bad, code: invalid},
		{name: "JSON number", body: `42`, status: bad, code: invalid},
		{name: "JSON true", body: `true`, status: bad, code: invalid},
		{name: "null body", body: `null`, status: bad, code: invalid},
		{name: "two objects concatenated", body: valid + valid, status: bad, code: invalid},
		{name: "two objects on two lines", body: valid + "\n" + valid, status: bad, code: invalid},
		{name: "trailing garbage", body: valid + ` garbage`, status: bad, code: invalid},
		{name: "trailing bracket", body: valid + `]`, status: bad, code: invalid},
		{name: "trailing null", body: valid + ` null`, status: bad, code: invalid},
		{name: "trailing comma", body: `{"productId":"p1","qty":1,}`, status: bad, code: malformed},
		{name: "single quotes", body: `{'productId':'p1','qty':1}`, status: bad, code: malformed},
		{name: "comment", body: `{"productId":"p1", /* x */ "qty":1}`, status: bad, code: malformed},
		{name: "NaN qty", body: `{"productId":"p1","qty":NaN}`, status: bad, code: malformed},
		{name: "deeply nested productId", body: `{"productId":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `,"qty":1}`, status: bad, code: malformed},
		{name: "nested productId under the depth limit", body: `{"productId":` + strings.Repeat("[", 50) + strings.Repeat("]", 50) + `,"qty":1}`, status: bad, code: invalid},
		{name: "BOM before the object", body: "\ufeff" + valid, status: bad, code: malformed},

		// qty.
		{name: "qty 0", body: purchaseBody(`"p1"`, 0), status: bad, code: invalid},
		{name: "qty -1", body: purchaseBody(`"p1"`, -1), status: bad, code: invalid},
		{name: "qty over the per-order maximum", body: purchaseBody(`"p1"`, maxQty+1), status: bad, code: invalid},
		{name: "qty min int64", body: purchaseBody(`"p1"`, "-9223372036854775808"), status: bad, code: invalid},
		{name: "qty max int64", body: purchaseBody(`"p1"`, "9223372036854775807"), status: bad, code: invalid},
		{name: "qty 1.5", body: purchaseBody(`"p1"`, "1.5"), status: bad, code: invalid},
		{name: "qty 1.0", body: purchaseBody(`"p1"`, "1.0"), status: bad, code: invalid},
		{name: "qty 1e2", body: purchaseBody(`"p1"`, "1e2"), status: bad, code: invalid},
		{name: "qty 1e0", body: purchaseBody(`"p1"`, "1e0"), status: bad, code: invalid},
		{name: `qty "2" (string)`, body: purchaseBody(`"p1"`, `"2"`), status: bad, code: invalid},
		{name: "qty true", body: purchaseBody(`"p1"`, "true"), status: bad, code: invalid},
		{name: "qty null", body: purchaseBody(`"p1"`, "null"), status: bad, code: invalid},
		{name: "qty object", body: purchaseBody(`"p1"`, "{}"), status: bad, code: invalid},
		{name: "qty array", body: purchaseBody(`"p1"`, "[1]"), status: bad, code: invalid},
		{name: "qty overflow 99999999999999999999", body: purchaseBody(`"p1"`, "99999999999999999999"), status: bad, code: invalid},
		{name: "qty missing", body: `{"productId":"p1"}`, status: bad, code: invalid},
		{name: "qty leading zero", body: purchaseBody(`"p1"`, "01"), status: bad, code: malformed},
		{name: "qty with plus sign", body: purchaseBody(`"p1"`, "+1"), status: bad, code: malformed},
		{name: "qty hex", body: purchaseBody(`"p1"`, "0x1"), status: bad, code: malformed},
		{name: "qty times price overflows", body: purchaseBody(`"pricey"`, 2), status: bad, code: invalid},

		// productId.
		{name: "productId missing", body: `{"qty":1}`, status: bad, code: invalid},
		{name: "productId null", body: purchaseBody("null", 1), status: bad, code: invalid},
		{name: "productId {} (object)", body: purchaseBody("{}", 1), status: bad, code: invalid},
		{name: "productId [] (array)", body: purchaseBody(`["p1"]`, 1), status: bad, code: invalid},
		{name: "productId true", body: purchaseBody("true", 1), status: bad, code: invalid},
		{name: "productId -5", body: purchaseBody("-5", 1), status: bad, code: invalid},
		{name: "productId 1.5", body: purchaseBody("1.5", 1), status: bad, code: invalid},
		{name: "productId 1e3", body: purchaseBody("1e3", 1), status: bad, code: invalid},
		{name: "productId 65-digit integer", body: purchaseBody(strings.Repeat("1", 65), 1), status: bad, code: invalid},
		{name: `productId ""`, body: purchaseBody(`""`, 1), status: bad, code: invalid},
		{name: "productId 65 chars", body: purchaseBody(`"`+id65+`"`, 1), status: bad, code: invalid},
		{name: "productId 10 KB", body: purchaseBody(`"`+strings.Repeat("p", 10<<10)+`"`, 1), status: bad, code: invalid},
		{name: "productId with spaces", body: purchaseBody(`"p 1"`, 1), status: bad, code: invalid},
		{name: "productId with surrounding spaces", body: purchaseBody(`" p1 "`, 1), status: bad, code: invalid},
		{name: "productId SQL-looking", body: purchaseBody(`"1; DROP TABLE products;--"`, 1), status: bad, code: invalid},
		{name: "productId SQL quote", body: purchaseBody(`"p1' OR '1'='1"`, 1), status: bad, code: invalid},
		{name: "productId path traversal", body: purchaseBody(`"../../etc/passwd"`, 1), status: bad, code: invalid},
		{name: "productId with slash", body: purchaseBody(`"p1/p2"`, 1), status: bad, code: invalid},
		{name: "productId with NUL", body: purchaseBody(`"p1\u0000"`, 1), status: bad, code: invalid},
		{name: "productId with newline", body: purchaseBody(`"p1\n"`, 1), status: bad, code: invalid},
		{name: "productId non-ASCII", body: purchaseBody(`"p1é"`, 1), status: bad, code: invalid},
		{name: "productId fullwidth lookalike", body: purchaseBody(`"ｐ1"`, 1), status: bad, code: invalid},
		{name: "productId invalid UTF-8", body: "{\"productId\":\"p1\xff\",\"qty\":1}", status: bad, code: invalid},
		{name: "productId Redis key injection", body: purchaseBody(`"p1}:stock"`, 1), status: bad, code: invalid},
		{name: "productId template", body: purchaseBody(`"${jndi:ldap://x}"`, 1), status: bad, code: invalid},

		// Shape.
		{name: "unknown field", body: `{"productId":"p1","qty":1,"price":1}`, status: bad, code: invalid},
		{name: "unknown nested field", body: `{"productId":"p1","qty":1,"extra":{"a":1}}`, status: bad, code: invalid},
		{name: "__proto__ field", body: `{"productId":"p1","qty":1,"__proto__":{}}`, status: bad, code: invalid},

		// Existence.
		{name: `unknown product "999"`, body: purchaseBody(`"999"`, 1), status: http.StatusNotFound, code: "product_not_found"},
		{name: "unknown product 999 (integer)", body: purchaseBody("999", 1), status: http.StatusNotFound, code: "product_not_found"},
		{name: "unknown product valid-looking", body: purchaseBody(`"p1.old"`, 1), status: http.StatusNotFound, code: "product_not_found"},
		{name: "product sold out by quantity", body: purchaseBody(`"p2"`, 4), status: http.StatusConflict, code: "insufficient_stock"},

		// Size and media type.
		{name: "1 MB body", body: `{"productId":"p1","qty":1,"pad":"` + strings.Repeat("x", 1<<20) + `"}`, status: http.StatusRequestEntityTooLarge, code: "body_too_large"},
		{name: "1 MB of whitespace after the object", body: valid + strings.Repeat(" ", 1<<20), status: http.StatusRequestEntityTooLarge, code: "body_too_large"},
		{name: "1 MB of whitespace before the object", body: strings.Repeat(" ", 1<<20) + valid, status: http.StatusRequestEntityTooLarge, code: "body_too_large"},
		{name: "Content-Type text/plain", ct: "text/plain", body: valid, status: http.StatusUnsupportedMediaType, code: "unsupported_media_type"},
		{name: "missing Content-Type", noCT: true, body: valid, status: http.StatusUnsupportedMediaType, code: "unsupported_media_type"},
		{name: "Content-Type form", ct: "application/x-www-form-urlencoded", body: "productId=p1&qty=1", status: http.StatusUnsupportedMediaType, code: "unsupported_media_type"},
		{name: "Content-Type application/xml", ct: "application/xml", body: valid, status: http.StatusUnsupportedMediaType, code: "unsupported_media_type"},
		{name: "Content-Type json suffix type", ct: "application/merge-patch+json", body: valid, status: http.StatusUnsupportedMediaType, code: "unsupported_media_type"},
		{name: "Content-Type garbage", ct: ";;;", body: valid, status: http.StatusUnsupportedMediaType, code: "unsupported_media_type"},
		{name: "Content-Type unterminated parameter", ct: `application/json; charset="utf-8`, body: valid, status: http.StatusUnsupportedMediaType, code: "unsupported_media_type"},
		{name: "1 MB body with a wrong Content-Type", ct: "text/plain", body: strings.Repeat("x", 1<<20), status: http.StatusUnsupportedMediaType, code: "unsupported_media_type"},

		// Idempotency-Key (checked before the body).
		{name: "Idempotency-Key of 300 chars", header: map[string]string{"Idempotency-Key": strings.Repeat("k", 300)}, body: valid, status: bad, code: "invalid_idempotency_key"},
		{name: "Idempotency-Key of 256 chars", header: map[string]string{"Idempotency-Key": strings.Repeat("k", 256)}, body: valid, status: bad, code: "invalid_idempotency_key"},
		{name: "Idempotency-Key with a space", header: map[string]string{"Idempotency-Key": "my key"}, body: valid, status: bad, code: "invalid_idempotency_key"},
		{name: "Idempotency-Key with a tab", header: map[string]string{"Idempotency-Key": "my\tkey"}, body: valid, status: bad, code: "invalid_idempotency_key"},
		{name: "Idempotency-Key with a control char", header: map[string]string{"Idempotency-Key": "key\x01"}, body: valid, status: bad, code: "invalid_idempotency_key"},
		{name: "Idempotency-Key with DEL", header: map[string]string{"Idempotency-Key": "key\x7f"}, body: valid, status: bad, code: "invalid_idempotency_key"},
		{name: "Idempotency-Key non-ASCII", header: map[string]string{"Idempotency-Key": "clé"}, body: valid, status: bad, code: "invalid_idempotency_key"},
		{name: "Idempotency-Key bad with a bad body", header: map[string]string{"Idempotency-Key": "a b"}, body: `{`, status: bad, code: "invalid_idempotency_key"},

		// Method.
		{name: "GET /purchase", method: http.MethodGet, status: http.StatusMethodNotAllowed, code: "method_not_allowed"},
		{name: "PUT /purchase", method: http.MethodPut, body: valid, status: http.StatusMethodNotAllowed, code: "method_not_allowed"},

		// Accepted or documented.
		{name: "Content-Type application/json; charset=utf-8 (accepted)", ct: "application/json; charset=utf-8", body: valid, accept: acceptPurchase("p1", 1)},
		{name: "Content-Type in capitals (accepted)", ct: "Application/JSON", body: valid, accept: acceptPurchase("p1", 1)},
		{name: "productId as an integer (accepted)", body: purchaseBody("123", 2), accept: acceptPurchase("123", 2)},
		{name: "Idempotency-Key of 255 chars (accepted)", header: map[string]string{"Idempotency-Key": strings.Repeat("k", 255)}, body: valid, accept: acceptPurchase("p1", 1)},
		{name: "whitespace around the object (accepted)", body: "\n " + valid + " \n", accept: acceptPurchase("p1", 1)},
		// encoding/json matches member names case-insensitively and keeps
		// the last of duplicate members; the schema allows neither.
		{name: `"QTY" instead of "qty"`, body: `{"productId":"p1","QTY":2}`, status: bad, code: invalid},
		{name: `"PRODUCTID" and "Qty"`, body: `{"PRODUCTID":"p2","Qty":1}`, status: bad, code: invalid},
		{name: `"qty" and "QTY" both`, body: `{"productId":"p1","qty":1,"QTY":3}`, status: bad, code: invalid},
		{name: `"qty" twice`, body: `{"productId":"p1","qty":1,"qty":2}`, status: bad, code: invalid},
		{name: `"productId" twice`, body: `{"productId":"p1","productId":"p2","qty":1}`, status: bad, code: invalid},
		{name: `"qty" twice, once escaped`, body: `{"productId":"p1","qty":1,"q\u0074y":2}`, status: bad, code: invalid},
		{name: `"qty" with an escape (accepted)`, body: `{"productId":"p1","q\u0074y":1}`, accept: acceptPurchase("p1", 1)},
		{name: `"qty" twice, the same value`, body: `{"productId":"p1","qty":1,"qty":1}`, status: bad, code: invalid},

		// POST /products.
		{name: "products: negative addStock", path: "/products", admin: true, body: `{"id":"p1","addStock":-1}`, status: bad, code: invalid},
		{name: "products: addStock over the per-call maximum", path: "/products", admin: true, body: `{"id":"p1","addStock":1000000001}`, status: bad, code: invalid},
		{name: "products: addStock 1.5", path: "/products", admin: true, body: `{"id":"p1","addStock":1.5}`, status: bad, code: invalid},
		{name: `products: addStock "5"`, path: "/products", admin: true, body: `{"id":"p1","addStock":"5"}`, status: bad, code: invalid},
		{name: "products: negative price", path: "/products", admin: true, body: `{"id":"p1","priceMinor":-5}`, status: bad, code: invalid},
		{name: "products: new product without name", path: "/products", admin: true, body: `{"id":"newp","priceMinor":100,"addStock":5}`, status: bad, code: invalid},
		{name: "products: new product without price", path: "/products", admin: true, body: `{"id":"newp","name":"New","addStock":5}`, status: bad, code: invalid},
		{name: "products: name over 200 chars", path: "/products", admin: true, body: `{"id":"p1","name":"` + strings.Repeat("n", 201) + `"}`, status: bad, code: invalid},
		{name: "products: id missing", path: "/products", admin: true, body: `{"name":"X","priceMinor":1,"addStock":1}`, status: bad, code: invalid},
		{name: "products: id with spaces", path: "/products", admin: true, body: `{"id":"a b","name":"X","priceMinor":1,"addStock":1}`, status: bad, code: invalid},
		{name: "products: id 65 chars", path: "/products", admin: true, body: `{"id":"` + id65 + `","name":"X","priceMinor":1,"addStock":1}`, status: bad, code: invalid},
		{name: "products: id -5", path: "/products", admin: true, body: `{"id":-5,"name":"X","priceMinor":1,"addStock":1}`, status: bad, code: invalid},
		{name: "products: unknown field", path: "/products", admin: true, body: `{"id":"p1","addStock":1,"stock":100}`, status: bad, code: invalid},
		{name: `products: id "."`, path: "/products", admin: true, body: `{"id":".","name":"X","priceMinor":1,"addStock":1}`, status: bad, code: invalid},
		{name: `products: id ".."`, path: "/products", admin: true, body: `{"id":"..","name":"X","priceMinor":1,"addStock":1}`, status: bad, code: invalid},
		{name: `products: "addStock" twice`, path: "/products", admin: true, body: `{"id":"p1","addStock":1,"addStock":1000}`, status: bad, code: invalid},
		{name: `products: "ID" for "id"`, path: "/products", admin: true, body: `{"ID":"p1","addStock":1}`, status: bad, code: invalid},
		{name: "products: malformed JSON", path: "/products", admin: true, body: `{"id":`, status: bad, code: malformed},
		{name: "products: 1 MB body", path: "/products", admin: true, body: `{"id":"p1","name":"` + strings.Repeat("n", 1<<20) + `"}`, status: http.StatusRequestEntityTooLarge, code: "body_too_large"},
		{name: "products: Content-Type text/plain", path: "/products", admin: true, ct: "text/plain", body: `{"id":"p1","addStock":1}`, status: http.StatusUnsupportedMediaType, code: "unsupported_media_type"},
		{name: "products: no token", path: "/products", body: `{"id":"p1","addStock":1}`, status: http.StatusUnauthorized, code: "unauthorized"},
		{name: "products: token with trailing space", path: "/products", header: map[string]string{"Authorization": "Bearer " + adminToken + " "}, body: `{"id":"p1","addStock":1}`, status: http.StatusUnauthorized, code: "unauthorized"},
		{name: "products: token prefix only", path: "/products", header: map[string]string{"Authorization": "Bearer secret"}, body: `{"id":"p1","addStock":1}`, status: http.StatusUnauthorized, code: "unauthorized"},
		{name: "products: PUT", method: http.MethodPut, path: "/products", admin: true, body: `{"id":"p1","addStock":1}`, status: http.StatusMethodNotAllowed, code: "method_not_allowed"},

		// GET paths.
		{name: "GET /products/<65 chars>", method: http.MethodGet, path: "/products/" + id65, status: bad, code: invalid},
		{name: "GET /products/<space>", method: http.MethodGet, path: "/products/p%201", status: bad, code: invalid},
		{name: "GET /products/<NUL>", method: http.MethodGet, path: "/products/p1%00", status: bad, code: invalid},
		{name: "GET /products/<SQL>", method: http.MethodGet, path: "/products/1%3B%20DROP%20TABLE%20products%3B--", status: bad, code: invalid},
		{name: "GET /products/<quote>", method: http.MethodGet, path: "/products/p1'", status: bad, code: invalid},
		{name: "GET /products/<non-ASCII>", method: http.MethodGet, path: "/products/p%C3%A9", status: bad, code: invalid},
		{name: "GET /products/<unknown>", method: http.MethodGet, path: "/products/999", status: http.StatusNotFound, code: "product_not_found"},
		{name: "GET /orders/<bad chars>", method: http.MethodGet, path: "/orders/%3Cscript%3E", alternatives: map[int]string{bad: invalid, http.StatusNotFound: "order_not_found"}},
		{name: "GET /orders/<space>", method: http.MethodGet, path: "/orders/a%20b", alternatives: map[int]string{bad: invalid, http.StatusNotFound: "order_not_found"}},
		{name: "GET /orders/<encoded traversal>", method: http.MethodGet, path: "/orders/..%2F..%2Fetc%2Fpasswd", alternatives: map[int]string{bad: invalid, http.StatusNotFound: "not_found"}},
		{name: "GET /orders/<65 chars>", method: http.MethodGet, path: "/orders/" + id65, status: bad, code: invalid},
		{name: "GET /orders/<unknown>", method: http.MethodGet, path: "/orders/id-000001", status: http.StatusNotFound, code: "order_not_found"},
		{name: "GET /orders/<saga ID, not an order ID>", method: http.MethodGet, path: "/orders/" + string(app.SagaIDForKey("k")), status: http.StatusNotFound, code: "order_not_found"},
		{name: "GET /orders without an ID", method: http.MethodGet, path: "/orders", status: http.StatusNotFound, code: "not_found"},
		{name: "DELETE /orders/<id>", method: http.MethodDelete, path: "/orders/id-000001", status: http.StatusMethodNotAllowed, code: "method_not_allowed"},
	}
	return cases
}

// acceptPurchase checks a request that must buy qty of product.
func acceptPurchase(product string, qty int64) func(*testing.T, *fixture, *httptest.ResponseRecorder, snapshot) {
	return func(t *testing.T, f *fixture, rec *httptest.ResponseRecorder, before snapshot) {
		t.Helper()
		var r purchaseResult
		assertJSON(t, rec, http.StatusCreated, &r)
		if r.ProductID != product || r.Qty != qty || r.Status != "CONFIRMED" {
			t.Errorf("bought %+v, want %d of %s", r, qty, product)
		}
		after := f.snapshot()
		if after.Sagas != before.Sagas+1 || after.Ledger != before.Ledger+1 {
			t.Errorf("sagas %d -> %d, ledger %d -> %d; want one more of each", before.Sagas, after.Sagas, before.Ledger, after.Ledger)
		}
		id := r.ProductID
		if got, want := after.Levels[domain.ProductID(id)].Stock, before.Levels[domain.ProductID(id)].Stock-qty; got != want {
			t.Errorf("gate stock of %s = %d, want %d", id, got, want)
		}
	}
}

func TestBadInput(t *testing.T) {
	if got := app.DefaultConfig().MaxQtyPerOrder; got != maxQty {
		t.Fatalf("MaxQtyPerOrder = %d, the table assumes %d", got, maxQty)
	}
	cases := badInputCases()
	purchases, rejected := 0, 0
	for _, c := range cases {
		if c.accept != nil {
			continue
		}
		rejected++
		if c.path == "" && c.method == "" {
			purchases++
		}
	}
	t.Logf("%d cases: %d rejections (%d of POST /purchase), %d accepted or documented", len(cases), rejected, purchases, len(cases)-rejected)
	if purchases < 30 {
		t.Errorf("only %d POST /purchase rejections", purchases)
	}
	names := map[string]bool{}
	for _, c := range cases {
		if names[c.name] {
			t.Errorf("duplicate case name %q", c.name)
		}
		names[c.name] = true
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, fixtureOpts{})
			if f.app.Config().MaxQtyPerOrder != maxQty {
				t.Fatalf("app MaxQtyPerOrder = %d", f.app.Config().MaxQtyPerOrder)
			}
			before := f.snapshot()
			rec := f.serve(c.request())
			if c.accept != nil {
				c.accept(t, f, rec, before)
				return
			}
			if c.alternatives != nil {
				code, ok := c.alternatives[rec.Code]
				if !ok {
					t.Fatalf("status %d not among %v; body %s", rec.Code, c.alternatives, rec.Body)
				}
				assertProblem(t, rec, rec.Code, code)
				t.Logf("answered %d %s", rec.Code, code)
			} else {
				assertProblem(t, rec, c.status, c.code)
			}
			// A refusal tells the client not to retry (nothing here is
			// transient) and never says it was replayed.
			assertRetryAfter(t, rec, false)
			if rec.Header().Get("Idempotent-Replayed") != "" || rec.Header().Get("Location") != "" {
				t.Errorf("refusal carries success headers: %v", rec.Header())
			}
			assertUnchanged(t, before, f.snapshot())
		})
	}
}

// TestBadInputNeverServerError replays every case of the table under every
// strategy, with an idempotency key and without, and allows no 5xx.
func TestBadInputNeverServerError(t *testing.T) {
	for _, s := range app.Strategies() {
		for _, withKey := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/key=%v", s, withKey), func(t *testing.T) {
				f := newFixture(t, fixtureOpts{strategy: s})
				for i, c := range badInputCases() {
					r := c.request()
					if _, set := r.header["Idempotency-Key"]; withKey && !set {
						r.header["Idempotency-Key"] = fmt.Sprintf("never-5xx-%d", i)
					}
					rec := f.serve(r)
					if rec.Code >= 500 {
						t.Errorf("%s: status %d, body %s", c.name, rec.Code, rec.Body)
					}
					if rec.Code >= 400 {
						var p map[string]any
						if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p["code"] == nil {
							t.Errorf("%s: %d without a problem body: %s", c.name, rec.Code, rec.Body)
						}
					}
				}
			})
		}
	}
}
