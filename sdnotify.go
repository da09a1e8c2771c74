package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// notifier talks to systemd's notification socket ($NOTIFY_SOCKET). Its socket is opened once, at
// start: a ping never needs a new file descriptor, so the watchdog keeps pinging even when every
// other descriptor is taken. A nil *notifier (no systemd) does nothing.
type notifier struct {
	conn *net.UnixConn
}

// newNotifier opens the notification socket; it returns nil, nil when the daemon does not run
// under systemd.
func newNotifier() (*notifier, error) {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil, nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("sd_notify: %w", err)
	}
	return &notifier{conn: conn}, nil
}

// Notify sends one state line, such as "READY=1" or "WATCHDOG=1".
func (n *notifier) Notify(state string) error {
	if n == nil {
		return nil
	}
	if _, err := n.conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
}

// Close closes the socket.
func (n *notifier) Close() {
	if n != nil {
		_ = n.conn.Close()
	}
}

// watchdogInterval is half of systemd's WatchdogSec ($WATCHDOG_USEC), or 0 when there is no watchdog.
func watchdogInterval() time.Duration {
	usec, err := strconv.ParseInt(os.Getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0
	}
	if pid := os.Getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	return time.Duration(usec) * time.Microsecond / 2
}

// runWatchdog pings systemd's watchdog while alive() reports the daemon healthy, until ctx ends.
// It depends on nothing the HTTP server uses: sockets and connections never block it.
func runWatchdog(ctx context.Context, n *notifier, every time.Duration, alive func() bool) {
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if alive() {
				_ = n.Notify("WATCHDOG=1")
			}
		}
	}
}
