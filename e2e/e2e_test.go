package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/doorface/doorface/internal/testkit"
	"github.com/doorface/doorface/transport/api"
	"github.com/doorface/doorface/transport/client"
)

// statesOf collects the "state" events of one session until Idle.
func statesOf(t *testing.T, ch <-chan client.Event, session string, within time.Duration) []string {
	t.Helper()
	var got []string
	timeout := time.After(within)
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatalf("event stream closed; states so far %v", got)
			}
			if e.Name != api.EventState {
				continue
			}
			var s struct{ State, Session string }
			_ = e.Decode(&s)
			if s.Session != session {
				continue
			}
			got = append(got, s.State)
			if s.State == "Idle" {
				return got
			}
		case <-timeout:
			t.Fatalf("session %s did not reach Idle on the event stream within %v: %v", session, within, got)
		}
	}
}

// playUntil posts frames (cycling) until the answer satisfies stop, and returns that answer.
func playUntil(t *testing.T, c testkit.API, frames [][]byte, max int, stop func(api.FrameResponse) bool) api.FrameResponse {
	t.Helper()
	session := ""
	for i := 0; i < max; i++ {
		code, a := c.PostFrame(frames[i%len(frames)], session)
		if code == http.StatusTooManyRequests {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		if code != http.StatusOK {
			t.Fatalf("frame %d: %d %+v", i, code, a)
		}
		if stop(a) {
			return a
		}
		session = a.Session
		time.Sleep(100 * time.Millisecond) // 10 fps, as a tablet sends
	}
	t.Fatalf("no stop condition after %d frames", max)
	return api.FrameResponse{}
}

// replayGrant plays frames with `doorface replay` (10 fps, following the session) and returns its
// last frame answer, which must carry the decision.
func replayGrant(t *testing.T, base, doorToken string, frames [][]byte) api.FrameResponse {
	t.Helper()
	dir := t.TempDir()
	args := []string{"replay", "--server", base, "--fps", "10", "--max-frames", "10", "--no-events"}
	for i, f := range frames {
		p := filepath.Join(dir, fmt.Sprintf("frame%d.jpg", i))
		if err := os.WriteFile(p, f, 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, p)
	}
	cmd := exec.Command(testkit.Binary(t), args...)
	cmd.Env = append(os.Environ(), "DOORFACE_DOOR_TOKEN="+doorToken)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	var last api.FrameResponse
	var result string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if f := strings.SplitN(line, " ", 4); f[0] == "answer" && len(f) == 4 && f[1] == "200" {
			if err := json.Unmarshal([]byte(f[3]), &last); err != nil {
				t.Fatalf("replay answer line %q: %v", line, err)
			}
		} else if f[0] == "result" {
			result = line
		}
	}
	if last.Decision == nil || !strings.HasPrefix(result, "result "+last.Decision.Outcome+" session="+last.Session) {
		t.Fatalf("replay did not end in a decision:\n%s", out)
	}
	return last
}

// stopWith sends sig to the daemon and waits up to 20 s for it to exit.
func stopWith(t *testing.T, d *testkit.Daemon, sig syscall.Signal) error {
	t.Helper()
	if err := d.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.Exited():
		return d.Err()
	case <-time.After(20 * time.Second):
		t.Fatal("daemon did not exit within 20s of the signal")
		return nil
	}
}

// lastRelayLine is the last relay log line of the daemon.
func lastRelayLine(logs string) string {
	last := ""
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, `"device":"relay"`) && strings.Contains(l, `"msg":"relay `) {
			last = l
		}
	}
	return last
}

