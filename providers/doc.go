// Package providers is kefu's gateway to generative models: the Provider
// interface, kefu's own message, stream, usage and error types, and the
// registry of provider types in the database/sql style.
//
// Each built-in type lives in its own package and registers itself from
// init: providers/openai (any OpenAI-compatible endpoint), providers/dify
// and providers/coze; providers/all imports them. A third party adds a type
// the same way, in its own package, and imports it into its build:
//
//	package ernie
//
//	func init() { providers.Register("ernie", open) }
//
//	func open(name string, decode func(any) error, deps providers.Deps) (providers.Provider, error) {
//		var cfg struct {
//			BaseURL string `yaml:"base_url"`
//			APIKey  string `yaml:"api_key"`
//		}
//		if err := decode(&cfg); err != nil {
//			return nil, err
//		}
//		return &client{name: name, cfg: cfg, http: deps.HTTP}, nil
//	}
//
// Every failure is a *Error whose Kind (auth, rate limit, unavailable,
// timeout, bad request, context too long, content filtered) decides what
// the gateway does next: retry, fail over to the next provider of the
// route, or give up.
package providers
