package redis

import (
	"fmt"

	goredis "github.com/redis/go-redis/v9"
)

// statusPreamble names the status codes inside every script, from the Go
// constants, so the two sides cannot drift apart.
var statusPreamble = fmt.Sprintf(`local OK, INSUFFICIENT, NO_PRODUCT, NO_RESERVATION = %d, %d, %d, %d
local RELEASED, CONFIRMED, MISMATCH, CONFLICT = %d, %d, %d, %d
local BELOW_RESERVED, OVERFLOW, LOCK_LOST, CORRUPT_LEVEL = %d, %d, %d, %d
`,
	statusOK, statusInsufficient, statusNoProduct, statusNoReservation,
	statusReleased, statusConfirmed, statusMismatch, statusConflict,
	statusBelowReserved, statusOverflow, statusLockLost, statusCorruptLevel)

func newScript(body string) *goredis.Script { return goredis.NewScript(statusPreamble + body) }

// Numbers in Lua are doubles: counts are compared with tonumber, but every
// value written is the caller's decimal string (ARGV) or an integer
// HINCRBY, so nothing stored is ever rounded. MaxStock keeps counts where a
// double is exact.

// reserveScript holds ARGV[2] units for saga ARGV[1].
//
//	KEYS[1] level, KEYS[2] the saga's record, KEYS[3] deadlines
//	ARGV[1] saga, ARGV[2] qty, ARGV[3] deadline ms, ARGV[4] retention ms,
//	ARGV[5] the version the caller read, or "" for any,
//	ARGV[6] the caller's nonce for this call, or ""
//
// A record answers first, whatever the version: the saga's first answer is
// replayed (REJECTED: insufficient; RELEASED: released; HELD or CONFIRMED:
// ok, with 1 as its detail: a replay, unless the record carries this
// call's nonce: then it is this call's own reservation, answered again to a
// transport-level retry of the call), or MISMATCH for another qty. A version conflict writes nothing, so
// the caller can retry at a fresh version under the same saga. A refusal
// for stock is remembered (REJECTED, expiring after the retention) so a
// retry after a restock still gets the first answer.
var reserveScript = newScript(`
local qty = tonumber(ARGV[2])
local rec = redis.call('HMGET', KEYS[2], 'qty', 'state', 'nonce')
if rec[1] then
  if tonumber(rec[1]) ~= qty then return {MISMATCH, tonumber(rec[1])} end
  if rec[2] == 'REJECTED' then return {INSUFFICIENT, 0} end
  if rec[2] == 'RELEASED' then return {RELEASED, 0} end
  if ARGV[6] ~= '' and rec[3] == ARGV[6] then return {OK, 0} end
  return {OK, 1}
end
local lvl = redis.call('HMGET', KEYS[1], 'stock', 'reserved', 'version')
if not lvl[1] then return {NO_PRODUCT, 0} end
local version = tonumber(lvl[3])
if ARGV[5] ~= '' and version ~= tonumber(ARGV[5]) then return {CONFLICT, version} end
local available = tonumber(lvl[1]) - tonumber(lvl[2])
if available < qty then
  redis.call('HSET', KEYS[2], 'qty', ARGV[2], 'deadline', ARGV[3], 'state', 'REJECTED')
  redis.call('PEXPIRE', KEYS[2], ARGV[4])
  return {INSUFFICIENT, 0}
end
redis.call('HINCRBY', KEYS[1], 'reserved', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[2], 'qty', ARGV[2], 'deadline', ARGV[3], 'state', 'HELD', 'nonce', ARGV[6])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
return {OK, 0}
`)

// confirmFunc consumes a held reservation as a sale: the level at level
// and the deadlines index lose it, its record says CONFIRMED until the
// retention ends. It returns a status.
const confirmFunc = `
local function confirm(level, record, deadlines, saga, retention)
  local rec = redis.call('HMGET', record, 'qty', 'state')
  if not rec[1] or rec[2] == 'REJECTED' then return NO_RESERVATION end
  if rec[2] == 'CONFIRMED' then return OK end
  if rec[2] == 'RELEASED' then return RELEASED end
  local qty = tonumber(rec[1])
  local lvl = redis.call('HMGET', level, 'stock', 'reserved')
  if not lvl[1] or tonumber(lvl[1]) < qty or tonumber(lvl[2]) < qty then return CORRUPT_LEVEL end
  redis.call('HINCRBY', level, 'stock', '-' .. rec[1])
  redis.call('HINCRBY', level, 'reserved', '-' .. rec[1])
  redis.call('HINCRBY', level, 'version', 1)
  redis.call('HSET', record, 'state', 'CONFIRMED')
  redis.call('PEXPIRE', record, retention)
  redis.call('ZREM', deadlines, saga)
  return OK
end
`