func TestEndToEnd(t *testing.T) {
	t.Parallel() // functional: no timing or memory claim, its own daemon and data
	models := testkit.Models(t)
	testkit.Faces(t)
	data := t.TempDir()
	env := []string{
		"DOORFACE_DOOR_TOKEN=door-token-e2e-0123456789", "DOORFACE_ADMIN_TOKEN=admin-token-e2e-0123456789",
		"DOORFACE_MACHINE_UNLOCK_DURATION=1500ms", "DOORFACE_MACHINE_COOLDOWN=1s",
		"DOORFACE_MACHINE_MAX_FRAMES=4", "DOORFACE_LOG_LEVEL=debug", "DOORFACE_VISION_WORKERS=1",
		// Recognition is under test, with the enroll-test photos: photos of photos, which liveness
		// (rightly) refuses. liveness_test.go runs the daemon with liveness enforced.
		"DOORFACE_MACHINE_LIVENESS=off",
	}
	args := []string{"--data", data, "--models", models, "--hw", "sim"}
	d := testkit.StartDaemon(t, testkit.Env(env...), testkit.Args(args...))
	door := testkit.NewAPI(t, d.URL(""), "door-token-e2e-0123456789")
	admin := testkit.NewAPI(t, d.URL(""), "admin-token-e2e-0123456789")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := door.Events(ctx)

	// 2. Enroll two people with PINs through the admin API.
	type user struct{ ID, Name string }
	enroll := func(name, pin string, photos ...string) user {
		var u user
		admin.JSON(http.MethodPost, "/v1/users", map[string]string{"name": name, "pin": pin}, http.StatusCreated, &u)
		for _, p := range photos {
			ct := "image/png"
			code, body := admin.Do(http.MethodPost, "/v1/users/"+u.ID+"/faces", ct, testkit.Photo(t, "enroll-test/"+p))
			if code != http.StatusCreated {
				t.Fatalf("enroll %s from %s: %d %s", name, p, code, body)
			}
		}
		return u
	}
	sheldon := enroll("Sheldon", "31415", "sheldon1.png", "sheldon2.png", "sheldon3.png")
	enroll("Leonard", "27182", "leonard1.png", "leonard2.png", "leonard3.png")

	// 3. The enrolled person, other photos, in camera-sized frames → granted within k-of-n.
	sheldonFrames := [][]byte{
		testkit.CameraFrame(t, testkit.Photo(t, "enroll-test/sheldon4.png"), 1280, 720, 360),
		testkit.CameraFrame(t, testkit.Photo(t, "enroll-test/sheldon5.png"), 1280, 720, 360),
	}
	// The tablet here is `doorface replay`, as an installer would test a door.
	granted := replayGrant(t, d.URL(""), "door-token-e2e-0123456789", sheldonFrames)
	if granted.Decision.Outcome != "granted" || granted.Decision.Method != "face" || granted.Decision.User != sheldon.ID {
		t.Fatalf("decision = %+v, want granted by face for %s", granted.Decision, sheldon.ID)
	}
	if granted.Frame.Seq > 4 {
		t.Errorf("granted at frame %d; k-of-n (2 of 3) should decide within the first frames", granted.Frame.Seq)
	}
	if s := door.State(); s.State != "Unlocking" || s.Relay != "unlocked" {
		t.Fatalf("right after the grant: %+v, want Unlocking with the relay unlocked", s)
	}
	opened := time.Now()
	door.WaitState("Cooldown", 5*time.Second)
	if held := time.Since(opened); held < 1200*time.Millisecond {
		t.Errorf("relay open for %v, want the unlock duration (1.5s)", held)
	}
	if s := door.State(); s.Relay != "locked" {
		t.Fatalf("in Cooldown the relay is %s", s.Relay)
	}
	if code, a := door.FrameError(sheldonFrames[0], ""); code != http.StatusConflict || a != api.CodeBusy {
		t.Fatalf("frame during Cooldown = %d %+v, want 409 busy", code, a)
	}
	got := statesOf(t, events, granted.Session, 10*time.Second)
	want := []string{"Receiving", "Recognizing", "Unlocking", "Cooldown", "Idle"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("event stream states = %v, want %v", got, want)
	}

	// 4. A stranger → PinFallback; wrong PIN → denied with evidence; correct PIN → granted.
	stranger := [][]byte{testkit.CameraFrame(t, testkit.Photo(t, "enroll-test/joy.jpg"), 1280, 720, 420)}
	fallback := playUntil(t, door, stranger, 20, func(a api.FrameResponse) bool { return a.State == "PinFallback" })
	if fallback.Decision != nil {
		t.Fatalf("stranger got a decision by face: %+v", fallback.Decision)
	}
	var pa api.PinResponse
	door.JSON(http.MethodPost, "/v1/pin", map[string]string{"session": fallback.Session, "pin": "00000"}, http.StatusOK, &pa)
	if pa.Outcome != "denied" || pa.State != "PinFallback" || pa.AttemptsLeft != 2 {
		t.Fatalf("wrong PIN = %+v", pa)
	}
	door.JSON(http.MethodPost, "/v1/pin", map[string]string{"session": fallback.Session, "pin": "31415"}, http.StatusOK, &pa)
	if pa.Outcome != "granted" {
		t.Fatalf("correct PIN = %+v", pa)
	}
	door.WaitState("Idle", 10*time.Second)
	var rec struct {
		Outcome, Method, User, Evidence string
		PinTries                        int `json:"pin_tries"`
	}
	admin.JSON(http.MethodGet, "/v1/audit/"+fallback.Session, nil, http.StatusOK, &rec)
	if rec.Outcome != "granted" || rec.Method != "pin" || rec.User != sheldon.ID || rec.Evidence == "" {
		t.Fatalf("audit of the PIN session = %+v, want granted by pin with the wrong PIN's evidence frame", rec)
	}
	code, frame := admin.Do(http.MethodGet, "/v1/audit/"+fallback.Session+"/frame", "", nil)
	if code != http.StatusOK || !bytes.HasPrefix(frame, []byte{0xff, 0xd8}) {
		t.Fatalf("evidence frame = %d, %d bytes", code, len(frame))
	}

	// 5. A frame carrying the previous session's id is refused with 410 and opens nothing.
	if code, _ := door.PostFrame(sheldonFrames[0], granted.Session); code != http.StatusGone {
		t.Fatalf("stale session frame = %d, want 410", code)
	}
	if s := door.State(); s.State != "Idle" || s.Relay != "locked" || s.Session != nil {
		t.Fatalf("after the stale frame: %+v", s)
	}

	// 6. Five wrong PINs across sessions → locked_out; it survives a restart.
	wrongPINs := func(n int) (api.PinResponse, string) {
		fb := playUntil(t, door, stranger, 20, func(a api.FrameResponse) bool { return a.State == "PinFallback" })
		var last api.PinResponse
		for i := 0; i < n; i++ {
			door.JSON(http.MethodPost, "/v1/pin", map[string]string{"session": fb.Session, "pin": "99999"}, http.StatusOK, &last)
		}
		return last, fb.Session
	}
	denied, deniedSession := wrongPINs(3)
	if denied.Outcome != "denied" || denied.State != "Idle" {
		t.Fatalf("third wrong PIN of a session = %+v, want denied and back to Idle", denied)
	}
	lockedOut, lockedSession := wrongPINs(2)
	if lockedOut.Outcome != "locked_out" {
		t.Fatalf("fifth wrong PIN = %+v, want locked_out", lockedOut)
	}
	door.WaitState("Idle", 5*time.Second)
	if err := stopWith(t, d, syscall.SIGTERM); err != nil {
		t.Fatalf("daemon exit after SIGTERM: %v", err)
	}
	allLogs := d.Logs.String()
	d = testkit.StartDaemon(t, testkit.Env(env...), testkit.Args(args...))
	door = testkit.NewAPI(t, d.URL(""), "door-token-e2e-0123456789")
	admin = testkit.NewAPI(t, d.URL(""), "admin-token-e2e-0123456789")
	// The offline commands refuse a database the daemon holds and point to the API.
	if b, err := exec.Command(testkit.Binary(t), "users", "list", "--data", data).CombinedOutput(); err == nil || !strings.Contains(string(b), "use the admin API") {
		t.Errorf("users list while the daemon runs: err=%v\n%s", err, b)
	}
	fb := playUntil(t, door, stranger, 20, func(a api.FrameResponse) bool { return a.State == "PinFallback" })
	door.JSON(http.MethodPost, "/v1/pin", map[string]string{"session": fb.Session, "pin": "31415"}, http.StatusOK, &pa)
	if pa.Outcome != "locked_out" {
		t.Fatalf("correct PIN after restart during lockout = %+v, want locked_out", pa)
	}
	door.WaitState("Idle", 5*time.Second)

	// 8. SIGTERM while Unlocking → the relay ends locked and the process exits 0.
	last := playUntil(t, door, sheldonFrames, 10, func(a api.FrameResponse) bool { return a.Decision != nil })
	if s := door.State(); s.State != "Unlocking" || s.Relay != "unlocked" {
		t.Fatalf("before SIGTERM: %+v", s)
	}
	if err := stopWith(t, d, syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM while Unlocking: %v (want 0)", err)
	}
	if l := lastRelayLine(d.Logs.String()); !strings.Contains(l, `"msg":"relay locked"`) {
		t.Fatalf("last relay log line after SIGTERM while Unlocking: %s", l)
	}

	// No PIN or token ever appears in a log line (PINs as JSON values, since bare digits can occur
	// inside timestamps and ids).
	allLogs += d.Logs.String()
	for _, secret := range []string{"door-token-e2e-0123456789", "admin-token-e2e-0123456789", `"31415"`, `"27182"`, `"99999"`, `"00000"`} {
		if strings.Contains(allLogs, secret) {
			t.Errorf("%s appears in the daemon's log", secret)
		}
	}

	// 7. Offline audit export and verify: every session once, with the right outcome; the chain verifies.
	seen := map[string][]string{}
	for _, r := range exportAudit(t, data) {
		seen[r.ID] = append(seen[r.ID], r.Outcome+"/"+r.Method)
	}
	for id, wantRec := range map[string]string{
		granted.Session:  "granted/face",
		fallback.Session: "granted/pin",
		deniedSession:    "denied/",
		lockedSession:    "locked_out/",
		fb.Session:       "locked_out/",
		last.Session:     "granted/face",
	} {
		if len(seen[id]) != 1 || !strings.HasPrefix(seen[id][0], strings.TrimSuffix(wantRec, "/")) {
			t.Errorf("session %s in the export: %v, want exactly one %s", id, seen[id], wantRec)
		}
	}
	v, err := exec.Command(testkit.Binary(t), "audit", "verify", "--data", data).CombinedOutput()
	if err != nil || !bytes.HasPrefix(v, []byte("OK: ")) {
		t.Fatalf("audit verify: %v\n%s", err, v)
	}
}
