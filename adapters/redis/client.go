package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/extra/redisotel/v9"
	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"go.opentelemetry.io/otel/trace"

	"github.com/flashsale/flashsale/domain"
)

// Defaults NewClient uses for the zero values of Options.
const (
	DefaultDialTimeout  = time.Second
	DefaultReadTimeout  = time.Second
	DefaultWriteTimeout = time.Second
	// ClusterStateReloadInterval is how often a cluster client reloads the
	// slot map (one CLUSTER SLOTS, while commands flow). go-redis defaults
	// to 60 s, and a refused connection does not trigger a reload, so after
	// a failover the keys of the failed shard would keep failing for up to
	// a minute; at 250 ms the client finds the promoted replica within a
	// quarter of a second of its promotion (reserves resume 2.4-2.7 s after
	// a master's kill -9 with scripts/redis's 1 s node timeout; 2.9-3.0 s
	// at a 1 s reload).
	ClusterStateReloadInterval = 250 * time.Millisecond
)

// Options say how to reach Redis. The zero durations and PoolSize take the
// defaults above (PoolSize: go-redis's, 5 per CPU and per node).
type Options struct {
	// Addrs are host:port addresses: exactly one for a single node, or any
	// number of seed nodes of a cluster.
	Addrs []string
	// Cluster selects a Redis Cluster client.
	Cluster  bool
	Password string
	// DialTimeout bounds connecting; ReadTimeout and WriteTimeout bound each
	// network read and write. A context deadline that ends sooner wins.
	DialTimeout  time.Duration
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	PoolSize     int
	// Tracer, when set, gives every command (and pipeline) a span, a
	// child of its context's (redisotel). Nil leaves the client without
	// the hook.
	Tracer trace.TracerProvider
}

// String describes o with the password masked, so options can be logged.
func (o Options) String() string {
	pw := ""
	if o.Password != "" {
		pw = "***"
	}
	return fmt.Sprintf("redis{addrs=%s cluster=%t password=%q dial=%s read=%s write=%s pool=%d}",
		strings.Join(o.Addrs, ","), o.Cluster, pw, o.DialTimeout, o.ReadTimeout, o.WriteTimeout, o.PoolSize)
}

func (o Options) withDefaults() (Options, error) {
	if len(o.Addrs) == 0 {
		return o, errors.New("redis: at least one address is required")
	}
	if !o.Cluster && len(o.Addrs) != 1 {
		return o, fmt.Errorf("redis: a single-node client takes one address, got %d (set Cluster for a cluster)", len(o.Addrs))
	}
	for _, a := range o.Addrs {
		if a == "" {
			return o, errors.New("redis: empty address")
		}
	}
	if o.DialTimeout < 0 || o.ReadTimeout < 0 || o.WriteTimeout < 0 || o.PoolSize < 0 {
		return o, errors.New("redis: timeouts and pool size must not be negative")
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = DefaultReadTimeout
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	return o, nil
}

// NewClient returns a client for one node or, with o.Cluster, for a Redis
// Cluster. It does not connect: the first call does. Every client it makes
// honours context deadlines (go-redis ignores them unless told to), bounds
// dials, reads and writes by the timeouts of o, and, for a cluster, reloads
// the slot map every ClusterStateReloadInterval. Close the client when done.
func NewClient(o Options) (goredis.UniversalClient, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	// Redis 7.0 does not know CLIENT SETINFO nor CLIENT MAINT_NOTIFICATIONS;
	// sending them costs a refused round trip on every new connection.
	maint := &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	// RESP2: the adapter reads no push messages (no client-side caching,
	// no pub/sub), and under RESP3 go-redis looks for pending push
	// notifications around every command: 7% of an instance's CPU at a hot
	// product's saturation on the reference machine, for nothing.
	const protocol = 2
	var c goredis.UniversalClient
	if o.Cluster {
		c = goredis.NewClusterClient(&goredis.ClusterOptions{
			Addrs:                      o.Addrs,
			Password:                   o.Password,
			DialTimeout:                o.DialTimeout,
			ReadTimeout:                o.ReadTimeout,
			WriteTimeout:               o.WriteTimeout,
			PoolSize:                   o.PoolSize,
			ContextTimeoutEnabled:      true,
			ClusterStateReloadInterval: ClusterStateReloadInterval,
			Protocol:                   protocol,
			DisableIdentity:            true,
			MaintNotificationsConfig:   maint,
		})
	} else {
		c = goredis.NewClient(&goredis.Options{
			Addr:                     o.Addrs[0],
			Password:                 o.Password,
			DialTimeout:              o.DialTimeout,
			ReadTimeout:              o.ReadTimeout,
			WriteTimeout:             o.WriteTimeout,
			PoolSize:                 o.PoolSize,
			ContextTimeoutEnabled:    true,
			DisableIdentity:          true,
			MaintNotificationsConfig: maint,
			Protocol:                 protocol,
		})
	}
	if o.Tracer != nil {
		// No statements in the spans: a reserve's is its Lua script.
		if err := redisotel.InstrumentTracing(c, redisotel.WithTracerProvider(o.Tracer),
			redisotel.WithDBStatement(false), redisotel.WithCallerEnabled(false)); err != nil {
			c.Close()
			return nil, fmt.Errorf("redis: tracing: %w", err)
		}
	}
	return c, nil
}

// mustClient fails fast on a missing client, and on a client that would
// ignore context deadlines: the ports promise that every call honours its
// context, and go-redis does so only with ContextTimeoutEnabled.
func mustClient(c goredis.UniversalClient, constructor string) {
	fail := func(why string) { panic(fmt.Sprintf("redis.%s: %s", constructor, why)) }
	switch v := c.(type) {
	case nil:
		fail("a client is required")
	case *goredis.Client:
		if v == nil {
			fail("a client is required")
		}
		if !v.Options().ContextTimeoutEnabled {
			fail("the client must set ContextTimeoutEnabled (use NewClient)")
		}
	case *goredis.ClusterClient:
		if v == nil {
			fail("a client is required")
		}
		if !v.Options().ContextTimeoutEnabled {
			fail("the client must set ContextTimeoutEnabled (use NewClient)")
		}
	}
}

// ping checks that every master answers: on a cluster, one node answering
// says nothing about the shards a request will need.
func ping(ctx context.Context, c goredis.UniversalClient) error {
	if err := liveContext(ctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	var err error
	if cc, ok := c.(*goredis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, n *goredis.Client) error {
			return n.Ping(ctx).Err()
		})
	} else {
		err = c.Ping(ctx).Err()
	}
	if err != nil {
		// Not answering is what Ping reports, whatever the reply was.
		return fmt.Errorf("ping: %w: %w", domain.ErrUnavailable, err)
	}
	return nil
}
