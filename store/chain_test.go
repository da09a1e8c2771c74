package store

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// legacyRechain recomputes schema 1's unkeyed sha256 links from record from on and rewrites
// the head, as anyone who could write the file could do before issue 15.
func legacyRechain(tx *bolt.Tx, from uint64) error {
	b := tx.Bucket(bucketAttempts)
	prev := genesisHash
	if from > 1 {
		prev = hex.EncodeToString(b.Get(u64(from - 1))[:32])
	}
	var last uint64
	var sum [32]byte
	for s := from; b.Get(u64(s)) != nil; s++ {
		var body map[string]any
		if err := json.Unmarshal(b.Get(u64(s))[32:], &body); err != nil {
			return err
		}
		body["prev_hash"] = prev
		var a attemptBody
		enc, _ := json.Marshal(body)
		if err := json.Unmarshal(enc, &a); err != nil {
			return err
		}
		enc, _ = json.Marshal(a)
		sum = legacyChainHash(prev, enc)
		if err := b.Put(u64(s), append(sum[:], enc...)); err != nil {
			return err
		}
		prev, last = hex.EncodeToString(sum[:]), s
	}
	return tx.Bucket(bucketMeta).Put(keyChainHead, append(u64(last), sum[:]...))
}

// TestVerifyDetectsRewrites (issue 15, finding 8): rewrites that passed the unkeyed chain are
// now found by Verify: a record edited and the chain recomputed, an evidence photo swapped or
// deleted, index entries deleted or forged, a forged checkpoint over deleted records.
func TestVerifyDetectsRewrites(t *testing.T) {
	const n = 40
	for _, tc := range []struct {
		name    string
		tamper  func(tx *bolt.Tx) error
		broken  uint64
		problem string
	}{
		{"edit a record and re-chain with sha256", func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketAttempts)
			v := bytes.Replace(b.Get(u64(7)), []byte(`"outcome":"denied"`), []byte(`"outcome":"granted"`), 1)
			if err := b.Put(u64(7), v); err != nil {
				return err
			}
			return legacyRechain(tx, 7)
		}, 7, "altered"},
		{"swap an evidence photo", func(tx *bolt.Tx) error {
			f := tx.Bucket(bucketFrames)
			v := append(bytes.Clone(f.Get([]byte(evidenceKey(9)))[:8]), "another face"...)
			return f.Put([]byte(evidenceKey(9)), v)
		}, 9, "replaced"},
		{"delete an evidence photo outside retention", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketFrames).Delete([]byte(evidenceKey(12)))
		}, 12, "missing"},
		{"delete a session index entry", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketByID).Delete([]byte("s20"))
		}, 20, "session index"},
		{"point a session index entry elsewhere", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketByID).Put([]byte("s20"), u64(21))
		}, 20, "session index"},
		{"forge a session index entry", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketByID).Put([]byte("forged"), u64(5))
		}, n, "session index holds"},
		{"delete a time index entry", func(tx *bolt.Tx) error {
			c := tx.Bucket(bucketByTime).Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				if binary.BigEndian.Uint64(k[8:]) == 15 {
					return c.Delete()
				}
			}
			return errors.New("no time key")
		}, 15, "time index"},
		{"forge a frame with no record", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketFrames).Put([]byte(evidenceKey(10)), append(u64(0), "planted"...))
		}, n, "evidence frames holds"},
		{"delete the first records behind a forged checkpoint", func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketAttempts)
			mac5 := hex.EncodeToString(b.Get(u64(5))[:32])
			for s := uint64(1); s <= 5; s++ {
				if err := b.Delete(u64(s)); err != nil {
					return err
				}
			}
			enc, _ := json.Marshal(checkpointRec{Seq: 5, MAC: mac5, Pruned: 5})
			fake := mac(bytes.Repeat([]byte{7}, 32), append([]byte(checkpointLabel), enc...))
			return tx.Bucket(bucketMeta).Put(keyChainBase, append(fake, enc...))
		}, 1, "checkpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := chainOf(t, n) // frames on every third record
			rawUpdate(t, path, tc.tamper)
			db, err := Open(path, testOptions())
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			rep, err := db.Verify()
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK || rep.FirstBroken != tc.broken || !strings.Contains(rep.Problem, tc.problem) {
				t.Fatalf("Verify = %+v; want first_broken=%d problem~%q", rep, tc.broken, tc.problem)
			}
		})
	}
}

