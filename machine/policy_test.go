package machine

import (
	"slices"
	"testing"
	"time"
)

// weekdays is Mon-Fri as Window.Days.
var weekdays = [7]bool{time.Monday: true, time.Tuesday: true, time.Wednesday: true, time.Thursday: true, time.Friday: true}

// everyDay is every day of the week.
var everyDay = [7]bool{true, true, true, true, true, true, true}

var officeHours = &Schedule{Name: "office-hours", Windows: []Window{{Days: weekdays, From: 8 * 60, Until: 18 * 60}}}

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := LoadZone(name)
	if err != nil {
		t.Fatalf("LoadZone(%q): %v", name, err)
	}
	return loc
}

// TestPolicyDeny is the table of the policy rules over the clock: validity bounds, schedule
// windows at their edges, overnight windows and a DST change, each in the site's zone.
func TestPolicyDeny(t *testing.T) {
	seoul := mustZone(t, "Asia/Seoul")
	berlin := mustZone(t, "Europe/Berlin")
	// Europe/Berlin springs forward on 2026-03-29 (02:00 CET -> 03:00 CEST) and falls back on
	// 2026-10-25 (03:00 CEST -> 02:00 CET).
	early := &Schedule{Name: "early", Windows: []Window{{Days: everyDay, From: 7 * 60, Until: 8 * 60}}}
	night := &Schedule{Name: "night", Windows: []Window{{Days: [7]bool{time.Friday: true}, From: 22 * 60, Until: 6 * 60}}}
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, seoul)
	until := time.Date(2026, 7, 1, 0, 0, 0, 0, seoul)
	valid := Policy{Enabled: true, ValidFrom: from, ValidUntil: until}
	office := Policy{Enabled: true, Schedule: officeHours}
	for _, tc := range []struct {
		name string
		p    Policy
		at   time.Time
		loc  *time.Location
		want string
	}{
		{"enabled, no limits", Policy{Enabled: true}, t0, seoul, ""},
		{"disabled", Policy{Enabled: false}, t0, seoul, ReasonDisabled},
		{"disabled wins over a schedule", Policy{Schedule: officeHours}, t0, seoul, ReasonDisabled},
		{"before valid_from", valid, from.Add(-time.Nanosecond), seoul, ReasonNotYetValid},
		{"at valid_from", valid, from, seoul, ""},
		{"just before valid_until", valid, until.Add(-time.Nanosecond), seoul, ""},
		{"at valid_until (exclusive)", valid, until, seoul, ReasonExpired},
		{"office hours: Monday 08:00 (first minute)", office, time.Date(2026, 3, 2, 8, 0, 0, 0, seoul), seoul, ""},
		{"office hours: Monday 07:59:59", office, time.Date(2026, 3, 2, 7, 59, 59, 0, seoul), seoul, ReasonOutsideSchedule + "office-hours"},
		{"office hours: Monday 17:59:59", office, time.Date(2026, 3, 2, 17, 59, 59, 0, seoul), seoul, ""},
		{"office hours: Monday 18:00 (exclusive)", office, time.Date(2026, 3, 2, 18, 0, 0, 0, seoul), seoul, ReasonOutsideSchedule + "office-hours"},
		{"office hours: Saturday noon", office, time.Date(2026, 3, 7, 12, 0, 0, 0, seoul), seoul, ReasonOutsideSchedule + "office-hours"},
		// 09:00 in Seoul is 00:00 UTC: the schedule is read in the site's zone, not in UTC.
		{"office hours read in the site's zone", office, time.Date(2026, 3, 2, 0, 30, 0, 0, time.UTC), seoul, ""},
		{"same instant read in UTC is outside", office, time.Date(2026, 3, 2, 0, 30, 0, 0, time.UTC), time.UTC, ReasonOutsideSchedule + "office-hours"},
		{"overnight: Friday 22:00", Policy{Enabled: true, Schedule: night}, time.Date(2026, 3, 6, 22, 0, 0, 0, seoul), seoul, ""},
		{"overnight: Saturday 05:59", Policy{Enabled: true, Schedule: night}, time.Date(2026, 3, 7, 5, 59, 0, 0, seoul), seoul, ""},
		{"overnight: Saturday 06:00", Policy{Enabled: true, Schedule: night}, time.Date(2026, 3, 7, 6, 0, 0, 0, seoul), seoul, ReasonOutsideSchedule + "night"},
		{"overnight: Friday 05:00 (Thursday not listed)", Policy{Enabled: true, Schedule: night}, time.Date(2026, 3, 6, 5, 0, 0, 0, seoul), seoul, ReasonOutsideSchedule + "night"},
		// Across the DST change the window stays at 07:00-08:00 local wall-clock time.
		{"DST: day before, 06:30 UTC = 07:30 CET", Policy{Enabled: true, Schedule: early}, time.Date(2026, 3, 28, 6, 30, 0, 0, time.UTC), berlin, ""},
		{"DST: change day, 06:30 UTC = 08:30 CEST", Policy{Enabled: true, Schedule: early}, time.Date(2026, 3, 29, 6, 30, 0, 0, time.UTC), berlin, ReasonOutsideSchedule + "early"},
		{"DST: change day, 05:30 UTC = 07:30 CEST", Policy{Enabled: true, Schedule: early}, time.Date(2026, 3, 29, 5, 30, 0, 0, time.UTC), berlin, ""},
		{"DST: fall back, 06:30 UTC = 07:30 CET", Policy{Enabled: true, Schedule: early}, time.Date(2026, 10, 25, 6, 30, 0, 0, time.UTC), berlin, ""},
		{"DST: fall back, 05:30 UTC = 06:30 CET", Policy{Enabled: true, Schedule: early}, time.Date(2026, 10, 25, 5, 30, 0, 0, time.UTC), berlin, ReasonOutsideSchedule + "early"},
		{"unknown schedule denies", Policy{Enabled: true, ScheduleName: "gone"}, t0, seoul, ReasonUnknownSchedule + "gone"},
		{"empty schedule denies", Policy{Enabled: true, Schedule: &Schedule{Name: "never"}}, t0, seoul, ReasonOutsideSchedule + "never"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.Deny(tc.at, tc.loc); got != tc.want {
				t.Fatalf("Deny(%s in %s) = %q, want %q", tc.at.In(tc.loc).Format(time.RFC3339), tc.loc, got, tc.want)
			}
		})
	}
}

