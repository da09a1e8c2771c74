package e2e

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/doorface/doorface/internal/testkit"
	"github.com/doorface/doorface/mqtt"
	"github.com/doorface/doorface/transport/api"
)

// mqttEvents decodes the events received on topic, in arrival order.
func mqttEvents(t *testing.T, msgs []testkit.Message, topic string) []mqtt.Event {
	t.Helper()
	var out []mqtt.Event
	for _, m := range msgs {
		if m.Topic == topic {
			var e mqtt.Event
			if err := json.Unmarshal(m.Payload, &e); err != nil {
				t.Fatalf("event %s: %v", m.Payload, err)
			}
			out = append(out, e)
		}
	}
	return out
}

// TestMQTTRealDaemon runs the real daemon against a real mosquitto: availability and Home
// Assistant discovery at start, a PIN grant as a numbered event and in the retained state, a
// signed remote unlock audited as method remote, replayed/stale/unsigned commands refused and
// audited, a broker outage during which the door still grants (the events arrive afterwards, in
// order, without a gap), and the last will on kill -9.
func TestMQTTRealDaemon(t *testing.T) {
	broker := testkit.StartBroker(t)
	cfg := mqtt.DefaultConfig()
	cfg.DoorID = "e2e"
	topics := mqtt.TopicsFor(cfg)
	// A collector with a persistent session: it misses nothing across the broker's restart.
	collector := testkit.SubscribePersistent(t, broker.URL, "e2e-collector", "doorface/#", "homeassistant/#")

	r := newRelRig(t, "DOORFACE_MQTT_ENABLED=true", "DOORFACE_MQTT_BROKER="+broker.URL,
		"DOORFACE_MQTT_DOOR_ID=e2e", "DOORFACE_MQTT_PUBLISH_NAMES=true", "DOORFACE_MACHINE_RECEIVE_TIMEOUT=60s")
	if !strings.Contains(r.d.Logs.String(), "generated the MQTT command secret") {
		t.Fatalf("the first start did not announce the command secret:\n%s", r.d.Logs.String())
	}
	st, err := os.Stat(filepath.Join(r.data, mqtt.SecretFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("command secret file: %v %v, want mode 0600", st, err)
	}
	raw, err := os.ReadFile(filepath.Join(r.data, mqtt.SecretFile))
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 32)
	if _, err := hexDecode(secret, strings.TrimSpace(string(raw))); err != nil {
		t.Fatal(err)
	}

	online := func(ms []testkit.Message) bool {
		for i := len(ms) - 1; i >= 0; i-- {
			if ms[i].Topic == topics.Availability {
				return string(ms[i].Payload) == mqtt.Online
			}
		}
		return false
	}
	collector.Wait(20*time.Second, "availability online", online)

	// Discovery, as a late subscriber sees it: retained, one device, unique ids.
	late := testkit.Subscribe(t, broker.URL, "homeassistant/#", topics.State)
	want := len(mqtt.DiscoveryMessages(cfg, ""))
	msgs := late.Wait(10*time.Second, "retained discovery and state", func(ms []testkit.Message) bool { return len(ms) >= want+1 })
	ids := map[string]bool{}
	for _, m := range msgs {
		if !m.Retained {
			t.Errorf("%s not retained", m.Topic)
		}
		if m.Topic == topics.State {
			continue
		}
		var c struct {
			UniqueID     string         `json:"unique_id"`
			Availability string         `json:"availability_topic"`
			Device       map[string]any `json:"device"`
		}
		if err := json.Unmarshal(m.Payload, &c); err != nil || c.UniqueID == "" || ids[c.UniqueID] || c.Availability != topics.Availability || c.Device["identifiers"] == nil {
			t.Errorf("discovery %s = %s (%v)", m.Topic, m.Payload, err)
		}
		ids[c.UniqueID] = true
	}
	if len(ids) != want {
		t.Fatalf("%d discovery configs, want %d", len(ids), want)
	}

	// 1. A PIN grant: a numbered decision event with the name (publish_names), and the state.
	r.createUser("Penny", "86420")
	stranger := testkit.CameraFrame(t, testkit.Photo(t, "enroll-test/joy.jpg"), 1280, 720, 420)
	grantByPIN := func() string {
		t.Helper()
		r.door.WaitState("Idle", 15*time.Second)
		s := r.toPinFallback(stranger)
		var pa api.PinResponse
		r.door.JSON(http.MethodPost, "/v1/pin", map[string]string{"session": s, "pin": "86420"}, http.StatusOK, &pa)
		if pa.Outcome != "granted" {
			t.Fatalf("PIN = %+v", pa)
		}
		return s
	}
	granted := grantByPIN()
	collector.Wait(10*time.Second, "the PIN grant as an event", func(ms []testkit.Message) bool {
		for _, e := range mqttEvents(t, ms, topics.Events) {
			if e.Session == granted && e.Outcome == "granted" && e.Method == "pin" && e.Name == "Penny" {
				return true
			}
		}
		return false
	})
	collector.Wait(10*time.Second, "last granted in the retained state", func(ms []testkit.Message) bool {
		for i := len(ms) - 1; i >= 0; i-- {
			if ms[i].Topic == topics.State {
				var s mqtt.State
				return json.Unmarshal(ms[i].Payload, &s) == nil && s.LastGranted == "Penny"
			}
		}
		return false
	})
	for _, m := range collector.Messages() {
		if bytes.Contains(m.Payload, []byte("86420")) {
			t.Fatalf("the PIN reached the broker on %s: %s", m.Topic, m.Payload)
		}
	}

	// 2. Remote commands.
	r.door.WaitState("Idle", 15*time.Second)
	send := func(payload []byte) mqtt.Result {
		t.Helper()
		n := len(collector.On(topics.Result))
		if tok := collector.Client().Publish(topics.Command, 1, false, payload); !tok.WaitTimeout(5*time.Second) || tok.Error() != nil {
			t.Fatalf("publish command: %v", tok.Error())
		}
		collector.Wait(10*time.Second, "a command result", func([]testkit.Message) bool { return len(collector.On(topics.Result)) > n })
		m, _ := collector.Last(topics.Result)
		var res mqtt.Result
		if err := json.Unmarshal(m.Payload, &res); err != nil {
			t.Fatal(err)
		}
		return res
	}
	sign := func(ts time.Time) []byte {
		b, err := mqtt.Sign(secret, mqtt.Command{Cmd: mqtt.CmdUnlock, Door: "e2e", By: "night-guard", TS: ts.Unix(), Nonce: mqtt.NewNonce()})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	unlock := sign(time.Now())
	if res := send(unlock); !res.OK {
		t.Fatalf("valid remote unlock = %+v", res)
	}
	if s := r.door.State(); s.State != "Unlocking" || s.Relay != "unlocked" {
		t.Fatalf("after the remote unlock: %+v", s)
	}
	for _, tc := range []struct {
		name    string
		payload []byte
		code    string
	}{
		{"replayed", unlock, "replay"},
		{"stale", sign(time.Now().Add(-5 * time.Minute)), "stale"},
		{"unsigned", []byte("UNLOCK"), "unsigned"},
	} {
		time.Sleep(1100 * time.Millisecond) // refusals are audited at most once a second
		if res := send(tc.payload); res.OK || res.Error != tc.code {
			t.Fatalf("%s command = %+v, want refused %s", tc.name, res, tc.code)
		}
	}
	code, body := r.admin.Do(http.MethodGet, "/v1/audit", "", nil)
	if code != http.StatusOK {
		t.Fatalf("audit: %d", code)
	}
	var remoteGranted, refused int
	for _, line := range bytes.Split(bytes.TrimSpace(body), []byte("\n")) {
		var rec struct{ Outcome, Method, Reason string }
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("audit line %s: %v", line, err)
		}
		switch {
		case rec.Method == "remote" && rec.Outcome == "granted" && strings.Contains(rec.Reason, "night-guard"):
			remoteGranted++
		case rec.Method == "remote" && rec.Outcome == "denied" && strings.Contains(rec.Reason, "refused"):
			refused++
		}
	}
	if remoteGranted != 1 || refused != 3 {
		t.Fatalf("audit: %d remote grants, %d refused commands; want 1 and 3\n%s", remoteGranted, refused, body)
	}

	// Lockdown: frames are answered 423 lockdown until release.
	signCmd := func(cmd string) []byte {
		b, err := mqtt.Sign(secret, mqtt.Command{Cmd: cmd, Door: "e2e", By: "night-guard", TS: time.Now().Unix(), Nonce: mqtt.NewNonce()})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	r.door.WaitState("Idle", 15*time.Second)
	if res := send(signCmd(mqtt.CmdLockdown)); !res.OK {
		t.Fatalf("lockdown = %+v", res)
	}
	if code, body := r.door.Do(http.MethodPost, "/v1/frames", "image/jpeg", stranger); code != http.StatusLocked || !bytes.Contains(body, []byte(`"lockdown"`)) {
		t.Fatalf("a frame in lockdown = %d %s, want 423 lockdown", code, body)
	}
	if res := send(signCmd(mqtt.CmdRelease)); !res.OK {
		t.Fatalf("release = %+v", res)
	}

	// 3. The broker goes away: the door still grants; the events arrive when it is back.
	broker.StopGracefully()
	r.d.WaitLog(t, 15*time.Second, `"msg":"lost the broker; queueing events"`)
	offlineGrant := grantByPIN()
	time.Sleep(2 * time.Second)
	broker.Start()
	collector.Wait(30*time.Second, "the grant made while the broker was down", func(ms []testkit.Message) bool {
		for _, e := range mqttEvents(t, ms, topics.Events) {
			if e.Session == offlineGrant && e.Outcome == "granted" {
				return true
			}
		}
		return false
	})
	es := mqttEvents(t, collector.Messages(), topics.Events)
	for i, e := range es {
		if e.Seq != uint64(i+1) {
			var got []uint64
			for _, e := range es {
				got = append(got, e.Seq)
			}
			t.Fatalf("event sequence numbers %v: want 1..%d in order without gaps or repeats", got, len(es))
		}
	}

	// 4. kill -9: the broker publishes the last will.
	collector.Wait(20*time.Second, "online again after the broker's restart", online)
	r.kill9()
	collector.Wait(30*time.Second, "the last will (offline) after kill -9", func(ms []testkit.Message) bool { return !online(ms) && len(collector.On(topics.Availability)) > 0 })
}

// hexDecode decodes s into dst and returns the bytes written.
func hexDecode(dst []byte, s string) (int, error) { return hex.Decode(dst, []byte(s)) }