// TestVerifyAgainstHead: cutting the tail and rewriting the head passes Verify (the file alone
// cannot tell), but not against a head exported earlier; neither does a history re-sealed with
// the key.
func TestVerifyAgainstHead(t *testing.T) {
	db := openTestDB(t)
	bulkRecord(t, db, 1, 50, func(i int) (Attempt, []byte) {
		return sampleAttempt(fmt.Sprintf("s%d", i), t0.Add(time.Duration(i)*time.Minute)), nil
	})
	head, err := db.Head()
	if err != nil || head.Seq != 50 || len(head.MAC) != 64 {
		t.Fatalf("Head = %v, %v", head, err)
	}
	if h, err := ParseHead(head.String()); err != nil || h != head {
		t.Fatalf("ParseHead(%q) = %v, %v", head, h, err)
	}
	if _, err := ParseHead("12:nothex"); !errors.Is(err, ErrInvalidHead) {
		t.Fatalf("ParseHead(bad) err = %v", err)
	}
	bulkRecord(t, db, 51, 55, func(i int) (Attempt, []byte) {
		return sampleAttempt(fmt.Sprintf("s%d", i), t0.Add(time.Duration(i)*time.Minute)), nil
	})
	if rep, err := db.VerifyAgainst(head); err != nil || !rep.OK || !rep.Anchored || rep.HeadSeq != 55 {
		t.Fatalf("VerifyAgainst(untouched) = %+v, %v", rep, err)
	}
	path := db.Path()
	key, err := ReadKeyFile(filepath.Join(filepath.Dir(path), DefaultAuditKeyName))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()

	for _, tc := range []struct {
		name    string
		tamper  func(tx *bolt.Tx) error
		problem string
	}{
		{"cut the tail below the head, head rewritten", func(tx *bolt.Tx) error {
			return cutTail(tx, 45)
		}, "cut"},
		{"rewrite record 30 and re-seal with the key", func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketAttempts)
			v := bytes.Replace(b.Get(u64(30)), []byte(`"outcome":"denied"`), []byte(`"outcome":"granted"`), 1)
			if err := b.Put(u64(30), v); err != nil {
				return err
			}
			return resealWith(tx, key, 30)
		}, "does not match the exported head"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cp := filepath.Join(t.TempDir(), "doorface.db")
			if err := copyFile(path, cp); err != nil {
				t.Fatal(err)
			}
			if err := copyFile(filepath.Join(filepath.Dir(path), DefaultAuditKeyName), filepath.Join(filepath.Dir(cp), DefaultAuditKeyName)); err != nil {
				t.Fatal(err)
			}
			rawUpdate(t, cp, tc.tamper)
			db, err := Open(cp, Options{ReadOnly: true, Logger: quietLogger()})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if rep, err := db.Verify(); err != nil || !rep.OK {
				t.Fatalf("Verify without the exported head = %+v, %v (the file alone passes)", rep, err)
			}
			rep, err := db.VerifyAgainst(head)
			if err != nil || rep.OK || !strings.Contains(rep.Problem, tc.problem) {
				t.Fatalf("VerifyAgainst = %+v, %v; want problem~%q", rep, err, tc.problem)
			}
		})
	}
}

// cutTail deletes the records after last with their index entries and points the head at last.
func cutTail(tx *bolt.Tx, last uint64) error {
	b := tx.Bucket(bucketAttempts)
	for s := last + 1; b.Get(u64(s)) != nil; s++ {
		var body attemptBody
		if err := json.Unmarshal(b.Get(u64(s))[32:], &body); err != nil {
			return err
		}
		_ = tx.Bucket(bucketByID).Delete([]byte(body.ID))
		_ = tx.Bucket(bucketByTime).Delete(timeKey(body.Start, s))
		if err := b.Delete(u64(s)); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketMeta).Put(keyChainHead, append(u64(last), b.Get(u64(last))[:32]...))
}

// resealWith recomputes the keyed chain from record from on, as an attacker holding the key could.
func resealWith(tx *bolt.Tx, key []byte, from uint64) error {
	b := tx.Bucket(bucketAttempts)
	prev := hex.EncodeToString(b.Get(u64(from - 1))[:32])
	var last uint64
	var sum [32]byte
	for s := from; b.Get(u64(s)) != nil; s++ {
		var a attemptBody
		if err := json.Unmarshal(b.Get(u64(s))[32:], &a); err != nil {
			return err
		}
		a.PrevHash = prev
		enc, _ := json.Marshal(a)
		sum = chainMAC(key, prev, enc)
		if err := b.Put(u64(s), append(sum[:], enc...)); err != nil {
			return err
		}
		prev, last = hex.EncodeToString(sum[:]), s
	}
	return tx.Bucket(bucketMeta).Put(keyChainHead, append(u64(last), sum[:]...))
}

