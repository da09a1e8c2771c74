package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Tokens of the reliability tests' daemons.
const (
	relDoorToken  = "door-token-rel-0123456789abcdef"
	relAdminToken = "admin-token-rel-0123456789abcdef"
)

// relRig is one real daemon for the reliability tests, with its data directory and clients.
type relRig struct {
	t      *testing.T
	d      *daemonProc
	door   apiClient
	admin  apiClient
	root   string // parent of data: nothing but data may appear in it
	data   string
	models string
	env    []string
	args   []string
}

// modelsOrSkip returns the installed models directory, skipping like the e2e test when it is absent.
func modelsOrSkip(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the real daemon with the real models")
	}
	models, _ := filepath.Abs("models")
	if _, err := os.Stat(filepath.Join(models, "dlib_face_recognition_resnet_model_v1.dat")); err != nil {
		t.Skipf("models not installed (run make models): %v", err)
	}
	return models
}

// newRelRig starts a daemon on the simulated board with short timings; env adds to them.
func newRelRig(t *testing.T, env ...string) *relRig {
	t.Helper()
	models := modelsOrSkip(t)
	root := t.TempDir()
	data := filepath.Join(root, "data")
	r := &relRig{t: t, root: root, data: data, models: models}
	r.env = append([]string{
		"DOORFACE_DOOR_TOKEN=" + relDoorToken, "DOORFACE_ADMIN_TOKEN=" + relAdminToken,
		"DOORFACE_MACHINE_UNLOCK_DURATION=1500ms", "DOORFACE_MACHINE_COOLDOWN=500ms",
		"DOORFACE_MACHINE_MAX_FRAMES=4",
	}, env...)
	r.args = []string{"--data", data, "--models", models, "--hw", "sim"}
	r.start()
	return r
}

// start (re)starts the daemon on the rig's data directory.
func (r *relRig) start() {
	r.t.Helper()
	r.d = startDaemon(r.t, r.env, r.args...)
	r.door = apiClient{r.t, r.d.url(""), relDoorToken}
	r.admin = apiClient{r.t, r.d.url(""), relAdminToken}
}

// world is what an unauthorized or invalid request must not change.
type world struct {
	State, Relay, Session string
	Users                 string
	Audit                 int
	Files                 string
}

func (r *relRig) world() world {
	r.t.Helper()
	s := r.admin.state()
	w := world{State: s.State, Relay: s.Relay}
	if s.Session != nil {
		w.Session = *s.Session
	}
	code, users := r.admin.do(http.MethodGet, "/v1/users", "", nil)
	if code != http.StatusOK {
		r.t.Fatalf("list users: %d %s", code, users)
	}
	w.Users = string(users)
	w.Audit = r.auditCount()
	w.Files = treeOf(r.t, r.root)
	return w
}

// auditCount is the number of records GET /v1/audit streams.
func (r *relRig) auditCount() int {
	r.t.Helper()
	code, body := r.admin.do(http.MethodGet, "/v1/audit", "", nil)
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
	r.admin.json(http.MethodPost, "/v1/users", map[string]string{"name": name, "pin": pin}, http.StatusCreated, &u)
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
