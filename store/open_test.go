package store

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestMigrationFromV0(t *testing.T) {
	path := filepath.Join(t.TempDir(), "doorface.db")
	desc := []float32{0.25, -0.5, 0.125, 1}
	created := time.Date(2024, 6, 1, 12, 0, 0, 0, time.UTC)
	// The unversioned prototype layout: no meta bucket, users without enabled flag, one raw
	// little-endian descriptor per user.
	bdb, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = bdb.Update(func(tx *bolt.Tx) error {
		users, _ := tx.CreateBucket([]byte("users"))
		tpls, _ := tx.CreateBucket([]byte("templates"))
		for _, u := range []userV0{{"u1", "Ada", created}, {"u2", "Bob", created}} {
			v, _ := json.Marshal(u)
			if err := users.Put([]byte(u.ID), v); err != nil {
				return err
			}
		}
		raw, _ := binary.Append(nil, binary.LittleEndian, desc)
		return tpls.Put([]byte("u1"), raw)
	})
	bdb.Close()
	if err != nil {
		t.Fatal(err)
	}

	if _, err := Open(path, Options{ReadOnly: true, Logger: quietLogger()}); !errors.Is(err, ErrNeedsMigration) {
		t.Fatalf("read-only open of v0 err = %v, want ErrNeedsMigration", err)
	}
	db, err := Open(path, testOptions())
	if err != nil {
		t.Fatalf("migrating open: %v", err)
	}
	users, _ := db.ListUsers()
	want := []User{{ID: "u1", Name: "Ada", Created: created, Enabled: true}, {ID: "u2", Name: "Bob", Created: created, Enabled: true}}
	if !reflect.DeepEqual(users, want) {
		t.Fatalf("migrated users %+v", users)
	}
	tpls, _ := db.Templates()
	if len(tpls) != 1 || tpls[0].UserID != "u1" || tpls[0].Engine != DefaultTemplateEngine || !reflect.DeepEqual(tpls[0].Descriptor, desc) {
		t.Fatalf("migrated templates %+v", tpls)
	}
	// The migrated file is fully usable: PINs, attempts, chain.
	if _, err := db.CreateUser("Cy", "48213957"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RecordAttempt(sampleAttempt("s1", t0), nil); err != nil {
		t.Fatal(err)
	}
	if rep, _ := db.Verify(); !rep.OK {
		t.Fatalf("Verify %+v", rep)
	}
	db.Close()
	checkFile(t, path)
	// Reopening does not migrate again and the version is current.
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keySchema); binary.BigEndian.Uint32(v) != SchemaVersion {
			t.Errorf("schema %x", v)
		}
		return nil
	})
	// A file from the future is refused.
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put(keySchema, binary.BigEndian.AppendUint32(nil, SchemaVersion+1))
	})
	if _, err := Open(path, testOptions()); !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("future schema err = %v", err)
	}
}

