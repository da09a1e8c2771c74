package transport

import (
	"encoding/json"
	"testing"

	"github.com/doorface/doorface/transport/api"
)

// FuzzPinRequest: the PIN body parser never panics, and whatever it accepts is a valid session
// id and a digits-only PIN that survives a JSON round trip.
func FuzzPinRequest(f *testing.F) {
	for _, s := range []string{
		`{"session":"abc","pin":"12345"}`, `{"session":"abc","pin":12345}`, `{"session":"abc"}`,
		`{"session":"abc","pin":"1","x":1}`, `{"session":"abc","pin":"1"}{}`, `{"session":"a/b","pin":"1"}`,
		`[]`, `null`, ``, `{"session":"` + string(make([]byte, 80)) + `","pin":"1"}`, `{"pin":"٣٣٣"}`,
		`{"session":"abc","pin":"12345"} `, `{"SESSION":"abc","PIN":"12345"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parsePinRequest(b)
		if err != nil {
			if _, ok := err.(*HTTPError); !ok {
				t.Fatalf("error %T is not an *HTTPError", err)
			}
			return
		}
		if !validID(p.Session) || !validPIN(p.PIN) {
			t.Fatalf("accepted %q -> %+v", b, p)
		}
		again, _ := json.Marshal(p)
		if q, err := parsePinRequest(again); err != nil || q != p {
			t.Fatalf("round trip of %+v: %+v %v", p, q, err)
		}
	})
}

// FuzzFrameRequest: the frame request parser never panics; what it accepts has a valid or empty
// session, a content type vision takes and a positive limit.
func FuzzFrameRequest(f *testing.F) {
	f.Add("", "image/jpeg", false)
	f.Add("abc-DEF_09", "image/png; q=1", false)
	f.Add("", "text/plain; charset=utf-8", true)
	f.Add("../x", "image/png", false)
	f.Add("", "application/x-www-form-urlencoded", true)
	f.Add("", "", false)
	f.Add("a\x00b", "image/jpeg;;", true)
	f.Fuzz(func(t *testing.T, session, ct string, compat bool) {
		r, err := parseFrameRequest(session, ct, compat, DefaultMaxBody)
		if err != nil {
			return
		}
		if r.Session != "" && !validID(r.Session) || r.Session != session {
			t.Fatalf("session %q accepted as %q", session, r.Session)
		}
		switch r.ContentType {
		case "image/jpeg", "image/png", "text/plain":
		default:
			t.Fatalf("content type %q -> %q", ct, r.ContentType)
		}
		if r.Limit < DefaultMaxBody {
			t.Fatalf("limit %d", r.Limit)
		}
	})
}

// FuzzAuditQuery: the audit query parser never panics and only accepts known formats.
func FuzzAuditQuery(f *testing.F) {
	f.Add("2025-01-01", "2025-02-01T00:00:00Z", "granted", "u1", "csv")
	f.Add("x", "", "", "", "")
	f.Add("", "", "nope", "a b", "xml")
	f.Fuzz(func(t *testing.T, since, until, outcome, user, format string) {
		_, fm, err := parseAuditQuery(map[string][]string{"since": {since}, "until": {until}, "outcome": {outcome},
			"user": {user}, "format": {format}})
		if err == nil && fm != "jsonl" && fm != "csv" {
			t.Fatalf("format %q accepted as %q", format, fm)
		}
	})
}

// FuzzJSONBodies: the admin JSON bodies (POST /v1/users, PUT /v1/users/{id}/pin) decode to
// exactly one object with no unknown fields or are refused with an *HTTPError; what is accepted
// survives a JSON round trip unchanged (no silent normalization of a name or PIN).
func FuzzJSONBodies(f *testing.F) {
	for _, s := range []string{
		`{"name":"Alice","pin":"12345"}`, `{"name":"Alice"}`, `{"pin":""}`, `{"pin":"1"}`,
		`{"name":"../../etc/passwd"}`, `{"name":"a\u0000b"}`, `{"name":"\ud800"}`, `{"name":1}`,
		`{"name":"A","pin":"1","admin":true}`, `{"name":"A"} {"name":"B"}`, `{"name":"A"}]`,
		`{"__proto__":{}}`, `{"name":"` + string(make([]byte, 300)) + `"}`, `{"NAME":"A"}`, `[`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		check := func(v any, fresh func() any) {
			if err := decodeStrict(b, v); err != nil {
				if _, ok := err.(*HTTPError); !ok {
					t.Fatalf("error %T is not an *HTTPError", err)
				}
				return
			}
			again, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("marshal %+v: %v", v, err)
			}
			w := fresh()
			if err := decodeStrict(again, w); err != nil {
				t.Fatalf("round trip of %s: %v", again, err)
			}
			if a, b := mustMarshal(t, v), mustMarshal(t, w); a != b {
				t.Fatalf("round trip changed %s to %s", a, b)
			}
		}
		check(&api.CreateUserRequest{}, func() any { return &api.CreateUserRequest{} })
		check(&api.SetPINRequest{}, func() any { return &api.SetPINRequest{} })
	})
}

func mustMarshal(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
