package httpapi_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/flashsale/flashsale/adapters/httpapi"
	"github.com/flashsale/flashsale/domain"
)

// fixedTimeline is an event consumer that has seen some sagas.
type fixedTimeline map[domain.SagaID][]domain.Event

func (f fixedTimeline) Timeline(id domain.SagaID) []domain.Event { return f[id] }

// Source: it stands for the Kafka consumer (the API's sources are kafka
// and store).
func (f fixedTimeline) Source() string { return "kafka" }

func TestSagaEvents(t *testing.T) {
	_, router := loadOpenAPI(t)
	f := newFixture(t, fixtureOpts{})
	var bought struct{ SagaID domain.SagaID }
	rec := f.purchase(`{"productId":"p1","qty":1}`, "")
	if err := json.Unmarshal(rec.Body.Bytes(), &bought); err != nil || rec.Code != http.StatusCreated {
		t.Fatalf("purchase: %d %s", rec.Code, rec.Body)
	}

	get := func(f *fixture, id string) (*struct {
		Source string
		Events []domain.Event
	}, int) {
		r := request{method: http.MethodGet, path: "/sagas/" + id + "/events"}
		rec := f.serve(r)
		validate(t, router, r, rec)
		var out struct {
			Source string
			Events []domain.Event
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &out)
		return &out, rec.Code
	}
	out, code := get(f, string(bought.SagaID))
	if code != http.StatusOK || out.Source != "store" || len(out.Events) != 5 || out.Events[4].Type != domain.EventOrderConfirmed {
		t.Fatalf("store timeline: %d %+v", code, out)
	}
	if _, code := get(f, "unknown"); code != http.StatusNotFound {
		t.Fatalf("unknown saga: %d", code)
	}
	if _, code := get(f, "a%20b"); code != http.StatusBadRequest {
		t.Fatalf("bad saga ID: %d", code)
	}

	consumer := fixedTimeline{"s-9": {{ID: "s-9-001", SagaID: "s-9", Seq: 1, Type: domain.EventSagaStarted, ProductID: "p1", Qty: 1}}}
	k := newFixture(t, fixtureOpts{http: &httpapi.Options{Timeline: consumer}})
	out, code = get(k, "s-9")
	if code != http.StatusOK || out.Source != "kafka" || len(out.Events) != 1 {
		t.Fatalf("the consumer's timeline: %d %+v", code, out)
	}
	if _, code := get(k, "s-unseen"); code != http.StatusNotFound {
		t.Fatalf("a saga the consumer has not seen: %d", code)
	}
}
