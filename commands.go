package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/doorface/doorface/store"
	"github.com/doorface/doorface/vision"
)

//go:embed models/SHA256SUMS
var knownModelSums string

// fail prints err for a person and returns exit code 1. A database held by the daemon gets the advice
// to use the API instead.
func fail(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "doorface %s: %v\n", cmd, err)
	if errors.Is(err, store.ErrLocked) {
		fmt.Fprintln(stderr, "The daemon is running and holds the database: use the admin API instead (see README \"HTTP API\"), or stop the daemon first.")
	}
	return 1
}

func configMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "print" {
		fmt.Fprintln(stderr, "usage: doorface config print [--config FILE] [serve flags]")
		return 2
	}
	c, _, err := loadConfig("config print", args[1:], os.Environ(), stderr)
	if err != nil {
		fmt.Fprintf(stderr, "doorface: %v\n", err)
		return 2
	}
	if err := printConfig(stdout, c); err != nil {
		return fail(stderr, "config print", err)
	}
	return 0
}

// openDB opens the configured database for an offline command.
func openDB(c Config, readOnly bool) (*store.DB, error) {
	o := storeOptions(c, newLogger(c, io.Discard))
	o.ReadOnly = readOnly
	return store.Open(filepath.Join(c.Data, dbFile), o)
}

// onePipeline loads the models with a single recognizer, for offline commands.
func onePipeline(c Config) (*vision.Pipeline, vision.Config, error) {
	vc := visionConfig(c, newLogger(c, io.Discard))
	vc.Workers = 1
	p, err := vision.NewPipeline(c.Models, vc)
	return p, vc, err
}

func enrollMain(args []string, stdout, stderr io.Writer) int {
	var name, pin string
	c, fs, err := loadConfig("enroll", args, os.Environ(), stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&name, "name", "", "the person's name")
		fs.StringVar(&pin, "pin", "", "optional PIN (digits)")
	})
	if err != nil {
		return 2
	}
	if name == "" || fs.NArg() == 0 {
		fmt.Fprintln(stderr, "usage: doorface enroll --name NAME [--pin PIN] PHOTO...")
		return 2
	}
	db, err := openDB(c, false)
	if err != nil {
		return fail(stderr, "enroll", err)
	}
	defer db.Close()
	pipe, vc, err := onePipeline(c)
	if err != nil {
		return fail(stderr, "enroll", err)
	}
	defer pipe.Close()
	g := vision.NewGallery(vc.Engine)
	if _, _, err := loadGallery(db, g); err != nil {
		return fail(stderr, "enroll", err)
	}
	// Describe every photo first, so a bad photo leaves no half-enrolled user behind.
	descs := make([]vision.Descriptor, 0, fs.NArg())
	for _, p := range fs.Args() {
		body, err := os.ReadFile(p)
		if err != nil {
			return fail(stderr, "enroll", err)
		}
		fr, err := vision.Decode(body, contentTypeOf(p), vc)
		if err != nil {
			return fail(stderr, "enroll", fmt.Errorf("%s: %w", p, err))
		}
		d, err := pipe.Enroll(context.Background(), fr)
		fr.Close()
		if err != nil {
			return fail(stderr, "enroll", fmt.Errorf("%s: %w", p, err))
		}
		descs = append(descs, d)
	}
	u, err := db.CreateUser(name, pin)
	if err != nil {
		return fail(stderr, "enroll", err)
	}
	for i, d := range descs {
		for _, w := range g.Check(u.ID, d) {
			fmt.Fprintf(stdout, "warning: %s: %s\n", fs.Arg(i), w)
		}
		t, err := db.AddEngineTemplate(u.ID, vc.Engine, d)
		if err != nil {
			return fail(stderr, "enroll", err)
		}
		if err := g.Add(vision.Entry{UserID: u.ID, Name: u.Name, TemplateID: t.ID, Descriptor: d}); err != nil {
			return fail(stderr, "enroll", err)
		}
	}
	fmt.Fprintf(stdout, "enrolled %s (id %s) with %d template(s), PIN %s\n", u.Name, u.ID, len(descs), map[bool]string{true: "set", false: "none"}[u.HasPIN])
	return 0
}

func usersMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: doorface users list | delete ID | pin ID PIN")
		return 2
	}
	sub := args[0]
	c, fs, err := loadConfig("users "+sub, args[1:], os.Environ(), stderr)
	if err != nil {
		return 2
	}
	db, err := openDB(c, sub == "list")
	if err != nil {
		return fail(stderr, "users", err)
	}
	defer db.Close()
	switch {
	case sub == "list":
		us, err := db.ListUsers()
		if err != nil {
			return fail(stderr, "users", err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAME\tENABLED\tPIN\tCREATED")
		for _, u := range us {
			fmt.Fprintf(tw, "%s\t%s\t%v\t%v\t%s\n", u.ID, u.Name, u.Enabled, u.HasPIN, u.Created.Format(time.RFC3339))
		}
		tw.Flush()
	case sub == "delete" && fs.NArg() == 1:
		if err := db.DeleteUser(fs.Arg(0)); err != nil {
			return fail(stderr, "users delete", err)
		}
		fmt.Fprintf(stdout, "deleted user %s (templates removed, past attempts kept)\n", fs.Arg(0))
	case sub == "pin" && fs.NArg() == 2:
		if err := db.SetPIN(fs.Arg(0), fs.Arg(1)); err != nil {
			return fail(stderr, "users pin", err)
		}
		fmt.Fprintf(stdout, "PIN of user %s changed\n", fs.Arg(0))
	default:
		fmt.Fprintln(stderr, "usage: doorface users list | delete ID | pin ID PIN")
		return 2
	}
	return 0
}

func parseTimeFlag(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: use RFC 3339 (2026-11-24T08:00:00Z) or a date (2026-11-24)", s)
}

func auditMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || (args[0] != "export" && args[0] != "verify") {
		fmt.Fprintln(stderr, "usage: doorface audit export [--since T --until T --outcome O --user ID] --format csv|jsonl --out DIR | audit verify")
		return 2
	}
	sub := args[0]
	var since, until, outcome, user, format, out string
	c, _, err := loadConfig("audit "+sub, args[1:], os.Environ(), stderr, func(fs *flag.FlagSet) {
		if sub == "export" {
			fs.StringVar(&since, "since", "", "first start time (inclusive)")
			fs.StringVar(&until, "until", "", "last start time (exclusive)")
			fs.StringVar(&outcome, "outcome", "", "only this outcome")
			fs.StringVar(&user, "user", "", "only this user id")
			fs.StringVar(&format, "format", "csv", "csv or jsonl")
			fs.StringVar(&out, "out", "", "output directory (records and evidence frames)")
		}
	})
	if err != nil {
		return 2
	}
	path := filepath.Join(c.Data, dbFile)
	if sub == "verify" {
		db, err := openDB(c, true)
		if err != nil {
			return fail(stderr, "audit verify", err)
		}
		defer db.Close()
		r, err := db.Verify()
		if err != nil {
			return fail(stderr, "audit verify", err)
		}
		if !r.OK {
			fmt.Fprintf(stdout, "BROKEN: %d records, first broken record %d: %s\n", r.Records, r.FirstBroken, r.Problem)
			return 1
		}
		fmt.Fprintf(stdout, "OK: %d records, chain head %s\n", r.Records, r.Head)
		return 0
	}
	if out == "" || (format != "csv" && format != "jsonl") {
		fmt.Fprintln(stderr, "audit export: --out DIR and --format csv|jsonl are required")
		return 2
	}
	f := store.Filter{Outcome: outcome, User: user}
	if f.Since, err = parseTimeFlag(since); err != nil {
		return fail(stderr, "audit export", err)
	}
	if f.Until, err = parseTimeFlag(until); err != nil {
		return fail(stderr, "audit export", err)
	}
	if err := os.MkdirAll(out, 0o750); err != nil {
		return fail(stderr, "audit export", err)
	}
	file, err := os.OpenFile(filepath.Join(out, "audit."+format), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return fail(stderr, "audit export", err)
	}
	w := bufio.NewWriter(file)
	n, err := store.ExportFile(path, w, format, f, filepath.Join(out, "frames"), storeOptions(c, newLogger(c, io.Discard)))
	if ferr := w.Flush(); err == nil {
		err = ferr
	}
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fail(stderr, "audit export", err)
	}
	fmt.Fprintf(stdout, "exported %d records to %s\n", n, filepath.Join(out, "audit."+format))
	return 0
}

