package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/doorface/doorface/clock"
)

// DefaultPath is where the daemon keeps its database unless configured otherwise.
const DefaultPath = "./data/doorface.db"

// SchemaVersion is the layout version this package writes. Open migrates older files.
const SchemaVersion = 2

// Defaults applied by Open to zero Options fields.
const (
	DefaultPinMinLen        = 5
	DefaultOpenTimeout      = time.Second
	DefaultMaxEvidenceAge   = 30 * 24 * time.Hour
	DefaultMaxEvidenceBytes = 512 << 20
	DefaultMaxRecords       = 100_000
	DefaultMaxRecordAge     = 400 * 24 * time.Hour
	DefaultKeepRecords      = 1_000
)

// Bucket and key names. They are the on-disk schema: never rename them without a migration.
var (
	bucketMeta       = []byte("meta")             // schema, chain head, lockout, evidence byte count, key id
	bucketUsers      = []byte("users")            // user id -> userRec JSON
	bucketPins       = []byte("pins")             // HMAC-SHA256(key, pin) -> user id
	bucketTemplates  = []byte("templates")        // user id "/" template id -> templateRec JSON
	bucketAttempts   = []byte("attempts")         // seq (8 bytes BE) -> HMAC (32 bytes) || canonical JSON body
	bucketByTime     = []byte("attempts_by_time") // start (8 bytes, ordered) || seq (8 bytes) -> empty
	bucketByID       = []byte("attempts_by_id")   // session id -> seq (8 bytes BE)
	bucketInProgress = []byte("in_progress")      // session id -> start unix nanos (8 bytes BE)
	bucketFrames     = []byte("frames")           // evidence key -> stored-at unix nanos (8 bytes BE) || JPEG
	bucketPruned     = []byte("pruned")           // evidence key -> pruned-at unix nanos (8 bytes BE)

	keySchema        = []byte("schema")
	keyChainHead     = []byte("chain_head") // seq (8 bytes BE) || MAC (32 bytes) of the last record
	keyLockout       = []byte("lockout")
	keyEvidenceBytes = []byte("evidence_bytes")
	keyUnlocking     = []byte("unlocking")  // session id of a granted session whose door may be open
	keyPinKeyID      = []byte("pin_key_id") // HMAC(key, keyIDLabel): tells whether a key file belongs here

	keyAuditKeyID      = []byte("audit_key_id")     // HMAC(audit key, auditKeyIDLabel)
	keyChainBase       = []byte("chain_base")       // MAC (32 bytes) || checkpoint JSON: the sealed start of the kept history
	keyEvidenceDropped = []byte("evidence_dropped") // new frames not kept because the evidence store was full (8 bytes BE)
)

// allBuckets are the buckets of the current schema, created at init and by migrations.
var allBuckets = [][]byte{bucketMeta, bucketUsers, bucketPins, bucketTemplates, bucketAttempts,
	bucketByTime, bucketByID, bucketInProgress, bucketFrames, bucketPruned}

// Options configure Open. The zero value is usable: every zero field takes its default.
type Options struct {
	// KeyFile is the PIN key file; default filepath.Join(filepath.Dir(path), "pin.key"). It is
	// created with mode 0600 on the first read-write open of a database that has no PINs yet.
	KeyFile string
	// Config holds the settings a person sets (PIN policy and evidence retention).
	Config
	// OpenTimeout is how long Open waits for the file lock; default 1s, then ErrLocked.
	OpenTimeout time.Duration
	// ReadOnly opens the file with a shared lock and refuses every write (ErrReadOnly).
	ReadOnly bool
	// Clock stamps users, templates and markers; default clock.Real{}.
	Clock clock.Clock
	// AuditKeyFile is the key of the audit chain's HMAC; default "audit.key" beside the
	// database, created with mode 0600 like the PIN key, and separate from it so that an auditor
	// verifying exports never holds the PIN key.
	AuditKeyFile string
	// Logger receives the store's log lines (with component=store); default slog.Default().
	Logger *slog.Logger
}

