package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	bolt "go.etcd.io/bbolt"

	"github.com/doorface/doorface/internal/testkit"
	"github.com/doorface/doorface/transport"
	"github.com/doorface/doorface/transport/api"
	"github.com/doorface/doorface/transport/client"
)

// The hostile-traffic tests of issue 15, each through the real binary on loopback. Attackers dial
// from other loopback addresses (127.0.0.2 and up) than the tablet and the admin (127.0.0.1).

// dialFrom opens a TCP connection from a given loopback address.
func dialFrom(ip, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 2 * time.Second}
	return d.Dial("tcp", addr)
}

// attackerIP is the i-th attacker address, 127.0.0.10 and up.
func attackerIP(i int) string { return fmt.Sprintf("127.0.%d.%d", 1+i/200, 10+i%200) }

// openFDs counts the daemon's open file descriptors.
func openFDs(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// setNOFILE lowers the running daemon's open-file limit, as systemd's LimitNOFILE would.
func setNOFILE(t *testing.T, pid int, n uint64) {
	t.Helper()
	lim := syscall.Rlimit{Cur: n, Max: n}
	if _, _, errno := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), syscall.RLIMIT_NOFILE,
		uintptr(unsafe.Pointer(&lim)), 0, 0, 0); errno != 0 {
		t.Fatalf("prlimit(%d, RLIMIT_NOFILE, %d): %v", pid, n, errno)
	}
}

// grayJPEG is a blank camera frame: no face.
func grayJPEG(t *testing.T) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 640, 480))
	for i := range img.Pix {
		img.Pix[i] = 128
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// strangerFrame is a camera frame of someone not enrolled.
func strangerFrame(t *testing.T) []byte {
	return testkit.CameraFrame(t, testkit.Photo(t, "enroll-test/joy.jpg"), 1280, 720, 420)
}

// enrollSheldon enrolls Sheldon (PIN 31415) from three photos and returns a frame of him that the
// default threshold accepts (see TestLoadRealDaemon).
func enrollSheldon(r *relRig) []byte {
	r.t.Helper()
	uid := r.createUser("Sheldon", "31415")
	for _, p := range []string{"sheldon1.png", "sheldon2.png", "sheldon3.png"} {
		if code, b := r.admin.Do(http.MethodPost, "/v1/users/"+uid+"/faces", "image/png", testkit.Photo(r.t, "enroll-test/"+p)); code != http.StatusCreated {
			r.t.Fatalf("enroll %s: %d %s", p, code, b)
		}
	}
	return testkit.CameraFrame(r.t, testkit.Photo(r.t, "enroll-test/sheldon5.png"), 1280, 720, 360)
}

// p99 is the 99th percentile of ds.
func p99(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[(len(s)*99)/100]
}

// watchdogPings counts WATCHDOG=1 datagrams on a notification socket the test owns.
type watchdogPings struct {
	sock string
	n    atomic.Int64
}

func listenNotify(t *testing.T) *watchdogPings {
	t.Helper()
	w := &watchdogPings{sock: filepath.Join(t.TempDir(), "notify.sock")}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: w.sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 256)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			if strings.Contains(string(buf[:n]), "WATCHDOG=1") {
				w.n.Add(1)
			}
		}
	}()
	return w
}

