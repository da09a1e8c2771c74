package main

import (
	"bufio"
	"cmp"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/doorface/doorface/config"
	"github.com/doorface/doorface/store"
	"github.com/doorface/doorface/transport"
	"github.com/doorface/doorface/vision"
)

//go:embed models/SHA256SUMS
var knownModelSums string

// knownModelBlobs are the git blob ids of dlib's official files (published without checksums).
//
//go:embed models/GITBLOBS
var knownModelBlobs string

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
	c, code, ok := subcommand(args, "print", "config print [--config FILE] [serve flags]", stdout, stderr, "listen", "data", "models", "hw", "log_format", "tls.insecure_http")
	if !ok {
		return code
	}
	if err := config.Print(stdout, c); err != nil {
		return fail(stderr, "config print", err)
	}
	return 0
}

// errNoDatabase is an offline command pointed at a data directory without a database: it is
// refused rather than created, so a typo never leaves an empty database and PIN key behind.
var errNoDatabase = errors.New("no database there (start `doorface serve` once to create it, or give --data)")

// openDB opens the configured database for an offline command; it never creates one, except for
// enroll (create), which adds the first users of a new door before its first start.
func openDB(c config.Config, readOnly, create bool) (*store.DB, error) {
	path := filepath.Join(c.Data, dbFile)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) && !create {
		return nil, fmt.Errorf("%s: %w", path, errNoDatabase)
	}
	o := storeOptions(c, slog.New(slog.NewTextHandler(io.Discard, nil)))
	o.ReadOnly = readOnly
	return store.Open(path, o)
}

// onePipeline loads the models with a single recognizer, for offline commands.
func onePipeline(c config.Config) (*vision.Pipeline, vision.Config, error) {
	vc := c.Vision
	vc.Workers = 1
	p, err := vision.NewPipeline(c.Models, vc, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return p, vc, err
}

// subcommand checks that args start with sub, then parses the rest as the command "name sub"
// with the named configuration flags, and loads the configuration. ok is false when the command
// must end with code: 0 after help (-h, --help or help: usage on stdout, no data touched), 2 after
// a usage or configuration error.
func subcommand(args []string, sub, usage string, stdout, stderr io.Writer, keys ...string) (config.Config, int, bool) {
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprintln(stdout, "usage: doorface "+usage)
		return config.Config{}, 0, false
	}
	if len(args) == 0 || args[0] != sub {
		fmt.Fprintln(stderr, "usage: doorface "+usage)
		return config.Config{}, 2, false
	}
	name, _, _ := strings.Cut(usage, " [")
	fs, cf := commandFlags(name, usage, keys...)
	return loadCommand(fs, cf, args[1:], stdout, stderr)
}

// commandFlags is a subcommand's flag set: its own flags, plus --config and the named settings.
func commandFlags(name, usage string, keys ...string) (*flag.FlagSet, *config.Flags) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	cf := config.AddFlags(fs, keys...)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: doorface %s\n\nFlags:\n", usage)
		fs.PrintDefaults()
	}
	return fs, cf
}

// loadCommand parses a subcommand's flags and loads the configuration. ok is false when the
// command must end with code: 0 after help, 2 after a usage or configuration error.
func loadCommand(fs *flag.FlagSet, cf *config.Flags, args []string, stdout, stderr io.Writer) (c config.Config, code int, ok bool) {
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return c, code, false
	}
	c, err := cf.Load(os.Environ())
	if err != nil {
		fmt.Fprintf(stderr, "doorface %s: %v\n", fs.Name(), err)
		return c, 2, false
	}
	return c, 0, true
}

