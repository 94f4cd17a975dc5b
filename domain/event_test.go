package domain_test

import (
	"fmt"
	"strconv"
	"strings"
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
	for _, id := range []string{"", "-001", "s", "s-", "s-1", "s-01", "s-000", "s-x01", "s/1-001", "s-+01", "s-0001", "s-01000", "s- 01"} {
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

// FuzzParseEventID: ParseEventID accepts exactly EventID's outputs: what it
// accepts, EventID gives back byte for byte, and it accepts what EventID
// gives for the saga and seq it read.
func FuzzParseEventID(f *testing.F) {
	for _, id := range []string{"s-001", "s-1000", "s-0001", "s-01000", "k-3f2a-012", "s-+01", "s--01", "a-999"} {
		f.Add(id)
	}
	f.Fuzz(func(t *testing.T, id string) {
		saga, seq, ok := domain.ParseEventID(id)
		if !ok {
			i := strings.LastIndexByte(id, '-')
			if i > 0 {
				if n, err := strconv.Atoi(id[i+1:]); err == nil && n >= 1 && domain.SagaID(id[:i]).Validate() == nil && domain.EventID(domain.SagaID(id[:i]), n) == id {
					t.Fatalf("ParseEventID refused %q, an EventID output", id)
				}
			}
			return
		}
		if got := domain.EventID(saga, seq); got != id {
			t.Fatalf("ParseEventID(%q) = %q, %d, but EventID gives %q", id, saga, seq, got)
		}
	})
}
