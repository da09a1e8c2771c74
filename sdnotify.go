package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// sdNotify sends one state line to systemd's notification socket ($NOTIFY_SOCKET). It does nothing when
// the daemon does not run under systemd.
func sdNotify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:]
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(state)); err != nil {
		return fmt.Errorf("sd_notify: %w", err)
	}
	return nil
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
func runWatchdog(ctx context.Context, every time.Duration, alive func() bool) {
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
				_ = sdNotify("WATCHDOG=1")
			}
		}
	}
}
