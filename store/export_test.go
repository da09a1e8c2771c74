package store

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestExportFormats(t *testing.T) {
	db := openTestDB(t)
	var want []Attempt
	for i := 0; i < 6; i++ {
		a := sampleAttempt(fmt.Sprintf("s%d", i), t0.Add(time.Duration(i)*time.Hour))
		if i%2 == 0 {
			a.Outcome, a.User, a.Name, a.Reason = "granted", "u1", `Ada "the first", Lovelace`, "face, k of n"
		}
		var ev []byte
		if i == 1 || i == 3 {
			ev = []byte(fmt.Sprintf("jpeg-%d", i))
		}
		got, err := db.RecordAttempt(a, ev)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, got)
	}
	// Age out the first frame: its record must say so and no file must appear.
	if _, err := db.Prune(t0.Add(30*24*time.Hour + 2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	want[1].EvidencePruned = true

	f := Filter{Since: t0.Add(time.Hour)}
	for _, format := range []string{"csv", "jsonl"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			var buf bytes.Buffer
			n, err := db.Export(&buf, format, f, filepath.Join(dir, "frames"))
			if err != nil || n != 5 {
				t.Fatalf("Export = %d, %v", n, err)
			}
			var got []Attempt
			if format == "jsonl" {
				sc := bufio.NewScanner(&buf)
				for sc.Scan() {
					var a Attempt
					if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
						t.Fatalf("line %q: %v", sc.Text(), err)
					}
					got = append(got, a)
				}
			} else {
				rows, err := csv.NewReader(&buf).ReadAll()
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(rows[0], CSVHeader) {
					t.Fatalf("header %v", rows[0])
				}
				for _, r := range rows[1:] {
					got = append(got, attemptFromCSV(t, r))
				}
			}
			if !reflect.DeepEqual(got, want[1:]) {
				t.Fatalf("export round trip:\n got %+v\nwant %+v", got, want[1:])
			}
			files, _ := os.ReadDir(filepath.Join(dir, "frames"))
			if len(files) != 1 || files[0].Name() != want[3].Evidence {
				t.Fatalf("frame files %v, want only %s", files, want[3].Evidence)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "frames", want[3].Evidence)); string(b) != "jpeg-3" {
				t.Fatalf("frame file holds %q", b)
			}
		})
	}
	if _, err := db.Export(io.Discard, "xml", Filter{}, ""); !errors.Is(err, ErrFormat) {
		t.Fatalf("Export(xml) err = %v", err)
	}
	var buf bytes.Buffer
	if n, err := db.Export(&buf, "jsonl", Filter{Outcome: "granted", User: "u1"}, ""); err != nil || n != 3 {
		t.Fatalf("filtered export = %d, %v", n, err)
	}
}

// attemptFromCSV parses one exported CSV row back.
func attemptFromCSV(t *testing.T, r []string) Attempt {
	t.Helper()
	parse := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	var a Attempt
	var err error
	var fs [2]float64
	for i, s := range []string{r[9], r[10]} {
		if _, err := fmt.Sscan(s, &fs[i]); err != nil {
			t.Fatal(err)
		}
	}
	_, err = fmt.Sscan(r[0], &a.Seq)
	if err == nil {
		_, err = fmt.Sscan(r[11], &a.Frames)
	}
	if err == nil {
		_, err = fmt.Sscan(r[12], &a.PinTries)
	}
	if err == nil {
		err = json.Unmarshal([]byte(r[13]), &a.Durations)
	}
	if err != nil {
		t.Fatal(err)
	}
	a.ID, a.Start, a.End, a.Outcome, a.Method, a.User, a.Name, a.BestUser = r[1], parse(r[2]), parse(r[3]), r[4], r[5], r[6], r[7], r[8]
	a.BestDistance, a.BestMargin, a.Reason, a.Evidence = fs[0], fs[1], r[14], r[15]
	a.EvidencePruned, a.PrevHash, a.Hash = r[16] == "true", r[17], r[18]
	a.EvidenceSHA256, a.EvidenceDropped = r[19], r[20] == "true"
	return a
}

// countingWriter counts bytes and discards them.
type countingWriter struct{ n atomic.Int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n.Add(int64(len(p))); return len(p), nil }