func enrollMain(args []string, stdout, stderr io.Writer) int {
	const usage = "enroll (--name NAME [--pin-stdin] | --user ID) [--force] PHOTO...   (--pin-stdin reads the new user's PIN from standard input)"
	fs, cf := commandFlags("enroll", usage, "data", "models")
	name := fs.String("name", "", "a new user's name (refused if a user already has it)")
	pinStdin := fs.Bool("pin-stdin", false, "read the new user's PIN (digits) from standard input; a PIN is never taken from the command line")
	userID := fs.String("user", "", "add the photos to this existing user instead")
	force := fs.Bool("force", false, "store a photo whose template is nearer another user than the user's own (refused otherwise)")
	c, code, ok := loadCommand(fs, cf, args, stdout, stderr)
	if !ok {
		return code
	}
	if (*name == "") == (*userID == "") || fs.NArg() == 0 || (*userID != "" && *pinStdin) {
		fmt.Fprintln(stderr, "usage: doorface "+usage)
		return 2
	}
	pin := ""
	if *pinStdin {
		var err error
		if pin, err = readSecret(os.Stdin); err != nil {
			return fail(stderr, "enroll", err)
		}
	}
	db, err := openDB(c, false, *userID == "")
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
	// Describe and check every photo first, so a bad photo leaves no half-enrolled user behind.
	photos := make([]transport.Photo, 0, fs.NArg())
	for _, p := range fs.Args() {
		body, err := os.ReadFile(p)
		if err != nil {
			return fail(stderr, "enroll", err)
		}
		photos = append(photos, transport.Photo{Body: body, ContentType: contentTypeOf(p)})
	}
	return enrollPhotos(db, pipe, vc, g, *name, pin, *userID, *force, fs.Args(), photos, stdout, stderr)
}

