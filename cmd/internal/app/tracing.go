package app

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/kefu-chat/kefu/cmd/internal/config"
)

// StartTracing installs an OpenTelemetry tracer provider exporting to the
// configured OTLP/HTTP endpoint and returns its shutdown, which flushes
// the spans still buffered. With no endpoint it does nothing: the engine's
// spans then go to OpenTelemetry's no-op provider.
func StartTracing(ctx context.Context, c config.Tracing, version string) (func(context.Context) error, error) {
	if c.Endpoint == "" {
		return func(context.Context) error { return nil }, nil
	}
	endpoint := c.Endpoint
	if u, err := url.Parse(endpoint); err == nil && (u.Path == "" || u.Path == "/") {
		endpoint = strings.TrimSuffix(endpoint, "/") + "/v1/traces" // OTLP/HTTP's traces path
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, fmt.Errorf("server.tracing: %w", err)
	}
	name := c.ServiceName
	if name == "" {
		name = "kefu"
	}
	ratio := c.SampleRatio
	if ratio == 0 {
		ratio = 1
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(ratio))),
		sdktrace.WithResource(resource.NewSchemaless(
			attribute.String("service.name", name), attribute.String("service.version", version))),
	)
	otel.SetTracerProvider(tp)
	return tp.Shutdown, nil
}
