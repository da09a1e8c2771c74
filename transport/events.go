package transport

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/doorface/doorface/clock"
	"github.com/doorface/doorface/machine"

	"github.com/doorface/doorface/transport/api"
)

// Sizes of the event path. The machine's subscription buffer is large so the broker, which only
// copies bytes into per-client channels, never makes the machine drop an event; each client's
// channel is small so a stuck client is noticed and dropped quickly.
const (
	subscribeBuffer = 256
	clientBuffer    = 32
	doorBuffer      = 64
)

// sseClient is one event-stream connection. ch carries ready-made SSE frames; gone is closed
// when the broker drops the client (slow, or shutting down).
type sseClient struct {
	ch   chan []byte
	gone chan struct{}
	// admin: the stream was opened with the admin token; only such streams get alarms.
	admin bool
}

// broker fans the machine's transitions and the board's door events out to event-stream
// clients. It never blocks on a client: a client whose channel is full is dropped.
type broker struct {
	s     *Server
	in    <-chan machine.Transition
	unsub func()
	// alarms carries the machine's alarms (admin streams only); unsubAlarms ends it.
	alarms      <-chan machine.Alarm
	unsubAlarms func()
	doors       chan DoorEvent // PublishDoorEvent -> run
	done        chan struct{}  // closed when run has returned

	// mu guards everything that follows.
	mu      sync.Mutex
	clients map[*sseClient]struct{}
	closed  bool
	seq     uint64
	beat    clock.Timer
}

// newBroker subscribes to the machine and starts the broker goroutine and the heartbeat.
func newBroker(s *Server) *broker {
	in, unsub := s.o.Door.Subscribe(subscribeBuffer)
	alarms, unsubAlarms := s.o.Door.SubscribeAlarms(subscribeBuffer)
	b := &broker{s: s, in: in, unsub: unsub, alarms: alarms, unsubAlarms: unsubAlarms,
		doors: make(chan DoorEvent, doorBuffer), done: make(chan struct{}), clients: map[*sseClient]struct{}{}}
	b.mu.Lock()
	b.beat = s.o.Clock.AfterFunc(s.o.Heartbeat, b.heartbeat)
	b.mu.Unlock()
	go b.run()
	return b
}

// run is the broker goroutine: it ends when the machine closes the subscription (Shutdown) or
// close unsubscribes. Before a door event it publishes every transition already waiting, so a
// door that opens because of an Unlocking is never reported before that Unlocking.
func (b *broker) run() {
	defer close(b.done)
	for {
		select {
		case tr, ok := <-b.in:
			if !ok {
				return
			}
			b.transition(tr)
		case a, ok := <-b.alarms:
			if !ok {
				b.alarms = nil // closed at Shutdown: transitions end the loop
				continue
			}
			b.alarm(a)
		case de := <-b.doors:
			for drained := false; !drained; {
				select {
				case tr, ok := <-b.in:
					if !ok {
						return
					}
					b.transition(tr)
				default:
					drained = true
				}
			}
			b.publish(api.EventDoor, api.DoorEvent{Kind: de.Kind, At: de.At.UTC().Format(time.RFC3339Nano)})
		}
	}
}

// transition publishes one machine transition (and its decision).
func (b *broker) transition(tr machine.Transition) {
	m := b.s.metrics
	m.setState(string(tr.To))
	at := tr.At.UTC().Format(time.RFC3339Nano)
	ev := api.StateEvent{State: string(tr.To), From: string(tr.From), At: at, Reason: tr.Reason}
	if tr.Session != "" {
		id := tr.Session
		ev.Session = &id
	}
	b.publish("state", ev)
	if d := tr.Decision; d != nil {
		m.decisions.WithLabelValues(string(d.Outcome), string(d.Method)).Inc()
		b.publish("decision", api.DecisionEvent{Session: tr.Session, Outcome: string(d.Outcome),
			Method: string(d.Method), User: d.User, Name: d.Name, At: at, Reason: tr.Reason})
	}
}

// alarm counts one machine alarm and publishes it to admin streams only.
func (b *broker) alarm(a machine.Alarm) {
	b.s.metrics.alarms.WithLabelValues(string(a.Kind)).Inc()
	js, err := json.Marshal(api.AlarmEvent{Kind: string(a.Kind), At: a.At.UTC().Format(time.RFC3339Nano),
		Session: a.Session, User: a.User, Name: a.Name, Detail: a.Detail, Count: a.Count, OpenForS: a.OpenFor.Seconds()})
	if err != nil { // cannot happen for this fixed type
		b.s.log.Error("encode event", "event", api.EventAlarm, "err", err)
		return
	}
	b.mu.Lock()
	b.seq++
	seq := b.seq
	b.mu.Unlock()
	b.fanoutTo(fmt.Appendf(nil, "id: %d\nevent: %s\ndata: %s\n\n", seq, api.EventAlarm, js), true)
}

