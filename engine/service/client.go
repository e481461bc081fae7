package service

import (
	"bytes"
	"context"
	cryptorand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// MaxBodyBytes caps a response body; a larger one is a bad_response error.
const MaxBodyBytes = 1 << 20

// Backoff between attempts (before jitter) and the cap on Retry-After.
const (
	backoffBase   = 200 * time.Millisecond
	backoffMax    = 2 * time.Second
	retryAfterMax = 30 * time.Second
)

// Deps are the runtime dependencies of a Client. A nil field gets a default.
type Deps struct {
	// HTTP sends requests; nil means a client with http.DefaultTransport
	// and no overall timeout (attempts are bounded by contexts).
	HTTP *http.Client
	// Logger receives a debug line per attempt and a warning per retry;
	// nil discards. Lines never hold header values or arguments.
	Logger *slog.Logger
	// Now is the clock used to read Retry-After dates; nil means time.Now.
	Now func() time.Time
	// Sleep waits between attempts and must return ctx.Err() early when
	// ctx ends; nil means a timer. Tests replace it to record waits.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Client calls the services of one Config. It is safe for concurrent use.
type Client struct {
	services map[string]*svc
	http     *http.Client
	log      *slog.Logger
	now      func() time.Time
	sleep    func(context.Context, time.Duration) error
}

type svc struct {
	name    string
	base    string // scheme://host/escaped/path, no trailing slash
	timeout time.Duration
	retries int
	headers map[string]string
	secrets []string
	ops     map[string]*operation
}

type operation struct {
	name     string
	method   string
	tmpl     template
	params   []string        // declared params, or the placeholders
	declared bool            // Params was set in the config
	holes    map[string]bool // placeholder names
}

// New validates cfg and returns a Client for it. Its errors start with
// "service: " followed by Validate's key-path errors.
func New(cfg Config, deps Deps) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("service: %w", err)
	}
	cfg = cfg.clone()
	c := &Client{
		services: make(map[string]*svc, len(cfg)),
		http:     deps.HTTP,
		log:      deps.Logger,
		now:      deps.Now,
		sleep:    deps.Sleep,
	}
	if c.http == nil {
		c.http = &http.Client{}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	for name, sc := range cfg {
		u, _ := url.Parse(sc.BaseURL) // checked by Validate
		s := &svc{
			name:    name,
			base:    u.Scheme + "://" + u.Host + strings.TrimSuffix(u.EscapedPath(), "/"),
			timeout: sc.Timeout.Std(),
			retries: sc.Retries,
			headers: sc.Headers,
			ops:     make(map[string]*operation, len(sc.Operations)),
		}
		if s.timeout == 0 {
			s.timeout = DefaultTimeout
		}
		for _, v := range sc.Headers {
			if len(v) >= 4 { // shorter values are no secret and would garble texts
				s.secrets = append(s.secrets, v)
			}
		}
		for opName, oc := range sc.Operations {
			t, _ := parseTemplate(oc.Path) // checked by Validate
			o := &operation{name: opName, method: oc.Method, tmpl: t, params: oc.Params, declared: len(oc.Params) > 0, holes: map[string]bool{}}
			for _, h := range t.holes() {
				o.holes[h] = true
			}
			if !o.declared {
				o.params = t.holes()
			}
			s.ops[opName] = o
		}
		c.services[name] = s
	}
	return c, nil
}

// Operations returns each service's operation names, sorted.
func (c *Client) Operations() map[string][]string {
	out := make(map[string][]string, len(c.services))
	for name, s := range c.services {
		out[name] = sortedKeys(s.ops)
	}
	return out
}

// Params returns an operation's params in positional order: its declared
// params, or its path placeholders when it declares none. Placeholders are
// required arguments, the others optional. The error is a *Error of kind
// unknown.
func (c *Client) Params(service, op string) ([]string, error) {
	_, o, err := c.lookup(service, op)
	if err != nil {
		return nil, err
	}
	return slices.Clone(o.params), nil
}

// Bind maps positional arguments onto the operation's params in order.
// Fewer arguments than params leave the rest unset; more is an error, and
// so is leaving a path placeholder unset. Errors are *Error of kind unknown
// or bad_args.
func (c *Client) Bind(service, op string, positional []any) (map[string]any, error) {
	s, o, err := c.lookup(service, op)
	if err != nil {
		return nil, err
	}
	if len(positional) > len(o.params) {
		return nil, s.argErr(o, "got %d arguments, want at most %d (%s)", len(positional), len(o.params), strings.Join(o.params, ", "))
	}
	args := make(map[string]any, len(positional))
	for i, v := range positional {
		args[o.params[i]] = v
	}
	for _, h := range o.params {
		if _, ok := args[h]; !ok && o.holes[h] {
			return nil, s.argErr(o, "missing argument %q (want %s)", h, strings.Join(o.params, ", "))
		}
	}
	return args, nil
}

// Call invokes one operation with named arguments and returns the decoded
// JSON reply (nil for an empty or non-JSON 2xx body). timeout bounds each
// attempt; 0 means the service's configured timeout. ctx bounds the whole
// call, retries included, and is not kept after Call returns. Every error
// is a *Error.
func (c *Client) Call(ctx context.Context, service, op string, args map[string]any, timeout time.Duration) (any, error) {
	s, o, err := c.lookup(service, op)
	if err != nil {
		return nil, err
	}
	target, body, berr := o.build(s.base, args)
	if berr != nil {
		return nil, &Error{Service: s.name, Op: o.name, Kind: KindBadArgs, Err: berr}
	}
	if timeout <= 0 {
		timeout = s.timeout
	}
	var idemKey string
	if o.method != http.MethodGet {
		idemKey = newID()
	}
	for attempt := 1; ; attempt++ {
		res, wait, e := c.attempt(ctx, s, o, target, body, idemKey, timeout)
		if e == nil {
			return res, nil
		}
		e.Attempts = attempt
		retryable := (e.Kind == KindTimeout && e.Timeout > 0) || e.Kind == KindUnavailable
		if !retryable || attempt > s.retries {
			return nil, e
		}
		if wait == 0 {
			wait = backoff(attempt)
		}
		if d, ok := ctx.Deadline(); ok && time.Until(d) <= wait {
			return nil, e // the wait would outlast the caller
		}
		c.log.LogAttrs(ctx, slog.LevelWarn, "service call failed, retrying",
			slog.String("service", s.name), slog.String("op", o.name), slog.Int("attempt", attempt),
			slog.String("kind", string(e.Kind)), slog.Int("status", e.Status), slog.Duration("wait", wait))
		if err := c.sleep(ctx, wait); err != nil {
			return nil, callerErr(s, o, ctx, attempt)
		}
	}
}

// attempt sends one request. wait is the Retry-After delay the server asked
// for, 0 when none.
func (c *Client) attempt(ctx context.Context, s *svc, o *operation, target string, body []byte, idemKey string, timeout time.Duration) (res any, wait time.Duration, e *Error) {
	start := time.Now()
	status := 0
	defer func() {
		attrs := []slog.Attr{slog.String("service", s.name), slog.String("op", o.name), slog.String("method", o.method),
			slog.Int("status", status), slog.Duration("duration", time.Since(start))}
		if e != nil {
			attrs = append(attrs, slog.String("kind", string(e.Kind)))
		}
		c.log.LogAttrs(ctx, slog.LevelDebug, "service attempt", attrs...)
	}()
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(actx, o.method, target, rd)
	if err != nil {
		return nil, 0, &Error{Service: s.name, Op: o.name, Kind: KindBadArgs, Err: s.redact(err)}
	}
	for k, v := range s.headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, 0, c.transportErr(ctx, actx, s, o, err, timeout)
	}
	defer func() {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10)) // let the connection be reused
		resp.Body.Close()
	}()
	status = resp.StatusCode
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes+1))
	if err != nil {
		return nil, 0, c.transportErr(ctx, actx, s, o, err, timeout)
	}
	fail := func(k Kind, err error) *Error {
		return &Error{Service: s.name, Op: o.name, Kind: k, Status: status, Err: err}
	}
	tooBig := len(data) > MaxBodyBytes
	switch {
	case status >= 200 && status < 300:
		if tooBig {
			return nil, 0, fail(KindBadResponse, fmt.Errorf("HTTP %d with a body over %d bytes", status, MaxBodyBytes))
		}
		if status == http.StatusNoContent || len(bytes.TrimSpace(data)) == 0 || !isJSON(resp.Header.Get("Content-Type")) {
			return nil, 0, nil
		}
		v, err := decodeJSON(data)
		if err != nil {
			return nil, 0, fail(KindBadResponse, fmt.Errorf("HTTP %d with invalid JSON: %w", status, err))
		}
		return v, 0, nil
	case status == http.StatusNotFound:
		e = fail(KindNotFound, nil)
	case status == http.StatusTooManyRequests || status >= 500:
		e = fail(KindUnavailable, nil)
		wait = retryAfter(resp.Header.Get("Retry-After"), c.now())
	case status >= 400 && status < 500:
		e = fail(KindRejected, nil)
	default:
		return nil, 0, fail(KindBadResponse, fmt.Errorf("unexpected HTTP %d", status))
	}
	if !tooBig && isJSON(resp.Header.Get("Content-Type")) {
		if v, err := decodeJSON(data); err == nil {
			e.Body = s.redactValue(v)
		}
	}
	return nil, wait, e
}

