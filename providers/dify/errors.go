package dify

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kefu-chat/kefu/providers"
)

// authMessage is the only message an auth failure carries: Dify's own
// text is not echoed, as Dify's model runtime does for its providers.
const authMessage = "app api key rejected (check api_key)"

// apiError is Dify's JSON error body, also the payload of an in-stream
// error event.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Status  int    `json:"status"`
	Params  string `json:"params"`
}

// kindFor maps an HTTP(-like) status and Dify error code onto a Kind.
// The message is sniffed only for what Dify passes through from the
// model provider as completion_request_error or invalid_param: a context
// window overflow or a moderation refusal.
func kindFor(status int, code, msg string) providers.Kind {
	switch code {
	case "unauthorized":
		return providers.KindAuth
	case "too_many_requests", "rate_limit_error":
		return providers.KindRateLimit
	case "not_chat_app":
		// The key belongs to an app of another kind: a credential that
		// will never work here, like a wrong key.
		return providers.KindAuth
	case "app_unavailable", "provider_not_initialize", "provider_quota_exceeded",
		"model_currently_not_support", "internal_server_error", "unknown":
		// The app or its workspace is broken for every request: fail over.
		return providers.KindUnavailable
	case "completion_request_error":
		if k, ok := sniff(msg); ok {
			return k
		}
		return providers.KindUnavailable
	case "invalid_param", "conversation_completed", "not_found", "bad_request":
		if k, ok := sniff(msg); ok {
			return k
		}
		return providers.KindBadRequest
	}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return providers.KindAuth
	case status == http.StatusTooManyRequests:
		return providers.KindRateLimit
	case status == http.StatusRequestTimeout:
		return providers.KindTimeout
	case status == http.StatusRequestEntityTooLarge:
		return providers.KindContextLength
	case status >= 500 || status == 0:
		return providers.KindUnavailable
	}
	if k, ok := sniff(msg); ok {
		return k
	}
	return providers.KindBadRequest
}

// sniff recognises the model provider's messages Dify passes through.
func sniff(msg string) (providers.Kind, bool) {
	m := strings.ToLower(msg)
	for _, s := range []string{"context length", "context_length", "maximum context", "context window",
		"too many tokens", "prompt is too long", "token limit", "tokens exceed"} {
		if strings.Contains(m, s) {
			return providers.KindContextLength, true
		}
	}
	for _, s := range []string{"content_filter", "content filter", "content management policy",
		"moderation", "data_inspection_failed", "inappropriate content"} {
		if strings.Contains(m, s) {
			return providers.KindContentFilter, true
		}
	}
	for _, s := range []string{"rate limit", "ratelimit", "rate_limit", "too many requests"} {
		if strings.Contains(m, s) {
			return providers.KindRateLimit, true
		}
	}
	return "", false
}

// httpError turns a non-2xx response into an *Error; it reads (a bounded
// part of) the body but does not close it.
func (c *Client) httpError(resp *http.Response) *providers.Error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var ae apiError
	if json.Unmarshal(body, &ae) != nil || (ae.Code == "" && ae.Message == "") {
		// Not Dify's shape (a proxy's HTML page, say): never echo it.
		ae = apiError{Message: http.StatusText(resp.StatusCode)}
	}
	e := c.apiErr(resp.StatusCode, ae)
	if e.Kind == providers.KindRateLimit {
		e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), c.now())
	}
	return e
}

// apiErr builds the *Error for Dify's error body or in-stream error event.
func (c *Client) apiErr(status int, ae apiError) *providers.Error {
	if status == 0 {
		status = ae.Status
	}
	k := kindFor(status, ae.Code, ae.Message)
	msg := c.safe(ae.Message)
	if ae.Code != "" {
		msg = ae.Code + ": " + msg
	}
	if k == providers.KindAuth {
		msg = authMessage
	}
	return &providers.Error{Provider: c.name, Kind: k, Status: status, Message: msg}
}

// safe bounds an upstream message and removes the key should a server
// ever reflect it.
func (c *Client) safe(s string) string {
	if c.cfg.APIKey != "" {
		s = strings.ReplaceAll(s, c.cfg.APIKey, "[redacted]")
	}
	if len(s) > 300 {
		s = strings.ToValidUTF8(s[:300], "") + "…"
	}
	return s
}

// transportErr classifies a failure to send or read: the caller's
// context first, then timeouts, else unavailable.
func (c *Client) transportErr(ctx context.Context, err error, what string) *providers.Error {
	e := &providers.Error{Provider: c.name, Kind: providers.KindUnavailable, Message: what, Err: err}
	var ne net.Error
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		e.Kind, e.Err = providers.KindCanceled, ctx.Err()
	case errors.Is(ctx.Err(), context.DeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		e.Kind, e.Err = providers.KindTimeout, context.DeadlineExceeded
	case errors.As(err, &ne) && ne.Timeout():
		e.Kind = providers.KindTimeout
	}
	return e
}

// retryAfter parses Retry-After as seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		s = min(s, 24*3600)
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
