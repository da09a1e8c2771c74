package mqtt

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/doorface/doorface/machine"
)

// Door is what the bridge needs of the state machine (*machine.Machine).
type Door interface {
	Snapshot() machine.Snapshot
	Subscribe(buffer int) (<-chan machine.Transition, func())
	RemoteUnlock(by string) error
	SetLockdown(on bool, by string) (bool, error)
}

// Board is the door's hardware as the state topic shows it; nil reports the relay from the
// machine state and the door contact as unknown.
type Board interface {
	Relay() string      // locked or unlocked
	RelayFault() string // "" when the relay's last write succeeded
	Door() string       // open, closed or unknown
}

// Refusal is a refused remote command, for the audit.
type Refusal struct {
	At     time.Time
	Cmd    string // as asked, "" when the command could not be read
	By     string // as claimed; only trustworthy when the signature was valid
	Reason string // why it was refused
}

// Auditor records refused remote commands in the door's audit.
type Auditor interface {
	RecordRefusal(Refusal) error
}

// Options configure a Bridge. Door and DataDir are required; the rest may be zero.
type Options struct {
	Config  Config
	DataDir string // holds the command secret and the state file
	Door    Door
	Board   Board
	Audit   Auditor               // nil: refusals are only logged and counted
	Metrics prometheus.Registerer // nil: metrics are kept but not exported
	Logger  *slog.Logger          // nil: slog.Default()
	Now     func() time.Time      // nil: time.Now
	Version string                // shown in the Home Assistant device block
}

// queued is one event waiting for the broker, published on each of topics.
type queued struct {
	seq     uint64
	topics  []string
	payload []byte
}

// Bridge connects one door to an MQTT broker. Publishing never blocks the door: events go into a
// bounded queue that one goroutine sends, waiting for each acknowledgement, and that it keeps
// while the broker is unreachable.
type Bridge struct {
	cfg       Config
	dir       string
	door      Door
	board     Board
	audit     Auditor
	log       *slog.Logger
	now       func() time.Time
	version   string
	topics    Topics
	client    paho.Client
	verifier  *Verifier
	metrics   *metrics
	wake      chan struct{}
	done      chan struct{} // closed when the sender stops
	stopTrans chan struct{} // closed by Close: the transition reader drains and stops
	transDone chan struct{}
	// resultSlots bounds the command results being published at once.
	resultSlots chan struct{}
	cancel      context.CancelFunc
	closeMu     sync.Once

	// mu guards everything that follows.
	mu          sync.Mutex
	queue       []queued
	seq         uint64 // the last number given
	reserved    uint64 // numbers up to reserved are recorded as possibly used
	dropped     uint64
	connected   bool
	announced   bool   // availability, discovery and retained state sent on this connection
	lastState   []byte // the state payload last acknowledged
	lastDiag    []byte
	lockdown    bool
	lockdownBy  string
	lastGranted string
	grantedAt   *time.Time
	lastAudit   time.Time // rate limit of refusal audit records
}

