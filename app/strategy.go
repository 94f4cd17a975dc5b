package app

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// Strategy names how concurrent buyers of one product are kept apart: a
// lock strategy. Each is declared in a file of its own that registers it
// (RegisterStrategy); the app, the CLI's help and `flashsale strategies`,
// the simulator and the bench list them from the registry.
type Strategy string

// StrategyNone is the default and the safe choice (strategy_none.go).
const StrategyNone Strategy = "none"

// A Guard is what a strategy holds across a purchase: Enter runs before
// the saga's first step, and the exit it returns after its last, whatever
// happened. A guard that holds nothing returns a no-op exit.
type Guard interface {
	Enter(ctx context.Context, product domain.ProductID) (exit func(), err error)
}

// A Reserver is a strategy's reservation step: it takes r's units at the
// inventory, or answers why not (domain.ErrInsufficientStock,
// domain.ErrContention, domain.ErrUnavailable...).
type Reserver interface {
	Reserve(ctx context.Context, r domain.Reservation) error
}

// StrategyPorts is what a strategy builds on.
type StrategyPorts struct {
	Inventory ports.Inventory
	Locker    ports.Locker // nil when the app has none
	IDs       ports.IDs
	Logger    *slog.Logger
	Config    Config
	// VirtualTime: set no real-time deadlines (Hooks.VirtualTime).
	VirtualTime bool
}

// A StrategyDef declares a lock strategy.
type StrategyDef struct {
	Name Strategy
	// Doc is one line for help texts and `flashsale strategies`.
	Doc string
	// New builds the strategy's guard and reserver for one app, or says
	// why the ports cannot carry it.
	New func(StrategyPorts) (Guard, Reserver, error)
}

var registry = struct {
	mu   sync.RWMutex
	defs map[Strategy]StrategyDef
}{defs: map[Strategy]StrategyDef{}}

// RegisterStrategy adds a strategy, from an init function of the file
// that declares it. It panics on a name that is empty, not lower-case
// letters, or taken, and on a missing constructor: those are programming
// errors.
func RegisterStrategy(def StrategyDef) {
	if def.Name == "" || strings.Trim(string(def.Name), "abcdefghijklmnopqrstuvwxyz") != "" {
		panic(fmt.Sprintf("app: strategy name %q: want lower-case letters", def.Name))
	}
	if def.New == nil || def.Doc == "" {
		panic(fmt.Sprintf("app: strategy %q needs New and Doc", def.Name))
	}
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if _, taken := registry.defs[def.Name]; taken {
		panic(fmt.Sprintf("app: strategy %q registered twice", def.Name))
	}
	registry.defs[def.Name] = def
}

// StrategyDefs returns the registered strategies: the default first, then
// by name.
func StrategyDefs() []StrategyDef {
	registry.mu.RLock()
	defer registry.mu.RUnlock()
	defs := make([]StrategyDef, 0, len(registry.defs))
	for _, d := range registry.defs {
		defs = append(defs, d)
	}
	slices.SortFunc(defs, func(a, b StrategyDef) int {
		if (a.Name == StrategyNone) != (b.Name == StrategyNone) {
			if a.Name == StrategyNone {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Name, b.Name)
	})
	return defs
}

// Strategies returns the registered strategies' names, in StrategyDefs'
// order.
func Strategies() []Strategy {
	defs := StrategyDefs()
	names := make([]Strategy, len(defs))
	for i, d := range defs {
		names[i] = d.Name
	}
	return names
}

// ParseStrategy validates a strategy name.
func ParseStrategy(s string) (Strategy, error) {
	if _, err := strategyDef(Strategy(s)); err != nil {
		return "", err
	}
	return Strategy(s), nil
}

// strategyDef returns the registered strategy s.
func strategyDef(s Strategy) (StrategyDef, error) {
	registry.mu.RLock()
	def, ok := registry.defs[s]
	registry.mu.RUnlock()
	if !ok {
		return StrategyDef{}, fmt.Errorf("unknown lock strategy %q (want one of %s)", s, strategyList())
	}
	return def, nil
}

func strategyList() string {
	names := Strategies()
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = string(n)
	}
	return strings.Join(parts, ", ")
}

func newStrategy(s Strategy, p StrategyPorts) (Guard, Reserver, error) {
	def, err := strategyDef(s)
	if err != nil {
		return nil, nil, err
	}
	g, r, err := def.New(p)
	if err != nil {
		return nil, nil, fmt.Errorf("strategy %s: %w", s, err)
	}
	return g, r, nil
}

// noGuard holds nothing across a purchase.
type noGuard struct{}

func (noGuard) Enter(context.Context, domain.ProductID) (func(), error) { return func() {}, nil }

// NoGuard is the guard of a strategy that holds nothing across a purchase.
func NoGuard() Guard { return noGuard{} }

// inventoryReserver reserves with the inventory's atomic reserve alone.
type inventoryReserver struct{ inv ports.Inventory }

func (r inventoryReserver) Reserve(ctx context.Context, res domain.Reservation) error {
	return r.inv.Reserve(ctx, res)
}

// AtomicReserver is the reserver that relies on the inventory's atomic
// reserve alone (strategies none and lock).
func AtomicReserver(inv ports.Inventory) Reserver { return inventoryReserver{inv: inv} }

// A FreshReserver is a Reserver that can also tell a reservation it took
// from one it replayed (ports.FreshReserver): with it a keyed purchase
// asks the gate nothing before it reserves. A strategy whose reserve must
// not be replaced by the inventory's (the optimistic reserve by version)
// or that must learn a request is a retry before its guard (the lock
// strategy: a retry of a finished purchase must not be answered
// lock_busy) does not offer it.
type FreshReserver interface {
	Reserver
	ReserveFresh(ctx context.Context, r domain.Reservation) (bool, error)
}

// freshReserver is the atomic reserver of an inventory that tells fresh
// reservations from replays.
type freshReserver struct {
	inventoryReserver
	fr ports.FreshReserver
}

func (r freshReserver) ReserveFresh(ctx context.Context, res domain.Reservation) (bool, error) {
	return r.fr.ReserveFresh(ctx, res)
}

// FreshAtomicReserver is AtomicReserver that is also a FreshReserver
// when the inventory can tell (ports.FreshReserver).
func FreshAtomicReserver(inv ports.Inventory) Reserver {
	if fr, ok := inv.(ports.FreshReserver); ok {
		return freshReserver{inventoryReserver{inv: inv}, fr}
	}
	return AtomicReserver(inv)
}
