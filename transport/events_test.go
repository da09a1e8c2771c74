package transport

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/doorface/doorface/machine"

	"github.com/doorface/doorface/transport/api"
)

// expect reads the next non-comment events and checks their names and key fields.
func expect(t *testing.T, ch <-chan sseEvent, want ...string) []sseEvent {
	t.Helper()
	var got []sseEvent
	for len(got) < len(want) {
		ev := next(t, ch)
		if ev.name == ":" {
			continue
		}
		got = append(got, ev)
	}
	for i, ev := range got {
		desc := ev.name
		if s, ok := ev.data["state"].(string); ok && ev.name == "state" {
			desc += ":" + s
		}
		if s, ok := ev.data["outcome"].(string); ok {
			desc += ":" + s
		}
		if s, ok := ev.data["kind"].(string); ok {
			desc += ":" + s
		}
		if desc != want[i] {
			t.Fatalf("event %d = %s, want %s (all: %v)", i, desc, want[i], got)
		}
	}
	return got
}

// TestEventsFullSessions follows a face session and a PIN session from start to Idle: every
// transition arrives, in order, with its session and reason, and every decision once.
func TestEventsFullSessions(t *testing.T) {
	e := newEnv(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := e.openEvents(ctx)
	cfg := machine.DefaultConfig()

	t.Run("face", func(t *testing.T) {
		s := e.toUnlocking()
		e.clk.Advance(cfg.UnlockDuration)
		e.clk.Advance(cfg.Cooldown)
		got := expect(t, ch, "state:Receiving", "state:Recognizing", "state:Unlocking", "decision:granted",
			"state:Cooldown", "state:Idle")
		for _, ev := range got[:5] {
			if ev.data["session"] != s {
				t.Fatalf("%s event of session %v, want %s", ev.name, ev.data["session"], s)
			}
		}
		if got[2].data["from"] != "Recognizing" || got[2].data["reason"] == "" || got[2].data["at"] == "" {
			t.Fatalf("state event %v", got[2].data)
		}
		if d := got[3].data; d["method"] != "face" || d["user"] != e.alice.ID || d["name"] != "Alice" {
			t.Fatalf("decision event %v", d)
		}
	})
	t.Run("pin with a door event", func(t *testing.T) {
		s := e.toPinFallback()
		if r := e.pin(s, "99999"); r.str("outcome") != "denied" {
			t.Fatalf("wrong PIN: %s", r.raw)
		}
		if r := e.pin(s, alicePIN); r.str("outcome") != "granted" {
			t.Fatalf("right PIN: %s", r.raw)
		}
		// The door opens after the relay did: its event never precedes the Unlocking.
		e.srv.PublishDoorEvent(DoorEvent{Kind: "door_opened", At: e.clk.Now()})
		got := expect(t, ch, "state:Receiving", "state:Recognizing", "state:PinFallback", "state:Unlocking",
			"decision:granted", "door:door_opened")
		e.clk.Advance(cfg.UnlockDuration + cfg.Cooldown)
		expect(t, ch, "state:Cooldown", "state:Idle")
		if got[4].data["method"] != "pin" {
			t.Fatalf("decision %v", got[4].data)
		}
	})
	t.Run("cancelled and timed out sessions", func(t *testing.T) {
		e.frame(wNoFace, "")
		e.do(req{method: "DELETE", path: "/v1/session", token: doorToken})
		e.frame(wNoFace, "")
		e.clk.Advance(cfg.ReceiveTimeout)
		expect(t, ch, "state:Receiving", "state:Idle", "decision:cancelled", "state:Receiving", "state:Idle", "decision:timeout")
	})
	if d := e.m.Dropped(); d != 0 {
		t.Fatalf("machine dropped %d transitions", d)
	}
}

// TestEventsHeartbeat: a ": ping" comment arrives every Heartbeat of the injected clock.
func TestEventsHeartbeat(t *testing.T) {
	e := newEnv(t, func(_ *machine.Config, o *Options) { o.Heartbeat = time.Second })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := e.openEvents(ctx)
	for i := range 3 {
		e.clk.Advance(time.Second)
		if ev := next(t, ch); ev.name != ":" || ev.data["comment"] != "ping" {
			t.Fatalf("beat %d: got %v", i, ev)
		}
	}
}

// TestEventsSlowClient: a client that connects and never reads is dropped without delaying the
// broker or the machine; a reading client meanwhile gets every event in order.
func TestEventsSlowClient(t *testing.T) {
	e := newEnv(t, func(_ *machine.Config, o *Options) { o.WriteTimeout = 300 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// The stuck client: a raw connection with a tiny receive buffer that never reads.
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.hs.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(conn, "GET /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", doorToken)
	fast := e.openEvents(ctx)
	deadline := time.Now().Add(10 * time.Second)
	for clientsGauge(t, e) != 2 {
		if time.Now().After(deadline) {
			t.Fatal("stuck client never registered")
		}
		time.Sleep(5 * time.Millisecond)
	}

	// Flood big door events, paced by the fast client so only the stuck one falls behind.
	kind := strings.Repeat("k", 4000)
	var slowest time.Duration
	for i := 0; i < 3000 && droppedCounter(t, e) == 0; i++ {
		start := time.Now()
		e.srv.PublishDoorEvent(DoorEvent{Kind: kind, At: e.clk.Now()})
		slowest = max(slowest, time.Since(start))
		if ev := next(t, fast); ev.name != "door" {
			t.Fatalf("fast client got %v", ev.name)
		}
	}
	if droppedCounter(t, e) != 1 {
		t.Fatalf("stuck client not dropped after the flood (dropped=%v)", droppedCounter(t, e))
	}
	if slowest > 100*time.Millisecond {
		t.Fatalf("a publish took %s", slowest)
	}

	// The machine is not delayed: full sessions run and the fast client sees all of them.
	cfg := machine.DefaultConfig()
	for range 5 {
		start := time.Now()
		e.toUnlocking()
		e.clk.Advance(cfg.UnlockDuration + cfg.Cooldown)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("session took %s", d)
		}
		expect(t, fast, "state:Receiving", "state:Recognizing", "state:Unlocking", "decision:granted", "state:Cooldown", "state:Idle")
	}
	if d := e.m.Dropped(); d != 0 {
		t.Fatalf("machine dropped %d transitions", d)
	}
	t.Logf("slowest publish %s; stuck client dropped", slowest)
}

// TestBrokerDropsFullClient: at the broker level, a client whose channel is full is dropped at
// once and the others keep every event.
func TestBrokerDropsFullClient(t *testing.T) {
	e := newEnv(t, nil)
	b := e.srv.broker
	stuck, ok := b.add(false), b.add(false)
	for i := range clientBuffer + 1 {
		b.publish("door", api.DoorEvent{Kind: fmt.Sprint("e", i)})
		if i < clientBuffer {
			<-ok.ch
		}
	}
	select {
	case <-stuck.gone:
	default:
		t.Fatal("full client not dropped")
	}
	select {
	case <-ok.gone:
		t.Fatal("reading client dropped")
	default:
	}
	if len(ok.ch) != 1 {
		t.Fatalf("reading client holds %d events, want the last one", len(ok.ch))
	}
	b.remove(ok)
}

func clientsGauge(t *testing.T, e *env) float64 { return gauge(t, e, "doorface_event_clients") }
func droppedCounter(t *testing.T, e *env) float64 {
	return gauge(t, e, "doorface_event_clients_dropped_total")
}

// gauge reads one unlabelled metric from the registry.
func gauge(t *testing.T, e *env, name string) float64 {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			m := mf.GetMetric()[0]
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}
