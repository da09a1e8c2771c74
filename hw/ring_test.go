package hw

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spitest"
)

// ws2812Frame is the SPI stream nrzled sends for px at 2.5 MHz, written out from the WS2812
// datasheet rather than from the driver: 24 low bits of reset, then per LED the bytes G, R, B
// MSB first with each bit as four SPI bits (0 = 1000, 1 = 1110), then 24 low bits again.
func ws2812Frame(px []pixel) []byte {
	out := []byte{0, 0, 0}
	for _, p := range px {
		for _, c := range []uint8{p.G, p.R, p.B} {
			for i := 7; i >= 1; i -= 2 {
				nib := func(bit uint8) byte {
					if bit != 0 {
						return 0xE
					}
					return 0x8
				}
				out = append(out, nib(c>>i&1)<<4|nib(c>>(i-1)&1))
			}
		}
	}
	return append(out, 0, 0, 0)
}

// apa102Frame is the SPI stream of an APA102 frame from its datasheet: a 32-bit zero start
// frame, per LED 0b111 + 5-bit global brightness (full: 0xFF) then B, G, R, then an end frame
// of at least n/2 clock edges of ones (periph sends n/16+1 bytes of 0xFF).
func apa102Frame(px []pixel) []byte {
	out := []byte{0, 0, 0, 0}
	for _, p := range px {
		out = append(out, 0xFF, p.B, p.G, p.R)
	}
	return append(out, bytes.Repeat([]byte{0xFF}, len(px)/16+1)...)
}

// lastWrite returns the newest write recorded on rec.
func lastWrite(rec *spitest.Record) []byte {
	rec.Lock()
	defer rec.Unlock()
	if len(rec.Ops) == 0 {
		return nil
	}
	return rec.Ops[len(rec.Ops)-1].W
}

// eventually polls cond for up to 5s of real time: the ring's writer is its own goroutine.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func hexList(px []pixel) []string {
	s := make([]string, len(px))
	for i, p := range px {
		s[i] = p.hex()
	}
	return s
}

func TestRingSPIEncoding(t *testing.T) {
	encoders := map[string]func([]pixel) []byte{LEDWS2812: ws2812Frame, LEDAPA102: apa102Frame}
	for _, tc := range []struct {
		name       string
		brightness int
		show       func(*LED)
		want       []pixel
	}{
		// Amber on every LED at full brightness: the channel order (GRB, BGR) shows.
		{"pin fallback amber", 255, func(l *LED) { l.Show(PatternPinFallback) },
			[]pixel{{255, 96, 0}, {255, 96, 0}, {255, 96, 0}, {255, 96, 0}}},
		// The spinner's first frame at half brightness: head on LED 0, tail on 3 and 2.
		{"receiving spinner", 128, func(l *LED) { l.Show(PatternReceiving) },
			[]pixel{{0, 0, 128}, {0, 0, 0}, {0, 0, 8}, {0, 0, 32}}},
		// Enrollment, 2 of 3 templates: round(4*2/3) = 3 LEDs white.
		{"progress 2 of 3", 255, func(l *LED) { l.ShowProgress(2, 3) },
			[]pixel{{255, 255, 255}, {255, 255, 255}, {255, 255, 255}, {0, 0, 0}}},
	} {
		for _, kind := range []string{LEDWS2812, LEDAPA102} {
			t.Run(tc.name+"/"+kind, func(t *testing.T) {
				clk := newFake()
				rec := &spitest.Record{}
				log, _ := newLogger()
				l, err := NewRing(rec, RingConfig{Kind: kind, Count: 4, Brightness: tc.brightness}, clk, log)
				if err != nil {
					t.Fatal(err)
				}
				defer l.Halt()
				tc.show(l)
				want := encoders[kind](tc.want)
				eventually(t, "the frame on SPI", func() bool { return bytes.Equal(lastWrite(rec), want) })
				eventually(t, "Colors", func() bool { return slices.Equal(l.Colors(), hexList(tc.want)) })
				if l.Fault() != nil {
					t.Fatalf("fault %v", l.Fault())
				}
				t.Logf("%s %s frame %v: % x", kind, tc.name, hexList(tc.want), want)
			})
		}
	}
}

