package redis

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

var (
	_ ports.Inventory         = (*Inventory)(nil)
	_ ports.InventoryReaper   = (*Inventory)(nil)
	_ ports.InventoryLoader   = (*Inventory)(nil)
	_ ports.VersionedReserver = (*Inventory)(nil)
	_ ports.FreshReserver     = (*Inventory)(nil)
	_ ports.BatchConfirmer    = (*Inventory)(nil)
	_ ports.Pinger            = (*Inventory)(nil)
)

// DefaultRetention is how long a consumed (confirmed or released) or refused
// reservation record is remembered after it was consumed or refused, unless
// WithRetention says otherwise.
const DefaultRetention = 24 * time.Hour

// MaxStock bounds a product's stock (2^53 - 1): the scripts compare counts
// as Lua numbers, which are doubles, exact up to here.
const MaxStock = 1<<53 - 1

// supplyMarkerTTL is how long AddStock remembers a call it applied, to
// swallow a transport retry of it; retries come within a second or two.
const supplyMarkerTTL = 10 * time.Minute

// Inventory is the Redis stock gate. Per product it keeps a level hash
// (stock, reserved, version), one record per saga that reserved it, and a
// sorted set of held sagas by deadline, all under the product's hash tag;
// every change is one Lua script, so 0 <= reserved <= stock holds after each
// and concurrent callers on any number of processes see them one at a time.
// It is safe for concurrent use.
//
// Records make Reserve, Confirm and Release idempotent, so they outlive
// their use: a consumed or refused record expires (PEXPIRE) after the
// retention, counted from when it was consumed or refused; a duplicate
// Reserve arriving later than that is treated as new. HELD records never
// expire: the reaper consumes them.
//
// Deadlines are stored to the millisecond: Expired reports them truncated,
// and a deadline less than a millisecond after now may be reported due.
type Inventory struct {
	c         goredis.UniversalClient
	retention time.Duration
	ns        string
}

// InventoryOption configures NewInventory.
type InventoryOption func(*Inventory)

// WithRetention sets how long a consumed or refused reservation is
// remembered (DefaultRetention when not given). It must be longer than any
// saga can take to retry its Reserve, or a late retry would reserve twice.
// A retention below one millisecond panics.
func WithRetention(d time.Duration) InventoryOption {
	if d < time.Millisecond {
		panic("redis.WithRetention: the retention must be at least 1ms")
	}
	return func(inv *Inventory) { inv.retention = d }
}

// WithInventoryNamespace puts ns in front of every key the inventory uses
// (outside the hash tag), so several deployments or test runs can share one
// Redis. A namespace containing '{' or '}' panics: it would move the hash tag.
func WithInventoryNamespace(ns string) InventoryOption {
	mustNamespace(ns, "WithInventoryNamespace")
	return func(inv *Inventory) { inv.ns = ns }
}

// NewInventory returns the gate over c. It panics if c is nil or would
// ignore context deadlines (see NewClient).
func NewInventory(c goredis.UniversalClient, opts ...InventoryOption) *Inventory {
	mustClient(c, "NewInventory")
	inv := &Inventory{c: c, retention: DefaultRetention}
	for _, opt := range opts {
		opt(inv)
	}
	return inv
}

func mustNamespace(ns, who string) {
	if strings.ContainsAny(ns, "{}") {
		panic(fmt.Sprintf("redis.%s: namespace %q must not contain '{' or '}'", who, ns))
	}
}

// productTag is the prefix of every key of product; {p:<id>} is the hash
// tag that puts them in one slot.
func (inv *Inventory) productTag(p domain.ProductID) string {
	return inv.ns + "{p:" + string(p) + "}"
}

func (inv *Inventory) levelKey(p domain.ProductID) string { return inv.productTag(p) + ":level" }
func (inv *Inventory) deadlinesKey(p domain.ProductID) string {
	return inv.productTag(p) + ":deadlines"
}
func (inv *Inventory) recordKey(p domain.ProductID, s domain.SagaID) string {
	return inv.productTag(p) + ":res:" + string(s)
}
func (inv *Inventory) supplyKey(p domain.ProductID, op string) string {
	return inv.productTag(p) + ":supply:" + op
}

