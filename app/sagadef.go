package app

import (
	"slices"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// The purchase saga, declared once. Its steps' names (the step metric's
// label and the span saga.<name>), the dependency each calls (named in a
// 503 when it does not answer), the crash points inside and after each,
// and each step's compensation come from here: CrashPoints and the
// dependency of a step are derived from it, and a test holds the runner
// (purchase.go) and ARCHITECTURE.md's step table to it.
//
// The runner is still written out step by step; a generic engine that runs
// this declaration is the next step (ARCHITECTURE.md, "The purchase saga").

// SagaStep is one forward step of the purchase saga.
type SagaStep struct {
	Name       domain.Step
	Dependency ports.Dependency
	// CrashInside is a crash point within the step (a group write that
	// dies with every member), CrashAfter the one once it is done; "" for
	// none.
	CrashInside, CrashAfter CrashPoint
	// Compensation undoes the step; nil for the point of no return.
	Compensation *SagaCompensation
}

// SagaCompensation is a step's compensation. Compensations run in the
// reverse order of their steps.
type SagaCompensation struct {
	Name       string
	Dependency ports.Dependency
	CrashAfter CrashPoint
}

// The compensations' names.
const (
	compRelease     = "release"
	compCancelOrder = "cancel_order"
	compRefund      = "refund"
)

// The runner's bookkeeping around the steps, measured like them: the
// group writes that carry the create and confirm steps, the gate's settle
// after the point of no return, and the writes that begin and finish a
// compensation.
const (
	stepCreateGroup        = "create_group"
	stepConfirmGroup       = "confirm_group"
	stepSettleGate         = "settle_gate"
	stepBeginCompensation  = "begin_compensation"
	stepFinishCompensation = "finish_compensation"
)

var purchaseSaga = []SagaStep{
	{Name: domain.StepReserve, Dependency: ports.DependencyInventory, CrashAfter: CrashAfterReserve,
		Compensation: &SagaCompensation{Name: compRelease, Dependency: ports.DependencyInventory, CrashAfter: CrashCompensateReleased}},
	{Name: domain.StepCreateOrder, Dependency: ports.DependencyStore, CrashAfter: CrashAfterCreateOrder,
		// The cancel is one write with the refund's record, so the crash
		// point after it is named for the refund.
		Compensation: &SagaCompensation{Name: compCancelOrder, Dependency: ports.DependencyStore, CrashAfter: CrashCompensateRefunded}},
	{Name: domain.StepCharge, Dependency: ports.DependencyPayments, CrashAfter: CrashAfterCharge,
		Compensation: &SagaCompensation{Name: compRefund, Dependency: ports.DependencyPayments}},
	{Name: domain.StepConfirm, Dependency: ports.DependencyStore, CrashInside: CrashInConfirmGroup, CrashAfter: CrashAfterConfirm},
}

var bookkeeping = map[string]ports.Dependency{
	stepCreateGroup: ports.DependencyStore, stepConfirmGroup: ports.DependencyStore,
	stepSettleGate: ports.DependencyInventory, stepBeginCompensation: ports.DependencyStore,
	stepFinishCompensation: ports.DependencyStore,
}

// SagaSteps returns the purchase saga's declaration, in order.
func SagaSteps() []SagaStep { return slices.Clone(purchaseSaga) }

// crashPointsOf lists a declaration's crash points in the order a saga
// passes them: each step's inside and after, then the compensation's
// begin and each compensation's, in reverse step order.
func crashPointsOf(steps []SagaStep) []CrashPoint {
	var out []CrashPoint
	add := func(p CrashPoint) {
		if p != "" {
			out = append(out, p)
		}
	}
	for _, s := range steps {
		add(s.CrashInside)
		add(s.CrashAfter)
	}
	add(CrashCompensateBegun)
	for _, s := range slices.Backward(steps) {
		if s.Compensation != nil {
			add(s.Compensation.CrashAfter)
		}
	}
	return out
}

// dependencies maps every name the runner measures to the dependency it
// calls.
var dependencies = func() map[string]ports.Dependency {
	m := make(map[string]ports.Dependency, 2*len(purchaseSaga)+len(bookkeeping))
	for _, s := range purchaseSaga {
		m[string(s.Name)] = s.Dependency
		if s.Compensation != nil {
			m[s.Compensation.Name] = s.Compensation.Dependency
		}
	}
	for name, dep := range bookkeeping {
		m[name] = dep
	}
	return m
}()

// dependencyOf is the dependency a saga step or compensation calls.
func dependencyOf(step string) ports.Dependency { return dependencies[step] }