// heartbeat sends a comment to every client and schedules the next one.
func (b *broker) heartbeat() {
	b.fanout([]byte(": ping\n\n"))
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.closed {
		b.beat = b.s.o.Clock.AfterFunc(b.s.o.Heartbeat, b.heartbeat)
	}
}

// publish encodes one event once and fans it out.
func (b *broker) publish(event string, data any) {
	js, err := json.Marshal(data)
	if err != nil { // cannot happen for the fixed types above
		b.s.log.Error("encode event", "event", event, "err", err)
		return
	}
	b.mu.Lock()
	b.seq++
	seq := b.seq
	b.mu.Unlock()
	b.fanout(fmt.Appendf(nil, "id: %d\nevent: %s\ndata: %s\n\n", seq, event, js))
}

// fanout hands msg to every client without blocking; clients that cannot take it are dropped.
func (b *broker) fanout(msg []byte) { b.fanoutTo(msg, false) }

// fanoutTo is fanout, to admin streams only when adminOnly.
func (b *broker) fanoutTo(msg []byte, adminOnly bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for c := range b.clients {
		if adminOnly && !c.admin {
			continue
		}
		select {
		case c.ch <- msg:
		default:
			b.dropLocked(c)
			b.s.metrics.sseDropped.Inc()
			b.s.log.Warn("event stream client too slow; dropped")
		}
	}
}

// dropLocked removes c and tells its handler to end. b.mu must be held.
func (b *broker) dropLocked(c *sseClient) {
	if _, ok := b.clients[c]; !ok {
		return
	}
	delete(b.clients, c)
	close(c.gone)
	b.s.metrics.sseClients.Dec()
}

// add registers a new client (admin: opened with the admin token), or returns nil after close.
func (b *broker) add(admin bool) *sseClient {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil
	}
	c := &sseClient{ch: make(chan []byte, clientBuffer), gone: make(chan struct{}), admin: admin}
	b.clients[c] = struct{}{}
	b.s.metrics.sseClients.Inc()
	return c
}

// remove unregisters c (its handler returned).
func (b *broker) remove(c *sseClient) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dropLocked(c)
}

// close ends every stream, stops the heartbeat, unsubscribes and waits for run to return.
func (b *broker) close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	if b.beat != nil {
		b.beat.Stop()
	}
	for c := range b.clients {
		b.dropLocked(c)
	}
	b.mu.Unlock()
	b.unsub()
	b.unsubAlarms()
	<-b.done
}

// PublishDoorEvent pushes a door hardware event to every event stream as "event: door", after
// the machine transitions already published. It never blocks: when the broker is that far
// behind (or closed) the event is dropped and logged.
func (s *Server) PublishDoorEvent(e DoorEvent) {
	s.metrics.doorEvents.WithLabelValues(e.Kind).Inc()
	select {
	case s.broker.doors <- e:
	default:
		s.log.Warn("door event dropped: event broker behind or closed", "kind", e.Kind)
	}
}

// getEvents is the Server-Sent Events stream. It opens with "event: snapshot" (the current
// state), then carries every state, decision and door event, and on streams opened with the
// admin token the alarms; ": ping" comments every Heartbeat.
func (s *Server) getEvents(w http.ResponseWriter, r *http.Request) error {
	role := roleOf(r)
	if !s.takeStream(role) {
		return &HTTPError{Status: http.StatusTooManyRequests, Code: api.CodeTooManyStreams,
			Msg: "too many event streams open for this token; close one", RetryAfter: 5 * time.Second}
	}
	defer s.dropStream(role)
	c := s.broker.add(role == RoleAdmin)
	if c == nil {
		return errStopping
	}
	defer s.broker.remove(c)
	s.log.Debug("event stream opened", "remote", r.RemoteAddr)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	rc := http.NewResponseController(w)
	snap := s.state()
	js, _ := json.Marshal(snap)
	if err := s.writeEvent(w, rc, fmt.Appendf(nil, "retry: 2000\nevent: snapshot\ndata: %s\n\n", js)); err != nil {
		return nil
	}
	for {
		select {
		case <-r.Context().Done():
			return nil
		case <-c.gone:
			return nil
		case msg := <-c.ch:
			if err := s.writeEvent(w, rc, msg); err != nil {
				s.log.Debug("event stream write failed", "err", err)
				return nil
			}
		}
	}
}

// writeEvent writes one frame under a write deadline and flushes it.
func (s *Server) writeEvent(w http.ResponseWriter, rc *http.ResponseController, msg []byte) error {
	_ = rc.SetWriteDeadline(time.Now().Add(s.o.WriteTimeout))
	if _, err := w.Write(msg); err != nil {
		return err
	}
	return rc.Flush()
}
