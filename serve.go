package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/doorface/doorface/clock"
	"github.com/doorface/doorface/hw"
	"github.com/doorface/doorface/machine"
	"github.com/doorface/doorface/store"
	"github.com/doorface/doorface/transport"
	"github.com/doorface/doorface/vision"
)

// dbFile is the database's name inside the data directory.
const dbFile = "doorface.db"

func newLogger(c Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

func boardConfig(c Config) hw.BoardConfig {
	return hw.BoardConfig{
		Relay: c.Pins.Relay, RelayActiveLow: c.Pins.RelayActiveLow, MaxOpen: c.Pins.MaxOpen,
		LED: c.Pins.LED, LEDRed: c.Pins.LEDRed, LEDGreen: c.Pins.LEDGreen, LEDBlue: c.Pins.LEDBlue,
		Door: c.Pins.Door, DoorOpenHigh: c.Pins.DoorOpenHigh, HeldOpen: c.Pins.HeldOpen,
		Exit: c.Pins.Exit, ExitPressedLow: c.Pins.ExitPressedLow, Debounce: c.Pins.Debounce,
	}
}

func machineConfig(c Config) machine.Config {
	m := c.Machine
	return machine.Config{
		ReceiveTimeout: m.ReceiveTimeout, K: m.K, N: m.N, Threshold: m.Threshold, MinMargin: m.MinMargin,
		MaxFrames: m.MaxFrames, RecognizeTimeout: m.RecognizeTimeout, PinTimeout: m.PinTimeout,
		MaxPinTries: m.MaxPinTries, LockoutAfter: m.LockoutAfter, LockoutBase: m.LockoutBase,
		UnlockDuration: m.UnlockDuration, Cooldown: m.Cooldown,
		RequireFaceAndPIN: m.RequireFaceAndPIN, EvidenceOnUnknown: m.EvidenceOnUnknown,
	}
}

func visionConfig(c Config, log *slog.Logger) vision.Config {
	v := c.Vision
	d := vision.DefaultConfig()
	return vision.Config{
		Engine: v.Engine, MaxYaw: d.MaxYaw, MaxPitch: d.MaxPitch,
		MaxBytes: v.MaxBytes, MaxWidth: v.MaxWidth, MaxHeight: v.MaxHeight, MultiFace: v.MultiFace,
		MinFaceSize: v.MinFaceSize, MinBrightness: v.MinBrightness, MaxBrightness: v.MaxBrightness,
		MinSharpness: v.MinSharpness, Workers: v.Workers, Detector: v.Detector, DetectWidth: v.DetectWidth,
		Threshold: c.Machine.Threshold, MinMargin: c.Machine.MinMargin, Logger: log,
	}
}

func storeOptions(c Config, log *slog.Logger) store.Options {
	return store.Options{
		PinMinLen: c.PIN.MinLength, MaxEvidenceAge: c.Retention.MaxAge, MaxEvidenceBytes: c.Retention.MaxBytes,
		Logger: log,
	}
}

// serveMain runs the daemon until SIGINT or SIGTERM. The relay is commanded locked before anything
// else, and again on every way out.
func serveMain(args []string, stdout, stderr io.Writer) int {
	cfg, _, err := loadConfig("serve", args, os.Environ(), stderr)
	if err != nil {
		fmt.Fprintf(stderr, "doorface: %v\n", err)
		return 2
	}
	log := newLogger(cfg, stderr)

	// 1. The door: locked before anything else runs.
	b, err := hw.OpenBoard(cfg.HW, boardConfig(cfg), clock.Real{}, log)
	if err != nil {
		log.Error("hardware failed; refusing to start", "err", err)
		return 1
	}
	// Halt locks the relay on every way out of serve, a panic of this goroutine included.
	defer func() {
		if err := b.Halt(); err != nil {
			log.Error("halt hardware", "err", err)
		}
	}()

	d, err := newDaemon(cfg, b, log, stdout)
	if err != nil {
		log.Error("refusing to start; the door stays locked", "err", err)
		b.LED.Show(hw.PatternFault)
		return 1
	}
	defer d.close()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// A second signal forces the exit, with the relay locked.
	go func() {
		<-ctx.Done()
		stop()
		force := make(chan os.Signal, 1)
		signal.Notify(force, syscall.SIGINT, syscall.SIGTERM)
		<-force
		_ = b.Relay.Lock()
		log.Error("second signal: forced exit with the relay locked")
		os.Exit(1)
	}()
	return d.run(ctx)
}

// daemon is everything serve builds after the hardware.
type daemon struct {
	cfg     Config
	log     *slog.Logger
	board   *hw.Board
	db      *store.DB
	pipe    *vision.Pipeline
	machine *machine.Machine
	server  *transport.Server
	ln      net.Listener
}

func newDaemon(cfg Config, b *hw.Board, log *slog.Logger, stdout io.Writer) (*daemon, error) {
	d := &daemon{cfg: cfg, log: log, board: b}
	ok := false
	defer func() {
		if !ok {
			d.close()
		}
	}()
	if err := vision.CheckModels(cfg.Models, cfg.Vision.Engine); err != nil {
		return nil, fmt.Errorf("models: %w", err)
	}
	db, err := store.Open(filepath.Join(cfg.Data, dbFile), storeOptions(cfg, log))
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	d.db = db
	now := time.Now()
	recovered, err := db.RecoverInterrupted(now)
	if err != nil {
		return nil, fmt.Errorf("recover interrupted sessions: %w", err)
	}
	for _, a := range recovered {
		log.Warn("session was interrupted by a stop of the daemon; recorded", "session", a.ID, "outcome", a.Outcome)
	}
	if _, err := db.Prune(now); err != nil {
		log.Error("prune evidence", "err", err)
	}
	vcfg := visionConfig(cfg, log)
	pipe, err := vision.NewPipeline(cfg.Models, vcfg)
	if err != nil {
		return nil, fmt.Errorf("vision: %w", err)
	}
	d.pipe = pipe
	gallery := vision.NewGallery(cfg.Vision.Engine)
	n, other, err := loadGallery(db, gallery)
	if err != nil {
		return nil, fmt.Errorf("gallery: %w", err)
	}
	if other > 0 {
		log.Warn("templates of another recognition engine skipped; re-enroll these users or select their engine",
			"engine", cfg.Vision.Engine, "skipped", other, "loaded", n)
	}
	m, err := machine.New(machineConfig(cfg), machine.Deps{
		Clock: clock.Real{}, Lock: b.Relay, Sink: attempts{db}, Directory: directory{db},
		Lockouts: lockouts{db}, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("machine: %w", err)
	}
	d.machine = m
	reportRelocks(b.Relay, m)
	tokens, created, err := transport.LoadOrCreateTokens(cfg.Data, transport.Tokens{Door: cfg.Tokens.Door, Admin: cfg.Tokens.Admin})
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	if created {
		fmt.Fprintf(stdout, "doorface: generated API tokens (stored in %s, shown only now)\n  door:  %s\n  admin: %s\n",
			filepath.Join(cfg.Data, transport.TokenFile), tokens.Door, tokens.Admin)
	}
	// The registry carries the Go and process collectors too (go_goroutines, process_resident_memory_bytes):
	// the load test reads them to show the daemon returns to its baseline.
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	srv, err := transport.New(transport.Options{
		Door: m, Frames: frames{cfg: vcfg, pipe: pipe, gallery: gallery, track: &faceTrack{clock: clock.Real{}}},
		Users: users{db: db, cfg: vcfg, pipe: pipe, gallery: gallery}, Audit: db, Board: board{b},
		Tokens: tokens, MaxBody: cfg.Vision.MaxBytes + 64<<10, MaxJSON: cfg.HTTP.MaxJSON,
		QueueSize: cfg.HTTP.QueueSize, Heartbeat: cfg.HTTP.Heartbeat, Logger: log, Registry: reg,
	})
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	d.server = srv
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	if cfg.TLS.Cert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLS.Cert, cfg.TLS.Key)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("tls: %w", err)
		}
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	}
	d.ln = ln
	log.Info("doorface ready", "addr", ln.Addr().String(), "hw", b.Mode, "templates", n,
		"workers", vcfg.Workers, "threshold", cfg.Machine.Threshold, "tls", cfg.TLS.Cert != "")
	ok = true
	return d, nil
}