func usersMain(args []string, stdout, stderr io.Writer) int {
	const usage = "users list | delete ID | pin ID   (the PIN is read from standard input)\n       | templates ID | templates delete ID TID\n       | " + usersPolicyUsage
	if len(args) > 0 && slices.Contains(policySubcommands, args[0]) {
		return usersPolicyMain(args[0], args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "templates" {
		return templatesMain(args[1:], stdout, stderr)
	}
	if len(args) == 0 || (args[0] != "list" && args[0] != "delete" && args[0] != "pin") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintln(stdout, "usage: doorface "+usage)
			return 0
		}
		fmt.Fprintln(stderr, "usage: doorface "+usage)
		return 2
	}
	sub := args[0]
	fs, cf := commandFlags("users "+sub, usage, "data")
	c, code, ok := loadCommand(fs, cf, args[1:], stdout, stderr)
	if !ok {
		return code
	}
	if (sub == "list" && fs.NArg() != 0) || (sub == "delete" && fs.NArg() != 1) || (sub == "pin" && fs.NArg() != 1) {
		fmt.Fprintln(stderr, "usage: doorface "+usage)
		return 2
	}
	db, err := openDB(c, sub == "list", false)
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
		fmt.Fprintln(tw, "ID\tNAME\tENABLED\tPIN\tMODE\tSCHEDULE\tCREATED")
		for _, u := range us {
			fmt.Fprintf(tw, "%s\t%s\t%v\t%v\t%s\t%s\t%s\n", u.ID, u.Name, u.Enabled, u.HasPIN,
				cmp.Or(u.Mode, store.ModeFaceOrPIN), cmp.Or(u.Schedule, "-"), u.Created.Format(time.RFC3339))
		}
		tw.Flush()
	case sub == "delete" && fs.NArg() == 1:
		if err := db.DeleteUser(fs.Arg(0)); err != nil {
			return fail(stderr, "users delete", err)
		}
		fmt.Fprintf(stdout, "deleted user %s (templates removed, past attempts kept)\n", fs.Arg(0))
	case sub == "pin" && fs.NArg() == 1:
		pin, err := readSecret(os.Stdin)
		if err != nil {
			return fail(stderr, "users pin", err)
		}
		if err := db.SetPIN(fs.Arg(0), pin); err != nil {
			return fail(stderr, "users pin", err)
		}
		fmt.Fprintf(stdout, "PIN of user %s changed\n", fs.Arg(0))
	default:
		fmt.Fprintln(stderr, "usage: doorface "+usage)
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
	const usage = "audit export [--since T --until T --outcome O --user ID] --format csv|jsonl --out DIR\n" +
		"     | audit verify [--head SEQ:MAC] [--export DIR [--key FILE]]\n     | audit head"
	if len(args) == 0 || (args[0] != "export" && args[0] != "verify" && args[0] != "head") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprintln(stdout, "usage: doorface "+usage)
			return 0
		}
		fmt.Fprintln(stderr, "usage: doorface "+usage)
		return 2
	}
	sub := args[0]
	var since, until, outcome, user, format, out, head, exportDir, keyFile string
	fs, cf := commandFlags("audit "+sub, usage, "data")
	if sub == "verify" {
		fs.StringVar(&head, "head", "", "a head SEQ:MAC kept off the device earlier (as printed by doorface audit head): also detects a cut tail or a re-sealed history")
		fs.StringVar(&exportDir, "export", "", "verify an exported folder (audit export --format csv|jsonl, unfiltered) against --head instead of the database")
		fs.StringVar(&keyFile, "key", "", "the audit key file for --export (default: audit.key in the data directory)")
	}
	if sub == "export" {
		fs.StringVar(&since, "since", "", "first start time (inclusive)")
		fs.StringVar(&until, "until", "", "last start time (exclusive)")
		fs.StringVar(&outcome, "outcome", "", "only this outcome")
		fs.StringVar(&user, "user", "", "only this user id")
		fs.StringVar(&format, "format", "csv", "csv or jsonl")
		fs.StringVar(&out, "out", "", "output directory (records and evidence frames)")
	}
	c, code, ok := loadCommand(fs, cf, args[1:], stdout, stderr)
	if !ok {
		return code
	}
	path := filepath.Join(c.Data, dbFile)
	switch sub {
	case "head":
		db, err := openDB(c, true, false)
		if err != nil {
			return fail(stderr, "audit head", err)
		}
		defer db.Close()
		h, err := db.Head()
		if err != nil {
			return fail(stderr, "audit head", err)
		}
		fmt.Fprintln(stdout, h.String())
		return 0
	case "verify":
		return auditVerify(c, head, exportDir, keyFile, stdout, stderr)
	}
	if out == "" || (format != "csv" && format != "jsonl") {
		fmt.Fprintln(stderr, "audit export: --out DIR and --format csv|jsonl are required")
		return 2
	}
	if _, err := os.Stat(path); err != nil {
		return fail(stderr, "audit export", fmt.Errorf("%s: %w", path, errNoDatabase))
	}
	f := store.Filter{Outcome: outcome, User: user}
	var err error
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
	n, err := store.ExportFile(path, w, format, f, filepath.Join(out, "frames"), storeOptions(c, slog.New(slog.NewTextHandler(io.Discard, nil))))
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

// auditVerify checks the database's chain (against head when given), or an exported folder
// against head with the audit key.
func auditVerify(c config.Config, head, exportDir, keyFile string, stdout, stderr io.Writer) int {
	var anchor *store.Head
	if head != "" {
		h, err := store.ParseHead(head)
		if err != nil {
			return fail(stderr, "audit verify", err)
		}
		anchor = &h
	}
	var r store.VerifyReport
	var err error
	switch {
	case exportDir != "":
		if anchor == nil {
			fmt.Fprintln(stderr, "audit verify --export DIR needs --head SEQ:MAC (kept off the device from `doorface audit head`)")
			return 2
		}
		if keyFile == "" {
			keyFile = filepath.Join(c.Data, store.DefaultAuditKeyName)
		}
		key, kerr := store.ReadKeyFile(keyFile)
		if kerr != nil {
			return fail(stderr, "audit verify", kerr)
		}
		r, err = store.VerifyExport(exportDir, *anchor, key)
	default:
		db, oerr := openDB(c, true, false)
		if oerr != nil {
			return fail(stderr, "audit verify", oerr)
		}
		defer db.Close()
		if anchor != nil {
			r, err = db.VerifyAgainst(*anchor)
		} else {
			r, err = db.Verify()
		}
	}
	if err != nil {
		return fail(stderr, "audit verify", err)
	}
	if !r.OK {
		fmt.Fprintf(stdout, "BROKEN: %d records, first broken record %d: %s\n", r.Records, r.FirstBroken, r.Problem)
		return 1
	}
	anchored := ""
	if r.Anchored {
		anchored = ", anchored to the head given"
	}
	fmt.Fprintf(stdout, "OK: %d records, head %s%s\n", r.Records, r.HeadValue(), anchored)
	return 0
}

