package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/payment"
	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
)

// TestIdempotentReplay: the same key and body twice give the same status
// and the same bytes, the second marked as replayed, with one saga and one
// charge.
func TestIdempotentReplay(t *testing.T) {
	for _, s := range app.Strategies() {
		t.Run(string(s), func(t *testing.T) {
			f := newFixture(t, fixtureOpts{strategy: s})
			body := `{"productId":"p1","qty":2}`
			first := f.purchase(body, "replay-key-1")
			var r purchaseResult
			assertJSON(t, first, http.StatusCreated, &r)
			if got := first.Header().Get("Idempotent-Replayed"); got != "" {
				t.Errorf("first answer has Idempotent-Replayed: %q", got)
			}
			if r.SagaID != string(app.SagaIDForKey("replay-key-1")) {
				t.Errorf("saga ID = %s, want the one derived from the key", r.SagaID)
			}
			before := f.snapshot()

			second := f.purchase(body, "replay-key-1")
			if second.Code != first.Code {
				t.Errorf("replay status = %d, first %d", second.Code, first.Code)
			}
			if !bytes.Equal(second.Body.Bytes(), first.Body.Bytes()) {
				t.Errorf("replay body differs:\nfirst  %s\nreplay %s", first.Body, second.Body)
			}
			if got := second.Header().Get("Idempotent-Replayed"); got != "true" {
				t.Errorf("Idempotent-Replayed = %q, want true", got)
			}
			if ct := second.Header().Get("Content-Type"); ct != jsonCT {
				t.Errorf("replay Content-Type = %q", ct)
			}
			assertUnchanged(t, before, f.snapshot())
			if n := len(f.store.Sagas()); n != 1 {
				t.Errorf("sagas = %d, want 1", n)
			}
			if n := f.pay.ChargesApplied(); n != 1 {
				t.Errorf("charges = %d, want 1", n)
			}
			if l := f.level("p1"); l.Stock != 3 {
				t.Errorf("stock = %d, want 3 (sold once)", l.Stock)
			}

			// The same request in another JSON spelling is the same request.
			third := f.purchase("{ \"qty\": 2,\n \"productId\": \"p1\" }", "replay-key-1")
			if third.Code != http.StatusCreated || !bytes.Equal(third.Body.Bytes(), first.Body.Bytes()) {
				t.Errorf("reordered body: %d %s", third.Code, third.Body)
			}
			assertUnchanged(t, before, f.snapshot())
		})
	}
}

// TestIdempotentReplayOfFinalError: a final error (a declined payment) is
// stored and replayed too; the gateway is not asked again.
func TestIdempotentReplayOfFinalError(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.setOutcome(payment.Decline)
	first := f.purchase(`{"productId":"p1","qty":1}`, "declined-key")
	assertProblem(t, first, http.StatusPaymentRequired, "payment_declined")
	before := f.snapshot()

	f.setOutcome(payment.Approve) // would succeed if it ran again
	second := f.purchase(`{"productId":"p1","qty":1}`, "declined-key")
	assertProblem(t, second, http.StatusPaymentRequired, "payment_declined")
	if !bytes.Equal(first.Body.Bytes(), second.Body.Bytes()) {
		t.Errorf("replay differs:\nfirst  %s\nreplay %s", first.Body, second.Body)
	}
	if second.Header().Get("Idempotent-Replayed") != "true" {
		t.Error("replayed problem lacks Idempotent-Replayed: true")
	}
	assertUnchanged(t, before, f.snapshot())
}

// TestIdempotencyKeyReusedWithOtherBody: 422 and nothing changes, whether
// the first request is stored or forgotten by the idempotency store.
func TestIdempotencyKeyReusedWithOtherBody(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	var r purchaseResult
	assertJSON(t, f.purchase(`{"productId":"p1","qty":1}`, "reuse-key"), http.StatusCreated, &r)

	for _, body := range []string{
		`{"productId":"p1","qty":2}`,
		`{"productId":"p2","qty":1}`,
		`{"productId":"123","qty":1}`,
	} {
		before := f.snapshot()
		rec := f.purchase(body, "reuse-key")
		assertProblem(t, rec, http.StatusUnprocessableEntity, "idempotency_key_reused")
		assertRetryAfter(t, rec, false)
		assertUnchanged(t, before, f.snapshot())
	}

	// The original request still replays.
	rec := f.purchase(`{"productId":"p1","qty":1}`, "reuse-key")
	var again purchaseResult
	assertJSON(t, rec, http.StatusCreated, &again)
	if again != r {
		t.Errorf("replay %+v, first %+v", again, r)
	}

	// After the idempotency record expires, the saga derived from the key
	// still refuses another body.
	f.clock.Advance(25 * time.Hour)
	before := f.snapshot()
	assertProblem(t, f.purchase(`{"productId":"p1","qty":3}`, "reuse-key"), http.StatusUnprocessableEntity, "idempotency_key_reused")
	assertUnchanged(t, before, f.snapshot())
}

