package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/doorface/doorface/internal/testkit"
	"github.com/doorface/doorface/transport/api"
	"github.com/doorface/doorface/transport/client"
)

// toPinFallback plays a stranger until the session asks for a PIN, and returns the session.
func (r *relRig) toPinFallback(stranger []byte) string {
	r.t.Helper()
	a := playUntil(r.t, r.door, [][]byte{stranger}, 30, func(a api.FrameResponse) bool { return a.State == "PinFallback" })
	return a.Session
}

// kill9 kills the daemon with SIGKILL and waits for it.
func (r *relRig) kill9() {
	r.t.Helper()
	err := stopWith(r.t, r.d, syscall.SIGKILL)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		r.t.Fatalf("daemon exit after SIGKILL: %v", err)
	}
}

// TestKillDuringSessionRealDaemon: kill -9 while the door is Unlocking, and while a session is
// Receiving. At the restart the relay is commanded locked before the daemon listens, and the audit
// shows both interruptions, each session still with exactly one attempt record.
func TestKillDuringSessionRealDaemon(t *testing.T) {
	t.Parallel() // functional: no timing or memory claim, its own daemon and data
	r := newRelRig(t, "DOORFACE_MACHINE_UNLOCK_DURATION=9s", "DOORFACE_MACHINE_RECEIVE_TIMEOUT=60s")
	r.createUser("Penny", "86420")
	stranger := testkit.CameraFrame(t, testkit.Photo(t, "enroll-test/joy.jpg"), 1280, 720, 420)

	// 1. Granted by PIN, then killed while Unlocking.
	granted := r.toPinFallback(stranger)
	var pa api.PinResponse
	r.door.JSON(http.MethodPost, "/v1/pin", map[string]string{"session": granted, "pin": "86420"}, http.StatusOK, &pa)
	if pa.Outcome != "granted" {
		t.Fatalf("PIN = %+v", pa)
	}
	if s := r.door.State(); s.State != "Unlocking" || s.Relay != "unlocked" {
		t.Fatalf("before the kill: %+v", s)
	}
	r.kill9()
	r.start()
	logs := r.d.WaitLog(t, 5*time.Second, `"msg":"serving"`)
	locked := testkit.LogIndex(logs, `"msg":"relay locked"`, `"reason":"start"`)
	ready := testkit.LogIndex(logs, `"msg":"doorface ready"`)
	serving := testkit.LogIndex(logs, `"msg":"serving"`)
	if locked < 0 || ready < 0 || serving < 0 || !(locked < ready && ready < serving) {
		t.Fatalf("restart log order: relay locked at line %d, ready %d, serving %d; want locked first\n%s", locked, ready, serving, logs)
	}
	if s := r.door.State(); s.State != "Idle" || s.Relay != "locked" {
		t.Fatalf("after the restart: %+v", s)
	}
	var rec struct{ ID, Outcome, Method, Reason string }
	r.admin.JSON(http.MethodGet, "/v1/audit/"+granted, nil, http.StatusOK, &rec)
	if rec.Outcome != "granted" {
		t.Fatalf("the killed session's attempt = %+v, want its granted record", rec)
	}
	r.admin.JSON(http.MethodGet, "/v1/audit/"+granted+"-unlock", nil, http.StatusOK, &rec)
	if rec.Outcome != "interrupted" || rec.Method != "door" || !strings.Contains(rec.Reason, granted) {
		t.Fatalf("door-event record of the interrupted unlocking = %+v", rec)
	}

	// 2. Killed while Receiving: the in-progress marker becomes an interrupted attempt.
	code, a := r.door.PostFrame(stranger, "")
	if code != http.StatusOK || a.State != "Receiving" && a.State != "Recognizing" {
		t.Fatalf("first frame = %d %+v", code, a)
	}
	r.kill9()
	r.start()
	r.admin.JSON(http.MethodGet, "/v1/audit/"+a.Session, nil, http.StatusOK, &rec)
	if rec.Outcome != "interrupted" {
		t.Fatalf("session killed while receiving = %+v, want interrupted", rec)
	}
	if n := r.auditCount(); n != 3 {
		t.Fatalf("audit has %d records, want 3 (granted, its door event, the interrupted session)", n)
	}
	if code, b := r.admin.Do(http.MethodGet, "/v1/audit/verify", "", nil); code != http.StatusOK || !bytes.Contains(b, []byte(`"ok":true`)) {
		t.Fatalf("verify: %d %s", code, b)
	}
}