// transportErr classifies a failure to get a reply: the caller's context,
// the attempt's timeout, or the network.
func (c *Client) transportErr(ctx, actx context.Context, s *svc, o *operation, err error, timeout time.Duration) *Error {
	if ctx.Err() != nil {
		return callerErr(s, o, ctx, 0)
	}
	if errors.Is(actx.Err(), context.DeadlineExceeded) {
		return &Error{Service: s.name, Op: o.name, Kind: KindTimeout, Timeout: timeout, Err: context.DeadlineExceeded}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = &url.Error{Op: ue.Op, URL: redactURL(ue.URL), Err: ue.Err}
	}
	return &Error{Service: s.name, Op: o.name, Kind: KindUnavailable, Err: s.redact(err)}
}

// callerErr reports that the caller's context ended.
func callerErr(s *svc, o *operation, ctx context.Context, attempts int) *Error {
	e := &Error{Service: s.name, Op: o.name, Kind: KindCanceled, Attempts: attempts, Err: ctx.Err()}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		e.Kind = KindTimeout
	}
	return e
}

func (s *svc) redact(err error) error {
	if len(s.secrets) == 0 {
		return err
	}
	return &redacted{err: err, secrets: s.secrets}
}

// redactValue replaces secrets in the strings of a decoded JSON value, in
// case a server echoes a header back.
func (s *svc) redactValue(v any) any {
	switch x := v.(type) {
	case string:
		for _, sec := range s.secrets {
			x = strings.ReplaceAll(x, sec, "<secret>")
		}
		return x
	case []any:
		for i := range x {
			x[i] = s.redactValue(x[i])
		}
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[s.redactValue(k).(string)] = s.redactValue(e)
		}
		return out
	}
	return v
}

