// Package mysql implements flashsale's durable ports on MySQL / MariaDB with
// GORM: ports.Catalog, ports.SagaStore, ports.SagaBatchWriter,
// ports.OrderReader, ports.Outbox and ports.Pinger.
//
// # Schema and commits
//
// Three tables (migrations/, applied by Migrate with goose): products;
// sagas, one row per purchase saga carrying its order (saga and order share
// one optimistic-lock version); saga_event_writes, the saga's timeline,
// which is also the outbox: one row per write of a saga, holding the events
// that transaction added as a JSON array (a purchase is two rows), marked
// published as a prefix of each row (published_seq). (00001 also made
// idempotency_keys; 00002 drops it: the Idempotency-Key record lives on the
// saga row. 00003 replaces 00001's saga_events, one row per event, with
// saga_event_writes, copying every event.) A successful purchase is
// exactly two commits: Create (saga row + its first events) and the Update
// that confirms (versioned saga update + new events + the guarded decrement
// `stock = stock - qty WHERE stock >= qty` of the product, in one
// transaction).
//
// # Confirming a hot product in groups
//
// DB.WriteAll (ports.SagaBatchWriter) stores the moves of many sagas of one
// product in one transaction: a version-checked update per saga row, one
// multi-row insert of all their new events, and last one guarded decrement
// of the product by the sum sold. A product bought by a crowd then pays its
// row lock and the commit's fsync once per group instead of once per sale.
// DB.CreateAll does the same for purchases' first commits, of any products:
// one multi-row insert of the saga rows and one of their events.
//
// Saga rows and events are inserted by the adapter's own statements
// (insert.go), built from the row types' GORM schemas (the struct tags are
// the one mapping), rather than by GORM's Create: it is the hottest write,
// and the statement is the same for a fraction of the client's work.
//
// # Optimistic locking
//
// Saga and product rows carry a gorm.io/plugin/optimisticlock Version.
// Every versioned write is a GORM Updates through the plugin (WHERE id AND
// version, SET version = version + 1) whose RowsAffected is checked: zero
// rows is a lost race, which SagaStore.Update answers by reloading and
// applying fn again (MaxUpdateAttempts times), then domain.ErrConflict. The
// package never calls Save: on a stale row, GORM's Save turns a zero-row
// update into an upsert that overwrites the newer row and rewinds its
// version.
//
// # Reads: primary and replicas
//
// gorm.io/plugin/dbresolver splits reads from writes. Writes, and the reads
// a client expects to reflect its own purchase (Saga, SagaOfOrder, the load
// inside Update, Stale, the outbox), go to the primary with
// Clauses(dbresolver.Write): GET /orders/:id right after a purchase never
// misses because of replica lag. Catalog.Product and Catalog.Products read
// a replica; to keep read-your-writes for the writes this process made (a
// Supply, a confirmation's stock decrement), the DB remembers the product
// version each of its writes produced, and a replica answer older than that
// (or missing the product) is read again from the primary. Writes by other
// processes reach this one's catalog reads with the replica's lag. A replica
// that does not answer is replaced by the primary for that read.
//
// # Failover
//
// Options.PrimaryDSNs lists the candidates for the writable primary. Open
// picks the first that answers with @@global.read_only = 0. When a primary
// call fails because the server is read-only (MariaDB 1290, 1836: it was
// demoted, or a replica was reached) or unreachable (refused, reset, broken
// connection, deadline), the call returns an error wrapping
// domain.ErrUnavailable (the HTTP edge answers 503, the caller may retry) and
// a background re-resolution starts, at most one at a time and at most once
// per Options.ResolveInterval: it keeps the current primary if it is still
// writable, else takes the first writable candidate, opens a pool to it, and
// swaps the generation (primary pool + dbresolver) atomically. In-flight
// calls finish on the old pool, which is then closed. So after a replica is
// promoted (scripts/mariadb promote), writes resume without restarting the
// process, within about one ResolveInterval of the first failed call after
// the promotion. No write is retried automatically after a connection
// error: its outcome is unknown, and the saga's idempotent steps and
// recovery are what settle it.
//
// Acknowledged commits survive the loss of the primary only if they reached
// the replica before it was promoted: scripts/mariadb configures lossless
// semi-synchronous replication (AFTER_SYNC), and its promote applies the
// whole relay log before leaving read-only mode.
//
// # Errors
//
// One function (DB.translate) maps driver and GORM errors to the domain's
// sentinels: duplicate keys to domain.ErrDuplicate, deadlocks to
// domain.ErrConflict, oversized or invalid values to domain.ErrInvalidInput,
// and every infrastructure failure (connection, timeout, read-only, a done
// context) to domain.ErrUnavailable. Every call honours its context, bounded
// by Options.QueryTimeout.
package mysql