// TestConnectionFloodRealDaemon (finding 1): hundreds of idle connections from many addresses,
// more than the daemon's open-file limit allows, while the admin watches /v1/state and a tablet
// posts a frame. The daemon keeps its descriptors under the cap, answers every real request,
// and the systemd watchdog keeps being pinged.
func TestConnectionFloodRealDaemon(t *testing.T) {
	w := listenNotify(t)
	r := newRelRig(t, "NOTIFY_SOCKET="+w.sock, "WATCHDOG_USEC=1000000")
	pid := r.d.Cmd.Process.Pid
	setNOFILE(t, pid, 400)

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	before := w.n.Load()
	start := time.Now()
	for i := 0; i < 900 && time.Since(start) < 20*time.Second; i++ {
		if c, err := dialFrom(attackerIP(i/15), r.d.Addr); err == nil {
			conns = append(conns, c)
		}
	}
	var lat []time.Duration
	for i := 0; i < 30; i++ {
		t0 := time.Now()
		if st := r.admin.State(); st.State == "" {
			t.Fatal("empty state")
		}
		lat = append(lat, time.Since(t0))
		time.Sleep(50 * time.Millisecond)
	}
	if code, _ := r.door.PostFrame(strangerFrame(t), ""); code != http.StatusOK {
		t.Fatalf("the tablet's frame during the flood: %d", code)
	}
	fds := openFDs(t, pid)
	time.Sleep(1500 * time.Millisecond) // at least one more watchdog interval (500 ms) under the flood
	pings := w.n.Load() - before
	t.Logf("flood: %d connections dialed in %v, daemon fds %d, /v1/state p99 %v, watchdog pings %d",
		len(conns), time.Since(start).Round(time.Millisecond), fds, p99(lat), pings)
	if fds > 300 {
		t.Errorf("daemon holds %d descriptors: the connection cap (256) did not hold", fds)
	}
	if pings < 3 {
		t.Errorf("only %d watchdog pings during the flood", pings)
	}
	if refused := r.metric("doorface_http_connections_refused_total"); refused < 100 {
		t.Errorf("refused connections %v: the flood was not refused", refused)
	}
}

// TestHeaderTrickleRealDaemon (finding 2): hundreds of connections each trickling a huge header.
// The header cap and read deadline bound the memory: RSS grows by far less than the 1 GB the
// unbounded server took.
func TestHeaderTrickleRealDaemon(t *testing.T) {
	r := newRelRig(t, "DOORFACE_HTTP_HEADER_TIMEOUT=3s")
	pid := r.d.Cmd.Process.Pid
	before := procStatus(t, pid, "VmRSS")
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var sent atomic.Int64
	chunk := bytes.Repeat([]byte("a"), 8<<10)
	for i := 0; i < 300; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := dialFrom(attackerIP(i/10), r.d.Addr)
			if err != nil {
				return
			}
			defer c.Close()
			if _, err := fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: door\r\nX-Pad: "); err != nil {
				return
			}
			for n := 0; n < 128 && ctx.Err() == nil; n++ { // up to 1 MiB each
				_ = c.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := c.Write(chunk); err != nil {
					return
				}
				sent.Add(int64(len(chunk)))
				time.Sleep(20 * time.Millisecond)
			}
		}(i)
	}
	wg.Wait()
	peak := procStatus(t, pid, "VmHWM")
	after := procStatus(t, pid, "VmRSS")
	t.Logf("header trickle: %d MiB sent; RSS %d -> %d MiB (peak %d MiB)", sent.Load()>>20, before>>10, after>>10, peak>>10)
	if grew := (peak - before) >> 10; grew > 128 {
		t.Fatalf("RSS grew by %d MiB under the header trickle", grew)
	}
	if st := r.admin.State(); st.State != "Idle" {
		t.Fatalf("state after the trickle: %+v", st)
	}
}

// TestScanBombRealDaemon (finding 3): progressive JPEGs with 1,000 scans are refused before they
// are decoded, quickly, and a real frame posted at the same time is answered.
func TestScanBombRealDaemon(t *testing.T) {
	r := newRelRig(t)
	bomb := testkit.ProgressiveJPEG(1024, 1024, testkit.LibjpegBands, 1000)
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			code, errCode := r.door.FrameError(bomb, "")
			if code != http.StatusBadRequest || errCode != api.CodeBadImage || time.Since(t0) > 3*time.Second {
				errs <- fmt.Sprintf("bomb answered %d %s after %v", code, errCode, time.Since(t0))
			}
		}()
	}
	t0 := time.Now()
	code, a := r.door.PostFrame(strangerFrame(t), "")
	took := time.Since(t0)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if code != http.StatusOK || a.Session == "" || took > 5*time.Second {
		t.Fatalf("real frame beside the bombs: %d %+v after %v", code, a, took)
	}
}

