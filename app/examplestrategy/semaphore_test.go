package examplestrategy_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/memory"
	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/app/examplestrategy"
	"github.com/flashsale/flashsale/bench"
	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/sim"
)

// TestTheFourthStrategyIsListed: registered by its file alone, the
// strategy is one the app, the simulator and the bench know.
func TestTheFourthStrategyIsListed(t *testing.T) {
	want := []app.Strategy{app.StrategyNone, app.StrategyLock, app.StrategyOptimistic, examplestrategy.Semaphore}
	if got := app.Strategies(); !slices.Equal(got, want) {
		t.Fatalf("app.Strategies() = %v, want %v", got, want)
	}
	if _, err := app.ParseStrategy("semaphore"); err != nil {
		t.Fatal(err)
	}
	if all, err := sim.ParseStrategies("all"); err != nil || !slices.Contains(all, examplestrategy.Semaphore) {
		t.Fatalf("sim.ParseStrategies(all) = %v, %v", all, err)
	}
	if got, err := bench.ParseList("strategy", "semaphore", bench.Strategies()); err != nil || !slices.Equal(got, []string{"semaphore"}) {
		t.Fatalf("bench.ParseList(semaphore) = %v, %v", got, err)
	}
}

// TestTheSemaphoreAdmitsItsPermits: Permits purchases of a product at once,
// the next answered lock_busy at once, and a permit given back admits one.
func TestTheSemaphoreAdmitsItsPermits(t *testing.T) {
	var def app.StrategyDef
	for _, d := range app.StrategyDefs() {
		if d.Name == examplestrategy.Semaphore {
			def = d
		}
	}
	clock := memory.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	guard, _, err := def.New(app.StrategyPorts{Inventory: memory.NewInventory(clock)})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var exits []func()
	for range examplestrategy.Permits {
		exit, err := guard.Enter(ctx, "p")
		if err != nil {
			t.Fatal(err)
		}
		exits = append(exits, exit)
	}
	if _, err := guard.Enter(ctx, "p"); !errors.Is(err, domain.ErrLockBusy) {
		t.Fatalf("purchase %d: %v, want lock_busy", examplestrategy.Permits+1, err)
	}
	if exit, err := guard.Enter(ctx, "q"); err != nil {
		t.Fatalf("another product: %v", err)
	} else {
		exit()
	}
	exits[0]()
	if _, err := guard.Enter(ctx, "p"); err != nil {
		t.Fatalf("after a permit came back: %v", err)
	}
}

// TestTheSimulatorRunsTheFourthStrategy: every fault on, the invariants
// hold, and the semaphore turns some buyers away.
func TestTheSimulatorRunsTheFourthStrategy(t *testing.T) {
	faults := sim.Faults{Crash: true, Payment: true, RedisFailover: true, Events: true, MySQLFailover: true, LockPause: true}
	busy := 0
	for seed := range uint64(20) {
		r := sim.Run(sim.Options{Seed: seed, Buyers: 200, Products: 2, Stock: 40, Strategy: examplestrategy.Semaphore, Faults: faults}, false)
		if r.Violation != nil {
			t.Fatalf("seed %d: %s", seed, r.Violation)
		}
		busy += r.LockBusy
	}
	if busy == 0 {
		t.Fatal("no buyer was ever turned away: the semaphore never filled")
	}
}
