package main

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/doorface/doorface/store"
)

// TestPolicyCommands runs the offline `doorface users` policy subcommands and `doorface
// schedules` on a real database: each changes what the store holds, bad input is refused with
// a clear message and changes nothing, and the duress PIN comes from stdin, never argv.
func TestPolicyCommands(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, dbFile)
	db, err := store.Open(path, store.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	u, err := db.CreateUser("Ada", "48213957")
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin = strings.NewReader("") })
	cmd := func(in string, args ...string) (int, string, string) {
		t.Helper()
		stdin = strings.NewReader(in)
		var out, errb bytes.Buffer
		full := append([]string{args[0], args[1], "--data", dir}, args[2:]...) // flags before arguments
		code := run(full, &out, &errb)
		return code, out.String(), errb.String()
	}
	for _, tc := range []struct {
		name    string
		stdin   string
		args    []string
		code    int
		inOut   string // expected in stdout (code 0) or stderr
		inState func(u store.User, ss []store.Schedule) bool
	}{
		{"set a schedule", "", []string{"schedules", "set", "office-hours", "mon-fri 08:00-18:00", "sat 09:00-12:00"}, 0,
			"mon-fri 08:00-18:00; sat 09:00-12:00", func(_ store.User, ss []store.Schedule) bool { return len(ss) == 1 && len(ss[0].Windows) == 2 }},
		{"bad window", "", []string{"schedules", "set", "late", "mon 8-18"}, 1, "invalid schedule",
			func(_ store.User, ss []store.Schedule) bool { return len(ss) == 1 }},
		{"list schedules", "", []string{"schedules", "list"}, 0, "office-hours\tmon-fri 08:00-18:00", nil},
		{"assign it", "", []string{"users", "schedule", u.ID, "office-hours"}, 0, "office-hours",
			func(u store.User, _ []store.Schedule) bool { return u.Schedule == "office-hours" }},
		{"unknown schedule", "", []string{"users", "schedule", u.ID, "nope"}, 1, "no schedule named",
			func(u store.User, _ []store.Schedule) bool { return u.Schedule == "office-hours" }},
		{"in use", "", []string{"schedules", "delete", "office-hours"}, 1, "assigned to 1 user", nil},
		{"mode", "", []string{"users", "mode", u.ID, "face_and_pin"}, 0, "face_and_pin",
			func(u store.User, _ []store.Schedule) bool { return u.Mode == "face_and_pin" }},
		{"bad mode", "", []string{"users", "mode", u.ID, "retina"}, 1, "not one of", nil},
		{"disable", "", []string{"users", "disable", u.ID}, 0, "false", func(u store.User, _ []store.Schedule) bool { return !u.Enabled }},
		{"enable", "", []string{"users", "enable", u.ID}, 0, "true", func(u store.User, _ []store.Schedule) bool { return u.Enabled }},
		{"validity", "", []string{"users", "validity", "--from", "2026-01-01", "--until", "2027-01-01", u.ID}, 0, "2027-01-01T00:00:00Z",
			func(u store.User, _ []store.Schedule) bool {
				return u.ValidFrom.Year() == 2026 && u.ValidUntil.Year() == 2027
			}},
		{"validity backwards", "", []string{"users", "validity", "--from", "2027-01-01", "--until", "2026-01-01", u.ID}, 1, "ends before it starts",
			func(u store.User, _ []store.Schedule) bool { return u.ValidUntil.Year() == 2027 }},
		{"duress PIN from stdin", "91919191\n", []string{"users", "duress-pin", u.ID}, 0, "set",
			func(u store.User, _ []store.Schedule) bool { return u.HasDuressPIN }},
		{"no duress PIN on stdin", "", []string{"users", "duress-pin", u.ID}, 1, "no PIN on standard input", nil},
		{"duress PIN equal to the PIN", "48213957\n", []string{"users", "duress-pin", u.ID}, 1, "already used", nil},
		{"show", "", []string{"users", "show", u.ID}, 0, "duress PIN   true", nil},
		{"remove duress PIN", "", []string{"users", "duress-pin", "--remove", u.ID}, 0, "removed",
			func(u store.User, _ []store.Schedule) bool { return !u.HasDuressPIN }},
		{"wrong arguments", "", []string{"users", "mode", u.ID}, 2, "usage", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errs := cmd(tc.stdin, tc.args...)
			where := out
			if tc.code != 0 {
				where = errs
			}
			if code != tc.code || !strings.Contains(where, tc.inOut) {
				t.Fatalf("doorface %v = %d\nstdout: %s\nstderr: %s\nwant %d and %q", tc.args, code, out, errs, tc.code, tc.inOut)
			}
			if strings.Contains(out+errs, "91919191") {
				t.Fatal("a duress PIN was printed")
			}
			if tc.inState == nil {
				return
			}
			db, err := store.Open(path, store.Options{ReadOnly: true, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			got, err := db.GetUser(u.ID)
			if err != nil {
				t.Fatal(err)
			}
			ss, err := db.ListSchedules()
			if err != nil {
				t.Fatal(err)
			}
			if !tc.inState(got, ss) {
				t.Fatalf("after doorface %v: user %+v, schedules %+v", tc.args, got, ss)
			}
		})
	}
}