// TestKillDuringAttemptWritesRealDaemon: tablets start and cancel sessions as fast as they can
// (each cancel is one durable record); the daemon is killed with SIGKILL at a random moment,
// several times. Every cancel a client got an answer for is in the audit afterwards.
func TestKillDuringAttemptWritesRealDaemon(t *testing.T) {
	// A face must be seen for a cancelled session to be recorded (blank sessions are only
	// counted), and cancels are not rate-limited here: this test is about durability under kill -9.
	r := newRelRig(t, "DOORFACE_LOG_LEVEL=warn", "DOORFACE_HTTP_CANCEL_RATE=100000")
	small := testkit.CameraFrame(t, testkit.Photo(t, "enroll-test/joy.jpg"), 640, 360, 240)
	acked := map[string]bool{}
	var mu sync.Mutex
	rounds := 3
	for round := 0; round < rounds; round++ {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for c := 0; c < 2; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tablet := client.New(r.d.URL(""), relDoorToken, &http.Client{Timeout: 10 * time.Second})
				do := func(method, path, ct string, body []byte, session string) (int, []byte, error) {
					var h map[string]string
					if session != "" {
						h = map[string]string{api.SessionHeader: session}
					}
					return tablet.Raw(context.Background(), method, path, ct, body, h)
				}
				for {
					select {
					case <-stop:
						return
					default:
					}
					code, b, err := do(http.MethodPost, "/v1/frames", "image/jpeg", small, "")
					if err != nil {
						return // the daemon is gone
					}
					var a api.FrameResponse
					_ = json.Unmarshal(b, &a)
					if code != http.StatusOK {
						time.Sleep(5 * time.Millisecond)
						continue
					}
					code, _, err = do(http.MethodDelete, "/v1/session", "", nil, a.Session)
					if err == nil && code == http.StatusOK {
						mu.Lock()
						acked[a.Session] = true
						mu.Unlock()
					}
				}
			}()
		}
		time.Sleep(time.Duration(700+300*round) * time.Millisecond)
		r.kill9()
		close(stop)
		wg.Wait()
		if round < rounds-1 {
			r.start()
		}
	}
	have := map[string]string{}
	for _, rec := range exportAudit(t, r.data) {
		if _, dup := have[rec.ID]; dup {
			t.Errorf("session %s recorded twice", rec.ID)
		}
		have[rec.ID] = rec.Outcome
	}
	lost := 0
	for id := range acked {
		if have[id] != "cancelled" {
			lost++
			t.Errorf("acknowledged cancel of %s: record %q", id, have[id])
		}
	}
	t.Logf("kill -9 during writes: %d rounds, %d acknowledged records, %d records in the file, %d lost", rounds, len(acked), len(have), lost)
	if len(acked) < 10 {
		t.Fatalf("only %d acknowledged records: the clients did not write", len(acked))
	}
	if b, err := exec.Command(testkit.Binary(t), "audit", "verify", "--data", r.data).CombinedOutput(); err != nil {
		t.Fatalf("audit verify after kills: %v\n%s", err, b)
	}
}

// runToExit runs `doorface serve` expecting it to refuse to start; it returns the exit code and
// the output.
func runToExit(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(testkit.Binary(t), append([]string{"serve", "--insecure-http", "--listen", testkit.FreePort(t), "--hw", "sim"}, args...)...)
	cmd.Env = append(os.Environ(), "DOORFACE_DOOR_TOKEN="+relDoorToken, "DOORFACE_ADMIN_TOKEN="+relAdminToken)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("serve did not refuse to start within 60s:\n%s", out.String())
	}
	return cmd.ProcessState.ExitCode(), out.String()
}

