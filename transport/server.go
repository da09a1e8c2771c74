package transport

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/doorface/doorface/clock"
	"github.com/doorface/doorface/transport/api"
)

// Defaults of Options.
const (
	DefaultMaxBody         = 8<<20 + 64<<10 // an 8 MiB image plus slack
	DefaultMaxJSON         = 64 << 10
	DefaultQueueSize       = 4
	DefaultHeartbeat       = 15 * time.Second
	DefaultWriteTimeout    = 10 * time.Second
	DefaultShutdownTimeout = 5 * time.Second
)

// SessionHeader names the session a frame belongs to; answers to frames carry it too.
const SessionHeader = api.SessionHeader

//go:embed openapi.yaml
var openAPI []byte

// OpenAPI returns the embedded OpenAPI 3 document (served at GET /openapi.yaml).
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }

// Defaults of the limits that keep the door answering under hostile traffic (Config).
const (
	DefaultMaxConns          = 256 // well under the systemd unit's LimitNOFILE=4096
	DefaultMaxConnsPerClient = 16
	DefaultHeaderTimeout     = 5 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultMaxHeaderBytes    = 16 << 10
	DefaultBodyTimeout       = 15 * time.Second
	DefaultReadSlots         = 8
	DefaultMaxStreams        = 4
	DefaultCancelRate        = 1.0  // DELETE /v1/session per second and token, burst 5
	DefaultFrameRate         = 30.0 // frames per second per token and client address (a tablet sends ~10)
)

