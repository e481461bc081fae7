package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

const secret = "s3cr3t-token-value"

// fixture starts h and returns a one-service config pointing at it.
func fixture(t *testing.T, h http.HandlerFunc, retries int) (Config, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return Config{"订单服务": {
		BaseURL: srv.URL + "/api/",
		Timeout: Duration(2 * time.Second),
		Retries: retries,
		Headers: map[string]string{"Authorization": "Bearer " + secret},
		Operations: map[string]Operation{
			"查询": {Method: "GET", Path: "/orders/{订单号}"},
			"列表": {Method: "GET", Path: "/orders", Params: []string{"状态", "页"}},
			"取消": {Method: "POST", Path: "/orders/{订单号}/cancel", Params: []string{"订单号", "原因"}},
			"删除": {Method: "DELETE", Path: "/orders/{订单号}", Params: []string{"订单号", "原因"}},
		},
	}}, srv
}

// recorder collects the waits a Client asks for.
type recorder struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (r *recorder) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	r.waits = append(r.waits, d)
	r.mu.Unlock()
	return ctx.Err()
}

func newClient(t *testing.T, cfg Config, deps Deps) (*Client, *recorder) {
	t.Helper()
	rec := &recorder{}
	if deps.Sleep == nil {
		deps.Sleep = rec.sleep
	}
	c, err := New(cfg, deps)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, rec
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func TestGetChinesePathAndQuery(t *testing.T) {
	var gotPath, gotID, gotAuth, gotQuery, gotIdem string
	cfg, _ := fixture(t, func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotAuth, gotQuery = r.URL.EscapedPath(), r.Header.Get("Authorization"), r.URL.RawQuery
		gotIdem = r.Header.Get("Idempotency-Key")
		gotID = strings.TrimPrefix(r.URL.Path, "/api/orders/")
		writeJSON(w, 200, map[string]any{"状态": "已签收", "签收天数": 3})
	}, 0)
	c, _ := newClient(t, cfg, Deps{})
	got, err := c.Call(context.Background(), "订单服务", "查询", map[string]any{"订单号": "A1/中文 1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := "/api/orders/A1%2F%E4%B8%AD%E6%96%87%201"; gotPath != want {
		t.Errorf("path = %s, want %s", gotPath, want)
	}
	if gotID != "A1/中文 1" {
		t.Errorf("decoded id = %q", gotID)
	}
	if gotAuth != "Bearer "+secret {
		t.Errorf("Authorization = %q", gotAuth)
	}
	if gotQuery != "" || gotIdem != "" {
		t.Errorf("query = %q, Idempotency-Key = %q; want none", gotQuery, gotIdem)
	}
	want := map[string]any{"状态": "已签收", "签收天数": float64(3)}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("result = %#v, want %#v", got, want)
	}

	// Remaining arguments of a GET go to the query string; numbers print
	// without exponents.
	if _, err := c.Call(context.Background(), "订单服务", "列表", map[string]any{"状态": "已发货", "页": 12345.0}, 0); err != nil {
		t.Fatal(err)
	}
	if want := "%E7%8A%B6%E6%80%81=%E5%B7%B2%E5%8F%91%E8%B4%A7&%E9%A1%B5=12345"; gotQuery != want {
		t.Errorf("query = %s, want %s", gotQuery, want)
	}
	if _, err := c.Call(context.Background(), "订单服务", "删除", map[string]any{"订单号": "A1", "原因": []any{"重复", 2}}, 0); err != nil {
		t.Fatal(err)
	}
	if want := "%E5%8E%9F%E5%9B%A0=%E9%87%8D%E5%A4%8D&%E5%8E%9F%E5%9B%A0=2"; gotQuery != want {
		t.Errorf("DELETE query = %s, want %s", gotQuery, want)
	}
}

