package mqtt

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/doorface/doorface/clock"
	"github.com/doorface/doorface/internal/testkit"
	"github.com/doorface/doorface/machine"
)

// The machine's collaborators: a relay that only remembers, an in-memory audit, no users.
type memLock struct {
	mu   sync.Mutex
	open bool
}

func (l *memLock) Unlock(time.Duration) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open = true
	return nil
}
func (l *memLock) Lock() error { l.mu.Lock(); defer l.mu.Unlock(); l.open = false; return nil }

type memAudit struct {
	mu       sync.Mutex
	attempts []machine.Attempt
	refused  []Refusal
}

func (a *memAudit) BeginAttempt(string, time.Time) error { return nil }
func (a *memAudit) EndUnlock(string) error               { return nil }
func (a *memAudit) DiscardAttempt(string) error          { return nil }
func (a *memAudit) RecordAttempt(m machine.Attempt) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.attempts = append(a.attempts, m)
	return nil
}
func (a *memAudit) RecordRefusal(r Refusal) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.refused = append(a.refused, r)
	return nil
}
func (a *memAudit) snapshot() ([]machine.Attempt, []Refusal) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.attempts), slices.Clone(a.refused)
}

type noUsers struct{}

func (noUsers) LookupPIN(string) (machine.PINOwner, bool, error) {
	return machine.PINOwner{}, false, nil
}
func (noUsers) User(string) (machine.Identity, bool, error) {
	return machine.Identity{}, false, nil
}

type noLockouts struct{}

func (noLockouts) LoadLockout() (machine.Lockout, error)                 { return machine.Lockout{}, nil }
func (noLockouts) SaveLockout(machine.Lockout) error                     { return nil }
func (noLockouts) ResetLockout(machine.Lockout, string, time.Time) error { return nil }

// rig is a real machine, a bridge and a subscriber on a real broker.
type rig struct {
	t      *testing.T
	broker *testkit.Broker
	sub    *testkit.Subscriber
	m      *machine.Machine
	lock   *memLock
	audit  *memAudit
	dir    string
	cfg    Config
	reg    *prometheus.Registry
	b      *Bridge
	topics Topics
	logs   *testkit.LogBuffer
}

func newRig(t *testing.T, mod func(*Config)) *rig {
	t.Helper()
	r := &rig{t: t, broker: testkit.StartBroker(t), lock: &memLock{}, audit: &memAudit{}, dir: t.TempDir(), logs: &testkit.LogBuffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("bridge logs:\n%s", r.logs.String())
		}
	})
	m, err := machine.New(machine.DefaultConfig(), machine.Deps{Clock: clock.Real{}, Lock: r.lock, Sink: r.audit,
		Directory: noUsers{}, Lockouts: noLockouts{}})
	if err != nil {
		t.Fatal(err)
	}
	r.m = m
	t.Cleanup(func() { m.Shutdown("test over") })
	r.cfg = DefaultConfig()
	r.cfg.Enabled, r.cfg.Broker, r.cfg.DoorID, r.cfg.PublishTimeout = true, r.broker.URL, "front", 2*time.Second
	if mod != nil {
		mod(&r.cfg)
	}
	r.topics = TopicsFor(r.cfg)
	r.sub = testkit.Subscribe(t, r.broker.URL, "doorface/#", "homeassistant/#")
	r.start()
	return r
}

// start builds and starts a new bridge on the rig's data directory (a daemon restart).
func (r *rig) start() {
	r.t.Helper()
	r.reg = prometheus.NewRegistry()
	b, _, err := New(Options{Config: r.cfg, DataDir: r.dir, Door: r.m, Audit: r.audit, Metrics: r.reg, Version: "test",
		Logger: slog.New(slog.NewTextHandler(r.logs, nil))})
	if err != nil {
		r.t.Fatal(err)
	}
	r.b = b
	b.Start(r.t.Context())
	r.t.Cleanup(b.Close)
}

// decide runs one session to a decision (cancelled) and returns its id.
func (r *rig) decide() string {
	r.t.Helper()
	tk, err := r.m.Admit("")
	if err != nil {
		r.t.Fatal(err)
	}
	if err := r.m.Cancel(tk.Session); err != nil {
		r.t.Fatal(err)
	}
	return tk.Session
}

