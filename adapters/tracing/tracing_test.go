package tracing_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/flashsale/flashsale/adapters/tracing"
)

// TestWithinTracesStartsSpansOnlyInsideASampledTrace: under a sampled
// span a child is recorded; with no span, or under one the sampler left
// out, nothing is, and the context is handed back as it was.
func TestWithinTracesStartsSpansOnlyInsideASampledTrace(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	sampled := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	never := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(sdktrace.NeverSample()))
	within := tracing.WithinTraces(sampled).Tracer("test")

	ctx := context.Background()
	if got, span := within.Start(ctx, "orphan"); got != ctx || span.IsRecording() {
		t.Errorf("outside a trace: a new context or a recording span")
	}
	unsampledCtx, unsampled := never.Tracer("test").Start(ctx, "left out")
	if got, span := within.Start(unsampledCtx, "child"); got != unsampledCtx || span.IsRecording() {
		t.Errorf("under an unsampled span: a new context or a recording span")
	}
	unsampled.End()
	parentCtx, parent := sampled.Tracer("test").Start(ctx, "parent")
	_, child := within.Start(parentCtx, "child")
	child.End()
	parent.End()

	spans := exp.GetSpans()
	if len(spans) != 2 || spans[0].Name != "child" || spans[0].Parent.SpanID() != parent.SpanContext().SpanID() {
		t.Fatalf("spans %v, want the child under its parent, then the parent", spans)
	}
}

// TestConfigRefusesWhatCannotWork: each exporter's required setting, and
// the sampling ratio's range.
func TestConfigRefusesWhatCannotWork(t *testing.T) {
	for _, c := range []tracing.Config{
		{Exporter: "jaeger"},
		{Exporter: tracing.ExporterOTLP},
		{Exporter: tracing.ExporterFile},
		{Exporter: tracing.ExporterFile, File: "x", SampleRatio: 1.5},
		{Exporter: tracing.ExporterOTLP, Endpoint: "127.0.0.1:4318", SampleRatio: -0.1},
	} {
		if err := c.Validate(); err == nil {
			t.Errorf("%+v: accepted", c)
		}
		if _, err := tracing.New(context.Background(), c, "svc", ""); err == nil {
			t.Errorf("%+v: New accepted it", c)
		}
	}
	for _, c := range []tracing.Config{{}, {Exporter: tracing.ExporterNone}, {Exporter: tracing.ExporterFile, File: "x", SampleRatio: 1}} {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

// TestTheFileExporterWritesTheSpansOfATrace: with the file exporter, a
// sampled span reaches the file, as one JSON line, by Shutdown; with
// tracing off, the provider is the API's no-op one.
func TestTheFileExporterWritesTheSpansOfATrace(t *testing.T) {
	file := t.TempDir() + "/spans.jsonl"
	p, err := tracing.New(context.Background(), tracing.Config{Exporter: tracing.ExporterFile, File: file, SampleRatio: 1}, "svc", "one")
	if err != nil {
		t.Fatal(err)
	}
	if !p.Enabled() {
		t.Fatal("a file exporter is not enabled")
	}
	_, span := p.Tracer("test").Start(context.Background(), "written")
	span.End()
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var got struct {
		Name     string
		Resource []struct{ Key string }
	}
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &got) != nil || got.Name != "written" {
		t.Fatalf("file holds %q, want one JSON line for the span", b)
	}
	off, err := tracing.New(context.Background(), tracing.Config{}, "svc", "")
	if err != nil || off.Enabled() {
		t.Fatalf("tracing off: %v, enabled %t", err, off.Enabled())
	}
	if _, span := off.Tracer("test").Start(context.Background(), "x"); span.IsRecording() {
		t.Error("tracing off records spans")
	}
}
