package memory

import (
	"strconv"
	"sync"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

var _ ports.IDs = (*IDs)(nil)

// maxIDPrefix leaves room for the separator and a counter of up to 20
// digits, so every ID stays within domain.MaxIDLength.
const maxIDPrefix = domain.MaxIDLength - 21

// IDs makes sequential identifiers "<prefix>-000001", "<prefix>-000002", ...
// They are predictable by design (a simulation replays exactly), so IDs must
// never make lock tokens outside tests and the simulator. It is safe for
// concurrent use.
type IDs struct {
	prefix string

	mu   sync.Mutex
	next uint64
}

// NewIDs returns a generator whose IDs start with prefix and a '-'; an empty
// prefix gives bare numbers. It panics if prefix is longer than 43
// characters or has characters outside [A-Za-z0-9._-], because the IDs it
// makes must pass domain validation.
func NewIDs(prefix string) *IDs {
	if prefix != "" {
		mustHave(len(prefix) <= maxIDPrefix && domain.SagaID(prefix).Validate() == nil,
			"NewIDs", "a prefix of at most 43 characters of [A-Za-z0-9._-]")
		prefix += "-"
	}
	return &IDs{prefix: prefix}
}

// NewID returns the next identifier.
func (g *IDs) NewID() string {
	g.mu.Lock()
	g.next++
	n := g.next
	g.mu.Unlock()
	// As fmt's "%s%06d", which a simulation calls too often to format.
	digits := strconv.AppendUint(make([]byte, 0, 20), n, 10)
	id := make([]byte, 0, len(g.prefix)+max(len(digits), 6))
	id = append(id, g.prefix...)
	for range 6 - len(digits) {
		id = append(id, '0')
	}
	return string(append(id, digits...))
}