// events decodes the messages on topic.
func events(t *testing.T, msgs []testkit.Message, topic string) []Event {
	t.Helper()
	var out []Event
	for _, m := range msgs {
		if m.Topic != topic {
			continue
		}
		var e Event
		if err := json.Unmarshal(m.Payload, &e); err != nil {
			t.Fatalf("event %s: %v", m.Payload, err)
		}
		out = append(out, e)
	}
	return out
}

// seqs are the events' sequence numbers.
func seqs(es []Event) []uint64 {
	var out []uint64
	for _, e := range es {
		out = append(out, e.Seq)
	}
	return out
}

// countOn returns a predicate: at least n messages on topic.
func countOn(topic string, n int) func([]testkit.Message) bool {
	return func(ms []testkit.Message) bool {
		c := 0
		for _, m := range ms {
			if m.Topic == topic {
				c++
			}
		}
		return c >= n
	}
}

func lastPayload(topic string, want func([]byte) bool) func([]testkit.Message) bool {
	return func(ms []testkit.Message) bool {
		for i := len(ms) - 1; i >= 0; i-- {
			if ms[i].Topic == topic {
				return want(ms[i].Payload)
			}
		}
		return false
	}
}

func TestAvailabilityStateAndDiscovery(t *testing.T) {
	r := newRig(t, nil)
	r.sub.Wait(10*time.Second, "availability online", lastPayload(r.topics.Availability, func(p []byte) bool { return string(p) == Online }))
	r.sub.Wait(5*time.Second, "retained state Idle", lastPayload(r.topics.State, func(p []byte) bool {
		var s State
		return json.Unmarshal(p, &s) == nil && s.State == "Idle" && s.Lock == "LOCKED"
	}))

	// A new subscriber gets availability, state and every discovery config as retained messages.
	late := testkit.Subscribe(t, r.broker.URL, "doorface/#", "homeassistant/#")
	msgs := late.Wait(5*time.Second, "retained discovery", countOn("homeassistant/event/doorface_front/access/config", 1))
	retained := map[string][]byte{}
	for _, m := range msgs {
		if !m.Retained {
			t.Errorf("%s reached a late subscriber but is not retained", m.Topic)
		}
		retained[m.Topic] = m.Payload
	}
	if string(retained[r.topics.Availability]) != Online {
		t.Fatalf("retained availability = %q", retained[r.topics.Availability])
	}
	checkDiscovery(t, r.cfg, retained)

	// Close publishes offline (retained).
	r.b.Close()
	r.sub.Wait(5*time.Second, "availability offline after Close", lastPayload(r.topics.Availability, func(p []byte) bool { return string(p) == Offline }))
}

