package machine

import "testing"

// TestThresholdIsStrict: a frame matches only when strictly closer than Threshold and with at least
// MinMargin, the same rule vision's calibration used to choose the threshold (vision.Config.Accept).
func TestThresholdIsStrict(t *testing.T) {
	cfg := kOfNConfig()
	tests := []struct {
		name     string
		distance float64
		margin   float64
		match    bool
	}{
		{"closer than the threshold", cfg.Threshold - 0.001, cfg.MinMargin, true},
		{"exactly at the threshold", cfg.Threshold, cfg.MinMargin, false},
		{"farther than the threshold", cfg.Threshold + 0.001, 0.5, false},
		{"margin just under the minimum", cfg.Threshold - 0.1, cfg.MinMargin - 0.001, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, cfg, Lockout{})
			st := r.mustFrame(near("alice", tc.distance, tc.margin))
			if got := st.Match != nil; got != tc.match {
				t.Fatalf("distance %.3f margin %.3f: matched=%v, want %v", tc.distance, tc.margin, got, tc.match)
			}
		})
	}
}
