package hw

import (
	"log/slog"

	"periph.io/x/conn/v3/pin"
)

// componentLogger returns log (or slog.Default() if nil) tagged component=hw.
func componentLogger(log *slog.Logger) *slog.Logger {
	if log == nil {
		log = slog.Default()
	}
	return log.With("component", "hw")
}

// pinName names a pin for logs; it tolerates nil.
func pinName(p pin.Pin) string {
	if p == nil {
		return ""
	}
	return p.Name()
}
