package domain_test

import (
	"fmt"
	"testing"

	"github.com/flashsale/flashsale/domain"
)

func TestParseEventIDReversesEventID(t *testing.T) {
	for _, c := range []struct {
		saga domain.SagaID
		seq  int
	}{{"s-1", 1}, {"k-3f2a", 12}, {"a", 999}, {"p.q_r", 1000}} {
		id := domain.EventID(c.saga, c.seq)
		saga, seq, ok := domain.ParseEventID(id)
		if !ok || saga != c.saga || seq != c.seq {
			t.Errorf("ParseEventID(%q) = %q, %d, %v; want %q, %d", id, saga, seq, ok, c.saga, c.seq)
		}
	}
	for _, id := range []string{"", "-001", "s", "s-", "s-1", "s-01", "s-000", "s-x01", "s/1-001", "s-+01"} {
		if saga, seq, ok := domain.ParseEventID(id); ok {
			t.Errorf("ParseEventID(%q) = %q, %d, true; want false", id, saga, seq)
		}
	}
}

// TestEventIDIsItsFormat: EventID is "%s-%03d" for every seq.
func TestEventIDIsItsFormat(t *testing.T) {
	for _, seq := range []int{-12, -1, 0, 1, 9, 10, 99, 100, 999, 1000, 123456} {
		if got, want := domain.EventID("s-1", seq), fmt.Sprintf("%s-%03d", "s-1", seq); got != want {
			t.Errorf("EventID(s-1, %d) = %q, want %q", seq, got, want)
		}
	}
}
