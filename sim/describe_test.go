package sim

import (
	"fmt"
	"testing"

	"github.com/flashsale/flashsale/domain"
)

// TestDescribeIsFmt holds describe to fmt.Sprintf for what the port
// wrappers pass it, so a recorded trace reads as it did with fmt.
func TestDescribeIsFmt(t *testing.T) {
	for _, c := range []struct {
		format string
		args   []any
	}{
		{"inventory.Reserve %s x%d saga %s", []any{domain.ProductID("p1"), int64(3), domain.SagaID("s-000001")}},
		{"inventory.ReserveIfVersion %s x%d v%d saga %s", []any{domain.ProductID("p2"), int64(1), int64(-7), domain.SagaID("k-ab")}},
		{"sagas.Create %s %s", []any{domain.SagaID("s-1"), domain.SagaRunning}},
		{"sagas.WriteAll %d", []any{12}},
		{"lock.Acquire %s token %s", []any{"lock:p1", "t-9"}},
		{"order %s", []any{domain.OrderID("o-1")}},
		{"outbox.Unpublished", nil},
		{"100%% of %s", []any{"it"}},
		{"trailing %", nil},
	} {
		if got, want := describe(c.format, c.args), fmt.Sprintf(c.format, c.args...); got != want {
			t.Errorf("describe(%q) = %q, want %q", c.format, got, want)
		}
	}
	// What it does not know it marks, as fmt marks a wrong verb.
	if got := describe("at %s and %d", []any{1.5}); got != "at %!s(unsupported) and %!d(MISSING)" {
		t.Errorf("describe of an unsupported and a missing argument = %q", got)
	}
}