// offFrame is what the drivers' Halt writes for n LEDs (n < 16).
func offFrame(kind string, n int) []byte {
	if kind == LEDWS2812 {
		// nrzled: every data bit a zero (0x88 = two zero bits).
		return append(append([]byte{0, 0, 0}, bytes.Repeat([]byte{0x88}, 12*n)...), 0, 0, 0)
	}
	// apa102: every LED black at brightness 1 (0xE1).
	return append(append([]byte{0, 0, 0, 0}, bytes.Repeat([]byte{0xE1, 0, 0, 0}, n)...), 0xFF)
}

func TestRingHaltTurnsEveryLEDOff(t *testing.T) {
	for _, kind := range []string{LEDWS2812, LEDAPA102} {
		want := offFrame(kind, 3)
		t.Run(kind, func(t *testing.T) {
			clk := newFake()
			rec := &spitest.Record{}
			log, _ := newLogger()
			l, err := NewRing(rec, RingConfig{Kind: kind, Count: 3}, clk, log)
			if err != nil {
				t.Fatal(err)
			}
			l.Show(PatternUnlocking)
			eventually(t, "unlocking green", func() bool { c := l.Colors(); return len(c) > 0 && c[0] == "#006000" })
			if err := l.Halt(); err != nil {
				t.Fatal(err)
			}
			if got := lastWrite(rec); !bytes.Equal(got, want) {
				t.Fatalf("last write after Halt\n got % x\nwant % x", got, want)
			}
			if c := l.Colors(); !slices.Equal(c, []string{"#000000", "#000000", "#000000"}) {
				t.Fatalf("Colors after Halt %v", c)
			}
			n := len(rec.Ops)
			l.Show(PatternFault)
			l.ShowProgress(1, 2)
			clk.Advance(time.Minute)
			if len(rec.Ops) != n || clk.Pending() != 0 {
				t.Fatalf("writes (%d -> %d) or timers (%d) after Halt", n, len(rec.Ops), clk.Pending())
			}
		})
	}
}

// faultyPort is an SPI port whose writes fail or block on demand; it is wrapped in a
// spitest.Record, in the manner of periph's own fakes.
type faultyPort struct {
	spitest.Record
	mu      sync.Mutex
	fail    bool
	block   chan struct{} // a write waits for it to be closed; nil for none
	entered chan struct{} // receives one value per write that blocks
}

func (p *faultyPort) set(fail bool, block chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail, p.block = fail, block
}

func (p *faultyPort) Connect(f physic.Frequency, m spi.Mode, bits int) (spi.Conn, error) {
	c, err := p.Record.Connect(f, m, bits)
	if err != nil {
		return nil, err
	}
	return &faultyConn{Conn: c, p: p}, nil
}

type faultyConn struct {
	spi.Conn
	p *faultyPort
}

func (c *faultyConn) Tx(w, r []byte) error {
	c.p.mu.Lock()
	fail, block := c.p.fail, c.p.block
	c.p.mu.Unlock()
	if block != nil {
		c.p.entered <- struct{}{}
		<-block
	}
	if fail {
		return errors.New("spidev0.0: write: remote I/O error")
	}
	return c.Conn.Tx(w, r)
}

func (c *faultyConn) Duplex() conn.Duplex { return conn.Half }