// TestSlowUploadsRealDaemon (finding 4): uploads that trickle their body hold a reading slot, never
// the analysis queue: a real frame is answered meanwhile, and the slow bodies are cut at the body
// timeout.
func TestSlowUploadsRealDaemon(t *testing.T) {
	r := newRelRig(t, "DOORFACE_HTTP_BODY_TIMEOUT=3s")
	type result struct {
		status string
		took   time.Duration
	}
	results := make(chan result, 8)
	for i := 0; i < 4; i++ { // as many as the analysis queue has slots
		go func(i int) {
			t0 := time.Now()
			c, err := dialFrom("127.0.0.1", r.d.Addr)
			if err != nil {
				results <- result{"dial: " + err.Error(), 0}
				return
			}
			defer c.Close()
			fmt.Fprintf(c, "POST /v1/frames HTTP/1.1\r\nHost: door\r\nAuthorization: Bearer %s\r\nContent-Type: image/jpeg\r\nContent-Length: 200000\r\n\r\n", relDoorToken)
			go func() {
				for n := 0; n < 100; n++ {
					if _, err := c.Write([]byte{0xFF}); err != nil {
						return
					}
					time.Sleep(100 * time.Millisecond)
				}
			}()
			_ = c.SetReadDeadline(time.Now().Add(15 * time.Second))
			line, _ := bufio.NewReader(c).ReadString('\n')
			results <- result{strings.TrimSpace(line), time.Since(t0)}
		}(i)
	}
	time.Sleep(500 * time.Millisecond) // the slow uploads are under way
	t0 := time.Now()
	code, a := r.door.PostFrame(strangerFrame(t), "")
	if code != http.StatusOK || a.Session == "" {
		t.Fatalf("a real frame beside 4 slow uploads: %d %+v (the queue was held)", code, a)
	}
	t.Logf("real frame answered in %v beside 4 slow uploads", time.Since(t0).Round(time.Millisecond))
	for i := 0; i < 4; i++ {
		res := <-results
		if strings.Contains(res.status, " 200 ") || res.took > 10*time.Second {
			t.Errorf("slow upload: %q after %v; want it cut at the 3 s body timeout", res.status, res.took)
		}
	}
}

// TestAuditFloodRealDaemon (finding 5): blank frames leave no record (they are counted); a client
// that posts a face and cancels in a loop is rate-limited; the history stays within its cap and
// still verifies.
func TestAuditFloodRealDaemon(t *testing.T) {
	r := newRelRig(t, "DOORFACE_MACHINE_RECEIVE_TIMEOUT=500ms", "DOORFACE_RETENTION_MAX_RECORDS=6",
		"DOORFACE_RETENTION_KEEP_RECORDS=2")
	blank := grayJPEG(t)
	for i := 0; i < 3; i++ {
		if code, _ := r.door.PostFrame(blank, ""); code != http.StatusOK {
			t.Fatalf("blank frame: %d", code)
		}
	}
	r.door.WaitState("Idle", 10*time.Second)
	if n := r.auditCount(); n != 0 {
		t.Fatalf("%d records after a blank session, want 0", n)
	}
	if n := r.metric("doorface_sessions_unrecorded_total"); n < 1 {
		t.Fatalf("unrecorded sessions %v, want at least 1", n)
	}

	face := strangerFrame(t)
	limited := 0
	for i := 0; i < 20; i++ {
		code, a := r.door.PostFrame(face, "")
		if code != http.StatusOK {
			continue
		}
		c, _ := r.door.Do(http.MethodDelete, "/v1/session", "", nil, api.SessionHeader, a.Session)
		if c == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited < 5 {
		t.Errorf("only %d of 20 quick cancels were rate-limited", limited)
	}
	// Past the cap of 6 records (the cancelled sessions), the oldest are pruned; the rest verifies.
	for i := 0; i < 8; i++ {
		code, a := r.door.PostFrame(face, "")
		if code == http.StatusOK {
			time.Sleep(1100 * time.Millisecond) // within the cancel rate
			r.door.Do(http.MethodDelete, "/v1/session", "", nil, api.SessionHeader, a.Session)
		}
	}
	if n := r.auditCount(); n > 6 {
		t.Errorf("%d records kept, over the cap of 6", n)
	}
	var rep api.VerifyReport
	r.admin.JSON(http.MethodGet, "/v1/audit/verify", nil, http.StatusOK, &rep)
	if !rep.OK {
		t.Fatalf("history after pruning does not verify: %+v", rep)
	}
	if fill := r.metric("doorface_audit_history_fill"); fill <= 0 || fill > 1 {
		t.Errorf("history fill %v", fill)
	}
}

// TestEvidenceForgeryRealDaemon (finding 6): /save cannot plant evidence: the kept frame is the
// one the session analysed, re-encoded (a payload appended to the camera frame is gone).
func TestEvidenceForgeryRealDaemon(t *testing.T) {
	t.Parallel() // functional: no timing or memory claim, its own daemon and data
	r := newRelRig(t)
	payload := []byte("TRAILING-PAYLOAD-0123456789")
	stranger := append(strangerFrame(t), payload...)
	session := r.toPinFallback(stranger)
	forged := testkit.CameraFrame(t, testkit.Photo(t, "enroll-test/sheldon1.png"), 640, 480, 300)
	if code, b := r.door.Do(http.MethodPost, "/save", "text/plain", []byte(base64Of(forged)), api.SessionHeader, session); code != http.StatusOK {
		t.Fatalf("/save: %d %s", code, b)
	}
	for i := 0; i < 3; i++ {
		r.door.EnterPIN(session, "99999")
	}
	frame, err := r.admin.C.AttemptFrame(context.Background(), session)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(frame))
	if err != nil || bytes.Equal(frame, forged) || bytes.Contains(frame, payload) || cfg.Width != 1280 {
		t.Fatalf("evidence: %dx%d %v; forged %v, payload kept %v", cfg.Width, cfg.Height, err, bytes.Equal(frame, forged), bytes.Contains(frame, payload))
	}
}

