package testkit

import (
	"fmt"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Message is one message a Subscriber received.
type Message struct {
	Topic    string
	Payload  []byte
	Retained bool
	At       time.Time
}

// Subscriber is a paho client that records every message on its topic filters. It reconnects
// (and resubscribes) when the broker comes back.
type Subscriber struct {
	t      testing.TB
	client paho.Client
	mu     sync.Mutex
	msgs   []Message
}

var subscriberIDs struct {
	sync.Mutex
	n int
}

// Subscribe connects to the broker at url (waiting at most 10 s) and subscribes to filters at QoS 1,
// with a clean session. The test's cleanup disconnects it.
func Subscribe(t testing.TB, url string, filters ...string) *Subscriber {
	t.Helper()
	subscriberIDs.Lock()
	subscriberIDs.n++
	id := fmt.Sprintf("test-subscriber-%d-%d", time.Now().UnixNano()%1e6, subscriberIDs.n)
	subscriberIDs.Unlock()
	return subscribe(t, url, id, true, filters)
}

// SubscribePersistent is Subscribe with a persistent session under client id: the broker keeps
// its subscriptions and queues QoS 1 messages for it while it is disconnected (also across a
// graceful restart of the broker), so it misses nothing.
func SubscribePersistent(t testing.TB, url, id string, filters ...string) *Subscriber {
	t.Helper()
	return subscribe(t, url, id, false, filters)
}

func subscribe(t testing.TB, url, id string, clean bool, filters []string) *Subscriber {
	t.Helper()
	s := &Subscriber{t: t}
	handler := func(_ paho.Client, m paho.Message) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.msgs = append(s.msgs, Message{Topic: m.Topic(), Payload: append([]byte(nil), m.Payload()...), Retained: m.Retained(), At: time.Now()})
	}
	ready := make(chan struct{})
	var once sync.Once
	subs := map[string]byte{}
	for _, f := range filters {
		subs[f] = 1
	}
	opts := paho.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(clean).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(200 * time.Millisecond).
		SetMaxReconnectInterval(time.Second).SetOrderMatters(true).SetDefaultPublishHandler(handler).
		SetOnConnectHandler(func(c paho.Client) {
			tok := c.SubscribeMultiple(subs, handler)
			if tok.WaitTimeout(5*time.Second) && tok.Error() == nil {
				once.Do(func() { close(ready) })
			}
		})
	s.client = paho.NewClient(opts)
	tok := s.client.Connect()
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber: connect to %s: %v", url, tok.Error())
	}
	t.Cleanup(func() { s.client.Disconnect(100) })
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatalf("subscriber: the broker did not confirm the subscription to %v within 10s", filters)
	}
	return s
}

// Client is the subscriber's paho client (to publish commands with).
func (s *Subscriber) Client() paho.Client { return s.client }

// Messages returns a copy of every message received so far.
func (s *Subscriber) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// On returns the messages received on topic so far.
func (s *Subscriber) On(topic string) []Message {
	var out []Message
	for _, m := range s.Messages() {
		if m.Topic == topic {
			out = append(out, m)
		}
	}
	return out
}

// Wait polls (every 20 ms, at most timeout) until ok holds for the messages received so far, and
// returns them; on timeout the test fails with what describes the wait.
func (s *Subscriber) Wait(timeout time.Duration, what string, ok func([]Message) bool) []Message {
	s.t.Helper()
	end := time.Now().Add(timeout)
	for {
		msgs := s.Messages()
		if ok(msgs) {
			return msgs
		}
		if time.Now().After(end) {
			var b []byte
			for _, m := range msgs {
				b = fmt.Appendf(b, "  %s retained=%v %s\n", m.Topic, m.Retained, m.Payload)
			}
			s.t.Fatalf("within %v: %s; received:\n%s", timeout, what, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Last is the last message on topic, and whether there is one.
func (s *Subscriber) Last(topic string) (Message, bool) {
	on := s.On(topic)
	if len(on) == 0 {
		return Message{}, false
	}
	return on[len(on)-1], true
}
