-- A saga's timeline moves from one row per event (saga_events) to one row
-- per write of the saga (saga_event_writes): the events a transaction adds
-- to a saga, as one JSON array. A purchase stores five events in two
-- writes, so its outbox is two rows where it was five: fewer rows, index
-- entries, binlog row events and replica applies per purchase, and the
-- relay marks two rows instead of five.
--
-- The relay marks a row's events as a prefix: published_seq is the highest
-- seq of the row that Kafka has (first_seq - 1 until then), and
-- published_at is set once it reaches last_seq. Each saga's events are
-- published in seq order, so a prefix is all a row ever needs.
--
-- Up copies every event of saga_events as a write of one event, keeping
-- their order and what was published; Down expands each write back into
-- its events. IF EXISTS / IF NOT EXISTS: MySQL commits DDL at once, so a
-- migration interrupted half-way must be able to run again.

-- +goose Up
CREATE TABLE IF NOT EXISTS saga_event_writes (
  -- Write order, as saga_events.pos was: the clustered key, so inserts
  -- append and "unpublished, oldest first" walks the table in order; a
  -- saga's later write can only commit after its earlier one (version
  -- check), so each saga's writes are in seq order along pos too.
  pos           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  saga_id       VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  -- The seqs of the first and last event in events (consecutive).
  first_seq     INT NOT NULL,
  last_seq      INT NOT NULL,
  -- The write's domain.Events as a JSON array, in seq order (each event's
  -- schema version is domain.EventSchemaVersion).
  events        JSON NOT NULL,
  -- The highest seq of this write that has been published.
  published_seq INT NOT NULL,
  -- NULL until published_seq reaches last_seq.
  published_at  DATETIME(6) NULL,
  PRIMARY KEY (pos),
  -- A saga's timeline, and one write per (saga, first event).
  UNIQUE KEY saga_event_writes_saga_seq (saga_id, first_seq),
  KEY saga_event_writes_unpublished (published_at, pos),
  CONSTRAINT saga_event_writes_seqs CHECK (first_seq >= 1 AND last_seq >= first_seq
    AND published_seq >= first_seq - 1 AND published_seq <= last_seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The guard makes a second run (after a crash between this and the DROP)
-- copy nothing twice.
INSERT INTO saga_event_writes (saga_id, first_seq, last_seq, events, published_seq, published_at)
SELECT e.saga_id, e.seq, e.seq, JSON_ARRAY(JSON_EXTRACT(e.payload, '$')),
       IF(e.published_at IS NULL, e.seq - 1, e.seq), e.published_at
FROM saga_events e
WHERE NOT EXISTS (SELECT 1 FROM saga_event_writes w WHERE w.saga_id = e.saga_id AND w.first_seq = e.seq)
ORDER BY e.pos;

DROP TABLE IF EXISTS saga_events;

-- +goose Down
CREATE TABLE IF NOT EXISTS saga_events (
  pos          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  id           VARCHAR(100) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  saga_id      VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  seq          INT NOT NULL,
  type         VARCHAR(32) CHARACTER SET ascii NOT NULL,
  payload      JSON NOT NULL,
  occurred_at  DATETIME(6) NOT NULL,
  published_at DATETIME(6) NULL,
  PRIMARY KEY (pos),
  UNIQUE KEY saga_events_id (id),
  UNIQUE KEY saga_events_saga_seq (saga_id, seq),
  KEY saga_events_unpublished (published_at, pos)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

INSERT IGNORE INTO saga_events (id, saga_id, seq, type, payload, occurred_at, published_at)
SELECT JSON_UNQUOTE(JSON_EXTRACT(j.e, '$.id')), w.saga_id, w.first_seq + j.n - 1,
       JSON_UNQUOTE(JSON_EXTRACT(j.e, '$.type')), j.e,
       -- "at" is RFC 3339 in UTC ("...T...Z", up to nanoseconds): DATETIME(6) keeps microseconds.
       CAST(LEFT(REPLACE(REPLACE(JSON_UNQUOTE(JSON_EXTRACT(j.e, '$.at')), 'T', ' '), 'Z', ''), 26) AS DATETIME(6)),
       IF(w.first_seq + j.n - 1 <= w.published_seq, COALESCE(w.published_at, UTC_TIMESTAMP(6)), NULL)
FROM saga_event_writes w,
     JSON_TABLE(w.events, '$[*]' COLUMNS (n FOR ORDINALITY, e JSON PATH '$')) AS j
ORDER BY w.pos, j.n;

DROP TABLE IF EXISTS saga_event_writes;
