package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/doorface/doorface/clock"
	"github.com/doorface/doorface/config"
	"github.com/doorface/doorface/internal/testkit"
	"github.com/doorface/doorface/machine"
	"github.com/doorface/doorface/store"
	"github.com/doorface/doorface/transport/api"
	"github.com/doorface/doorface/transport/client"
)

// policyLock is the relay stand-in of the policy test: it remembers whether it is open.
type policyLock struct {
	mu   sync.Mutex
	open bool
}

func (l *policyLock) Unlock(time.Duration) error {
	l.mu.Lock()
	l.open = true
	l.mu.Unlock()
	return nil
}
func (l *policyLock) Lock() error  { l.mu.Lock(); l.open = false; l.mu.Unlock(); return nil }
func (l *policyLock) isOpen() bool { l.mu.Lock(); defer l.mu.Unlock(); return l.open }

// TestPolicyWithRealStore drives the machine with the real bbolt store behind it (main's
// adapters) over the clock: validity bounds, schedule windows at their edges and across the
// DST change of the site's zone (Europe/Berlin), disabled users, each authentication mode, and
// the duress PIN. Every decision is checked in the stored, sealed record.
func TestPolicyWithRealStore(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	at := func(y int, mo time.Month, d, h, mi int) time.Time { return time.Date(y, mo, d, h, mi, 0, 0, berlin) }
	const alicePIN, bobPIN, duressPIN = "24680", "13571", "97531"
	type step struct {
		face bool   // two frames matching alice
		pin  string // then this PIN, typed until the session ends
	}
	faceOnly, pinOnly, faceThenPIN := step{face: true}, step{pin: alicePIN}, step{face: true, pin: alicePIN}
	tests := []struct {
		name    string
		now     time.Time
		policy  store.UserPolicy
		do      step
		outcome string
		method  string
		reason  string
		duress  bool
	}{
		{"no limits, face", at(2026, 3, 2, 12, 0), store.UserPolicy{Enabled: true}, faceOnly, "granted", "face", "", false},
		{"disabled, PIN", at(2026, 3, 2, 12, 0), store.UserPolicy{}, pinOnly, "denied", "pin", machine.ReasonDisabled, false},
		{"disabled, face", at(2026, 3, 2, 12, 0), store.UserPolicy{}, faceOnly, "denied", "pin", machine.ReasonDisabled, false},
		{"before valid_from", at(2026, 3, 2, 11, 59), store.UserPolicy{Enabled: true, ValidFrom: at(2026, 3, 2, 12, 0)}, pinOnly, "denied", "pin", machine.ReasonNotYetValid, false},
		{"at valid_from", at(2026, 3, 2, 12, 0), store.UserPolicy{Enabled: true, ValidFrom: at(2026, 3, 2, 12, 0)}, pinOnly, "granted", "pin", "", false},
		{"at valid_until (exclusive)", at(2026, 3, 2, 12, 0), store.UserPolicy{Enabled: true, ValidUntil: at(2026, 3, 2, 12, 0)}, faceOnly, "denied", "pin", machine.ReasonExpired, false},
		{"office hours, Monday 08:00", at(2026, 3, 2, 8, 0), store.UserPolicy{Enabled: true, Schedule: "office-hours"}, faceOnly, "granted", "face", "", false},
		{"office hours, Monday 07:59", at(2026, 3, 2, 7, 59), store.UserPolicy{Enabled: true, Schedule: "office-hours"}, pinOnly, "denied", "pin", machine.ReasonOutsideSchedule + "office-hours", false},
		{"office hours, Monday 17:59", at(2026, 3, 2, 17, 59), store.UserPolicy{Enabled: true, Schedule: "office-hours"}, pinOnly, "granted", "pin", "", false},
		{"office hours, Monday 18:00", at(2026, 3, 2, 18, 0), store.UserPolicy{Enabled: true, Schedule: "office-hours"}, pinOnly, "denied", "pin", machine.ReasonOutsideSchedule + "office-hours", false},
		{"office hours, Sunday", at(2026, 3, 1, 12, 0), store.UserPolicy{Enabled: true, Schedule: "office-hours"}, faceOnly, "denied", "pin", machine.ReasonOutsideSchedule + "office-hours", false},
		// 2026-03-29 is the spring-forward day: 07:30 CEST is 05:30 UTC, inside "early" (07-08
		// local); 06:30 UTC is 08:30 CEST, outside, although it was 07:30 the day before.
		{"DST day, 07:30 CEST", time.Date(2026, 3, 29, 5, 30, 0, 0, time.UTC), store.UserPolicy{Enabled: true, Schedule: "early"}, pinOnly, "granted", "pin", "", false},
		{"DST day, 08:30 CEST", time.Date(2026, 3, 29, 6, 30, 0, 0, time.UTC), store.UserPolicy{Enabled: true, Schedule: "early"}, pinOnly, "denied", "pin", machine.ReasonOutsideSchedule + "early", false},
		{"day before DST, 07:30 CET", time.Date(2026, 3, 28, 6, 30, 0, 0, time.UTC), store.UserPolicy{Enabled: true, Schedule: "early"}, pinOnly, "granted", "pin", "", false},
		{"mode face: PIN refused", at(2026, 3, 2, 12, 0), store.UserPolicy{Enabled: true, Mode: store.ModeFace}, pinOnly, "denied", "pin", machine.ReasonModeRequiresFace, false},
		{"mode face: face grants", at(2026, 3, 2, 12, 0), store.UserPolicy{Enabled: true, Mode: store.ModeFace}, faceOnly, "granted", "face", "", false},
		{"mode face_or_pin: PIN grants", at(2026, 3, 2, 12, 0), store.UserPolicy{Enabled: true, Mode: store.ModeFaceOrPIN}, pinOnly, "granted", "pin", "", false},
		{"mode face_and_pin: face then PIN", at(2026, 3, 2, 12, 0), store.UserPolicy{Enabled: true, Mode: store.ModeFaceAndPIN}, faceThenPIN, "granted", "face+pin", "", false},
		{"mode face_and_pin: PIN alone", at(2026, 3, 2, 12, 0), store.UserPolicy{Enabled: true, Mode: store.ModeFaceAndPIN}, pinOnly, "denied", "pin", machine.ReasonModeRequiresFace, false},
		{"mode pin_only: face then PIN", at(2026, 3, 2, 12, 0), store.UserPolicy{Enabled: true, Mode: store.ModePINOnly}, faceThenPIN, "granted", "pin", "", false},
		{"duress PIN grants", at(2026, 3, 2, 12, 0), store.UserPolicy{Enabled: true}, step{pin: duressPIN}, "granted", "pin", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := clock.NewFake(tc.now)
			db, err := store.Open(filepath.Join(t.TempDir(), "doorface.db"), store.Options{Clock: clk, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = db.Close() })
			for _, s := range []store.Schedule{
				{Name: "office-hours", Windows: []store.Window{{Days: []string{"mon-fri"}, From: "08:00", Until: "18:00"}}},
				{Name: "early", Windows: []store.Window{{Days: []string{"mon-sun"}, From: "07:00", Until: "08:00"}}},
			} {
				if err := db.PutSchedule(s); err != nil {
					t.Fatal(err)
				}
			}
			alice, err := db.CreateUser("Alice", alicePIN)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.CreateUser("Bob", bobPIN); err != nil {
				t.Fatal(err)
			}
			if err := db.SetDuressPIN(alice.ID, duressPIN); err != nil {
				t.Fatal(err)
			}
			if err := db.SetPolicy(alice.ID, tc.policy); err != nil {
				t.Fatal(err)
			}
			cfg := machine.DefaultConfig()
			cfg.TimeZone = "Europe/Berlin"
			cfg.Liveness = machine.LivenessOff // policy, not liveness, is under test: the frames carry no scores
			lock := &policyLock{}
			m, err := machine.New(cfg, machine.Deps{Clock: clk, Lock: lock, Sink: attempts{db: db}, Directory: directory{db},
				Lockouts: lockouts{db}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Shutdown("test end") })
			alarms, _ := m.SubscribeAlarms(8)

			match := machine.FrameResult{Quality: machine.QualityOK,
				Match: &machine.Candidate{User: alice.ID, Distance: 0.3, Margin: 0.2}}
			none := machine.FrameResult{Quality: machine.QualityOK}
			frame := func(r machine.FrameResult) string {
				tk, err := m.Admit(m.Snapshot().Session)
				if err != nil {
					t.Fatalf("Admit: %v", err)
				}
				if _, err := m.Submit(tk, r); err != nil {
					t.Fatalf("Submit: %v", err)
				}
				return tk.Session
			}
			var session string
			if tc.do.face {
				session = frame(match)
				frame(match)
			} else {
				session = frame(none)
				clk.Advance(cfg.RecognizeTimeout)
			}
			for tc.do.pin != "" && m.Snapshot().State == machine.PinFallback {
				if _, err := m.EnterPIN(session, tc.do.pin); err != nil {
					t.Fatal(err)
				}
			}
			if m.Snapshot().State == machine.PinFallback { // a face denied by policy waits for a PIN
				clk.Advance(cfg.PinTimeout)
			}
			rec, err := db.GetAttempt(session)
			if err != nil {
				t.Fatalf("no record of the session: %v (state %s)", err, m.Snapshot().State)
			}
			if rec.Outcome != tc.outcome || rec.Method != tc.method || (tc.reason != "" && rec.Reason != tc.reason) {
				t.Fatalf("record %s/%s reason %q, want %s/%s reason %q", rec.Outcome, rec.Method, rec.Reason, tc.outcome, tc.method, tc.reason)
			}
			if rec.User != alice.ID || rec.Policy == "" || rec.Duress != tc.duress {
				t.Fatalf("record user %q policy %q duress %v", rec.User, rec.Policy, rec.Duress)
			}
			if lock.isOpen() != (tc.outcome == "granted") {
				t.Fatalf("door open = %v", lock.isOpen())
			}
			select {
			case a := <-alarms:
				if !tc.duress || a.Kind != machine.AlarmDuress || a.User != alice.ID {
					t.Fatalf("alarm %+v", a)
				}
			default:
				if tc.duress {
					t.Fatal("no duress alarm")
				}
			}
			if rep, err := db.Verify(); err != nil || !rep.OK {
				t.Fatalf("Verify = %+v, %v", rep, err)
			}
		})
	}
}

