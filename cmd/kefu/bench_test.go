package main

import (
	"bytes"
	"encoding/json"
	"math"
	"path/filepath"
	"testing"
)

func TestBenchDemo(t *testing.T) {
	needRuntime(t)
	var out, errb bytes.Buffer
	err := benchCmd([]string{"--config", filepath.Join(demo, "kefu.yaml"), "--demo", "--json",
		"--concurrency", "8", "--duration", "3s", "--sessions", "40", "--think", "2ms", "--provider-delay", "5ms", "--fill", "500"}, &out, &errb)
	if err != nil {
		t.Fatalf("bench: %v\nstderr %s", err, errb.String())
	}
	var rep struct {
		Turns     int                `json:"turns"`
		Errors    int                `json:"errors"`
		TurnsPerS float64            `json:"turns_per_s"`
		P50       float64            `json:"p50_ms"`
		P99       float64            `json:"p99_ms"`
		RSS       int64              `json:"rss_bytes"`
		Stages    map[string]float64 `json:"stages"`
		Routes    map[string]struct {
			Turns int     `json:"turns"`
			P50   float64 `json:"p50_ms"`
		} `json:"routes"`
		Samples []string `json:"error_samples"`
		Fill    struct {
			Sessions int   `json:"sessions"`
			Disk     int64 `json:"disk_bytes_per_session"`
		} `json:"fill"`
	}
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("bad JSON: %v\n%s", err, out.String())
	}
	if rep.Errors != 0 || rep.Turns == 0 {
		t.Errorf("turns %d, errors %d %q", rep.Turns, rep.Errors, rep.Samples)
	}
	if rep.TurnsPerS <= 0 || rep.P50 <= 0 || rep.P99 < rep.P50 || rep.RSS <= 0 {
		t.Errorf("turns/s %v, p50 %v, p99 %v, rss %d", rep.TurnsPerS, rep.P50, rep.P99, rep.RSS)
	}
	// 500 sessions of 20 turns: a few KB each on disk.
	if rep.Fill.Sessions != 500 || rep.Fill.Disk < 1000 || rep.Fill.Disk > 64<<10 {
		t.Errorf("fill: %+v", rep.Fill)
	}
	// The local upstream answers the generative fallbacks.
	for _, r := range []string{"flow", "knowledge", "generative"} {
		if rep.Routes[r].Turns == 0 {
			t.Errorf("no %s turns: %+v", r, rep.Routes)
		}
	}
	sum := 0.0
	for _, v := range rep.Stages {
		sum += v
	}
	if math.Abs(sum-1) > 0.05 {
		t.Errorf("stage shares sum to %.3f: %v", sum, rep.Stages)
	}
}
