package testkit

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Broker is a real mosquitto on a loopback port, started by a test. Stop and Start take it down
// and up again on the same port; the test's cleanup kills it.
type Broker struct {
	t    testing.TB
	bin  string
	conf string
	// Addr is host:port; URL is tcp://Addr.
	Addr string
	URL  string
	Logs *LogBuffer

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Mosquitto returns the mosquitto binary (installed by scripts/deps.sh). When it is missing the
// test is skipped on a developer's machine and fails in CI.
func Mosquitto(t testing.TB) string {
	t.Helper()
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p
	}
	for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	missing(t, "mosquitto is not installed (scripts/deps.sh installs it)")
	return ""
}

// StartBroker starts mosquitto on a free loopback port with anonymous access,
// and waits (at most 10 s) until it accepts connections.
func StartBroker(t testing.TB) *Broker {
	t.Helper()
	bin := Mosquitto(t)
	addr := FreePort(t)
	_, port, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	conf := filepath.Join(dir, "mosquitto.conf")
	// Persistence (saved at a graceful stop only): retained messages and persistent sessions
	// survive StopGracefully; Stop (SIGKILL) loses them, as a crash of the broker would.
	body := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\n"+
		"autosave_interval 0\nlog_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n", port, dir)
	if os.Geteuid() == 0 {
		// Run as root, mosquitto would drop to the "mosquitto" user, which cannot write the
		// test's private temporary directory.
		body += "user root\n"
	}
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	b := &Broker{t: t, bin: bin, conf: conf, Addr: addr, URL: "tcp://" + addr, Logs: &LogBuffer{}}
	t.Cleanup(func() {
		b.Stop()
		if t.Failed() {
			t.Logf("mosquitto logs:\n%s", b.Logs.String())
		}
	})
	b.Start()
	return b
}

// Start (re)starts the broker on its port and waits up to 10 s for it to listen.
func (b *Broker) Start() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd != nil {
		b.t.Fatal("broker already running")
	}
	cmd := exec.Command(b.bin, "-c", b.conf)
	cmd.Stdout, cmd.Stderr = b.Logs, b.Logs
	if err := cmd.Start(); err != nil {
		b.t.Fatalf("start mosquitto: %v", err)
	}
	b.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", b.Addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("mosquitto not listening on %s within 10s: %v\n%s", b.Addr, err, b.Logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop kills the broker (SIGKILL: no goodbye to its clients) and waits for it.
func (b *Broker) Stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Kill()
	_ = b.cmd.Wait()
	b.cmd = nil
}

// StopGracefully stops the broker with SIGTERM (it saves retained messages and persistent
// sessions) and waits at most 10 s, then kills it.
func (b *Broker) StopGracefully() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd == nil {
		return
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = b.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = b.cmd.Process.Kill()
		<-done
	}
	b.cmd = nil
}

// Running reports whether the broker was started and not stopped.
func (b *Broker) Running() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cmd != nil
}

// String names the broker for messages.
func (b *Broker) String() string { return strings.TrimPrefix(b.URL, "tcp://") }