// productsKey names the set of products with a stock record. It is in a
// slot of its own: only Expired reads it, to find every product's deadlines.
func (inv *Inventory) productsKey() string { return inv.ns + "flashsale:products" }

// reservationKeys are the keys of the reserve, confirm and release scripts.
func (inv *Inventory) reservationKeys(p domain.ProductID, s domain.SagaID) []string {
	return []string{inv.levelKey(p), inv.recordKey(p, s), inv.deadlinesKey(p)}
}

// Reserve implements ports.Inventory. A malformed saga or product ID, or a
// quantity below 1, is an error matching domain.ErrInvalidInput and is not
// remembered. The first answer is replayed to the same quantity (the
// deadline of a retry may differ: the first one stays); another quantity
// gets domain.ErrIdempotencyMismatch.
func (inv *Inventory) Reserve(ctx context.Context, r domain.Reservation) error {
	_, err := inv.reserve(ctx, r, "", "")
	return err
}

// ReserveFresh implements ports.FreshReserver: Reserve, telling from the
// script's answer whether this call took the units or replayed a record.
// The call carries a random nonce that a reservation it takes keeps: when
// go-redis sends the script again after losing its reply (a read timeout,
// a dropped connection), the record it finds is this call's own, and is
// reported fresh, not as a replay.
func (inv *Inventory) ReserveFresh(ctx context.Context, r domain.Reservation) (bool, error) {
	return inv.reserve(ctx, r, "", rand.Text())
}

// ReserveIfVersion implements ports.VersionedReserver. An earlier answer for
// the saga (held, consumed or refused) is replayed whatever the version;
// domain.ErrConflict is never remembered, because the caller retries it with
// the same saga ID after reading a fresh version.
func (inv *Inventory) ReserveIfVersion(ctx context.Context, r domain.Reservation, version int64) error {
	_, err := inv.reserve(ctx, r, strconv.FormatInt(version, 10), "")
	return err
}

// reserve reports whether it took the units (false for a replay of a
// record another call made: see ReserveFresh for nonce).
func (inv *Inventory) reserve(ctx context.Context, r domain.Reservation, version, nonce string) (bool, error) {
	op := "reserve " + string(r.SagaID)
	if err := r.SagaID.Validate(); err != nil {
		return false, fmt.Errorf("reserve: %w", err)
	}
	if err := r.ProductID.Validate(); err != nil {
		return false, fmt.Errorf("%s: %w", op, err)
	}
	if r.Qty <= 0 {
		return false, fmt.Errorf("%s: %w", op, domain.Invalid("qty", "must be positive"))
	}
	replayed, err := runScriptDetail(ctx, inv.c, reserveScript, op+" of "+string(r.ProductID),
		inv.reservationKeys(r.ProductID, r.SagaID),
		string(r.SagaID), r.Qty, r.Deadline.UnixMilli(), inv.retention.Milliseconds(), version, nonce)
	return err == nil && replayed == 0, err
}

// Confirm implements ports.Inventory.
func (inv *Inventory) Confirm(ctx context.Context, product domain.ProductID, saga domain.SagaID) error {
	return runScript(ctx, inv.c, confirmScript, fmt.Sprintf("confirm %s of %s", saga, product),
		inv.reservationKeys(product, saga), string(saga), inv.retention.Milliseconds())
}