// TestLockoutRealDaemon (finding 7): the PIN lockout is capped (machine.lockout_max) and an admin
// can clear it at once; the reset is in the audit.
func TestLockoutRealDaemon(t *testing.T) {
	t.Parallel() // functional: no timing or memory claim, its own daemon and data
	r := newRelRig(t, "DOORFACE_MACHINE_LOCKOUT_AFTER=2", "DOORFACE_MACHINE_LOCKOUT_BASE=2s",
		"DOORFACE_MACHINE_LOCKOUT_MAX=4s")
	r.createUser("Penny", "27182")
	stranger := strangerFrame(t)
	session := r.toPinFallback(stranger)
	var last api.PinResponse
	for i := 0; i < 2; i++ {
		_, last = r.door.EnterPIN(session, "99999")
	}
	if last.Outcome != "locked_out" || last.RetryAfterS > 4 {
		t.Fatalf("after 2 wrong PINs: %+v (want locked_out for at most lockout_max 4s)", last)
	}
	r.door.WaitState("Idle", 10*time.Second)
	session = r.toPinFallback(stranger)
	if _, p := r.door.EnterPIN(session, "27182"); p.Outcome != "locked_out" {
		t.Fatalf("the right PIN during the lockout: %+v", p)
	}
	r.door.WaitState("Idle", 10*time.Second)
	was, err := r.admin.C.ResetLockout(context.Background())
	if err != nil || was.Level < 1 {
		t.Fatalf("reset: %+v %v", was, err)
	}
	session = r.toPinFallback(stranger)
	if _, p := r.door.EnterPIN(session, "27182"); p.Outcome != "granted" {
		t.Fatalf("the right PIN after the reset: %+v", p)
	}
	var buf bytes.Buffer
	if _, err := r.admin.C.Audit(context.Background(), api.AuditFilter{}, "jsonl", &buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "lockout") || !strings.Contains(buf.String(), "admin API") {
		t.Fatalf("no audited lockout reset in:\n%s", buf.String())
	}
}

