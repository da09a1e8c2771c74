package clock

import (
	"testing"
	"time"
)

func TestFakeFiresInOrder(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		advance time.Duration
		want    string
	}{
		{"nothing due", 500 * time.Millisecond, ""},
		{"first due", time.Second, "a"},
		{"all due in deadline order", 10 * time.Second, "abc"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := NewFake(start)
			got := ""
			c.AfterFunc(3*time.Second, func() { got += "c" })
			c.AfterFunc(time.Second, func() {
				got += "a"
				if !c.Now().Equal(start.Add(time.Second)) {
					t.Errorf("clock at fire = %v, want deadline", c.Now())
				}
			})
			c.AfterFunc(2*time.Second, func() { got += "b" })
			c.Advance(tc.advance)
			if got != tc.want {
				t.Errorf("fired %q, want %q", got, tc.want)
			}
			if !c.Now().Equal(start.Add(tc.advance)) {
				t.Errorf("now = %v", c.Now())
			}
		})
	}
}

func TestFakeStopAndChained(t *testing.T) {
	c := NewFake(time.Unix(0, 0))
	fired := 0
	tm := c.AfterFunc(time.Second, func() { fired++ })
	if !tm.Stop() {
		t.Fatal("Stop of pending timer returned false")
	}
	if tm.Stop() {
		t.Fatal("second Stop returned true")
	}
	c.AfterFunc(time.Second, func() {
		c.AfterFunc(time.Second, func() { fired += 10 })
	})
	c.Advance(5 * time.Second)
	if fired != 10 {
		t.Fatalf("fired = %d, want 10 (stopped timer must not fire, chained one must)", fired)
	}
	if c.Pending() != 0 {
		t.Fatalf("pending = %d", c.Pending())
	}
}

func TestRealAfterFunc(t *testing.T) {
	done := make(chan struct{})
	Real{}.AfterFunc(time.Millisecond, func() { close(done) })
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("real timer did not fire")
	}
}
