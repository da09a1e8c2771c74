package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
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
	"github.com/doorface/doorface/config"
	"github.com/doorface/doorface/hw"
	"github.com/doorface/doorface/machine"
	"github.com/doorface/doorface/mqtt"
	"github.com/doorface/doorface/store"
	"github.com/doorface/doorface/transport"
	"github.com/doorface/doorface/vision"
)

// dbFile is the database's name inside the data directory.
const dbFile = "doorface.db"

// newLogger is the daemon's logger: JSON or text at the configured level. Every package adds its
// own component; main's own lines carry component=main.
func newLogger(c config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// storeOptions are the store's options for the configured database.
func storeOptions(c config.Config, log *slog.Logger) store.Options {
	return store.Options{Config: c.Store, Logger: log}
}

// serveMain runs the daemon until SIGINT or SIGTERM. The relay is commanded locked before anything
// else, and again on every way out.
func serveMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	flags := config.AddFlags(fs, "listen", "data", "models", "hw", "log_format", "tls.insecure_http")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: doorface serve [flags]\n\nRuns the daemon until SIGINT or SIGTERM. Flags:")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	cfg, err := flags.Load(os.Environ())
	if err != nil {
		fmt.Fprintf(stderr, "doorface: %v\n", err)
		return 2
	}
	log := newLogger(cfg, stderr)
	mlog := log.With("component", "main")

	// 1. The door: locked before anything else runs.
	b, err := hw.OpenBoard(cfg.HW, cfg.Pins, clock.Real{}, log)
	if err != nil {
		mlog.Error("hardware failed; refusing to start", "err", err)
		return 1
	}
	// Halt locks the relay on every way out of serve, a panic of this goroutine included.
	defer func() {
		if err := b.Halt(); err != nil {
			mlog.Error("halt hardware", "err", err)
		}
	}()

	d, err := newDaemon(cfg, b, log, stdout)
	if err != nil {
		mlog.Error("refusing to start; the door stays locked", "err", err)
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
		mlog.Error("second signal: forced exit with the relay locked")
		os.Exit(1)
	}()
	return d.run(ctx)
}

// daemon is everything serve builds after the hardware.
type daemon struct {
	cfg     config.Config
	log     *slog.Logger
	board   *hw.Board
	db      *store.DB
	pipe    *vision.Pipeline
	machine *machine.Machine
	server  *transport.Server
	ln      net.Listener
	notify  *notifier    // systemd's notification socket, opened once; nil without systemd
	mqtt    *mqtt.Bridge // nil unless mqtt.enabled (mqtt_wiring.go)
}

