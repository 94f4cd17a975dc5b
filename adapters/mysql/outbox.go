package mysql

import (
	"context"
	"fmt"

	"github.com/flashsale/flashsale/domain"
)

// markBatch bounds the IN list of one MarkPublished statement.
const markBatch = 500

// Unpublished implements ports.Outbox from the primary: events not yet
// marked published, in the order their writes were stored (the table's
// auto-increment position), which keeps each saga's events in timeline
// order. A limit below 1 returns nothing.
func (db *DB) Unpublished(ctx context.Context, limit int) ([]domain.Event, error) {
	ctx, cancel := db.callContext(ctx)
	defer cancel()
	if err := live(ctx); err != nil {
		return nil, fmt.Errorf("unpublished events: %w", err)
	}
	if limit <= 0 {
		return nil, nil
	}
	var rows []eventRow
	err := db.cur.Load().onPrimary(ctx).Select("payload").
		Where("published_at IS NULL").Order("pos").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("unpublished events: %w", db.translate(ctx, err))
	}
	out := make([]domain.Event, 0, len(rows))
	for _, r := range rows {
		e, err := decodeEvent(r.Payload)
		if err != nil {
			return nil, fmt.Errorf("unpublished events: %w", err)
		}
		out = append(out, e)
	}
	return out, nil
}

// MarkPublished implements ports.Outbox. IDs it does not hold are ignored;
// marking a published event again changes nothing (its first published_at
// stays).
func (db *DB) MarkPublished(ctx context.Context, ids []string) error {
	ctx, cancel := db.callContext(ctx)
	defer cancel()
	if err := live(ctx); err != nil {
		return fmt.Errorf("mark published: %w", err)
	}
	now := db.now()
	g := db.cur.Load()
	for start := 0; start < len(ids); start += markBatch {
		batch := ids[start:min(start+markBatch, len(ids))]
		err := g.onPrimary(ctx).Model(&eventRow{}).
			Where("id IN ? AND published_at IS NULL", batch).Update("published_at", now).Error
		if err != nil {
			return fmt.Errorf("mark published: %w", db.translate(ctx, err))
		}
	}
	return nil
}