// New builds the bridge: it loads (or creates, mode 0600) the command secret and the state file,
// and prepares the client. It does not connect; Start does. created reports a new secret.
func New(o Options) (b *Bridge, created bool, err error) {
	if err := o.Config.Validate(); err != nil {
		return nil, false, err
	}
	if o.Door == nil || o.DataDir == "" {
		return nil, false, errors.New("mqtt: Options.Door and Options.DataDir are required")
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	secret, created, err := LoadOrCreateSecret(o.DataDir)
	if err != nil {
		return nil, false, err
	}
	p, err := loadPersisted(o.DataDir)
	if err != nil {
		return nil, false, err
	}
	b = &Bridge{
		cfg: o.Config, dir: o.DataDir, door: o.Door, board: o.Board, audit: o.Audit,
		log: log.With("component", "mqtt"), now: now, version: o.Version, topics: TopicsFor(o.Config),
		verifier: NewVerifier(secret, o.Config.DoorID, o.Config.CommandSkew, now),
		metrics:  newMetrics(o.Metrics),
		wake:     make(chan struct{}, 1), done: make(chan struct{}),
		stopTrans: make(chan struct{}), transDone: make(chan struct{}), resultSlots: make(chan struct{}, 8),
		seq: p.Seq, reserved: p.Seq, lockdown: p.Lockdown, lockdownBy: p.LockdownBy,
	}
	opts, err := b.clientOptions()
	if err != nil {
		return nil, false, err
	}
	b.client = paho.NewClient(opts)
	return b, created, nil
}

// clientOptions are paho's options: will, credentials, TLS, reconnection.
func (b *Bridge) clientOptions() (*paho.ClientOptions, error) {
	c := b.cfg
	opts := paho.NewClientOptions().
		AddBroker(c.Broker).
		SetClientID(c.clientID()).
		SetCleanSession(true).
		SetOrderMatters(false).
		SetKeepAlive(15*time.Second).
		SetConnectTimeout(5*time.Second).
		SetWriteTimeout(c.PublishTimeout).
		SetAutoReconnect(true).
		SetConnectRetry(true).
		SetConnectRetryInterval(time.Second).
		SetMaxReconnectInterval(5*time.Second).
		SetWill(b.topics.Availability, Offline, 1, true).
		SetOnConnectHandler(b.onConnect).
		SetConnectionLostHandler(b.onLost)
	if c.Username != "" {
		opts.SetUsername(c.Username)
	}
	pw := c.Password
	if c.PasswordFile != "" {
		raw, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt: password_file: %w", err)
		}
		pw = strings.TrimRight(string(raw), "\r\n")
	}
	if pw != "" {
		opts.SetPassword(pw)
	}
	if c.CAFile != "" || c.CertFile != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if c.CAFile != "" {
			pem, err := os.ReadFile(c.CAFile)
			if err != nil {
				return nil, fmt.Errorf("mqtt: ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("mqtt: ca_file %s holds no PEM certificate", c.CAFile)
			}
			tc.RootCAs = pool
		}
		if c.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("mqtt: client certificate: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		opts.SetTLSConfig(tc)
	}
	return opts, nil
}

// Start restores a persisted lockdown, subscribes to the machine and starts connecting (in the
// background, retrying forever). It returns at once. Close stops everything.
func (b *Bridge) Start(ctx context.Context) {
	ctx, b.cancel = context.WithCancel(ctx)
	b.mu.Lock()
	lockdown, by := b.lockdown, b.lockdownBy
	b.mu.Unlock()
	if lockdown {
		if _, err := b.door.SetLockdown(true, by+" (restored at start)"); err != nil {
			b.log.Error("restore lockdown", "err", err)
		}
	}
	trans, unsubscribe := b.door.Subscribe(64)
	b.client.Connect() // with ConnectRetry it keeps trying in the background
	b.log.Info("mqtt client started", "broker", b.cfg.Broker, "client_id", b.cfg.clientID(), "prefix", b.cfg.Prefix, "door", b.cfg.DoorID)
	go func() {
		defer close(b.transDone)
		defer unsubscribe()
		for {
			select {
			case <-b.stopTrans:
				// Close: number what the machine already published, then stop.
				for {
					select {
					case t, ok := <-trans:
						if !ok {
							return
						}
						b.transition(t)
					default:
						return
					}
				}
			case t, ok := <-trans:
				if !ok {
					return
				}
				b.transition(t)
			}
		}
	}()
	go b.run(ctx)
}

// Close publishes "offline" (bounded wait), saves the exact sequence number and disconnects. It is
// safe to call more than once.
func (b *Bridge) Close() {
	b.closeMu.Do(func() {
		if b.cancel != nil {
			close(b.stopTrans)
			<-b.transDone
			b.cancel()
			<-b.done
			// One last bounded attempt to send what is queued (the queue lives in memory).
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			b.flush(ctx)
			cancel()
		}
		b.mu.Lock()
		connected := b.connected
		b.mu.Unlock()
		if connected {
			b.publish(b.topics.Availability, true, []byte(Offline))
		}
		b.client.Disconnect(250)
		if err := b.save(); err != nil {
			b.log.Error("save state", "err", err)
		}
		st := b.Stats()
		b.log.Info("mqtt client stopped", "queued_lost", st.Queued, "seq", st.Seq, "dropped", st.Dropped)
	})
}

// Stats are the bridge's counters.
type Stats struct {
	Connected bool
	Queued    int
	Dropped   uint64
	Seq       uint64
}

// Stats returns the current counters.
func (b *Bridge) Stats() Stats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return Stats{Connected: b.connected, Queued: len(b.queue), Dropped: b.dropped, Seq: b.seq}
}