// runCLI runs the binary with args (and stdin) and returns its exit code and output.
func runCLI(t *testing.T, stdin string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(testkit.Binary(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%v: %v", args, err)
	}
	return cmd.ProcessState.ExitCode(), string(out)
}

// stopDaemon ends the rig's daemon with SIGTERM.
func (r *relRig) stopDaemon() {
	r.t.Helper()
	if err := stopWith(r.t, r.d, syscall.SIGTERM); err != nil {
		r.t.Fatalf("daemon exit: %v", err)
	}
}

// TestAuditChainRealDaemon (finding 8): the chain is keyed: an edited record is found by `audit
// verify`; a cut tail by `audit verify --head` given the head kept off the device; an export
// verifies against that head, and an edited export does not.
func TestAuditChainRealDaemon(t *testing.T) {
	t.Parallel() // functional: no timing or memory claim, its own daemon and data
	r := newRelRig(t)
	stranger := strangerFrame(t)
	for i := 0; i < 3; i++ {
		s := r.toPinFallback(stranger)
		r.door.Do(http.MethodDelete, "/v1/session", "", nil, api.SessionHeader, s)
		time.Sleep(1100 * time.Millisecond) // within the cancel rate
	}
	r.stopDaemon()
	code, head := runCLI(t, "", "audit", "head", "--data", r.data)
	head = strings.TrimSpace(head)
	if code != 0 || !strings.HasPrefix(head, "3:") {
		t.Fatalf("audit head: %d %q", code, head)
	}
	if code, out := runCLI(t, "", "audit", "verify", "--data", r.data, "--head", head); code != 0 || !strings.Contains(out, "anchored") {
		t.Fatalf("verify against the head: %d %s", code, out)
	}
	exp := t.TempDir()
	if code, out := runCLI(t, "", "audit", "export", "--data", r.data, "--format", "jsonl", "--out", exp); code != 0 {
		t.Fatalf("export: %d %s", code, out)
	}
	if code, out := runCLI(t, "", "audit", "verify", "--data", r.data, "--export", exp, "--head", head); code != 0 {
		t.Fatalf("verify the export: %d %s", code, out)
	}
	recs := filepath.Join(exp, "audit.jsonl")
	b, _ := os.ReadFile(recs)
	if err := os.WriteFile(recs, bytes.Replace(b, []byte(`"cancelled"`), []byte(`"granted"`), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out := runCLI(t, "", "audit", "verify", "--data", r.data, "--export", exp, "--head", head); code != 1 || !strings.Contains(out, "BROKEN") {
		t.Fatalf("an edited export verified: %d %s", code, out)
	}

	// Whoever holds the database file: cut the last record, then edit another.
	db, err := bolt.Open(filepath.Join(r.data, dbFile), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte("attempts")).Cursor()
		k, _ := c.Last()
		return tx.Bucket([]byte("attempts")).Delete(k)
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if code, out := runCLI(t, "", "audit", "verify", "--data", r.data, "--head", head); code != 1 || !strings.Contains(out, "BROKEN") {
		t.Fatalf("a cut tail verified against the kept head: %d %s", code, out)
	}
	db, err = bolt.Open(filepath.Join(r.data, dbFile), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte("attempts"))
		k, v := bk.Cursor().First()
		return bk.Put(k, bytes.Replace(v, []byte(`"cancelled"`), []byte(`"granted"`), 1))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if code, out := runCLI(t, "", "audit", "verify", "--data", r.data); code != 1 || !strings.Contains(out, "BROKEN") {
		t.Fatalf("an edited record verified: %d %s", code, out)
	}
}

// TestExportTraversalRealDaemon (finding 9): an evidence name forged in the database to climb out
// of the export folder is never used as a path: files are named from record ids.
func TestExportTraversalRealDaemon(t *testing.T) {
	t.Parallel() // functional: no timing or memory claim, its own daemon and data
	r := newRelRig(t)
	session := r.toPinFallback(strangerFrame(t))
	for i := 0; i < 3; i++ {
		r.door.EnterPIN(session, "99999")
	}
	r.stopDaemon()
	db, err := bolt.Open(filepath.Join(r.data, dbFile), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	forged := "../../../escaped-" + strconv.Itoa(os.Getpid()) + ".jpg"
	if err := db.Update(func(tx *bolt.Tx) error {
		bk := tx.Bucket([]byte("attempts"))
		k, v := bk.Cursor().Last()
		var body map[string]any
		// The record is an HMAC followed by its JSON body.
		if err := json.Unmarshal(v[32:], &body); err != nil {
			return err
		}
		old, _ := body["evidence"].(string)
		body["evidence"] = forged
		nb, err := json.Marshal(body)
		if err != nil {
			return err
		}
		frames := tx.Bucket([]byte("frames"))
		if f := frames.Get([]byte(old)); f != nil {
			if err := frames.Put([]byte(forged), slices.Clone(f)); err != nil {
				return err
			}
		}
		return bk.Put(k, append(slices.Clone(v[:32]), nb...))
	}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	root := t.TempDir()
	out := filepath.Join(root, "a", "b", "export")
	code, msg := runCLI(t, "", "audit", "export", "--data", r.data, "--format", "csv", "--out", out)
	t.Logf("export of a forged database: exit %d: %s", code, strings.TrimSpace(msg))
	err = filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && !strings.HasPrefix(p, out+string(filepath.Separator)) {
			t.Errorf("export wrote %s outside its folder", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(r.data), "..", "escaped-"+strconv.Itoa(os.Getpid())+".jpg")); err == nil {
		t.Fatal("the forged name escaped the export folder")
	}
}

// TestTLSByDefaultRealDaemon (finding 10): the daemon serves HTTPS unless told otherwise, with a
// certificate it made at first start (key 0600) whose fingerprint `doorface tls fingerprint`
// prints; TLS 1.2 or newer only; plain HTTP gets no API answer.
func TestTLSByDefaultRealDaemon(t *testing.T) {
	t.Parallel() // functional: no timing or memory claim, its own daemon and data
	data := filepath.Join(t.TempDir(), "data")
	d := testkit.StartDaemon(t, testkit.HTTPS(), testkit.Env("DOORFACE_DOOR_TOKEN="+relDoorToken, "DOORFACE_ADMIN_TOKEN="+relAdminToken,
		"DOORFACE_VISION_WORKERS=1"), testkit.Args("--data", data, "--models", testkit.Models(t), "--hw", "sim"))
	st, err := os.Stat(filepath.Join(data, transport.KeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key: %v %v", st, err)
	}
	code, out := runCLI(t, "", "tls", "fingerprint", "--data", data)
	fp := strings.Fields(out)
	if code != 0 || len(fp) == 0 || len(strings.Split(fp[0], ":")) != 32 {
		t.Fatalf("tls fingerprint: %d %q", code, out)
	}
	pinned := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, // the pin is the check
		VerifyConnection: func(cs tls.ConnectionState) error {
			if got := transport.Fingerprint(tls.Certificate{Certificate: [][]byte{cs.PeerCertificates[0].Raw}}); got != fp[0] {
				return fmt.Errorf("fingerprint %s, pinned %s", got, fp[0])
			}
			return nil
		}}}}
	c := testkit.API{T: t, C: client.New(d.URL(""), relAdminToken, pinned)}
	if st := c.State(); st.State != "Idle" {
		t.Fatalf("state over pinned TLS: %+v", st)
	}
	old := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}}}
	if _, err := old.Get(d.URL("/healthz")); err == nil {
		t.Fatal("a TLS 1.1 client was served")
	}
	resp, err := http.Get("http://" + d.Addr + "/healthz")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP was answered 200")
		}
	}
}

