package transport

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	"github.com/doorface/doorface/machine"
	"github.com/doorface/doorface/transport/api"
	"github.com/doorface/doorface/transport/client"
)

// TestClientSpeaksTheAPI drives every typed method of transport/client against the real server
// (real machine and store, fake vision): what `doorface replay`, `make bench` and the tests rely
// on. Error answers come back as *client.Error with the API's code.
func TestClientSpeaksTheAPI(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	door := client.New(e.hs.URL, doorToken, e.hs.Client())
	admin := door.WithToken(adminToken)

	if err := door.Health(ctx); err != nil {
		t.Fatalf("Health: %v", err)
	}
	events, err := door.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if ev := <-events; ev.Name != api.EventSnapshot {
		t.Fatalf("first event %q, want snapshot", ev.Name)
	}

	// Users.
	bob, err := admin.CreateUser(ctx, "Bob", "13579")
	if err != nil || bob.ID == "" || !bob.HasPIN {
		t.Fatalf("CreateUser = %+v, %v", bob, err)
	}
	if _, err := admin.CreateUser(ctx, "Eve", "13579"); client.Code(err) != api.CodePINInUse || client.Status(err) != http.StatusConflict {
		t.Fatalf("CreateUser with a PIN in use: %v", err)
	}
	if us, err := admin.Users(ctx); err != nil || len(us) != 2 {
		t.Fatalf("Users = %+v, %v", us, err)
	}
	if u, err := admin.User(ctx, bob.ID); err != nil || u.Name != "Bob" {
		t.Fatalf("User = %+v, %v", u, err)
	}
	if err := admin.SetPIN(ctx, bob.ID, ""); err != nil {
		t.Fatal(err)
	}
	if u, _ := admin.User(ctx, bob.ID); u.HasPIN {
		t.Fatal("SetPIN(\"\") kept the PIN")
	}
	if f, err := admin.AddFace(ctx, bob.ID, "image/png", img(t, 64)); err != nil || f.Template == "" {
		t.Fatalf("AddFace = %+v, %v", f, err)
	}
	if _, err := admin.AddFace(ctx, bob.ID, "image/png", img(t, wEnrollMF)); client.Code(err) != api.CodeMultipleFaces {
		t.Fatalf("AddFace of a group photo: %v", err)
	}
	if _, err := door.Users(ctx); client.Status(err) != http.StatusForbidden {
		t.Fatalf("Users with the door token: %v", err)
	}

	// A face session, then a PIN session with a wrong PIN and its evidence.
	a, err := door.PostFrame(ctx, "", "image/jpeg", jpg(t, wAlice))
	if err != nil || a.State != string(machine.Recognizing) {
		t.Fatalf("PostFrame = %+v, %v", a, err)
	}
	a, err = door.PostFrame(ctx, a.Session, "image/jpeg", jpg(t, wAlice))
	if err != nil || a.Decision == nil || a.Decision.Outcome != "granted" || a.Frame.Match == nil {
		t.Fatalf("second PostFrame = %+v, %v", a, err)
	}
	granted := a.Session
	if _, err := door.PostFrame(ctx, "", "image/jpeg", jpg(t, wAlice)); client.Code(err) != api.CodeBusy {
		t.Fatalf("PostFrame while unlocking: %v", err)
	}
	if st, err := door.State(ctx); err != nil || st.State != string(machine.Unlocking) || st.Relay != "unlocked" {
		t.Fatalf("State = %+v, %v", st, err)
	}
	e.clk.Advance(machine.DefaultConfig().UnlockDuration + machine.DefaultConfig().Cooldown)
	session := e.toPinFallback()
	if p, err := door.EnterPIN(ctx, session, "00000"); err != nil || p.Outcome != "denied" || p.AttemptsLeft != 2 {
		t.Fatalf("EnterPIN wrong = %+v, %v", p, err)
	}
	if l, err := admin.Lockout(ctx); err != nil || l.Failures != 1 || l.Active {
		t.Fatalf("Lockout after a wrong PIN = %+v, %v", l, err)
	}
	if _, err := door.ResetLockout(ctx); client.Status(err) != http.StatusForbidden {
		t.Fatalf("ResetLockout with the door token: %v", err)
	}
	if was, err := admin.ResetLockout(ctx); err != nil || was.Failures != 1 {
		t.Fatalf("ResetLockout = %+v, %v", was, err)
	}
	if l, err := admin.Lockout(ctx); err != nil || l.Failures != 0 {
		t.Fatalf("Lockout after the reset = %+v, %v", l, err)
	}
	if st, err := door.CancelSession(ctx, session); err != nil || st.State != string(machine.Idle) {
		t.Fatalf("CancelSession = %+v, %v", st, err)
	}
	if _, err := door.EnterPIN(ctx, session, alicePIN); client.Status(err) != http.StatusGone && client.Status(err) != http.StatusConflict {
		t.Fatalf("EnterPIN on a cancelled session: %v", err)
	}

	// Audit.
	var buf bytes.Buffer
	n, err := admin.Audit(ctx, api.AuditFilter{Outcome: "granted"}, "jsonl", &buf)
	if err != nil || n != 1 || !bytes.Contains(buf.Bytes(), []byte(granted)) {
		t.Fatalf("Audit = %d, %v:\n%s", n, err, buf.String())
	}
	if r, err := admin.Attempt(ctx, granted); err != nil || r.Outcome != "granted" || r.Hash == "" {
		t.Fatalf("Attempt = %+v, %v", r, err)
	}
	if r, err := admin.Attempt(ctx, session); err != nil || r.Evidence == "" {
		t.Fatalf("cancelled PIN session: %+v, %v (want its evidence frame)", r, err)
	} else if b, err := admin.AttemptFrame(ctx, session); err != nil || len(b) == 0 {
		t.Fatalf("AttemptFrame = %d bytes, %v", len(b), err)
	}
	if _, err := admin.AttemptFrame(ctx, "no-such-attempt"); client.Code(err) != api.CodeNotFound {
		t.Fatalf("AttemptFrame of nothing: %v", err)
	}
	// Two sessions and the audited lockout reset.
	rep, err := admin.Verify(ctx)
	if err != nil || !rep.OK || rep.Records != 3 {
		t.Fatalf("Verify = %+v, %v", rep, err)
	}
	if h, err := admin.AuditHead(ctx); err != nil || h.Seq != 3 || h.Value != rep.HeadValue {
		t.Fatalf("AuditHead = %+v, %v; verify's head %q", h, err, rep.HeadValue)
	}
	if err := admin.DeleteUser(ctx, bob.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.User(ctx, bob.ID); client.Code(err) != api.CodeNotFound {
		t.Fatalf("User after delete: %v", err)
	}
	// The stream carried the session's transitions.
	seen := map[string]bool{}
	for len(events) > 0 {
		seen[(<-events).Name] = true
	}
	if !seen[api.EventState] || !seen[api.EventDecision] {
		t.Fatalf("events seen %v, want state and decision", seen)
	}
}
