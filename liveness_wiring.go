package main

import (
	"fmt"

	"github.com/doorface/doorface/config"
	"github.com/doorface/doorface/machine"
	"github.com/doorface/doorface/store"
	"github.com/doorface/doorface/vision"
	"github.com/prometheus/client_golang/prometheus"
)

// livenessOn says whether the daemon scores liveness: machine.liveness enforce or log.
func livenessOn(cfg config.Config) bool { return cfg.Machine.Liveness != machine.LivenessOff }

// visionConfig is the pipeline's configuration: the vision section, scoring liveness when the
// machine's liveness setting asks for it.
func visionConfig(cfg config.Config) vision.Config {
	v := cfg.Vision
	v.Liveness = livenessOn(cfg)
	return v
}

// checkModels checks the recognition engine's model files and, with liveness on, the liveness
// models: a missing one is one start-up error naming the file.
func checkModels(cfg config.Config) error {
	if err := vision.CheckModels(cfg.Models, cfg.Vision.Engine); err != nil {
		return err
	}
	if livenessOn(cfg) {
		if err := vision.CheckLivenessModels(cfg.Models); err != nil {
			return fmt.Errorf("liveness (machine.liveness=%s; set it to off to run without): %w", cfg.Machine.Liveness, err)
		}
	}
	return nil
}

// framePrint is the frame's Print for the machine's repeat rule; nil (the frame counts as
// distinct) if it cannot be made.
func framePrint(f *vision.Frame) []byte {
	p, err := f.Print()
	if err != nil {
		return nil
	}
	return p
}

// storeLiveness is the record's liveness evidence as stored: nil when liveness was off and
// nothing was scored or repeated (the record then keeps its old form).
func storeLiveness(l machine.LivenessEvidence) *store.Liveness {
	if (l.Mode == machine.LivenessOff || l.Mode == "") && len(l.Scores) == 0 && l.Repeats == 0 {
		return nil
	}
	return &store.Liveness{Mode: l.Mode, Result: l.Result, Scores: l.Scores, Mean: l.Mean, Repeats: l.Repeats}
}

// livenessMetrics registers the histogram of sessions' mean liveness scores by outcome and
// returns the observer of records that feeds it (sessions without a scored frame are not
// observed).
func livenessMetrics(reg *prometheus.Registry) func(machine.Attempt) {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "doorface_liveness_session_score",
		Help:    "Mean liveness score P(real) of a session's scored frames, by the session's outcome and liveness result.",
		Buckets: []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 1},
	}, []string{"outcome", "result"})
	reg.MustRegister(h)
	return func(a machine.Attempt) {
		if len(a.Liveness.Scores) == 0 {
			return
		}
		h.WithLabelValues(string(a.Outcome), a.Liveness.Result).Observe(a.Liveness.Mean)
	}
}