// v1Body is a schema-1 record body.
type v1Body struct {
	Seq          uint64             `json:"seq"`
	ID           string             `json:"id"`
	Start        int64              `json:"start"`
	End          int64              `json:"end"`
	Outcome      string             `json:"outcome"`
	Method       string             `json:"method"`
	User         string             `json:"user"`
	Name         string             `json:"name"`
	BestUser     string             `json:"best_user"`
	BestDistance float64            `json:"best_distance"`
	BestMargin   float64            `json:"best_margin"`
	Frames       int                `json:"frames"`
	PinTries     int                `json:"pin_tries"`
	Durations    map[string]float64 `json:"durations"`
	Reason       string             `json:"reason"`
	Evidence     string             `json:"evidence"`
	PrevHash     string             `json:"prev_hash"`
}

// toSchema1 turns a closed schema-2 file into the schema-1 layout: unkeyed sha256 chain, no
// audit key id, schema 1, and removes the audit key file.
func toSchema1(t *testing.T, path string) {
	t.Helper()
	rawUpdate(t, path, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAttempts)
		prev := genesisHash
		var last uint64
		var sum [32]byte
		for s := uint64(1); b.Get(u64(s)) != nil; s++ {
			var v v1Body
			if err := json.Unmarshal(b.Get(u64(s))[32:], &v); err != nil {
				return err
			}
			v.PrevHash = prev
			enc, _ := json.Marshal(v)
			sum = legacyChainHash(prev, enc)
			if err := b.Put(u64(s), append(sum[:], enc...)); err != nil {
				return err
			}
			prev, last = hex.EncodeToString(sum[:]), s
		}
		meta := tx.Bucket(bucketMeta)
		for _, k := range [][]byte{keyAuditKeyID, keyChainBase} {
			if err := meta.Delete(k); err != nil {
				return err
			}
		}
		if err := meta.Put(keyChainHead, append(u64(last), sum[:]...)); err != nil {
			return err
		}
		return meta.Put(keySchema, binary.BigEndian.AppendUint32(nil, 1))
	})
	if err := os.Remove(filepath.Join(filepath.Dir(path), DefaultAuditKeyName)); err != nil {
		t.Fatal(err)
	}
}

// TestMigrateV1Reseals: a schema-1 database (unkeyed chain) is re-sealed once with a new audit
// key, with the old chain's state noted in the checkpoint; afterwards the database is refused
// without its audit key.
func TestMigrateV1Reseals(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(tx *bolt.Tx) error
		note   string
	}{
		{"intact old chain", nil, "verified intact"},
		{"old chain edited without re-chaining", func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketAttempts)
			return b.Put(u64(3), bytes.Replace(b.Get(u64(3)), []byte(`"outcome":"denied"`), []byte(`"outcome":"granted"`), 1))
		}, "BROKEN: record 3 was altered"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := chainOf(t, 12)
			toSchema1(t, path)
			if tc.tamper != nil {
				rawUpdate(t, path, tc.tamper)
			}
			if _, err := Open(path, Options{ReadOnly: true, Logger: quietLogger()}); !errors.Is(err, ErrNeedsMigration) {
				t.Fatalf("read-only open of schema 1: %v", err)
			}
			db, err := Open(path, testOptions())
			if err != nil {
				t.Fatal(err)
			}
			rep, err := db.Verify()
			if err != nil || !rep.OK || rep.Records != 12 || !strings.Contains(rep.Checkpoint.Resealed, "12 schema-1 records re-sealed") ||
				!strings.Contains(rep.Checkpoint.Resealed, tc.note) {
				t.Fatalf("Verify after migration = %+v, %v; want note ~%q", rep, err, tc.note)
			}
			a, err := db.GetAttempt("s3")
			if err != nil {
				t.Fatal(err)
			}
			if jpeg, err := db.Frame("s3"); err != nil || a.EvidenceSHA256 != sha256Hex(jpeg) {
				t.Fatalf("evidence of s3 not sealed: %+v, %v", a, err)
			}
			if _, err := db.RecordAttempt(sampleAttempt("after", t0.Add(time.Hour)), nil); err != nil {
				t.Fatal(err)
			}
			db.Close()
			st, err := os.Stat(filepath.Join(filepath.Dir(path), DefaultAuditKeyName))
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("audit key file: %v, %v", st, err)
			}
			if err := os.Rename(filepath.Join(filepath.Dir(path), DefaultAuditKeyName), path+".key-aside"); err != nil {
				t.Fatal(err)
			}
			if _, err := Open(path, testOptions()); !errors.Is(err, ErrKeyFile) {
				t.Fatalf("open without the audit key: %v, want ErrKeyFile", err)
			}
			if _, err := createKeyFile(filepath.Join(filepath.Dir(path), DefaultAuditKeyName)); err != nil {
				t.Fatal(err)
			}
			if _, err := Open(path, testOptions()); !errors.Is(err, ErrKeyFile) {
				t.Fatalf("open with another audit key: %v, want ErrKeyFile", err)
			}
		})
	}
}

