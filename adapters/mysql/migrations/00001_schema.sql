-- flashsale's durable store: products, the saga log (each saga row carries
-- its order), the saga event timeline (which is also the outbox) and the
-- Idempotency-Key records. Money and stock are integers in minor units.
--
-- Identifiers are ASCII and compared byte for byte (ascii_bin): domain IDs
-- are [A-Za-z0-9._-], and "P-1" and "p-1" are two products. Times are
-- DATETIME(6) in UTC, written by the adapter (never by the server's clock);
-- the adapter stores the zero time.Time as 1000-01-01, the smallest
-- DATETIME, so it sorts first as it does in Go.
--
-- CREATE TABLE IF NOT EXISTS: MySQL commits DDL at once, so a migration
-- interrupted half-way must be able to run again.

-- +goose Up
CREATE TABLE IF NOT EXISTS products (
  id          VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  name        VARCHAR(200) NOT NULL,
  price_minor BIGINT NOT NULL,
  stock       BIGINT NOT NULL,
  -- Optimistic-lock version: every write adds 1.
  version     BIGINT NOT NULL,
  created_at  DATETIME(6) NOT NULL,
  updated_at  DATETIME(6) NOT NULL,
  PRIMARY KEY (id),
  -- I1 (no oversell) once more, below the adapter's guarded decrement.
  CONSTRAINT products_stock_not_negative CHECK (stock >= 0),
  CONSTRAINT products_price_not_negative CHECK (price_minor >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One row per purchase saga, carrying its order: the saga and its order
-- share one version, and a purchase is two commits (create, confirm).
CREATE TABLE IF NOT EXISTS sagas (
  id                   VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  -- NULL for a saga aborted before it created an order (domain.Abort).
  order_id             VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
  product_id           VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  qty                  BIGINT NOT NULL,
  amount_minor         BIGINT NOT NULL,
  strategy             VARCHAR(32) NOT NULL DEFAULT '',
  -- RUNNING | COMPENSATING | COMPLETED | COMPENSATED
  status               VARCHAR(16) CHARACTER SET ascii NOT NULL,
  -- PENDING | CONFIRMED | CANCELLED; NULL without an order.
  order_status         VARCHAR(16) CHARACTER SET ascii NULL,
  charged              BOOLEAN NOT NULL DEFAULT FALSE,
  refunded             BOOLEAN NOT NULL DEFAULT FALSE,
  released             BOOLEAN NOT NULL DEFAULT FALSE,
  reason               TEXT NOT NULL,
  reservation_deadline DATETIME(6) NOT NULL,
  lease_owner          VARCHAR(255) NOT NULL DEFAULT '',
  lease_until          DATETIME(6) NOT NULL,
  started_at           DATETIME(6) NOT NULL,
  updated_at           DATETIME(6) NOT NULL,
  order_created_at     DATETIME(6) NULL,
  order_updated_at     DATETIME(6) NULL,
  -- Length of the saga's timeline in saga_events, written with it: a load
  -- reads the row, then exactly this many events (a consistent pair even
  -- while another writer appends).
  event_count          INT NOT NULL DEFAULT 0,
  -- Optimistic-lock version of saga and order together.
  version              BIGINT NOT NULL,
  PRIMARY KEY (id),
  -- GET /orders/:id; NULLs do not collide.
  UNIQUE KEY sagas_order_id (order_id),
  -- Recovery: unfinished sagas whose lease ran out, oldest lease first.
  KEY sagas_stale (status, lease_until),
  CONSTRAINT sagas_qty_positive CHECK (qty > 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Each saga's timeline, one row per event, written in the same transaction
-- as the saga state it describes: this table is the outbox.
CREATE TABLE IF NOT EXISTS saga_events (
  -- Write order. The clustered key, so inserts append and "unpublished,
  -- oldest first" walks the table in order; a saga's later write can only
  -- commit after its earlier one (version check), so each saga's events
  -- are in seq order along pos too.
  pos          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  -- "<saga id>-<seq>" (domain.EventID): what consumers dedupe by.
  id           VARCHAR(100) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  saga_id      VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  seq          INT NOT NULL,
  type         VARCHAR(32) CHARACTER SET ascii NOT NULL,
  -- The whole domain.Event as JSON (its schema version is
  -- domain.EventSchemaVersion).
  payload      JSON NOT NULL,
  occurred_at  DATETIME(6) NOT NULL,
  -- NULL until the relay has published it.
  published_at DATETIME(6) NULL,
  PRIMARY KEY (pos),
  UNIQUE KEY saga_events_id (id),
  UNIQUE KEY saga_events_saga_seq (saga_id, seq),
  KEY saga_events_unpublished (published_at, pos)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Idempotency-Key records (Stripe-style): one claim per key, then the
-- stored response, until expires_at.
CREATE TABLE IF NOT EXISTS idempotency_keys (
  -- The key as the client sent it, byte for byte (at most 255 bytes).
  idem_key        VARBINARY(255) NOT NULL,
  request_hash    VARCHAR(128) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  -- in_progress | completed
  status          VARCHAR(16) CHARACTER SET ascii NOT NULL,
  response_status SMALLINT NULL,
  response_body   MEDIUMBLOB NULL,
  created_at      DATETIME(6) NOT NULL,
  expires_at      DATETIME(6) NOT NULL,
  PRIMARY KEY (idem_key),
  KEY idempotency_keys_expires (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- +goose Down
DROP TABLE IF EXISTS idempotency_keys;
DROP TABLE IF EXISTS saga_events;
DROP TABLE IF EXISTS sagas;
DROP TABLE IF EXISTS products;
