package transport

import (
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/doorface/doorface/clock"
)

// limitListener caps open connections overall and per client address. A connection over a cap
// is closed as soon as it is accepted, so the process never runs out of file descriptors (an
// exhausted descriptor table stalls every accept, and the watchdog with it) and one host cannot
// take every connection.
type limitListener struct {
	net.Listener
	max, perClient int
	refused        prometheus.Counter

	// mu guards everything that follows.
	mu     sync.Mutex
	open   int
	byAddr map[string]int
}

func newLimitListener(ln net.Listener, max, perClient int, refused prometheus.Counter) net.Listener {
	return &limitListener{Listener: ln, max: max, perClient: perClient, refused: refused, byAddr: map[string]int{}}
}

// Accept returns the next connection within the caps, closing those over them.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host := clientHost(c.RemoteAddr())
		l.mu.Lock()
		over := l.open >= l.max || l.byAddr[host] >= l.perClient
		if !over {
			l.open++
			l.byAddr[host]++
		}
		l.mu.Unlock()
		if over {
			l.refused.Inc()
			_ = c.Close()
			continue
		}
		return &limitedConn{Conn: c, l: l, host: host}, nil
	}
}

func (l *limitListener) release(host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if l.byAddr[host]--; l.byAddr[host] <= 0 {
		delete(l.byAddr, host)
	}
}

// clientHost is the address a connection comes from, without its port.
func clientHost(a net.Addr) string {
	if a == nil {
		return ""
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

// limitedConn gives its place back once, when closed.
type limitedConn struct {
	net.Conn
	l    *limitListener
	host string
	once sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.host) })
	return err
}

// rateLimiter is a token bucket per role on an injected clock.
type rateLimiter struct {
	clk   clock.Clock
	rate  float64 // tokens per second
	burst float64

	// mu guards everything that follows.
	mu      sync.Mutex
	buckets map[Role]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newRateLimiter(clk clock.Clock, rate float64, burst int) *rateLimiter {
	return &rateLimiter{clk: clk, rate: rate, burst: float64(burst), buckets: map[Role]*bucket{}}
}

// allow takes a token of role's bucket; when there is none it says how long until there is.
func (l *rateLimiter) allow(role Role) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clk.Now()
	b := l.buckets[role]
	if b == nil {
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[role] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// roleOf is the role the request authenticated as ("" for none).
func roleOf(r *http.Request) Role {
	if ri, ok := r.Context().Value(reqInfoKey{}).(*reqInfo); ok {
		return ri.role
	}
	return ""
}

// takeStream counts one more event stream of role, if under MaxStreams.
func (s *Server) takeStream(role Role) bool {
	s.streamsMu.Lock()
	defer s.streamsMu.Unlock()
	if s.streams[role] >= s.o.MaxStreams {
		return false
	}
	s.streams[role]++
	return true
}

func (s *Server) dropStream(role Role) {
	s.streamsMu.Lock()
	defer s.streamsMu.Unlock()
	s.streams[role]--
}