func TestPostBody(t *testing.T) {
	var body map[string]any
	var ctype, idem, path string
	cfg, _ := fixture(t, func(w http.ResponseWriter, r *http.Request) {
		ctype, idem, path = r.Header.Get("Content-Type"), r.Header.Get("Idempotency-Key"), r.URL.Path
		body = nil
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Error(err)
		}
		w.WriteHeader(http.StatusNoContent)
	}, 0)
	c, _ := newClient(t, cfg, Deps{})
	got, err := c.Call(context.Background(), "订单服务", "取消", map[string]any{"订单号": "A2", "原因": "不想要了"}, 0)
	if err != nil || got != nil {
		t.Fatalf("Call = %v, %v; want nil, nil", got, err)
	}
	if want := map[string]any{"原因": "不想要了"}; !reflect.DeepEqual(body, want) {
		t.Errorf("body = %v, want %v", body, want)
	}
	if path != "/api/orders/A2/cancel" || !strings.HasPrefix(ctype, "application/json") || len(idem) != 32 {
		t.Errorf("path %q, Content-Type %q, Idempotency-Key %q", path, ctype, idem)
	}
	// No remaining arguments: an empty object.
	if _, err := c.Call(context.Background(), "订单服务", "取消", map[string]any{"订单号": "A2"}, 0); err != nil {
		t.Fatal(err)
	}
	if len(body) != 0 {
		t.Errorf("body = %v, want {}", body)
	}
}

func TestRetry503ThenSuccess(t *testing.T) {
	var attempts atomic.Int32
	var keys sync.Map
	cfg, _ := fixture(t, func(w http.ResponseWriter, r *http.Request) {
		keys.Store(r.Header.Get("Idempotency-Key"), true)
		if attempts.Add(1) <= 2 {
			writeJSON(w, 503, map[string]any{"error": "busy"})
			return
		}
		writeJSON(w, 200, map[string]any{"ok": true})
	}, 2)
	c, rec := newClient(t, cfg, Deps{})
	got, err := c.Call(context.Background(), "订单服务", "取消", map[string]any{"订单号": "A1"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, map[string]any{"ok": true}) {
		t.Errorf("result = %v", got)
	}
	if n := attempts.Load(); n != 3 {
		t.Errorf("attempts = %d, want 3", n)
	}
	n := 0
	keys.Range(func(any, any) bool { n++; return true })
	if n != 1 {
		t.Errorf("%d distinct Idempotency-Keys across retries, want 1", n)
	}
	if len(rec.waits) != 2 {
		t.Fatalf("waits = %v, want 2", rec.waits)
	}
	// Backoff with jitter: 100–200ms, then 200–400ms.
	if w := rec.waits[0]; w < 100*time.Millisecond || w > 200*time.Millisecond {
		t.Errorf("first wait %v outside [100ms, 200ms]", w)
	}
	if w := rec.waits[1]; w < 200*time.Millisecond || w > 400*time.Millisecond {
		t.Errorf("second wait %v outside [200ms, 400ms]", w)
	}
}

func TestRetriesExhausted(t *testing.T) {
	var attempts atomic.Int32
	cfg, _ := fixture(t, func(w http.ResponseWriter, r *http.Request) {
		attempts.Add(1)
		writeJSON(w, 502, map[string]any{"error": "bad gateway"})
	}, 1)
	c, _ := newClient(t, cfg, Deps{})
	_, err := c.Call(context.Background(), "订单服务", "查询", map[string]any{"订单号": "A1"}, 0)
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindUnavailable || e.Status != 502 || e.Attempts != 2 {
		t.Fatalf("err = %#v", err)
	}
	if want := "service 订单服务.查询: unavailable: HTTP 502 (2 attempts)"; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
	if attempts.Load() != 2 {
		t.Errorf("attempts = %d, want 2", attempts.Load())
	}
}

func TestNoRetryOn4xx(t *testing.T) {
	for _, tc := range []struct {
		status int
		kind   Kind
		text   string
	}{
		{400, KindRejected, "service 订单服务.取消: rejected (HTTP 400)"},
		{409, KindRejected, "service 订单服务.取消: rejected (HTTP 409)"},
		{404, KindNotFound, "service 订单服务.取消: not found (HTTP 404)"},
	} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			var attempts atomic.Int32
			cfg, _ := fixture(t, func(w http.ResponseWriter, r *http.Request) {
				attempts.Add(1)
				writeJSON(w, tc.status, map[string]any{"error": "订单已发货，无法取消"})
			}, 3)
			c, rec := newClient(t, cfg, Deps{})
			_, err := c.Call(context.Background(), "订单服务", "取消", map[string]any{"订单号": "A1"}, 0)
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if e.Kind != tc.kind || e.Status != tc.status || KindOf(err) != tc.kind {
				t.Errorf("kind %s status %d, want %s %d", e.Kind, e.Status, tc.kind, tc.status)
			}
			if err.Error() != tc.text {
				t.Errorf("Error() = %q, want %q", err.Error(), tc.text)
			}
			if want := map[string]any{"error": "订单已发货，无法取消"}; !reflect.DeepEqual(e.Body, want) {
				t.Errorf("Body = %v", e.Body)
			}
			if attempts.Load() != 1 || len(rec.waits) != 0 {
				t.Errorf("attempts %d, waits %v; want 1 attempt, no wait", attempts.Load(), rec.waits)
			}
		})
	}
}

