// Package tracing builds the OpenTelemetry tracer provider a process
// exports its spans with: OTLP over HTTP to a collector, or JSON lines to
// a file (the stack's and the tests' way to read them back), or nothing.
//
// The rest of the code sees only the OpenTelemetry API
// (go.opentelemetry.io/otel/trace): a trace.TracerProvider handed to the
// adapters and the app. With tracing off it is the API's no-op provider,
// and the adapters leave their instrumentation out altogether.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
	"go.opentelemetry.io/otel/trace/noop"
)

// The exporters Config.Exporter names.
const (
	ExporterNone = "none"
	ExporterOTLP = "otlp"
	ExporterFile = "file"
)

// Config says where a process's spans go and which requests are traced.
type Config struct {
	// Exporter is ExporterNone (the default: no spans), ExporterOTLP or
	// ExporterFile.
	Exporter string
	// Endpoint is the OTLP/HTTP collector's host:port (ExporterOTLP), as
	// http://, without TLS: a collector beside the process.
	Endpoint string
	// File is where ExporterFile appends its spans, one JSON object per
	// line (the stdouttrace exporter's format).
	File string
	// SampleRatio is the share of traces started here that are recorded,
	// 0 to 1, decided by trace ID (so every service of a trace agrees).
	SampleRatio float64
	// FollowCallers records every request whose caller's W3C trace
	// context (a traceparent header) says it is sampled, whatever
	// SampleRatio says, so a caller can ask for one request's trace. Turn
	// it on only where callers are trusted (behind an edge that strips or
	// sets traceparent, or between our own services): otherwise any
	// client can have every one of its requests traced. Off, a sampled
	// caller's request is sampled at SampleRatio, in the caller's trace.
	FollowCallers bool
	// BatchTimeout is how long spans wait to be exported in a batch
	// (default 5 s).
	BatchTimeout time.Duration
	// ExportTimeout bounds one export (default 10 s for OTLP's client; the
	// batch processor's own default, 30 s, bounds a file write).
	ExportTimeout time.Duration
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch c.Exporter {
	case "", ExporterNone:
		return nil
	case ExporterOTLP:
		if c.Endpoint == "" {
			return errors.New("tracing.endpoint: required with exporter otlp (host:port of an OTLP/HTTP collector)")
		}
	case ExporterFile:
		if c.File == "" {
			return errors.New("tracing.file: required with exporter file")
		}
	default:
		return fmt.Errorf("tracing.exporter: %q is not one of none, otlp, file", c.Exporter)
	}
	if c.Exporter == ExporterOTLP && strings.Contains(c.Endpoint, "://") {
		return fmt.Errorf("tracing.endpoint: %q: give host:port, without a scheme (the exporter speaks plain HTTP)", c.Endpoint)
	}
	if !(c.SampleRatio >= 0 && c.SampleRatio <= 1) { // NaN too
		return fmt.Errorf("tracing.sample_ratio: %v is not within 0 to 1", c.SampleRatio)
	}
	if c.BatchTimeout < 0 || c.ExportTimeout < 0 {
		return errors.New("tracing.batch_timeout and tracing.export_timeout must not be negative")
	}
	return nil
}

// Enabled reports whether the configuration exports spans.
func (c Config) Enabled() bool { return c.Exporter != "" && c.Exporter != ExporterNone }

// Provider is a process's tracer provider and what ends it.
type Provider struct {
	trace.TracerProvider
	shutdown func(context.Context) error
}

// Enabled reports whether spans are recorded and exported: when false the
// provider is the API's no-op one, and adapters should not instrument.
func (p *Provider) Enabled() bool { return p.shutdown != nil }

// Shutdown exports the spans still buffered and stops the exporter. It
// returns when ctx ends, at the latest.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p.shutdown == nil {
		return nil
	}
	return p.shutdown(ctx)
}

// New builds the provider cfg describes, for the named service (and its
// instance, when not empty). With the exporter off it returns the no-op
// provider. (It sets no global: every instrumentation is handed the
// provider and W3C trace context propagation explicitly.)
func New(ctx context.Context, cfg Config, service, instance string) (*Provider, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !cfg.Enabled() {
		return &Provider{TracerProvider: noop.NewTracerProvider()}, nil
	}
	var (
		exp   sdktrace.SpanExporter
		close func() error
	)
	switch cfg.Exporter {
	case ExporterOTLP:
		timeout := cfg.ExportTimeout
		if timeout == 0 {
			timeout = 10 * time.Second
		}
		e, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(cfg.Endpoint), otlptracehttp.WithInsecure(),
			otlptracehttp.WithTimeout(timeout))
		if err != nil {
			return nil, fmt.Errorf("tracing: otlp exporter: %w", err)
		}
		exp = e
	case ExporterFile:
		f, err := os.OpenFile(cfg.File, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("tracing: %w", err)
		}
		e, err := fileExporter(f)
		if err != nil {
			f.Close()
			return nil, err
		}
		exp, close = e, f.Close
	}
	attrs := []attribute.KeyValue{attribute.String("service.name", service)}
	if instance != "" {
		attrs = append(attrs, attribute.String("service.instance.id", instance))
	}
	res := resource.NewSchemaless(attrs...)
	batch := []sdktrace.BatchSpanProcessorOption{}
	if cfg.BatchTimeout > 0 {
		batch = append(batch, sdktrace.WithBatchTimeout(cfg.BatchTimeout))
	}
	if cfg.ExportTimeout > 0 {
		batch = append(batch, sdktrace.WithExportTimeout(cfg.ExportTimeout))
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, batch...),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sampler(cfg)),
	)
	return &Provider{TracerProvider: tp, shutdown: func(ctx context.Context) error {
		err := tp.Shutdown(ctx)
		if close != nil {
			err = errors.Join(err, close())
		}
		return err
	}}, nil
}

// sampler decides by the parent span when there is one (a caller that did
// not sample: not recorded), by trace ID otherwise, and for a sampled
// caller's request by trace ID too unless cfg.FollowCallers.
func sampler(cfg Config) sdktrace.Sampler {
	ratio := sdktrace.TraceIDRatioBased(cfg.SampleRatio)
	if cfg.FollowCallers {
		return sdktrace.ParentBased(ratio)
	}
	return sdktrace.ParentBased(ratio, sdktrace.WithRemoteParentSampled(ratio))
}

// fileExporter writes spans to w as JSON lines.
func fileExporter(w io.Writer) (sdktrace.SpanExporter, error) {
	e, err := stdouttrace.New(stdouttrace.WithWriter(w))
	if err != nil {
		return nil, fmt.Errorf("tracing: file exporter: %w", err)
	}
	return e, nil
}

// WithinTraces wraps tp so that its tracers start a span only under a
// sampled span: a call made outside a trace (a background round, a
// request the sampler left out) gets none, not even a non-recording one.
// The adapters' per-call spans (every Redis command, every statement) go
// through it, so an unrecorded purchase gets none of them (the
// instrumentation may still build its attributes first), and a background
// round does not start a trace per query.
func WithinTraces(tp trace.TracerProvider) trace.TracerProvider {
	return withinTraces{tp: tp}
}

type withinTraces struct {
	embedded.TracerProvider
	tp trace.TracerProvider
}

func (w withinTraces) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return withinTracer{t: w.tp.Tracer(name, opts...)}
}

type withinTracer struct {
	embedded.Tracer
	t trace.Tracer
}

func (w withinTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if !trace.SpanContextFromContext(ctx).IsSampled() {
		return ctx, noop.Span{}
	}
	return w.t.Start(ctx, name, opts...)
}