// TestPINSecrecy enrolls PINs and searches the raw database file and the logs for each PIN's
// digits and for every hash of it that needs no key; then opens a copy of the file without
// its key file.
func TestPINSecrecy(t *testing.T) {
	var logs logBuffer
	pins := []string{"48213957", "90517364", "31415926", "57721566"}
	db := openTestDB(t, func(o *Options) {
		o.Logger = slogText(&logs)
	})
	for i, p := range pins {
		u, err := db.CreateUser("user"+string(rune('A'+i)), p)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := db.LookupPIN(p, t0); !ok {
			t.Fatal("lookup")
		}
		_ = db.SetPIN(u.ID, p) // same PIN again: logged, re-indexed
	}
	if _, err := db.CreateUser("dup", pins[0]); !errors.Is(err, ErrPINInUse) {
		t.Fatal(err)
	}
	for _, p := range pins {
		if _, err := db.RecordAttempt(Attempt{ID: "s" + p[:3], Start: t0, Outcome: "granted", Method: "pin"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var exp bytes.Buffer
	if _, err := db.Export(&exp, "jsonl", Filter{}, ""); err != nil {
		t.Fatal(err)
	}
	path := db.Path()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pins {
		var needles [][]byte
		for _, sum := range [][]byte{
			md5Sum(p), sha1Sum(p), sha256Sum(p), sha512Sum(p),
			hmacSum(nil, p), hmacSum(nil, "pin:"+p), sha256Sum("pin:" + p),
		} {
			needles = append(needles, sum, []byte(hex.EncodeToString(sum)), []byte(base64.StdEncoding.EncodeToString(sum)))
		}
		needles = append(needles, []byte(p))
		for _, n := range needles {
			for name, hay := range map[string][]byte{"database file": raw, "logs": []byte(logs.String()), "export": exp.Bytes()} {
				if bytes.Contains(hay, n) {
					t.Errorf("%s contains %q derived from PIN %s", name, n, p)
				}
			}
		}
	}
	if !strings.Contains(logs.String(), "user created") {
		t.Fatal("logs were not captured: the log check tested nothing")
	}

	// A copy of the database without its key file: no PIN can be checked, no new key is made.
	dir := t.TempDir()
	stolen := filepath.Join(dir, "doorface.db")
	if err := copyFile(path, stolen); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(stolen, testOptions()); !errors.Is(err, ErrKeyFile) {
		t.Fatalf("open without key file err = %v, want ErrKeyFile", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "pin.key")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a new key was created for a database with PINs")
	}
	// With a different key file: refused too.
	if _, err := createKeyFile(filepath.Join(dir, "pin.key")); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(stolen, testOptions()); !errors.Is(err, ErrKeyFile) {
		t.Fatalf("open with a foreign key file err = %v, want ErrKeyFile", err)
	}
	// Read-only without the key works for exports but cannot check PINs; verifying the history
	// needs the audit key (issue 15: the chain is keyed), which is a separate file.
	if err := os.Remove(filepath.Join(dir, "pin.key")); err != nil {
		t.Fatal(err)
	}
	ro, err := Open(stolen, Options{ReadOnly: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := ro.Export(io.Discard, "jsonl", Filter{}, ""); err != nil || n != len(pins) {
		t.Fatalf("read-only Export without keys = %d, %v", n, err)
	}
	if _, err := ro.Verify(); !errors.Is(err, ErrKeyFile) {
		t.Fatalf("read-only Verify without the audit key err = %v, want ErrKeyFile", err)
	}
	ro.Close()
	if err := copyFile(filepath.Join(filepath.Dir(path), DefaultAuditKeyName), filepath.Join(dir, DefaultAuditKeyName)); err != nil {
		t.Fatal(err)
	}
	ro, err = Open(stolen, Options{ReadOnly: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if rep, err := ro.Verify(); err != nil || !rep.OK || rep.Records != len(pins) {
		t.Fatalf("read-only Verify %+v, %v", rep, err)
	}
	if _, _, err := ro.LookupPIN(pins[0], t0); !errors.Is(err, ErrKeyFile) {
		t.Fatalf("LookupPIN without key err = %v", err)
	}
	if _, err := ro.CreateUser("x", ""); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("write on read-only err = %v", err)
	}
	// The key file is 32 bytes, mode 0600, beside the database.
	st, err := os.Stat(filepath.Join(filepath.Dir(path), "pin.key"))
	if err != nil || st.Mode().Perm() != 0o600 || st.Size() != pinKeyLen {
		t.Fatalf("key file %v, %v", st, err)
	}
}

func md5Sum(s string) []byte    { h := md5.Sum([]byte(s)); return h[:] }
func sha1Sum(s string) []byte   { h := sha1.Sum([]byte(s)); return h[:] }
func sha256Sum(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }
func sha512Sum(s string) []byte { h := sha512.Sum512([]byte(s)); return h[:] }
func hmacSum(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}

func TestOpenLockedAndReadOnlyExport(t *testing.T) {
	db := openTestDB(t)
	if _, err := db.RecordAttempt(sampleAttempt("s1", t0), []byte("jpeg")); err != nil {
		t.Fatal(err)
	}
	// The daemon holds the file: an offline export and a second daemon get ErrLocked.
	start := time.Now()
	_, err := ExportFile(db.Path(), &bytes.Buffer{}, "csv", Filter{}, "", Options{OpenTimeout: 50 * time.Millisecond, Logger: quietLogger()})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "is the daemon running?") {
		t.Fatalf("ExportFile while held: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("lock wait ignored the timeout")
	}
	if _, err := Open(db.Path(), Options{OpenTimeout: 50 * time.Millisecond, Logger: quietLogger()}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open err = %v", err)
	}
	// Through the running daemon it works.
	var live bytes.Buffer
	if n, err := db.Export(&live, "csv", Filter{}, ""); err != nil || n != 1 {
		t.Fatalf("live export %d, %v", n, err)
	}
	path := db.Path()
	db.Close()
	// Closed: offline export works, with frames.
	var off bytes.Buffer
	frames := filepath.Join(t.TempDir(), "frames")
	if n, err := ExportFile(path, &off, "csv", Filter{}, frames, Options{Logger: quietLogger()}); err != nil || n != 1 {
		t.Fatalf("offline export %d, %v", n, err)
	}
	if off.String() != live.String() {
		t.Fatalf("offline and live exports differ:\n%s\n%s", off.String(), live.String())
	}
	if b, err := os.ReadFile(filepath.Join(frames, evidenceKey(1))); err != nil || string(b) != "jpeg" {
		t.Fatalf("exported frame %q, %v", b, err)
	}
	if _, err := ExportFile(filepath.Join(t.TempDir(), "none.db"), &off, "csv", Filter{}, "", Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("export of a missing file err = %v", err)
	}
	if _, err := db.GetUser("x"); !errors.Is(err, ErrClosed) {
		t.Fatalf("use after close err = %v", err)
	}
}

func TestOpenCorrupt(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt func(t *testing.T, path string)
	}{
		{"both meta pages", func(t *testing.T, path string) {
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			junk := bytes.Repeat([]byte{0xAB}, 512)
			for _, off := range []int64{16, 4096 + 16} { // inside the meta of page 0 and page 1
				if _, err := f.WriteAt(junk, off); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"truncated after the meta pages", func(t *testing.T, path string) {
			if err := os.Truncate(path, 2*4096); err != nil {
				t.Fatal(err)
			}
		}},
		{"a data page", func(t *testing.T, path string) {
			st, _ := os.Stat(path)
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			// Overwrite every page after the meta and freelist pages with junk headers.
			for off := int64(4 * 4096); off < st.Size(); off += 4096 {
				if _, err := f.WriteAt([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0x55, 0x55}, off); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"a bucket's root page (open succeeds, the consistency check fails)", func(t *testing.T, path string) {
			var root uint64
			bdb, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			_ = bdb.View(func(tx *bolt.Tx) error { root = uint64(tx.Bucket(bucketUsers).Root()); return nil })
			bdb.Close()
			f, err := os.OpenFile(path, os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			// Page header: id u64, flags u16: an unknown page type.
			if _, err := f.WriteAt([]byte{0xff, 0x00}, int64(root)*4096+8); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "doorface.db")
			db, err := Open(path, testOptions())
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 200; i++ {
				if _, err := db.CreateUser(fmt.Sprintf("%s%03d", strings.Repeat("n", 97), i), ""); err != nil {
					t.Fatal(err)
				}
			}
			db.Close()
			tc.corrupt(t, path)
			_, err = Open(path, testOptions())
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "bbolt check") {
				t.Fatalf("Open(corrupt) err = %v, want ErrCorrupt with repair hint", err)
			}
			t.Logf("Open: %v", err)
			copies, _ := filepath.Glob(path + ".corrupt-*")
			if len(copies) != 1 {
				t.Fatalf("copies of the corrupt file: %v", copies)
			}
			orig, _ := os.ReadFile(path)
			kept, _ := os.ReadFile(copies[0])
			if !bytes.Equal(orig, kept) {
				t.Fatal("the kept copy differs from the corrupt file")
			}
		})
	}
}

func TestCompact(t *testing.T) {
	db := openTestDB(t)
	u, _ := db.CreateUser("Ada", "48213957")
	for i := 0; i < 50; i++ {
		if _, err := db.RecordAttempt(sampleAttempt("s"+strings.Repeat("x", i), t0), bytes.Repeat([]byte{1}, 10000)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Prune(t0.Add(365 * 24 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	src := db.Path()
	if err := Compact(src, filepath.Join(t.TempDir(), "x.db")); !errors.Is(err, ErrLocked) {
		t.Fatalf("Compact while open err = %v", err)
	}
	db.Close()
	dst := filepath.Join(filepath.Dir(src), "compacted.db")
	if err := Compact(src, dst); err != nil {
		t.Fatal(err)
	}
	if err := Compact(src, dst); !errors.Is(err, ErrExists) {
		t.Fatalf("Compact onto an existing file err = %v", err)
	}
	a, _ := os.Stat(src)
	b, _ := os.Stat(dst)
	t.Logf("compacted %d -> %d bytes", a.Size(), b.Size())
	if b.Size() >= a.Size() {
		t.Fatalf("compacted file not smaller: %d >= %d", b.Size(), a.Size())
	}
	// Same directory, so the same pin.key applies.
	c, err := Open(dst, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if rep, err := c.Verify(); err != nil || !rep.OK || rep.Records != 50 {
		t.Fatalf("Verify(compacted) = %+v, %v", rep, err)
	}
	if got, ok, err := c.LookupPIN("48213957", t0); err != nil || !ok || got.ID != u.ID {
		t.Fatalf("PIN after compaction: %v %v", ok, err)
	}
}
