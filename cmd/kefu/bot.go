package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/kefu-chat/kefu/cmd/internal/app"
	"github.com/kefu-chat/kefu/cmd/internal/config"
	"github.com/kefu-chat/kefu/engine"
	"github.com/kefu-chat/kefu/engine/service/demoshop"
	"github.com/kefu-chat/kefu/knowledge"
	"github.com/kefu-chat/kefu/models/onnx"
)

// bot is an in-process engine for kefu chat and kefu test: the configured
// models and flows, with sessions in a throw-away store so a running server's
// store is never touched.
type bot struct {
	cfg     *config.Config
	engine  *engine.Engine
	close   []func() error
	tempDir string
}

// startDemoShop starts the demo order service on a free port and points
// ${KEFU_DEMO_SHOP} at it, for configs that use it (the demo bot does).
// Reset on the result brings its orders back to the fixtures.
func startDemoShop(ctx context.Context) (*demoshop.Resettable, string, error) {
	shop := demoshop.NewResettable()
	addr, err := demoshop.ListenHandler(ctx, "127.0.0.1:0", shop)
	if err != nil {
		return nil, "", fmt.Errorf("demo shop: %w", err)
	}
	url := "http://" + addr
	os.Setenv("KEFU_DEMO_SHOP", url)
	return shop, url, nil
}

func openBot(path string, logger *slog.Logger) (_ *bot, err error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	b := &bot{cfg: cfg}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	if err := app.InitRuntime(cfg); err != nil {
		return nil, err
	}
	b.close = append(b.close, onnx.Shutdown)
	cls, err := app.LoadClassifier(cfg, nil)
	if err != nil {
		return nil, err
	}
	b.close = append(b.close, cls.Close)
	d, err := app.LoadDialog(cfg, app.Intents(cls.Labels()), logger)
	if err != nil {
		return nil, err
	}
	if b.tempDir, err = os.MkdirTemp("", "kefu-sessions-"); err != nil {
		return nil, err
	}
	sc := cfg.Sessions
	sc.Store, sc.Path = "embedded", filepath.Join(b.tempDir, "sessions.db")
	store, err := app.OpenSessions(sc, logger)
	if err != nil {
		return nil, err
	}
	b.close = append(b.close, store.Close)
	kb, err := openTempKnowledge(cfg, b.tempDir, d, logger, &b.close)
	if err != nil {
		return nil, err
	}
	gw, err := app.OpenGateway(cfg, nil, logger)
	if err != nil {
		return nil, err
	}
	if gw != nil {
		b.close = append(b.close, gw.Close)
	}
	if b.engine, err = app.NewEngine(cfg, d, cls, store, kb, gw, logger, nil); err != nil {
		return nil, err
	}
	return b, nil
}

// openTempKnowledge builds the bot's knowledge base in dir from its
// configured sources, so kefu chat and kefu test see exactly what the files
// say and never touch a server's store.
func openTempKnowledge(cfg *config.Config, dir string, d *app.Dialog, logger *slog.Logger, closers *[]func() error) (*app.KnowledgeBase, error) {
	if cfg.Knowledge.Store == "" {
		return nil, nil
	}
	emb, err := app.LoadEmbedder(cfg, nil)
	if err != nil {
		return nil, err
	}
	if emb != nil {
		*closers = append(*closers, emb.Close)
	}
	var e knowledge.Embedder
	if emb != nil {
		e = emb
	}
	norm := func(s string) string { return d.Normalizer.Normalize(s).Text }
	kb, err := app.OpenKnowledge(context.Background(), inTempStore(cfg, dir), e, norm, logger)
	if err != nil {
		return nil, err
	}
	*closers = append(*closers, kb.Close)
	if _, err := kb.IngestPaths(context.Background(), cfg.Knowledge.Sources, nil); err != nil {
		return nil, fmt.Errorf("knowledge: %w", err)
	}
	return kb, nil
}

func (b *bot) Close() error {
	for i := len(b.close) - 1; i >= 0; i-- {
		b.close[i]()
	}
	b.close = nil
	if b.tempDir != "" {
		os.RemoveAll(b.tempDir)
	}
	return nil
}

func quietLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelError}))
}
