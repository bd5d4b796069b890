package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"

	"github.com/mobd-dev/mobd/actors"
	"github.com/mobd-dev/mobd/journal"
	"github.com/mobd-dev/mobd/mob"
	"github.com/mobd-dev/mobd/rpc"
	"github.com/mobd-dev/mobd/server"
	"github.com/mobd-dev/mobd/supervision"
)

// ErrInsecureListen refuses a non-loopback listen address without a token.
var ErrInsecureListen = errors.New("refusing to listen on a non-loopback address without an auth token")

// checkListen refuses to expose the API beyond loopback unauthenticated.
func checkListen(addr, token string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if token != "" {
		return nil
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%w: %q (set --auth-token-file or MOBD_AUTH_TOKEN, or listen on 127.0.0.1)", ErrInsecureListen, addr)
}

// serve runs the daemon until SIGTERM or SIGINT; a second signal forces
// the exit. It returns the process exit status.
func serve(args []string, stdout, stderr io.Writer) int {
	cfg, err := loadConfig(args, os.Getenv)
	if errors.Is(err, errHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "mobd serve: %v\n", err)
		return 2
	}
	log, err := newLogger(cfg.LogLevel, cfg.LogFormat)
	if err != nil {
		fmt.Fprintf(stderr, "mobd serve: %v\n", err)
		return 2
	}
	defer func() { _ = log.Sync() }()
	if err := checkListen(cfg.Listen, cfg.AuthToken); err != nil {
		fmt.Fprintf(stderr, "mobd serve: %v\n", err)
		return 2
	}

	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(sigs)
	startCtx, cancelStart := context.WithCancel(context.Background())
	defer cancelStart()
	stopping := make(chan struct{})
	go func() {
		<-sigs
		log.Info("signal received: shutting down gracefully (send another to force)")
		cancelStart()
		close(stopping)
		<-sigs
		log.Warn("second signal: forcing exit")
		_ = log.Sync()
		os.Exit(130)
	}()

	d, err := startDaemon(startCtx, cfg, log)
	if err != nil {
		log.Error("start failed", zap.Error(err))
		fmt.Fprintf(stderr, "mobd serve: %v\n", err)
		return 1
	}
	scheme := "http"
	if cfg.TLSCert != "" {
		scheme = "https"
	}
	url := fmt.Sprintf("%s://%s", scheme, d.ln.Addr())
	log.Info("mobd listening", zap.String("url", url), zap.String("runtime", cfg.Runtime),
		zap.String("state_dir", cfg.StateDir), zap.Bool("auth", cfg.AuthToken != ""), zap.Strings("mobs", d.api.Mobs()))
	fmt.Fprintf(stdout, "mobd serving %s\n", url)

	errc := make(chan error, 1)
	go func() {
		if cfg.TLSCert != "" {
			errc <- d.http.ServeTLS(d.ln, cfg.TLSCert, cfg.TLSKey)
		} else {
			errc <- d.http.Serve(d.ln)
		}
	}()
	code := 0
	select {
	case <-stopping:
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			log.Error("serve", zap.Error(err))
			code = 1
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.ShutdownTimeout))
	defer cancel()
	if err := d.shutdown(ctx); err != nil {
		log.Warn("shutdown", zap.Error(err))
		code = 1
	}
	log.Info("mobd stopped")
	return code
}

// daemon is a started mobd: the journal, the engine, the API and its
// listener.
type daemon struct {
	log     *zap.Logger
	journal *journal.Store
	engine  *actors.Engine
	realm   *server.LazyRealm
	api     *server.Server
	http    *http.Server
	ln      net.Listener
	unlock  func() // releases the state directory (see lockStateDir)
}

