package main

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

func TestSdNotify(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	nt, err := newNotifier()
	if err != nil {
		t.Fatal(err)
	}
	defer nt.Close()
	// The socket is opened once: every notification goes through it.
	for _, state := range []string{"READY=1", "WATCHDOG=1", "WATCHDOG=1"} {
		if err := nt.Notify(state); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := conn.Read(buf)
		if err != nil || string(buf[:n]) != state {
			t.Fatalf("got %q, %v, want %q", buf[:n], err, state)
		}
	}
	var none *notifier // no systemd: notifications do nothing
	if err := none.Notify("READY=1"); err != nil {
		t.Fatal(err)
	}
}

func TestWatchdogInterval(t *testing.T) {
	tests := []struct {
		name, usec, pid string
		want            time.Duration
	}{
		{"no watchdog", "", "", 0},
		{"half of WatchdogSec", "10000000", "", 5 * time.Second},
		{"meant for another process", "10000000", "1", 0},
		{"garbage", "ten", "", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("WATCHDOG_USEC", tc.usec)
			t.Setenv("WATCHDOG_PID", tc.pid)
			if got := watchdogInterval(); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}
