package porttest

import (
	"testing"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// IDs checks the ports.IDs contract: identifiers never repeat, even when
// made concurrently, and pass domain ID validation. (Unguessability, which
// production implementations also owe, cannot be tested here.)
func IDs(t *testing.T, newIDs func(t *testing.T) ports.IDs) {
	t.Run("NewID returns valid identifiers never returned before", func(t *testing.T) {
		ids := newIDs(t)
		seen := make(map[string]bool)
		for range 2000 {
			id := ids.NewID()
			if err := domain.SagaID(id).Validate(); err != nil {
				t.Fatalf("NewID returned %q: %v", id, err)
			}
			if seen[id] {
				t.Fatalf("NewID returned %q twice", id)
			}
			seen[id] = true
		}
	})

	t.Run("race: 20 goroutines making IDs at once never share one", func(t *testing.T) {
		ids := newIDs(t)
		const goroutines, each = 20, 200
		made := make([][]string, goroutines)
		race(goroutines, func(i int) error {
			for range each {
				made[i] = append(made[i], ids.NewID())
			}
			return nil
		})
		seen := make(map[string]bool)
		for _, batch := range made {
			for _, id := range batch {
				if seen[id] {
					t.Fatalf("NewID returned %q twice", id)
				}
				seen[id] = true
			}
		}
	})
}