// ConfirmAll implements ports.BatchConfirmer with one script call: every
// key of one product carries its hash tag, so on a Cluster the call goes
// to the product's node.
func (inv *Inventory) ConfirmAll(ctx context.Context, product domain.ProductID, sagas []domain.SagaID) ([]error, error) {
	op := fmt.Sprintf("confirm %d sagas of %s", len(sagas), product)
	if len(sagas) == 0 {
		return nil, nil
	}
	if err := product.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if err := liveContext(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	keys := make([]string, 0, 2+len(sagas))
	keys = append(keys, inv.levelKey(product), inv.deadlinesKey(product))
	args := make([]any, 0, 1+len(sagas))
	args = append(args, inv.retention.Milliseconds())
	for _, s := range sagas {
		keys = append(keys, inv.recordKey(product, s))
		args = append(args, string(s))
	}
	codes, err := runScriptInts(ctx, inv.c, confirmAllScript, op, len(sagas), keys, args...)
	if err != nil {
		return nil, err
	}
	errs := make([]error, len(sagas))
	for i, code := range codes {
		if code != statusOK { // the name of a failed confirm only: most succeed
			errs[i] = statusError(fmt.Sprintf("confirm %s of %s", sagas[i], product), code, 0)
		}
	}
	return errs, nil
}

// Release implements ports.Inventory.
func (inv *Inventory) Release(ctx context.Context, product domain.ProductID, saga domain.SagaID) error {
	return runScript(ctx, inv.c, releaseScript, fmt.Sprintf("release %s of %s", saga, product),
		inv.reservationKeys(product, saga), string(saga), inv.retention.Milliseconds())
}

// Level implements ports.Inventory. The three counts are one hash, read by
// one command, so they are always from the same moment.
func (inv *Inventory) Level(ctx context.Context, product domain.ProductID) (domain.StockLevel, error) {
	op := "level of " + string(product)
	if err := liveContext(ctx); err != nil {
		return domain.StockLevel{}, fmt.Errorf("%s: %w", op, err)
	}
	vals, err := inv.c.HMGet(ctx, inv.levelKey(product), "stock", "reserved", "version").Result()
	if err != nil {
		return domain.StockLevel{}, translateErr(op, err)
	}
	if vals[0] == nil {
		return domain.StockLevel{}, fmt.Errorf("%s: %w", op, domain.ErrProductNotFound)
	}
	n, err := int64s(vals)
	if err != nil {
		return domain.StockLevel{}, fmt.Errorf("%s: %w", op, err)
	}
	return domain.StockLevel{ProductID: product, Stock: n[0], Reserved: n[1], Version: n[2]}, nil
}

// Expired implements ports.InventoryReaper; ties in deadline are ordered by
// saga ID, then product ID, so the answer is deterministic. A limit below 1
// returns nothing.
//
// The products are spread over the cluster, so this is not one snapshot: it
// lists each product's due sagas, keeps the oldest limit of them, and then
// drops any that were consumed in between (it may return fewer than limit
// while more are due; the reaper's next round finds them). It reads every
// product in the products set, in one pipeline per step.
func (inv *Inventory) Expired(ctx context.Context, now time.Time, limit int) ([]domain.Reservation, error) {
	const op = "expired reservations"
	if err := liveContext(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if limit <= 0 {
		return nil, nil
	}
	products, err := inv.products(ctx)
	if err != nil {
		return nil, translateErr(op, err)
	}
	if len(products) == 0 {
		return nil, nil
	}
	byDeadline := &goredis.ZRangeBy{Min: "-inf", Max: strconv.FormatInt(now.UnixMilli(), 10), Count: int64(limit)}
	dueCmds := make([]*goredis.ZSliceCmd, len(products))
	if _, err := inv.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, id := range products {
			dueCmds[i] = p.ZRangeByScoreWithScores(ctx, inv.deadlinesKey(id), byDeadline)
		}
		return nil
	}); err != nil {
		return nil, translateErr(op, err)
	}
	var due []domain.Reservation
	for i, cmd := range dueCmds {
		for _, z := range cmd.Val() {
			saga, _ := z.Member.(string)
			due = append(due, domain.Reservation{
				SagaID: domain.SagaID(saga), ProductID: products[i], Deadline: msTime(int64(z.Score)),
			})
		}
	}
	sortByDeadline(due)
	if len(due) > limit {
		due = due[:limit]
	}
	return inv.withHeldQty(ctx, op, due)
}