// TestRefuseToStartRealDaemon: a corrupted database or missing models → exit non-zero with a clear
// message, and the relay commanded locked before that.
func TestRefuseToStartRealDaemon(t *testing.T) {
	t.Parallel() // functional: no timing or memory claim, its own daemon and data
	models := testkit.Models(t)
	good := t.TempDir()
	// A real database to corrupt.
	r := newRelRig(t)
	r.createUser("Bernadette", "24613")
	if err := stopWith(t, r.d, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		prepare func(t *testing.T) (data, models string)
		want    []string
	}{
		{"corrupt database", func(t *testing.T) (string, string) {
			data := t.TempDir()
			b, err := os.ReadFile(filepath.Join(r.data, dbFile))
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 2*4096 && i < len(b); i++ { // both meta pages
				b[i] ^= 0x5a
			}
			if err := os.WriteFile(filepath.Join(data, dbFile), b, 0o600); err != nil {
				t.Fatal(err)
			}
			return data, models
		}, []string{"refusing to start", "corrupt"}},
		{"truncated database", func(t *testing.T) (string, string) {
			data := t.TempDir()
			b, _ := os.ReadFile(filepath.Join(r.data, dbFile))
			if err := os.WriteFile(filepath.Join(data, dbFile), b[:len(b)/3], 0o600); err != nil {
				t.Fatal(err)
			}
			return data, models
		}, []string{"refusing to start", "database"}},
		{"garbage database", func(t *testing.T) (string, string) {
			data := t.TempDir()
			if err := os.WriteFile(filepath.Join(data, dbFile), bytes.Repeat([]byte("not a database "), 5000), 0o600); err != nil {
				t.Fatal(err)
			}
			return data, models
		}, []string{"refusing to start", "database"}},
		{"models missing", func(t *testing.T) (string, string) { return good, t.TempDir() }, []string{"refusing to start", "models", "make models"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, m := tc.prepare(t)
			code, out := runToExit(t, "--data", data, "--models", m)
			if code == 0 {
				t.Fatalf("exit 0, want non-zero:\n%s", out)
			}
			locked := testkit.LogIndex(out, `"msg":"relay locked"`, `"reason":"start"`)
			refused := testkit.LogIndex(out, tc.want...)
			if locked < 0 || refused < 0 || locked > refused {
				t.Fatalf("want the relay locked (line %d) before a refusal naming %v (line %d):\n%s", locked, tc.want, refused, out)
			}
			if testkit.LogIndex(out, `"msg":"relay unlocked"`) >= 0 || testkit.LogIndex(out, `"msg":"serving"`) >= 0 {
				t.Fatalf("refused daemon unlocked or served:\n%s", out)
			}
			t.Logf("%s: exit %d: %s", tc.name, code, firstLine(out, "refusing"))
		})
	}
}

func firstLine(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return fmt.Sprintf("(no line with %q)", sub)
}

// rlimInfinity is RLIM_INFINITY as the kernel's unsigned 64-bit rlimit value.
const rlimInfinity = ^uint64(0)

// setFileSizeLimit sets the daemon's RLIMIT_FSIZE (soft and hard stay >= the soft value; raising
// it back is allowed because the hard limit is left unlimited). A Go program needs no SIGXFSZ
// handling of its own: the runtime installs a handler for SIGXFSZ that ignores it unless
// os/signal asked for it (runtime/sigtab_linux_generic.go: _SigNotify only), so a write past the
// limit fails with EFBIG and the process lives on.
func setFileSizeLimit(t *testing.T, pid int, cur uint64) {
	t.Helper()
	lim := syscall.Rlimit{Cur: cur, Max: rlimInfinity}
	if _, _, errno := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), syscall.RLIMIT_FSIZE,
		uintptr(unsafe.Pointer(&lim)), 0, 0, 0); errno != 0 {
		t.Fatalf("prlimit(%d, RLIMIT_FSIZE, %d): %v", pid, cur, errno)
	}
}