func TestConfigTimeZone(t *testing.T) {
	for _, tc := range []struct {
		zone string
		ok   bool
	}{{"Local", true}, {"", true}, {"Asia/Seoul", true}, {"Europe/Berlin", true}, {"Mars/Olympus", false}} {
		t.Run(tc.zone, func(t *testing.T) {
			c := kOfNConfig()
			c.TimeZone = tc.zone
			if err := c.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate with time_zone=%q: %v", tc.zone, err)
			}
		})
	}
}

// drainAlarms returns the alarms published so far.
func drainAlarms(ch <-chan Alarm) []Alarm {
	var out []Alarm
	for {
		select {
		case a, ok := <-ch:
			if !ok {
				return out
			}
			out = append(out, a)
		default:
			return out
		}
	}
}

func alarmKinds(as []Alarm) []AlarmKind {
	var out []AlarmKind
	for _, a := range as {
		out = append(out, a.Kind)
	}
	return out
}

// TestPolicyModes drives the machine (with its fakes) through each authentication mode and
// the policy rules; the real store is exercised by the root package's policy test.
func TestPolicyModes(t *testing.T) {
	saturday := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC) // t0 is a Saturday; noon
	for _, tc := range []struct {
		name    string
		cfg     func(*Config)
		policy  Policy // alice's
		run     func(t *testing.T, r *rig)
		outcome Outcome
		method  Method
		reason  string
	}{
		{
			name:   "face mode: the face grants",
			policy: Policy{Enabled: true, Mode: ModeFace},
			run: func(t *testing.T, r *rig) {
				r.mustFrame(good("alice"))
				r.mustFrame(good("alice"))
			},
			outcome: Granted, method: MethodFace,
		},
		{
			name:   "face mode: the PIN alone is refused",
			policy: Policy{Enabled: true, Mode: ModeFace},
			run: func(t *testing.T, r *rig) {
				r.toPin()
				for range 3 {
					r.pin("1111")
				}
			},
			outcome: Denied, method: MethodPIN, reason: ReasonModeRequiresFace,
		},
		{
			name:   "face_or_pin: the PIN grants",
			policy: Policy{Enabled: true, Mode: ModeFaceOrPIN},
			run: func(t *testing.T, r *rig) {
				r.toPin()
				r.pin("1111")
			},
			outcome: Granted, method: MethodPIN,
		},
		{
			name:   "face_and_pin: the face asks for the PIN, then grants",
			policy: Policy{Enabled: true, Mode: ModeFaceAndPIN},
			run: func(t *testing.T, r *rig) {
				r.mustFrame(good("alice"))
				st := r.mustFrame(good("alice"))
				want(t, st.State == PinFallback && !r.lock.isOpen(), "status %+v", st)
				r.pin("1111")
			},
			outcome: Granted, method: MethodFacePIN,
		},
		{
			name:   "face_and_pin: the PIN without the face is refused",
			policy: Policy{Enabled: true, Mode: ModeFaceAndPIN},
			run: func(t *testing.T, r *rig) {
				r.toPin()
				res := r.pin("1111")
				want(t, res.Outcome == Denied && res.State == PinFallback, "result %+v", res)
				r.clk.Advance(20 * sec)
			},
			outcome: Denied, method: MethodPIN, reason: ReasonModeRequiresFace,
		},
		{
			name:   "pin_only: the face leads to the PIN pad, the PIN grants",
			policy: Policy{Enabled: true, Mode: ModePINOnly},
			run: func(t *testing.T, r *rig) {
				r.mustFrame(good("alice"))
				st := r.mustFrame(good("alice"))
				want(t, st.State == PinFallback, "status %+v", st)
				r.pin("1111")
			},
			outcome: Granted, method: MethodPIN,
		},
		{
			name:   "disabled: the face falls back to the PIN and the session is denied by policy",
			policy: Policy{Enabled: false},
			run: func(t *testing.T, r *rig) {
				r.mustFrame(good("alice"))
				st := r.mustFrame(good("alice"))
				want(t, st.State == PinFallback && st.Match == nil, "status %+v", st)
				r.clk.Advance(20 * sec)
			},
			outcome: Denied, method: MethodPIN, reason: ReasonDisabled,
		},
		{
			name:   "disabled in face+PIN mode: denied at once",
			cfg:    func(c *Config) { c.RequireFaceAndPIN = true },
			policy: Policy{Enabled: false},
			run: func(t *testing.T, r *rig) {
				r.mustFrame(good("alice"))
				r.mustFrame(good("alice"))
			},
			outcome: Denied, method: MethodFacePIN, reason: ReasonDisabled,
		},
		{
			name:   "outside the schedule: the PIN is refused with the schedule named",
			policy: Policy{Enabled: true, Schedule: officeHours},
			run: func(t *testing.T, r *rig) {
				r.clk.Set(saturday)
				r.toPin()
				for range 3 {
					r.pin("1111")
				}
			},
			outcome: Denied, method: MethodPIN, reason: ReasonOutsideSchedule + "office-hours",
		},
		{
			name:   "inside the schedule: the face grants",
			policy: Policy{Enabled: true, Schedule: officeHours},
			run: func(t *testing.T, r *rig) {
				r.clk.Set(time.Date(2025, 3, 3, 8, 0, 0, 0, time.UTC)) // Monday 08:00
				r.mustFrame(good("alice"))
				r.mustFrame(good("alice"))
			},
			outcome: Granted, method: MethodFace,
		},
		{
			name:   "expired",
			policy: Policy{Enabled: true, ValidUntil: t0},
			run: func(t *testing.T, r *rig) {
				r.toPin()
				for range 3 {
					r.pin("1111")
				}
			},
			outcome: Denied, method: MethodPIN, reason: ReasonExpired,
		},
		{
			name:   "not yet valid",
			policy: Policy{Enabled: true, ValidFrom: t0.Add(time.Hour)},
			run: func(t *testing.T, r *rig) {
				r.mustFrame(good("alice"))
				r.mustFrame(good("alice"))
				r.clk.Advance(20 * sec)
			},
			outcome: Denied, method: MethodPIN, reason: ReasonNotYetValid,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := kOfNConfig()
			cfg.TimeZone = "UTC"
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			r := newRig(t, cfg, Lockout{})
			r.dir.setPolicy("alice", tc.policy)
			tc.run(t, r)
			a := r.sink.last(t)
			if a.Outcome != tc.outcome || a.Method != tc.method || (tc.reason != "" && a.Reason != tc.reason) {
				t.Fatalf("record %s/%s reason %q, want %s/%s reason %q", a.Outcome, a.Method, a.Reason, tc.outcome, tc.method, tc.reason)
			}
			if a.User != "alice" || a.Policy != tc.policy.String() {
				t.Fatalf("record user %q policy %q, want alice and %q", a.User, a.Policy, tc.policy.String())
			}
			if r.lock.isOpen() != (tc.outcome == Granted) {
				t.Fatalf("lock open = %v after %s", r.lock.isOpen(), tc.outcome)
			}
			if tc.reason != "" {
				var dec *Transition
				for _, tr := range drain(r) {
					if tr.Decision != nil {
						dec = &tr
					}
				}
				if dec == nil || dec.Reason != tc.reason {
					t.Fatalf("decision transition %+v, want reason %q", dec, tc.reason)
				}
			}
		})
	}
}

