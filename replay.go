package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/doorface/doorface/transport/client"
)

// Exit codes of `doorface replay`, documented in its usage text.
const (
	replayGranted      = 0 // the session was decided (by face), or the PIN was granted
	replayFailed       = 1 // a request failed or was refused, or the time ran out
	replayUsage        = 2 // bad flags or arguments
	replayPINRequested = 3 // the daemon asked for a PIN and none was given
	replayPINRefused   = 4 // the PIN given was not granted
	replayNoDecision   = 5 // no decision within --max-frames frames
)

const replayUsageText = `usage: doorface replay --server URL [--tls-fingerprint SHA256] [--fps N] [--pin-stdin] [--max-frames N] [--timeout D] [--no-events] FRAME...

Plays the door tablet: posts the frames (cycling) at --fps until the daemon decides, enters a PIN if
it asks for one (--pin-stdin: the PIN on standard input), and prints each answer and event. The door token comes from $DOORFACE_DOOR_TOKEN
(never from the command line, where other users could read it).

Exit codes: 0 decided (or PIN granted), 1 a request failed or was refused, 2 usage, 3 PIN asked
for but none given, 4 PIN not granted, 5 no decision within --max-frames.
`

// replayer plays the door tablet against a running daemon.
type replayer struct {
	c   *client.Client
	out io.Writer
	mu  sync.Mutex // guards writes to out
}

func (r *replayer) printf(format string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.out, format, a...)
}

// events prints the daemon's event stream until ctx ends.
func (r *replayer) events(ctx context.Context, ready chan<- struct{}) {
	defer close(ready)
	ch, err := r.c.Events(ctx)
	if err != nil {
		r.printf("events: %v\n", err)
		return
	}
	ready <- struct{}{}
	for e := range ch {
		r.printf("event %s %s\n", e.Name, e.Data)
	}
}

// jsonLine is v as one line of JSON, for the replay log.
func jsonLine(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func contentTypeOf(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".png":
		return "image/png"
	case ".jpg", ".jpeg":
		return "image/jpeg"
	default:
		return "text/plain"
	}
}

// replayMain implements `doorface replay`.
func replayMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	server := fs.String("server", "http://127.0.0.1:8080", "daemon base URL")
	fps := fs.Float64("fps", 10, "frames per second")
	pinStdin := fs.Bool("pin-stdin", false, "read a PIN from standard input, to enter if the daemon asks for one")
	maxFrames := fs.Int("max-frames", 50, "give up after this many frames")
	timeout := fs.Duration("timeout", 60*time.Second, "give up after this long")
	noEvents := fs.Bool("no-events", false, "do not follow the event stream")
	fingerprint := fs.String("tls-fingerprint", os.Getenv("DOORFACE_TLS_FINGERPRINT"), "the door's certificate SHA-256 (doorface tls fingerprint) to pin, for https (default $DOORFACE_TLS_FINGERPRINT)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), replayUsageText, "\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, stdout, stderr); !ok {
		return code
	}
	token := os.Getenv("DOORFACE_DOOR_TOKEN")
	pin := ""
	if *pinStdin {
		var err error
		if pin, err = readSecret(os.Stdin); err != nil {
			fmt.Fprintf(stderr, "replay: %v\n", err)
			return replayUsage
		}
	}
	if fs.NArg() == 0 || token == "" || *fps <= 0 {
		fmt.Fprint(stderr, replayUsageText)
		return replayUsage
	}
	frames := make([][]byte, fs.NArg())
	for i, p := range fs.Args() {
		b, err := os.ReadFile(p)
		if err != nil {
			fmt.Fprintf(stderr, "replay: %v\n", err)
			return replayFailed
		}
		frames[i] = b
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var hc *http.Client
	if *fingerprint != "" {
		hc = client.Pinned(*fingerprint)
	}
	r := &replayer{c: client.New(*server, token, hc), out: stdout}
	evCtx, stopEvents := context.WithCancel(ctx)
	evDone := make(chan struct{})
	if !*noEvents {
		ready := make(chan struct{}, 1)
		go func() { r.events(evCtx, ready); close(evDone) }()
		<-ready
	} else {
		close(evDone)
	}
	code := r.play(ctx, frames, fs.Args(), *fps, *maxFrames, pin)
	if !*noEvents {
		time.Sleep(200 * time.Millisecond) // let the last events arrive before closing the stream
	}
	stopEvents()
	<-evDone
	return code
}

// play posts frames until the daemon decides, asks for a PIN, or refuses. Its output, one line
// each: "start <RFC 3339 time>" as the first frame is posted; "answer <status> <round trip>
// <body>" per frame; "pin <status> <body>" for a PIN; last, "result <outcome> session=<id>
// frames=<n> elapsed=<time since start>", where outcome is the decision's, "pin_requested",
// "refused" or "no_decision".
func (r *replayer) play(ctx context.Context, frames [][]byte, names []string, fps float64, maxFrames int, pin string) int {
	every := time.Duration(float64(time.Second) / fps)
	tick := time.NewTicker(every)
	defer tick.Stop()
	start := time.Now()
	r.printf("start %s\n", start.Format(time.RFC3339Nano))
	session, outcome, posted := "", "no_decision", 0
	defer func() {
		r.printf("result %s session=%s frames=%d elapsed=%s\n", outcome, session, posted, time.Since(start).Round(time.Millisecond))
	}()
	for i := 0; i < maxFrames; i++ {
		name := names[i%len(names)]
		sent := time.Now()
		a, err := r.c.PostFrame(ctx, session, contentTypeOf(name), frames[i%len(frames)])
		status := client.Status(err)
		if err != nil && status == 0 {
			r.printf("error %v\n", err)
			return replayFailed
		}
		posted++
		rtt := float64(time.Since(sent).Microseconds()) / 1000
		var ce *client.Error
		if errors.As(err, &ce) {
			r.printf("answer %d %.1fms %s\n", status, rtt, bytes.TrimSpace(ce.Body))
		} else {
			r.printf("answer %d %.1fms %s\n", http.StatusOK, rtt, jsonLine(a))
		}
		if a.Session != "" {
			session = a.Session
		}
		switch {
		case status == http.StatusTooManyRequests:
		case err != nil:
			outcome = "refused"
			return replayFailed
		case a.Decision != nil:
			outcome = a.Decision.Outcome
			return replayGranted
		case a.State == "PinFallback":
			outcome = "pin_requested"
			if pin == "" {
				return replayPINRequested
			}
			p, err := r.c.EnterPIN(ctx, a.Session, pin)
			if err != nil && client.Status(err) == 0 {
				r.printf("error %v\n", err)
				return replayFailed
			}
			if errors.As(err, &ce) {
				r.printf("pin %d %s\n", ce.Status, bytes.TrimSpace(ce.Body))
			} else {
				r.printf("pin %d %s\n", http.StatusOK, jsonLine(p))
			}
			if p.Outcome != "" {
				outcome = p.Outcome
			}
			if err == nil && p.Outcome == "granted" {
				return replayGranted
			}
			return replayPINRefused
		}
		select {
		case <-ctx.Done():
			r.printf("error %v\n", errors.New("timeout"))
			return replayFailed
		case <-tick.C:
		}
	}
	return replayNoDecision
}
