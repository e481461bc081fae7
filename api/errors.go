package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"
)

// Error codes carried in the envelope's "code" field. Clients may branch on
// them; statusOf gives the HTTP status of each.
const (
	CodeInvalidArgument      = "invalid_argument"
	CodeInvalidJSON          = "invalid_json"
	CodeUnknownField         = "unknown_field"
	CodeTextEmpty            = "text_empty"
	CodeTextTooLong          = "text_too_long"
	CodeInvalidUTF8          = "invalid_utf8"
	CodeBodyTooLarge         = "body_too_large"
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeNotFound             = "not_found"
	CodeConflict             = "conflict"
	CodeMethodNotAllowed     = "method_not_allowed"
	CodeNotReady             = "not_ready"
	CodeUnavailable          = "unavailable"
	CodeDeadlineExceeded     = "deadline_exceeded"
	CodeInternal             = "internal"
	CodeUnauthenticated      = "unauthenticated"
	CodePermissionDenied     = "permission_denied"
	CodeRateLimited          = "rate_limited"
	CodeOverloaded           = "overloaded"
)

// statusOf is the one table from error codes to HTTP statuses.
var statusOf = map[string]int{
	CodeInvalidArgument:      http.StatusBadRequest,
	CodeInvalidJSON:          http.StatusBadRequest,
	CodeUnknownField:         http.StatusBadRequest,
	CodeTextEmpty:            http.StatusBadRequest,
	CodeTextTooLong:          http.StatusBadRequest,
	CodeInvalidUTF8:          http.StatusBadRequest,
	CodeBodyTooLarge:         http.StatusRequestEntityTooLarge,
	CodeUnsupportedMediaType: http.StatusUnsupportedMediaType,
	CodeNotFound:             http.StatusNotFound,
	CodeConflict:             http.StatusConflict,
	CodeMethodNotAllowed:     http.StatusMethodNotAllowed,
	CodeNotReady:             http.StatusServiceUnavailable,
	CodeUnavailable:          http.StatusServiceUnavailable,
	CodeDeadlineExceeded:     http.StatusGatewayTimeout,
	CodeInternal:             http.StatusInternalServerError,
	CodeUnauthenticated:      http.StatusUnauthorized,
	CodePermissionDenied:     http.StatusForbidden,
	CodeRateLimited:          http.StatusTooManyRequests,
	CodeOverloaded:           http.StatusServiceUnavailable,
}

// internalMessage is all a client learns about an internal error.
const internalMessage = "internal error"

// Error is an error with an HTTP status and a client-facing code and message.
// Message is sent to the client, so it must not contain secrets or internal
// detail; Err, if set, is only logged.
type Error struct {
	Status  int    // HTTP status
	Code    string // one of the Code constants
	Message string // shown to the client
	Err     error  // underlying cause; logged, never sent

	retryAfter time.Duration // sets Retry-After on 429 and 503
}

// NewError returns an error with the given code and client message, and the
// status the table gives that code. A code not in the table gets status 500.
func NewError(code, msg string) *Error {
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	return &Error{Status: status, Code: code, Message: msg}
}

// BadRequest returns a 400 error with the given code and client message.
// code should be one of the 400 codes, such as [CodeInvalidArgument].
func BadRequest(code, msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: code, Message: msg}
}

// Internal returns a 500 error that shows the client a generic message and
// logs err.
func Internal(err error) *Error {
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: internalMessage, Err: err}
}

// Error describes e for logs; it includes Err, unlike the client message.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("api: %s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("api: %s: %s", e.Code, e.Message)
}

// Unwrap returns Err.
func (e *Error) Unwrap() error { return e.Err }

// RetryAfter reports when a refused request may be tried again (the
// Retry-After header of a 429 or 503), or 0.
func (e *Error) RetryAfter() time.Duration { return e.retryAfter }

// toError maps any error to the *Error rendered for it. An *Error anywhere
// in err's chain wins; a few standard errors have fixed codes; everything
// else is internal.
func toError(err error) *Error {
	if e, ok := errors.AsType[*Error](err); ok {
		if e.Status < 400 || e.Status > 599 {
			// A malformed *Error is a bug here, not the client's fault.
			return Internal(err)
		}
		return e
	}
	var out *Error
	switch tl, isTooLarge := errors.AsType[*http.MaxBytesError](err); {
	case isTooLarge:
		out = tooLarge(tl.Limit)
	case errors.Is(err, context.DeadlineExceeded):
		out = NewError(CodeDeadlineExceeded, "request timed out")
	case errors.Is(err, context.Canceled):
		out = NewError(CodeUnavailable, "request canceled")
	default:
		return Internal(err)
	}
	out.Err = err
	return out
}

// envelope is the body of every error response.
type envelope struct {
	Error envelopeError `json:"error"`
}

type envelopeError struct {
	Code      string `json:"code"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

// fail logs err and, unless the handler already started its response,
// renders it as the envelope.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := toError(err)
	s.logError(r, e)
	if headerWritten(w) {
		return // too late to change the status; the log line has it
	}
	writeError(w, r, e)
}

// logError logs e. Internal errors are logged at Error with their cause;
// other 5xx at Warn; 4xx at Debug without the message, which may quote the
// request.
func (s *server) logError(r *http.Request, e *Error) {
	attrs := []slog.Attr{
		slog.String("request_id", RequestID(r.Context())),
		slog.Int("status", e.Status),
		slog.String("code", e.Code),
	}
	level := slog.LevelDebug
	switch {
	case e.Status >= 500:
		level = slog.LevelWarn
		if e.Status == http.StatusInternalServerError {
			level = slog.LevelError
		}
		attrs = append(attrs, slog.String("message", e.Message))
		if e.Err != nil {
			attrs = append(attrs, slog.String("err", e.Err.Error()))
		}
	}
	s.logger.LogAttrs(r.Context(), level, "request failed", attrs...)
}

// writeError writes e as the envelope, with no logging.
func writeError(w http.ResponseWriter, r *http.Request, e *Error) {
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(e.retryAfter.Seconds()))))
	}
	body := envelope{Error: envelopeError{
		Code:      e.Code,
		Message:   e.Message,
		RequestID: RequestID(r.Context()),
	}}
	_ = writeJSON(w, e.Status, body) // an envelope always encodes
}