// checkDiscovery validates the Home Assistant configs the way Home Assistant reads them:
// required keys per component, unique ids, one shared device block, the availability topic.
func checkDiscovery(t *testing.T, cfg Config, retained map[string][]byte) {
	t.Helper()
	required := map[string][]string{
		"lock":          {"command_topic", "state_topic", "value_template", "state_locked", "state_unlocked"},
		"binary_sensor": {"state_topic", "value_template", "payload_on", "payload_off", "device_class"},
		"sensor":        {"state_topic", "value_template"},
		"event":         {"state_topic", "event_types"},
	}
	seen := map[string]bool{}
	components := map[string]int{}
	var device string
	n := 0
	for topic, payload := range retained {
		if !strings.HasPrefix(topic, cfg.DiscoveryPrefix+"/") {
			continue
		}
		n++
		parts := strings.Split(topic, "/")
		if len(parts) != 5 || parts[2] != "doorface_"+cfg.DoorID || parts[4] != "config" {
			t.Errorf("discovery topic %s: want <prefix>/<component>/<node>/<object>/config", topic)
			continue
		}
		component := parts[1]
		components[component]++
		var c map[string]any
		if err := json.Unmarshal(payload, &c); err != nil {
			t.Fatalf("%s: %v", topic, err)
		}
		for _, k := range append([]string{"name", "unique_id", "device", "availability_topic"}, required[component]...) {
			if _, ok := c[k]; !ok {
				t.Errorf("%s lacks %q", topic, k)
			}
		}
		id, _ := c["unique_id"].(string)
		if id == "" || seen[id] {
			t.Errorf("%s: unique_id %q empty or repeated", topic, id)
		}
		seen[id] = true
		if c["availability_topic"] != TopicsFor(cfg).Availability {
			t.Errorf("%s: availability_topic %v", topic, c["availability_topic"])
		}
		d, _ := json.Marshal(c["device"])
		var dev struct {
			Identifiers []string `json:"identifiers"`
			Name        string   `json:"name"`
		}
		if json.Unmarshal(d, &dev) != nil || len(dev.Identifiers) == 0 || dev.Name == "" {
			t.Errorf("%s: device block %s lacks identifiers or name", topic, d)
		}
		if device == "" {
			device = string(d)
		} else if string(d) != device {
			t.Errorf("%s: device block %s differs from %s", topic, d, device)
		}
		switch {
		case component == "binary_sensor" && c["device_class"] != "door":
			t.Errorf("door contact device_class = %v", c["device_class"])
		case strings.Contains(id, "relay_fault") && c["entity_category"] != "diagnostic":
			t.Errorf("relay fault sensor entity_category = %v", c["entity_category"])
		case component == "event":
			types, _ := c["event_types"].([]any)
			for _, want := range []string{"granted", "denied", AlarmForcedOpen, AlarmHeldOpen, AlarmDuress} {
				if !slices.Contains(types, any(want)) {
					t.Errorf("event_types %v lack %s", types, want)
				}
			}
		}
	}
	if n != len(DiscoveryMessages(cfg, "")) || components["lock"] != 1 || components["binary_sensor"] != 1 || components["event"] != 1 || components["sensor"] < 2 {
		t.Fatalf("discovery configs: %d, per component %v", n, components)
	}
}

func TestDecisionsInOrderWithoutGapsAcrossRestart(t *testing.T) {
	r := newRig(t, func(c *Config) { c.PublishNames = false })
	r.sub.Wait(10*time.Second, "online", countOn(r.topics.Availability, 1))
	var sessions []string
	for range 5 {
		sessions = append(sessions, r.decide())
	}
	r.b.Close()
	r.start() // a restart: the numbers go on
	for range 5 {
		sessions = append(sessions, r.decide())
	}
	msgs := r.sub.Wait(10*time.Second, "10 decision events", countOn(r.topics.Events, 10))
	es := events(t, msgs, r.topics.Events)
	for i, e := range es {
		if e.Seq != uint64(i+1) || e.Type != TypeDecision || e.Session != sessions[i] || e.Outcome != "cancelled" || e.EventType != "cancelled" || e.Door != "front" {
			t.Fatalf("event %d = %+v, want seq %d for session %s (seqs %v)", i, e, i+1, sessions[i], seqs(es))
		}
	}
	if m, _ := r.sub.Last(r.topics.Events); m.Retained {
		t.Fatal("events are retained")
	}
}