// TestIdempotencyConcurrentSameKey: 20 requests with one key at once make
// exactly one saga; every 2xx names the same order; every other answer is
// 409 request_in_progress.
func TestIdempotencyConcurrentSameKey(t *testing.T) {
	for _, s := range []app.Strategy{app.StrategyNone, app.StrategyOptimistic} {
		t.Run(string(s), func(t *testing.T) {
			// The charge takes long enough for all 20 to arrive while the
			// first is still inside its saga.
			f := newFixture(t, fixtureOpts{strategy: s, payLatency: 200 * time.Millisecond})
			const n = 20
			body := `{"productId":"p1","qty":2}`
			recs := make([]*httptest.ResponseRecorder, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					recs[i] = f.purchase(body, "burst-key")
				})
			}
			close(start)
			wg.Wait()

			orders := map[string]int{}
			inProgress := 0
			for i, rec := range recs {
				switch rec.Code {
				case http.StatusCreated:
					var r purchaseResult
					assertJSON(t, rec, http.StatusCreated, &r)
					orders[r.OrderID]++
				case http.StatusConflict:
					assertProblem(t, rec, http.StatusConflict, "request_in_progress")
					assertRetryAfter(t, rec, true)
					inProgress++
				default:
					t.Errorf("request %d: status %d, body %s", i, rec.Code, rec.Body)
				}
			}
			if len(orders) != 1 {
				t.Errorf("2xx answers name %d orders, want 1: %v", len(orders), orders)
			}
			t.Logf("%d created, %d in progress", n-inProgress, inProgress)
			if inProgress == 0 {
				t.Error("no request saw another in progress: the burst did not overlap")
			}

			sagas := f.store.Sagas()
			if len(sagas) != 1 {
				t.Fatalf("sagas = %d, want 1", len(sagas))
			}
			saga := sagas[0]
			if saga.ID != app.SagaIDForKey("burst-key") || saga.Status != domain.SagaCompleted {
				t.Errorf("saga %s %s", saga.ID, saga.Status)
			}
			for id := range orders {
				if id != string(saga.Order.ID) {
					t.Errorf("answered order %s, stored order %s", id, saga.Order.ID)
				}
			}
			if c := f.pay.ChargesApplied(); c != 1 || len(f.pay.Ledger()) != 1 {
				t.Errorf("charges = %d, ledger %v; want one", c, f.pay.Ledger())
			}
			if l := f.level("p1"); l.Stock != 3 || l.Reserved != 0 {
				t.Errorf("gate: stock %d reserved %d, want 3 and 0", l.Stock, l.Reserved)
			}

			// Once the burst is over the key answers with the order.
			var r purchaseResult
			assertJSON(t, f.purchase(body, "burst-key"), http.StatusCreated, &r)
			if r.OrderID != string(saga.Order.ID) {
				t.Errorf("after the burst: order %s, want %s", r.OrderID, saga.Order.ID)
			}
			if n := len(f.store.Sagas()); n != 1 {
				t.Errorf("sagas after the burst = %d", n)
			}
		})
	}
}

// TestIdempotencyRetryableAnswerNotStored: 409 lock_busy tells the client
// to retry, so it must not be stored: after the lock is free the same key
// buys.
func TestIdempotencyRetryableAnswerNotStored(t *testing.T) {
	f := newFixture(t, fixtureOpts{strategy: app.StrategyLock})
	holdLock("p1")(t, f)
	body := `{"productId":"p1","qty":1}`
	before := f.snapshot()
	for range 2 { // a retry while the lock is still held is busy again, not replayed
		rec := f.purchase(body, "busy-key")
		assertProblem(t, rec, http.StatusConflict, "lock_busy")
		assertRetryAfter(t, rec, true)
		if rec.Header().Get("Idempotent-Replayed") != "" {
			t.Error("a retryable answer was replayed")
		}
		assertUnchanged(t, before, f.snapshot())
	}

	if err := f.locker.Release(context.Background(), app.LockKey("p1"), "other-holder"); err != nil {
		t.Fatal(err)
	}
	rec := f.purchase(body, "busy-key")
	var r purchaseResult
	assertJSON(t, rec, http.StatusCreated, &r)
	if rec.Header().Get("Idempotent-Replayed") != "" {
		t.Error("the first success is marked replayed")
	}
	if r.SagaID != string(app.SagaIDForKey("busy-key")) || r.Status != "CONFIRMED" {
		t.Errorf("purchase %+v", r)
	}
	// And now it is stored.
	again := f.purchase(body, "busy-key")
	if again.Code != http.StatusCreated || again.Header().Get("Idempotent-Replayed") != "true" || !bytes.Equal(again.Body.Bytes(), rec.Body.Bytes()) {
		t.Errorf("second success: %d replayed=%q %s", again.Code, again.Header().Get("Idempotent-Replayed"), again.Body)
	}
	if n := len(f.store.Sagas()); n != 1 {
		t.Errorf("sagas = %d, want 1", n)
	}
}