// TestHistoryIsBounded (issue 15, finding 5): recording beyond MaxRecords prunes the oldest
// records (never the newest) behind a sealed checkpoint, Prune drops records past MaxRecordAge
// but keeps the newest KeepRecords, and the chain still verifies.
func TestHistoryIsBounded(t *testing.T) {
	db := openTestDB(t, func(o *Options) {
		o.Retention.MaxRecords, o.Retention.KeepRecords, o.Retention.MaxRecordAge = 50, 10, time.Hour
	})
	for i := 1; i <= 120; i++ {
		var ev []byte
		if i%2 == 0 {
			ev = []byte(fmt.Sprintf("jpeg-%d", i))
		}
		if _, err := db.RecordAttempt(sampleAttempt(fmt.Sprintf("s%d", i), t0.Add(time.Duration(i)*time.Minute)), ev); err != nil {
			t.Fatal(err)
		}
		if u, err := db.HistoryUsage(); err != nil || u.Records > 50 {
			t.Fatalf("after %d records: %+v, %v", i, u, err)
		}
	}
	var keptBytes int64 // frames of the kept records 71..120 only
	for i := 72; i <= 120; i += 2 {
		keptBytes += int64(len(fmt.Sprintf("jpeg-%d", i)))
	}
	u, err := db.HistoryUsage()
	if err != nil || u.Records != 50 || u.PrunedRecords != 70 || u.EvidenceBytes != keptBytes || u.Fill() != 1 {
		t.Fatalf("HistoryUsage = %+v (fill %v), %v", u, u.Fill(), err)
	}
	rep, err := db.Verify()
	if err != nil || !rep.OK || rep.Records != 50 || rep.Checkpoint.Seq != 70 || rep.Checkpoint.Pruned != 70 {
		t.Fatalf("Verify after pruning = %+v, %v", rep, err)
	}
	if _, err := db.GetAttempt("s70"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("s70 should be pruned: %v", err)
	}
	if a, err := db.GetAttempt("s71"); err != nil || a.Seq != 71 {
		t.Fatalf("s71 should be kept: %+v, %v", a, err)
	}
	// Age: every record is older than an hour at t0+5h, but the newest 10 stay.
	pr, err := db.Prune(t0.Add(5 * time.Hour))
	if err != nil || pr.Records != 40 {
		t.Fatalf("Prune by age = %+v, %v", pr, err)
	}
	rep, err = db.Verify()
	if err != nil || !rep.OK || rep.Records != 10 || rep.Checkpoint.Seq != 110 {
		t.Fatalf("Verify after age pruning = %+v, %v", rep, err)
	}
	if _, err := db.GetAttempt("s111"); err != nil {
		t.Fatalf("the newest records must stay: %v", err)
	}
	// The head still anchors: a head taken before pruning is accepted as long as it is kept.
	h, _ := db.Head()
	if rep, err := db.VerifyAgainst(h); err != nil || !rep.Anchored {
		t.Fatalf("VerifyAgainst(current head) = %+v, %v", rep, err)
	}
}

// TestResetLockoutIsAudited: the administrator's reset clears the saved lockout and leaves a
// chained record naming who did it.
func TestResetLockoutIsAudited(t *testing.T) {
	db := openTestDB(t)
	lo := Lockout{Failures: 2, Level: 3, Until: t0.Add(time.Hour), Since: t0.Add(-time.Minute)}
	if err := db.SaveLockout(lo); err != nil {
		t.Fatal(err)
	}
	if got, err := db.LoadLockout(); err != nil || got != lo {
		t.Fatalf("LoadLockout = %+v, %v; want %+v (Since kept)", got, err, lo)
	}
	was, err := db.ResetLockout("admin-1", t0)
	if err != nil || was != lo {
		t.Fatalf("ResetLockout = %+v, %v", was, err)
	}
	if got, _ := db.LoadLockout(); got != (Lockout{}) {
		t.Fatalf("after reset: %+v", got)
	}
	a, err := db.GetAttempt(fmt.Sprintf("lockout-reset-%d", t0.UnixNano()))
	if err != nil || a.Method != MethodAdmin || a.Outcome != OutcomeLockoutReset || !strings.Contains(a.Reason, "admin-1") ||
		!strings.Contains(a.Reason, "level 3") {
		t.Fatalf("reset record %+v, %v", a, err)
	}
	if rep, err := db.Verify(); err != nil || !rep.OK {
		t.Fatalf("Verify = %+v, %v", rep, err)
	}
}
