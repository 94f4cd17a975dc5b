package sim

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/flashsale/flashsale/app"
)

// Options describe one simulated run.
type Options struct {
	Seed      uint64
	Buyers    int   // purchases that arrive during the run
	Products  int   // products on sale
	Stock     int64 // initial stock of each product
	Instances int   // app instances sharing the adapters
	Strategy  app.Strategy
	Faults    Faults
	// Bugs plants known bugs, for tests that prove the simulator catches
	// them. Production code knows nothing of them.
	Bugs Bugs
	// Chooser makes every choice; nil means a PCG source seeded with Seed.
	Chooser Chooser
	// Progress, if set, is told every 1,024 steps how many buyers have
	// arrived, for a progress line on long runs.
	Progress func(arrived int)
}

func (o Options) withDefaults() Options {
	if o.Buyers <= 0 {
		o.Buyers = 50
	}
	if o.Products <= 0 {
		o.Products = 3
	}
	if o.Stock <= 0 {
		o.Stock = 10
	}
	if o.Instances <= 0 {
		o.Instances = 3
	}
	if o.Strategy == "" {
		o.Strategy = app.StrategyNone
	}
	return o
}

// Faults switch the injected faults on.
type Faults struct {
	// Crash kills an app instance at any step; its sagas are recovered by
	// another (or by its restarted self).
	Crash bool
	// Payment makes the gateway decline and time out (with and without
	// having taken the money).
	Payment bool
	// RedisFailover fails the inventory and lock store over to a replica
	// that lost the last unreplicated writes (a lock, a reservation...).
	RedisFailover bool
	// Events duplicates and reorders event deliveries.
	Events bool
	// MySQLFailover makes the durable store unavailable for a while, and
	// some writes ambiguous (applied, but the answer lost).
	MySQLFailover bool
	// LockPause pauses a lock holder past the lock's TTL.
	LockPause bool
}

// FaultNames lists the fault names ParseFaults accepts.
func FaultNames() []string {
	return []string{"crash", "payment", "redis-failover", "events", "mysql-failover", "lock-pause"}
}

// ParseFaults reads a comma-separated list of FaultNames, "all" or "none".
func ParseFaults(s string) (Faults, error) {
	var f Faults
	for _, name := range strings.Split(s, ",") {
		switch strings.TrimSpace(name) {
		case "", "none":
		case "all":
			f = Faults{true, true, true, true, true, true}
		case "crash":
			f.Crash = true
		case "payment":
			f.Payment = true
		case "redis-failover":
			f.RedisFailover = true
		case "events":
			f.Events = true
		case "mysql-failover":
			f.MySQLFailover = true
		case "lock-pause":
			f.LockPause = true
		default:
			return Faults{}, fmt.Errorf("unknown fault %q (want %s, all or none)", name, strings.Join(FaultNames(), ", "))
		}
	}
	return f, nil
}

func (f Faults) String() string {
	var on []string
	for i, v := range []bool{f.Crash, f.Payment, f.RedisFailover, f.Events, f.MySQLFailover, f.LockPause} {
		if v {
			on = append(on, FaultNames()[i])
		}
	}
	if len(on) == 0 {
		return "none"
	}
	return strings.Join(on, ",")
}

// Bugs are the planted bugs. Each one breaks a guarantee the production
// code keeps, the way a plausible mistake would, and the simulator must
// catch it as the invariant it breaks (PlantedBugs). They live in the
// simulator's adapters: production code knows nothing of them.
type Bugs struct {
	// NoStockGuard confirms a sale durably even when the stock cannot
	// cover it (a confirm without its "stock >= qty" guard).
	NoStockGuard bool
	// ReserveWithoutCheck reserves even when stock - reserved < qty.
	ReserveWithoutCheck bool
	// DoubleRelease applies a reservation's release twice.
	DoubleRelease bool
	// StaleSkipsCompensating leaves sagas that are COMPENSATING out of the
	// stale sagas recovery is given (a query on status = RUNNING only).
	StaleSkipsCompensating bool
	// SkipRefund answers a refund "nothing was charged" without asking the
	// gateway.
	SkipRefund bool
	// DuplicateSaga stores a saga whose ID exists over the stored one (an
	// upsert where an insert was meant), so one key can start two sagas.
	DuplicateSaga bool
	// LoseEvent publishes a batch of several events without its last one
	// and reports success.
	LoseEvent bool
	// SwallowWriteError answers a group write that failed as if it had
	// been stored, so a sale is acknowledged that was never committed.
	SwallowWriteError bool
	// ReleaseWithoutToken releases a lock whoever holds it (the seed's DEL).
	ReleaseWithoutToken bool
	// NoVersionCheck writes sagas without their version check: a writer
	// that read an older version overwrites a newer one (a lost update).
	NoVersionCheck bool
	// StaleUpdateRead makes a saga update read a lagging replica: a saga
	// just COMPENSATED is handed to the change as COMPENSATING.
	StaleUpdateRead bool
	// CancelBeforeRefund cancels the order before asking for the refund.
	CancelBeforeRefund bool
	// ReleaseBeforeRefund gives the reservation back as the refund is
	// asked, before the order is cancelled: compensations out of order.
	ReleaseBeforeRefund bool
}

