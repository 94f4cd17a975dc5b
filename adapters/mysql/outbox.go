package mysql

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/flashsale/flashsale/domain"
)

// markBatch bounds the sagas of one MarkPublished statement.
const markBatch = 500

// Unpublished implements ports.Outbox from the primary: the events of the
// writes not yet wholly published, in the order the writes were stored
// (the table's auto-increment position), which keeps each saga's events in
// timeline order, without the prefix of each write already published. A
// limit below 1 returns nothing.
func (db *DB) Unpublished(ctx context.Context, limit int) ([]domain.Event, error) {
	ctx, cancel := db.callContext(ctx)
	defer cancel()
	if err := live(ctx); err != nil {
		return nil, fmt.Errorf("unpublished events: %w", err)
	}
	if limit <= 0 {
		return nil, nil
	}
	// One statement, so one snapshot: MarkPublished marks each saga's
	// events as a prefix, which is right only if every earlier write of a
	// saga whose later write is read was read too (or was published). A
	// later write of a saga commits after its earlier ones, so a snapshot
	// that holds it holds them; two statements could see the later write
	// and not an earlier one that committed between them.
	//
	// A write holds one to five events (a purchase's two hold three and
	// two), so half of limit rows is about limit events, not a page read
	// for nothing. Fewer is fine: the relay reads again until the outbox
	// is empty.
	var rows []writeRow
	err := db.cur.Load().onPrimary(ctx).Select("events", "published_seq").
		Where("published_at IS NULL").Order("pos").Limit(max(limit/2, 1)).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("unpublished events: %w", db.translate(ctx, err))
	}
	out := make([]domain.Event, 0, limit)
	for _, r := range rows {
		es, err := decodeEvents(r.Events)
		if err != nil {
			return nil, fmt.Errorf("unpublished events: %w", err)
		}
		for _, e := range es {
			if e.Seq <= r.PublishedSeq {
				continue
			}
			if len(out) == limit {
				return out, nil
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// MarkPublished implements ports.Outbox: an event is marked with the
// earlier events of its saga (the relay publishes each saga's events in
// order). Per saga it raises published_seq of the saga's unpublished writes
// to the highest seq given, at most each write's last, and stamps the
// writes it completes: one UPDATE for up to markBatch sagas. IDs it does
// not hold are ignored; marking again changes nothing (a write's first
// published_at stays).
func (db *DB) MarkPublished(ctx context.Context, ids []string) error {
	ctx, cancel := db.callContext(ctx)
	defer cancel()
	if err := live(ctx); err != nil {
		return fmt.Errorf("mark published: %w", err)
	}
	upTo := make(map[domain.SagaID]int, len(ids))
	for _, id := range ids {
		if saga, seq, ok := domain.ParseEventID(id); ok {
			upTo[saga] = max(upTo[saga], seq)
		}
	}
	sagas := make([]domain.SagaID, 0, len(upTo))
	for s := range upTo {
		sagas = append(sagas, s)
	}
	slices.Sort(sagas) // one lock order for concurrent markers
	now := db.now()
	g := db.cur.Load()
	for start := 0; start < len(sagas); start += markBatch {
		batch := sagas[start:min(start+markBatch, len(sagas))]
		// UPDATE saga_event_writes SET
		//   published_at = IF(LEAST(last_seq, <m>) = last_seq, now, NULL),
		//   published_seq = GREATEST(published_seq, LEAST(last_seq, <m>))
		// WHERE published_at IS NULL AND saga_id IN (...)
		// (through the saga index), with <m> = CASE saga_id WHEN <saga> THEN <seq> ... END. Neither
		// assignment reads the other's column, so their order is moot.
		var upToSeq strings.Builder
		var caseArgs []any
		upToSeq.WriteString("CASE saga_id")
		for _, s := range batch {
			upToSeq.WriteString(" WHEN ? THEN ?")
			caseArgs = append(caseArgs, string(s), upTo[s])
		}
		upToSeq.WriteString(" END")
		m := "LEAST(last_seq, " + upToSeq.String() + ")"
		// FORCE INDEX: left to itself the optimizer walks the unpublished
		// index, every unpublished write for each mark (measured at 23 rows
		// read per purchase under load), where the saga index finds the
		// few rows of these sagas.
		q := "UPDATE saga_event_writes FORCE INDEX (saga_event_writes_saga_seq) SET published_at = IF(" + m + " = last_seq, ?, NULL), " +
			"published_seq = GREATEST(published_seq, " + m + ") " +
			"WHERE published_at IS NULL AND saga_id IN (?" + strings.Repeat(", ?", len(batch)-1) + ")"
		args := make([]any, 0, 2*len(caseArgs)+1+len(batch))
		args = append(args, caseArgs...)
		args = append(args, now)
		args = append(args, caseArgs...)
		for _, s := range batch {
			args = append(args, string(s))
		}
		if err := g.onPrimary(ctx).Exec(q, args...).Error; err != nil {
			return fmt.Errorf("mark published: %w", db.translate(ctx, err))
		}
	}
	return nil
}
