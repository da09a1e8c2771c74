package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/doorface/doorface/clock"
	"github.com/doorface/doorface/hw"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// doorfaceBinary builds the real binary once per test run and returns its path.
func doorfaceBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "doorface-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "doorface")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// waitFor polls cond every 10 ms for up to 5 s and fails the test, naming what, if it never holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// runInProcess runs the daemon in the test process on a simulated board (d.board) and returns it
// and stop, which cancels the daemon and returns run's exit code. The test's cleanup stops it (if the
// test did not), closes it and halts the board.
func runInProcess(t *testing.T, cfg Config, log *slog.Logger) (*daemon, func() int) {
	t.Helper()
	b, err := hw.OpenBoard(hw.ModeSim, boardConfig(cfg), clock.Real{}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Halt() })
	d, err := newDaemon(cfg, b, log, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() { done <- d.run(ctx) }()
	var once sync.Once
	code := -1
	stop := func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(10 * time.Second):
				t.Error("daemon did not stop within 10s")
			}
		})
		return code
	}
	t.Cleanup(func() { stop() })
	return d, stop
}

// freePort returns a loopback address with a port that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// daemonProc is a running `doorface serve` child process.
type daemonProc struct {
	cmd  *exec.Cmd
	addr string
	logs *lockedBuffer
	// exited is closed once the process has exited; err is Wait's result, readable after that.
	exited chan struct{}
	err    error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startDaemon runs the binary with args plus --listen on a free port and waits for /healthz.
func startDaemon(t *testing.T, env []string, args ...string) *daemonProc {
	t.Helper()
	addr := freePort(t)
	cmd := exec.Command(doorfaceBinary(t), append([]string{"serve", "--listen", addr}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	d := &daemonProc{cmd: cmd, addr: addr, logs: &lockedBuffer{}, exited: make(chan struct{})}
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	cmd.Stdout = d.logs
	captured := make(chan struct{})
	go func() {
		defer close(captured)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			fmt.Fprintln(d.logs, sc.Text())
		}
		// A line over the scanner's limit: keep the rest raw rather than block the child.
		_, _ = io.Copy(d.logs, pr)
	}()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// exited closes only once the last log line is in d.logs, so a test that waits for the
	// exit reads the whole log.
	go func() { d.err = cmd.Wait(); pw.Close(); <-captured; close(d.exited) }()
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			_ = cmd.Process.Kill()
			<-d.exited
		}
		if t.Failed() {
			t.Logf("daemon logs:\n%s", d.logs.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-d.exited:
			t.Fatalf("daemon exited before it was healthy: %v\n%s", d.err, d.logs.String())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.url("/healthz"), nil)
		resp, err := http.DefaultClient.Do(req)
		cancel()
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("daemon not healthy within 60s\n%s", d.logs.String())
	return nil
}

func (d *daemonProc) url(path string) string { return "http://" + d.addr + path }

// waitLog waits up to timeout for a log line containing every part and returns the whole log.
// The daemon's log reaches the test through a pipe, so a line written before an HTTP response
// can arrive after the response: a test polls for the line rather than reading the log once.
func (d *daemonProc) waitLog(t *testing.T, timeout time.Duration, parts ...string) string {
	t.Helper()
	end := time.Now().Add(timeout)
	for {
		logs := d.logs.String()
		if logIndex(logs, parts...) >= 0 {
			return logs
		}
		if time.Now().After(end) {
			t.Fatalf("no log line with %q within %v:\n%s", parts, timeout, logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// exportedRecord is the part of an exported audit record the tests check.
type exportedRecord struct {
	ID, Outcome, Method string
}

// exportAudit runs `doorface audit export` on a stopped daemon's data dir and returns its records.
func exportAudit(t *testing.T, data string) []exportedRecord {
	t.Helper()
	out := t.TempDir()
	cmd := exec.Command(doorfaceBinary(t), "audit", "export", "--data", data, "--format", "jsonl", "--out", out)
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
