package app

import (
	"context"
	"slices"
	"testing"
)

// TestALostClaimIsNoFailedStep: recovery's claim is the compensation's
// first step (begin_compensation). A claim lost to the saga's own end, as
// when another instance or the saga's runner got there first, is measured
// as that step done, not failed, and recovers nothing.
func TestALostClaimIsNoFailedStep(t *testing.T) {
	f := newReceiptFixture(t, StrategyNone)
	r, err := f.buy(t)
	if err != nil {
		t.Fatalf("buy: %v", err)
	}
	f.steps.take()
	done, err := f.app.recoverOne(context.Background(), r.Saga.ID)
	if done || err != nil {
		t.Fatalf("recovering a COMPLETED saga = %v, %v; want false, nil", done, err)
	}
	if names := f.steps.take(stepBeginCompensation, stepFinishCompensation); !slices.Equal(names, []string{stepBeginCompensation}) {
		t.Fatalf("steps measured %v, want only %s", names, stepBeginCompensation)
	}
	if len(f.steps.failed) != 0 {
		t.Fatalf("steps measured as failed: %v", f.steps.failed)
	}
}
