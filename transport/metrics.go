package transport

import (
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/doorface/doorface/machine"
)

// metrics are the Prometheus collectors of one Server, registered on Options.Registry.
type metrics struct {
	frames         *prometheus.CounterVec
	decisions      *prometheus.CounterVec
	stage          *prometheus.HistogramVec
	requests       *prometheus.CounterVec
	requestSeconds *prometheus.HistogramVec
	queue          prometheus.Gauge
	state          *prometheus.GaugeVec
	sseClients     prometheus.Gauge
	sseDropped     prometheus.Counter
	doorEvents     *prometheus.CounterVec
	alarms         *prometheus.CounterVec

	// mu serializes setState so exactly one state reads 1.
	mu           sync.Mutex
	connsRefused prometheus.Counter
}

// qualities are the frame qualities pre-declared at zero.
var qualities = []string{"ok", "no_face", "multiple_faces", "too_small", "too_dark", "too_bright", "blurry"}

func newMetrics(reg *prometheus.Registry, queueSize int) (*metrics, error) {
	buckets := []float64{.005, .01, .025, .05, .1, .2, .4, .8, 1.6, 3.2}
	m := &metrics{
		frames: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "doorface_frames_total",
			Help: "Frames analysed, by quality."}, []string{"quality"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "doorface_decisions_total",
			Help: "Session decisions, by outcome and method."}, []string{"outcome", "method"}),
		stage: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "doorface_frame_stage_seconds",
			Help: "Latency of each stage of a frame request (decode, analyze, submit, total).", Buckets: buckets},
			[]string{"stage"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "doorface_http_requests_total",
			Help: "HTTP requests, by route and status code."}, []string{"route", "code"}),
		requestSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "doorface_http_request_seconds",
			Help: "HTTP request latency by route (event streams count their whole life).", Buckets: buckets},
			[]string{"route"}),
		queue: prometheus.NewGauge(prometheus.GaugeOpts{Name: "doorface_frame_queue_depth",
			Help: "Frames being read or analysed now."}),
		state: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "doorface_state",
			Help: "1 for the state the door machine is in, 0 for the others."}, []string{"state"}),
		sseClients: prometheus.NewGauge(prometheus.GaugeOpts{Name: "doorface_event_clients",
			Help: "Connected event-stream clients."}),
		sseDropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "doorface_event_clients_dropped_total",
			Help: "Event-stream clients dropped for being too slow."}),
		doorEvents: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "doorface_door_events_total",
			Help: "Door hardware events, by kind."}, []string{"kind"}),
		connsRefused: prometheus.NewCounter(prometheus.CounterOpts{Name: "doorface_http_connections_refused_total",
			Help: "Connections closed at accept for being over max_conns or max_conns_per_client."}),
		alarms: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "doorface_alarms_total",
			Help: "Alarms (duress, mismatch, failures, forced_open, held_open), by kind."}, []string{"kind"}),
	}
	capacity := prometheus.NewGauge(prometheus.GaugeOpts{Name: "doorface_frame_queue_capacity",
		Help: "Frames that may be read or analysed at once."})
	capacity.Set(float64(queueSize))
	for _, c := range []prometheus.Collector{m.frames, m.decisions, m.stage, m.requests, m.requestSeconds,
		m.queue, capacity, m.state, m.sseClients, m.sseDropped, m.doorEvents, m.connsRefused, m.alarms} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("transport: register metrics: %w", err)
		}
	}
	for _, q := range qualities {
		m.frames.WithLabelValues(q)
	}
	for _, st := range machine.States() {
		m.state.WithLabelValues(string(st))
	}
	for _, k := range []machine.AlarmKind{machine.AlarmDuress, machine.AlarmMismatch, machine.AlarmFailures,
		machine.AlarmForcedOpen, machine.AlarmHeldOpen} {
		m.alarms.WithLabelValues(string(k))
	}
	return m, nil
}

// setState marks st as the current state.
func (m *metrics) setState(st string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.state.Reset()
	for _, s := range machine.States() {
		m.state.WithLabelValues(string(s)).Set(0)
	}
	m.state.WithLabelValues(st).Set(1)
}