// TestIdempotencyCompensatedAnswerIsFinal: a saga that compensated for a
// payment failure is the key's final answer. It carries no Retry-After (the
// same key can only ever answer from that saga), it is stored and replayed,
// and retrying cannot start a second saga or charge.
func TestIdempotencyCompensatedAnswerIsFinal(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.setOutcome(payment.TimeoutNotCharged)
	body := `{"productId":"p1","qty":1}`
	first := f.purchase(body, "timeout-key")
	p1 := assertProblem(t, first, http.StatusConflict, "purchase_compensated")
	assertRetryAfter(t, first, false)
	if p1.SagaID != string(app.SagaIDForKey("timeout-key")) {
		t.Errorf("saga ID %s, want %s", p1.SagaID, app.SagaIDForKey("timeout-key"))
	}
	before := f.snapshot()

	f.setOutcome(payment.Approve) // the gateway is healthy again
	for i := range 3 {
		again := f.purchase(body, "timeout-key")
		if again.Code != first.Code || again.Header().Get("Idempotent-Replayed") != "true" || !bytes.Equal(again.Body.Bytes(), first.Body.Bytes()) {
			t.Errorf("retry %d: %d replayed=%q %s; want the stored first answer", i+1, again.Code, again.Header().Get("Idempotent-Replayed"), again.Body)
		}
	}
	assertUnchanged(t, before, f.snapshot())
	if c := f.pay.ChargesApplied(); c != 0 {
		t.Errorf("charges = %d, want 0", c)
	}
	// A new key buys.
	assertJSON(t, f.purchase(body, "timeout-key-2"), http.StatusCreated, nil)
}

// TestIdempotencyKeyIsPerKey: two keys with the same body are two
// purchases; no key at all is a new purchase every time.
func TestIdempotencyKeyIsPerKey(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	body := `{"productId":"p1","qty":1}`
	ids := map[string]bool{}
	for _, key := range []string{"key-a", "key-b", "", ""} {
		var r purchaseResult
		assertJSON(t, f.purchase(body, key), http.StatusCreated, &r)
		ids[r.OrderID] = true
	}
	if len(ids) != 4 {
		t.Errorf("%d distinct orders, want 4", len(ids))
	}
	if l := f.level("p1"); l.Stock != 1 {
		t.Errorf("stock = %d, want 1", l.Stock)
	}
}

// decodeProblem is a helper for answers read outside assertProblem.
func decodeProblem(t *testing.T, rec *httptest.ResponseRecorder) problem {
	t.Helper()
	var p problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("not a problem: %v; %s", err, rec.Body)
	}
	return p
}

// TestInvalidRequestDoesNotConsumeItsKey: a request refused as invalid
// (malformed JSON, a bad quantity, an unknown product, an unknown member)
// changes nothing and binds nothing to its Idempotency-Key: the valid
// request sent next with that key is a first request, not a replay and not
// a 422 for "another body".
func TestInvalidRequestDoesNotConsumeItsKey(t *testing.T) {
	for _, s := range app.Strategies() {
		t.Run(string(s), func(t *testing.T) {
			f := newFixture(t, fixtureOpts{strategy: s})
			before := f.snapshot()
			for _, bad := range []struct {
				body   string
				status int
			}{
				{`{"productId":"p1","qty":`, http.StatusBadRequest},
				{`{"productId":"p1","qty":0}`, http.StatusBadRequest},
				{`{"productId":"p1","qty":-2}`, http.StatusBadRequest},
				{`{"productId":"p1","qty":2,"coupon":"x"}`, http.StatusBadRequest},
				{`{"productId":"nope","qty":2}`, http.StatusNotFound},
			} {
				rec := f.purchase(bad.body, "key-after-bad")
				if rec.Code != bad.status {
					t.Fatalf("%s: status %d, want %d: %s", bad.body, rec.Code, bad.status, rec.Body)
				}
				assertProblemShape(t, rec)
				assertUnchanged(t, before, f.snapshot())
			}
			rec := f.purchase(`{"productId":"p1","qty":2}`, "key-after-bad")
			var r purchaseResult
			assertJSON(t, rec, http.StatusCreated, &r)
			if rec.Header().Get("Idempotent-Replayed") != "" {
				t.Error("the first valid request with the key was answered as a replay")
			}
			if r.SagaID != string(app.SagaIDForKey("key-after-bad")) || r.Status != "CONFIRMED" {
				t.Errorf("purchase %+v", r)
			}
		})
	}
}
