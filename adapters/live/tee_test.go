package live_test

import (
	"errors"
	"testing"
	"time"

	"github.com/flashsale/flashsale/adapters/live"
	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/ports"
)

// Every call reaches every recorder the tee was given, nils left out.
func TestTeeFeedsEach(t *testing.T) {
	a, _ := newRecorder(t)
	b, _ := newRecorder(t)
	m := live.Tee(a, nil, b)
	m.PurchaseEnded("none", "completed", time.Millisecond)
	m.StepDone("create_order", time.Millisecond, nil)
	m.StepDone("charge", time.Millisecond, errors.New("declined"))
	m.Add(ports.CounterSagasRecovered, 2)
	m.OutboxLag(time.Second)
	m.Compensated("s-1", "p-1", app.ReasonPaymentDeclined)
	for name, r := range map[string]*live.Recorder{"first": a, "second": b} {
		s := r.Snapshot()
		want := ports.SagaTotals{Started: 1, Completed: 1, Compensated: 1, Recovered: 2}
		if s.Sagas != want {
			t.Errorf("%s recorder: saga totals %+v, want %+v", name, s.Sagas, want)
		}
		if len(s.Steps) != 2 || s.Steps[1].Errors != 1 {
			t.Errorf("%s recorder: steps %+v, want create_order and a failed charge", name, s.Steps)
		}
		if len(s.Compensations) != 1 {
			t.Errorf("%s recorder: compensations %+v, want one", name, s.Compensations)
		}
	}
}

func TestTeeOfOneIsThatOne(t *testing.T) {
	a, _ := newRecorder(t)
	if m := live.Tee(nil, a, nil); m != ports.Metrics(a) {
		t.Errorf("Tee(nil, r, nil) = %T, want r itself", m)
	}
	// With none, a tee records nothing and does not fail.
	m := live.Tee()
	m.PurchaseEnded("none", "completed", 0)
	m.Compensated("s-1", "p-1", app.ReasonPaymentDeclined)
}
