package app

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"

	"github.com/kefu-chat/kefu/cmd/internal/config"
	"github.com/kefu-chat/kefu/providers"
	_ "github.com/kefu-chat/kefu/providers/all" // the built-in provider types
	"github.com/kefu-chat/kefu/providers/gateway"
)

// OpenGateway opens every configured provider and the routes over them,
// or returns nil when no provider is configured. Unknown types fail with
// the known ones listed.
// m may be nil (unregistered series).
func OpenGateway(cfg *config.Config, m *gateway.Metrics, logger *slog.Logger) (_ *gateway.Gateway, err error) {
	if len(cfg.Providers) == 0 {
		return nil, nil
	}
	names := make([]string, 0, len(cfg.Providers))
	for n := range cfg.Providers {
		names = append(names, n)
	}
	sort.Strings(names)
	var insts []gateway.Instance
	defer func() {
		if err != nil {
			for _, in := range insts {
				in.Provider.Close()
			}
		}
	}()
	var errs []error
	for _, n := range names {
		pc := cfg.Providers[n]
		p, err := providers.Open(pc.Type, n, pc.Decode, providers.Deps{Logger: logger})
		if err != nil {
			errs = append(errs, fmt.Errorf("providers.%s: %w", n, err))
			continue
		}
		insts = append(insts, gateway.Instance{
			Name: n, Type: pc.Type, Provider: p, Timeout: pc.Timeout.Std(), Retries: pc.Retries, MaxConcurrency: pc.MaxConcurrency,
			Prices:  gateway.Prices{Prompt: pc.Prices.Prompt, Completion: pc.Prices.Completion},
			Breaker: gateway.BreakerConfig{Failures: pc.Breaker.Failures, Window: pc.Breaker.Window.Std(), Cooldown: pc.Breaker.Cooldown.Std()},
		})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var routes []gateway.Route
	for name, r := range cfg.Routes {
		routes = append(routes, gateway.Route{Name: name, Providers: r.Providers, MaxConcurrency: r.MaxConcurrency, RatePerSecond: r.RatePerSecond})
	}
	return gateway.New(insts, routes, gateway.Deps{Metrics: m, Logger: logger})
}