// heapPeak samples HeapInuse while fn runs and returns the peak above the starting level and
// the bytes allocated in total.
func heapPeak(fn func()) (peak uint64, alloc uint64) {
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var mu sync.Mutex
	max := before.HeapInuse
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				runtime.ReadMemStats(&ms)
				mu.Lock()
				if ms.HeapInuse > max {
					max = ms.HeapInuse
				}
				mu.Unlock()
			}
		}
	}()
	fn()
	close(stop)
	<-done
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	mu.Lock()
	defer mu.Unlock()
	if after.HeapInuse > max {
		max = after.HeapInuse
	}
	return max - before.HeapInuse, after.TotalAlloc - before.TotalAlloc
}

// TestExportMemoryBounded exports 100,000 attempts in CSV and JSONL and asserts that the heap
// in use does not grow with the number of records: a non-streaming export would hold all of
// them (well over 50 MiB); the streamed one holds one chunk.
func TestExportMemoryBounded(t *testing.T) {
	const n = 100_000
	const limit = 16 << 20 // bytes of heap growth allowed while exporting
	db := openTestDB(t)
	bulkRecord(t, db, 1, n, func(i int) (Attempt, []byte) {
		a := sampleAttempt(fmt.Sprintf("session-%06d", i), t0.Add(time.Duration(i)*time.Second))
		return a, nil
	})
	for _, format := range []string{"csv", "jsonl"} {
		t.Run(format, func(t *testing.T) {
			var w countingWriter
			var count int
			var err error
			peak, alloc := heapPeak(func() { count, err = db.Export(&w, format, Filter{}, "") })
			if err != nil || count != n {
				t.Fatalf("Export = %d, %v", count, err)
			}
			t.Logf("%s: %d records, %.1f MiB written, heap in use grew at most %.2f MiB, %.1f MiB allocated in total (%.0f B/record)",
				format, count, float64(w.n.Load())/(1<<20), float64(peak)/(1<<20), float64(alloc)/(1<<20), float64(alloc)/n)
			if peak > limit {
				t.Fatalf("heap in use grew by %d bytes exporting %d records, limit %d: export is not streaming", peak, n, limit)
			}
		})
	}
	// The chunked scan must see every record exactly once, in order, across chunk boundaries.
	var prev uint64
	seen := 0
	if err := db.Attempts(Filter{}, func(a Attempt) error {
		if a.Seq != prev+1 {
			return fmt.Errorf("seq %d after %d", a.Seq, prev)
		}
		prev = a.Seq
		seen++
		return nil
	}); err != nil || seen != n {
		t.Fatalf("scan: %d records, %v", seen, err)
	}
}

// TestExportIgnoresForgedEvidenceNames: someone who can write the file renames a record's
// evidence to a path outside the export folder; Export still writes the frame inside frameDir,
// under the name derived from the record's sequence number.
func TestExportIgnoresForgedEvidenceNames(t *testing.T) {
	for _, forged := range []string{"../../escape.jpg", "/tmp/escape-abs.jpg", "sub/../../escape.jpg"} {
		t.Run(forged, func(t *testing.T) {
			db := openTestDB(t)
			a, err := db.RecordAttempt(sampleAttempt("s1", t0), []byte("jpeg-1"))
			if err != nil {
				t.Fatal(err)
			}
			path := db.Path()
			if err := db.Close(); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "a", "b")
			target := forged
			if !filepath.IsAbs(target) {
				target = filepath.Join(out, "frames", forged)
			} else {
				target = filepath.Join(t.TempDir(), "escape-abs.jpg")
				forged = target
			}
			rawUpdate(t, path, func(tx *bolt.Tx) error {
				b := tx.Bucket(bucketAttempts)
				v := bytes.Replace(b.Get(u64(a.Seq)), []byte(`"evidence":"`+a.Evidence+`"`),
					[]byte(`"evidence":"`+forged+`"`), 1)
				if err := b.Put(u64(a.Seq), v); err != nil {
					return err
				}
				fr := tx.Bucket(bucketFrames)
				if err := fr.Put([]byte(forged), fr.Get([]byte(a.Evidence))); err != nil {
					return err
				}
				return fr.Delete([]byte(a.Evidence))
			})
			var buf bytes.Buffer
			if _, err := ExportFile(path, &buf, "jsonl", Filter{}, filepath.Join(out, "frames"), testOptions()); err != nil {
				t.Fatalf("ExportFile: %v", err)
			}
			if _, err := os.Stat(target); err == nil {
				t.Fatalf("the export wrote %s outside its folder", target)
			}
			got, err := os.ReadFile(filepath.Join(out, "frames", evidenceKey(a.Seq)))
			if err != nil || string(got) != "jpeg-1" {
				t.Fatalf("frame inside the folder: %q, %v", got, err)
			}
		})
	}
}
