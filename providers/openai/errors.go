package openai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goopenai "github.com/sashabaranov/go-openai"

	"github.com/kefu-chat/kefu/providers"
)

// go-openai keeps the response header from its errors, so the transport
// records, per request (keyed by a *capture in the request's context), the
// last response's header, and for streams wraps the body to notice
// "data: [DONE]": go-openai reports a body that ends without it as io.EOF
// too, and kefu must not mistake a cut stream for a finished one.

type captureKey struct{}

type capture struct {
	stream bool

	mu     sync.Mutex
	header http.Header
	body   io.Closer // an error response's body, closed after go-openai read it
	watch  *doneWatcher
}

func withCapture(ctx context.Context, cp *capture) context.Context {
	return context.WithValue(ctx, captureKey{}, cp)
}

func (cp *capture) get() http.Header {
	if cp == nil {
		return nil
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	return cp.header
}

// done reports whether the stream's body carried "data: [DONE]".
func (cp *capture) done() bool {
	cp.mu.Lock()
	w := cp.watch
	cp.mu.Unlock()
	return w != nil && w.done.Load()
}

// closeBody closes an error response's body, which go-openai's stream
// path reads but leaves open.
func (cp *capture) closeBody() {
	cp.mu.Lock()
	b := cp.body
	cp.body = nil
	cp.mu.Unlock()
	if b != nil {
		_ = b.Close()
	}
}

type transport struct{ base http.RoundTripper }

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	cp, _ := req.Context().Value(captureKey{}).(*capture)
	if cp == nil {
		return resp, nil
	}
	cp.mu.Lock()
	defer cp.mu.Unlock()
	cp.header = resp.Header
	if cp.stream {
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			cp.watch = &doneWatcher{rc: resp.Body}
			resp.Body = cp.watch
		} else {
			cp.body = resp.Body
		}
	}
	return resp, nil
}

// CloseIdleConnections passes http.Client.CloseIdleConnections on.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// doneWatcher passes a stream's body through, noting a "data: [DONE]"
// line. Only the first bytes of each line are kept.
type doneWatcher struct {
	rc   io.ReadCloser
	line []byte
	long bool
	done atomic.Bool
}

func (w *doneWatcher) Read(p []byte) (int, error) {
	n, err := w.rc.Read(p)
	for _, b := range p[:n] {
		if b == '\n' {
			w.endLine()
			continue
		}
		if len(w.line) < 32 {
			w.line = append(w.line, b)
		} else {
			w.long = true
		}
	}
	if err != nil {
		w.endLine()
	}
	return n, err
}

func (w *doneWatcher) endLine() {
	if !w.long {
		l := bytes.TrimSpace(w.line)
		if rest, ok := bytes.CutPrefix(l, []byte("data:")); ok && string(bytes.TrimSpace(rest)) == "[DONE]" {
			w.done.Store(true)
		}
	}
	w.line, w.long = w.line[:0], false
}

func (w *doneWatcher) Close() error { return w.rc.Close() }

// fail maps err onto a *providers.Error and logs it (never the key).
func (c *Client) fail(ctx context.Context, err error, cp *capture) *providers.Error {
	return c.logged(c.classify(ctx, err, cp.get()))
}

func (c *Client) logged(e *providers.Error) *providers.Error {
	c.log.Debug("openai: request failed", "kind", e.Kind, "status", e.Status, "error", e.Error())
	return e
}

// authMessage replaces the upstream's: OpenAI's 401 message echoes part of
// the key.
const authMessage = "credential rejected: check api_key"