// startDaemon opens the journal, starts the runtimes, recovers the mobs of
// the journal, loads the definitions and listens. On failure it stops what
// it started.
func startDaemon(ctx context.Context, cfg Config, log *zap.Logger) (d *daemon, err error) {
	d = &daemon{log: log}
	defer func() {
		if err != nil {
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_ = d.shutdown(sctx)
		}
	}()
	// One daemon per state directory: a second would resume the first
	// one's runs (running their turns twice) and fault its journal.
	if d.unlock, err = lockStateDir(cfg.StateDir); err != nil {
		return d, err
	}
	bin, err := resolveRuntime(ctx, cfg, log.Named("resolve"))
	if err != nil {
		return d, err
	}
	// MEERKAT_BIN_PATH wins over the engine's BinaryPath: make it name the
	// runtime chosen here, so the choice is never overridden.
	if err := os.Setenv("MEERKAT_BIN_PATH", bin); err != nil {
		return d, err
	}
	runtimes := filepath.Join(cfg.StateDir, "runtimes")
	if err := os.MkdirAll(runtimes, 0o700); err != nil {
		return d, fmt.Errorf("state directory: %w", err)
	}
	d.journal, err = journal.Open(ctx, filepath.Join(cfg.StateDir, "journal.db"), journal.Options{Logger: log.Named("journal"), Synchronous: cfg.JournalSync})
	if err != nil {
		return d, fmt.Errorf("open journal: %w", err)
	}

	reg := prometheus.NewRegistry()
	sup := supervision.NewMetrics()
	for _, c := range []prometheus.Collector{sup, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(c); err != nil {
			return d, fmt.Errorf("metrics: %w", err)
		}
	}
	dir := mob.NewDirectory()
	d.engine, err = actors.Start(ctx, actors.Config{
		PoolSize: cfg.PoolSize, BinaryPath: bin, RealmID: cfg.Realm, StateRoot: runtimes,
		ModelLimits: cfg.ModelLimits, Tools: []rpc.Tool{dir.Tool()},
		Supervision: supervision.Spec{EventHook: sup.Hook()},
		Logger:      log.Named("engine"),
	})
	if err != nil {
		return d, fmt.Errorf("start %s runtimes (%s): %w", cfg.Runtime, bin, err)
	}
	log.Info("runtimes up", zap.String("runtime", cfg.Runtime), zap.String("binary", bin), zap.Int("pool", cfg.PoolSize))

	mobCfg := mob.Config{Host: mob.EngineHost(d.engine), Journal: d.journal, Directory: dir, Logger: log.Named("mob")}
	mobs, rerr := mob.Recover(ctx, mobCfg)
	if rerr != nil {
		log.Error("some mobs could not be recovered", zap.Error(rerr))
	}
	for _, m := range mobs {
		log.Info("mob recovered", zap.String("mob", m.ID()), zap.String("state", string(m.State())), zap.Int("runs", len(m.Runs())))
	}
	d.realm = server.NewLazyRealm(rpc.Options{BinaryPath: bin, RealmID: cfg.Realm, StateRoot: runtimes,
		InstanceID: "mobd-api", Logger: log.Named("realm")})
	d.api, err = server.New(server.Config{
		Engine: d.engine, Journal: d.journal, Mob: mobCfg, Realm: d.realm, Logger: log.Named("api"),
		Token: cfg.AuthToken, MaxBodyBytes: cfg.MaxBodyBytes, Registry: reg,
	}, mobs...)
	if err != nil {
		for _, m := range mobs {
			m.Close()
		}
		return d, err
	}
	if cfg.Definitions != "" {
		if err := loadDefinitions(ctx, cfg.Definitions, d.api, log); err != nil {
			return d, err
		}
	}
	d.ln, err = net.Listen("tcp", cfg.Listen)
	if err != nil {
		return d, fmt.Errorf("listen: %w", err)
	}
	d.http = &http.Server{
		Handler:           d.api.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          zap.NewStdLog(log.Named("http")),
		// No WriteTimeout: event streams and streamed turns stay open.
	}
	d.http.RegisterOnShutdown(d.api.Drain)
	return d, nil
}

// shutdown stops accepting and ends event streams; stops the engine, whose
// running turns finish (their answers reach the mobs' runs, which journal
// them) while its queued turns are refused; closes the mobs (their runs
// stay resumable), and closes the journal once everything is committed.
func (d *daemon) shutdown(ctx context.Context) error {
	var errs []error
	if d.http != nil {
		if err := d.http.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http: %w", err))
			_ = d.http.Close()
		}
	} else if d.ln != nil {
		_ = d.ln.Close()
	}
	if d.realm != nil {
		_ = d.realm.Close()
	}
	// The engine stops before the mobs close, so that the turns it lets
	// finish are answered to live runs: closed first, the runs would drop
	// those answers, and the steps would run again after a restart.
	if d.engine != nil {
		if err := d.engine.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("engine: %w", err))
		}
	}
	if d.api != nil {
		d.api.Close()
	}
	if d.journal != nil {
		if err := d.journal.Sync(ctx); err != nil {
			errs = append(errs, fmt.Errorf("journal sync: %w", err))
		}
	}
	if d.journal != nil {
		if err := d.journal.Close(); err != nil && !errors.Is(err, journal.ErrClosed) {
			errs = append(errs, fmt.Errorf("journal: %w", err))
		}
	}
	if d.unlock != nil {
		d.unlock() // last: everything in the directory is closed
	}
	return errors.Join(errs...)
}
