package live

import (
	"time"

	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// Tee returns a ports.Metrics that passes every call to each of ms, in
// order. Nil interface values are left out (a typed nil pointer is not
// nil: leave it out yourself); with one left, Tee returns it as it is.
func Tee(ms ...ports.Metrics) ports.Metrics {
	var t tee
	for _, m := range ms {
		if m != nil {
			t = append(t, m)
		}
	}
	if len(t) == 1 {
		return t[0]
	}
	return t
}

type tee []ports.Metrics

func (t tee) PurchaseEnded(strategy, outcome string, d time.Duration) {
	for _, m := range t {
		m.PurchaseEnded(strategy, outcome, d)
	}
}

func (t tee) StepDone(step string, d time.Duration, err error) {
	for _, m := range t {
		m.StepDone(step, d, err)
	}
}

func (t tee) Add(c ports.Counter, n int) {
	for _, m := range t {
		m.Add(c, n)
	}
}

func (t tee) OutboxLag(d time.Duration) {
	for _, m := range t {
		m.OutboxLag(d)
	}
}

func (t tee) Compensated(saga domain.SagaID, product domain.ProductID, reason string) {
	for _, m := range t {
		m.Compensated(saga, product, reason)
	}
}
