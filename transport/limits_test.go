package transport

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestLimitListener: one client address gets at most perClient connections; at the overall cap a
// new connection takes the place of the oldest unauthenticated connection of the address holding
// the most, and is refused when every connection has authenticated.
func TestLimitListener(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := prometheus.NewCounter(prometheus.CounterOpts{Name: "refused"})
	l := newLimitListener(raw, 4, 2, refused)
	defer l.Close()
	accepted := make(chan *limitedConn, 16)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c.(*limitedConn)
		}
	}()
	dial := func(from string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 5 * time.Second}
		c, err := d.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	next := func() *limitedConn {
		t.Helper()
		select {
		case c := <-accepted:
			return c
		case <-time.After(5 * time.Second):
			t.Fatal("no connection accepted")
			return nil
		}
	}
	closedByServer := func(c net.Conn) bool {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err := c.Read(make([]byte, 1))
		return err == io.EOF
	}

	a1 := dial("127.0.0.2")
	s1 := next()
	a2 := dial("127.0.0.3")
	s2 := next()
	dial("127.0.0.3")
	s3 := next()
	if over := dial("127.0.0.3"); !closedByServer(over) { // over the per-client cap of 2
		t.Fatal("a third connection from one address was kept")
	}
	dial("127.0.0.4")
	s4 := next()
	// At the cap (4): the admin's new connection takes the place of the oldest connection of the
	// address holding the most (127.0.0.3), not of the oldest connection overall (127.0.0.2).
	dial("127.0.0.1")
	s5 := next()
	if !closedByServer(a2) {
		t.Fatal("the oldest connection of the address holding the most did not give way")
	}
	if closedByServer(a1) {
		t.Fatal("the oldest connection overall gave way, though its address holds only one")
	}
	// Everyone authenticated: a newcomer is refused instead.
	for _, c := range []*limitedConn{s1, s2, s3, s4, s5} {
		c.trusted.Store(true)
	}
	if a6 := dial("127.0.0.6"); !closedByServer(a6) {
		t.Fatal("a connection over the cap was kept although every other one had authenticated")
	}
	l.mu.Lock()
	open := l.conns.Len()
	l.mu.Unlock()
	if open != 4 {
		t.Fatalf("%d connections counted, want 4", open)
	}
}