// Reservations returns the product's HELD reservations ordered by saga ID.
// It is not a snapshot (the list and the records are read one after the
// other); it is for invariant checks and reconciliation at rest, where
// reserved must equal the sum of their quantities.
func (inv *Inventory) Reservations(ctx context.Context, product domain.ProductID) ([]domain.Reservation, error) {
	op := "reservations of " + string(product)
	if err := liveContext(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	zs, err := inv.c.ZRangeWithScores(ctx, inv.deadlinesKey(product), 0, -1).Result()
	if err != nil {
		return nil, translateErr(op, err)
	}
	rs := make([]domain.Reservation, 0, len(zs))
	for _, z := range zs {
		saga, _ := z.Member.(string)
		rs = append(rs, domain.Reservation{SagaID: domain.SagaID(saga), ProductID: product, Deadline: msTime(int64(z.Score))})
	}
	held, err := inv.withHeldQty(ctx, op, rs)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(held, func(a, b domain.Reservation) int { return cmp.Compare(a.SagaID, b.SagaID) })
	return held, nil
}

// withHeldQty fills in the quantity of each listed reservation from its
// record and leaves out those no longer HELD.
func (inv *Inventory) withHeldQty(ctx context.Context, op string, rs []domain.Reservation) ([]domain.Reservation, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	recCmds := make([]*goredis.SliceCmd, len(rs))
	if _, err := inv.c.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, r := range rs {
			recCmds[i] = p.HMGet(ctx, inv.recordKey(r.ProductID, r.SagaID), "qty", "state")
		}
		return nil
	}); err != nil {
		return nil, translateErr(op, err)
	}
	held := make([]domain.Reservation, 0, len(rs))
	for i, cmd := range recCmds {
		vals := cmd.Val()
		if len(vals) != 2 || vals[1] != string(domain.ReservationHeld) {
			continue // consumed since it was listed
		}
		qty, err := strconv.ParseInt(fmt.Sprint(vals[0]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: record of %s: qty %v: %w", op, rs[i].SagaID, vals[0], err)
		}
		r := rs[i]
		r.Qty = qty
		held = append(held, r)
	}
	return held, nil
}

// products lists the products set with SSCAN, which does not block the
// server however many products there are.
func (inv *Inventory) products(ctx context.Context) ([]domain.ProductID, error) {
	var ids []domain.ProductID
	iter := inv.c.SScan(ctx, inv.productsKey(), 0, "", 1000).Iterator()
	for iter.Next(ctx) {
		ids = append(ids, domain.ProductID(iter.Val()))
	}
	if err := iter.Err(); err != nil {
		return nil, err
	}
	slices.Sort(ids)
	return slices.Compact(ids), nil // SSCAN may return an element twice
}

// AddStock implements ports.InventoryLoader. A malformed product ID, a
// negative delta, or one that would take the stock past MaxStock, is an
// error matching domain.ErrInvalidInput. A delta of 0 creates a missing
// record and otherwise changes nothing (the version stays).
func (inv *Inventory) AddStock(ctx context.Context, product domain.ProductID, delta int64) error {
	op := "add stock to " + string(product)
	if err := product.Validate(); err != nil {
		return fmt.Errorf("add stock: %w", err)
	}
	if delta < 0 || delta > MaxStock {
		return fmt.Errorf("%s: %w", op, domain.Invalid("delta", "must be between 0 and %d", int64(MaxStock)))
	}
	opID, err := newOpID()
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return inv.addStock(ctx, op, product, delta, opID)
}

// addStock applies one AddStock call named opID; running it again with the
// same opID (what a transport retry does) changes nothing.
func (inv *Inventory) addStock(ctx context.Context, op string, product domain.ProductID, delta int64, opID string) error {
	if err := inv.register(ctx, op, product); err != nil {
		return err
	}
	return runScript(ctx, inv.c, addStockScript, op,
		[]string{inv.levelKey(product), inv.supplyKey(product, opID)},
		delta, int64(MaxStock), supplyMarkerTTL.Milliseconds())
}

