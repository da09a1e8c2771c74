package vision

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestCalibrate runs the calibration the defaults came from and checks that it still picks
// them and that its table agrees with the rates asserted in TestRecognitionRates.
func TestCalibrate(t *testing.T) {
	p := newTestPipeline(t, dlibConfig())
	c, err := Calibrate(context.Background(), p, filepath.Join(facesDir(t), "enroll-test"), 0.01, DlibMinMargin, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := c.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + b.String())
	if c.Photos != 50 || len(c.Skipped) != 1 || c.GenuineTrials != measuredGenuineTrials {
		t.Errorf("photos %d skipped %v genuine trials %d", c.Photos, c.Skipped, c.GenuineTrials)
	}
	if c.ThresholdAtFAR < DlibThreshold {
		t.Errorf("threshold for FAR <= 1%% is %.3f, below the default %.3f", c.ThresholdAtFAR, DlibThreshold)
	}
	var at *CalibrationRow
	for i := range c.Rows {
		if c.Rows[i].Threshold == DlibThreshold {
			at = &c.Rows[i]
		}
	}
	if at == nil {
		t.Fatal("no row at the default threshold")
	}
	if at.FalseAccepts != measuredStrangerFAs || at.MisIDs != measuredMisIDs || at.FalseRejects != measuredFalseRejects {
		t.Errorf("row at default: FA %d misID %d FR %d; want %d %d %d", at.FalseAccepts, at.MisIDs, at.FalseRejects,
			measuredStrangerFAs, measuredMisIDs, measuredFalseRejects)
	}
	if at.FAR > 0.01 || at.PairFAR > 0.01 {
		t.Errorf("default threshold exceeds 1%% FAR: %+v", at)
	}
	for _, want := range []string{"equal error rate", "threshold for per-frame FAR <= 1.0%", "session FRR"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q", want)
		}
	}
	if _, err := Calibrate(context.Background(), p, t.TempDir(), 0.01, DlibMinMargin, 2, 3); err == nil {
		t.Error("Calibrate of an empty directory succeeded")
	}
}

func TestIdentityOf(t *testing.T) {
	for in, want := range map[string]string{"raj3.png": "raj", "/x/Bona.jpg": "bona", "tzuyu2.jpg": "tzuyu", "a1b22.jpeg": "a1b"} {
		if got := IdentityOf(in); got != want {
			t.Errorf("IdentityOf(%q) = %q, want %q", in, got, want)
		}
	}
}
