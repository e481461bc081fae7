package service

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Kind classifies a failed call so the engine can decide what a flow does
// next. Its value is a short lowercase word a flow may also test.
type Kind string

// The kinds of error Call and Bind return.
const (
	KindTimeout     Kind = "timeout"      // attempt timeout or the caller's deadline
	KindUnavailable Kind = "unavailable"  // network error, 429 or 5xx after the retries
	KindNotFound    Kind = "not_found"    // 404
	KindRejected    Kind = "rejected"     // any other 4xx
	KindBadResponse Kind = "bad_response" // invalid JSON, body over 1 MiB, unexpected status
	KindBadArgs     Kind = "bad_args"     // arguments do not fit the operation
	KindUnknown     Kind = "unknown"      // no such service or operation
	KindCanceled    Kind = "canceled"     // the caller's context was canceled
)

// Error is a failed call. Its text names the service and operation and the
// kind of failure; it never includes header values, URL credentials or
// query strings.
type Error struct {
	Service string
	Op      string
	Kind    Kind
	// Status is the HTTP status of the last attempt, 0 when there was none.
	Status int
	// Attempts is the number of requests sent (0 when none was).
	Attempts int
	// Timeout is the per-attempt timeout that expired, for KindTimeout
	// when an attempt (not the caller's context) timed out.
	Timeout time.Duration
	// Body is the decoded JSON body of a 4xx or 5xx reply, if it had one:
	// the server's own words (such as {"error":"订单已发货，无法取消"}),
	// which a flow may choose to show.
	Body any
	// Err is the underlying cause, if any.
	Err error
}

// Error returns e.g. "service 订单服务.查询: timeout after 2s".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("service ")
	b.WriteString(e.Service)
	if e.Op != "" {
		b.WriteString(".")
		b.WriteString(e.Op)
	}
	b.WriteString(": ")
	switch e.Kind {
	case KindTimeout:
		if e.Timeout > 0 {
			fmt.Fprintf(&b, "timeout after %s", e.Timeout)
		} else {
			b.WriteString("timeout: the caller's deadline passed")
		}
	case KindUnavailable:
		b.WriteString("unavailable")
		if e.Status != 0 {
			fmt.Fprintf(&b, ": HTTP %d", e.Status)
		} else if e.Err != nil {
			b.WriteString(": ")
			b.WriteString(e.Err.Error())
		}
	case KindNotFound:
		fmt.Fprintf(&b, "not found (HTTP %d)", e.Status)
	case KindRejected:
		fmt.Fprintf(&b, "rejected (HTTP %d)", e.Status)
	case KindCanceled:
		b.WriteString("canceled")
	default:
		b.WriteString(strings.ReplaceAll(string(e.Kind), "_", " "))
		if e.Err != nil {
			b.WriteString(": ")
			b.WriteString(e.Err.Error())
		}
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (%d attempts)", e.Attempts)
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of the first *Error in err's chain, or "" when
// there is none.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}

// redacted wraps an error whose text might hold a secret (a header value
// echoed by a library) and replaces every secret in the text.
type redacted struct {
	err     error
	secrets []string
}

func (r *redacted) Error() string {
	s := r.err.Error()
	for _, v := range r.secrets {
		s = strings.ReplaceAll(s, v, "<secret>")
	}
	return s
}

func (r *redacted) Unwrap() error { return r.err }
