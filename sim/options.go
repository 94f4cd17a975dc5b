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
var FaultNames = []string{"crash", "payment", "redis-failover", "events", "mysql-failover", "lock-pause"}

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
			return Faults{}, fmt.Errorf("unknown fault %q (want %s, all or none)", name, strings.Join(FaultNames, ", "))
		}
	}
	return f, nil
}

func (f Faults) String() string {
	var on []string
	for i, v := range []bool{f.Crash, f.Payment, f.RedisFailover, f.Events, f.MySQLFailover, f.LockPause} {
		if v {
			on = append(on, FaultNames[i])
		}
	}
	if len(on) == 0 {
		return "none"
	}
	return strings.Join(on, ",")
}

// Bugs are the planted bugs. Each one breaks a guarantee the production
// code keeps, the way a plausible mistake would.
type Bugs struct {
	// ReserveWithoutCheck reserves even when stock - reserved < qty.
	ReserveWithoutCheck bool
	// ReleaseWithoutToken releases a lock whoever holds it (the seed's DEL).
	ReleaseWithoutToken bool
	// DoubleRelease applies a reservation's release twice.
	DoubleRelease bool
}

// BugNames lists the planted bugs by name.
var BugNames = []string{"reserve-without-check", "release-without-token", "double-release"}

// ParseBug returns the Bugs with the one named bug on.
func ParseBug(name string) (Bugs, error) {
	switch name {
	case "reserve-without-check":
		return Bugs{ReserveWithoutCheck: true}, nil
	case "release-without-token":
		return Bugs{ReleaseWithoutToken: true}, nil
	case "double-release":
		return Bugs{DoubleRelease: true}, nil
	}
	return Bugs{}, fmt.Errorf("unknown bug %q (want %s)", name, strings.Join(BugNames, ", "))
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

// ParseStrategies reads "none", "lock", "optimistic" or "all".
func ParseStrategies(s string) ([]app.Strategy, error) {
	if s == "all" {
		return slices.Clone(app.Strategies), nil
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