// slow answers after 10s unless the request is abandoned first.
func slow(w http.ResponseWriter, r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(10 * time.Second):
		writeJSON(w, 200, "late")
	}
}

func TestTimeoutPerAttempt(t *testing.T) {
	cfg, _ := fixture(t, slow, 1)
	c, rec := newClient(t, cfg, Deps{})
	start := time.Now()
	_, err := c.Call(context.Background(), "订单服务", "查询", map[string]any{"订单号": "A1"}, 50*time.Millisecond)
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("took %v", el)
	}
	var e *Error
	if !errors.As(err, &e) || e.Kind != KindTimeout || e.Timeout != 50*time.Millisecond {
		t.Fatalf("err = %v", err)
	}
	if want := "service 订单服务.查询: timeout after 50ms (2 attempts)"; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Error("errors.Is(err, context.DeadlineExceeded) = false")
	}
	if len(rec.waits) != 1 {
		t.Errorf("waits = %v, want one retry", rec.waits)
	}
}

func TestCallerDeadline(t *testing.T) {
	cfg, _ := fixture(t, slow, 3)
	c, rec := newClient(t, cfg, Deps{})
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Call(ctx, "订单服务", "查询", map[string]any{"订单号": "A1"}, 0) // 2s per attempt
	if el := time.Since(start); el > time.Second {
		t.Errorf("took %v; the caller's 100ms deadline was not respected", el)
	}
	if KindOf(err) != KindTimeout || len(rec.waits) != 0 {
		t.Fatalf("err = %v, waits %v", err, rec.waits)
	}
	if want := "service 订单服务.查询: timeout: the caller's deadline passed"; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}

	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	_, err = c.Call(ctx, "订单服务", "查询", map[string]any{"订单号": "A1"}, 0)
	if KindOf(err) != KindCanceled || !errors.Is(err, context.Canceled) {
		t.Errorf("canceled ctx: err = %v", err)
	}
}

