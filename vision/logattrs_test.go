package vision

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestWithLogAttrs(t *testing.T) {
	var buf bytes.Buffer
	p := &Pipeline{logger: slog.New(slog.NewTextHandler(&buf, nil))}
	p.loggerFor(WithLogAttrs(context.Background(), "session", "abc123")).Info("line")
	p.loggerFor(context.Background()).Info("plain")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "session=abc123") || strings.Contains(lines[1], "session=") {
		t.Fatalf("log lines:\n%s", buf.String())
	}
}
