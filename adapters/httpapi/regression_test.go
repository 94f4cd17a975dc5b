// Regression tests for bugs found by the first review of this adapter.
package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
)

// A replayed 201 must still say where the order is: the first answer
// carried Location, and a client whose first answer was lost only ever
// sees the replay.
func TestRegressionReplayedCreatedLacksLocation(t *testing.T) {
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

// The admin body's field is "id"; a malformed ID was reported as
// "productId".
func TestRegressionSupplyIDErrorNamesWrongField(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	before := f.snapshot()
	p := assertProblem(t, f.supply(`{"id":-5,"name":"X","priceMinor":1,"addStock":1}`), http.StatusBadRequest, "invalid_request")
	assertUnchanged(t, before, f.snapshot())
	if strings.Contains(p.Detail, "productId") || !strings.HasPrefix(p.Detail, "id") {
		t.Errorf("detail = %q, want it to name the member id", p.Detail)
	}
}

// A Reserve for a saga whose reservation was released must return
// domain.ErrReservationReleased; the memory inventory answered nil. Over
// HTTP: a key whose saga reserved and was released before its first commit
// is retried; the retry "reserved" nothing, sold, and left the gate's stock
// above the durable stock for good. Expected: 409 purchase_abandoned and
// nothing changed.
func TestRegressionRetryAfterUncommittedReleaseSellsWithoutReservation(t *testing.T) {
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
