package httpapi_test

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/payment"
	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
)

// knownBug skips a test that demonstrates a bug in non-test code, so the
// suite stays green until the bug is fixed. Run them with
// FLASHSALE_RUN_KNOWN_BUGS=1 to see them fail; delete the call once fixed.
func knownBug(t *testing.T, what string) {
	t.Helper()
	if os.Getenv("FLASHSALE_RUN_KNOWN_BUGS") == "" {
		t.Skip("BUG: " + what)
	}
}

// A replayed 201 must still say where the order is: the first answer
// carried Location, and a client whose first answer was lost only ever
// sees the replay.
func TestBugReplayedCreatedLacksLocation(t *testing.T) {
	knownBug(t, "server.go purchase(): the stored-response branch replays status and body but not the Location header of a 201")
	f := newFixture(t, fixtureOpts{})
	body := `{"productId":"p1","qty":1}`
	first := f.purchase(body, "loc-key")
	second := f.purchase(body, "loc-key")
	if second.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("second answer not replayed: %v", second.Header())
	}
	if got, want := second.Header().Get("Location"), first.Header().Get("Location"); got != want || want == "" {
		t.Errorf("replayed Location = %q, first answer's = %q", got, want)
	}
}

// A 503 says "retry" (Retry-After: 1, detail "...; retry"), but when it
// comes from a saga that has already compensated, the saga ID is derived
// from the key, so every retry with the same key answers from that
// COMPENSATED saga with the same 503 and Retry-After, forever. A client that
// follows the advice loops; the answer should be final (stored), or say to
// use a new key (as purchase_abandoned does), or let the retry buy.
func TestBugCompensatedUnavailableAsksForEndlessRetries(t *testing.T) {
	knownBug(t, "server.go runPurchase() treats every 5xx as retryable and app.causeOf maps a compensated saga's non-decline reason to ErrUnavailable, so the same key gets 503 + Retry-After forever")
	f := newFixture(t, fixtureOpts{})
	f.setOutcome(payment.TimeoutNotCharged)
	body := `{"productId":"p1","qty":1}`
	first := f.purchase(body, "loop-key")
	assertProblem(t, first, http.StatusServiceUnavailable, "unavailable")
	f.setOutcome(payment.Approve) // the gateway is healthy again
	for i := range 3 {
		f.clock.Advance(time.Second) // honour Retry-After: 1
		rec := f.purchase(body, "loop-key")
		if rec.Code == http.StatusServiceUnavailable && rec.Header().Get("Retry-After") != "" {
			t.Errorf("retry %d as advised: again %d with Retry-After %s: %s", i+1, rec.Code, rec.Header().Get("Retry-After"), rec.Body)
		}
	}
}

// The admin body's field is "id", but a malformed ID is reported as
// "productId", because flexibleID hard-codes the field name.
func TestBugSupplyIDErrorNamesWrongField(t *testing.T) {
	knownBug(t, `decode.go flexibleID.UnmarshalJSON reports Field "productId" for the "id" member of POST /products`)
	f := newFixture(t, fixtureOpts{})
	before := f.snapshot()
	p := assertProblem(t, f.supply(`{"id":-5,"name":"X","priceMinor":1,"addStock":1}`), http.StatusBadRequest, "invalid_request")
	assertUnchanged(t, before, f.snapshot())
	if strings.Contains(p.Detail, "productId") || !strings.HasPrefix(p.Detail, "id") {
		t.Errorf("detail = %q, want it to name the member id", p.Detail)
	}
}

// The Inventory contract (ports.Inventory.Reserve) says a Reserve for a saga
// whose reservation was released returns domain.ErrReservationReleased.
// The memory inventory returns nil instead. Over HTTP: a key whose saga
// reserved and was released before its first commit (app.run's
// releaseUncommitted after a reserve that failed with a timeout, answered
// 503 + Retry-After) is retried as advised; the retry "reserves" nothing,
// sells, and leaves the gate's stock above the durable stock for good.
// Expected: 409 purchase_abandoned and nothing changed.
func TestBugRetryAfterUncommittedReleaseSellsWithoutReservation(t *testing.T) {
	knownBug(t, "adapters/memory/inventory.go reserve(): a RELEASED record is answered nil instead of domain.ErrReservationReleased, so a retried key sells without a reservation and the gate stock drifts above the catalog stock")
	f := newFixture(t, fixtureOpts{})
	ctx := context.Background()
	saga := app.SagaIDForKey("released-key")
	// The state releaseUncommitted leaves: a released reservation and no saga.
	if err := f.inv.Reserve(ctx, domain.Reservation{SagaID: saga, ProductID: "p1", Qty: 1, Deadline: epoch.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := f.inv.Release(ctx, "p1", saga); err != nil {
		t.Fatal(err)
	}
	before := f.snapshot()
	rec := f.purchase(`{"productId":"p1","qty":1}`, "released-key")
	if l, p := f.level("p1"), f.product("p1"); l.Stock != p.Stock || l.Reserved != 0 {
		t.Errorf("at rest: gate stock %d reserved %d, catalog stock %d (I2)", l.Stock, l.Reserved, p.Stock)
	}
	assertProblem(t, rec, http.StatusConflict, "purchase_abandoned")
	assertUnchanged(t, before, f.snapshot())
}