// DB is an open doorface database. Its methods are safe for concurrent use.
type DB struct {
	bolt *bolt.DB
	path string
	opts Options
	log  *slog.Logger
	// key is the PIN HMAC key; nil on a read-only open without a key file.
	key []byte
	// auditKey is the audit chain's HMAC key; nil on a read-only open without its file.
	auditKey []byte
	// auditKeyIDMissing: the audit key's id is still to be recorded in meta.
	auditKeyIDMissing bool

	// mu guards closed.
	mu     sync.Mutex
	closed bool
}

// Open opens (creating if needed, unless read-only) the database at path, migrates it to
// SchemaVersion, and runs bbolt's consistency check. A file that fails the check is copied to
// path+".corrupt-<unix seconds>" and Open returns an error wrapping ErrCorrupt; the caller must
// refuse to start (the door stays locked). A lock held by another process gives ErrLocked.
func Open(path string, o Options) (*DB, error) {
	if o.PIN.MinLength == 0 {
		o.PIN.MinLength = DefaultPinMinLen
	}
	if o.PIN.MinLength < 1 || o.PIN.MinLength > maxPINLen {
		return nil, fmt.Errorf("store: open %s: pin.min_length %d outside 1..%d: %w", path, o.PIN.MinLength, maxPINLen, ErrPINPolicy)
	}
	if o.OpenTimeout <= 0 {
		o.OpenTimeout = DefaultOpenTimeout
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Retention.MaxAge <= 0 {
		o.Retention.MaxAge = DefaultMaxEvidenceAge
	}
	if o.Retention.MaxBytes <= 0 {
		o.Retention.MaxBytes = DefaultMaxEvidenceBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.KeyFile == "" {
		o.KeyFile = filepath.Join(filepath.Dir(path), "pin.key")
	}
	if o.AuditKeyFile == "" {
		o.AuditKeyFile = filepath.Join(filepath.Dir(path), DefaultAuditKeyName)
	}
	if o.Retention.MaxRecords <= 0 {
		o.Retention.MaxRecords = DefaultMaxRecords
	}
	if o.Retention.MaxRecordAge <= 0 {
		o.Retention.MaxRecordAge = DefaultMaxRecordAge
	}
	if o.Retention.KeepRecords <= 0 {
		o.Retention.KeepRecords = DefaultKeepRecords
	}
	o.Retention.KeepRecords = min(o.Retention.KeepRecords, o.Retention.MaxRecords)
	logger := o.Logger.With("component", "store")

	if !o.ReadOnly {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("store: create directory for %s: %w", path, err)
		}
	} else if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("store: open %s read-only: %w", path, err)
	}

	bdb, err := openBolt(path, &bolt.Options{
		Timeout:        o.OpenTimeout,
		ReadOnly:       o.ReadOnly,
		NoSync:         false, // every commit is fsync'd: never NoSync
		NoGrowSync:     false,
		NoFreelistSync: false,
	})
	if err != nil {
		var p openPanic
		if errors.As(err, &p) {
			return nil, corruptError(path, err, logger)
		}
		switch {
		case errors.Is(err, berrors.ErrTimeout):
			return nil, fmt.Errorf("store: open %s: waited %s for the file lock: %w", path, o.OpenTimeout, ErrLocked)
		case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum),
			errors.Is(err, berrors.ErrVersionMismatch), errors.Is(err, berrors.ErrInvalidMapping):
			return nil, corruptError(path, err, logger)
		}
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	db := &DB{bolt: bdb, path: path, opts: o, log: logger}

	if err := db.check(); err != nil {
		_ = bdb.Close()
		return nil, corruptError(path, err, logger)
	}
	if err := db.loadAuditKey(); err != nil {
		_ = bdb.Close()
		return nil, err
	}
	if err := db.migrate(); err != nil {
		_ = bdb.Close()
		return nil, err
	}
	if err := db.recordAuditKeyID(); err != nil {
		_ = bdb.Close()
		return nil, err
	}
	if err := db.loadKey(); err != nil {
		_ = bdb.Close()
		return nil, err
	}
	logger.Info("database opened", "path", path, "read_only", o.ReadOnly, "schema", SchemaVersion)
	return db, nil
}

// openPanic is a panic of bbolt.Open turned into an error.
type openPanic struct{ v any }