func newDaemon(cfg config.Config, b *hw.Board, log *slog.Logger, stdout io.Writer) (*daemon, error) {
	d := &daemon{cfg: cfg, log: log.With("component", "main"), board: b}
	ok := false
	defer func() {
		if !ok {
			d.close()
		}
	}()
	notify, err := newNotifier()
	if err != nil {
		d.log.Warn("systemd notification socket unusable; no watchdog pings", "err", err)
	}
	d.notify = notify
	if err := checkModels(cfg); err != nil {
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
		d.log.Warn("session was interrupted by a stop of the daemon; recorded", "session", a.ID, "outcome", a.Outcome)
	}
	if _, err := db.Prune(now); err != nil {
		d.log.Error("prune evidence", "err", err)
	}
	vcfg := visionConfig(cfg)
	pipe, err := vision.NewPipeline(cfg.Models, vcfg, log)
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
		d.log.Warn("templates of another recognition engine skipped; re-enroll these users or select their engine",
			"engine", cfg.Vision.Engine, "skipped", other, "loaded", n)
	}
	reg := prometheus.NewRegistry()
	m, err := machine.New(cfg.Machine, machine.Deps{
		Clock: clock.Real{}, Lock: b.Relay, Sink: attempts{db: db, observe: livenessMetrics(reg)}, Directory: directory{db},
		Lockouts: lockouts{db}, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("machine: %w", err)
	}
	d.machine = m
	tokens, created, err := transport.LoadOrCreateTokens(cfg.Data, transport.Tokens{Door: cfg.Tokens.Door, Admin: cfg.Tokens.Admin})
	if err != nil {
		return nil, fmt.Errorf("tokens: %w", err)
	}
	if created {
		// The tokens themselves are never printed or logged (journald keeps both): a person reads
		// them with `doorface tokens show`, which needs access to the 0600 file.
		d.log.Info("generated API tokens; show them with `doorface tokens show`", "file", filepath.Join(cfg.Data, transport.TokenFile))
	}
	// The registry carries the Go and process collectors too (go_goroutines, process_resident_memory_bytes):
	// the load test reads them to show the daemon returns to its baseline.
	pages, err := newWeb(cfg, tokens, log)
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "doorface_sessions_unrecorded_total",
			Help: "Sessions that ended without an audit record: no face seen, no PIN entered."},
			func() float64 { return float64(m.Unrecorded()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "doorface_audit_history_fill",
			Help: "How full the bounded audit history is (records or evidence bytes, whichever is fuller), 0 to 1."},
			func() float64 {
				u, err := db.HistoryUsage()
				if err != nil {
					return -1
				}
				return u.Fill()
			}))
	scheme := "http"
	var tlsCfg *tls.Config
	if !cfg.TLS.InsecureHTTP {
		cert, err := serverCertificate(cfg, d.log)
		if err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		tlsCfg, scheme = transport.ServerTLS(cert), "https"
	} else {
		d.log.Warn("serving plain HTTP (insecure_http): tokens and PINs cross the network in clear")
	}
	enroller := newDoorEnroller(cfg, db, pipe, gallery, b, m, log)
	srv, err := transport.New(transport.Options{
		TLS:    tlsCfg,
		Config: cfg.HTTP,
		Door:   m, Frames: frames{cfg: vcfg, pipe: pipe, gallery: gallery, track: &faceTrack{clock: clock.Real{}}},
		Users: users{db: db, cfg: vcfg, pipe: pipe, gallery: gallery}, Audit: audit{db}, Board: board{b},
		Tokens: tokens, Web: pages, MaxBody: cfg.MaxBody(), Logger: log, Registry: reg, Enroller: enroller,
	})
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	enroller.publish = srv.PublishEnrollment
	d.server = srv
	if err := d.newMQTT(reg, log, stdout); err != nil {
		return nil, fmt.Errorf("mqtt: %w", err)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	d.ln = ln
	d.log.Info("doorface ready", "addr", ln.Addr().String(), "hw", b.Mode, "templates", n,
		"workers", vcfg.Workers, "threshold", cfg.Machine.Threshold, "scheme", scheme)
	ok = true
	return d, nil
}

// serverCertificate is the configured certificate, or the data directory's self-signed one (made
// at the first start). Its fingerprint is logged for pinning in the tablet.
func serverCertificate(cfg config.Config, log *slog.Logger) (tls.Certificate, error) {
	if cfg.TLS.Cert != "" {
		cert, err := transport.LoadCertificate(cfg.TLS.Cert, cfg.TLS.Key)
		if err == nil {
			log.Info("TLS certificate loaded", "cert", cfg.TLS.Cert, "sha256", transport.Fingerprint(cert))
		}
		return cert, err
	}
	cert, created, err := transport.LoadOrCreateCertificate(cfg.Data, time.Now())
	if err != nil {
		return cert, err
	}
	if created {
		log.Info("created a self-signed TLS certificate; pin its fingerprint in the tablet (doorface tls fingerprint)",
			"cert", filepath.Join(cfg.Data, transport.CertFile), "sha256", transport.Fingerprint(cert))
	} else {
		log.Info("TLS certificate loaded", "sha256", transport.Fingerprint(cert))
	}
	return cert, nil
}

