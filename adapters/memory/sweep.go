package memory

// sweeper decides when a map with expiring entries is due for a full sweep.
// Sweeping only when the map has doubled since the last sweep keeps the cost
// amortised O(1) per insert while bounding the map at about twice its live
// entries, so keys that are never touched again cannot pile up.
type sweeper struct {
	threshold int
}

const minSweepThreshold = 64

// due reports whether a map of size entries should be swept now.
func (s *sweeper) due(size int) bool {
	return size >= max(s.threshold, minSweepThreshold)
}

// swept records that a sweep left live entries.
func (s *sweeper) swept(live int) {
	s.threshold = 2 * live
}
