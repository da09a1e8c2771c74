package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// exportTo writes an export folder as `audit export --out dir` does.
func exportTo(t *testing.T, db *DB, format, dir string) {
	t.Helper()
	var buf bytes.Buffer
	if _, err := db.Export(&buf, format, Filter{}, filepath.Join(dir, ExportFramesDir)); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ExportRecordsName+"."+format), buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyExport: an export verifies against the audit key and an exported head; edits,
// deletions, a swapped frame, a cut tail, a rewritten history and the wrong key do not.
func TestVerifyExport(t *testing.T) {
	db := openTestDB(t)
	bulkRecord(t, db, 1, 30, func(i int) (Attempt, []byte) {
		a := sampleAttempt("s"+string(rune('A'+i)), t0.Add(time.Duration(i)*time.Minute))
		a.Name = `Ada "the first", Lovelace` // quoting in CSV
		var ev []byte
		if i%4 == 0 {
			ev = []byte("jpeg-" + a.ID)
		}
		return a, ev
	})
	if _, err := db.Prune(t0.Add(30*24*time.Hour + 10*time.Minute)); err != nil { // some frames pruned
		t.Fatal(err)
	}
	head, err := db.Head()
	if err != nil {
		t.Fatal(err)
	}
	key, err := ReadKeyFile(filepath.Join(filepath.Dir(db.Path()), DefaultAuditKeyName))
	if err != nil {
		t.Fatal(err)
	}
	earlier := Head{Seq: 20}
	for _, format := range []string{"jsonl", "csv"} {
		clean := t.TempDir()
		exportTo(t, db, format, clean)
		if earlier.MAC == "" {
			rep, err := VerifyExport(clean, Head{}, key)
			if err != nil || !rep.OK || rep.Records != 30 || rep.HeadValue() != head {
				t.Fatalf("%s: VerifyExport(no head) = %+v, %v", format, rep, err)
			}
		}
		a, err := db.GetAttempt("s" + string(rune('A'+20)))
		if err != nil {
			t.Fatal(err)
		}
		earlier.MAC = a.Hash
		name := ExportRecordsName + "." + format
		for _, tc := range []struct {
			name    string
			head    Head
			key     []byte
			tamper  func(t *testing.T, dir string)
			problem string
		}{
			{name: "intact, current head", head: head, key: key},
			{name: "intact, earlier head", head: earlier, key: key},
			{"edited field", head, key, func(t *testing.T, dir string) {
				editFile(t, filepath.Join(dir, name), "wrong PIN", "right PIN", 1)
			}, "altered"},
			{"deleted record", head, key, func(t *testing.T, dir string) {
				dropLine(t, filepath.Join(dir, name), 10)
			}, "missing"},
			{"swapped frame", head, key, func(t *testing.T, dir string) {
				if err := os.WriteFile(filepath.Join(dir, ExportFramesDir, evidenceKey(28)), []byte("other"), 0o600); err != nil {
					t.Fatal(err)
				}
			}, "replaced"},
			{"deleted frame", head, key, func(t *testing.T, dir string) {
				if err := os.Remove(filepath.Join(dir, ExportFramesDir, evidenceKey(24))); err != nil {
					t.Fatal(err)
				}
			}, "missing"},
			{"tail cut", head, key, func(t *testing.T, dir string) {
				dropLine(t, filepath.Join(dir, name), -1)
			}, "cut"},
			{"head from another history", Head{Seq: 20, MAC: strings.Repeat("ab", 32)}, key, nil, "does not match"},
			{"wrong key", head, bytes.Repeat([]byte{1}, 32), nil, "MAC mismatch"},
		} {
			t.Run(format+"/"+tc.name, func(t *testing.T) {
				dir := t.TempDir()
				exportTo(t, db, format, dir)
				if tc.tamper != nil {
					tc.tamper(t, dir)
				}
				rep, err := VerifyExport(dir, tc.head, tc.key)
				if err != nil {
					t.Fatal(err)
				}
				if tc.problem == "" {
					if !rep.OK || !rep.Anchored {
						t.Fatalf("VerifyExport = %+v", rep)
					}
					return
				}
				if rep.OK || !strings.Contains(rep.Problem, tc.problem) {
					t.Fatalf("VerifyExport = %+v; want problem ~%q", rep, tc.problem)
				}
			})
		}
	}
	if _, err := VerifyExport(t.TempDir(), head, key); !errors.Is(err, ErrFormat) {
		t.Fatalf("VerifyExport(empty dir) err = %v", err)
	}
}

// editFile replaces old by new n times in a file, failing when old is absent.
func editFile(t *testing.T, path, old, new string, n int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || !bytes.Contains(b, []byte(old)) {
		t.Fatalf("edit %s: %v (or %q absent)", path, err, old)
	}
	if err := os.WriteFile(path, bytes.Replace(b, []byte(old), []byte(new), n), 0o600); err != nil {
		t.Fatal(err)
	}
}

// dropLine removes line i (0-based over the data lines after any CSV header; -1: the last).
func dropLine(t *testing.T, path string, i int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n")
	hdr := 0
	if strings.HasSuffix(path, ".csv") {
		hdr = 1
	}
	if i < 0 {
		i = len(lines) - 1 - hdr
	}
	lines = append(lines[:hdr+i], lines[hdr+i+1:]...)
	out := strings.Join(lines, "")
	if !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
}
