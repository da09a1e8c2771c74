package store

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func TestWindowParse(t *testing.T) {
	weekdays := [7]bool{false, true, true, true, true, true, false}
	for _, tc := range []struct {
		name        string
		w           Window
		days        [7]bool
		from, until int
		ok          bool
	}{
		{"office hours", Window{Days: []string{"mon-fri"}, From: "08:00", Until: "18:00"}, weekdays, 480, 1080, true},
		{"days listed", Window{Days: []string{"Mon", "tue", "wed", "thu", "fri"}, From: "00:00", Until: "24:00"}, weekdays, 0, 1440, true},
		{"wrapping range", Window{Days: []string{"fri-mon"}, From: "22:00", Until: "06:00"}, [7]bool{true, true, false, false, false, true, true}, 1320, 360, true},
		{"no days", Window{From: "08:00", Until: "18:00"}, [7]bool{}, 0, 0, false},
		{"bad day", Window{Days: []string{"monday"}, From: "08:00", Until: "18:00"}, [7]bool{}, 0, 0, false},
		{"bad hour", Window{Days: []string{"mon"}, From: "25:00", Until: "18:00"}, [7]bool{}, 0, 0, false},
		{"24:00 as a start", Window{Days: []string{"mon"}, From: "24:00", Until: "18:00"}, [7]bool{}, 0, 0, false},
		{"bad minute", Window{Days: []string{"mon"}, From: "08:60", Until: "18:00"}, [7]bool{}, 0, 0, false},
		{"one digit", Window{Days: []string{"mon"}, From: "8:00", Until: "18:00"}, [7]bool{}, 0, 0, false},
		{"empty window", Window{Days: []string{"mon"}, From: "08:00", Until: "08:00"}, [7]bool{}, 0, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			days, from, until, err := tc.w.Parse()
			if !tc.ok {
				if !errors.Is(err, ErrInvalidSchedule) {
					t.Fatalf("Parse = %v, want ErrInvalidSchedule", err)
				}
				return
			}
			if err != nil || days != tc.days || from != tc.from || until != tc.until {
				t.Fatalf("Parse = %v %d %d %v, want %v %d %d", days, from, until, err, tc.days, tc.from, tc.until)
			}
		})
	}
}