func (s *svc) argErr(o *operation, format string, args ...any) *Error {
	return &Error{Service: s.name, Op: o.name, Kind: KindBadArgs, Err: fmt.Errorf(format, args...)}
}

func (c *Client) lookup(service, op string) (*svc, *operation, *Error) {
	s, ok := c.services[service]
	if !ok {
		return nil, nil, &Error{Service: service, Op: op, Kind: KindUnknown,
			Err: fmt.Errorf("no service %q (have: %s)", service, strings.Join(sortedKeys(c.services), ", "))}
	}
	o, ok := s.ops[op]
	if !ok {
		return nil, nil, &Error{Service: service, Op: op, Kind: KindUnknown,
			Err: fmt.Errorf("service %s has no operation %q (have: %s)", service, op, strings.Join(sortedKeys(s.ops), ", "))}
	}
	return s, o, nil
}

// build returns the request URL and, for POST, PUT and PATCH, the JSON
// body.
func (o *operation) build(base string, args map[string]any) (string, []byte, error) {
	names := sortedKeys(args)
	if o.declared {
		for _, k := range names {
			if !slices.Contains(o.params, k) {
				return "", nil, fmt.Errorf("unknown argument %q (params: %s)", k, strings.Join(o.params, ", "))
			}
		}
	}
	var path strings.Builder
	for _, p := range o.tmpl.parts {
		if p.hole == "" {
			path.WriteString(p.lit)
			continue
		}
		v, ok := args[p.hole]
		if !ok || v == nil {
			return "", nil, fmt.Errorf("missing argument %q (the path needs it)", p.hole)
		}
		str, ok := scalar(v)
		if !ok {
			return "", nil, fmt.Errorf("argument %q: a %T cannot go in the path", p.hole, v)
		}
		if str == "" {
			return "", nil, fmt.Errorf("argument %q is empty", p.hole)
		}
		path.WriteString(url.PathEscape(str))
	}
	u, err := url.Parse(base + path.String())
	if err != nil {
		return "", nil, fmt.Errorf("building the URL: %w", err)
	}
	switch o.method {
	case http.MethodGet, http.MethodDelete:
		q := url.Values{}
		for _, k := range names {
			if o.holes[k] || args[k] == nil {
				continue
			}
			v := args[k]
			if s, ok := scalar(v); ok {
				q.Add(k, s)
				continue
			}
			rv := reflect.ValueOf(v)
			if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
				return "", nil, fmt.Errorf("argument %q: a %T cannot go in a query string", k, v)
			}
			for i := range rv.Len() {
				s, ok := scalar(rv.Index(i).Interface())
				if !ok {
					return "", nil, fmt.Errorf("argument %q: a list of %T cannot go in a query string", k, rv.Index(i).Interface())
				}
				q.Add(k, s)
			}
		}
		u.RawQuery = q.Encode()
		return u.String(), nil, nil
	default:
		obj := make(map[string]any, len(args))
		for k, v := range args {
			if !o.holes[k] {
				obj[k] = v
			}
		}
		body, err := json.Marshal(obj)
		if err != nil {
			return "", nil, fmt.Errorf("encoding the body: %w", err)
		}
		return u.String(), body, nil
	}
}

