package openai

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestDoneWatcher(t *testing.T) {
	for _, tc := range []struct {
		body string
		want bool
	}{
		{"data: {}\n\ndata: [DONE]\n\n", true},
		{"data:[DONE]", true},
		{"data:  [DONE] \r\n", true},
		{"data: {\"x\":\"data: [DONE]\"}\n\n", false},
		{"data: [DONE]x\n", false},
		{strings.Repeat("a", 100) + "data: [DONE]\n", false},
		{"data: {}\n\n", false},
	} {
		for _, one := range []bool{false, true} {
			var r io.Reader = strings.NewReader(tc.body)
			if one {
				r = iotest.OneByteReader(r)
			}
			w := &doneWatcher{rc: io.NopCloser(r)}
			if _, err := io.Copy(io.Discard, w); err != nil {
				t.Fatal(err)
			}
			if w.done.Load() != tc.want {
				t.Errorf("%q (one byte %v): done = %v", tc.body, one, !tc.want)
			}
		}
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		h    http.Header
		want time.Duration
	}{
		{nil, 0},
		{http.Header{"Retry-After": {"3"}}, 3 * time.Second},
		{http.Header{"Retry-After": {"0.5"}}, 500 * time.Millisecond},
		{http.Header{"Retry-After": {"-4"}}, 0},
		{http.Header{"Retry-After": {"soon"}}, 0},
		{http.Header{"Retry-After": {"999999"}}, time.Hour},
		{http.Header{"Retry-After": {now.Add(-time.Minute).Format(http.TimeFormat)}}, 0},
		{http.Header{"Retry-After": {now.Add(time.Minute).Format(http.TimeFormat)}}, time.Minute},
		{http.Header{"Retry-After-Ms": {"250"}, "Retry-After": {"1"}}, 250 * time.Millisecond},
		{http.Header{"Retry-After-Ms": {"x"}, "Retry-After": {"1"}}, time.Second},
	} {
		if got := retryAfter(tc.h, now); got != tc.want {
			t.Errorf("retryAfter(%v) = %v, want %v", tc.h, got, tc.want)
		}
	}
}