func TestSchedulesAndUserPolicy(t *testing.T) {
	db := openTestDB(t)
	office := Schedule{Name: "office-hours", Windows: []Window{{Days: []string{"mon-fri"}, From: "08:00", Until: "18:00"}}}
	if err := db.PutSchedule(office); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []Schedule{{Name: "Office Hours"}, {Name: ""}, {Name: "x", Windows: []Window{{Days: []string{"mon"}, From: "9", Until: "10:00"}}}} {
		if err := db.PutSchedule(bad); !errors.Is(err, ErrInvalidSchedule) {
			t.Fatalf("PutSchedule(%+v) = %v, want ErrInvalidSchedule", bad, err)
		}
	}
	got, err := db.GetSchedule("office-hours")
	if err != nil || got.Name != "office-hours" || len(got.Windows) != 1 || got.Windows[0].Until != "18:00" {
		t.Fatalf("GetSchedule = %+v, %v", got, err)
	}
	if _, err := db.GetSchedule("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetSchedule(nope) = %v", err)
	}

	u, err := db.CreateUser("Ada", "48213957")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetMode(u.ID, "face_and_pin"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetMode(u.ID, "retina"); !errors.Is(err, ErrInvalidPolicy) {
		t.Fatalf("SetMode(retina) = %v", err)
	}
	if err := db.SetSchedule(u.ID, "nope"); !errors.Is(err, ErrInvalidPolicy) {
		t.Fatalf("SetSchedule(nope) = %v", err)
	}
	if err := db.SetSchedule(u.ID, "office-hours"); err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteSchedule("office-hours"); !errors.Is(err, ErrScheduleInUse) {
		t.Fatalf("DeleteSchedule of an assigned schedule = %v", err)
	}
	u, err = db.GetUser(u.ID)
	if err != nil || u.Mode != "face_and_pin" || u.Schedule != "office-hours" || u.HasDuressPIN {
		t.Fatalf("user %+v, %v", u, err)
	}

	// Duress PINs are unique across PINs and duress PINs, HMAC'd, and tell themselves apart.
	other, err := db.CreateUser("Bob", "55501234")
	if err != nil {
		t.Fatal(err)
	}
	for _, pin := range []string{"48213957", "55501234"} {
		if err := db.SetDuressPIN(u.ID, pin); !errors.Is(err, ErrPINInUse) {
			t.Fatalf("duress PIN equal to a PIN: %v", err)
		}
	}
	if err := db.SetDuressPIN(u.ID, "12"); !errors.Is(err, ErrPINPolicy) {
		t.Fatalf("short duress PIN: %v", err)
	}
	if err := db.SetDuressPIN(u.ID, "91919191"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetPIN(other.ID, "91919191"); !errors.Is(err, ErrPINInUse) {
		t.Fatalf("PIN equal to a duress PIN: %v", err)
	}
	if _, err := db.CreateUser("Eve", "91919191"); !errors.Is(err, ErrPINInUse) {
		t.Fatalf("new user with a duress PIN: %v", err)
	}
	for _, tc := range []struct {
		pin    string
		duress bool
		found  bool
	}{{"48213957", false, true}, {"91919191", true, true}, {"00000000", false, false}} {
		got, duress, found, err := db.FindPIN(tc.pin)
		if err != nil || found != tc.found || duress != tc.duress || (found && got.ID != u.ID) {
			t.Fatalf("FindPIN(%s) = %s %v %v %v", tc.pin, got.ID, duress, found, err)
		}
	}
	if _, ok, _ := db.LookupPIN("91919191", t0); ok {
		t.Fatal("LookupPIN answers a duress PIN as a PIN")
	}
	if raw := rawFile(t, db); bytes.Contains(raw, []byte("91919191")) {
		t.Fatal("the duress PIN is in the file in clear")
	}
	// Replacing the duress PIN frees the old one; deleting the user frees both.
	if err := db.SetDuressPIN(u.ID, "82828282"); err != nil {
		t.Fatal(err)
	}
	if err := db.SetPIN(other.ID, "91919191"); err != nil {
		t.Fatalf("old duress PIN still taken: %v", err)
	}
	if err := db.DeleteUser(u.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, found, _ := db.FindPIN("82828282"); found {
		t.Fatal("duress PIN of a deleted user still found")
	}
	if err := db.DeleteSchedule("office-hours"); err != nil {
		t.Fatal(err)
	}
	if ss, err := db.ListSchedules(); err != nil || len(ss) != 0 {
		t.Fatalf("ListSchedules after delete = %+v, %v", ss, err)
	}
}

// rawFile reads the database file's bytes (the database stays open).
func rawFile(t *testing.T, db *DB) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := db.bolt.View(func(tx *bolt.Tx) error { _, err := tx.WriteTo(&buf); return err }); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestPolicyFieldsInAudit: the access-policy fields are sealed into the record, come back from
// reads, and survive a CSV and a JSONL export through VerifyExport; an edited flag breaks it.
func TestPolicyFieldsInAudit(t *testing.T) {
	db := openTestDB(t)
	a := sampleAttempt("duress-session", t0)
	a.Policy, a.Duress, a.Mismatch = "mode=face_or_pin schedule=office-hours", true, "u-face"
	if _, err := db.RecordAttempt(a, nil); err != nil {
		t.Fatal(err)
	}
	door := Attempt{ID: "door-1", Start: t0, End: t0.Add(42 * time.Second), Outcome: "door_closed", Method: MethodDoor,
		OpenForS: 42, Reason: "door closed after forced_open"}
	if _, err := db.RecordAttempt(door, nil); err != nil {
		t.Fatal(err)
	}
	got, err := db.GetAttempt("duress-session")
	if err != nil || got.Policy != a.Policy || !got.Duress || got.Mismatch != "u-face" {
		t.Fatalf("GetAttempt = %+v, %v", got, err)
	}
	if d, err := db.GetAttempt("door-1"); err != nil || d.OpenForS != 42 {
		t.Fatalf("door record = %+v, %v", d, err)
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
		// Clearing the duress flag in the export breaks the seal.
		path := filepath.Join(dir, ExportRecordsName+"."+format)
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		edited := strings.Replace(string(raw), `"duress":true`, `"duress":false`, 1)
		if format == "csv" {
			edited = strings.Replace(string(raw), ",true,u-face,", ",false,u-face,", 1)
		}
		if edited == string(raw) {
			t.Fatalf("%s: the duress flag is not in the export:\n%s", format, raw)
		}
		if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
			t.Fatal(err)
		}
		if rep, err := VerifyExport(dir, head, key); err != nil || rep.OK {
			t.Fatalf("%s: VerifyExport of an edited duress flag = %+v, %v", format, rep, err)
		}
	}
}