// scalar formats a string, bool or number for a path or query string.
// Whole floats print without an exponent (12345, not 1.2345e+04).
func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case fmt.Stringer:
		if rv := reflect.ValueOf(v); rv.Kind() != reflect.Ptr || !rv.IsNil() {
			return x.String(), true
		}
		return "", false
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String:
		return rv.String(), true
	case reflect.Bool:
		return strconv.FormatBool(rv.Bool()), true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(rv.Uint(), 10), true
	case reflect.Float32:
		return strconv.FormatFloat(rv.Float(), 'f', -1, 32), true
	case reflect.Float64:
		return strconv.FormatFloat(rv.Float(), 'f', -1, 64), true
	}
	return "", false
}

func isJSON(contentType string) bool {
	if contentType == "" {
		return true // many small services forget it
	}
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && (mt == "application/json" || strings.HasSuffix(mt, "+json"))
}

// decodeJSON decodes exactly one JSON value, numbers as float64.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

// retryAfter reads a Retry-After header (seconds or an HTTP date), capped
// at retryAfterMax; 0 when absent or unreadable.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.Atoi(h); err == nil {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(h); err == nil {
		d = t.Sub(now)
	}
	return max(0, min(d, retryAfterMax))
}

// backoff returns the wait before attempt+1: an exponential delay, half of
// it random.
func backoff(attempt int) time.Duration {
	d := backoffBase << min(attempt-1, 10)
	d = min(d, backoffMax)
	return d/2 + rand.N(d/2+1)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// redactURL drops credentials, the query and the fragment from a URL.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<url>"
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	u.Fragment = ""
	u.RawFragment = ""
	return u.String()
}

func newID() string {
	var b [16]byte
	_, _ = cryptorand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