func TestBrokerDownQueuesFlushesAndCountsOverflow(t *testing.T) {
	r := newRig(t, func(c *Config) { c.Queue = 5 })
	r.sub.Wait(10*time.Second, "online", countOn(r.topics.Availability, 1))
	r.decide() // seq 1, published
	r.sub.Wait(5*time.Second, "first event", countOn(r.topics.Events, 1))

	r.broker.Stop()
	waitFor(t, 10*time.Second, "the bridge notices the broker is gone", func() bool { return !r.b.Stats().Connected })
	start := time.Now()
	for range 8 { // seq 2..9: the queue keeps the last 5 (5..9), 3 are dropped
		r.decide()
	}
	waitFor(t, 5*time.Second, "the decisions are numbered", func() bool { return r.b.Stats().Seq == 9 })
	r.b.DoorEvent(AlarmForcedOpen, time.Now()) // seq 10, an alarm; drops seq 5
	if d := time.Since(start); d > time.Second {
		t.Fatalf("9 events with the broker down took %v: publishing blocked the door", d)
	}
	waitFor(t, 5*time.Second, "the bridge has numbered every event", func() bool { return r.b.Stats().Seq == 10 })
	if st := r.b.Stats(); st.Dropped != 4 || st.Queued != 5 || st.Seq != 10 {
		t.Fatalf("stats with the broker down = %+v, want 4 dropped, 5 queued, seq 10", st)
	}
	if got := testutil.ToFloat64(r.b.metrics.dropped); got != 4 {
		t.Fatalf("doorface_mqtt_events_dropped_total = %v, want 4", got)
	}
	time.Sleep(time.Second) // "for a while"
	r.broker.Start()
	// The subscriber reconnects too; events published before it resubscribed would be lost to
	// it, so the door's flush is checked through the retained diagnostic and the events seen.
	msgs := r.sub.Wait(20*time.Second, "the queued events after the broker returned", func(ms []testkit.Message) bool {
		es := events(t, ms, r.topics.Events)
		return len(es) > 0 && es[len(es)-1].Seq == 10
	})
	es := events(t, msgs, r.topics.Events)
	got := seqs(es)
	if got[0] != 1 {
		t.Fatalf("seqs %v", got)
	}
	// After 1, the kept events in order: 6..10 (a subscriber reconnecting late may miss a prefix).
	tail := got[1:]
	if len(tail) == 0 || tail[len(tail)-1] != 10 {
		t.Fatalf("seqs after the outage %v, want ending at 10", got)
	}
	for i, s := range tail {
		if s < 6 || (i > 0 && s != tail[i-1]+1) {
			t.Fatalf("seqs after the outage %v: want consecutive numbers from 6 (2..5 were dropped)", got)
		}
	}
	alarms := events(t, r.sub.On(r.topics.Alarm), r.topics.Alarm)
	if len(alarms) != 1 || alarms[0].Seq != 10 || alarms[0].Kind != AlarmForcedOpen || alarms[0].Type != TypeAlarm {
		t.Fatalf("alarm topic = %+v, want the forced_open alarm with seq 10", alarms)
	}
	r.sub.Wait(10*time.Second, "diagnostic reports the 4 dropped events", lastPayload(r.topics.Diagnostic, func(p []byte) bool {
		var d Diagnostic
		return json.Unmarshal(p, &d) == nil && d.Dropped == 4 && d.Queued == 0 && d.Seq == 10
	}))
}