// PlantedBug names a planted bug and the invariants that catch it.
type PlantedBug struct {
	Name string
	// Breaks lists the invariants (I1 ... I8, or "compensation-order") the
	// bug may be caught as; the first is the one it is planted for. A lost
	// update breaks whichever write it loses: a refund over a sale (I4),
	// or the sale itself (I7).
	Breaks []string
	set    func(*Bugs)
}

var plantedBugs = []PlantedBug{
	{"no-stock-guard", []string{"I1"}, func(b *Bugs) { b.NoStockGuard = true }},
	{"reserve-without-check", []string{"I2"}, func(b *Bugs) { b.ReserveWithoutCheck = true }},
	{"double-release", []string{"I2"}, func(b *Bugs) { b.DoubleRelease = true }},
	{"stale-skips-compensating", []string{"I3"}, func(b *Bugs) { b.StaleSkipsCompensating = true }},
	{"skip-refund", []string{"I4"}, func(b *Bugs) { b.SkipRefund = true }},
	{"no-version-check", []string{"I4", "I7"}, func(b *Bugs) { b.NoVersionCheck = true }},
	{"stale-update-read", []string{"I4"}, func(b *Bugs) { b.StaleUpdateRead = true }},
	// An upsert also lets the reaper's abort record (written because it
	// found no saga) land over the saga created just after, erasing its
	// charge: a refund never made (I4).
	{"duplicate-saga", []string{"I5", "I4"}, func(b *Bugs) { b.DuplicateSaga = true }},
	{"lose-event", []string{"I6"}, func(b *Bugs) { b.LoseEvent = true }},
	{"swallow-write-error", []string{"I7"}, func(b *Bugs) { b.SwallowWriteError = true }},
	{"release-without-token", []string{"I8"}, func(b *Bugs) { b.ReleaseWithoutToken = true }},
	{"release-before-refund", []string{"compensation-order"}, func(b *Bugs) { b.ReleaseBeforeRefund = true }},
	{"cancel-before-refund", []string{"compensation-order"}, func(b *Bugs) { b.CancelBeforeRefund = true }},
}

// PlantedBugs lists every planted bug with the invariant it breaks.
func PlantedBugs() []PlantedBug { return slices.Clone(plantedBugs) }

// ParseBug returns the Bugs with the one named bug on.
func ParseBug(name string) (Bugs, error) {
	for _, b := range plantedBugs {
		if b.Name == name {
			var bugs Bugs
			b.set(&bugs)
			return bugs, nil
		}
	}
	names := make([]string, len(plantedBugs))
	for i, b := range plantedBugs {
		names[i] = b.Name
	}
	return Bugs{}, fmt.Errorf("unknown bug %q (want %s)", name, strings.Join(names, ", "))
}

// Chooser makes the run's choices. Intn returns a number in [0, n); label
// names the choice (rapid shows it when a run shrinks).
type Chooser interface {
	Intn(n int, label string) int
}

type seeded struct{ r *rand.Rand }

// NewSeeded returns the Chooser a seed stands for.
func NewSeeded(seed uint64) Chooser {
	return seeded{rand.New(rand.NewPCG(seed, 0x5eed5eed5eed5eed))}
}

func (s seeded) Intn(n int, _ string) int { return s.r.IntN(n) }

// ParseStrategies reads a comma-separated list of registered strategies
// (app.Strategies), or "all".
func ParseStrategies(s string) ([]app.Strategy, error) {
	if s == "all" {
		return app.Strategies(), nil
	}
	var out []app.Strategy
	for _, name := range strings.Split(s, ",") {
		st, err := app.ParseStrategy(strings.TrimSpace(name))
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	if len(out) == 0 {
		return nil, errors.New("no strategy given")
	}
	return out, nil
}
