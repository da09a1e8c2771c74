package mqtt

import "github.com/prometheus/client_golang/prometheus"

// metrics are the bridge's Prometheus metrics.
type metrics struct {
	connected prometheus.Gauge
	queued    prometheus.Gauge
	dropped   prometheus.Counter
	published prometheus.Counter
	commands  *prometheus.CounterVec
}

// newMetrics creates the metrics and registers them with reg (nil: not exported).
func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		connected: prometheus.NewGauge(prometheus.GaugeOpts{Name: "doorface_mqtt_connected",
			Help: "1 while the MQTT client is connected to the broker."}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{Name: "doorface_mqtt_queue_events",
			Help: "Events waiting to be published to the broker."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "doorface_mqtt_events_dropped_total",
			Help: "Events lost because the queue was full while the broker was unreachable."}),
		published: prometheus.NewCounter(prometheus.CounterOpts{Name: "doorface_mqtt_events_published_total",
			Help: "Events acknowledged by the broker."}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "doorface_mqtt_commands_total",
			Help: "Remote commands by command and result (ok, unsigned, bad_signature, stale, replay, bad_command, lockdown, failed)."},
			[]string{"cmd", "result"}),
	}
	if reg != nil {
		reg.MustRegister(m.connected, m.queued, m.dropped, m.published, m.commands)
	}
	return m
}