// lockoutMain implements `doorface lockout reset` for a stopped daemon (the API's POST
// /v1/lockout/reset when it runs): the PIN lockout is cleared and the reset audited.
func lockoutMain(args []string, stdout, stderr io.Writer) int {
	c, code, ok := subcommand(args, "reset", "lockout reset [--data DIR]   (daemon stopped; else POST /v1/lockout/reset)", stdout, stderr, "data")
	if !ok {
		return code
	}
	db, err := openDB(c, false, false)
	if err != nil {
		return fail(stderr, "lockout reset", err)
	}
	defer db.Close()
	by := "command line"
	if u := os.Getenv("USER"); u != "" {
		by += " (" + u + ")"
	}
	was, err := db.ResetLockout(by, time.Now())
	if err != nil {
		return fail(stderr, "lockout reset", err)
	}
	fmt.Fprintf(stdout, "PIN lockout cleared (was: %d failures, level %d, until %s); the reset is in the audit\n",
		was.Failures, was.Level, was.Until.Format(time.RFC3339))
	return 0
}

func calibrateMain(args []string, stdout, stderr io.Writer) int {
	fs, cf := commandFlags("calibrate", "calibrate [--far 0.01] [--engine mobilefacenet|dlib] DIR", "models")
	far := fs.Float64("far", 0.01, "target false-accept rate per frame")
	engine := ""
	fs.StringVar(&engine, "engine", "", "recognition engine to calibrate: mobilefacenet or dlib (default: the configured one)")
	c, code, ok := loadCommand(fs, cf, args, stdout, stderr)
	if !ok {
		return code
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
		c.Machine.ClearDistance, c.Machine.ClearMargin = vision.DefaultClear(engine)
	}
	pipe, _, err := onePipeline(c)
	if err != nil {
		return fail(stderr, "calibrate", err)
	}
	defer pipe.Close()
	cal, err := vision.Calibrate(context.Background(), pipe, fs.Arg(0), *far, c.Machine.MinMargin, c.Machine.K, c.Machine.N)
	if err != nil {
		return fail(stderr, "calibrate", err)
	}
	if err := cal.WriteTable(stdout); err != nil {
		return fail(stderr, "calibrate", err)
	}
	mc := c.Machine
	clears := []float64{0, 0.15, 0.20, 0.25, 0.30, 0.35}
	if !slices.Contains(clears, mc.ClearDistance) {
		clears = append(clears, mc.ClearDistance)
		slices.Sort(clears)
	}
	rows := cal.Sequential(mc.Threshold, mc.MinMargin, mc.ClearMargin, clears)
	if err := cal.WriteSequential(stdout, mc.Threshold, mc.MinMargin, mc.ClearMargin, mc.ClearDistance, rows); err != nil {
		return fail(stderr, "calibrate", err)
	}
	return 0
}