// TestSecretsRealDaemon (finding 11): a config file holding a token must be private; generated
// tokens are neither printed nor logged, but shown by `doorface tokens show`; PINs come from
// standard input, not the command line.
func TestSecretsRealDaemon(t *testing.T) {
	t.Parallel() // functional: no timing or memory claim, its own daemon and data
	cfgFile := filepath.Join(t.TempDir(), "doorface.yaml")
	if err := os.WriteFile(cfgFile, []byte("tokens:\n  door: door-token-in-a-file-0123456789\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := runCLI(t, "", "serve", "--insecure-http", "--config", cfgFile, "--hw", "sim", "--data", t.TempDir())
	if code != 2 || !strings.Contains(out, "chmod 600") {
		t.Fatalf("serve with a 0644 config file holding a token: %d %s", code, out)
	}

	data := filepath.Join(t.TempDir(), "data")
	d := testkit.StartDaemon(t, testkit.Env("DOORFACE_VISION_WORKERS=1"), testkit.Args("--data", data, "--models", testkit.Models(t), "--hw", "sim"))
	code, shown := runCLI(t, "", "tokens", "show", "--data", data)
	var door, admin string
	for _, l := range strings.Split(shown, "\n") {
		if v, ok := strings.CutPrefix(l, "door:"); ok {
			door = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(l, "admin:"); ok {
			admin = strings.TrimSpace(v)
		}
	}
	if code != 0 || len(door) < 16 || len(admin) < 16 {
		t.Fatalf("tokens show: %d %q", code, shown)
	}
	a := testkit.NewAPI(t, d.URL(""), admin)
	uid := a.CreateUser("Amy", "")
	logs := d.WaitLog(t, 5*time.Second, "generated API tokens")
	if strings.Contains(logs, door) || strings.Contains(logs, admin) {
		t.Fatal("a generated token is in the daemon's output")
	}
	if err := stopWith(t, d, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, out := runCLI(t, "", "users", "pin", "--data", data, uid, "86420"); code != 2 {
		t.Fatalf("a PIN on the command line: %d %s", code, out)
	}
	if code, out := runCLI(t, "86420\n", "users", "pin", "--data", data, uid); code != 0 {
		t.Fatalf("a PIN on standard input: %d %s", code, out)
	}
}

// TestEventStreamCapRealDaemon (finding 12): a token holds at most max_streams event streams; the
// other role still gets its own.
func TestEventStreamCapRealDaemon(t *testing.T) {
	t.Parallel() // functional: no timing or memory claim, its own daemon and data
	r := newRelRig(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := 0; i < transport.DefaultMaxStreams; i++ {
		if _, err := r.door.C.Events(ctx); err != nil {
			t.Fatalf("stream %d: %v", i+1, err)
		}
	}
	if _, err := r.door.C.Events(ctx); client.Code(err) != api.CodeTooManyStreams {
		t.Fatalf("one stream too many: %v", err)
	}
	if _, err := r.admin.C.Events(ctx); err != nil {
		t.Fatalf("the admin's stream: %v", err)
	}
}

// TestHostileSoakRealDaemon: a connection flood and scan-bomb frames beside a normal tablet
// session. /v1/state keeps p99 under 100 ms for the admin and the enrolled person is granted.
func TestHostileSoakRealDaemon(t *testing.T) {
	r := newRelRig(t, "DOORFACE_VISION_WORKERS=2")
	sheldon := enrollSheldon(r)
	bomb := testkit.ProgressiveJPEG(1024, 1024, testkit.LibjpegBands, 1000)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var dials, bombs atomic.Int64
	for i := 0; i < 8; i++ { // flooders: keep re-dialing from many addresses
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var held []net.Conn
			defer func() {
				for _, c := range held {
					c.Close()
				}
			}()
			for n := 0; ctx.Err() == nil && n < 400; n++ {
				if c, err := dialFrom(attackerIP(i*40+n%40), r.d.Addr); err == nil {
					held = append(held, c)
					dials.Add(1)
				}
				time.Sleep(5 * time.Millisecond)
			}
			<-ctx.Done()
		}(i)
	}
	// The stolen tablet is another host (127.0.0.9), with the door token.
	attackerDialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.9")}, Timeout: 2 * time.Second}
	attacker := client.New(r.d.URL(""), relDoorToken, &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{DialContext: attackerDialer.DialContext}})
	// A stolen tablet posting scan bombs, each of two loops up to 20 a second: 80 MB/s of bombs,
	// more than a tablet's Wi-Fi carries (unbounded, on loopback the attacker's own loops would
	// take the 2-core test machine's CPU, which says nothing about the daemon).
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for ctx.Err() == nil {
				_, _ = attacker.PostFrame(ctx, "", "image/jpeg", bomb)
				bombs.Add(1)
				select {
				case <-tick.C:
				case <-ctx.Done():
				}
			}
		}()
	}
	var lat []time.Duration
	granted := false
	session := ""
	for ctx.Err() == nil {
		t0 := time.Now()
		r.admin.State()
		lat = append(lat, time.Since(t0))
		if !granted {
			code, a := r.door.PostFrame(sheldon, session)
			if code == http.StatusOK {
				session = a.Session
				granted = a.Decision != nil && a.Decision.Outcome == "granted"
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	wg.Wait()
	t.Logf("soak: %d flood connections, %d bomb frames; /v1/state p99 %v over %d calls; granted %v",
		dials.Load(), bombs.Load(), p99(lat), len(lat), granted)
	if !granted {
		t.Error("the enrolled person was not granted beside the attack")
	}
	if p := p99(lat); p > 100*time.Millisecond {
		t.Errorf("/v1/state p99 %v under attack, want < 100 ms", p)
	}
}

// base64Of is the prototype app's body: base64 text of an image.
func base64Of(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