// TestDuressPIN: the duress PIN opens the door exactly as the PIN does, and only the alarm
// channel and the record say otherwise.
func TestDuressPIN(t *testing.T) {
	answers := map[bool]PinResult{}
	paths := map[bool][]State{}
	for _, duress := range []bool{false, true} {
		r := newRig(t, kOfNConfig(), Lockout{})
		alarms, _ := r.m.SubscribeAlarms(10)
		r.dir.mu.Lock()
		u := r.dir.users["alice"]
		u.duress = "7777"
		r.dir.users["alice"] = u
		r.dir.mu.Unlock()
		r.toPin()
		pin := "1111"
		if duress {
			pin = "7777"
		}
		res := r.pin(pin)
		res.Decision = &Decision{Outcome: res.Decision.Outcome, Method: res.Decision.Method, User: res.Decision.User, Name: res.Decision.Name}
		answers[duress] = res
		paths[duress] = r.path()
		a := r.sink.last(t)
		if a.Outcome != Granted || a.User != "alice" || a.Duress != duress || !r.lock.isOpen() {
			t.Fatalf("duress=%v: record %+v, lock open %v", duress, a, r.lock.isOpen())
		}
		got := alarmKinds(drainAlarms(alarms))
		if want := []AlarmKind(nil); duress {
			want = []AlarmKind{AlarmDuress}
			if !slices.Equal(got, want) {
				t.Fatalf("alarms %v, want %v", got, want)
			}
		} else if len(got) != 0 {
			t.Fatalf("normal PIN raised alarms %v", got)
		}
	}
	if *answers[false].Decision != *answers[true].Decision || answers[false].Outcome != answers[true].Outcome ||
		answers[false].State != answers[true].State || !slices.Equal(paths[false], paths[true]) {
		t.Fatalf("the door can tell a duress PIN: %+v %v vs %+v %v", answers[false], paths[false], answers[true], paths[true])
	}
}