func (p openPanic) Error() string { return fmt.Sprintf("bbolt panicked reading the file: %v", p.v) }

// openBolt is bolt.Open with its panics (bbolt panics on some damaged pages, for example a
// corrupt freelist) turned into errors, so a damaged file refuses to start cleanly. After such
// a panic bbolt's file descriptor and lock stay open in this process.
//
// A truncated file makes bbolt read past the end of its memory map (SIGBUS), which would kill
// the process; with SetPanicOnFault that fault is a panic here too, and refused the same way.
func openBolt(path string, o *bolt.Options) (db *bolt.DB, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			db, err = nil, openPanic{r}
		}
	}()
	return bolt.Open(path, 0o600, o)
}

// check runs bbolt's consistency check over the whole file and joins what it reports.
func (db *DB) check() (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil { // bbolt may panic on pages it cannot parse
			err = fmt.Errorf("consistency check panicked: %v", r)
		}
	}()
	return db.bolt.View(func(tx *bolt.Tx) error {
		var problems []error
		for err := range tx.Check() {
			if len(problems) < 10 {
				problems = append(problems, err)
			}
		}
		return errors.Join(problems...)
	})
}

// corruptError keeps a copy of the damaged file and builds the error Open returns.
func corruptError(path string, cause error, logger *slog.Logger) error {
	cp := fmt.Sprintf("%s.corrupt-%d", path, time.Now().Unix())
	if err := copyFile(path, cp); err != nil {
		logger.Error("database corrupt; keeping a copy failed", "path", path, "err", err)
		cp = "(copy failed: " + err.Error() + ")"
	} else {
		logger.Error("database corrupt; copy kept", "path", path, "copy", cp, "err", cause)
	}
	return fmt.Errorf("store: %s failed the consistency check (%v); copy kept at %s; refusing to start, "+
		"the door stays locked; repair with `bbolt check`, `bbolt surgery` or `bbolt compact` "+
		"(see store/doc.go): %w", path, cause, cp, ErrCorrupt)
}

// copyFile copies src to a new file dst (mode 0600) and fsyncs it.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// migrations[v] turns a schema-v file into a schema v+1 file, inside one transaction.
var migrations = []func(db *DB, tx *bolt.Tx, now time.Time) error{
	0: func(_ *DB, tx *bolt.Tx, now time.Time) error { return migrate0to1(tx, now) },
	1: migrate1to2,
}

// migrate brings the file to SchemaVersion (a new file is initialized directly).
func (db *DB) migrate() error {
	var version uint32
	fresh := false
	err := db.bolt.View(func(tx *bolt.Tx) error {
		if m := tx.Bucket(bucketMeta); m != nil {
			if v := m.Get(keySchema); len(v) == 4 {
				version = binary.BigEndian.Uint32(v)
				return nil
			}
		}
		// No version key: either a brand new file, or the unversioned prototype layout (v0).
		fresh = true
		return tx.ForEach(func([]byte, *bolt.Bucket) error { fresh = false; return nil })
	})
	if err != nil {
		return fmt.Errorf("store: read schema version: %w", err)
	}
	switch {
	case version > SchemaVersion:
		return fmt.Errorf("store: %s has schema %d, this program knows %d: %w", db.path, version, SchemaVersion, ErrSchemaTooNew)
	case version == SchemaVersion:
		return nil
	case db.opts.ReadOnly:
		if fresh {
			return fmt.Errorf("store: %s is empty (never initialized): %w", db.path, ErrNotFound)
		}
		return fmt.Errorf("store: %s has schema %d, want %d: %w", db.path, version, SchemaVersion, ErrNeedsMigration)
	}
	now := db.opts.Clock.Now()
	return db.bolt.Update(func(tx *bolt.Tx) error {
		if !fresh {
			for v := version; v < SchemaVersion; v++ {
				if err := migrations[v](db, tx, now); err != nil {
					return fmt.Errorf("store: migrate schema %d to %d: %w", v, v+1, err)
				}
				db.log.Info("schema migrated", "from", v, "to", v+1)
			}
		}
		for _, name := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return fmt.Errorf("store: create bucket %s: %w", name, err)
			}
		}
		return tx.Bucket(bucketMeta).Put(keySchema, binary.BigEndian.AppendUint32(nil, SchemaVersion))
	})
}

