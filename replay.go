package main

import (
	"bufio"
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
)

// replayAnswer is the part of a /v1/frames answer the replayer follows.
type replayAnswer struct {
	Session  string          `json:"session"`
	State    string          `json:"state"`
	Decision json.RawMessage `json:"decision"`
	Error    string          `json:"error"`
}

// replayer plays the door tablet against a running daemon.
type replayer struct {
	server, token string
	client        *http.Client
	out           io.Writer
	mu            sync.Mutex // guards writes to out
}

func (r *replayer) printf(format string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.out, format, a...)
}

func (r *replayer) do(ctx context.Context, method, path, contentType string, body []byte, session string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(r.server, "/")+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("replay: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if session != "" {
		req.Header.Set("X-Door-Session", session)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("replay %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, data, err
}

// events prints the daemon's event stream until ctx ends.
func (r *replayer) events(ctx context.Context, ready chan<- struct{}) {
	defer close(ready)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(r.server, "/")+"/v1/events", nil)
	if err != nil {
		return
	}
	req.Header.Set("Authorization", "Bearer "+r.token)
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		r.printf("events: %v\n", err)
		return
	}
	defer resp.Body.Close()
	ready <- struct{}{}
	sc := bufio.NewScanner(resp.Body)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			r.printf("event %s %s\n", event, strings.TrimPrefix(line, "data: "))
		}
	}
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
	token := fs.String("token", os.Getenv("DOORFACE_DOOR_TOKEN"), "door token (default $DOORFACE_DOOR_TOKEN)")
	fps := fs.Float64("fps", 10, "frames per second")
	pin := fs.String("pin", "", "PIN to enter if the daemon asks for one")
	maxFrames := fs.Int("max-frames", 50, "give up after this many frames")
	timeout := fs.Duration("timeout", 60*time.Second, "give up after this long")
	noEvents := fs.Bool("no-events", false, "do not follow the event stream")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 || *token == "" || *fps <= 0 {
		fmt.Fprintln(stderr, "usage: doorface replay --server URL --token T [--fps N] [--pin PIN] FRAME...")
		return 2
	}
	frames := make([][]byte, fs.NArg())
	for i, p := range fs.Args() {
		b, err := os.ReadFile(p)
		if err != nil {
			fmt.Fprintf(stderr, "replay: %v\n", err)
			return 1
		}
		frames[i] = b
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	r := &replayer{server: *server, token: *token, client: &http.Client{Timeout: 30 * time.Second}, out: stdout}
	evCtx, stopEvents := context.WithCancel(ctx)
	evDone := make(chan struct{})
	if !*noEvents {
		ready := make(chan struct{}, 1)
		go func() { r.events(evCtx, ready); close(evDone) }()
		<-ready
	} else {
		close(evDone)
	}
	code := r.play(ctx, frames, fs.Args(), *fps, *maxFrames, *pin)
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
		status, body, err := r.do(ctx, http.MethodPost, "/v1/frames", contentTypeOf(name), frames[i%len(frames)], session)
		if err != nil {
			r.printf("error %v\n", err)
			return 1
		}
		posted++
		r.printf("answer %d %.1fms %s\n", status, float64(time.Since(sent).Microseconds())/1000, bytes.TrimSpace(body))
		var a replayAnswer
		_ = json.Unmarshal(body, &a)
		if a.Session != "" {
			session = a.Session
		}
		switch {
		case status == http.StatusTooManyRequests:
		case status != http.StatusOK:
			outcome = "refused"
			return 1
		case a.Decision != nil && string(a.Decision) != "null":
			var d struct{ Outcome string }
			_ = json.Unmarshal(a.Decision, &d)
			outcome = d.Outcome
			return 0
		case a.State == "PinFallback":
			outcome = "pin_requested"
			if pin == "" {
				return 3
			}
			pb, _ := json.Marshal(map[string]string{"session": a.Session, "pin": pin})
			st, out, err := r.do(ctx, http.MethodPost, "/v1/pin", "application/json", pb, "")
			if err != nil {
				r.printf("error %v\n", err)
				return 1
			}
			r.printf("pin %d %s\n", st, bytes.TrimSpace(out))
			var p struct{ Outcome string }
			_ = json.Unmarshal(out, &p)
			if p.Outcome != "" {
				outcome = p.Outcome
			}
			if st == http.StatusOK && p.Outcome == "granted" {
				return 0
			}
			return 4
		}
		select {
		case <-ctx.Done():
			r.printf("error %v\n", errors.New("timeout"))
			return 1
		case <-tick.C:
		}
	}
	return 5
}
