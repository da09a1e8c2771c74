package store

import (
	"fmt"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// chainOf records n attempts and returns the closed file's path.
func chainOf(t *testing.T, n int) string {
	t.Helper()
	db := openTestDB(t)
	if _, err := db.RecordAttempt(sampleAttempt("s1", t0.Add(time.Minute)), nil); err != nil {
		t.Fatal(err)
	}
	bulkRecord(t, db, 2, n, func(i int) (Attempt, []byte) {
		var ev []byte
		if i%3 == 0 {
			ev = []byte("jpeg")
		}
		return sampleAttempt(fmt.Sprintf("s%d", i), t0.Add(time.Duration(i)*time.Minute)), ev
	})
	path := db.Path()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestVerifyDetectsTampering(t *testing.T) {
	const n = 600 // more than one scan chunk
	for _, tc := range []struct {
		name    string
		tamper  func(tx *bolt.Tx) error
		ok      bool
		broken  uint64
		problem string
	}{
		{name: "untouched", ok: true},
		{"edit outcome bytes", func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketAttempts)
			v := append([]byte(nil), b.Get(u64(7))...)
			v = []byte(strings.Replace(string(v), `"outcome":"denied"`, `"outcome":"granted"`, 1))
			return b.Put(u64(7), v)
		}, false, 7, "altered"},
		{"edit stored hash", func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketAttempts)
			v := append([]byte(nil), b.Get(u64(550))...)
			v[0] ^= 1
			return b.Put(u64(550), v)
		}, false, 550, "altered"},
		{"delete a record", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketAttempts).Delete(u64(300))
		}, false, 300, "missing"},
		{"delete the first record", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketAttempts).Delete(u64(1))
		}, false, 1, "missing"},
		{"delete the last record", func(tx *bolt.Tx) error {
			return tx.Bucket(bucketAttempts).Delete(u64(n))
		}, false, n, "missing"},
		{"swap two records", func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketAttempts)
			v5 := append([]byte(nil), b.Get(u64(5))...)
			v6 := append([]byte(nil), b.Get(u64(6))...)
			if err := b.Put(u64(5), v6); err != nil {
				return err
			}
			return b.Put(u64(6), v5)
		}, false, 5, "does not link"},
		{"delete a record and renumber the rest", func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketAttempts)
			for s := uint64(10); s < n; s++ {
				if err := b.Put(u64(s), append([]byte(nil), b.Get(u64(s+1))...)); err != nil {
					return err
				}
			}
			return b.Delete(u64(n))
		}, false, 10, "does not link"},
		{"append a forged record", func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketAttempts)
			return b.Put(u64(n+1), append([]byte(nil), b.Get(u64(n))...))
		}, false, n + 1, "601"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := chainOf(t, n)
			if tc.tamper != nil {
				rawUpdate(t, path, tc.tamper)
			}
			db, err := Open(path, testOptions())
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			rep, err := db.Verify()
			if err != nil {
				t.Fatal(err)
			}
			if rep.OK != tc.ok || rep.FirstBroken != tc.broken || !strings.Contains(rep.Problem, tc.problem) {
				t.Fatalf("Verify = %+v; want ok=%v first_broken=%d problem~%q", rep, tc.ok, tc.broken, tc.problem)
			}
			if tc.ok && rep.Records != n {
				t.Fatalf("Records = %d, want %d", rep.Records, n)
			}
		})
	}
}

func TestVerifyEmpty(t *testing.T) {
	db := openTestDB(t)
	rep, err := db.Verify()
	if err != nil || !rep.OK || rep.Records != 0 || rep.Head != genesisHash {
		t.Fatalf("Verify(empty) = %+v, %v", rep, err)
	}
}

// bulkRecord appends records from..to (inclusive) through the same code as RecordAttempt, but
// in one transaction per 10,000 records, to build large histories quickly.
func bulkRecord(t testing.TB, db *DB, from, to int, gen func(i int) (Attempt, []byte)) {
	t.Helper()
	for lo := from; lo <= to; lo += 10000 {
		err := db.update(func(tx *bolt.Tx) error {
			for i := lo; i <= to && i < lo+10000; i++ {
				a, ev := gen(i)
				if _, err := db.appendTx(tx, a, ev, nil); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}