// TestDoorAlarmsAreAudited runs the daemon in-process on the simulated board: the door contact
// opening while locked is a forced_open record and alarm, staying open a held_open one, and the
// closing records the whole opening's duration. Alarms reach the admin stream only.
func TestDoorAlarmsAreAudited(t *testing.T) {
	models := testkit.Models(t)
	cfg := config.Default()
	cfg.Data, cfg.Models, cfg.HW, cfg.Listen = t.TempDir(), models, "sim", testkit.FreePort(t)
	cfg.Vision.Workers = 1
	cfg.Pins.HeldOpen = 300 * time.Millisecond
	cfg.Tokens.Door, cfg.Tokens.Admin = "door-token-alarms-0123", "admin-token-alarms-0123"
	cfg.TLS.InsecureHTTP = true // plain HTTP on loopback; TestServeTLS covers HTTPS
	d, stop := runInProcess(t, cfg, slog.New(slog.DiscardHandler))
	base := "http://" + cfg.Listen
	waitFor(t, "the API", func() bool { return client.New(base, "", nil).Health(context.Background()) == nil })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	follow := func(token string) <-chan client.Event {
		ch, err := client.New(base, token, nil).Events(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return ch
	}
	admin, door := follow(cfg.Tokens.Admin), follow(cfg.Tokens.Door)
	// nextNamed returns the next event named one of names (skipping the others), within 5s.
	nextNamed := func(ch <-chan client.Event, names ...string) client.Event {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case ev := <-ch:
				if slices.Contains(names, ev.Name) {
					return ev
				}
			case <-deadline:
				t.Fatalf("no %v event within 5s", names)
			}
		}
	}

	// The opening waits for the contact's first debounced level (an open door at start is no
	// forced opening).
	waitFor(t, "the door contact's first level", func() bool { return d.board.Door.State() != "unknown" })
	d.board.Sim.SetDoor(true) // opened while the relay is locked: forced
	opened := time.Now()
	var kinds []string
	for range 2 {
		var a api.AlarmEvent
		if err := nextNamed(admin, api.EventAlarm).Decode(&a); err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, a.Kind)
	}
	if !slices.Equal(kinds, []string{api.AlarmForcedOpen, api.AlarmHeldOpen}) {
		t.Fatalf("alarms %v, want forced_open then held_open", kinds)
	}
	time.Sleep(200 * time.Millisecond)
	d.board.Sim.SetDoor(false)
	open := time.Since(opened)
	// The door stream saw the door events, and its next event after the closing is no alarm.
	for _, want := range []string{"door_opened", "forced_open", "held_open", "door_closed"} {
		var de api.DoorEvent
		ev := nextNamed(door, api.EventDoor, api.EventAlarm)
		if ev.Name == api.EventAlarm {
			t.Fatal("an alarm reached the door token's stream")
		}
		if err := ev.Decode(&de); err != nil || de.Kind != want {
			t.Fatalf("door event %+v %v, want %s", de, err, want)
		}
	}
	var recs []store.Attempt
	waitFor(t, "the door_closed record", func() bool {
		recs = recs[:0]
		_ = d.db.Attempts(store.Filter{}, func(a store.Attempt) error { recs = append(recs, a); return nil })
		return len(recs) == 3
	})
	wantOutcomes := []string{"forced_open", "held_open", "door_closed"}
	for i, a := range recs {
		if a.Outcome != wantOutcomes[i] || a.Method != "door" {
			t.Fatalf("record %d = %s/%s, want %s/door", i, a.Outcome, a.Method, wantOutcomes[i])
		}
	}
	if held := recs[1].OpenForS; held < 0.25 || held > 2 {
		t.Fatalf("held_open record says open %.3fs, want about 0.3s", held)
	}
	if total := recs[2].OpenForS; total < 0.4 || total > open.Seconds()+0.5 {
		t.Fatalf("door_closed record says open %.3fs; it was open about %.3fs", total, open.Seconds())
	}
	if code := stop(); code != 0 {
		t.Fatalf("run returned %d", code)
	}
}