// TestFacePINMismatch: a face of one user with the PIN of another is flagged and alarmed, and
// refused when the face's user must use face and PIN.
func TestFacePINMismatch(t *testing.T) {
	for _, tc := range []struct {
		name    string
		mode    AuthMode
		outcome Outcome
	}{
		{"face_or_pin grants the PIN's owner", ModeFaceOrPIN, Granted},
		{"face_and_pin refuses", ModeFaceAndPIN, Denied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, kOfNConfig(), Lockout{})
			alarms, _ := r.m.SubscribeAlarms(10)
			r.dir.setPolicy("alice", Policy{Enabled: true, Mode: tc.mode})
			r.mustFrame(good("alice"))
			if tc.mode != ModeFaceAndPIN {
				r.mustFrame(FrameResult{Quality: "blurry"}) // one vote only: no face decision
				r.clk.Advance(4 * sec)
			} else {
				r.mustFrame(good("alice"))
			}
			r.wantState(PinFallback)
			for r.state() == PinFallback {
				r.pin("2222") // bob's
			}
			a := r.sink.last(t)
			if a.Outcome != tc.outcome || a.Mismatch != "alice" {
				t.Fatalf("record %+v, want %s with mismatch alice", a, tc.outcome)
			}
			if got := alarmKinds(drainAlarms(alarms)); len(got) == 0 || got[0] != AlarmMismatch {
				t.Fatalf("alarms %v, want a mismatch", got)
			}
		})
	}
}