// Config holds the server's settings a person sets; the yaml tags are the keys under the
// configuration file's "http" section. Zero values take the defaults above.
type Config struct {
	// QueueSize is how many frames (and enrollments) may be analysed at once; more get 429.
	// Default 4.
	QueueSize int `yaml:"queue_size"`
	// Heartbeat is the interval of the ": ping" comments on event streams. Default 15 s.
	Heartbeat time.Duration `yaml:"heartbeat"`
	// MaxJSON limits JSON bodies. Default 64 KiB.
	MaxJSON int64 `yaml:"max_json"`

	// MaxConns caps open connections; more are closed as soon as they are accepted, so file
	// descriptors never run out. Default 256.
	MaxConns int `yaml:"max_conns"`
	// MaxConnsPerClient caps open connections from one client address, so one host cannot take
	// every connection from the tablet and the admin. Default 16.
	MaxConnsPerClient int `yaml:"max_conns_per_client"`
	// HeaderTimeout bounds reading a request's headers. Default 5 s.
	HeaderTimeout time.Duration `yaml:"header_timeout"`
	// IdleTimeout closes a keep-alive connection idle this long. Default 60 s.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxHeaderBytes caps a request's headers. Default 16 KiB.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// BodyTimeout bounds reading one request body (a frame, a photo). Default 15 s.
	BodyTimeout time.Duration `yaml:"body_timeout"`
	// ReadSlots is how many image bodies may be read at once; a body is read before it takes one
	// of the QueueSize analysis slots, so slow uploads never hold the analysis queue. Default 8.
	ReadSlots int `yaml:"read_slots"`
	// MaxStreams caps the event streams each role (door, admin) may hold open. Default 4.
	MaxStreams int `yaml:"max_streams"`
	// CancelRate is how many DELETE /v1/session per second a token may send (burst 5); more get
	// 429. Default 1.
	CancelRate float64 `yaml:"cancel_rate"`
	// FrameRate is how many frames per second one client address may post with a token (burst
	// the same); more get 429 before their body is read. Default 30 (a tablet sends about 10).
	FrameRate float64 `yaml:"frame_rate"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{QueueSize: DefaultQueueSize, Heartbeat: DefaultHeartbeat, MaxJSON: DefaultMaxJSON,
		MaxConns: DefaultMaxConns, MaxConnsPerClient: DefaultMaxConnsPerClient, HeaderTimeout: DefaultHeaderTimeout,
		IdleTimeout: DefaultIdleTimeout, MaxHeaderBytes: DefaultMaxHeaderBytes, BodyTimeout: DefaultBodyTimeout,
		ReadSlots: DefaultReadSlots, MaxStreams: DefaultMaxStreams, CancelRate: DefaultCancelRate,
		FrameRate: DefaultFrameRate}
}

// withDefaults fills zero settings with the defaults.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	setInt := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	setDur := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	setInt(&c.QueueSize, d.QueueSize)
	setDur(&c.Heartbeat, d.Heartbeat)
	if c.MaxJSON <= 0 {
		c.MaxJSON = d.MaxJSON
	}
	setInt(&c.MaxConns, d.MaxConns)
	setInt(&c.MaxConnsPerClient, d.MaxConnsPerClient)
	setDur(&c.HeaderTimeout, d.HeaderTimeout)
	setDur(&c.IdleTimeout, d.IdleTimeout)
	setInt(&c.MaxHeaderBytes, d.MaxHeaderBytes)
	setDur(&c.BodyTimeout, d.BodyTimeout)
	setInt(&c.ReadSlots, d.ReadSlots)
	setInt(&c.MaxStreams, d.MaxStreams)
	if c.CancelRate <= 0 {
		c.CancelRate = d.CancelRate
	}
	if c.FrameRate <= 0 {
		c.FrameRate = d.FrameRate
	}
	return c
}

// Validate reports the first bad setting by its key ("key=value: what is allowed"), wrapping
// ErrConfig.
func (c Config) Validate() error {
	switch {
	case c.QueueSize < 1:
		return fmt.Errorf("%w: queue_size=%d: a whole number >= 1", ErrConfig, c.QueueSize)
	case c.Heartbeat <= 0:
		return fmt.Errorf("%w: heartbeat=%v: a positive duration such as 15s", ErrConfig, c.Heartbeat)
	case c.MaxJSON < 1024:
		return fmt.Errorf("%w: max_json=%d: a whole number >= 1024", ErrConfig, c.MaxJSON)
	case c.MaxConns < 0 || c.MaxConnsPerClient < 0 || c.MaxConnsPerClient > max(c.MaxConns, DefaultMaxConns):
		return fmt.Errorf("%w: max_conns_per_client=%d: a whole number from 1 to max_conns (0 means the default)", ErrConfig, c.MaxConnsPerClient)
	case c.MaxHeaderBytes < 0 || (c.MaxHeaderBytes > 0 && c.MaxHeaderBytes < 4096):
		return fmt.Errorf("%w: max_header_bytes=%d: at least 4096 (0 means the default)", ErrConfig, c.MaxHeaderBytes)
	case c.ReadSlots < 0 || c.MaxStreams < 0:
		return fmt.Errorf("%w: read_slots=%d, max_streams=%d: whole numbers >= 0 (0 means the default)", ErrConfig, c.ReadSlots, c.MaxStreams)
	case c.CancelRate < 0:
		return fmt.Errorf("%w: cancel_rate=%g: a number >= 0 (0 means the default)", ErrConfig, c.CancelRate)
	}
	return nil
}

// Options configure a Server. Door, Frames, Users and Audit are required; Board may be nil (the
// relay is then derived from the machine state and the door contact reported "unknown"). Zero
// values of the rest take the defaults above.
type Options struct {
	Door   Door
	Frames Frames
	Users  Users
	Audit  Audit
	Board  Board
	Tokens Tokens
	// Web serves the browser pages and authenticates their session cookies; nil serves none.
	Web Web
	// Enroller, when set, runs enrollments at the door (POST /v1/enrollment answers 503
	// without it).
	Enroller Enroller

	// Config holds the settings a person sets (the configuration file's "http" section).
	Config

	// MaxBody limits image bodies (binary); base64 bodies may be 4/3 of it. Default 8 MiB + 64 KiB.
	MaxBody int64
	// WriteTimeout bounds each write to an event stream; a client that does not take the bytes
	// in time is disconnected. Default 10 s.
	WriteTimeout time.Duration
	// ShutdownTimeout bounds Serve's graceful shutdown; then connections are closed. Default 5 s.
	ShutdownTimeout time.Duration
	// TLS, when set, serves HTTPS on the listener Serve is given (see ServerTLS); nil serves
	// plain HTTP.
	TLS *tls.Config

	Clock    clock.Clock
	Logger   *slog.Logger
	Registry *prometheus.Registry
}

// Server is the HTTP API. Create it with New; it is safe for concurrent use.
type Server struct {
	o        Options
	log      *slog.Logger
	doorHash [sha256.Size]byte
	admHash  [sha256.Size]byte
	mux      *http.ServeMux
	metrics  *metrics
	promH    http.Handler
	broker   *broker
	sem      chan struct{} // analysis slots (QueueSize)
	readers  chan struct{} // body-reading slots (ReadSlots)
	stopping atomic.Bool

	// cancels limits DELETE /v1/session per role; frameRate frames per role and client address.
	cancels, frameRate *rateLimiter

	// streamsMu guards streams, the open event streams per role.
	streamsMu sync.Mutex
	streams   map[Role]int

	closeOnce sync.Once
}

// New validates the options, registers the metrics, starts the event broker (subscribed to
// Door) and builds the router from Routes(). Call Close (or Serve, which does) to stop it.
func New(o Options) (*Server, error) {
	switch {
	case o.Door == nil:
		return nil, fmt.Errorf("Options.Door is nil: %w", ErrMissingDependency)
	case o.Frames == nil:
		return nil, fmt.Errorf("Options.Frames is nil: %w", ErrMissingDependency)
	case o.Users == nil:
		return nil, fmt.Errorf("Options.Users is nil: %w", ErrMissingDependency)
	case o.Audit == nil:
		return nil, fmt.Errorf("Options.Audit is nil: %w", ErrMissingDependency)
	}
	if err := o.Tokens.validate(); err != nil {
		return nil, err
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	o.Config = o.Config.withDefaults()
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	s := &Server{
		o:         o,
		log:       o.Logger.With("component", "transport"),
		doorHash:  sha256.Sum256([]byte(o.Tokens.Door)),
		admHash:   sha256.Sum256([]byte(o.Tokens.Admin)),
		mux:       http.NewServeMux(),
		sem:       make(chan struct{}, o.QueueSize),
		readers:   make(chan struct{}, o.ReadSlots),
		cancels:   newRateLimiter(o.Clock, o.CancelRate, 5),
		frameRate: newRateLimiter(o.Clock, o.FrameRate, int(max(o.FrameRate, 1))),
		streams:   map[Role]int{},
	}
	m, err := newMetrics(o.Registry, o.QueueSize)
	if err != nil {
		return nil, err
	}
	s.metrics = m
	s.promH = promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelError),
	})
	for _, rt := range routes {
		s.mux.Handle(rt.String(), s.wrap(rt))
	}
	s.mux.HandleFunc("/", s.notFound)
	m.setState(string(o.Door.Snapshot().State))
	s.broker = newBroker(s)
	return s, nil
}

// Handler returns the router.
func (s *Server) Handler() http.Handler { return s.mux }

// StopFrames is shutdown step 1: from now on frames, /save and enrollments are answered 503
// {"error":"shutting_down"}; everything else keeps working.
func (s *Server) StopFrames() { s.stopping.Store(true) }

// Close ends every event stream, stops the broker and its heartbeat and unsubscribes from Door.
// It is safe to call more than once.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.StopFrames()
		s.broker.close()
	})
}

// Serve answers HTTP on ln until ctx ends, then stops frames, ends the event streams and shuts
// down gracefully within ShutdownTimeout (then closes what is left). It closes ln and calls
// Close. It returns nil after a shutdown caused by ctx, else the error that stopped serving.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           s.mux,
		ReadHeaderTimeout: s.o.HeaderTimeout,
		IdleTimeout:       s.o.IdleTimeout,
		MaxHeaderBytes:    s.o.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	// Caps on raw connections first, then TLS on top, so the caps count sockets and a TLS
	// handshake never starts on a connection over them.
	ln = newLimitListener(ln, s.o.MaxConns, s.o.MaxConnsPerClient, s.metrics.connsRefused)
	if s.o.TLS != nil {
		ln = tls.NewListener(ln, s.o.TLS)
	}
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		return context.WithValue(ctx, connKey{}, c)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	s.log.Info("serving", "addr", ln.Addr().String())
	select {
	case err := <-errc:
		s.Close()
		return fmt.Errorf("transport: serve: %w", err)
	case <-ctx.Done():
	}
	s.Close() // frames refused, event streams ended, so Shutdown does not wait on them
	sctx, cancel := context.WithTimeout(context.Background(), s.o.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		s.log.Warn("graceful shutdown timed out; closing connections", "err", err)
		_ = srv.Close()
	}
	<-errc
	s.log.Info("stopped")
	return nil
}

// reqInfo is filled by the adapter and the handlers for the request's log line.
type reqInfo struct {
	session string
	role    Role
}

type reqInfoKey struct{}

// setSession records the session a request is about, for the log line of a rejection.
func setSession(r *http.Request, id string) {
	if ri, ok := r.Context().Value(reqInfoKey{}).(*reqInfo); ok && id != "" {
		ri.session = id
	}
}

// wrap is the one adapter from handlerFunc to http.Handler: authentication, error answers, the
// access log line and request metrics.
func (s *Server) wrap(rt Route) http.Handler {
	label := rt.String()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.o.Clock.Now()
		ri := &reqInfo{}
		r = r.WithContext(context.WithValue(r.Context(), reqInfoKey{}, ri))
		sw := &statusWriter{ResponseWriter: w}
		err := s.authorize(sw, r, rt.Role, ri)
		if err == nil {
			err = rt.h(s, sw, r)
		}
		var he *HTTPError
		if err != nil {
			he = s.fail(sw, err)
		}
		elapsed := s.o.Clock.Now().Sub(start)
		s.accessLog(r, label, sw.code(), elapsed, ri, he)
		s.metrics.requests.WithLabelValues(label, strconv.Itoa(sw.code())).Inc()
		s.metrics.requestSeconds.WithLabelValues(label).Observe(elapsed.Seconds())
		if he != nil && sw.aborted {
			// The answer was streaming already: cut it so the client sees it is incomplete.
			panic(http.ErrAbortHandler)
		}
	})
}

// accessLog writes the one log line of every request: method, route, status, duration, client
// address and, when known, the session. Rejections add the error code and the cause (never sent
// to the client), at warn level (error level for 5xx).
func (s *Server) accessLog(r *http.Request, route string, status int, d time.Duration, ri *reqInfo, he *HTTPError) {
	attrs := []any{"method", r.Method, "route", route, "status", status, "seconds", d.Seconds(), "client", r.RemoteAddr}
	if ri.session != "" {
		attrs = append(attrs, "session", ri.session)
	}
	level, msg := slog.LevelInfo, "request"
	if he != nil {
		attrs = append(attrs, "code", he.Code)
		if he.Err != nil {
			attrs = append(attrs, "err", he.Err)
		}
		level, msg = slog.LevelWarn, "request rejected"
		if he.Status >= 500 {
			level = slog.LevelError
		}
	}
	s.log.Log(r.Context(), level, msg, attrs...)
}

// fail writes err as the JSON answer, unless the answer has started (then it marks the writer
// aborted), and returns the HTTPError it answered with.
func (s *Server) fail(w *statusWriter, err error) *HTTPError {
	var he *HTTPError
	if !errors.As(err, &he) {
		he = &HTTPError{Status: errInternal.Status, Code: errInternal.Code, Msg: errInternal.Msg, Err: err}
	}
	if w.wrote {
		w.aborted = true
		return he
	}
	if he.RetryAfter > 0 {
		secs := (he.RetryAfter + time.Second - 1) / time.Second
		w.Header().Set("Retry-After", strconv.FormatInt(int64(secs), 10))
	}
	writeJSON(w, he.Status, api.Error{Error: he.Code, Message: he.Msg, State: he.State, RetryAfterMS: he.RetryAfter.Milliseconds()})
	return he
}

// authorize checks the bearer token against both tokens in constant time: 401 when it is
// missing or matches neither, 403 when it belongs to the other role. A request without an
// Authorization header may carry a browser session cookie instead (Options.Web, which also
// checks CSRF on changes).
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, need Role, ri *reqInfo) error {
	if need == RolePublic {
		return nil
	}
	header := r.Header.Get("Authorization")
	role := s.roleOf(header)
	if header == "" {
		var err error
		if role, err = s.cookieRole(r); err != nil {
			return err
		}
	}
	ri.role = role
	if role != "" {
		trustConn(r)
	}
	if role == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="doorface"`)
		return httpErr(http.StatusUnauthorized, api.CodeUnauthorized, "missing or invalid bearer token", nil)
	}
	if need != RoleAny && need != role {
		return httpErr(http.StatusForbidden, api.CodeForbidden, "this token's role may not call this endpoint", nil)
	}
	return nil
}