// DoorEvent publishes a door contact or exit button event (hw event kinds); forced_open and
// held_open are alarms. It never blocks on the broker.
func (b *Bridge) DoorEvent(kind string, at time.Time) {
	switch kind {
	case AlarmForcedOpen, AlarmHeldOpen:
		b.Alarm(Alarm{Kind: kind, At: at})
		return
	}
	b.enqueue(Event{Type: TypeDoor, EventType: kind, Kind: kind, At: at}, b.topics.Events)
}

// Alarm publishes an alarm on the events topic and the alarm topic, with one sequence number.
// The access policy raises duress and failures alarms here. It never blocks on the broker.
func (b *Bridge) Alarm(a Alarm) {
	if a.At.IsZero() {
		a.At = b.now()
	}
	e := Event{Type: TypeAlarm, EventType: a.Kind, Kind: a.Kind, At: a.At, Session: a.Session, User: a.User, Detail: a.Detail}
	if b.cfg.PublishNames {
		e.Name = a.Name
	}
	b.log.Warn("alarm", "kind", a.Kind, "session", a.Session)
	b.enqueue(e, b.topics.Events, b.topics.Alarm)
}

// transition turns a machine transition into a state update and, when it decides a session, a
// decision event.
func (b *Bridge) transition(t machine.Transition) {
	if d := t.Decision; d != nil {
		e := Event{Type: TypeDecision, EventType: string(d.Outcome), At: t.At, Session: t.Session,
			Outcome: string(d.Outcome), Method: string(d.Method), User: d.User, Reason: t.Reason}
		if b.cfg.PublishNames {
			e.Name = d.Name
		}
		if d.Outcome == machine.Granted {
			who := d.User
			if b.cfg.PublishNames && d.Name != "" {
				who = d.Name
			}
			if who == "" {
				who = string(d.Method)
			}
			at := t.At
			b.mu.Lock()
			b.lastGranted, b.grantedAt = who, &at
			b.mu.Unlock()
		}
		b.enqueue(e, b.topics.Events)
		return
	}
	b.kick()
}

// enqueue gives e the next sequence number and queues it; a full queue drops its oldest event.
func (b *Bridge) enqueue(e Event, topics ...string) {
	b.mu.Lock()
	b.seq++
	e.Seq, e.Door = b.seq, b.cfg.DoorID
	if b.seq > b.reserved {
		// One small synced write per seqBlock events, so a crash never reuses a number.
		b.reserved = b.seq + seqBlock
		if err := savePersisted(b.dir, b.persistedLocked(b.reserved)); err != nil {
			b.log.Error("reserve sequence numbers", "err", err)
		}
	}
	if len(b.queue) >= b.cfg.Queue {
		lost := b.queue[0]
		b.queue = b.queue[1:]
		b.dropped++
		b.metrics.dropped.Inc()
		b.log.Warn("event queue full; oldest event dropped", "seq", lost.seq, "dropped_total", b.dropped, "queue", b.cfg.Queue)
	}
	b.queue = append(b.queue, queued{seq: e.Seq, topics: topics, payload: mustJSON(e)})
	b.metrics.queued.Set(float64(len(b.queue)))
	b.mu.Unlock()
	b.kick()
}

func (b *Bridge) persistedLocked(seq uint64) persisted {
	return persisted{Seq: seq, Lockdown: b.lockdown, LockdownBy: b.lockdownBy}
}

// save writes the exact sequence number and the lockdown.
func (b *Bridge) save() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.reserved = b.seq
	return savePersisted(b.dir, b.persistedLocked(b.seq))
}

// kick wakes the sender.
func (b *Bridge) kick() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

func (b *Bridge) onConnect(c paho.Client) {
	b.mu.Lock()
	b.connected, b.announced = true, false
	b.lastState, b.lastDiag = nil, nil
	b.mu.Unlock()
	b.metrics.connected.Set(1)
	b.log.Info("connected to the broker", "broker", b.cfg.Broker)
	tok := c.Subscribe(b.topics.Command, 1, b.onCommand)
	if !tok.WaitTimeout(b.cfg.PublishTimeout) || tok.Error() != nil {
		b.log.Error("subscribe to the command topic", "topic", b.topics.Command, "err", tok.Error())
	}
	b.kick()
}

func (b *Bridge) onLost(_ paho.Client, err error) {
	b.mu.Lock()
	b.connected = false
	b.mu.Unlock()
	b.metrics.connected.Set(0)
	b.log.Warn("lost the broker; queueing events", "err", err)
}

