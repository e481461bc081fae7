package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/kefu-chat/kefu/cmd/internal/app"
	"github.com/kefu-chat/kefu/cmd/internal/config"
)

func serve(args []string, stderr io.Writer) error {
	fs := newFlags("serve", stderr)
	path := fs.String("config", "kefu.yaml", "config `file`")
	addr := fs.String("addr", "", "listen address `HOST:PORT` (overrides server.addr)")
	demo := fs.Bool("demo", false, "also run the demo order service the demo bot calls")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *demo {
		dctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		_, url, err := startDemoShop(dctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "kefu: demo order service on %s\n", url)
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return err
	}
	if *addr != "" {
		cfg.Server.Addr = *addr
	}
	logger := newLogger(cfg.Server.Log, stderr)
	procs := app.TuneGOMAXPROCS(cfg)
	start := time.Now()
	a, err := app.Build(cfg, logger)
	if err != nil {
		return err
	}
	defer a.Close()

	if kb := a.Current().Knowledge; kb != nil && cfg.Knowledge.IngestOnStart && len(cfg.Knowledge.Sources) > 0 {
		t := time.Now()
		rep, err := kb.IngestPaths(context.Background(), cfg.Knowledge.Sources, nil)
		if err != nil {
			return fmt.Errorf("knowledge: ingest on start: %w", err)
		}
		for _, s := range rep.Skipped {
			logger.Warn("knowledge: skipped", "source", s.Source, "line", s.Line, "reason", s.Reason)
		}
		logger.Info("knowledge ingested", "documents", rep.Documents, "chunks", rep.Chunks, "skipped", len(rep.Skipped), "took", time.Since(t).Round(time.Millisecond).String())
	}
	ln, err := net.Listen("tcp", cfg.Server.Addr)
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           a.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("kefu serving", "addr", "http://"+ln.Addr().String(), "model", cfg.Models.Intent.Path,
		"intents", len(a.Current().Classifier.Labels()), "oos_threshold", a.Current().Classifier.Threshold(),
		"flows", len(a.Current().Dialog.Program.FlowNames()), "sessions", cfg.Sessions.Store,
		"startup", time.Since(start).Round(time.Millisecond).String(), "gomaxprocs", procs, "version", app.Version)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
wait:
	for {
		select {
		case err := <-errc:
			return err
		case <-hup:
			// The same reload as POST /admin/reload; a failure is logged
			// and the running configuration keeps serving.
			_ = a.Reload(ctx)
		case <-ctx.Done():
			break wait
		}
	}
	stop()
	logger.Info("shutting down", "timeout", cfg.Server.ShutdownTimeout.Std().String())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout.Std())
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	logger.Info("stopped")
	return nil
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(app.WithRequestIDs(slog.NewJSONHandler(w, opts)))
	}
	return slog.New(app.WithRequestIDs(slog.NewTextHandler(w, opts)))
}

func version(w io.Writer) error {
	v := app.Version
	if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v = "dev-" + s.Value[:12]
			}
		}
	}
	_, err := fmt.Fprintf(w, "kefu %s\n", v)
	return err
}