func TestNoWaitPastDeadline(t *testing.T) {
	cfg, _ := fixture(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "20")
		w.WriteHeader(503)
	}, 3)
	c, rec := newClient(t, cfg, Deps{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.Call(ctx, "订单服务", "查询", map[string]any{"订单号": "A1"}, 0)
	if KindOf(err) != KindUnavailable || len(rec.waits) != 0 {
		t.Errorf("err = %v, waits = %v; want unavailable without waiting 20s past a 5s deadline", err, rec.waits)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		header string
		want   time.Duration
	}{
		{"1", time.Second},
		{now.Add(3 * time.Second).Format(http.TimeFormat), 3 * time.Second},
		{"3600", retryAfterMax},
		{"-5", 0},
	} {
		t.Run(tc.header, func(t *testing.T) {
			var attempts atomic.Int32
			cfg, _ := fixture(t, func(w http.ResponseWriter, r *http.Request) {
				if attempts.Add(1) == 1 {
					w.Header().Set("Retry-After", tc.header)
					w.WriteHeader(429)
					return
				}
				writeJSON(w, 200, 1)
			}, 1)
			c, rec := newClient(t, cfg, Deps{Now: func() time.Time { return now }})
			got, err := c.Call(context.Background(), "订单服务", "查询", map[string]any{"订单号": "A1"}, 0)
			if err != nil || got != float64(1) {
				t.Fatalf("Call = %v, %v", got, err)
			}
			if len(rec.waits) != 1 {
				t.Fatalf("waits = %v", rec.waits)
			}
			if tc.want > 0 && rec.waits[0] != tc.want {
				t.Errorf("wait = %v, want %v", rec.waits[0], tc.want)
			}
			if tc.want == 0 && rec.waits[0] > backoffBase { // unreadable: plain backoff
				t.Errorf("wait = %v, want backoff", rec.waits[0])
			}
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestSecretsNeverLeak(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg, _ := fixture(t, func(w http.ResponseWriter, r *http.Request) {
		// A careless server echoing the request headers.
		writeJSON(w, 503, map[string]any{"error": "bad token " + r.Header.Get("Authorization")})
	}, 1)
	c, _ := newClient(t, cfg, Deps{Logger: logger})
	_, err := c.Call(context.Background(), "订单服务", "列表", map[string]any{"状态": "已发货"}, 0)
	if err == nil {
		t.Fatal("want an error")
	}
	var e *Error
	if !errors.As(err, &e) || fmt.Sprint(e.Body) != "map[error:bad token <secret>]" {
		t.Errorf("Body = %v, want the echoed token redacted", e.Body)
	}
	texts := []string{err.Error(), fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg["订单服务"]), logs.String()}

	// A transport whose error quotes the token, and a URL with a query.
	http := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return nil, errors.New("proxy refused header " + r.Header.Get("Authorization"))
	})}
	c2, _ := newClient(t, cfg, Deps{HTTP: http, Logger: logger})
	_, err = c2.Call(context.Background(), "订单服务", "列表", map[string]any{"状态": "手机13800000000"}, 0)
	if KindOf(err) != KindUnavailable {
		t.Fatalf("err = %v", err)
	}
	texts = append(texts, err.Error(), logs.String())
	if !strings.Contains(err.Error(), "<secret>") || strings.Contains(err.Error(), "13800000000") {
		t.Errorf("transport error not redacted: %s", err)
	}
	for _, s := range texts {
		if strings.Contains(s, secret) {
			t.Errorf("secret leaked: %s", s)
		}
	}
	if !strings.Contains(logs.String(), "service call failed, retrying") {
		t.Errorf("no retry warning logged:\n%s", logs.String())
	}
}

func TestResponses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ctype string
		body  string
		want  any
		kind  Kind
	}{
		{"object", "application/json", `{"a":[1,"x",null,true]}`, map[string]any{"a": []any{float64(1), "x", nil, true}}, ""},
		{"no content type", "", `[1]`, []any{float64(1)}, ""},
		{"problem json", "application/problem+json", `"x"`, "x", ""},
		{"empty", "application/json", "", nil, ""},
		{"text", "text/plain", "OK", nil, ""},
		{"invalid", "application/json", `{"a":`, nil, KindBadResponse},
		{"trailing", "application/json", `{} {}`, nil, KindBadResponse},
		{"too big", "application/json", `"` + strings.Repeat("x", MaxBodyBytes) + `"`, nil, KindBadResponse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := fixture(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.ctype != "" {
					w.Header().Set("Content-Type", tc.ctype)
				} else {
					w.Header()["Content-Type"] = nil // no sniffing
				}
				io.WriteString(w, tc.body)
			}, 2)
			c, _ := newClient(t, cfg, Deps{})
			got, err := c.Call(context.Background(), "订单服务", "查询", map[string]any{"订单号": "A1"}, 0)
			if KindOf(err) != tc.kind {
				t.Fatalf("err = %v, want kind %q", err, tc.kind)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "service 订单服务.查询: bad response: HTTP 200 with ") {
				t.Errorf("Error() = %q", err.Error())
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("result = %#v, want %#v", got, tc.want)
			}
		})
	}
}