func calibrateMain(args []string, stdout, stderr io.Writer) int {
	var far float64
	var engine string
	c, fs, err := loadConfig("calibrate", args, os.Environ(), stderr, func(fs *flag.FlagSet) {
		fs.Float64Var(&far, "far", 0.01, "target false-accept rate per frame")
		fs.StringVar(&engine, "engine", "", "recognition engine to calibrate: mobilefacenet or dlib (default: the configured one)")
	})
	if err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: doorface calibrate [--far 0.01] [--engine mobilefacenet|dlib] DIR")
		return 2
	}
	if engine != "" && engine != c.Vision.Engine {
		thr, margin := vision.DefaultThresholds(engine)
		if thr == 0 {
			fmt.Fprintf(stderr, "doorface: calibrate: --engine %q: want %s or %s\n", engine, vision.EngineMobileFaceNet, vision.EngineDlib)
			return 2
		}
		c.Vision.Engine, c.Machine.Threshold, c.Machine.MinMargin = engine, thr, margin
	}
	pipe, _, err := onePipeline(c)
	if err != nil {
		return fail(stderr, "calibrate", err)
	}
	defer pipe.Close()
	cal, err := vision.Calibrate(context.Background(), pipe, fs.Arg(0), far, c.Machine.K, c.Machine.N)
	if err != nil {
		return fail(stderr, "calibrate", err)
	}
	if err := cal.WriteTable(stdout); err != nil {
		return fail(stderr, "calibrate", err)
	}
	return 0
}

func dbMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "compact" {
		fmt.Fprintln(stderr, "usage: doorface db compact [--data DIR]")
		return 2
	}
	c, _, err := loadConfig("db compact", args[1:], os.Environ(), stderr)
	if err != nil {
		return 2
	}
	src := filepath.Join(c.Data, dbFile)
	tmp := src + ".compact"
	backup := src + ".bak-" + time.Now().UTC().Format("20060102T150405Z")
	before, err := os.Stat(src)
	if err != nil {
		return fail(stderr, "db compact", err)
	}
	_ = os.Remove(tmp)
	if err := store.Compact(src, tmp); err != nil {
		_ = os.Remove(tmp)
		return fail(stderr, "db compact", err)
	}
	if err := os.Rename(src, backup); err != nil {
		return fail(stderr, "db compact", err)
	}
	if err := os.Rename(tmp, src); err != nil {
		_ = os.Rename(backup, src)
		return fail(stderr, "db compact", err)
	}
	after, _ := os.Stat(src)
	fmt.Fprintf(stdout, "compacted %s: %d -> %d bytes (the old file is kept as %s)\n", src, before.Size(), after.Size(), backup)
	return 0
}

func modelsMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "check" {
		fmt.Fprintln(stderr, "usage: doorface models check [--models DIR]")
		return 2
	}
	c, _, err := loadConfig("models check", args[1:], os.Environ(), stderr)
	if err != nil {
		return 2
	}
	if err := vision.CheckModels(c.Models, c.Vision.Engine); err != nil {
		return fail(stderr, "models check", err)
	}
	files := []string{vision.ShapePredictorFile, vision.ResNetFile, vision.CNNDetectorFile}
	if c.Vision.Engine == vision.EngineMobileFaceNet {
		files = []string{vision.YuNetFile, vision.MobileFaceNetFile}
	}
	known := map[string]bool{}
	for _, line := range strings.Split(knownModelSums, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && !strings.HasPrefix(f[0], "#") {
			known[f[0]] = true
		}
	}
	code := 0
	for _, name := range files {
		p := filepath.Join(c.Models, name)
		f, err := os.Open(p)
		if err != nil {
			return fail(stderr, "models check", err)
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return fail(stderr, "models check", err)
		}
		sum := hex.EncodeToString(h.Sum(nil))
		status := "known-good"
		if !known[sum] {
			status = "UNKNOWN checksum (not in models/SHA256SUMS)"
			code = 1
		}
		fmt.Fprintf(stdout, "%s  %s  %s\n", sum, name, status)
	}
	return code
}
