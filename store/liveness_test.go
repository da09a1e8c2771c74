package store

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLivenessInAudit: the liveness evidence is sealed into the record, comes back from reads,
// and survives a CSV and a JSONL export through VerifyExport; a raised score breaks the seal.
// A record without it keeps the bytes it had before the field existed (no "liveness" key).
func TestLivenessInAudit(t *testing.T) {
	db := openTestDB(t)
	a := sampleAttempt("print-session", t0)
	a.Liveness = &Liveness{Mode: "enforce", Result: "failed", Scores: []float64{0.12, 0.31, 0.05, 0.4, 0.2}, Mean: 0.216, Repeats: 3}
	if _, err := db.RecordAttempt(a, nil); err != nil {
		t.Fatal(err)
	}
	plain := sampleAttempt("no-liveness", t0)
	if _, err := db.RecordAttempt(plain, nil); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetAttempt("print-session")
	if err != nil || got.Liveness == nil || got.Liveness.Result != "failed" || len(got.Liveness.Scores) != 5 || got.Liveness.Repeats != 3 {
		t.Fatalf("GetAttempt = %+v, %v", got.Liveness, err)
	}
	if p, err := db.GetAttempt("no-liveness"); err != nil || p.Liveness != nil {
		t.Fatalf("record without liveness = %+v, %v", p.Liveness, err)
	}
	if rep, err := db.Verify(); err != nil || !rep.OK {
		t.Fatalf("Verify = %+v, %v", rep, err)
	}
	head, err := db.Head()
	if err != nil {
		t.Fatal(err)
	}
	key, err := ReadKeyFile(filepath.Join(filepath.Dir(db.Path()), DefaultAuditKeyName))
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"jsonl", "csv"} {
		dir := t.TempDir()
		exportTo(t, db, format, dir)
		if rep, err := VerifyExport(dir, head, key); err != nil || !rep.OK || rep.Records != 2 {
			t.Fatalf("%s: VerifyExport = %+v, %v", format, rep, err)
		}
		path := filepath.Join(dir, ExportRecordsName+"."+format)
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		edited := strings.Replace(string(raw), "0.216", "0.916", 1)
		if edited == string(raw) {
			t.Fatalf("%s: the liveness mean is not in the export:\n%s", format, raw)
		}
		if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
			t.Fatal(err)
		}
		if rep, err := VerifyExport(dir, head, key); err != nil || rep.OK {
			t.Fatalf("%s: VerifyExport of a raised liveness mean = %+v, %v", format, rep, err)
		}
	}
}