func dbMain(args []string, stdout, stderr io.Writer) int {
	c, code, ok := subcommand(args, "compact", "db compact [--data DIR]", stdout, stderr, "data")
	if !ok {
		return code
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
	c, code, ok := subcommand(args, "check", "models check [--models DIR]", stdout, stderr, "models")
	if !ok {
		return code
	}
	if err := vision.CheckModels(c.Models, c.Vision.Engine); err != nil {
		return fail(stderr, "models check", err)
	}
	known := map[string]bool{}
	for _, line := range strings.Split(knownModelSums+"\n"+knownModelBlobs, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && !strings.HasPrefix(f[0], "#") {
			known[f[0]] = true
		}
	}
	code = 0
	for _, name := range vision.ModelFiles(c.Vision.Engine) {
		p := filepath.Join(c.Models, name)
		f, err := os.Open(p)
		if err != nil {
			return fail(stderr, "models check", err)
		}
		h, blob := sha256.New(), sha1.New()
		if st, err := f.Stat(); err == nil {
			fmt.Fprintf(blob, "blob %d\x00", st.Size())
		}
		_, err = io.Copy(io.MultiWriter(h, blob), f)
		f.Close()
		if err != nil {
			return fail(stderr, "models check", err)
		}
		sum := hex.EncodeToString(h.Sum(nil))
		status := "known-good"
		if !known[sum] && known[hex.EncodeToString(blob.Sum(nil))] {
			status = "known-good (dlib's official file, by git blob id)"
		} else if !known[sum] {
			status = "UNKNOWN checksum (not in models/SHA256SUMS or models/GITBLOBS)"
			code = 1
		}
		fmt.Fprintf(stdout, "%s  %s  %s\n", sum, name, status)
	}
	return code
}

// tlsMain implements `doorface tls fingerprint`: the SHA-256 of the certificate the daemon serves,
// for pinning in the tablet.
func tlsMain(args []string, stdout, stderr io.Writer) int {
	c, code, ok := subcommand(args, "fingerprint", "tls fingerprint [--data DIR]", stdout, stderr, "data")
	if !ok {
		return code
	}
	certPath, keyPath := c.TLS.Cert, c.TLS.Key
	if certPath == "" {
		certPath, keyPath = filepath.Join(c.Data, transport.CertFile), filepath.Join(c.Data, transport.KeyFile)
	}
	if _, err := os.Stat(certPath); err != nil {
		return fail(stderr, "tls fingerprint", fmt.Errorf("%w (the daemon creates its certificate at its first start)", err))
	}
	cert, err := transport.LoadCertificate(certPath, keyPath)
	if err != nil {
		return fail(stderr, "tls fingerprint", err)
	}
	fmt.Fprintf(stdout, "%s  %s\n", transport.Fingerprint(cert), certPath)
	return 0
}

// tokensMain implements `doorface tokens show`: the API tokens, for the person setting up the
// tablet and the admin tools. They are never logged; this needs read access to the 0600 file.
func tokensMain(args []string, stdout, stderr io.Writer) int {
	c, code, ok := subcommand(args, "show", "tokens show [--data DIR]", stdout, stderr, "data")
	if !ok {
		return code
	}
	path := filepath.Join(c.Data, transport.TokenFile)
	if _, err := os.Stat(path); err != nil {
		return fail(stderr, "tokens show", fmt.Errorf("%w (the daemon creates its tokens at its first start, unless they are configured)", err))
	}
	t, _, err := transport.LoadOrCreateTokens(c.Data, transport.Tokens{})
	if err != nil {
		return fail(stderr, "tokens show", err)
	}
	fmt.Fprintf(stdout, "door:  %s\nadmin: %s\n", t.Door, t.Admin)
	return 0
}

// readSecret reads one line (a PIN) from r: secrets come from standard input, never from the
// command line, where every user of the machine can read them.
func readSecret(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 256)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read PIN from standard input: %w", err)
	}
	line = strings.TrimSpace(line)
	if line == "" {
		return "", errors.New("no PIN on standard input (e.g. `read -rs PIN; echo \"$PIN\" | doorface users pin ID`)")
	}
	return line, nil
}
