// Package redis holds the Redis adapters of flashsale's stock gate, lock and
// product cache: Inventory (ports.Inventory with the reaper, loader,
// versioned and ping capabilities), Locker (ports.Locker) and ProductCache
// (ports.ProductCache). They run on one redis-server or on a Redis Cluster
// through a go-redis UniversalClient; NewClient builds one with the timeouts
// and cluster settings these adapters rely on.
//
// # Key layout
//
// Every key of one product carries the hash tag {p:<id>}, so the keys a
// script touches always share one hash slot and never raise CROSSSLOT on a
// cluster:
//
//	{p:<id>}:level           hash: stock, reserved, version
//	{p:<id>}:res:<saga>      hash: qty, deadline (Unix ms), state
//	                         (HELD, CONFIRMED, RELEASED or REJECTED)
//	{p:<id>}:deadlines       sorted set: HELD saga IDs scored by deadline (ms)
//	{p:<id>}:supply:<op>     marker of one applied AddStock call (minutes)
//	flashsale:products       set of product IDs with a stock record (its own slot)
//	lock:product:<id>        the app's lock keys: Locker uses keys as given
//	product:<id>:details     cached product JSON
//
// An optional namespace (WithInventoryNamespace, WithCacheNamespace) is put
// in front of every key, outside the hash tag; the default is none.
//
// # Atomicity and idempotency
//
// Every change to the inventory is one Lua script (EVALSHA, falling back to
// EVAL when a node answers NOSCRIPT, as a freshly promoted master does), so
// 0 <= reserved <= stock holds after every script. Scripts answer a status
// code that statusError maps to a domain sentinel. Every script is safe to
// run twice: go-redis retries a command after a network error even when the
// first attempt reached the server, so Reserve and Confirm replay their
// first answer, and AddStock, which is not idempotent by contract, carries a
// per-call operation ID that turns a transport retry into a no-op.
//
// # Failures
//
// A call whose context is done changes nothing and returns an error
// wrapping domain.ErrUnavailable. Every error that is not an answer from
// Redis (refused connection, timeout, context deadline, closed client) and
// every transient answer (CLUSTERDOWN, TRYAGAIN, LOADING, READONLY,
// MASTERDOWN, MOVED after the redirects ran out) wraps domain.ErrUnavailable
// too; translateErr is the one place that decides.
//
// Redis replicates asynchronously: a write acknowledged by a master that
// dies before its replica received it is lost at failover. The gate then
// holds less than it answered (a lost reservation is found missing by
// Confirm or Release); it never holds more, and the durable store's guarded
// confirm stays the last word on stock.
package redis