// TestDiskFullRealDaemon: the database cannot grow (RLIMIT_FSIZE on the running daemon below
// every page a commit writes, so each bbolt commit fails with EFBIG as on a full disk) while a
// session waits for its PIN. The correct PIN is answered denied, the relay never unlocks, the
// log names the failed audit write, new sessions are refused (503) while the daemon keeps
// answering /healthz; once space returns the next session is granted, and at the next start the
// session that could not be recorded appears as interrupted.
func TestDiskFullRealDaemon(t *testing.T) {
	r := newRelRig(t)
	r.createUser("Raj", "97531")
	stranger := testkit.CameraFrame(t, testkit.Photo(t, "enroll-test/joy.jpg"), 1280, 720, 420)
	pid := r.d.Cmd.Process.Pid
	relayUnlocks := func() int { return strings.Count(r.d.Logs.String(), `"msg":"relay unlocked"`) }
	healthy := func() {
		t.Helper()
		resp, err := http.Get(r.d.URL("/healthz"))
		if err != nil {
			t.Fatalf("/healthz with the disk full: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/healthz with the disk full: %d", resp.StatusCode)
		}
	}

	// 1. A session waits for its PIN; then the disk is full. Only the two meta pages (the first
	// 8 KiB; bbolt writes them after the data pages, so never) stay writable.
	full := r.toPinFallback(stranger)
	setFileSizeLimit(t, pid, 8192)
	var pa api.PinResponse
	r.door.JSON(http.MethodPost, "/v1/pin", map[string]string{"session": full, "pin": "97531"}, http.StatusOK, &pa)
	if pa.Outcome != "denied" {
		t.Fatalf("correct PIN with the disk full = %+v, want denied", pa)
	}
	// Longer than the unlock duration: the relay stays locked all along.
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if s := r.door.State(); s.Relay != "locked" || s.State == "Unlocking" {
			t.Fatalf("with the disk full: %+v", s)
		}
	}
	if n := relayUnlocks(); n != 0 {
		t.Fatalf("relay unlocked %d times with the disk full", n)
	}
	failed := []string{`"level":"ERROR"`, `"msg":"record attempt failed; door stays locked"`, `"session":"` + full + `"`, "file too large"}
	logs := r.d.WaitLog(t, 5*time.Second, failed...)
	i := testkit.LogIndex(logs, failed...)
	t.Logf("logged: %s", strings.Split(logs, "\n")[i])
	healthy()

	// 2. Still full: a new session cannot even begin (its in-progress marker is a write).
	code, a := r.door.PostFrame(stranger, "")
	if code != http.StatusServiceUnavailable {
		t.Fatalf("frame with the disk full = %d %+v, want 503", code, a)
	}
	if s := r.door.State(); s.State != "Idle" || s.Relay != "locked" {
		t.Fatalf("after a refused session: %+v", s)
	}
	r.d.WaitLog(t, 5*time.Second, `"level":"ERROR"`, `"msg":"begin attempt failed; session refused"`, "file too large")
	healthy()

	// 3. Space returns: the next session works.
	setFileSizeLimit(t, pid, rlimInfinity)
	ok := r.toPinFallback(stranger)
	r.door.JSON(http.MethodPost, "/v1/pin", map[string]string{"session": ok, "pin": "97531"}, http.StatusOK, &pa)
	if pa.Outcome != "granted" {
		t.Fatalf("correct PIN after space returned = %+v", pa)
	}
	s := r.door.State()
	r.d.WaitLog(t, 5*time.Second, `"msg":"relay unlocked"`)
	if s.State != "Unlocking" || s.Relay != "unlocked" || relayUnlocks() != 1 {
		t.Fatalf("after the grant: %+v, relay unlocked %d times", s, relayUnlocks())
	}
	var rec struct{ ID, Outcome, Method string }
	r.admin.JSON(http.MethodGet, "/v1/audit/"+ok, nil, http.StatusOK, &rec)
	if rec.Outcome != "granted" {
		t.Fatalf("record of the session after space returned = %+v", rec)
	}
	if code, b := r.admin.Do(http.MethodGet, "/v1/audit/"+full, "", nil); code != http.StatusNotFound {
		t.Fatalf("the session whose record could not be written: %d %s, want 404 until the next start", code, b)
	}

	// 4. Its in-progress marker was durable: at the next start it is recorded as interrupted,
	// so it too ends in exactly one record.
	r.door.WaitState("Idle", 10*time.Second)
	if err := stopWith(t, r.d, syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	r.start()
	r.admin.JSON(http.MethodGet, "/v1/audit/"+full, nil, http.StatusOK, &rec)
	if rec.Outcome != "interrupted" {
		t.Fatalf("the unrecorded session after a restart = %+v, want interrupted", rec)
	}
	if n := r.auditCount(); n != 2 {
		t.Fatalf("audit has %d records, want 2 (the interrupted session, the granted one)", n)
	}
	if code, b := r.admin.Do(http.MethodGet, "/v1/audit/verify", "", nil); code != http.StatusOK || !bytes.Contains(b, []byte(`"ok":true`)) {
		t.Fatalf("verify: %d %s", code, b)
	}
}
