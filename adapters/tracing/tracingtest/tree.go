// Package tracingtest helps tests assert the spans a trace recorded (with
// the OpenTelemetry SDK's in-memory exporter, tracetest).
package tracingtest

import (
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// Tree is the spans one test recorded.
type Tree struct {
	T     testing.TB
	Spans tracetest.SpanStubs
}

// One returns the one span named name, failing the test if there is not
// exactly one.
func (s Tree) One(name string) tracetest.SpanStub {
	s.T.Helper()
	var found []tracetest.SpanStub
	for _, sp := range s.Spans {
		if sp.Name == name {
			found = append(found, sp)
		}
	}
	if len(found) != 1 {
		s.T.Fatalf("%d spans named %q, want 1; spans: %v", len(found), name, s.Names())
	}
	return found[0]
}

// Names lists the spans' names, in the order they ended.
func (s Tree) Names() []string {
	var names []string
	for _, sp := range s.Spans {
		names = append(names, sp.Name)
	}
	return names
}

// ChildOf returns the one span named name, and fails the test (without
// stopping it) unless its parent is parent, in parent's trace.
func (s Tree) ChildOf(name string, parent tracetest.SpanStub) tracetest.SpanStub {
	s.T.Helper()
	sp := s.One(name)
	if sp.Parent.SpanID() != parent.SpanContext.SpanID() || sp.SpanContext.TraceID() != parent.SpanContext.TraceID() {
		s.T.Errorf("span %q: parent %s in trace %s, want %q (%s in trace %s)", name, sp.Parent.SpanID(), sp.SpanContext.TraceID(),
			parent.Name, parent.SpanContext.SpanID(), parent.SpanContext.TraceID())
	}
	return sp
}

// HasSpan reports whether a span with this ID is among the spans.
func (s Tree) HasSpan(id [8]byte) bool {
	for _, sp := range s.Spans {
		if sp.SpanContext.SpanID() == id {
			return true
		}
	}
	return false
}
