package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/flashsale/flashsale/domain"
)

// Status codes the Lua scripts answer with, as the first element of a
// two-element array; the second is a detail (a count) for the message.
// The scripts see them by name through statusPreamble.
const (
	statusOK            = 0
	statusInsufficient  = 1
	statusNoProduct     = 2
	statusNoReservation = 3
	statusReleased      = 4
	statusConfirmed     = 5
	statusMismatch      = 6 // detail: the quantity first asked for
	statusConflict      = 7 // detail: the current version
	statusBelowReserved = 8 // detail: units reserved
	statusOverflow      = 9 // detail: current stock
	statusLockLost      = 10
	statusCorruptLevel  = 11 // a held record whose level cannot pay it back
)

// statusError is the one place a script's status becomes a domain
// sentinel (or nil). op prefixes the message.
func statusError(op string, status, detail int64) error {
	switch status {
	case statusOK:
		return nil
	case statusInsufficient:
		return fmt.Errorf("%s: %w", op, domain.ErrInsufficientStock)
	case statusNoProduct:
		return fmt.Errorf("%s: %w", op, domain.ErrProductNotFound)
	case statusNoReservation:
		return fmt.Errorf("%s: %w", op, domain.ErrReservationNotFound)
	case statusReleased:
		return fmt.Errorf("%s: %w", op, domain.ErrReservationReleased)
	case statusConfirmed:
		return fmt.Errorf("%s: %w", op, domain.ErrReservationConfirmed)
	case statusMismatch:
		return fmt.Errorf("%s: the saga reserved %d before: %w", op, detail, domain.ErrIdempotencyMismatch)
	case statusConflict:
		return fmt.Errorf("%s: stock is at version %d: %w", op, detail, domain.ErrConflict)
	case statusBelowReserved:
		return fmt.Errorf("%s: %w", op, domain.Invalid("stock", "must be at least the %d units reserved", detail))
	case statusOverflow:
		return fmt.Errorf("%s: %w", op, domain.Invalid("delta", "would take the stock of %d past %d", detail, int64(MaxStock)))
	case statusLockLost:
		return fmt.Errorf("%s: %w", op, domain.ErrLockLost)
	case statusCorruptLevel:
		// Only a hand edit or a lost write can cause this; the script
		// refused to break 0 <= reserved <= stock and changed nothing.
		return fmt.Errorf("%s: the stock level cannot pay back a held reservation; reconcile the product", op)
	}
	return fmt.Errorf("%s: unknown script status %d", op, status)
}

// runScript runs s and decodes its {status, detail} answer into an error.
// Script.Run sends EVALSHA and falls back to EVAL on NOSCRIPT, which a
// replica promoted by a failover answers until it has seen the script.
func runScript(ctx context.Context, c goredis.UniversalClient, s *goredis.Script, op string, keys []string, args ...any) error {
	_, err := runScriptDetail(ctx, c, s, op, keys, args...)
	return err
}

// runScriptDetail is runScript, also returning the detail of an OK reply.
func runScriptDetail(ctx context.Context, c goredis.UniversalClient, s *goredis.Script, op string, keys []string, args ...any) (int64, error) {
	if err := liveContext(ctx); err != nil {
		return 0, fmt.Errorf("%s: %w", op, err)
	}
	reply, err := s.Run(ctx, c, keys, args...).Result()
	if err != nil {
		return 0, translateErr(op, err)
	}
	status, detail, ok := decodeStatus(reply)
	if !ok {
		return 0, fmt.Errorf("%s: malformed script reply %v", op, reply)
	}
	return detail, statusError(op, status, detail)
}

// runScriptInts runs a script that answers n integers, one per item.
func runScriptInts(ctx context.Context, c goredis.UniversalClient, s *goredis.Script, op string, n int, keys []string, args ...any) ([]int64, error) {
	reply, err := s.Run(ctx, c, keys, args...).Result()
	if err != nil {
		return nil, translateErr(op, err)
	}
	vals, ok := reply.([]any)
	if !ok || len(vals) != n {
		return nil, fmt.Errorf("%s: malformed script reply %v", op, reply)
	}
	out := make([]int64, n)
	for i, v := range vals {
		if out[i], ok = v.(int64); !ok {
			return nil, fmt.Errorf("%s: malformed script reply %v", op, reply)
		}
	}
	return out, nil
}

func decodeStatus(reply any) (status, detail int64, ok bool) {
	arr, isArr := reply.([]any)
	if !isArr || len(arr) != 2 {
		return 0, 0, false
	}
	status, ok1 := arr[0].(int64)
	detail, ok2 := arr[1].(int64)
	return status, detail, ok1 && ok2
}

// liveContext refuses to start a call whose context is done, so such a
// call provably changes nothing, as the ports promise.
func liveContext(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%w: %w", domain.ErrUnavailable, err)
	}
	return nil
}

// transientReplies are the answers with which a healthy Redis says "not
// now": the cluster is failing over or resharding, a replica is loading or
// was addressed as a master, or the server is out of clients.
var transientReplies = []string{
	"CLUSTERDOWN", "TRYAGAIN", "LOADING", "READONLY", "MASTERDOWN",
	"NOREPLICAS", "BUSY", "MOVED", "ASK", "ERR max number of clients",
}

// translateErr is the one place infrastructure errors are classified.
// Anything that is not a reply from Redis means the request or its answer
// was lost (refused or reset connection, timeout, context deadline, pool
// exhausted, closed client, no known cluster nodes): the outcome is unknown
// and the caller may retry, which every script here tolerates. Such errors,
// and the transient replies, wrap domain.ErrUnavailable; any other reply
// (a script error, WRONGTYPE, CROSSSLOT) is a bug and is returned as it is.
func translateErr(op string, err error) error {
	if isUnavailable(err) {
		return fmt.Errorf("%s: %w: %w", op, domain.ErrUnavailable, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

func isUnavailable(err error) bool {
	var reply goredis.Error
	if !errors.As(err, &reply) {
		return true
	}
	msg := reply.Error()
	for _, p := range transientReplies {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}
