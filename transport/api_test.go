package transport

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/doorface/doorface/machine"
)

// TestRoutes is the named table over every route x good/bad input: bad JSON, wrong content
// type, oversized body, stale session, busy state, bad ids, and the good paths.
func TestRoutes(t *testing.T) {
	pinJSON := func(session, pin string) []byte {
		b, _ := json.Marshal(map[string]string{"session": session, "pin": pin})
		return b
	}
	type check func(t *testing.T, e *env, r resp, session string)
	wantState := func(st machine.State) check {
		return func(t *testing.T, e *env, _ resp, _ string) {
			if got := e.m.Snapshot().State; got != st {
				t.Fatalf("machine state %s, want %s", got, st)
			}
		}
	}
	big := bytes.Repeat([]byte{0xff}, 70<<10)
	cases := []struct {
		name  string
		setup func(e *env) string // returns a session id for {s} in the request
		q     func(t *testing.T, e *env, session string) req
		code  int
		err   string
		check check
	}{
		// POST /v1/frames
		{name: "frames/png starts a session", q: func(t *testing.T, _ *env, _ string) req {
			return req{method: "POST", path: "/v1/frames", token: doorToken, ct: "image/png", body: img(t, wAlice)}
		}, code: 200, check: func(t *testing.T, e *env, r resp, _ string) {
			fr, _ := r.js["frame"].(map[string]any)
			m, _ := fr["match"].(map[string]any)
			if r.str("state") != "Recognizing" || fr["seq"] != 1.0 || fr["quality"] != "ok" || m["user"] != e.alice.ID ||
				r.js["decision"] != nil || !validID(r.str("session")) || r.hdr.Get(SessionHeader) != r.str("session") {
				t.Fatalf("answer %s", r.raw)
			}
		}},
		{name: "frames/jpeg no face keeps Receiving", q: func(t *testing.T, _ *env, _ string) req {
			return req{method: "POST", path: "/v1/frames", token: doorToken, ct: "image/jpeg", body: jpg(t, wNoFace)}
		}, code: 200, check: func(t *testing.T, e *env, r resp, _ string) {
			fr, _ := r.js["frame"].(map[string]any)
			if r.str("state") != "Receiving" || fr["quality"] != "no_face" || fr["match"] != nil {
				t.Fatalf("answer %s", r.raw)
			}
		}},
		{name: "frames/base64 text", q: func(t *testing.T, _ *env, _ string) req {
			return req{method: "POST", path: "/v1/frames", token: doorToken, ct: "text/plain; charset=utf-8",
				body: []byte(base64.StdEncoding.EncodeToString(img(t, wNoMatch)))}
		}, code: 200, check: wantState(machine.Recognizing)},
		{name: "frames/second frame of own session decides", setup: func(e *env) string { return e.frame(wAlice, "").str("session") },
			q: func(t *testing.T, _ *env, s string) req {
				return req{method: "POST", path: "/v1/frames", token: doorToken, ct: "image/png", body: img(t, wAlice), hdr: map[string]string{SessionHeader: s}}
			}, code: 200, check: func(t *testing.T, e *env, r resp, _ string) {
				d, _ := r.js["decision"].(map[string]any)
				if r.str("state") != "Unlocking" || d["outcome"] != "granted" || d["method"] != "face" || d["user"] != e.alice.ID || d["name"] != "Alice" {
					t.Fatalf("answer %s", r.raw)
				}
				if open, _ := e.lock.state(); !open {
					t.Fatal("relay not open after a granted decision")
				}
			}},
		{name: "frames/stale session changes nothing", setup: func(e *env) string { return e.frame(wNoFace, "").str("session") },
			q: func(t *testing.T, _ *env, _ string) req {
				return req{method: "POST", path: "/v1/frames", token: doorToken, ct: "image/png", body: img(t, wAlice), hdr: map[string]string{SessionHeader: "0123456789abcdef"}}
			}, code: 410, err: "stale_session", check: func(t *testing.T, e *env, r resp, s string) {
				if st := e.m.Snapshot(); st.State != machine.Receiving || st.Session != s || r.str("state") != "Receiving" {
					t.Fatalf("stale frame changed the machine: %+v (%s)", st, r.raw)
				}
			}},
		{name: "frames/stale session in Idle starts nothing", q: func(t *testing.T, _ *env, _ string) req {
			return req{method: "POST", path: "/v1/frames", token: doorToken, ct: "image/png", body: img(t, wAlice), hdr: map[string]string{SessionHeader: "old-session"}}
		}, code: 410, err: "stale_session", check: wantState(machine.Idle)},
		{name: "frames/busy while Unlocking", setup: func(e *env) string { return e.toUnlocking() },
			q: func(t *testing.T, _ *env, _ string) req {
				return req{method: "POST", path: "/v1/frames", token: doorToken, ct: "image/png", body: img(t, wAlice)}
			}, code: 409, err: "busy", check: func(t *testing.T, e *env, r resp, _ string) {
				if r.str("state") != "Unlocking" || r.js["retry_after_ms"] != 5000.0 || r.hdr.Get("Retry-After") != "5" {
					t.Fatalf("busy answer %s Retry-After %q", r.raw, r.hdr.Get("Retry-After"))
				}
			}},
		{name: "frames/busy in Cooldown", setup: func(e *env) string {
			s := e.toUnlocking()
			e.clk.Advance(machine.DefaultConfig().UnlockDuration)
			return s
		},
			q: func(t *testing.T, _ *env, _ string) req {
				return req{method: "POST", path: "/v1/frames", token: doorToken, ct: "image/png", body: img(t, wAlice)}
			}, code: 409, err: "busy", check: func(t *testing.T, _ *env, r resp, _ string) {
				if r.str("state") != "Cooldown" || r.js["retry_after_ms"] != 2000.0 {
					t.Fatalf("busy answer %s", r.raw)
				}
			}},
		{name: "frames/wrong content type", q: func(t *testing.T, _ *env, _ string) req {
			return req{method: "POST", path: "/v1/frames", token: doorToken, ct: "application/json", body: img(t, wAlice)}
		}, code: 415, err: "unsupported_media_type", check: wantState(machine.Idle)},
		{name: "frames/no content type", q: func(t *testing.T, _ *env, _ string) req {
			return req{method: "POST", path: "/v1/frames", token: doorToken, body: img(t, wAlice)}
		}, code: 415, err: "unsupported_media_type"},
		{name: "frames/oversized body", q: func(t *testing.T, _ *env, _ string) req {
			return req{method: "POST", path: "/v1/frames", token: doorToken, ct: "image/jpeg", body: big}
		}, code: 413, err: "too_large", check: wantState(machine.Idle)},
		{name: "frames/not an image", q: func(t *testing.T, _ *env, _ string) req {
			return req{method: "POST", path: "/v1/frames", token: doorToken, ct: "image/jpeg", body: []byte("hello")}
		}, code: 400, err: "bad_image", check: wantState(machine.Idle)},
		{name: "frames/bad base64", q: func(t *testing.T, _ *env, _ string) req {
			return req{method: "POST", path: "/v1/frames", token: doorToken, ct: "text/plain", body: []byte("!!not base64!!")}
		}, code: 400, err: "bad_image"},
		{name: "frames/bad session header", q: func(t *testing.T, _ *env, _ string) req {
			return req{method: "POST", path: "/v1/frames", token: doorToken, ct: "image/png", body: img(t, wAlice), hdr: map[string]string{SessionHeader: "../etc"}}
		}, code: 400, err: "bad_session", check: wantState(machine.Idle)},
		{name: "frames/session header too long", q: func(t *testing.T, _ *env, _ string) req {
			return req{method: "POST", path: "/v1/frames", token: doorToken, ct: "image/png", body: img(t, wAlice), hdr: map[string]string{SessionHeader: strings.Repeat("a", 65)}}
		}, code: 400, err: "bad_session"},
		{name: "frames/in PinFallback answered with the state", setup: func(e *env) string { return e.toPinFallback() },
			q: func(t *testing.T, _ *env, s string) req {
				return req{method: "POST", path: "/v1/frames", token: doorToken, ct: "image/png", body: img(t, wAlice), hdr: map[string]string{SessionHeader: s}}
			}, code: 200, check: func(t *testing.T, e *env, r resp, _ string) {
				if r.str("state") != "PinFallback" || r.js["decision"] != nil {
					t.Fatalf("answer %s", r.raw)
				}
				if open, _ := e.lock.state(); open {
					t.Fatal("a frame in PinFallback opened the door")
				}
			}},

		// POST /v1/pin
		{name: "pin/correct grants", setup: func(e *env) string { return e.toPinFallback() },
			q: func(_ *testing.T, _ *env, s string) req {
				return req{method: "POST", path: "/v1/pin", token: doorToken, ct: "application/json", body: pinJSON(s, alicePIN)}
			}, code: 200, check: func(t *testing.T, e *env, r resp, _ string) {
				d, _ := r.js["decision"].(map[string]any)
				if r.str("outcome") != "granted" || r.str("state") != "Unlocking" || d["method"] != "pin" || d["user"] != e.alice.ID {
					t.Fatalf("answer %s", r.raw)
				}
			}},
		{name: "pin/wrong keeps PinFallback", setup: func(e *env) string { return e.toPinFallback() },
			q: func(_ *testing.T, _ *env, s string) req {
				return req{method: "POST", path: "/v1/pin", token: doorToken, ct: "application/json", body: pinJSON(s, "99999")}
			}, code: 200, check: func(t *testing.T, _ *env, r resp, _ string) {
				if r.str("outcome") != "denied" || r.str("state") != "PinFallback" || r.js["attempts_left"] != 2.0 || r.js["decision"] != nil {
					t.Fatalf("answer %s", r.raw)
				}
			}},
		{name: "pin/not awaiting a PIN", setup: func(e *env) string { return e.frame(wNoMatch, "").str("session") },
			q: func(_ *testing.T, _ *env, s string) req {
				return req{method: "POST", path: "/v1/pin", token: doorToken, ct: "application/json", body: pinJSON(s, alicePIN)}
			}, code: 409, err: "not_awaiting_pin", check: wantState(machine.Recognizing)},
		{name: "pin/stale session", setup: func(e *env) string { return e.toPinFallback() },
			q: func(_ *testing.T, _ *env, _ string) req {
				return req{method: "POST", path: "/v1/pin", token: doorToken, ct: "application/json", body: pinJSON("someone-else", alicePIN)}
			}, code: 410, err: "stale_session", check: wantState(machine.PinFallback)},
		{name: "pin/busy while Unlocking", setup: func(e *env) string { return e.toUnlocking() },
			q: func(_ *testing.T, _ *env, s string) req {
				return req{method: "POST", path: "/v1/pin", token: doorToken, ct: "application/json", body: pinJSON(s, alicePIN)}
			}, code: 409},
		{name: "pin/bad JSON", setup: func(e *env) string { return e.toPinFallback() },
			q: func(_ *testing.T, _ *env, s string) req {
				return req{method: "POST", path: "/v1/pin", token: doorToken, ct: "application/json", body: []byte(`{"session": "` + s + `", "pin": 24680`)}
			}, code: 400, err: "bad_json", check: wantState(machine.PinFallback)},
		{name: "pin/unknown field", q: func(_ *testing.T, _ *env, _ string) req {
			return req{method: "POST", path: "/v1/pin", token: doorToken, ct: "application/json", body: []byte(`{"session":"abc","pin":"12345","user":"x"}`)}
		}, code: 400, err: "bad_json"},
		{name: "pin/two objects", q: func(_ *testing.T, _ *env, _ string) req {
			return req{method: "POST", path: "/v1/pin", token: doorToken, ct: "application/json", body: []byte(`{"session":"abc","pin":"12345"}{}`)}
		}, code: 400, err: "bad_json"},
		{name: "pin/not digits", q: func(_ *testing.T, _ *env, _ string) req {
			return req{method: "POST", path: "/v1/pin", token: doorToken, ct: "application/json", body: pinJSON("abc", "12a45")}
		}, code: 400, err: "bad_pin"},
		{name: "pin/missing session", q: func(_ *testing.T, _ *env, _ string) req {
			return req{method: "POST", path: "/v1/pin", token: doorToken, ct: "application/json", body: []byte(`{"pin":"12345"}`)}
		}, code: 400, err: "bad_session"},
		{name: "pin/wrong content type", q: func(_ *testing.T, _ *env, _ string) req {
			return req{method: "POST", path: "/v1/pin", token: doorToken, ct: "text/plain", body: pinJSON("abc", "12345")}
		}, code: 415, err: "unsupported_media_type"},
		{name: "pin/oversized body", q: func(_ *testing.T, _ *env, _ string) req {
			return req{method: "POST", path: "/v1/pin", token: doorToken, ct: "application/json", body: append([]byte(`{"session":"`), big...)}
		}, code: 413, err: "too_large"},

		// DELETE /v1/session
		{name: "session/cancel by header", setup: func(e *env) string { return e.frame(wNoMatch, "").str("session") },
			q: func(_ *testing.T, _ *env, s string) req {
				return req{method: "DELETE", path: "/v1/session", token: doorToken, hdr: map[string]string{SessionHeader: s}}
			}, code: 200, check: func(t *testing.T, e *env, r resp, s string) {
				a, err := e.db.GetAttempt(s)
				if r.str("state") != "Idle" || r.js["session"] != nil || err != nil || a.Outcome != "cancelled" {
					t.Fatalf("answer %s, attempt %+v %v", r.raw, a, err)
				}
			}},
		{name: "session/cancel current by query", setup: func(e *env) string { return e.frame(wNoFace, "").str("session") },
			q: func(_ *testing.T, _ *env, s string) req {
				return req{method: "DELETE", path: "/v1/session?session=" + s, token: doorToken}
			}, code: 200, check: wantState(machine.Idle)},
		{name: "session/stale", setup: func(e *env) string { return e.frame(wNoFace, "").str("session") },
			q: func(_ *testing.T, _ *env, _ string) req {
				return req{method: "DELETE", path: "/v1/session", token: doorToken, hdr: map[string]string{SessionHeader: "not-the-one"}}
			}, code: 410, err: "stale_session", check: wantState(machine.Receiving)},
		{name: "session/busy while Unlocking", setup: func(e *env) string { return e.toUnlocking() },
			q: func(_ *testing.T, _ *env, _ string) req {
				return req{method: "DELETE", path: "/v1/session", token: doorToken}
			}, code: 409, err: "busy", check: wantState(machine.Unlocking)},
		{name: "session/bad id", q: func(_ *testing.T, _ *env, _ string) req {
			return req{method: "DELETE", path: "/v1/session?session=a%20b", token: doorToken}
		}, code: 400, err: "bad_session"},

		// GET /v1/state
		{name: "state/idle", q: func(_ *testing.T, _ *env, _ string) req {
			return req{method: "GET", path: "/v1/state", token: doorToken}
		}, code: 200, check: func(t *testing.T, _ *env, r resp, _ string) {
			if r.str("state") != "Idle" || r.js["session"] != nil || r.str("relay") != "locked" || r.str("door") != "closed" || r.str("since") == "" {
				t.Fatalf("answer %s", r.raw)
			}
			if f, ok := r.js["relay_fault"]; !ok || f != "" {
				t.Fatalf("relay_fault of a healthy relay = %v (present %v), want \"\"", f, ok)
			}
		}},
		{name: "state/relay fault", setup: func(e *env) string { e.lock.setFault("gpio17: write: input/output error"); return "" },
			q: func(_ *testing.T, _ *env, _ string) req {
				return req{method: "GET", path: "/v1/state", token: doorToken}
			}, code: 200, check: func(t *testing.T, _ *env, r resp, _ string) {
				if r.str("relay") != "locked" || r.str("relay_fault") != "gpio17: write: input/output error" {
					t.Fatalf("answer %s", r.raw)
				}
			}},
		{name: "state/unlocking as admin", setup: func(e *env) string { return e.toUnlocking() },
			q: func(_ *testing.T, _ *env, _ string) req {
				return req{method: "GET", path: "/v1/state", token: adminToken}
			},
			code: 200, check: func(t *testing.T, _ *env, r resp, s string) {
				if r.str("state") != "Unlocking" || r.str("session") != s || r.str("relay") != "unlocked" {
					t.Fatalf("answer %s", r.raw)
				}
			}},

		// Compatibility: POST /image, POST /save
		{name: "image/base64 without content type", q: func(t *testing.T, _ *env, _ string) req {
			return req{method: "POST", path: "/image", token: doorToken, body: []byte(base64.StdEncoding.EncodeToString(jpg(t, wAlice)))}
		}, code: 200, check: func(t *testing.T, _ *env, r resp, _ string) {
			fr, _ := r.js["frame"].(map[string]any)
			if r.str("state") != "Recognizing" || fr["quality"] != "ok" {
				t.Fatalf("answer %s", r.raw)
			}
		}},
		{name: "image/base64 as form type with data URL", q: func(t *testing.T, _ *env, _ string) req {
			return req{method: "POST", path: "/image", token: doorToken, ct: "application/x-www-form-urlencoded",
				body: []byte("data:image/png;base64," + base64.StdEncoding.EncodeToString(img(t, wNoFace)))}
		}, code: 200, check: wantState(machine.Receiving)},
		{name: "image/garbage", q: func(_ *testing.T, _ *env, _ string) req {
			return req{method: "POST", path: "/image", token: doorToken, ct: "text/plain", body: []byte("%%%%")}
		}, code: 400, err: "bad_image", check: wantState(machine.Idle)},
		{name: "image/busy", setup: func(e *env) string { return e.toUnlocking() },
			q: func(t *testing.T, _ *env, _ string) req {
				return req{method: "POST", path: "/image", token: doorToken, body: []byte(base64.StdEncoding.EncodeToString(jpg(t, wAlice)))}
			}, code: 409, err: "busy"},
		{name: "save/in PinFallback", setup: func(e *env) string { return e.toPinFallback() },
			q: func(t *testing.T, _ *env, _ string) req {
				return req{method: "POST", path: "/save", token: doorToken, ct: "text/plain", body: []byte(base64.StdEncoding.EncodeToString(jpg(t, wNoFace)))}
			}, code: 200, check: func(t *testing.T, _ *env, r resp, s string) {
				if r.js["saved"] != true || r.str("session") != s || r.str("state") != "PinFallback" {
					t.Fatalf("answer %s", r.raw)
				}
			}},
		{name: "save/not in PinFallback", setup: func(e *env) string { return e.frame(wNoFace, "").str("session") },
			q: func(t *testing.T, _ *env, _ string) req {
				return req{method: "POST", path: "/save", token: doorToken, body: []byte(base64.StdEncoding.EncodeToString(jpg(t, wNoFace)))}
			}, code: 409, err: "not_awaiting_pin"},
		{name: "save/idle", q: func(t *testing.T, _ *env, _ string) req {
			return req{method: "POST", path: "/save", token: doorToken, body: []byte(base64.StdEncoding.EncodeToString(jpg(t, wNoFace)))}
		}, code: 409, err: "not_awaiting_pin"},
		{name: "save/stale session", setup: func(e *env) string { return e.toPinFallback() },
			q: func(t *testing.T, _ *env, _ string) req {
				return req{method: "POST", path: "/save", token: doorToken, body: []byte(base64.StdEncoding.EncodeToString(jpg(t, wNoFace))), hdr: map[string]string{SessionHeader: "other"}}
			}, code: 410, err: "stale_session"},
		{name: "save/oversized", setup: func(e *env) string { return e.toPinFallback() },
			q: func(_ *testing.T, _ *env, _ string) req {
				return req{method: "POST", path: "/save", token: doorToken, ct: "image/jpeg", body: big}
			}, code: 413, err: "too_large"},

		// Admin: users
		{name: "users/create", q: func(_ *testing.T, _ *env, _ string) req {
			return req{method: "POST", path: "/v1/users", token: adminToken, ct: "application/json", body: []byte(`{"name":"Bob","pin":"13579"}`)}
		}, code: 201, check: func(t *testing.T, e *env, r resp, _ string) {
			u, err := e.db.GetUser(r.str("id"))
			if err != nil || u.Name != "Bob" || r.str("name") != "Bob" || r.js["has_pin"] != true || strings.Contains(string(r.raw), "13579") {
				t.Fatalf("answer %s, stored %+v %v", r.raw, u, err)
			}
		}},
		{name: "users/create without PIN", q: func(_ *testing.T, _ *env, _ string) req {
			return req{method: "POST", path: "/v1/users", token: adminToken, ct: "application/json", body: []byte(`{"name":"Carol"}`)}
		}, code: 201},
		{name: "users/create duplicate PIN", q: func(_ *testing.T, _ *env, _ string) req {
			return req{method: "POST", path: "/v1/users", token: adminToken, ct: "application/json", body: []byte(`{"name":"Bob","pin":"` + alicePIN + `"}`)}
		}, code: 409, err: "pin_in_use"},
		{name: "users/create short PIN", q: func(_ *testing.T, _ *env, _ string) req {
			return req{method: "POST", path: "/v1/users", token: adminToken, ct: "application/json", body: []byte(`{"name":"Bob","pin":"12"}`)}
		}, code: 400, err: "pin_policy"},
		{name: "users/create empty name", q: func(_ *testing.T, _ *env, _ string) req {
			return req{method: "POST", path: "/v1/users", token: adminToken, ct: "application/json", body: []byte(`{"name":""}`)}
		}, code: 400, err: "invalid_name"},
		{name: "users/create bad JSON", q: func(_ *testing.T, _ *env, _ string) req {
			return req{method: "POST", path: "/v1/users", token: adminToken, ct: "application/json", body: []byte(`["Bob"]`)}
		}, code: 400, err: "bad_json"},
		{name: "users/create wrong content type", q: func(_ *testing.T, _ *env, _ string) req {
			return req{method: "POST", path: "/v1/users", token: adminToken, ct: "application/x-www-form-urlencoded", body: []byte(`name=Bob`)}
		}, code: 415, err: "unsupported_media_type"},
		{name: "users/create oversized", q: func(_ *testing.T, _ *env, _ string) req {
			return req{method: "POST", path: "/v1/users", token: adminToken, ct: "application/json", body: append([]byte(`{"name":"`), big...)}
		}, code: 413, err: "too_large"},
		{name: "users/list", q: func(_ *testing.T, _ *env, _ string) req {
			return req{method: "GET", path: "/v1/users", token: adminToken}
		}, code: 200, check: func(t *testing.T, e *env, r resp, _ string) {
			us, _ := r.js["users"].([]any)
			if len(us) != 1 || us[0].(map[string]any)["id"] != e.alice.ID {
				t.Fatalf("answer %s", r.raw)
			}
		}},
		{name: "users/get", q: func(_ *testing.T, e *env, _ string) req {
			return req{method: "GET", path: "/v1/users/" + e.alice.ID, token: adminToken}
		}, code: 200, check: func(t *testing.T, e *env, r resp, _ string) {
			if r.str("id") != e.alice.ID || r.str("name") != "Alice" || r.js["enabled"] != true {
				t.Fatalf("answer %s", r.raw)
			}
		}},
		{name: "users/get unknown", q: func(_ *testing.T, _ *env, _ string) req {
			return req{method: "GET", path: "/v1/users/nobody", token: adminToken}
		}, code: 404, err: "not_found"},
		{name: "users/get bad id", q: func(_ *testing.T, _ *env, _ string) req {
			return req{method: "GET", path: "/v1/users/a%2Cb", token: adminToken}
		}, code: 400, err: "bad_id"},
		{name: "users/delete", q: func(_ *testing.T, e *env, _ string) req {
			return req{method: "DELETE", path: "/v1/users/" + e.alice.ID, token: adminToken}
		}, code: 204, check: func(t *testing.T, e *env, _ resp, _ string) {
			if _, err := e.db.GetUser(e.alice.ID); err == nil {
				t.Fatal("user still there")
			}
		}},
		{name: "users/delete unknown", q: func(_ *testing.T, _ *env, _ string) req {
			return req{method: "DELETE", path: "/v1/users/nobody", token: adminToken}
		}, code: 404, err: "not_found"},
		{name: "users/set PIN", q: func(_ *testing.T, e *env, _ string) req {
			return req{method: "PUT", path: "/v1/users/" + e.alice.ID + "/pin", token: adminToken, ct: "application/json", body: []byte(`{"pin":"11223"}`)}
		}, code: 204, check: func(t *testing.T, e *env, _ resp, _ string) {
			if u, ok, err := e.db.LookupPIN("11223", epoch); err != nil || !ok || u.ID != e.alice.ID {
				t.Fatalf("new PIN not found: %v %v", ok, err)
			}
		}},
		{name: "users/set PIN bad JSON", q: func(_ *testing.T, e *env, _ string) req {
			return req{method: "PUT", path: "/v1/users/" + e.alice.ID + "/pin", token: adminToken, ct: "application/json", body: []byte(`{"pin":11223}`)}
		}, code: 400, err: "bad_json"},
		{name: "users/set PIN unknown user", q: func(_ *testing.T, _ *env, _ string) req {
			return req{method: "PUT", path: "/v1/users/nobody/pin", token: adminToken, ct: "application/json", body: []byte(`{"pin":"11223"}`)}
		}, code: 404, err: "not_found"},
		{name: "faces/enroll", q: func(t *testing.T, e *env, _ string) req {
			return req{method: "POST", path: "/v1/users/" + e.alice.ID + "/faces", token: adminToken, ct: "image/png", body: img(t, wAlice)}
		}, code: 201, check: func(t *testing.T, e *env, r resp, _ string) {
			tpls, _ := e.db.Templates()
			w, _ := r.js["warnings"].([]any)
			if len(tpls) != 1 || r.str("template") != tpls[0].ID || len(w) != 1 || len(r.js) != 3 {
				t.Fatalf("answer %s, templates %d", r.raw, len(tpls))
			}
		}},
		{name: "faces/no face", q: func(t *testing.T, e *env, _ string) req {
			return req{method: "POST", path: "/v1/users/" + e.alice.ID + "/faces", token: adminToken, ct: "image/png", body: img(t, wEnrollNo)}
		}, code: 422, err: "no_face"},
		{name: "faces/multiple faces", q: func(t *testing.T, e *env, _ string) req {
			return req{method: "POST", path: "/v1/users/" + e.alice.ID + "/faces", token: adminToken, ct: "image/jpeg", body: jpg(t, wEnrollMF)}
		}, code: 422, err: "multiple_faces"},
		{name: "faces/several photos in one request", q: func(t *testing.T, e *env, _ string) req {
			ct, body := multipartPhotos(t, img(t, wAlice), jpg(t, wAlice))
			return req{method: "POST", path: "/v1/users/" + e.alice.ID + "/faces", token: adminToken, ct: ct, body: body}
		}, code: 201, check: func(t *testing.T, e *env, r resp, _ string) {
			tpls, _ := e.db.Templates()
			ids, _ := r.js["templates"].([]any)
			if len(tpls) != 2 || len(ids) != 2 || r.str("template") != ids[0] {
				t.Fatalf("answer %s, templates %d", r.raw, len(tpls))
			}
		}},
		{name: "faces/several photos, the second refused: nothing stored", q: func(t *testing.T, e *env, _ string) req {
			ct, body := multipartPhotos(t, img(t, wAlice), img(t, wEnrollMF))
			return req{method: "POST", path: "/v1/users/" + e.alice.ID + "/faces", token: adminToken, ct: ct, body: body}
		}, code: 422, err: "multiple_faces", check: func(t *testing.T, e *env, r resp, _ string) {
			if tpls, _ := e.db.Templates(); len(tpls) != 0 || !strings.HasPrefix(r.str("message"), "photo 2: ") {
				t.Fatalf("answer %s, templates %d", r.raw, len(tpls))
			}
		}},
		{name: "faces/closer to another user", q: func(t *testing.T, e *env, _ string) req {
			return req{method: "POST", path: "/v1/users/" + e.alice.ID + "/faces", token: adminToken, ct: "image/png", body: img(t, wEnrollOther)}
		}, code: 409, err: "closer_to_other_user", check: func(t *testing.T, e *env, r resp, _ string) {
			if tpls, _ := e.db.Templates(); len(tpls) != 0 || !strings.Contains(r.str("message"), "Ada") || !strings.Contains(r.str("message"), "force=true") {
				t.Fatalf("answer %s, templates %d", r.raw, len(tpls))
			}
		}},
		{name: "faces/closer to another user, forced", q: func(t *testing.T, e *env, _ string) req {
			return req{method: "POST", path: "/v1/users/" + e.alice.ID + "/faces?force=true", token: adminToken, ct: "image/png", body: img(t, wEnrollOther)}
		}, code: 201},
		{name: "faces/bad force", q: func(t *testing.T, e *env, _ string) req {
			return req{method: "POST", path: "/v1/users/" + e.alice.ID + "/faces?force=maybe", token: adminToken, ct: "image/png", body: img(t, wAlice)}
		}, code: 400, err: "bad_query"},
		{name: "faces/multipart part not an image type", q: func(t *testing.T, e *env, _ string) req {
			ct, body := multipartPhotos(t, []byte("hello"))
			return req{method: "POST", path: "/v1/users/" + e.alice.ID + "/faces", token: adminToken, ct: ct, body: bytes.Replace(body, []byte("image/png"), []byte("application/zip"), 1)}
		}, code: 415, err: "unsupported_media_type"},
		{name: "templates/list and delete", q: func(t *testing.T, e *env, _ string) req {
			tp, err := e.db.AddTemplate(e.alice.ID, make([]float32, 128))
			if err != nil {
				t.Fatal(err)
			}
			return req{method: "DELETE", path: "/v1/users/" + e.alice.ID + "/templates/" + tp.ID, token: adminToken}
		}, code: 204, check: func(t *testing.T, e *env, _ resp, _ string) {
			if tpls, _ := e.db.Templates(); len(tpls) != 0 {
				t.Fatalf("templates left: %d", len(tpls))
			}
		}},
		{name: "templates/delete unknown", q: func(_ *testing.T, e *env, _ string) req {
			return req{method: "DELETE", path: "/v1/users/" + e.alice.ID + "/templates/nope", token: adminToken}
		}, code: 404, err: "not_found"},
		{name: "templates/list", q: func(t *testing.T, e *env, _ string) req {
			if _, err := e.db.AddTemplate(e.alice.ID, make([]float32, 128)); err != nil {
				t.Fatal(err)
			}
			return req{method: "GET", path: "/v1/users/" + e.alice.ID + "/templates", token: adminToken}
		}, code: 200, check: func(t *testing.T, _ *env, r resp, _ string) {
			ts, _ := r.js["templates"].([]any)
			if len(ts) != 1 || !strings.Contains(string(r.raw), `"engine":"dlib"`) || strings.Contains(string(r.raw), "descriptor") {
				t.Fatalf("answer %s", r.raw)
			}
		}},
		{name: "templates/list unknown user", q: func(_ *testing.T, _ *env, _ string) req {
			return req{method: "GET", path: "/v1/users/nobody/templates", token: adminToken}
		}, code: 404, err: "not_found"},
		{name: "templates/list with the door token", q: func(_ *testing.T, e *env, _ string) req {
			return req{method: "GET", path: "/v1/users/" + e.alice.ID + "/templates", token: doorToken}
		}, code: 403, err: "forbidden"},
		{name: "enrollment/no enroller wired", q: func(_ *testing.T, e *env, _ string) req {
			return req{method: "POST", path: "/v1/enrollment", token: adminToken, ct: "application/json", body: []byte(`{"user":"` + e.alice.ID + `"}`)}
		}, code: 503},
		{name: "faces/unknown user", q: func(t *testing.T, _ *env, _ string) req {
			return req{method: "POST", path: "/v1/users/nobody/faces", token: adminToken, ct: "image/png", body: img(t, wAlice)}
		}, code: 404, err: "not_found"},
		{name: "faces/wrong content type", q: func(t *testing.T, e *env, _ string) req {
			return req{method: "POST", path: "/v1/users/" + e.alice.ID + "/faces", token: adminToken, ct: "application/json", body: img(t, wAlice)}
		}, code: 415, err: "unsupported_media_type"},
		{name: "faces/oversized", q: func(_ *testing.T, e *env, _ string) req {
			return req{method: "POST", path: "/v1/users/" + e.alice.ID + "/faces", token: adminToken, ct: "image/jpeg", body: big}
		}, code: 413, err: "too_large"},
		{name: "faces/not an image", q: func(_ *testing.T, e *env, _ string) req {
			return req{method: "POST", path: "/v1/users/" + e.alice.ID + "/faces", token: adminToken, ct: "image/png", body: []byte("nope")}
		}, code: 400, err: "bad_image"},

		// Admin: audit
		{name: "audit/jsonl", setup: func(e *env) string { s := e.frame(wNoMatch, ""); e.m.Cancel(""); return s.str("session") },
			q: func(_ *testing.T, _ *env, _ string) req {
				return req{method: "GET", path: "/v1/audit?outcome=cancelled", token: adminToken}
			}, code: 200, check: func(t *testing.T, _ *env, r resp, s string) {
				lines := strings.Split(strings.TrimSpace(string(r.raw)), "\n")
				var a map[string]any
				if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &a) != nil || a["id"] != s || r.hdr.Get("Content-Type") != "application/x-ndjson" {
					t.Fatalf("export %q", r.raw)
				}
			}},
		{name: "audit/csv filtered to nothing", setup: func(e *env) string { e.frame(wNoMatch, ""); e.m.Cancel(""); return "" },
			q: func(_ *testing.T, _ *env, _ string) req {
				return req{method: "GET", path: "/v1/audit?format=csv&outcome=granted&since=2025-01-01", token: adminToken}
			}, code: 200, check: func(t *testing.T, _ *env, r resp, _ string) {
				if lines := strings.Split(strings.TrimSpace(string(r.raw)), "\n"); len(lines) != 1 || !strings.HasPrefix(r.hdr.Get("Content-Type"), "text/csv") {
					t.Fatalf("want only the CSV header, got %q", r.raw)
				}
			}},
		{name: "audit/bad format", q: func(_ *testing.T, _ *env, _ string) req {
			return req{method: "GET", path: "/v1/audit?format=xml", token: adminToken}
		}, code: 400, err: "bad_format"},
		{name: "audit/bad since", q: func(_ *testing.T, _ *env, _ string) req {
			return req{method: "GET", path: "/v1/audit?since=yesterday", token: adminToken}
		}, code: 400, err: "bad_query"},
		{name: "audit/bad outcome", q: func(_ *testing.T, _ *env, _ string) req {
			return req{method: "GET", path: "/v1/audit?outcome=maybe", token: adminToken}
		}, code: 400, err: "bad_query"},
		{name: "audit/get attempt", setup: func(e *env) string { s := e.frame(wNoMatch, ""); e.m.Cancel(""); return s.str("session") },
			q: func(_ *testing.T, _ *env, s string) req {
				return req{method: "GET", path: "/v1/audit/" + s, token: adminToken}
			},
			code: 200, check: func(t *testing.T, _ *env, r resp, s string) {
				if r.str("id") != s || r.str("outcome") != "cancelled" || r.str("hash") == "" {
					t.Fatalf("answer %s", r.raw)
				}
			}},
		{name: "audit/get unknown", q: func(_ *testing.T, _ *env, _ string) req {
			return req{method: "GET", path: "/v1/audit/unknown", token: adminToken}
		}, code: 404, err: "not_found"},
		{name: "audit/frame of a wrong-PIN session", setup: func(e *env) string {
			s := e.toPinFallback()
			for range 3 {
				e.pin(s, "99999")
			}
			return s
		}, q: func(_ *testing.T, _ *env, s string) req {
			return req{method: "GET", path: "/v1/audit/" + s + "/frame", token: adminToken}
		},
			code: 200, check: func(t *testing.T, e *env, r resp, _ string) {
				if r.hdr.Get("Content-Type") != "image/jpeg" || len(r.raw) == 0 {
					t.Fatalf("frame answer %s %d bytes", r.hdr.Get("Content-Type"), len(r.raw))
				}
			}},
		{name: "audit/frame missing", setup: func(e *env) string { s := e.frame(wNoMatch, ""); e.m.Cancel(""); return s.str("session") },
			q: func(_ *testing.T, _ *env, s string) req {
				return req{method: "GET", path: "/v1/audit/" + s + "/frame", token: adminToken}
			},
			code: 404, err: "not_found"},
		{name: "audit/verify", setup: func(e *env) string { e.frame(wNoMatch, ""); e.m.Cancel(""); return "" },
			q: func(_ *testing.T, _ *env, _ string) req {
				return req{method: "GET", path: "/v1/audit/verify", token: adminToken}
			},
			code: 200, check: func(t *testing.T, _ *env, r resp, _ string) {
				if r.js["ok"] != true || r.js["records"] != 1.0 {
					t.Fatalf("answer %s", r.raw)
				}
			}},

		// Metrics, OpenAPI, health, unknown routes
		{name: "metrics/text", setup: func(e *env) string { e.frame(wNoFace, ""); return "" },
			q: func(_ *testing.T, _ *env, _ string) req {
				return req{method: "GET", path: "/metrics", token: adminToken}
			},
			code: 200, check: func(t *testing.T, _ *env, r resp, _ string) {
				for _, want := range []string{`doorface_frames_total{quality="no_face"} 1`, `doorface_state{state="Receiving"} 1`,
					`doorface_state{state="Idle"} 0`, `doorface_frame_queue_depth 0`, `doorface_frame_stage_seconds_count{stage="analyze"} 1`,
					`doorface_http_requests_total{code="200",route="POST /v1/frames"} 1`} {
					if !strings.Contains(string(r.raw), want) {
						t.Errorf("metrics lack %q", want)
					}
				}
			}},
		{name: "openapi/door", q: func(_ *testing.T, _ *env, _ string) req {
			return req{method: "GET", path: "/openapi.yaml", token: doorToken}
		},
			code: 200, check: func(t *testing.T, _ *env, r resp, _ string) {
				if !bytes.Equal(r.raw, OpenAPI()) {
					t.Fatal("served document differs from the embedded one")
				}
			}},
		{name: "healthz/public", q: func(_ *testing.T, _ *env, _ string) req { return req{method: "GET", path: "/healthz"} },
			code: 200, check: func(t *testing.T, _ *env, r resp, _ string) {
				if r.str("status") != "ok" {
					t.Fatalf("answer %s", r.raw)
				}
			}},
		{name: "unknown path", q: func(_ *testing.T, _ *env, _ string) req {
			return req{method: "GET", path: "/v2/nothing", token: doorToken}
		},
			code: 404, err: "not_found"},
		{name: "wrong method", q: func(_ *testing.T, _ *env, _ string) req {
			return req{method: "PUT", path: "/v1/frames", token: doorToken}
		},
			code: 405, err: "method_not_allowed", check: func(t *testing.T, _ *env, r resp, _ string) {
				if r.hdr.Get("Allow") != "POST" {
					t.Fatalf("Allow %q", r.hdr.Get("Allow"))
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, func(_ *machine.Config, o *Options) { o.MaxBody = 64 << 10 })
			var session string
			if c.setup != nil {
				session = c.setup(e)
			}
			r := e.do(c.q(t, e, session))
			if r.code != c.code {
				t.Fatalf("status %d, want %d: %s", r.code, c.code, r.raw)
			}
			if c.code >= 400 && (r.str("error") != c.err && c.err != "" || r.str("message") == "") {
				t.Fatalf("error %q message %q, want %q", r.str("error"), r.str("message"), c.err)
			}
			if c.check != nil {
				c.check(t, e, r, session)
			}
			if e.frames.decoded.Load() != e.frames.closed.Load() {
				t.Fatalf("%d frames decoded, %d closed", e.frames.decoded.Load(), e.frames.closed.Load())
			}
			logs := e.logs.String()
			for _, secret := range []string{doorToken, adminToken, alicePIN, "13579", "11223", "99999"} {
				// Random hex ids may contain the digits; a PIN in a log would stand alone.
				if regexp.MustCompile(`(^|[^0-9a-fA-F])` + secret + `($|[^0-9a-fA-F])`).MatchString(logs) {
					t.Fatalf("log holds a secret %q", secret)
				}
			}
			if c.code >= 400 && !strings.Contains(logs, "request rejected") {
				t.Fatalf("rejection not logged:\n%s", logs)
			}
		})
	}
}
