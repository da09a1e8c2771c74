package testkit

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds the daemon (the repository's main package) once per test run and returns its
// path. It is built without -race: the tests that run it judge the daemon, not their own side.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "doorface-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "doorface")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		cmd.Dir = Root()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// FreePort returns a loopback address with a port that was free a moment ago.
func FreePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Daemon is a running `doorface serve` child process on loopback.
type Daemon struct {
	Cmd  *exec.Cmd
	Addr string
	Logs *LogBuffer
	// exited is closed once the process has exited and every log line is in Logs; err is Wait's
	// result, readable after that.
	exited chan struct{}
	err    error
	scheme string
}

// Option changes how StartDaemon runs the daemon.
type Option func(*daemonOpts)

type daemonOpts struct {
	env   []string
	args  []string
	https bool
	addr  string
}

// HTTPS runs the daemon as installed: HTTPS with its self-signed certificate. Without it the
// daemon serves plain HTTP on loopback (--insecure-http), which most tests want.
func HTTPS() Option { return func(o *daemonOpts) { o.https = true } }

// Env adds environment variables (KEY=VALUE) to the daemon's environment.
func Env(kv ...string) Option { return func(o *daemonOpts) { o.env = append(o.env, kv...) } }

// Addr makes the daemon listen on addr (a loopback host:port) instead of a free port: a restarted
// daemon keeps its predecessor's address, so a browser page open on it can reconnect.
func Addr(addr string) Option { return func(o *daemonOpts) { o.addr = addr } }

// Args adds arguments after `serve --listen ADDR`.
func Args(a ...string) Option { return func(o *daemonOpts) { o.args = append(o.args, a...) } }

// StartDaemon runs `doorface serve --listen <free loopback port>` with the options and waits up to
// 60 s for /healthz. The test's cleanup kills it if it still runs and prints its log on failure.
func StartDaemon(t testing.TB, opts ...Option) *Daemon {
	t.Helper()
	var o daemonOpts
	for _, f := range opts {
		f(&o)
	}
	addr := o.addr
	if addr == "" {
		addr = FreePort(t)
	}
	args := []string{"serve", "--listen", addr}
	if !o.https {
		args = append(args, "--insecure-http")
	}
	cmd := exec.Command(Binary(t), append(args, o.args...)...)
	cmd.Env = append(os.Environ(), o.env...)
	d := &Daemon{Cmd: cmd, Addr: addr, Logs: &LogBuffer{}, exited: make(chan struct{}), scheme: "http"}
	if o.https {
		d.scheme = "https"
	}
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	cmd.Stdout = d.Logs
	captured := make(chan struct{})
	go func() {
		defer close(captured)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			fmt.Fprintln(d.Logs, sc.Text())
		}
		// A line over the scanner's limit: keep the rest raw rather than block the child.
		_, _ = io.Copy(d.Logs, pr)
	}()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.err = cmd.Wait(); pw.Close(); <-captured; close(d.exited) }()
	t.Cleanup(func() {
		select {
		case <-d.exited:
		default:
			_ = cmd.Process.Kill()
			<-d.exited
		}
		if t.Failed() {
			t.Logf("daemon logs:\n%s", d.Logs.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-d.exited:
			t.Fatalf("daemon exited before it was healthy: %v\n%s", d.err, d.Logs.String())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, d.URL("/healthz"), nil)
		resp, err := healthClient.Do(req)
		cancel()
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return d
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("daemon not healthy within 60s\n%s", d.Logs.String())
	return nil
}

// URL is the daemon's base URL plus path.
func (d *Daemon) URL(path string) string { return d.scheme + "://" + d.Addr + path }

// healthClient waits for /healthz; it does not check the certificate (the tests that use HTTPS
// check it themselves, by its fingerprint).
var healthClient = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}

// Exited is closed once the process has exited and its whole log is in Logs.
func (d *Daemon) Exited() <-chan struct{} { return d.exited }

// Err is the process's exit error; read it after Exited is closed.
func (d *Daemon) Err() error { return d.err }

// Signal sends sig to the daemon.
func (d *Daemon) Signal(sig syscall.Signal) error { return d.Cmd.Process.Signal(sig) }

// WaitExit waits up to timeout for the process to exit and returns its exit code (-1 when it was
// killed by a signal).
func (d *Daemon) WaitExit(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-d.exited:
	case <-time.After(timeout):
		t.Fatalf("daemon did not exit within %v", timeout)
	}
	return d.Cmd.ProcessState.ExitCode()
}

// LogIndex is the index of the first log line that holds every part, or -1: comparing two
// indexes tells which line came first.
func LogIndex(logs string, parts ...string) int {
	for i, l := range strings.Split(logs, "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			return i
		}
	}
	return -1
}

// WaitLog waits up to timeout for a log line containing every part and returns the whole log.
// The daemon's log reaches the test through a pipe, so a line written before an HTTP response can
// arrive after the response: a test polls for the line rather than reading the log once.
func (d *Daemon) WaitLog(t testing.TB, timeout time.Duration, parts ...string) string {
	t.Helper()
	end := time.Now().Add(timeout)
	for {
		logs := d.Logs.String()
		if LogIndex(logs, parts...) >= 0 {
			return logs
		}
		if time.Now().After(end) {
			t.Fatalf("no log line with %q within %v:\n%s", parts, timeout, logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