// run serves until ctx ends, then shuts down in order: no new frames, the open session ends as
// cancelled, the relay locks, the server drains (bounded), the store is flushed by close.
func (d *daemon) run(ctx context.Context) int {
	d.startMQTT(ctx)
	go d.driveLED(ctx)
	go d.forwardDoorEvents(ctx)
	d.checkHistory()
	go d.pruneEvidence(ctx)
	// The machine answering its snapshot (it takes the machine's lock) is what "alive" means: a
	// stuck door loop stops the pings, and systemd restarts the daemon with the relay locked.
	go runWatchdog(ctx, d.notify, watchdogInterval(), func() bool { _ = d.machine.Snapshot(); return true })
	_ = d.notify.Notify("READY=1")

	serveErr := make(chan error, 1)
	go func() { serveErr <- d.server.Serve(ctx, d.ln) }()
	var err error
	select {
	case err = <-serveErr:
	case <-ctx.Done():
		d.log.Info("shutting down")
		_ = d.notify.Notify("STOPPING=1")
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
	defer d.notify.Close()
	d.closeMQTT() // publishes offline; before the store closes (refused commands are audited)
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

// driveLED shows each state on the status light, three red flashes for a denial (slow pulses
// for a lockout), and sounds the buzzer for the decision.
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
			if t.Decision != nil {
				switch t.Decision.Outcome {
				case machine.Granted:
					d.board.Buzzer.Play(hw.SoundGranted)
				case machine.LockedOut:
					d.board.LED.Show(hw.PatternLockout)
					d.board.Buzzer.Play(hw.SoundDenied)
				default:
					d.board.LED.Show(hw.PatternDenied)
					d.board.Buzzer.Play(hw.SoundDenied)
				}
			}
			d.board.LED.Show(hw.StatePattern(t.To))
		}
	}
}

// forwardDoorEvents turns the exit button into an opening, sounds the alarm for a forced or held
// door, sends every door event to the stream, and tells the machine when the relay's retry has
// relocked the door (so a failed relock leaves no false "interrupted" record).
func (d *daemon) forwardDoorEvents(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-d.board.Events:
			if !ok {
				return
			}
			if e.Kind == hw.EventRelayRelocked {
				d.machine.RelayRelocked()
				continue
			}
			d.log.Info("door event", "kind", e.Kind)
			if e.Kind == hw.EventForcedOpen || e.Kind == hw.EventHeldOpen {
				d.board.Buzzer.Play(hw.SoundAlarm)
			}
			d.server.PublishDoorEvent(transport.DoorEvent{Kind: string(e.Kind), At: e.At})
			// The machine audits forced and held-open doors (with their duration) and alarms.
			if err := d.machine.DoorEvent(string(e.Kind), e.At); err != nil {
				d.log.Error("door event", "kind", e.Kind, "err", err)
			}
			d.mqttDoorEvent(e)
			if e.Kind == hw.EventExitPressed {
				if err := d.machine.ExitRequest("exit button"); err != nil {
					d.log.Error("exit request", "err", err)
				}
			}
		}
	}
}

// historyAlarm is how full the bounded history may get before the daemon warns.
const historyAlarm = 0.9

// checkHistory warns when the bounded audit history nears its cap: from there on, retention
// prunes the oldest records (behind a sealed checkpoint) to make room.
func (d *daemon) checkHistory() {
	u, err := d.db.HistoryUsage()
	if err != nil {
		d.log.Error("audit history usage", "err", err)
		return
	}
	if f := u.Fill(); f >= historyAlarm {
		d.log.Warn("audit history nearly full: the oldest records will be pruned behind a sealed checkpoint; export them",
			"fill", f, "records", u.Records, "max_records", u.MaxRecords)
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
			d.checkHistory()
			if r, err := d.db.Prune(now); err != nil {
				d.log.Error("prune evidence", "err", err)
			} else if r.Frames > 0 {
				d.log.Info("pruned evidence frames", "frames", r.Frames, "bytes", r.Bytes)
			}
		}
	}
}