func TestBindAndArgs(t *testing.T) {
	cfg, _ := fixture(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, nil) }, 0)
	c, _ := newClient(t, cfg, Deps{})
	args, err := c.Bind("订单服务", "取消", []any{"A1", "太贵"})
	if want := map[string]any{"订单号": "A1", "原因": "太贵"}; err != nil || !reflect.DeepEqual(args, want) {
		t.Errorf("Bind = %v, %v", args, err)
	}
	args, err = c.Bind("订单服务", "查询", []any{"A1"})
	if want := map[string]any{"订单号": "A1"}; err != nil || !reflect.DeepEqual(args, want) {
		t.Errorf("Bind = %v, %v", args, err)
	}
	if p, err := c.Params("订单服务", "取消"); err != nil || !reflect.DeepEqual(p, []string{"订单号", "原因"}) {
		t.Errorf("Params = %v, %v", p, err)
	}
	want := map[string][]string{"订单服务": {"列表", "删除", "取消", "查询"}}
	if got := c.Operations(); !reflect.DeepEqual(got, want) {
		t.Errorf("Operations = %v, want %v", got, want)
	}

	for _, tc := range []struct {
		name string
		err  func() error
		kind Kind
		text string
	}{
		{"too many", func() error { _, err := c.Bind("订单服务", "取消", []any{"A1", "x", "y"}); return err },
			KindBadArgs, "service 订单服务.取消: bad args: got 3 arguments, want at most 2 (订单号, 原因)"},
		{"missing placeholder", func() error { _, err := c.Bind("订单服务", "取消", nil); return err },
			KindBadArgs, `service 订单服务.取消: bad args: missing argument "订单号" (want 订单号, 原因)`},
		{"unknown service", func() error { _, err := c.Bind("物流服务", "查询", nil); return err },
			KindUnknown, `service 物流服务.查询: unknown: no service "物流服务" (have: 订单服务)`},
		{"unknown op", func() error { _, err := c.Params("订单服务", "查xun"); return err },
			KindUnknown, `service 订单服务.查xun: unknown: service 订单服务 has no operation "查xun" (have: 列表, 删除, 取消, 查询)`},
		{"unknown arg", func() error {
			_, err := c.Call(context.Background(), "订单服务", "取消", map[string]any{"订单号": "A1", "原由": "x"}, 0)
			return err
		}, KindBadArgs, `service 订单服务.取消: bad args: unknown argument "原由" (params: 订单号, 原因)`},
		{"nil placeholder", func() error {
			_, err := c.Call(context.Background(), "订单服务", "查询", map[string]any{"订单号": nil}, 0)
			return err
		}, KindBadArgs, `service 订单服务.查询: bad args: missing argument "订单号" (the path needs it)`},
		{"empty placeholder", func() error {
			_, err := c.Call(context.Background(), "订单服务", "查询", map[string]any{"订单号": ""}, 0)
			return err
		}, KindBadArgs, `service 订单服务.查询: bad args: argument "订单号" is empty`},
		{"object in path", func() error {
			_, err := c.Call(context.Background(), "订单服务", "查询", map[string]any{"订单号": map[string]any{}}, 0)
			return err
		}, KindBadArgs, `service 订单服务.查询: bad args: argument "订单号": a map[string]interface {} cannot go in the path`},
		{"object in query", func() error {
			_, err := c.Call(context.Background(), "订单服务", "列表", map[string]any{"状态": map[string]any{}}, 0)
			return err
		}, KindBadArgs, `service 订单服务.列表: bad args: argument "状态": a map[string]interface {} cannot go in a query string`},
		{"unencodable body", func() error {
			_, err := c.Call(context.Background(), "订单服务", "取消", map[string]any{"订单号": "A1", "原因": func() {}}, 0)
			return err
		}, KindBadArgs, "service 订单服务.取消: bad args: encoding the body: json: unsupported type: func()"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err()
			if KindOf(err) != tc.kind || err.Error() != tc.text {
				t.Errorf("err = %q (kind %q)\nwant %q (kind %q)", err, KindOf(err), tc.text, tc.kind)
			}
		})
	}
}