// run is the sender: on every wake-up (and every few seconds, for relay faults and the door
// contact) it announces a new connection, publishes a changed state or diagnostic, and sends the
// queue in order, each event acknowledged before the next.
func (b *Bridge) run(ctx context.Context) {
	defer close(b.done)
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-b.wake:
		case <-tick.C:
		}
		b.flush(ctx)
	}
}

// flush sends what is pending while connected; it stops at the first failure (the rest waits
// for the next wake-up or reconnection).
func (b *Bridge) flush(ctx context.Context) {
	b.mu.Lock()
	connected, announced := b.connected, b.announced
	b.mu.Unlock()
	if !connected {
		return
	}
	if !announced {
		if !b.publish(b.topics.Availability, true, []byte(Online)) || !b.publishDiscovery() {
			return
		}
		b.mu.Lock()
		b.announced = true
		b.mu.Unlock()
	}
	state, diag := b.statePayload(), b.diagnosticPayload()
	b.mu.Lock()
	sendState, sendDiag := !bytes.Equal(state, b.lastState), !bytes.Equal(diag, b.lastDiag)
	b.mu.Unlock()
	if sendState {
		if !b.publish(b.topics.State, true, state) {
			return
		}
		b.mu.Lock()
		b.lastState = state
		b.mu.Unlock()
	}
	for ctx.Err() == nil {
		b.mu.Lock()
		if len(b.queue) == 0 {
			b.mu.Unlock()
			break
		}
		head := b.queue[0]
		b.mu.Unlock()
		for _, topic := range head.topics {
			if !b.publish(topic, false, head.payload) {
				return
			}
		}
		b.mu.Lock()
		if len(b.queue) > 0 && b.queue[0].seq == head.seq { // not dropped by an overflow meanwhile
			b.queue = b.queue[1:]
		}
		b.metrics.queued.Set(float64(len(b.queue)))
		b.mu.Unlock()
		b.metrics.published.Inc()
	}
	diag = b.diagnosticPayload()
	b.mu.Lock()
	sendDiag = sendDiag || !bytes.Equal(diag, b.lastDiag)
	b.mu.Unlock()
	if sendDiag && b.publish(b.topics.Diagnostic, true, diag) {
		b.mu.Lock()
		b.lastDiag = diag
		b.mu.Unlock()
	}
}

// publish sends one message at QoS 1 and waits (bounded) for its acknowledgement.
func (b *Bridge) publish(topic string, retained bool, payload []byte) bool {
	tok := b.client.Publish(topic, 1, retained, payload)
	if !tok.WaitTimeout(b.cfg.PublishTimeout) {
		b.log.Warn("publish not acknowledged in time; will retry", "topic", topic, "timeout_s", b.cfg.PublishTimeout.Seconds())
		return false
	}
	if err := tok.Error(); err != nil {
		b.log.Warn("publish failed; will retry", "topic", topic, "err", err)
		return false
	}
	return true
}

// publishDiscovery publishes the Home Assistant configs, or empty retained payloads (which
// remove the entities) when discovery is off.
func (b *Bridge) publishDiscovery() bool {
	for _, d := range DiscoveryMessages(b.cfg, b.version) {
		payload := []byte{}
		if b.cfg.Discovery {
			payload = mustJSON(d.Payload)
		}
		if !b.publish(d.Topic, true, payload) {
			return false
		}
	}
	return true
}

// statePayload is the retained state now.
func (b *Bridge) statePayload() []byte {
	snap := b.door.Snapshot()
	s := State{State: string(snap.State), Lockdown: snap.Lockdown, Relay: "locked", Door: "unknown"}
	if snap.State == machine.Unlocking {
		s.Relay = "unlocked"
	}
	if b.board != nil {
		s.Relay, s.Door = b.board.Relay(), b.board.Door()
	}
	s.Lock = "LOCKED"
	if s.Relay == "unlocked" {
		s.Lock = "UNLOCKED"
	}
	b.mu.Lock()
	s.LastGranted, s.LastGrantedAt = b.lastGranted, b.grantedAt
	b.mu.Unlock()
	return mustJSON(s)
}

func (b *Bridge) diagnosticPayload() []byte {
	d := Diagnostic{Version: b.version}
	if b.board != nil {
		d.RelayFault = b.board.RelayFault()
	}
	b.mu.Lock()
	d.Queued, d.Dropped, d.Seq = len(b.queue), b.dropped, b.seq
	b.mu.Unlock()
	return mustJSON(d)
}
