package api

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
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/kefu-chat/kefu/models/evaluate"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kefu-chat/kefu/models"
)

// fakeClassifier is a models.Classifier whose behaviour is a function field.
type fakeClassifier struct {
	classify func(ctx context.Context, text string) (models.Prediction, error)
}

func (f *fakeClassifier) Classify(ctx context.Context, text string) (models.Prediction, error) {
	return f.classify(ctx, text)
}

var _ models.Classifier = (*fakeClassifier)(nil)

// fixed returns a classifier that always answers p.
func fixed(p models.Prediction) *fakeClassifier {
	return &fakeClassifier{classify: func(context.Context, string) (models.Prediction, error) { return p, nil }}
}

// failing returns a classifier that always fails with err.
func failing(err error) *fakeClassifier {
	return &fakeClassifier{classify: func(context.Context, string) (models.Prediction, error) {
		return models.Prediction{}, err
	}}
}

var refund = models.Prediction{
	Intent:  models.Intent{Name: "退货", Confidence: 0.875},
	Ranking: []models.Intent{{Name: "退货", Confidence: 0.875}, {Name: "换货", Confidence: 0.125}},
}

// lockedBuffer is an io.Writer safe for the concurrent log writes of a
// running server.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newLogger returns a debug-level text logger writing to a buffer.
func newLogger() (*slog.Logger, *lockedBuffer) {
	buf := new(lockedBuffer)
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// request is one test request. Content-Type defaults to application/json
// for bodies; set contentType to "-" to send none.
type request struct {
	method, path, body string
	contentType        string
	header             map[string]string
}

func serve(h http.Handler, req request) *httptest.ResponseRecorder {
	if req.method == "" {
		req.method = http.MethodPost
	}
	if req.path == "" {
		req.path = "/v1/classify"
	}
	r := httptest.NewRequest(req.method, req.path, strings.NewReader(req.body))
	switch req.contentType {
	case "":
		r.Header.Set("Content-Type", "application/json")
	case "-":
	default:
		r.Header.Set("Content-Type", req.contentType)
	}
	for k, v := range req.header {
		r.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

// parseEnvelope decodes body strictly as the error envelope and checks that
// every field is set.
func parseEnvelope(body []byte) (envelopeError, error) {
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		return envelopeError{}, fmt.Errorf("body %q is not the envelope: %v", body, err)
	}
	if dec.More() {
		return envelopeError{}, fmt.Errorf("body %q has data after the envelope", body)
	}
	e := env.Error
	if e.Code == "" || e.Message == "" || e.RequestID == "" {
		return envelopeError{}, fmt.Errorf("envelope %+v has an empty field", e)
	}
	if _, ok := statusOf[e.Code]; !ok {
		return envelopeError{}, fmt.Errorf("envelope code %q is not in the table", e.Code)
	}
	return e, nil
}

// wantError checks that rec is the envelope with the given status and code.
func wantError(t *testing.T, rec *httptest.ResponseRecorder, status int, code string) envelopeError {
	t.Helper()
	if rec.Code != status {
		t.Errorf("status = %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	e, err := parseEnvelope(rec.Body.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if e.Code != code {
		t.Errorf("code = %q, want %q (message %q)", e.Code, code, e.Message)
	}
	if got := rec.Header().Get(HeaderRequestID); got != e.RequestID {
		t.Errorf("envelope request_id %q != %s header %q", e.RequestID, HeaderRequestID, got)
	}
	return e
}

func TestClassifyOK(t *testing.T) {
	var gotText string
	clf := &fakeClassifier{classify: func(_ context.Context, text string) (models.Prediction, error) {
		gotText = text
		return models.Prediction{
			Intent:  models.Intent{Name: "退货<refund>", Confidence: 0.875},
			Ranking: []models.Intent{{Name: "退货<refund>", Confidence: 0.875}, {Name: "换货", Confidence: 0.125}},
		}, nil
	}}
	h := New(Options{Classifier: clf})
	rec := serve(h, request{body: `{"text":"我要退货 & <b>"}`})

	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d; body %s", rec.Code, rec.Body)
	}
	if gotText != "我要退货 & <b>" {
		t.Errorf("classifier got %q", gotText)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
		t.Errorf("Content-Type = %q", ct)
	}
	// Exact bytes: Chinese and '<' are not escaped.
	const want = `{"intent":{"name":"退货<refund>","confidence":0.875},` +
		`"ranking":[{"name":"退货<refund>","confidence":0.875},{"name":"换货","confidence":0.125}],` +
		`"oos":false}` + "\n"
	if got := rec.Body.String(); got != want {
		t.Errorf("body:\n got %s\nwant %s", got, want)
	}
}

func TestClassifyResponseShape(t *testing.T) {
	ranked := func(n int) []models.Intent {
		r := make([]models.Intent, n)
		for i := range r {
			r[i] = models.Intent{Name: fmt.Sprintf("i%d", i), Confidence: float32(n-i) / 64}
		}
		return r
	}
	tests := []struct {
		name        string
		pred        models.Prediction
		wantRanking []string
		wantOOS     bool
	}{
		{"capped at five", models.Prediction{Intent: ranked(8)[0], Ranking: ranked(8)}, []string{"i0", "i1", "i2", "i3", "i4"}, false},
		{"exactly five", models.Prediction{Intent: ranked(5)[0], Ranking: ranked(5)}, []string{"i0", "i1", "i2", "i3", "i4"}, false},
		{"fewer than five", models.Prediction{Intent: ranked(2)[0], Ranking: ranked(2)}, []string{"i0", "i1"}, false},
		{"nil ranking is an empty array", models.Prediction{Intent: models.Intent{Name: "x", Confidence: 1}}, []string{}, false},
		{"out of scope", models.Prediction{Intent: models.Intent{Name: models.OOS, Confidence: 0.25}, Ranking: ranked(3), OOS: true}, []string{"i0", "i1", "i2"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(New(Options{Classifier: fixed(tt.pred)}), request{body: `{"text":"hi"}`})
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d; body %s", rec.Code, rec.Body)
			}
			var got struct {
				Intent  *models.Intent  `json:"intent"`
				Ranking []models.Intent `json:"ranking"`
				OOS     *bool           `json:"oos"`
			}
			dec := json.NewDecoder(rec.Body)
			dec.DisallowUnknownFields()
			if err := dec.Decode(&got); err != nil {
				t.Fatal(err)
			}
			if got.Ranking == nil {
				t.Fatalf("ranking is missing or null")
			}
			names := []string{}
			for _, in := range got.Ranking {
				names = append(names, in.Name)
			}
			if fmt.Sprint(names) != fmt.Sprint(tt.wantRanking) || len(names) != len(tt.wantRanking) {
				t.Errorf("ranking = %v, want %v", names, tt.wantRanking)
			}
			if got.Intent == nil || *got.Intent != tt.pred.Intent {
				t.Errorf("intent = %+v, want %+v", got.Intent, tt.pred.Intent)
			}
			if got.OOS == nil || *got.OOS != tt.wantOOS {
				t.Errorf("oos = %v, want %v", got.OOS, tt.wantOOS)
			}
		})
	}
}

func TestClassifyAcceptedRequests(t *testing.T) {
	tests := []struct {
		name string
		req  request
	}{
		{"no content type", request{body: `{"text":"hi"}`, contentType: "-"}},
		{"charset param", request{body: `{"text":"hi"}`, contentType: "application/json; charset=UTF-8"}},
		{"max runes of Chinese", request{body: `{"text":"` + strings.Repeat("退", 2000) + `"}`}},
		{"surrounding whitespace", request{body: " \n{\"text\":\"hi\"}\n\t "}},
		{"escaped unicode", request{body: `{"text":"\u9000\u8d27"}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(New(Options{Classifier: fixed(refund)}), tt.req)
			if rec.Code != http.StatusOK {
				t.Errorf("status = %d, want 200; body %s", rec.Code, rec.Body)
			}
		})
	}
}

func TestClassifyErrors(t *testing.T) {
	tests := []struct {
		name       string
		opts       Options // Classifier defaults to fixed(refund)
		req        request
		wantStatus int
		wantCode   string
		wantMsg    string // substring of the message
	}{
		{name: "truncated JSON", req: request{body: `{"text":`},
			wantStatus: 400, wantCode: CodeInvalidJSON, wantMsg: "unexpected end"},
		{name: "syntax error reports offset", req: request{body: `{text:"hi"}`},
			wantStatus: 400, wantCode: CodeInvalidJSON, wantMsg: "at byte 2"},
		{name: "trailing object", req: request{body: `{"text":"hi"} {"text":"again"}`},
			wantStatus: 400, wantCode: CodeInvalidJSON, wantMsg: "after the JSON value"},
		{name: "trailing garbage", req: request{body: `{"text":"hi"}x`},
			wantStatus: 400, wantCode: CodeInvalidJSON, wantMsg: "after the JSON value"},
		{name: "unknown field", req: request{body: `{"txt":"hi"}`},
			wantStatus: 400, wantCode: CodeUnknownField, wantMsg: `"txt"`},
		{name: "wrong type", req: request{body: `{"text":123}`},
			wantStatus: 400, wantCode: CodeInvalidArgument, wantMsg: `"text" must be a string`},
		{name: "not an object", req: request{body: `["hi"]`},
			wantStatus: 400, wantCode: CodeInvalidArgument, wantMsg: "JSON object"},
		{name: "empty body", req: request{body: ``},
			wantStatus: 400, wantCode: CodeInvalidJSON, wantMsg: "empty"},
		{name: "whitespace body", req: request{body: " \r\n\t"},
			wantStatus: 400, wantCode: CodeInvalidJSON, wantMsg: "empty"},
		{name: "missing text", req: request{body: `{}`},
			wantStatus: 400, wantCode: CodeTextEmpty},
		{name: "null text", req: request{body: `{"text":null}`},
			wantStatus: 400, wantCode: CodeTextEmpty},
		{name: "null body", req: request{body: `null`},
			wantStatus: 400, wantCode: CodeTextEmpty},
		{name: "empty text", req: request{body: `{"text":""}`},
			wantStatus: 400, wantCode: CodeTextEmpty},
		{name: "whitespace text", req: request{body: "{\"text\":\" \\t\\n\u3000 \"}"},
			wantStatus: 400, wantCode: CodeTextEmpty},
		{name: "too long counts runes", req: request{body: `{"text":"` + strings.Repeat("退", 2001) + `"}`},
			wantStatus: 400, wantCode: CodeTextTooLong, wantMsg: "limit is 2000"},
		{name: "custom rune limit", opts: Options{MaxTextRunes: 3}, req: request{body: `{"text":"abcd"}`},
			wantStatus: 400, wantCode: CodeTextTooLong, wantMsg: "limit is 3"},
		{name: "invalid UTF-8", req: request{body: "{\"text\":\"\xff\xfe退\"}"},
			wantStatus: 400, wantCode: CodeInvalidUTF8},
		{name: "body over limit", req: request{body: `{"text":"` + strings.Repeat("a", 1<<20) + `"}`},
			wantStatus: 413, wantCode: CodeBodyTooLarge, wantMsg: "1048576 bytes"},
		{name: "custom body limit", opts: Options{MaxBodyBytes: 16}, req: request{body: `{"text":"0123456789"}`},
			wantStatus: 413, wantCode: CodeBodyTooLarge, wantMsg: "16 bytes"},
		{name: "wrong content type", req: request{body: `{"text":"hi"}`, contentType: "text/plain"},
			wantStatus: 415, wantCode: CodeUnsupportedMediaType},
		{name: "form content type", req: request{body: `text=hi`, contentType: "application/x-www-form-urlencoded"},
			wantStatus: 415, wantCode: CodeUnsupportedMediaType},
		{name: "wrong charset", req: request{body: `{"text":"hi"}`, contentType: "application/json; charset=latin1"},
			wantStatus: 415, wantCode: CodeUnsupportedMediaType},
		{name: "malformed content type", req: request{body: `{"text":"hi"}`, contentType: "application/json; ="},
			wantStatus: 415, wantCode: CodeUnsupportedMediaType},
		{name: "unknown route", req: request{method: "GET", path: "/v1/nope"},
			wantStatus: 404, wantCode: CodeNotFound, wantMsg: "/v1/nope"},
		{name: "GET on classify", req: request{method: "GET"},
			wantStatus: 405, wantCode: CodeMethodNotAllowed, wantMsg: "GET"},
		{name: "no classifier", opts: Options{Classifier: (*fakeClassifier)(nil)}, req: request{body: `{"text":"hi"}`},
			wantStatus: 503, wantCode: CodeNotReady},
		{name: "classifier error", opts: Options{Classifier: failing(errors.New("onnx: /srv/secret.onnx: bad tensor"))},
			req: request{body: `{"text":"hi"}`}, wantStatus: 500, wantCode: CodeInternal, wantMsg: internalMessage},
		{name: "classifier deadline", opts: Options{Classifier: failing(fmt.Errorf("onnx run: %w", context.DeadlineExceeded))},
			req: request{body: `{"text":"hi"}`}, wantStatus: 504, wantCode: CodeDeadlineExceeded},
		{name: "classifier NaN cannot encode", opts: Options{Classifier: fixed(models.Prediction{Intent: models.Intent{Name: "x", Confidence: float32(nan())}})},
			req: request{body: `{"text":"hi"}`}, wantStatus: 500, wantCode: CodeInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			switch c := opts.Classifier.(type) {
			case nil:
				opts.Classifier = fixed(refund)
			case *fakeClassifier:
				if c == nil {
					opts.Classifier = nil // a typed nil stands for "no classifier"
				}
			}
			rec := serve(New(opts), tt.req)
			e := wantError(t, rec, tt.wantStatus, tt.wantCode)
			if !strings.Contains(e.Message, tt.wantMsg) {
				t.Errorf("message %q does not contain %q", e.Message, tt.wantMsg)
			}
		})
	}
}

func nan() float64 {
	var zero float64
	return zero / zero
}

func TestBodyOverLimitWithoutContentLength(t *testing.T) {
	h := New(Options{Classifier: fixed(refund), MaxBodyBytes: 32})
	r := httptest.NewRequest(http.MethodPost, "/v1/classify", strings.NewReader(`{"text":"`+strings.Repeat("a", 100)+`"}`))
	r.ContentLength = -1 // chunked: only MaxBytesReader can catch it
	r.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	wantError(t, rec, http.StatusRequestEntityTooLarge, CodeBodyTooLarge)
}

func TestMethodNotAllowedSetsAllow(t *testing.T) {
	rec := serve(New(Options{}), request{method: http.MethodDelete})
	wantError(t, rec, http.StatusMethodNotAllowed, CodeMethodNotAllowed)
	if got := rec.Header().Get("Allow"); got != "POST" {
		t.Errorf("Allow = %q, want POST", got)
	}
}

func TestInternalErrorLeaksNothing(t *testing.T) {
	logger, logs := newLogger()
	h := New(Options{Classifier: failing(errors.New("dial tcp 10.0.0.7:6379: password=hunter2")), Logger: logger})
	rec := serve(h, request{body: `{"text":"hi"}`, header: map[string]string{HeaderRequestID: "req-1"}})
	e := wantError(t, rec, http.StatusInternalServerError, CodeInternal)
	if e.Message != internalMessage {
		t.Errorf("message = %q, want %q", e.Message, internalMessage)
	}
	for _, leak := range []string{"hunter2", "10.0.0.7", "dial"} {
		if strings.Contains(rec.Body.String(), leak) {
			t.Errorf("body %s leaks %q", rec.Body, leak)
		}
	}
	// The detail goes to the log, tied to the request id.
	if l := logs.String(); !strings.Contains(l, "hunter2") || !strings.Contains(l, "request_id=req-1") || !strings.Contains(l, "level=ERROR") {
		t.Errorf("log lacks the error detail or request id:\n%s", l)
	}
}

func TestTimeout(t *testing.T) {
	clf := &fakeClassifier{classify: func(ctx context.Context, _ string) (models.Prediction, error) {
		<-ctx.Done()
		return models.Prediction{}, ctx.Err()
	}}
	h := New(Options{Classifier: clf, Timeout: 10 * time.Millisecond})
	rec := serve(h, request{body: `{"text":"hi"}`})
	wantError(t, rec, http.StatusGatewayTimeout, CodeDeadlineExceeded)
}

func TestPanicRecovered(t *testing.T) {
	var panicking atomic.Bool
	panicking.Store(true)
	clf := &fakeClassifier{classify: func(context.Context, string) (models.Prediction, error) {
		if panicking.Load() {
			panic("boom in classifier")
		}
		return refund, nil
	}}
	logger, logs := newLogger()
	srv := httptest.NewServer(New(Options{Classifier: clf, Logger: logger}))
	defer srv.Close()

	post := func() (*http.Response, []byte) {
		t.Helper()
		resp, err := http.Post(srv.URL+"/v1/classify", "application/json", strings.NewReader(`{"text":"hi"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}

	resp, body := post()
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("status = %d, want 500", resp.StatusCode)
	}
	e, err := parseEnvelope(body)
	if err != nil {
		t.Fatal(err)
	}
	if e.Code != CodeInternal || e.Message != internalMessage || strings.Contains(string(body), "boom") {
		t.Errorf("envelope = %+v", e)
	}
	l := logs.String()
	if !strings.Contains(l, "boom in classifier") || !strings.Contains(l, "goroutine") || !strings.Contains(l, e.RequestID) {
		t.Errorf("log lacks panic value, stack or request id:\n%s", l)
	}
	if !strings.Contains(l, "status=500") {
		t.Errorf("access log does not record the 500:\n%s", l)
	}

	panicking.Store(false)
	if resp, body := post(); resp.StatusCode != http.StatusOK {
		t.Errorf("after a panic: status = %d, body %s", resp.StatusCode, body)
	}
}

func TestAbortHandlerRepanics(t *testing.T) {
	clf := &fakeClassifier{classify: func(context.Context, string) (models.Prediction, error) {
		panic(http.ErrAbortHandler)
	}}
	h := New(Options{Classifier: clf})
	defer func() {
		if rec := recover(); rec != http.ErrAbortHandler {
			t.Errorf("recovered %v, want http.ErrAbortHandler", rec)
		}
	}()
	serve(h, request{body: `{"text":"hi"}`})
	t.Error("ServeHTTP returned; want it to re-panic")
}

var hexID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func TestRequestID(t *testing.T) {
	tests := []struct {
		name     string
		incoming string // "" sends no header
		wantSame bool   // echoed as is; otherwise a fresh hex id
	}{
		{"none", "", false},
		{"sane", "abc-123_XYZ.42", true},
		{"printable with space", "trace 7", true},
		{"max length", strings.Repeat("a", 128), true},
		{"too long", strings.Repeat("a", 129), false},
		{"non-ASCII", "请求-1", false},
		{"control character", "a\x01b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seen string
			clf := &fakeClassifier{classify: func(ctx context.Context, _ string) (models.Prediction, error) {
				seen = RequestID(ctx)
				return refund, nil
			}}
			req := request{body: `{"text":"hi"}`}
			if tt.incoming != "" {
				req.header = map[string]string{HeaderRequestID: tt.incoming}
			}
			rec := serve(New(Options{Classifier: clf}), req)
			got := rec.Header().Get(HeaderRequestID)
			if tt.wantSame && got != tt.incoming {
				t.Errorf("response id = %q, want %q echoed", got, tt.incoming)
			}
			if !tt.wantSame && !hexID.MatchString(got) {
				t.Errorf("response id = %q, want 32 hex digits", got)
			}
			if seen != got {
				t.Errorf("RequestID(ctx) = %q, header %q", seen, got)
			}
		})
	}

	// Error envelopes carry the id too, and fresh ids differ.
	h := New(Options{})
	a := wantError(t, serve(h, request{method: "GET", path: "/nope"}), 404, CodeNotFound)
	b := wantError(t, serve(h, request{method: "GET", path: "/nope"}), 404, CodeNotFound)
	if a.RequestID == b.RequestID || !hexID.MatchString(a.RequestID) {
		t.Errorf("generated ids %q and %q", a.RequestID, b.RequestID)
	}
	if got := RequestID(context.Background()); got != "" {
		t.Errorf("RequestID(empty ctx) = %q", got)
	}
}

func TestHealth(t *testing.T) {
	tests := []struct {
		name       string
		ready      func() error
		path       string
		wantStatus int
		wantBody   string // exact for 200
		wantMsg    string // envelope message for errors
	}{
		{name: "healthz", path: "/healthz", wantStatus: 200, wantBody: `{"status":"ok"}` + "\n"},
		{name: "healthz while not ready", ready: func() error { return errors.New("x") }, path: "/healthz", wantStatus: 200, wantBody: `{"status":"ok"}` + "\n"},
		{name: "readyz default", path: "/readyz", wantStatus: 200, wantBody: `{"status":"ready"}` + "\n"},
		{name: "readyz ready", ready: func() error { return nil }, path: "/readyz", wantStatus: 200, wantBody: `{"status":"ready"}` + "\n"},
		{name: "readyz not ready", ready: func() error { return errors.New("model 意图 not loaded") }, path: "/readyz", wantStatus: 503, wantMsg: "model 意图 not loaded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(New(Options{Ready: tt.ready}), request{method: "GET", path: tt.path})
			if tt.wantStatus != 200 {
				e := wantError(t, rec, tt.wantStatus, CodeNotReady)
				if e.Message != tt.wantMsg {
					t.Errorf("message = %q, want %q", e.Message, tt.wantMsg)
				}
				return
			}
			if rec.Code != 200 || rec.Body.String() != tt.wantBody {
				t.Errorf("got %d %q, want 200 %q", rec.Code, rec.Body, tt.wantBody)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	const secret = "秘密 secret-user-text-93f1"
	reg := prometheus.NewRegistry()
	logger, logs := newLogger()
	h := New(Options{
		Classifier: fixed(models.Prediction{Intent: models.Intent{Name: models.OOS, Confidence: 0.25}, OOS: true}),
		Registry:   reg,
		Logger:     logger,
		Version:    "v1.2.3",
	})
	serve(h, request{body: `{"text":"` + secret + `"}`})
	serve(h, request{body: `{"text":""}`})
	serve(h, request{method: "GET", path: "/secret-path-93f1?q=" + "secret-query-93f1"})
	serve(h, request{method: "FROBNICATE", path: "/healthz"})

	rec := serve(h, request{method: "GET", path: "/metrics"})
	if rec.Code != 200 {
		t.Fatalf("status = %d", rec.Code)
	}
	body := rec.Body.String()
	for _, want := range []string{
		`kefu_http_requests_total{code="200",method="POST",route="/v1/classify"} 1`,
		`kefu_http_requests_total{code="400",method="POST",route="/v1/classify"} 1`,
		`kefu_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`kefu_http_requests_total{code="405",method="other",`,
		`kefu_http_request_duration_seconds_count{method="POST",route="/v1/classify"} 2`,
		`kefu_classify_duration_seconds_count 1`,
		`kefu_intent_confidence_bucket{le="0.3"} 1`,
		`kefu_intent_confidence_bucket{le="0.2"} 0`,
		`kefu_classify_oos_total 1`,
		`kefu_build_info{version="v1.2.3"} 1`,
		`go_goroutines `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, leak := range []string{"secret", "秘密", "FROBNICATE"} {
		if strings.Contains(body, leak) {
			t.Errorf("/metrics contains %q", leak)
		}
	}
	// The access log has the path by design, but never the body or query.
	for _, leak := range []string{"secret-user-text", "秘密", "secret-query"} {
		if strings.Contains(logs.String(), leak) {
			t.Errorf("log contains %q:\n%s", leak, logs)
		}
	}
	if !strings.Contains(logs.String(), "path=/v1/classify") {
		t.Errorf("access log lacks the path:\n%s", logs)
	}
}

func TestNewSharesRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	h1 := New(Options{Registry: reg, Classifier: fixed(refund)})
	h2 := New(Options{Registry: reg, Classifier: fixed(refund)}) // must not panic
	serve(h1, request{body: `{"text":"a"}`})
	serve(h2, request{body: `{"text":"b"}`})
	body := serve(h1, request{method: "GET", path: "/metrics"}).Body.String()
	if !strings.Contains(body, `kefu_http_requests_total{code="200",method="POST",route="/v1/classify"} 2`) {
		t.Errorf("metrics not shared:\n%s", body)
	}
}

func TestConcurrentClassify(t *testing.T) {
	clf := &fakeClassifier{classify: func(_ context.Context, text string) (models.Prediction, error) {
		in := models.Intent{Name: "echo:" + text, Confidence: 0.5}
		return models.Prediction{Intent: in, Ranking: []models.Intent{in}}, nil
	}}
	reg := prometheus.NewRegistry()
	logger, _ := newLogger()
	h := New(Options{Classifier: clf, Registry: reg, Logger: logger})

	const n = 50
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			text := fmt.Sprintf("问题 %d", i)
			rec := serve(h, request{body: `{"text":"` + text + `"}`})
			if rec.Code != http.StatusOK {
				t.Errorf("request %d: status %d, body %s", i, rec.Code, rec.Body)
				return
			}
			var resp classifyResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			if resp.Intent.Name != "echo:"+text {
				t.Errorf("request %d got intent %q: responses crossed", i, resp.Intent.Name)
			}
		})
	}
	wg.Wait()
	body := serve(h, request{method: "GET", path: "/metrics"}).Body.String()
	if want := fmt.Sprintf(`kefu_http_requests_total{code="200",method="POST",route="/v1/classify"} %d`, n); !strings.Contains(body, want) {
		t.Errorf("/metrics lacks %q", want)
	}
}

func TestToError(t *testing.T) {
	tests := []struct {
		err        error
		wantStatus int
		wantCode   string
	}{
		{BadRequest(CodeTextEmpty, "x"), 400, CodeTextEmpty},
		{fmt.Errorf("wrapped: %w", NewError(CodeNotReady, "x")), 503, CodeNotReady},
		{&http.MaxBytesError{Limit: 10}, 413, CodeBodyTooLarge},
		{context.DeadlineExceeded, 504, CodeDeadlineExceeded},
		{context.Canceled, 503, CodeUnavailable},
		{errors.New("boom"), 500, CodeInternal},
		{&Error{Status: 200, Code: "weird", Message: "x"}, 500, CodeInternal},
		{NewError("no_such_code", "x"), 500, "no_such_code"},
	}
	for _, tt := range tests {
		got := toError(tt.err)
		if got.Status != tt.wantStatus || got.Code != tt.wantCode {
			t.Errorf("toError(%v) = %d %s, want %d %s", tt.err, got.Status, got.Code, tt.wantStatus, tt.wantCode)
		}
	}
}

func FuzzClassifyHandler(f *testing.F) {
	for _, seed := range []struct{ body, contentType string }{
		{`{"text":"我要退货"}`, "application/json"},
		{`{"text":""}`, "application/json"},
		{`{"text":"a"} trailing`, "application/json"},
		{`{"txt":1}`, "application/json; charset=utf-8"},
		{`{"text":"\ud800"}`, ""},
		{"{\"text\":\"\xff\"}", "application/json"},
		{`[1,2,{"text":null}]`, "text/plain"},
		{`{"text":"` + strings.Repeat("长", 60) + `"}`, "application/json"},
	} {
		f.Add(seed.body, seed.contentType)
	}
	demo, err := evaluate.ReadExamplesFile("../testdata/bots/demo/intents/test.jsonl")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range demo { // what customers write, as JSON bodies
		b, _ := json.Marshal(map[string]string{"text": e.Text})
		f.Add(string(b), "application/json")
	}
	h := New(Options{Classifier: fixed(refund), MaxBodyBytes: 512, MaxTextRunes: 50})

	f.Fuzz(func(t *testing.T, body, contentType string) {
		r := httptest.NewRequest(http.MethodPost, "/v1/classify", strings.NewReader(body))
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)

		if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
			t.Errorf("Content-Type = %q", ct)
		}
		if !utf8.Valid(rec.Body.Bytes()) {
			t.Errorf("response is not UTF-8: %q", rec.Body)
		}
		switch {
		case rec.Code >= 200 && rec.Code < 300:
			var resp classifyResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
				t.Errorf("2xx body %q: %v", rec.Body, err)
			}
		case rec.Code >= 400 && rec.Code < 500:
			e, err := parseEnvelope(rec.Body.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if statusOf[e.Code] != rec.Code {
				t.Errorf("status %d disagrees with code %q", rec.Code, e.Code)
			}
		default:
			t.Errorf("status %d for body %q, content type %q: %s", rec.Code, body, contentType, rec.Body)
		}
	})
}