// SetStock implements ports.InventoryLoader. Because the gate keeps
// reserved <= stock at all times, a stock below the product's current
// reserved count is refused with an error matching domain.ErrInvalidInput
// (and so is a negative one, one above MaxStock, or a malformed product
// ID); reconciliation at rest has nothing reserved. Setting the stock it
// already has changes nothing (the version stays).
func (inv *Inventory) SetStock(ctx context.Context, product domain.ProductID, stock int64) error {
	op := "set stock of " + string(product)
	if err := product.Validate(); err != nil {
		return fmt.Errorf("set stock: %w", err)
	}
	if stock < 0 || stock > MaxStock {
		return fmt.Errorf("%s: %w", op, domain.Invalid("stock", "must be between 0 and %d", int64(MaxStock)))
	}
	if err := inv.register(ctx, op, product); err != nil {
		return err
	}
	return runScript(ctx, inv.c, setStockScript, op, []string{inv.levelKey(product)}, stock)
}

// register adds product to the products set before its record is written:
// the set lives in another slot, so the two cannot be one script, and in
// this order a failure leaves at worst a listed product without a record,
// which Expired skips, never a record Expired cannot find.
func (inv *Inventory) register(ctx context.Context, op string, product domain.ProductID) error {
	if err := liveContext(ctx); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := inv.c.SAdd(ctx, inv.productsKey(), string(product)).Err(); err != nil {
		return translateErr(op, err)
	}
	return nil
}

// Ping implements ports.Pinger: every master must answer.
func (inv *Inventory) Ping(ctx context.Context) error { return ping(ctx, inv.c) }

func newOpID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("operation id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

func sortByDeadline(rs []domain.Reservation) {
	slices.SortFunc(rs, func(a, b domain.Reservation) int {
		if c := a.Deadline.Compare(b.Deadline); c != 0 {
			return c
		}
		if c := cmp.Compare(a.SagaID, b.SagaID); c != 0 {
			return c
		}
		return cmp.Compare(a.ProductID, b.ProductID)
	})
}

// int64s parses HMGET's answer; a missing field reads as 0.
func int64s(vals []any) ([]int64, error) {
	out := make([]int64, len(vals))
	for i, v := range vals {
		if v == nil {
			continue
		}
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("unexpected field value %v", v)
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, errors.New("stored count is not an integer: " + s)
		}
		out[i] = n
	}
	return out, nil
}

var (
	_ ports.ReservationLookup = (*Inventory)(nil)
	_ ports.BatchLookup       = (*Inventory)(nil)
)

// HasReservations implements ports.BatchLookup with one script call of
// EXISTS per saga's record key (the keys share the product's hash tag: one
// Cluster node).
func (inv *Inventory) HasReservations(ctx context.Context, product domain.ProductID, sagas []domain.SagaID) ([]bool, error) {
	op := fmt.Sprintf("has reservations of %d sagas of %s", len(sagas), product)
	if err := liveContext(ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	if len(sagas) == 0 {
		return nil, nil
	}
	keys := make([]string, len(sagas))
	for i, s := range sagas {
		keys[i] = inv.recordKey(product, s)
	}
	counts, err := runScriptInts(ctx, inv.c, existsEachScript, op, len(sagas), keys)
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(sagas))
	for i, n := range counts {
		out[i] = n == 1
	}
	return out, nil
}

// HasReservation implements ports.ReservationLookup with one EXISTS of the
// saga's record key: held, consumed and refused records all count, until
// their retention ends.
func (inv *Inventory) HasReservation(ctx context.Context, product domain.ProductID, saga domain.SagaID) (bool, error) {
	op := fmt.Sprintf("has reservation %s of %s", saga, product)
	if err := liveContext(ctx); err != nil {
		return false, fmt.Errorf("%s: %w", op, err)
	}
	n, err := inv.c.Exists(ctx, inv.recordKey(product, saga)).Result()
	if err != nil {
		return false, translateErr(op, err)
	}
	return n == 1, nil
}