// Schema v0 is the unversioned prototype layout: bucket "users" held id -> {"id","name",
// "created" (RFC 3339)} with no enabled flag, no validity and no PIN, and bucket "templates"
// held user id -> one descriptor as little-endian float32s. There was no audit history.
type userV0 struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
}

// migrate0to1 rewrites v0 users as enabled v1 users and moves each v0 template under a
// per-user template key.
func migrate0to1(tx *bolt.Tx, now time.Time) error {
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return err
		}
	}
	users := tx.Bucket(bucketUsers)
	type kv struct{ k, v []byte }
	var olds []kv
	if err := users.ForEach(func(k, v []byte) error {
		olds = append(olds, kv{bytes.Clone(k), bytes.Clone(v)})
		return nil
	}); err != nil {
		return err
	}
	for _, o := range olds {
		var u0 userV0
		if err := jsonUnmarshal(o.v, &u0); err != nil {
			return fmt.Errorf("v0 user %q: %w", o.k, err)
		}
		if u0.ID == "" {
			u0.ID = string(o.k)
		}
		rec := userRec{ID: u0.ID, Name: u0.Name, Created: toNanos(u0.Created), Enabled: true}
		if err := putJSON(users, []byte(rec.ID), rec); err != nil {
			return err
		}
	}
	tpls := tx.Bucket(bucketTemplates)
	olds = olds[:0]
	if err := tpls.ForEach(func(k, v []byte) error {
		if !bytes.Contains(k, []byte("/")) {
			olds = append(olds, kv{bytes.Clone(k), bytes.Clone(v)})
		}
		return nil
	}); err != nil {
		return err
	}
	for _, o := range olds {
		if len(o.v)%4 != 0 || len(o.v) == 0 {
			return fmt.Errorf("v0 template of %q has %d bytes, not a float32 array", o.k, len(o.v))
		}
		desc := make([]float32, len(o.v)/4)
		if _, err := binary.Decode(o.v, binary.LittleEndian, desc); err != nil {
			return err
		}
		id, err := newID()
		if err != nil {
			return err
		}
		rec := templateRec{ID: id, UserID: string(o.k), Descriptor: desc, Created: toNanos(now)}
		if err := tpls.Delete(o.k); err != nil {
			return err
		}
		if err := putJSON(tpls, templateKey(rec.UserID, rec.ID), rec); err != nil {
			return err
		}
	}
	return nil
}

// Path returns the database file path.
func (db *DB) Path() string { return db.path }

// Close closes the file. It is safe to call more than once.
func (db *DB) Close() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	if db.closed {
		return nil
	}
	db.closed = true
	if err := db.bolt.Close(); err != nil {
		return fmt.Errorf("store: close %s: %w", db.path, err)
	}
	db.log.Info("database closed", "path", db.path)
	return nil
}

// isClosed reports whether Close was called.
func (db *DB) isClosed() bool {
	db.mu.Lock()
	defer db.mu.Unlock()
	return db.closed
}

// update runs fn in a read-write transaction, committed with fsync before it returns.
func (db *DB) update(fn func(tx *bolt.Tx) error) error {
	if db.opts.ReadOnly {
		return ErrReadOnly
	}
	if db.isClosed() {
		return ErrClosed
	}
	return db.bolt.Update(fn)
}

// view runs fn in a read-only transaction.
func (db *DB) view(fn func(tx *bolt.Tx) error) error {
	if db.isClosed() {
		return ErrClosed
	}
	return db.bolt.View(fn)
}

// toNanos stores a time as Unix nanoseconds; the zero time is 0.
func toNanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// fromNanos is the inverse of toNanos, in UTC.
func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// u64 encodes v as 8 bytes big-endian.
func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// validName reports why a user name is unacceptable, or "".
func validName(name string) string {
	switch {
	case strings.TrimSpace(name) == "":
		return "empty"
	case len(name) > 128:
		return "longer than 128 bytes"
	case strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return "contains control characters"
	}
	return ""
}
