package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/kefu-chat/kefu/cmd/internal/config"
	"github.com/kefu-chat/kefu/dsl"
	"github.com/kefu-chat/kefu/engine"
	"github.com/kefu-chat/kefu/engine/entity"
	"github.com/kefu-chat/kefu/engine/service"
	"github.com/kefu-chat/kefu/models/onnx"
)

var demoConfig = func() string { p, _ := filepath.Abs("../../../testdata/bots/demo/kefu.yaml"); return p }()

// needRuntime skips locally and fails under CI when ONNX Runtime is missing.
func needRuntime(tb testing.TB, cfg *config.Config) {
	tb.Helper()
	if err := InitRuntime(cfg); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("ONNX Runtime is required in CI: %v", err)
		}
		tb.Skip(err)
	}
}

func loadDemo(tb testing.TB) *config.Config {
	tb.Helper()
	cfg, err := config.Load(demoConfig)
	if err != nil {
		tb.Fatal(err)
	}
	return cfg
}

// BenchmarkLoadFlows parses, checks and compiles the demo bot's flows.
func BenchmarkLoadFlows(b *testing.B) {
	cfg := loadDemo(b)
	ents, err := entity.New(entity.Config{})
	if err != nil {
		b.Fatal(err)
	}
	svc, err := service.New(cfg.Services, service.Deps{})
	if err != nil {
		b.Fatal(err)
	}
	paths, err := FlowFiles(cfg)
	if err != nil {
		b.Fatal(err)
	}
	schema := Schema(nil, ents, svc)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := dsl.Load(paths, schema); err != nil {
			b.Fatal(err)
		}
	}
}

// openDemoEngine builds the demo bot's engine with the real model and a
// session file in a temporary folder.
func openDemoEngine(tb testing.TB) *engine.Engine {
	cfg := loadDemo(tb)
	needRuntime(tb, cfg)
	tb.Cleanup(func() { onnx.Shutdown() })
	cls, err := LoadClassifier(cfg, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cls.Close() })
	d, err := LoadDialog(cfg, Intents(cls.Labels()), nil)
	if err != nil {
		tb.Fatal(err)
	}
	sc := cfg.Sessions
	sc.Path = filepath.Join(tb.TempDir(), "sessions.db")
	store, err := OpenSessions(sc, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { store.Close() })
	e, err := NewEngine(cfg, d, cls, store, nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

func TestDemoEngine(t *testing.T) {
	e := openDemoEngine(t)
	r, err := e.Turn(context.Background(), engine.Request{SessionID: "t", Text: "我要退货"})
	if err != nil || r.Route != engine.RouteFlow || r.Flow == nil || r.Flow.Name != "退货" {
		t.Fatalf("%+v %v", r, err)
	}
}

// BenchmarkTurnWithModel is engine.Turn on a flow path of the demo bot with
// the shipped model: normalize, classify, entities, the 退货 flow (start,
// re-prompts, give up, start again) and the session write, across 200
// sessions.
func BenchmarkTurnWithModel(b *testing.B) {
	e := openDemoEngine(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	var stages engine.Timings
	for b.Loop() {
		i++
		r, err := e.Turn(ctx, engine.Request{SessionID: fmt.Sprint("b", i%200), Text: "我要退货"})
		if err != nil || r.Route != engine.RouteFlow {
			b.Fatalf("%+v %v", r, err)
		}
		t := r.Timings
		stages.Normalize += t.Normalize
		stages.Classify += t.Classify
		stages.Entities += t.Entities
		stages.Dialog += t.Dialog
		stages.Save += t.Save
		stages.Lock += t.Lock
	}
	n := float64(i)
	b.ReportMetric(float64(stages.Classify.Microseconds())/n, "classify-µs/op")
	b.ReportMetric(float64(stages.Dialog.Microseconds())/n, "dialog-µs/op")
	b.ReportMetric(float64(stages.Save.Microseconds())/n, "save-µs/op")
	b.ReportMetric(float64((stages.Normalize+stages.Entities+stages.Lock).Microseconds())/n, "other-µs/op")
}
