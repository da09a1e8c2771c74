package transport

import (
	"container/list"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/doorface/doorface/clock"
)

// limitListener caps open connections overall and per client address, so the process never runs
// out of file descriptors (an exhausted descriptor table stalls every accept) and one host cannot
// take every connection. At the overall cap a new connection takes the place of the oldest
// connection that has never carried an authenticated request, taken from the client address that
// holds the most connections: a flood's idle or trickling connections give way, while the door
// tablet and the admin keep the connections they authenticated on, and a new connection of theirs
// (from an address holding few) is not the one that gives way. Over the per-client cap, or when
// every connection has authenticated, the new connection is closed at once.
type limitListener struct {
	net.Listener
	max, perClient int
	refused        prometheus.Counter

	// mu guards everything that follows.
	mu     sync.Mutex
	conns  *list.List // of *limitedConn, oldest first
	byAddr map[string]int
}

func newLimitListener(ln net.Listener, max, perClient int, refused prometheus.Counter) *limitListener {
	return &limitListener{Listener: ln, max: max, perClient: perClient, refused: refused,
		conns: list.New(), byAddr: map[string]int{}}
}

// Accept returns the next connection within the caps.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host := clientHost(c.RemoteAddr())
		lc := &limitedConn{Conn: c, l: l, host: host}
		var evict *limitedConn
		l.mu.Lock()
		ok := l.byAddr[host] < l.perClient
		if ok && l.conns.Len() >= l.max {
			evict = l.victimLocked()
			ok = evict != nil
		}
		if ok {
			l.byAddr[host]++
			lc.elem = l.conns.PushBack(lc)
		}
		l.mu.Unlock()
		if evict != nil {
			l.refused.Inc()
			_ = evict.Close()
		}
		if !ok {
			l.refused.Inc()
			_ = c.Close()
			continue
		}
		return lc, nil
	}
}

// victimLocked is the connection that gives way to a newcomer at the cap: the oldest one that
// never authenticated, of the address holding the most such connections; nil when every
// connection has authenticated.
func (l *limitListener) victimLocked() *limitedConn {
	untrusted := map[string]int{}
	for e := l.conns.Front(); e != nil; e = e.Next() {
		if c := e.Value.(*limitedConn); !c.trusted.Load() {
			untrusted[c.host]++
		}
	}
	most := 0
	for _, n := range untrusted {
		most = max(most, n)
	}
	for e := l.conns.Front(); e != nil; e = e.Next() {
		if c := e.Value.(*limitedConn); !c.trusted.Load() && untrusted[c.host] == most {
			return c
		}
	}
	return nil
}

func (l *limitListener) release(c *limitedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.elem == nil {
		return
	}
	l.conns.Remove(c.elem)
	c.elem = nil
	if l.byAddr[c.host]--; l.byAddr[c.host] <= 0 {
		delete(l.byAddr, c.host)
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
	l       *limitListener
	host    string
	elem    *list.Element // guarded by l.mu
	trusted atomic.Bool   // it carried an authenticated request
	once    sync.Once
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c) })
	return err
}

// connKey is the context key of the request's connection (http.Server.ConnContext).
type connKey struct{}

// trustConn marks the request's connection as authenticated: the connection cap never takes its
// place for a stranger's.
func trustConn(r *http.Request) {
	c, _ := r.Context().Value(connKey{}).(net.Conn)
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if lc, ok := c.(*limitedConn); ok {
		lc.trusted.Store(true)
	}
}

// rateLimiter is a token bucket per key (a role, or a role and a client address) on an injected
// clock.
type rateLimiter struct {
	clk   clock.Clock
	rate  float64 // tokens per second
	burst float64

	// mu guards everything that follows.
	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	at     time.Time
}

func newRateLimiter(clk clock.Clock, rate float64, burst int) *rateLimiter {
	return &rateLimiter{clk: clk, rate: rate, burst: float64(burst), buckets: map[string]*bucket{}}
}

// maxBuckets bounds the limiter's memory: past it, full buckets are forgotten.
const maxBuckets = 4096

// allow takes a token of key's bucket; when there is none it says how long until there is.
func (l *rateLimiter) allow(key string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clk.Now()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			for k, ob := range l.buckets {
				if ob.tokens+now.Sub(ob.at).Seconds()*l.rate >= l.burst {
					delete(l.buckets, k)
				}
			}
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
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
