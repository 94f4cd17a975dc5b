-- The Idempotency-Key record moved onto the saga row (the application keeps
-- it there), so the idempotency_keys table of 00001 has no reader left.
--
-- IF EXISTS / IF NOT EXISTS: MySQL commits DDL at once, so a migration
-- interrupted half-way must be able to run again. Down recreates the table
-- exactly as 00001 created it (its rows are gone for good).

-- +goose Up
DROP TABLE IF EXISTS idempotency_keys;

-- +goose Down
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
