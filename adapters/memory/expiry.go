package memory

import (
	"time"

	"github.com/flashsale/flashsale/domain"
)

// expiryQueue is a min-heap of saga IDs by the time their record may be
// forgotten. Its entries are hints: when one comes due, its owner checks
// that the record it names is still due (it may have changed, been
// forgotten or been recreated since), so a record that changes never has to
// find and remove its old entry. Push and pop cost
// O(log n); every entry is pushed once and popped once, so keeping records
// in order costs each write O(log n) amortised and never a walk of all
// records.
//
// A min-heap rather than a FIFO because due times are not pushed in order:
// they are computed from reservation deadlines, which a long saga or a
// reaper's abort can carry from the past or the future.
type expiryQueue struct {
	entries []expiryEntry
}

type expiryEntry struct {
	at time.Time
	id domain.SagaID
}

// shrinkAbove: a heap whose slice grew past this many entries is copied
// into a smaller one once three quarters of it is empty, so a burst does not
// pin its peak for the life of the process.
const shrinkAbove = 1024

func (q *expiryQueue) len() int { return len(q.entries) }

func (q *expiryQueue) push(at time.Time, id domain.SagaID) {
	q.entries = append(q.entries, expiryEntry{at: at, id: id})
	q.up(len(q.entries) - 1)
}

// popDue removes and returns the earliest entry if it is due at now (its
// time is at or before now).
func (q *expiryQueue) popDue(now time.Time) (domain.SagaID, bool) {
	e, ok := q.popDueEntry(now)
	return e.id, ok
}

// earliestDue lists, in (time, ID) order, the first limit distinct entries
// due at now that valid accepts, without removing them; entries valid
// refuses (stale hints) are dropped for good. valid accepts an ID at one
// time only, its record's current one, so the copies of an accepted entry
// are equal to it and pop right after it. It costs O((limit + dropped)
// log n), where a walk of every record would cost O(n).
func (q *expiryQueue) earliestDue(now time.Time, limit int, valid func(expiryEntry) bool) []expiryEntry {
	out := make([]expiryEntry, 0, min(limit, q.len()))
	for len(out) < limit {
		e, ok := q.popDueEntry(now)
		if !ok {
			break
		}
		if last := len(out) - 1; last >= 0 && out[last].id == e.id && out[last].at.Equal(e.at) || !valid(e) {
			continue
		}
		out = append(out, e)
	}
	for _, e := range out {
		q.push(e.at, e.id)
	}
	return out
}

func (q *expiryQueue) popDueEntry(now time.Time) (expiryEntry, bool) {
	if len(q.entries) == 0 || now.Before(q.entries[0].at) {
		return expiryEntry{}, false
	}
	e := q.entries[0]
	last := len(q.entries) - 1
	q.entries[0] = q.entries[last]
	q.entries[last] = expiryEntry{} // let the ID's string be collected
	q.entries = q.entries[:last]
	q.down(0)
	if cap(q.entries) > shrinkAbove && 4*len(q.entries) < cap(q.entries) {
		shrunk := make([]expiryEntry, len(q.entries), 2*len(q.entries))
		copy(shrunk, q.entries)
		q.entries = shrunk
	}
	return e, true
}

// less orders entries by time, then by ID, so an ordered listing is
// deterministic.
func (q *expiryQueue) less(i, j int) bool {
	a, b := &q.entries[i], &q.entries[j]
	if c := a.at.Compare(b.at); c != 0 {
		return c < 0
	}
	return a.id < b.id
}

// up and down restore the heap order after an entry at i was added or
// moved; the same sift as container/heap's, on the typed slice, so no
// entry is boxed in an interface on its way in or out.
func (q *expiryQueue) up(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !q.less(i, parent) {
			return
		}
		q.entries[i], q.entries[parent] = q.entries[parent], q.entries[i]
		i = parent
	}
}

func (q *expiryQueue) down(i int) {
	n := len(q.entries)
	for {
		least := i
		if l := 2*i + 1; l < n && q.less(l, least) {
			least = l
		}
		if r := 2*i + 2; r < n && q.less(r, least) {
			least = r
		}
		if least == i {
			return
		}
		q.entries[i], q.entries[least] = q.entries[least], q.entries[i]
		i = least
	}
}
