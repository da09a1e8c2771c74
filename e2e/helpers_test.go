package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/doorface/doorface/internal/testkit"
)

// Tokens of the reliability tests' daemons.
const (
	relDoorToken  = "door-token-rel-0123456789abcdef"
	relAdminToken = "admin-token-rel-0123456789abcdef"
)

// relRig is one real daemon for the reliability tests, with its data directory and clients.
type relRig struct {
	t      *testing.T
	d      *testkit.Daemon
	door   testkit.API
	admin  testkit.API
	root   string // parent of data: nothing but data may appear in it
	data   string
	models string
	env    []string
	args   []string
}

// newRelRig starts a daemon on the simulated board with short timings; env adds to them.
func newRelRig(t *testing.T, env ...string) *relRig {
	t.Helper()
	models := testkit.Models(t)
	root := t.TempDir()
	data := filepath.Join(root, "data")
	r := &relRig{t: t, root: root, data: data, models: models}
	r.env = append([]string{
		"DOORFACE_DOOR_TOKEN=" + relDoorToken, "DOORFACE_ADMIN_TOKEN=" + relAdminToken,
		"DOORFACE_MACHINE_UNLOCK_DURATION=1500ms", "DOORFACE_MACHINE_COOLDOWN=500ms",
		"DOORFACE_MACHINE_MAX_FRAMES=4", "DOORFACE_VISION_WORKERS=1",
		// Recognition is under test, with the enroll-test photos: photos of photos, which liveness
		// (rightly) refuses. liveness_test.go runs the daemon with liveness enforced.
		"DOORFACE_MACHINE_LIVENESS=off",
	}, env...)
	r.args = []string{"--data", data, "--models", models, "--hw", "sim"}
	r.start()
	return r
}

// start (re)starts the daemon on the rig's data directory.
func (r *relRig) start() {
	r.t.Helper()
	r.d = testkit.StartDaemon(r.t, testkit.Env(r.env...), testkit.Args(r.args...))
	r.door = testkit.NewAPI(r.t, r.d.URL(""), relDoorToken)
	r.admin = testkit.NewAPI(r.t, r.d.URL(""), relAdminToken)
}

// world is what an unauthorized or invalid request must not change.
type world struct {
	State, Relay, Session string
	Users                 string
	Schedules             string
	Audit                 int
	Files                 string
}

func (r *relRig) world() world {
	r.t.Helper()
	s := r.admin.State()
	w := world{State: s.State, Relay: s.Relay}
	if s.Session != nil {
		w.Session = *s.Session
	}
	code, users := r.admin.Do(http.MethodGet, "/v1/users", "", nil)
	if code != http.StatusOK {
		r.t.Fatalf("list users: %d %s", code, users)
	}
	w.Users = string(users)
	code, schedules := r.admin.Do(http.MethodGet, "/v1/schedules", "", nil)
	if code != http.StatusOK {
		r.t.Fatalf("list schedules: %d %s", code, schedules)
	}
	w.Schedules = string(schedules)
	w.Audit = r.auditCount()
	w.Files = treeOf(r.t, r.root)
	return w
}

// auditCount is the number of records GET /v1/audit streams.
func (r *relRig) auditCount() int {
	r.t.Helper()
	code, body := r.admin.Do(http.MethodGet, "/v1/audit", "", nil)
	if code != http.StatusOK {
		r.t.Fatalf("audit: %d %s", code, body)
	}
	return bytes.Count(body, []byte("\n"))
}

// treeOf lists every file under dir except the database's own (which grows by itself), so a new
// file anywhere below shows.
func treeOf(t *testing.T, dir string) string {
	t.Helper()
	var names []string
	_ = filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, rel)
		}
		return nil
	})
	return strings.Join(names, "\n")
}

// createUser creates a user through the admin API and returns its id.
func (r *relRig) createUser(name, pin string) string {
	r.t.Helper()
	var u struct{ ID string }
	r.admin.JSON(http.MethodPost, "/v1/users", map[string]string{"name": name, "pin": pin}, http.StatusCreated, &u)
	return u.ID
}

// rawRequest sends one HTTP/1.1 request as raw bytes (so paths and headers go out exactly as
// written, unescaped and uncleaned) and returns the status code of the answer.
func rawRequest(t *testing.T, addr, method, target string, header map[string]string, body []byte) int {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\nContent-Length: %d\r\n", method, target, addr, len(body))
	for k, v := range header {
		fmt.Fprintf(&b, "%s: %s\r\n", k, v)
	}
	b.WriteString("\r\n")
	b.Write(body)
	if _, err := c.Write(b.Bytes()); err != nil {
		t.Fatalf("%s %q: write: %v", method, target, err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("%s %q: read status: %v", method, target, err)
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		t.Fatalf("%s %q: status line %q", method, target, line)
	}
	code, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatalf("%s %q: status line %q", method, target, line)
	}
	return code
}

// mustJSON marshals v.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// exportedRecord is the part of an exported audit record the tests check.
type exportedRecord struct {
	ID, Outcome, Method string
}

// exportAudit runs `doorface audit export` on a stopped daemon's data dir and returns its records.
func exportAudit(t *testing.T, data string) []exportedRecord {
	t.Helper()
	out := t.TempDir()
	cmd := exec.Command(testkit.Binary(t), "audit", "export", "--data", data, "--format", "jsonl", "--out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("audit export: %v\n%s", err, b)
	}
	raw, err := os.ReadFile(filepath.Join(out, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var recs []exportedRecord
	for _, line := range bytes.Split(bytes.TrimSpace(raw), []byte("\n")) {
		var r exportedRecord
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("export line %q: %v", line, err)
		}
		recs = append(recs, r)
	}
	return recs
}

// dbFile is the database's name inside the daemon's data directory.
const dbFile = "doorface.db"
