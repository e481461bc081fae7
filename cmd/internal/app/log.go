package app

import (
	"context"
	"log/slog"

	"github.com/kefu-chat/kefu/api"
)

// requestIDs adds the request id of the context to every record, so each
// log line of a request (the access log, the engine's turn, a provider's
// failure) can be found together.
type requestIDs struct{ slog.Handler }

// WithRequestIDs wraps h so that records logged with a request's context
// carry its request_id.
func WithRequestIDs(h slog.Handler) slog.Handler { return requestIDs{h} }

func (h requestIDs) Handle(ctx context.Context, r slog.Record) error {
	if id := api.RequestID(ctx); id != "" {
		has := false
		r.Attrs(func(a slog.Attr) bool {
			has = a.Key == "request_id"
			return !has
		})
		if !has {
			r.AddAttrs(slog.String("request_id", id))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDs) WithAttrs(as []slog.Attr) slog.Handler {
	return requestIDs{h.Handler.WithAttrs(as)}
}

func (h requestIDs) WithGroup(name string) slog.Handler {
	return requestIDs{h.Handler.WithGroup(name)}
}
