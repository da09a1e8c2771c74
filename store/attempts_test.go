package store

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

func TestAttemptRoundTrip(t *testing.T) {
	db := openTestDB(t)
	jpeg := bytes.Repeat([]byte{0xff, 0xd8, 0x42}, 1000)
	in := sampleAttempt("sess-1", t0)
	in.Seq, in.Hash, in.PrevHash, in.Evidence = 99, "ignored", "ignored", "ignored"
	got, err := db.RecordAttempt(in, jpeg)
	if err != nil {
		t.Fatal(err)
	}
	want := sampleAttempt("sess-1", t0)
	want.Seq, want.PrevHash, want.Hash, want.Evidence = 1, genesisHash, got.Hash, "evidence-0000000001.jpg"
	want.EvidenceSHA256 = sha256Hex(jpeg)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("RecordAttempt = %+v\nwant %+v", got, want)
	}
	if len(got.Hash) != 64 {
		t.Fatalf("hash %q", got.Hash)
	}
	read, err := db.GetAttempt("sess-1")
	if err != nil || !reflect.DeepEqual(read, want) {
		t.Fatalf("GetAttempt = %+v, %v\nwant %+v", read, err, want)
	}
	frame, err := db.Frame("sess-1")
	if err != nil || !bytes.Equal(frame, jpeg) {
		t.Fatalf("Frame = %d bytes, %v", len(frame), err)
	}

	second, err := db.RecordAttempt(Attempt{ID: "sess-2", Start: t0.Add(time.Minute), Outcome: "granted",
		Method: "face", User: "u1", Name: "Ada", BestDistance: 0.3, BestMargin: 0.2}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if second.Seq != 2 || second.PrevHash != got.Hash || second.Evidence != "" {
		t.Fatalf("second record %+v does not chain to the first", second)
	}
	if second.End != t0 {
		t.Fatalf("zero End should be the clock's now, got %v", second.End)
	}
	if _, err := db.Frame("sess-2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Frame(no evidence) err = %v", err)
	}
	for name, err := range map[string]error{
		"GetAttempt(unknown)": func() error { _, err := db.GetAttempt("nope"); return err }(),
		"Frame(unknown)":      func() error { _, err := db.Frame("nope"); return err }(),
	} {
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("%s err = %v, want ErrNotFound", name, err)
		}
	}
	if _, err := db.RecordAttempt(Attempt{ID: "sess-2", Start: t0}, nil); !errors.Is(err, ErrDuplicateAttempt) {
		t.Fatalf("duplicate session err = %v", err)
	}
	if _, err := db.RecordAttempt(Attempt{Start: t0}, nil); !errors.Is(err, ErrInvalidAttempt) {
		t.Fatalf("empty id err = %v", err)
	}
	// Non-finite floats cannot break the encoding (they would make the door fail closed).
	nan, err := db.RecordAttempt(Attempt{ID: "sess-nan", Start: t0, BestDistance: nanValue()}, nil)
	if err != nil || nan.BestDistance != -1 {
		t.Fatalf("NaN distance: %+v, %v", nan, err)
	}
}

func nanValue() float64 { z := 0.0; return z / z }

func TestInterruptedSessionsAndRestart(t *testing.T) {
	db := openTestDB(t)
	if err := db.BeginAttempt("done", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RecordAttempt(sampleAttempt("done", t0), nil); err != nil {
		t.Fatal(err)
	}
	if err := db.BeginAttempt("crashed", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := db.BeginAttempt("done", t0); !errors.Is(err, ErrDuplicateAttempt) {
		t.Fatalf("BeginAttempt of a recorded session err = %v", err)
	}
	lock := Lockout{Failures: 4, Level: 2, Until: t0.Add(2 * time.Minute)}
	if err := db.SaveLockout(lock); err != nil {
		t.Fatal(err)
	}

	// "Restart": close and reopen the same file.
	db2 := reopenTestDB(t, db)
	if got, err := db2.LoadLockout(); err != nil || !reflect.DeepEqual(got, lock) {
		t.Fatalf("LoadLockout after restart = %+v, %v; want %+v", got, err, lock)
	}
	now := t0.Add(time.Hour)
	rec, err := db2.RecoverInterrupted(now)
	if err != nil {
		t.Fatal(err)
	}
	if len(rec) != 1 || rec[0].ID != "crashed" || rec[0].Outcome != OutcomeInterrupted ||
		!rec[0].Start.Equal(t0.Add(time.Minute)) || !rec[0].End.Equal(now) || rec[0].Seq != 2 {
		t.Fatalf("RecoverInterrupted = %+v", rec)
	}
	if again, err := db2.RecoverInterrupted(now); err != nil || len(again) != 0 {
		t.Fatalf("second RecoverInterrupted = %+v, %v", again, err)
	}
	if rep, err := db2.Verify(); err != nil || !rep.OK || rep.Records != 2 {
		t.Fatalf("Verify after restart = %+v, %v", rep, err)
	}
}

func TestFreshLockout(t *testing.T) {
	db := openTestDB(t)
	if l, err := db.LoadLockout(); err != nil || l != (Lockout{}) {
		t.Fatalf("fresh LoadLockout = %+v, %v", l, err)
	}
}

func TestAttemptsFilter(t *testing.T) {
	db := openTestDB(t)
	outcomes := []string{"granted", "denied", "timeout"}
	for i := 0; i < 30; i++ {
		a := Attempt{ID: fmt.Sprintf("s%02d", i), Start: t0.Add(time.Duration(i) * time.Hour),
			Outcome: outcomes[i%3], User: fmt.Sprintf("u%d", i%2)}
		a.End = a.Start
		if _, err := db.RecordAttempt(a, nil); err != nil {
			t.Fatal(err)
		}
	}
	// A session recorded later but started earlier (clock stepped back) sorts by start.
	if _, err := db.RecordAttempt(Attempt{ID: "early", Start: t0.Add(-time.Hour), Outcome: "denied"}, nil); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		f     Filter
		first string
		n     int
	}{
		{"all", Filter{}, "early", 31},
		{"since", Filter{Since: t0.Add(10 * time.Hour)}, "s10", 20},
		{"until exclusive", Filter{Until: t0.Add(10 * time.Hour)}, "early", 11},
		{"range", Filter{Since: t0.Add(5 * time.Hour), Until: t0.Add(8 * time.Hour)}, "s05", 3},
		{"outcome", Filter{Outcome: "granted"}, "s00", 10},
		{"user and outcome", Filter{User: "u1", Outcome: "denied"}, "s01", 5},
		{"nothing", Filter{Outcome: "locked_out"}, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []Attempt
			if err := db.Attempts(tc.f, func(a Attempt) error { got = append(got, a); return nil }); err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.n {
				t.Fatalf("%d records, want %d", len(got), tc.n)
			}
			for i := 1; i < len(got); i++ {
				if got[i].Start.Before(got[i-1].Start) {
					t.Fatalf("not in start order at %d", i)
				}
			}
			if tc.n > 0 && got[0].ID != tc.first {
				t.Fatalf("first = %s, want %s", got[0].ID, tc.first)
			}
		})
	}
	stop := errors.New("stop")
	n := 0
	if err := db.Attempts(Filter{}, func(Attempt) error { n++; return stop }); err != stop || n != 1 {
		t.Fatalf("callback error: got %v after %d calls", err, n)
	}
}