func (c *Client) classify(ctx context.Context, err error, h http.Header) *providers.Error {
	e := &providers.Error{Provider: c.name, Err: redactErr(err, c.cfg.APIKey)}
	if ctxErr := ctx.Err(); ctxErr != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			e.Kind, e.Message, e.Err = providers.KindTimeout, "deadline exceeded", ctxErr
		} else {
			e.Kind, e.Message, e.Err = providers.KindCanceled, "canceled", ctxErr
		}
		return e
	}
	var apiErr *goopenai.APIError
	var reqErr *goopenai.RequestError
	switch {
	case errors.As(err, &apiErr):
		e.Status = apiErr.HTTPStatusCode
		e.Message = apiErr.Message
		e.Kind = kindFor(e.Status, codeString(apiErr.Code), apiErr.Type, apiErr.Message)
		if e.Kind != providers.KindContentFilter && apiErr.InnerError != nil && apiErr.InnerError.Code == "ResponsibleAIPolicyViolation" {
			e.Kind = providers.KindContentFilter
		}
	case errors.As(err, &reqErr):
		// A failure status whose body is not OpenAI's envelope: vLLM's
		// older flat {"message","type","code"}, a proxy's HTML page.
		e.Status = reqErr.HTTPStatusCode
		var flat struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Code    any    `json:"code"`
		}
		if json.Unmarshal(reqErr.Body, &flat) == nil && flat.Message != "" {
			e.Message = flat.Message
		} else {
			e.Message = http.StatusText(e.Status)
		}
		e.Kind = kindFor(e.Status, codeString(flat.Code), flat.Type, flat.Message)
		e.Err = redactErr(fmt.Errorf("HTTP %s", reqErr.HTTPStatus), c.cfg.APIKey)
	case errors.Is(err, context.DeadlineExceeded):
		e.Kind = providers.KindTimeout
	case errors.Is(err, context.Canceled):
		e.Kind = providers.KindCanceled
	case isTimeout(err):
		e.Kind = providers.KindTimeout
	case errors.Is(err, goopenai.ErrChatCompletionInvalidModel), errors.Is(err, goopenai.ErrReasoningModelMaxTokensDeprecated),
		errors.Is(err, goopenai.ErrReasoningModelLimitationsLogprobs), errors.Is(err, goopenai.ErrReasoningModelLimitationsOther),
		errors.Is(err, goopenai.ErrReasoningSamplingUnsupported), errors.Is(err, goopenai.ErrReasoningEffortUnsupported),
		errors.Is(err, goopenai.ErrO1BetaLimitationsMessageTypes):
		e.Kind, e.Message = providers.KindBadRequest, err.Error()
	case errors.Is(err, io.ErrUnexpectedEOF):
		e.Kind, e.Message = providers.KindUnavailable, "stream ended before data: [DONE]"
	default: // network, TLS, a body cut short, too many empty frames
		e.Kind = providers.KindUnavailable
	}
	if e.Kind == providers.KindAuth {
		e.Message, e.Err = authMessage, nil
	}
	e.Message = redact(e.Message, c.cfg.APIKey)
	if len(e.Message) > 500 {
		e.Message = e.Message[:500] + "…"
	}
	if e.Kind == providers.KindRateLimit {
		e.RetryAfter = retryAfter(h, c.now())
	}
	return e
}

// kindFor classifies an HTTP status (0 for an error inside a stream) with
// OpenAI's error code, type and, as a last resort, message.
func kindFor(status int, code, typ, msg string) providers.Kind {
	switch code {
	case "context_length_exceeded", "string_above_max_length":
		return providers.KindContextLength
	case "content_filter", "content_policy_violation":
		return providers.KindContentFilter
	case "invalid_api_key":
		return providers.KindAuth
	case "insufficient_quota":
		// A 429 that waiting does not cure: like a bad credential, fail
		// over without retrying.
		return providers.KindAuth
	}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return providers.KindAuth
	case status == http.StatusTooManyRequests:
		return providers.KindRateLimit
	case status == http.StatusRequestTimeout:
		return providers.KindTimeout
	case status >= 500:
		return providers.KindUnavailable
	}
	// vLLM, Ollama and some others send no code for a long prompt.
	lm := strings.ToLower(msg)
	if strings.Contains(lm, "maximum context length") || strings.Contains(lm, "context length exceeded") {
		return providers.KindContextLength
	}
	if status >= 400 {
		return providers.KindBadRequest
	}
	// In a stream: only the code and type tell.
	switch {
	case code == "rate_limit_exceeded" || typ == "rate_limit_error" || typ == "requests" || typ == "tokens":
		return providers.KindRateLimit
	case typ == "authentication_error" || typ == "permission_error":
		return providers.KindAuth
	case typ == "invalid_request_error":
		return providers.KindBadRequest
	}
	return providers.KindUnavailable
}

func codeString(code any) string {
	switch v := code.(type) {
	case string:
		return v
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// retryAfter reads retry-after-ms (OpenAI's) or Retry-After (seconds or an
// HTTP date); 0 when absent or unparsable, at most an hour.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if h == nil {
		return 0
	}
	var d time.Duration
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			d = time.Duration(ms * float64(time.Millisecond))
		}
	}
	if v := strings.TrimSpace(h.Get("Retry-After")); d == 0 && v != "" {
		if s, err := strconv.ParseFloat(v, 64); err == nil {
			if s > 0 {
				d = time.Duration(s * float64(time.Second))
			}
		} else if t, err := http.ParseTime(v); err == nil {
			d = t.Sub(now)
		}
	}
	return max(0, min(d, time.Hour))
}

// redacted is an error whose message never holds the key; it keeps the
// redacted message, not the key, so %#v cannot print it either.
type redacted struct {
	err error
	msg string
}

func redactErr(err error, key string) redacted { return redacted{err, redact(err.Error(), key)} }

func (r redacted) Error() string { return r.msg }
func (r redacted) Unwrap() error { return r.err }

func redact(s, key string) string {
	if len(key) < 4 {
		return s
	}
	return strings.ReplaceAll(s, key, "<redacted>")
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<unparsable>"
	}
	u.RawQuery = ""
	return u.Redacted()
}