func TestRemoteCommands(t *testing.T) {
	r := newRig(t, nil)
	r.sub.Wait(10*time.Second, "online", countOn(r.topics.Availability, 1))
	secret, _, err := LoadOrCreateSecret(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	send := func(payload []byte) Result {
		t.Helper()
		n := len(r.sub.On(r.topics.Result))
		tok := r.sub.Client().Publish(r.topics.Command, 1, false, payload)
		if !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish command: %v", tok.Error())
		}
		msgs := r.sub.Wait(5*time.Second, "a command result", countOn(r.topics.Result, n+1))
		var res Result
		_ = json.Unmarshal(msgs[len(msgs)-1].Payload, &res)
		for i := len(msgs) - 1; i >= 0; i-- {
			if msgs[i].Topic == r.topics.Result {
				_ = json.Unmarshal(msgs[i].Payload, &res)
				break
			}
		}
		return res
	}
	sign := func(cmd string, ts time.Time, nonce string) []byte {
		b, err := Sign(secret, Command{Cmd: cmd, Door: "front", By: "ops-desk", TS: ts.Unix(), Nonce: nonce})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	unlock := sign(CmdUnlock, time.Now(), NewNonce())
	if res := send(unlock); !res.OK {
		t.Fatalf("valid unlock = %+v", res)
	}
	if s := r.m.Snapshot(); s.State != machine.Unlocking {
		t.Fatalf("state after a valid unlock = %s", s.State)
	}
	atts, _ := r.audit.snapshot()
	if a := atts[len(atts)-1]; a.Outcome != machine.Granted || a.Method != machine.MethodRemote || !strings.Contains(a.Reason, "ops-desk") {
		t.Fatalf("audit of the remote unlock = %+v", a)
	}
	r.sub.Wait(5*time.Second, "the remote grant as a decision event", lastPayload(r.topics.Events, func(p []byte) bool {
		var e Event
		return json.Unmarshal(p, &e) == nil && e.Method == "remote" && e.Outcome == "granted"
	}))

	for _, tc := range []struct {
		name    string
		payload []byte
		code    string
	}{
		{"replayed", unlock, "replay"},
		{"stale", sign(CmdUnlock, time.Now().Add(-2*time.Minute), NewNonce()), "stale"},
		{"unsigned", []byte("UNLOCK"), "unsigned"},
		{"forged", []byte(strings.Replace(string(unlock), `\"by\":\"ops-desk\"`, `\"by\":\"mallory\"`, 1)), "bad_signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			time.Sleep(refusalAuditEvery) // each refusal here is audited (one per second)
			_, before := r.audit.snapshot()
			if res := send(tc.payload); res.OK || res.Error != tc.code {
				t.Fatalf("result = %+v, want refused %s", res, tc.code)
			}
			_, after := r.audit.snapshot()
			if len(after) != len(before)+1 || !strings.HasPrefix(after[len(after)-1].Reason, tc.code) {
				t.Fatalf("refusal audit %+v, want one more record with reason %s", after, tc.code)
			}
			if got := testutil.ToFloat64(r.b.metrics.commands.WithLabelValues(metricCmd(after[len(after)-1].Cmd), tc.code)); got < 1 {
				t.Fatalf("commands_total{result=%s} = %v", tc.code, got)
			}
		})
	}
	atts2, _ := r.audit.snapshot()
	if len(atts2) != len(atts) {
		t.Fatalf("refused commands changed the door's attempts: %d -> %d", len(atts), len(atts2))
	}

	// Lockdown: frames refused, the state says so, and it survives a restart of the bridge.
	if res := send(sign(CmdLockdown, time.Now(), NewNonce())); !res.OK {
		t.Fatalf("lockdown = %+v", res)
	}
	if _, err := r.m.Admit(""); err == nil || !strings.Contains(err.Error(), "lockdown") {
		t.Fatalf("Admit in lockdown = %v", err)
	}
	r.sub.Wait(5*time.Second, "state shows the lockdown", lastPayload(r.topics.State, func(p []byte) bool {
		var s State
		return json.Unmarshal(p, &s) == nil && s.Lockdown
	}))
	if res := send(sign(CmdUnlock, time.Now(), NewNonce())); res.OK || res.Error != "lockdown" {
		t.Fatalf("unlock in lockdown = %+v", res)
	}
	r.b.Close()
	if _, err := r.m.SetLockdown(false, "simulated restart"); err != nil {
		t.Fatal(err)
	}
	r.start()
	if !r.m.Snapshot().Lockdown {
		t.Fatal("lockdown not restored by the bridge at start")
	}
	r.sub.Wait(10*time.Second, "online again", func(ms []testkit.Message) bool { return len(r.sub.On(r.topics.Availability)) >= 3 })
	if res := send(sign(CmdRelease, time.Now(), NewNonce())); !res.OK {
		t.Fatalf("release = %+v", res)
	}
	if r.m.Snapshot().Lockdown {
		t.Fatal("release left the lockdown")
	}
}

func TestDiscoveryRemovedWhenDisabled(t *testing.T) {
	r := newRig(t, nil)
	n := len(DiscoveryMessages(r.cfg, ""))
	r.sub.Wait(10*time.Second, "discovery configs", func(ms []testkit.Message) bool {
		c := 0
		for _, m := range ms {
			if strings.HasPrefix(m.Topic, "homeassistant/") && len(m.Payload) > 0 {
				c++
			}
		}
		return c >= n
	})
	r.b.Close()
	r.cfg.Discovery = false
	r.start()
	r.sub.Wait(10*time.Second, "empty retained configs", func(ms []testkit.Message) bool {
		c := 0
		for _, m := range ms {
			if strings.HasPrefix(m.Topic, "homeassistant/") && len(m.Payload) == 0 {
				c++
			}
		}
		return c >= n
	})
	// The broker holds no discovery config any more.
	late := testkit.Subscribe(t, r.broker.URL, "homeassistant/#")
	late.Wait(10*time.Second, "the door online again", func([]testkit.Message) bool { return r.b.Stats().Connected })
	time.Sleep(300 * time.Millisecond)
	if ms := late.Messages(); len(ms) != 0 {
		t.Fatalf("retained discovery left after disabling: %v", fmt.Sprint(ms))
	}
}

func waitFor(t *testing.T, timeout time.Duration, what string, ok func() bool) {
	t.Helper()
	end := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(end) {
			t.Fatalf("not within %v: %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