// TestFailuresAlarm: AlarmFailures failed sessions within AlarmWindow raise one alarm; older
// failures do not count.
func TestFailuresAlarm(t *testing.T) {
	cfg := kOfNConfig()
	cfg.AlarmFailures, cfg.AlarmWindow = 3, time.Minute
	cfg.LockoutAfter = 100
	r := newRig(t, cfg, Lockout{})
	alarms, _ := r.m.SubscribeAlarms(10)
	fail := func() {
		r.toPin()
		for r.state() == PinFallback {
			r.pin("9999")
		}
	}
	fail()
	r.clk.Advance(2 * time.Minute) // the first failure leaves the window
	fail()
	fail()
	if got := drainAlarms(alarms); len(got) != 0 {
		t.Fatalf("alarm after 2 failures in the window: %+v", got)
	}
	fail()
	got := drainAlarms(alarms)
	if len(got) != 1 || got[0].Kind != AlarmFailures || got[0].Count != 3 {
		t.Fatalf("alarms %+v, want one failures alarm counting 3", got)
	}
	fail()
	if got := drainAlarms(alarms); len(got) != 0 {
		t.Fatalf("the count did not start again: %+v", got)
	}
}

// TestDoorEvents: forced and held-open doors are audited with their duration and alarmed; the
// closing after them records the whole opening.
func TestDoorEvents(t *testing.T) {
	r := newRig(t, kOfNConfig(), Lockout{})
	alarms, _ := r.m.SubscribeAlarms(10)
	want(t, r.m.DoorEvent(DoorOpenedEvent, t0) == nil, "opened")
	want(t, r.m.DoorEvent(DoorClosedEvent, t0.Add(time.Second)) == nil, "closed")
	want(t, len(r.sink.all()) == 0, "a normal opening was recorded: %+v", r.sink.all())

	open := t0.Add(time.Minute)
	want(t, r.m.DoorEvent(DoorOpenedEvent, open) == nil, "opened")
	want(t, r.m.DoorEvent(ForcedOpenEvent, open) == nil, "forced")
	want(t, r.m.DoorEvent(HeldOpenEvent, open.Add(30*time.Second)) == nil, "held")
	want(t, r.m.DoorEvent(DoorClosedEvent, open.Add(42*time.Second)) == nil, "closed")
	recs := r.sink.all()
	type rec struct {
		o Outcome
		d time.Duration
	}
	var got []rec
	for _, a := range recs {
		if a.Method != MethodDoor {
			t.Fatalf("door record with method %q", a.Method)
		}
		got = append(got, rec{a.Outcome, a.OpenFor})
	}
	wantRecs := []rec{{ForcedOpen, 0}, {HeldOpen, 30 * time.Second}, {DoorClosed, 42 * time.Second}}
	if !slices.Equal(got, wantRecs) {
		t.Fatalf("door records %+v, want %+v", got, wantRecs)
	}
	if k := alarmKinds(drainAlarms(alarms)); !slices.Equal(k, []AlarmKind{AlarmForcedOpen, AlarmHeldOpen}) {
		t.Fatalf("alarms %v", k)
	}
	if r.state() != Idle || len(r.path()) != 0 {
		t.Fatal("door events touched the session machine")
	}
}