// roleOf returns the role of an Authorization header value, or "" for none. Both tokens are
// always compared, on hashes of equal length, so timing says nothing about either.
func (s *Server) roleOf(header string) Role {
	const prefix = "bearer "
	if len(header) < len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return ""
	}
	h := sha256.Sum256([]byte(strings.TrimSpace(header[len(prefix):])))
	door := tokenMatches(h, s.doorHash)
	adm := tokenMatches(h, s.admHash)
	switch {
	case door:
		return RoleDoor
	case adm:
		return RoleAdmin
	}
	return ""
}

// notFound answers paths no route matches (404) and known paths with a wrong method (405), as
// JSON like every other error.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "/" && pattern != "" {
			allow = append(allow, m)
		}
	}
	if len(allow) > 0 {
		s.log.Warn("request rejected", "method", r.Method, "route", "", "path", r.URL.Path, "status", http.StatusMethodNotAllowed, "code", api.CodeMethodNotAllowed, "client", r.RemoteAddr)
		w.Header().Set("Allow", strings.Join(allow, ", "))
		writeJSON(w, http.StatusMethodNotAllowed, api.Error{Error: api.CodeMethodNotAllowed, Message: "method not allowed"})
		return
	}
	s.log.Warn("request rejected", "method", r.Method, "route", "", "path", r.URL.Path, "status", http.StatusNotFound, "code", api.CodeNotFound, "client", r.RemoteAddr)
	writeJSON(w, http.StatusNotFound, api.Error{Error: api.CodeNotFound, Message: "no such endpoint"})
}

// writeJSON writes v as the JSON answer with the status code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v) // a failed write means the client left; nothing to tell it
}

// statusWriter records the status code and whether the answer has started. Unwrap lets
// http.ResponseController reach the connection (flush, deadlines).
type statusWriter struct {
	http.ResponseWriter
	status  int
	wrote   bool
	aborted bool // the handler failed after the answer started
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status = code
		w.wrote = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status = http.StatusOK
		w.wrote = true
	}
	return w.ResponseWriter.Write(b)
}

// Flush implements http.Flusher.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		if !w.wrote {
			w.status, w.wrote = http.StatusOK, true
		}
		f.Flush()
	}
}

// Unwrap returns the underlying writer for http.ResponseController.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}

// getHealthz answers liveness without a token and without saying anything about the door.
func (s *Server) getHealthz(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// getOpenAPI serves the embedded OpenAPI document.
func (s *Server) getOpenAPI(w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "application/yaml")
	_, _ = w.Write(openAPI)
	return nil
}

// getMetrics serves the Prometheus text exposition of Options.Registry.
func (s *Server) getMetrics(w http.ResponseWriter, r *http.Request) error {
	s.promH.ServeHTTP(w, r)
	return nil
}
