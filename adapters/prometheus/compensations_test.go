package prometheus_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/flashsale/flashsale/adapters/prometheus"
	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
)

func exported(t *testing.T, m *prometheus.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String()
}

// Compensations are counted by reason.
func TestCompensationsByReason(t *testing.T) {
	m := prometheus.New()
	m.Compensated("s-1", "p-1", app.ReasonPaymentDeclined)
	m.Compensated("s-2", "p-1", app.ReasonPaymentDeclined)
	m.Compensated("s-3", "p-2", app.ReasonLeaseExpired)
	body := exported(t, m)
	for _, want := range []string{
		`flashsale_compensations_total{reason="payment_declined"} 2`,
		`flashsale_compensations_total{reason="lease_expired"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// Reasons are read back from stored sagas, so they are not trusted to be
// few: past a few dozen they share one series.
func TestCompensationReasonsAreBounded(t *testing.T) {
	m := prometheus.New()
	const n = 200
	for i := range n {
		m.Compensated(domain.SagaID(fmt.Sprintf("s-%d", i)), "p-1", fmt.Sprintf("reason-%d", i))
	}
	body := exported(t, m)
	series := strings.Count(body, "flashsale_compensations_total{")
	if series >= n/2 {
		t.Errorf("%d series for %d reasons, want a bounded number", series, n)
	}
	if !strings.Contains(body, `flashsale_compensations_total{reason="other"}`) {
		t.Error("the reasons beyond the bound are not counted as other")
	}
}