func TestNetworkError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close() // nothing listens there now
	c, rec := newClient(t, Config{"s": {BaseURL: base, Retries: 1, Operations: map[string]Operation{"op": {Method: "GET", Path: "/x"}}}}, Deps{})
	_, err := c.Call(context.Background(), "s", "op", nil, 0)
	if KindOf(err) != KindUnavailable || len(rec.waits) != 1 {
		t.Fatalf("err = %v, waits %v", err, rec.waits)
	}
	if !strings.HasPrefix(err.Error(), `service s.op: unavailable: Get "`+base+`/x": `) {
		t.Errorf("Error() = %q", err.Error())
	}
}

func TestValidate(t *testing.T) {
	ok := func() ServiceConfig {
		return ServiceConfig{
			BaseURL:    "http://127.0.0.1:8081/api",
			Operations: map[string]Operation{"查询": {Method: "GET", Path: "/orders/{订单号}"}},
		}
	}
	with := func(f func(*ServiceConfig)) Config {
		s := ok()
		f(&s)
		return Config{"订单服务": s}
	}
	op := func(o Operation) Config {
		return with(func(s *ServiceConfig) { s.Operations["查询"] = o })
	}
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"ok", Config{"订单服务": ok()}, ""},
		{"empty", Config{}, ""},
		{"no base", with(func(s *ServiceConfig) { s.BaseURL = "" }),
			"services.订单服务.base_url: is required: an absolute http(s) URL such as http://127.0.0.1:8081/api"},
		{"relative", with(func(s *ServiceConfig) { s.BaseURL = "/api" }), "services.订单服务.base_url: must be an absolute http(s) URL"},
		{"ftp", with(func(s *ServiceConfig) { s.BaseURL = "ftp://x/api" }), "services.订单服务.base_url: must be an absolute http(s) URL"},
		{"bad url", with(func(s *ServiceConfig) { s.BaseURL = "http://[::1" }), "services.订单服务.base_url: must be an absolute http(s) URL"},
		{"userinfo", with(func(s *ServiceConfig) { s.BaseURL = "http://u:" + secret + "@x/api" }),
			"services.订单服务.base_url: must not contain credentials; put them in headers"},
		{"query", with(func(s *ServiceConfig) { s.BaseURL = "http://x/api?key=" + secret }),
			"services.订单服务.base_url: must not have a query or fragment; put tokens in headers"},
		{"timeout", with(func(s *ServiceConfig) { s.Timeout = -1 }), "services.订单服务.timeout: must not be negative"},
		{"retries", with(func(s *ServiceConfig) { s.Retries = 9 }), "services.订单服务.retries: must be between 0 and 5"},
		{"header name", with(func(s *ServiceConfig) { s.Headers = map[string]string{"X Token": secret} }),
			"services.订单服务.headers.X Token: is not a valid HTTP header name"},
		{"header value", with(func(s *ServiceConfig) { s.Headers = map[string]string{"X-Token": secret + "\r\nX: y"} }),
			"services.订单服务.headers.X-Token: value must not contain control characters or line breaks"},
		{"no ops", with(func(s *ServiceConfig) { s.Operations = nil }), "services.订单服务.operations: at least one operation is required"},
		{"method", op(Operation{Method: "get", Path: "/x"}),
			"services.订单服务.operations.查询.method: must be GET, POST, PUT, PATCH or DELETE"},
		{"no path", op(Operation{Method: "GET"}), `services.订单服务.operations.查询.path: is required, e.g. "/orders/{订单号}"`},
		{"path slash", op(Operation{Method: "GET", Path: "orders"}), `services.订单服务.operations.查询.path: must start with "/"`},
		{"path query", op(Operation{Method: "GET", Path: "/orders?x=1"}),
			"services.订单服务.operations.查询.path: must not have a query or fragment; arguments of GET and DELETE go to the query string"},
		{"unclosed", op(Operation{Method: "GET", Path: "/orders/{订单号"}), `services.订单服务.operations.查询.path: unclosed "{" in "/orders/{订单号"`},
		{"unmatched", op(Operation{Method: "GET", Path: "/orders/}"}), `services.订单服务.operations.查询.path: unmatched "}" in "/orders/}"`},
		{"empty hole", op(Operation{Method: "GET", Path: "/orders/{}"}), `services.订单服务.operations.查询.path: placeholder name must not be empty`},
		{"twice", op(Operation{Method: "GET", Path: "/{a}/{a}"}), `services.订单服务.operations.查询.path: placeholder {a} appears twice`},
		{"params miss hole", op(Operation{Method: "GET", Path: "/orders/{订单号}", Params: []string{"页"}}),
			`services.订单服务.operations.查询.params: must include the path placeholder "订单号"`},
		{"dup param", op(Operation{Method: "POST", Path: "/x", Params: []string{"a", "a"}}),
			`services.订单服务.operations.查询.params[1]: duplicate param "a"`},
		{"dotted service", Config{"订单.服务": ok()},
			`services.订单.服务: service name "订单.服务" must not contain spaces, dots, brackets, commas, slashes or quotes`},
		{"all sorted", with(func(s *ServiceConfig) { s.Retries = -1; s.BaseURL = "" }),
			"services.订单服务.base_url: is required: an absolute http(s) URL such as http://127.0.0.1:8081/api\nservices.订单服务.retries: must be between 0 and 5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("Validate() = %q\nwant %q", got, tc.want)
			}
			if strings.Contains(got, secret) {
				t.Errorf("secret in error: %s", got)
			}
			if _, err := New(tc.cfg, Deps{}); (err == nil) != (tc.want == "") || err != nil && err.Error() != "service: "+tc.want {
				t.Errorf("New() error = %v", err)
			}
		})
	}
}

