package transport

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/doorface/doorface/machine"
	"github.com/doorface/doorface/transport/api"
)

// jsonBody marshals v for a request.
func jsonBody(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var officeHours = api.Schedule{Windows: []api.Window{{Days: []string{"mon-fri"}, From: "08:00", Until: "18:00"}}}

// TestPolicyRoutes is the table of the policy and schedule routes: answers, codes and roles.
func TestPolicyRoutes(t *testing.T) {
	e := newEnv(t, nil)
	alice := "/v1/users/" + e.alice.ID
	for _, tc := range []struct {
		name        string
		method      string
		path, token string
		body        any
		code        int
		errCode     string
		check       func(t *testing.T, r resp)
	}{
		{"save a schedule", "PUT", "/v1/schedules/office-hours", adminToken, officeHours, 200, "", func(t *testing.T, r resp) {
			if r.str("name") != "office-hours" || !strings.Contains(string(r.raw), `"until":"18:00"`) {
				t.Fatalf("answer %s", r.raw)
			}
		}},
		{"door token may not", "PUT", "/v1/schedules/office-hours", doorToken, officeHours, 403, api.CodeForbidden, nil},
		{"bad time", "PUT", "/v1/schedules/late", adminToken, api.Schedule{Windows: []api.Window{{Days: []string{"mon"}, From: "8am", Until: "18:00"}}}, 400, api.CodeBadSchedule, nil},
		{"bad day", "PUT", "/v1/schedules/late", adminToken, api.Schedule{Windows: []api.Window{{Days: []string{"someday"}, From: "08:00", Until: "18:00"}}}, 400, api.CodeBadSchedule, nil},
		{"bad name", "PUT", "/v1/schedules/Office", adminToken, officeHours, 400, api.CodeBadSchedule, nil},
		{"name differs", "PUT", "/v1/schedules/a", adminToken, api.Schedule{Name: "b"}, 400, api.CodeBadSchedule, nil},
		{"get it", "GET", "/v1/schedules/office-hours", adminToken, nil, 200, "", nil},
		{"missing", "GET", "/v1/schedules/nope", adminToken, nil, 404, api.CodeNotFound, nil},
		{"list", "GET", "/v1/schedules", adminToken, nil, 200, "", func(t *testing.T, r resp) {
			if ss, _ := r.js["schedules"].([]any); len(ss) != 1 {
				t.Fatalf("list %s", r.raw)
			}
		}},
		{"unknown schedule", "PUT", alice + "/policy", adminToken, api.Policy{Enabled: true, Schedule: "nope"}, 400, api.CodeBadPolicy, nil},
		{"unknown mode", "PUT", alice + "/policy", adminToken, api.Policy{Enabled: true, Mode: "retina"}, 400, api.CodeBadPolicy, nil},
		{"validity backwards", "PUT", alice + "/policy", adminToken,
			json.RawMessage(`{"enabled":true,"valid_from":"2026-02-01T00:00:00Z","valid_until":"2026-01-01T00:00:00Z"}`), 400, api.CodeBadPolicy, nil},
		{"unknown field", "PUT", alice + "/policy", adminToken, json.RawMessage(`{"enabled":true,"colour":"red"}`), 400, api.CodeBadJSON, nil},
		{"no such user", "PUT", "/v1/users/nobody/policy", adminToken, api.Policy{Enabled: true}, 404, api.CodeNotFound, nil},
		{"door token may not set a policy", "PUT", alice + "/policy", doorToken, api.Policy{}, 403, api.CodeForbidden, nil},
		{"set the policy", "PUT", alice + "/policy", adminToken,
			json.RawMessage(`{"enabled":false,"valid_until":"2030-01-01T00:00:00Z","mode":"face_and_pin","schedule":"office-hours"}`), 200, "",
			func(t *testing.T, r resp) {
				if r.js["enabled"] != false || r.str("mode") != "face_and_pin" || r.str("schedule") != "office-hours" || r.str("valid_until") != "2030-01-01T00:00:00Z" {
					t.Fatalf("user %s", r.raw)
				}
			}},
		{"schedule in use", "DELETE", "/v1/schedules/office-hours", adminToken, nil, 409, api.CodeScheduleInUse, nil},
		{"duress PIN equal to a PIN", "PUT", alice + "/duress-pin", adminToken, api.DuressPINRequest{PIN: alicePIN}, 409, api.CodePINInUse, nil},
		{"duress PIN not digits", "PUT", alice + "/duress-pin", adminToken, api.DuressPINRequest{PIN: "12ab5"}, 400, api.CodeBadPIN, nil},
		{"duress PIN too short", "PUT", alice + "/duress-pin", adminToken, api.DuressPINRequest{PIN: "12"}, 400, api.CodePINPolicy, nil},
		{"duress PIN set", "PUT", alice + "/duress-pin", adminToken, api.DuressPINRequest{PIN: "13579"}, 204, "", nil},
		{"user shows it without the PIN", "GET", alice, adminToken, nil, 200, "", func(t *testing.T, r resp) {
			if r.js["has_duress_pin"] != true || strings.Contains(string(r.raw), "13579") {
				t.Fatalf("user %s", r.raw)
			}
		}},
		{"free the schedule", "PUT", alice + "/policy", adminToken, api.Policy{Enabled: true}, 200, "", nil},
		{"delete the schedule", "DELETE", "/v1/schedules/office-hours", adminToken, nil, 204, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := req{method: tc.method, path: tc.path, token: tc.token}
			if tc.body != nil {
				q.ct, q.body = "application/json", jsonBody(t, tc.body)
			}
			r := e.do(q)
			if r.code != tc.code || (tc.errCode != "" && r.str("error") != tc.errCode) {
				t.Fatalf("%s %s = %d %s, want %d %s", tc.method, tc.path, r.code, r.raw, tc.code, tc.errCode)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

// TestDuressAlarmOnlyOnAdminStreams: the duress PIN opens the door with the same answer and
// the same door-visible events as the PIN; the alarm reaches the admin stream, the metric and
// the audit record, and never the door token's stream.
func TestDuressAlarmOnlyOnAdminStreams(t *testing.T) {
	e := newEnv(t, nil)
	cfg := machine.DefaultConfig()
	if r := e.do(req{method: "PUT", path: "/v1/users/" + e.alice.ID + "/duress-pin", token: adminToken,
		ct: "application/json", body: jsonBody(t, api.DuressPINRequest{PIN: "13579"})}); r.code != 204 {
		t.Fatalf("set duress PIN: %d %s", r.code, r.raw)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	door := e.openEventsAs(ctx, doorToken)
	admin := e.openEventsAs(ctx, adminToken)

	answers := map[string]map[string]any{}
	for _, pin := range []string{alicePIN, "13579"} {
		s := e.toPinFallback()
		r := e.pin(s, pin)
		if r.code != 200 || r.str("outcome") != "granted" {
			t.Fatalf("PIN %s: %d %s", pin, r.code, r.raw)
		}
		answers[pin] = r.js
		if open, _ := e.lock.state(); !open {
			t.Fatal("door not open")
		}
		e.clk.Advance(cfg.UnlockDuration + cfg.Cooldown)
		// The door sees exactly the same events for both PINs.
		got := expect(t, door, "state:Receiving", "state:Recognizing", "state:PinFallback", "state:Unlocking",
			"decision:granted", "state:Cooldown", "state:Idle")
		if got[4].data["reason"] != "correct PIN" || got[4].data["user"] != e.alice.ID {
			t.Fatalf("decision %v", got[4].data)
		}
		want := []string{"state:Receiving", "state:Recognizing", "state:PinFallback", "state:Unlocking", "decision:granted"}
		if pin != alicePIN {
			want = append(want, "alarm:duress")
		}
		want = append(want, "state:Cooldown", "state:Idle")
		ad := expect(t, admin, want...)
		if pin != alicePIN {
			alarm := ad[5].data
			if alarm["user"] != e.alice.ID || alarm["session"] != s {
				t.Fatalf("alarm %v", alarm)
			}
			rec := e.do(req{method: "GET", path: "/v1/audit/" + s, token: adminToken})
			if rec.js["duress"] != true || rec.js["outcome"] != "granted" {
				t.Fatalf("audit record %s", rec.raw)
			}
		}
	}
	for _, k := range []string{"outcome", "state", "attempts_left", "retry_after_s", "decision"} {
		a, _ := json.Marshal(answers[alicePIN][k])
		b, _ := json.Marshal(answers["13579"][k])
		if string(a) != string(b) {
			t.Fatalf("answers differ in %s: %s vs %s", k, a, b)
		}
	}
	// One more session: the door stream's next events are that session's, never an alarm.
	e.toUnlocking()
	expect(t, door, "state:Receiving", "state:Recognizing", "state:Unlocking", "decision:granted")
	m := e.do(req{method: "GET", path: "/metrics", token: adminToken})
	if !strings.Contains(string(m.raw), `doorface_alarms_total{kind="duress"} 1`) {
		t.Fatalf("metrics lack the duress alarm:\n%s", grepLines(string(m.raw), "doorface_alarms_total"))
	}
	if r := e.do(req{method: "GET", path: "/metrics", token: doorToken}); r.code != http.StatusForbidden {
		t.Fatalf("door token reads metrics: %d", r.code)
	}
}

// grepLines returns the lines of s containing sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestPolicyDenialReasonOnTheStream: a PIN outside the user's schedule is denied, and the
// decision event and the audit record name the rule.
func TestPolicyDenialReasonOnTheStream(t *testing.T) {
	e := newEnv(t, func(c *machine.Config, _ *Options) { c.TimeZone = "UTC" }) // epoch is Saturday 08:00 UTC
	for _, q := range []req{
		{method: "PUT", path: "/v1/schedules/office-hours", body: jsonBody(t, officeHours)},
		{method: "PUT", path: "/v1/users/" + e.alice.ID + "/policy", body: jsonBody(t, api.Policy{Enabled: true, Schedule: "office-hours"})},
	} {
		q.token, q.ct = adminToken, "application/json"
		if r := e.do(q); r.code != 200 {
			t.Fatalf("%s: %d %s", q.path, r.code, r.raw)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	door := e.openEvents(ctx)
	s := e.toPinFallback()
	for i := 0; i < machine.DefaultConfig().MaxPinTries; i++ {
		if r := e.pin(s, alicePIN); r.str("outcome") != "denied" {
			t.Fatalf("PIN outside the schedule: %s", r.raw)
		}
	}
	got := expect(t, door, "state:Receiving", "state:Recognizing", "state:PinFallback", "state:Idle", "decision:denied")
	if got[4].data["reason"] != "policy:outside_schedule:office-hours" {
		t.Fatalf("decision %v", got[4].data)
	}
	rec := e.do(req{method: "GET", path: "/v1/audit/" + s, token: adminToken})
	if rec.str("reason") != "policy:outside_schedule:office-hours" || rec.str("policy") != "mode=face_or_pin schedule=office-hours" {
		t.Fatalf("audit record %s", rec.raw)
	}
	if open, _ := e.lock.state(); open {
		t.Fatal("door open")
	}
}