// confirmScript consumes saga ARGV[1]'s held reservation as a sale.
//
//	KEYS[1] level, KEYS[2] the saga's record, KEYS[3] deadlines
//	ARGV[1] saga, ARGV[2] retention ms
var confirmScript = newScript(confirmFunc + `
return {confirm(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2]), 0}
`)

// confirmAllScript confirms the held reservations of many sagas of one
// product, each as confirmScript does, and returns their statuses in
// order.
//
//	KEYS[1] level, KEYS[2] deadlines, KEYS[3..] the sagas' records
//	ARGV[1] retention ms, ARGV[2..] the sagas, in the order of their records
var confirmAllScript = newScript(confirmFunc + `
local out = {}
for i = 3, #KEYS do
  out[#out + 1] = confirm(KEYS[1], KEYS[i], KEYS[2], ARGV[i - 1], ARGV[1])
end
return out
`)

// existsEachScript answers EXISTS of each key, in order.
//
//	KEYS the keys
var existsEachScript = newScript(`
local out = {}
for i = 1, #KEYS do out[i] = redis.call('EXISTS', KEYS[i]) end
return out
`)

// releaseScript consumes saga ARGV[1]'s held reservation without a sale.
//
//	KEYS[1] level, KEYS[2] the saga's record, KEYS[3] deadlines
//	ARGV[1] saga, ARGV[2] retention ms
var releaseScript = newScript(`
local rec = redis.call('HMGET', KEYS[2], 'qty', 'state')
if not rec[1] or rec[2] == 'REJECTED' then return {NO_RESERVATION, 0} end
if rec[2] == 'RELEASED' then return {RELEASED, 0} end
if rec[2] == 'CONFIRMED' then return {CONFIRMED, 0} end
local qty = tonumber(rec[1])
local lvl = redis.call('HMGET', KEYS[1], 'stock', 'reserved')
if not lvl[1] or tonumber(lvl[2]) < qty then return {CORRUPT_LEVEL, 0} end
redis.call('HINCRBY', KEYS[1], 'reserved', '-' .. rec[1])
redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[2], 'state', 'RELEASED')
redis.call('PEXPIRE', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[1])
return {OK, 0}
`)

// addStockScript adds ARGV[1] units, creating the level at ARGV[1].
//
//	KEYS[1] level, KEYS[2] this call's operation marker
//	ARGV[1] delta, ARGV[2] MaxStock, ARGV[3] marker lifetime ms
//
// The marker makes a transport-level retry of the same call a no-op: the
// port says AddStock is not idempotent, but go-redis may resend a command
// whose reply was lost, and that must not supply the stock twice.
var addStockScript = newScript(`
if redis.call('EXISTS', KEYS[2]) == 1 then return {OK, 0} end
local stock = redis.call('HGET', KEYS[1], 'stock')
if not stock then
  redis.call('HSET', KEYS[1], 'stock', ARGV[1], 'reserved', 0, 'version', 1)
elseif tonumber(ARGV[1]) > 0 then
  if tonumber(stock) + tonumber(ARGV[1]) > tonumber(ARGV[2]) then return {OVERFLOW, tonumber(stock)} end
  redis.call('HINCRBY', KEYS[1], 'stock', ARGV[1])
  redis.call('HINCRBY', KEYS[1], 'version', 1)
end
redis.call('SET', KEYS[2], '1', 'PX', ARGV[3])
return {OK, 0}
`)

// setStockScript overwrites the stock with ARGV[1], creating the level.
//
//	KEYS[1] level
//	ARGV[1] stock
var setStockScript = newScript(`
local lvl = redis.call('HMGET', KEYS[1], 'stock', 'reserved')
if not lvl[1] then
  redis.call('HSET', KEYS[1], 'stock', ARGV[1], 'reserved', 0, 'version', 1)
  return {OK, 0}
end
local reserved = tonumber(lvl[2])
if tonumber(ARGV[1]) < reserved then return {BELOW_RESERVED, reserved} end
if tonumber(lvl[1]) ~= tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'stock', ARGV[1])
  redis.call('HINCRBY', KEYS[1], 'version', 1)
end
return {OK, 0}
`)

// unlockScript deletes the lock KEYS[1] only if token ARGV[1] holds it, so
// a holder paused past its ttl cannot free the next holder's lock.
var unlockScript = newScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return {OK, 0}
end
return {LOCK_LOST, 0}
`)

// extendScript sets the lock KEYS[1] to expire ARGV[2] ms from now only if
// token ARGV[1] holds it.
var extendScript = newScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {OK, 0}
end
return {LOCK_LOST, 0}
`)