// run serves until ctx ends, then shuts down in order: no new frames, the open session ends as
// cancelled, the relay locks, the server drains (bounded), the store is flushed by close.
func (d *daemon) run(ctx context.Context) int {
	go d.driveLED(ctx)
	go d.forwardDoorEvents(ctx)
	go d.pruneEvidence(ctx)
	go runWatchdog(ctx, watchdogInterval(), func() bool { _ = d.machine.Snapshot(); return true })
	_ = sdNotify("READY=1")

	serveErr := make(chan error, 1)
	go func() { serveErr <- d.server.Serve(ctx, d.ln) }()
	var err error
	select {
	case err = <-serveErr:
	case <-ctx.Done():
		d.log.Info("shutting down")
		_ = sdNotify("STOPPING=1")
		d.server.StopFrames()
		d.machine.Shutdown("shutdown")
		if lerr := d.board.Relay.Lock(); lerr != nil {
			d.log.Error("lock relay at shutdown", "err", lerr)
		}
		err = <-serveErr
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		d.log.Error("server", "err", err)
		return 1
	}
	d.log.Info("stopped; relay locked")
	return 0
}

func (d *daemon) close() {
	if d.server != nil {
		d.server.Close() // stops its event broker and heartbeats (Serve does too; Close is idempotent)
	}
	if d.ln != nil {
		_ = d.ln.Close()
	}
	if d.machine != nil {
		d.machine.Shutdown("shutdown")
	}
	_ = d.board.Relay.Lock()
	if d.pipe != nil {
		d.pipe.Close()
	}
	if d.db != nil {
		if err := d.db.Close(); err != nil {
			d.log.Error("close database", "err", err)
		}
		d.db = nil
	}
}

// driveLED shows each state on the status LED, and three red flashes for a denial.
func (d *daemon) driveLED(ctx context.Context) {
	ch, cancel := d.machine.Subscribe(32)
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			return
		case t, ok := <-ch:
			if !ok {
				return
			}
			if t.Decision != nil && t.Decision.Outcome != machine.Granted {
				d.board.LED.Show(hw.PatternDenied)
			}
			d.board.LED.Show(string(t.To))
		}
	}
}

// forwardDoorEvents turns the exit button into an opening and sends every door event to the stream.
func (d *daemon) forwardDoorEvents(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-d.board.Events:
			if !ok {
				return
			}
			d.log.Info("door event", "kind", e.Kind)
			d.server.PublishDoorEvent(transport.DoorEvent{Kind: string(e.Kind), At: e.At})
			if e.Kind == hw.EventExitPressed {
				if err := d.machine.ExitRequest("exit button"); err != nil {
					d.log.Error("exit request", "err", err)
				}
			}
		}
	}
}

// pruneEvidence applies the evidence retention once an hour.
func (d *daemon) pruneEvidence(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if r, err := d.db.Prune(now); err != nil {
				d.log.Error("prune evidence", "err", err)
			} else if r.Frames > 0 {
				d.log.Info("pruned evidence frames", "frames", r.Frames, "bytes", r.Bytes)
			}
		}
	}
}
