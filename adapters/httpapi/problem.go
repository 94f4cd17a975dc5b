package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/flashsale/flashsale/app"
	"github.com/flashsale/flashsale/domain"
	"github.com/flashsale/flashsale/ports"
)

// Problem is the one error body of the API (RFC 9457,
// application/problem+json), extended with a stable machine-readable Code.
type Problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail,omitempty"`
	Code   string `json:"code"`
	// SagaID is set when the problem is the outcome of a saga.
	SagaID domain.SagaID `json:"sagaId,omitempty"`
	// Dependency names what did not answer, on a 503 unavailable that
	// knows it (ports.Dependency: inventory, store, payments, lock).
	Dependency ports.Dependency `json:"dependency,omitempty"`

	retryAfter int // seconds; 0 means no Retry-After header
}

// ProblemContentType is the media type of every error response.
const ProblemContentType = "application/problem+json"

func newProblem(status int, code, detail string) Problem {
	return Problem{Type: "urn:flashsale:problem:" + code, Title: http.StatusText(status), Status: status, Detail: detail, Code: code}
}

// requestError is an error found at the edge, before any use case ran.
type requestError struct{ p Problem }

func (e *requestError) Error() string { return e.p.Detail }

func badRequest(status int, code, detail string) error {
	return &requestError{p: newProblem(status, code, detail)}
}

// problemFor maps every error the use cases return to its problem. It is
// the only place errors become statuses.
func problemFor(err error) Problem {
	var re *requestError
	if errors.As(err, &re) {
		return re.p
	}
	var p Problem
	ce, compensated := errors.AsType[*app.CompensatedError](err)
	o := app.Classify(err)
	switch o {
	case app.OutcomeCompensated:
		// Final, not "retry": with an Idempotency-Key the same key always
		// answers from this compensated saga, so a retry must use a new one.
		p = newProblem(http.StatusConflict, "purchase_compensated",
			"the purchase could not complete ("+ce.Saga.Reason+"); it was undone: any charge was refunded and the stock released; send a new request")
	case app.OutcomeInvalid:
		detail := err.Error()
		if ve, ok := errors.AsType[*domain.ValidationError](err); ok {
			detail = ve.Error()
		}
		p = newProblem(http.StatusBadRequest, "invalid_request", detail)
	case app.OutcomeProductNotFound:
		p = newProblem(http.StatusNotFound, "product_not_found", "no product has this ID")
	case app.OutcomeSagaNotFound:
		p = newProblem(http.StatusNotFound, "saga_not_found", "no saga has this ID (or no event of it was consumed yet)")
	case app.OutcomeOrderNotFound:
		p = newProblem(http.StatusNotFound, "order_not_found", "no order has this ID")
	case app.OutcomeLockBusy:
		p = newProblem(http.StatusConflict, "lock_busy", "the product is being processed by another purchase; retry")
	case app.OutcomeContention:
		p = newProblem(http.StatusConflict, "contention", "too many concurrent purchases of this product; retry")
	case app.OutcomeInsufficientStock:
		p = newProblem(http.StatusConflict, "insufficient_stock", "not enough stock left for this quantity")
	case app.OutcomeInProgress:
		p = newProblem(http.StatusConflict, "request_in_progress", "a request with this Idempotency-Key is still being processed; retry")
	case app.OutcomeKeyReused:
		p = newProblem(http.StatusUnprocessableEntity, "idempotency_key_reused", "this Idempotency-Key was used with a different request")
	case app.OutcomeAbandoned:
		p = newProblem(http.StatusConflict, "purchase_abandoned", "the purchase for this Idempotency-Key was abandoned and its stock released; send a new key")
	case app.OutcomePaymentDeclined:
		p = newProblem(http.StatusPaymentRequired, "payment_declined", "the payment was declined; nothing was charged and the stock was released")
	case app.OutcomeSaturated:
		p = newProblem(http.StatusServiceUnavailable, "product_saturated", "this instance admits no more purchases of this product right now (as many in flight as it admits, or its in-memory store full); nothing was done; retry")
	case app.OutcomeUnavailable:
		p = newProblem(http.StatusServiceUnavailable, "unavailable", "a dependency is unavailable; retry")
		if dep, ok := ports.UnavailableDependency(err); ok {
			p.Detail, p.Dependency = "the "+string(dep)+" is unavailable; retry", dep
		}
	default: // completed is no problem; crashed and errors are this service's
		p = newProblem(http.StatusInternalServerError, "internal", "internal error")
	}
	if o.Retry() {
		p.retryAfter = 1
	}
	if compensated {
		p.SagaID = ce.Saga.ID
	}
	return p
}

// writeProblem sends err as a problem. Server-side failures are logged.
func writeProblem(c *gin.Context, log *slog.Logger, err error) {
	p := problemFor(err)
	if p.Status >= 500 {
		log.ErrorContext(c.Request.Context(), "request failed", "method", c.Request.Method, "path", c.FullPath(), "status", p.Status, "err", err)
	}
	sendProblem(c, p)
}

func sendProblem(c *gin.Context, p Problem) {
	if p.retryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(p.retryAfter))
	}
	body, _ := json.Marshal(p) // a Problem always marshals
	c.Data(p.Status, ProblemContentType, body)
	c.Abort()
}
