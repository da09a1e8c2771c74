package store

import (
	"testing"
	"time"
)

func TestUnlockMarker(t *testing.T) {
	granted := func(id string, start time.Time) Attempt {
		a := sampleAttempt(id, start)
		a.Outcome, a.Method, a.User, a.PinTries = OutcomeGranted, "face", "u-1", 0
		return a
	}
	now := t0.Add(time.Hour)
	for _, tc := range []struct {
		name    string
		outcome string // of the recorded session
		end     bool   // EndUnlock called before the stop
		want    []string
	}{
		{"stopped while unlocked", OutcomeGranted, false, []string{"s1-unlock"}},
		{"relocked before the stop", OutcomeGranted, true, nil},
		{"denied sessions never mark", "denied", false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := openTestDB(t)
			a := granted("s1", t0)
			a.Outcome = tc.outcome
			if err := db.BeginAttempt("s1", t0); err != nil {
				t.Fatal(err)
			}
			stored, err := db.RecordAttempt(a, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := db.EndUnlock("other-session"); err != nil {
				t.Fatalf("EndUnlock of another session: %v", err)
			}
			if tc.end {
				if err := db.EndUnlock("s1"); err != nil {
					t.Fatal(err)
				}
			}
			db2 := reopenTestDB(t, db)
			rec, err := db2.RecoverInterrupted(now)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range rec {
				ids = append(ids, r.ID)
				if r.Outcome != OutcomeInterrupted || r.Method != MethodDoor || !r.Start.Equal(stored.End) || !r.End.Equal(now) {
					t.Errorf("door-event record = %+v", r)
				}
			}
			if len(ids) != len(tc.want) || (len(ids) == 1 && ids[0] != tc.want[0]) {
				t.Fatalf("recovered %v, want %v", ids, tc.want)
			}
			// The session keeps exactly its own record, unchanged.
			if got, err := db2.GetAttempt("s1"); err != nil || got.Outcome != tc.outcome {
				t.Fatalf("session record = %+v, %v", got, err)
			}
			if again, err := db2.RecoverInterrupted(now); err != nil || len(again) != 0 {
				t.Fatalf("second recovery = %+v, %v", again, err)
			}
			if rep, err := db2.Verify(); err != nil || !rep.OK {
				t.Fatalf("Verify = %+v, %v", rep, err)
			}
		})
	}
}

func TestUnlockMarkerFollowsLatestGrant(t *testing.T) {
	db := openTestDB(t)
	for i, id := range []string{"a", "b"} {
		a := sampleAttempt(id, t0.Add(time.Duration(i)*time.Minute))
		a.Outcome = OutcomeGranted
		if _, err := db.RecordAttempt(a, nil); err != nil {
			t.Fatal(err)
		}
	}
	// "a" was relocked by a previous process that died before clearing: only "b" is open now.
	if err := db.EndUnlock("a"); err != nil {
		t.Fatal(err)
	}
	rec, err := db.RecoverInterrupted(t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(rec) != 1 || rec[0].ID != UnlockInterruptedID("b") {
		t.Fatalf("recovered %+v, want only b's unlocking", rec)
	}
}