func TestRingWriteFailureIsAFaultAndNeverBlocks(t *testing.T) {
	for _, kind := range []string{LEDWS2812, LEDAPA102} {
		t.Run(kind+"/failing write", func(t *testing.T) {
			clk := newFake()
			log, logs := newLogger()
			p := &faultyPort{}
			l, err := NewRing(p, RingConfig{Kind: kind, Count: 4}, clk, log)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Halt()
			eventually(t, "the first frame", func() bool { return len(l.Colors()) == 4 })
			p.set(true, nil)
			l.Show(PatternUnlocking)
			eventually(t, "the fault", func() bool { return l.Fault() != nil })
			if err := l.Fault(); !errors.Is(err, ErrWrite) || !strings.Contains(err.Error(), "remote I/O error") {
				t.Fatalf("Fault() = %v, want ErrWrite with the cause", err)
			}
			if c := l.Colors(); len(c) == 0 || c[0] == "#006000" {
				t.Fatalf("Colors %v report a frame that was never written", c)
			}
			if name, _ := l.Current(); name != PatternUnlocking {
				t.Fatalf("pattern %q: the failure stopped the pattern", name)
			}
			for range 20 { // a failing ring is logged once, not per frame
				l.Show(PatternDenied)
				clk.Advance(150 * time.Millisecond)
			}
			eventually(t, "the writer to drain", func() bool { return l.Fault() != nil })
			if n := strings.Count(logs.String(), "led write failed"); n != 1 {
				t.Fatalf("%d failure log lines, want 1:\n%s", n, logs)
			}
			p.set(false, nil)
			l.Show(PatternFault)                                        // fault: red SOS on the even LEDs, once denied has played
			clk.Advance(750 * time.Millisecond)                         // denied (900ms) was restarted 150ms ago
			sos := []string{"#600000", "#000000", "#600000", "#000000"} // red on the even LEDs
			eventually(t, "recovery", func() bool { return l.Fault() == nil && slices.Equal(l.Colors(), sos) })
			if !strings.Contains(logs.String(), "led write recovered") {
				t.Fatal("recovery not logged")
			}
		})
		t.Run(kind+"/blocked write", func(t *testing.T) {
			clk := newFake()
			p := &faultyPort{entered: make(chan struct{}, 100)}
			log, _ := newLogger()
			l, err := NewRing(p, RingConfig{Kind: kind, Count: 4}, clk, log)
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, "the first frame", func() bool { return len(l.Colors()) == 4 })
			block := make(chan struct{})
			p.set(false, block)
			l.Show(PatternRecognizing)
			<-p.entered // the writer is stuck inside Tx
			start := time.Now()
			for range 1000 { // the machine's side goes on: Show, ShowProgress, the pattern timers
				l.Show(PatternReceiving)
				l.ShowProgress(1, 4)
				l.Show(PatternDenied)
				clk.Advance(30 * time.Millisecond)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Fatalf("callers waited %v on a stuck SPI write", d)
			}
			if name, _ := l.Current(); name != PatternDenied && name != PatternProgress {
				t.Fatalf("pattern %q after the calls", name)
			}
			// Halt gives up after ringHaltWait on the clock, with an error.
			halted := make(chan error, 1)
			go func() { halted <- l.Halt() }()
			var herr error
			eventually(t, "Halt to give up", func() bool {
				clk.Advance(ringHaltWait)
				select {
				case herr = <-halted:
					return true
				default:
					return false
				}
			})
			if !errors.Is(herr, ErrWrite) {
				t.Fatalf("Halt with a stuck writer = %v, want ErrWrite", herr)
			}
			p.set(false, nil)
			close(block) // the writer finishes its write, then turns the ring off and exits
			eventually(t, "the off frame", func() bool { return bytes.Equal(lastWrite(&p.Record), offFrame(kind, 4)) })
		})
	}
}

func TestRingConfigErrors(t *testing.T) {
	clk := newFake()
	for _, tc := range []struct {
		name string
		port spi.Port
		cfg  RingConfig
	}{
		{"nil port", nil, RingConfig{Kind: LEDWS2812}},
		{"unknown kind", &spitest.Record{}, RingConfig{Kind: "neopixel"}},
		{"negative count", &spitest.Record{}, RingConfig{Kind: LEDWS2812, Count: -1}},
		{"too bright", &spitest.Record{}, RingConfig{Kind: LEDAPA102, Brightness: 256}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewRing(tc.port, tc.cfg, clk, nil); !errors.Is(err, ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
		})
	}
	if _, err := NewRing(&spitest.Record{}, RingConfig{Kind: LEDWS2812}, nil, nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("nil clock: %v", err)
	}
}