func TestYAML(t *testing.T) {
	const src = `
订单服务:
  base_url: http://127.0.0.1:8081/api
  timeout: 2s
  retries: 1
  headers: {Authorization: "Bearer x"}
  operations:
    查询:   {method: GET,  path: "/orders/{订单号}"}
    取消:   {method: POST, path: "/orders/{订单号}/cancel", params: [订单号, 原因]}
`
	var cfg Config
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	s := cfg["订单服务"]
	if s.Timeout.Std() != 2*time.Second || s.Retries != 1 || s.Operations["取消"].Params[1] != "原因" {
		t.Errorf("decoded %v", s)
	}
	out, err := yaml.Marshal(s.Timeout)
	if err != nil || string(out) != "2s\n" {
		t.Errorf("MarshalYAML = %q, %v", out, err)
	}

	for _, bad := range []string{
		"s: {base_url: http://x, tmeout: 2s}",
		"s: {base_url: http://x, timeout: 2}",
		"s: {base_url: http://x, timeout: [1]}",
		"s: {operations: {q: {method: GET, path: /x, parms: [a]}}}",
	} {
		var cfg Config
		dec := yaml.NewDecoder(strings.NewReader(bad))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err == nil {
			t.Errorf("%s: decoded without error", bad)
		}
	}
}

func TestConfigNotShared(t *testing.T) {
	cfg, _ := fixture(t, func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, r.URL.Path) }, 0)
	c, _ := newClient(t, cfg, Deps{})
	cfg["订单服务"].Operations["查询"] = Operation{Method: "GET", Path: "/changed"}
	got, err := c.Call(context.Background(), "订单服务", "查询", map[string]any{"订单号": "A1"}, 0)
	if err != nil || got != "/api/orders/A1" {
		t.Errorf("Call = %v, %v; the client must not see later config changes", got, err)
	}
}
