package httpapi

import (
	"container/list"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"
)

// RateLimit configures the per-client token bucket. A zero PerSecond turns
// it off.
type RateLimit struct {
	// PerSecond is the sustained request rate allowed to one client.
	PerSecond float64
	// Burst is how many requests a client may send at once.
	Burst int
	// MaxClients bounds the memory the limiter uses: beyond it the least
	// recently seen client is forgotten (and starts again with a full bucket).
	MaxClients int
}

// clientLimiter keeps one token bucket per client, in an LRU of bounded
// size, so a flood of distinct addresses cannot exhaust memory.
type clientLimiter struct {
	cfg RateLimit

	mu    sync.Mutex
	byKey map[string]*list.Element
	lru   *list.List // front: most recently seen
}

type limiterEntry struct {
	key string
	lim *rate.Limiter
}

func newClientLimiter(cfg RateLimit) *clientLimiter {
	if cfg.Burst <= 0 {
		cfg.Burst = max(1, int(math.Ceil(cfg.PerSecond)))
	}
	if cfg.MaxClients <= 0 {
		cfg.MaxClients = 100_000
	}
	return &clientLimiter{cfg: cfg, byKey: map[string]*list.Element{}, lru: list.New()}
}

// reserve takes a token for key. If none is left it takes nothing and
// returns how long until one will be.
//
// The time is read under the lock: a bucket must see its calls in time
// order, or a call stamped earlier than the last one refills the bucket
// for the same interval twice, and a crowd of one client's connections
// gets through at a multiple of its rate.
func (l *clientLimiter) reserve(key string) (ok bool, wait time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	el, found := l.byKey[key]
	if found {
		l.lru.MoveToFront(el)
	} else {
		el = l.lru.PushFront(&limiterEntry{key: key, lim: rate.NewLimiter(rate.Limit(l.cfg.PerSecond), l.cfg.Burst)})
		l.byKey[key] = el
		if l.lru.Len() > l.cfg.MaxClients {
			oldest := l.lru.Back()
			l.lru.Remove(oldest)
			delete(l.byKey, oldest.Value.(*limiterEntry).key)
		}
	}
	r := el.Value.(*limiterEntry).lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// rateLimit answers 429 with Retry-After to a client over its rate. The
// client is its address as gin sees it: the peer, or the address a
// trusted proxy (Options.TrustedProxies) reports.
func (s *server) rateLimit(c *gin.Context) {
	ok, wait := s.limiter.reserve(c.ClientIP())
	if !ok {
		p := newProblem(http.StatusTooManyRequests, "rate_limited", "too many requests from this client; slow down")
		p.retryAfter = max(1, int(math.Ceil(wait.Seconds())))
		sendProblem(c, p)
		return
	}
	c.Next()
}

// shed caps the requests in flight. Past the cap it answers 503 at once
// rather than queueing without bound: in a flash sale a fast "retry" beats
// a slow timeout, and the work in flight keeps its latency.
func (s *server) shed(c *gin.Context) {
	select {
	case s.inFlight <- struct{}{}:
		defer func() { <-s.inFlight }()
		c.Next()
	default:
		sendOverloaded(c)
	}
}

// sendOverloaded answers 503 overloaded: this instance is at capacity.
func sendOverloaded(c *gin.Context) {
	p := newProblem(http.StatusServiceUnavailable, "overloaded", "the server is at capacity; retry")
	p.retryAfter = 1
	sendProblem(c, p)
}
