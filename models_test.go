package main

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sharedModels is the read-only model mirror CI provides beside the repo.
func sharedModels(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("MODEL_MIRROR")
	if dir == "" {
		dir = filepath.Join("..", "shared", "models")
	}
	if _, err := os.Stat(filepath.Join(dir, "mmod_human_face_detector.dat")); err != nil {
		t.Skipf("model mirror not found at %s (CI always has ../shared/models): %v", dir, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// copyFile copies at most limit bytes (all when limit < 0) and optionally flips one byte.
func copyFile(t *testing.T, src, dst string, limit int64, flip bool) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	var r io.Reader = in
	if limit >= 0 {
		r = io.LimitReader(in, limit)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if flip {
		data[len(data)/2] ^= 0xff
	}
	if err := os.WriteFile(dst, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestMakeModels(t *testing.T) {
	mirror := sharedModels(t)
	const (
		resnet = "dlib_face_recognition_resnet_model_v1.dat"
		mmod   = "mmod_human_face_detector.dat"
		sp5    = "shape_predictor_5_face_landmarks.dat"
		yunet  = "face_detection_yunet_2022mar.onnx"
		mfn    = "mobilefacenet_sirius.onnx"
		fasV2  = "minifasnet_v2.onnx"
		fasV1  = "minifasnet_v1se.onnx"
	)
	// A checksum list without the mmod detector's SHA-256: dlib's official file is then known only
	// by its git blob id (models/GITBLOBS), as the official downloads are on a real install.
	sums, err := os.ReadFile(filepath.Join("models", "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, line := range strings.Split(string(sums), "\n") {
		if !strings.Contains(line, mmod) {
			kept = append(kept, line)
		}
	}
	noMMODSum := filepath.Join(t.TempDir(), "SHA256SUMS")
	if err := os.WriteFile(noMMODSum, []byte(strings.Join(kept, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		prepare func(t *testing.T, mirrorDir, modelsDir string)
		env     []string
		wantErr string // substring of stderr; "" means success
		wantOut string // substring of the output on success
	}{
		{
			name: "good mirror",
			prepare: func(t *testing.T, m, _ string) {
				for _, f := range []string{resnet, mmod, yunet, mfn, fasV2, fasV1} {
					copyFile(t, filepath.Join(mirror, f), filepath.Join(m, f), -1, false)
				}
			},
		},
		{
			name: "dlib's official file known by its git blob id only",
			prepare: func(t *testing.T, m, _ string) {
				for _, f := range []string{resnet, mmod, yunet, mfn, fasV2, fasV1} {
					copyFile(t, filepath.Join(mirror, f), filepath.Join(m, f), -1, false)
				}
			},
			env:     []string{"MODEL_SUMS=" + noMMODSum},
			wantOut: mmod + ": matches dlib's official file by git blob id",
		},
		{
			name: "a changed dlib file matches neither its checksum nor its git blob id",
			prepare: func(t *testing.T, m, _ string) {
				for _, f := range []string{resnet, yunet, mfn} {
					copyFile(t, filepath.Join(mirror, f), filepath.Join(m, f), -1, false)
				}
				copyFile(t, filepath.Join(mirror, mmod), filepath.Join(m, mmod), -1, true)
			},
			env:     []string{"MODEL_SUMS=" + noMMODSum},
			wantErr: mmod + ": ",
		},
		{
			name: "wrong checksum of an engine's ONNX file",
			prepare: func(t *testing.T, m, _ string) {
				for _, f := range []string{resnet, mmod, yunet} {
					copyFile(t, filepath.Join(mirror, f), filepath.Join(m, f), -1, false)
				}
				copyFile(t, filepath.Join(mirror, mfn), filepath.Join(m, mfn), -1, true)
			},
			wantErr: mfn + ": ",
		},
		{
			name: "truncated file in mirror",
			prepare: func(t *testing.T, m, _ string) {
				copyFile(t, filepath.Join(mirror, resnet), filepath.Join(m, resnet), 1<<20, false)
				copyFile(t, filepath.Join(mirror, mmod), filepath.Join(m, mmod), -1, false)
			},
			wantErr: resnet + ": ",
		},
		{
			name: "wrong checksum in mirror",
			prepare: func(t *testing.T, m, _ string) {
				copyFile(t, filepath.Join(mirror, resnet), filepath.Join(m, resnet), -1, false)
				copyFile(t, filepath.Join(mirror, mmod), filepath.Join(m, mmod), -1, true)
			},
			wantErr: mmod + ": ",
		},
		{
			name: "corrupt file already in models dir",
			prepare: func(t *testing.T, m, out string) {
				copyFile(t, filepath.Join(mirror, resnet), filepath.Join(out, resnet), 4096, false)
			},
			wantErr: resnet + ": ",
		},
		{
			name:    "missing everywhere",
			prepare: func(t *testing.T, m, out string) {},
			env:     []string{"DEBIAN_68=/nonexistent/shape_predictor_68_face_landmarks.dat"},
			wantErr: resnet + ": not found",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, out := t.TempDir(), t.TempDir()
			tc.prepare(t, m, out)
			cmd := exec.Command("bash", "scripts/models.sh")
			cmd.Env = append(os.Environ(), "MODEL_MIRROR="+m, "MODELS_DIR="+out, "MODEL_NO_DOWNLOAD=1")
			cmd.Env = append(cmd.Env, tc.env...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			cmd.Stdout = &stderr
			err := cmd.Run()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("models.sh failed: %v\n%s", err, stderr.String())
				}
				for _, f := range []string{resnet, mmod, sp5, yunet, mfn, fasV2, fasV1} {
					if fi, err := os.Stat(filepath.Join(out, f)); err != nil || fi.Size() < 1<<18 {
						t.Errorf("%s not in models dir after success: %v", f, err)
					}
				}
				if !strings.Contains(stderr.String(), tc.wantOut) {
					t.Errorf("output lacks %q:\n%s", tc.wantOut, stderr.String())
				}
				return
			}
			if err == nil {
				t.Fatalf("models.sh succeeded, want failure mentioning %q\n%s", tc.wantErr, stderr.String())
			}
			msg := stderr.String()
			if !strings.Contains(msg, "ERROR: "+tc.wantErr) || !strings.Contains(msg, "Fix:") {
				t.Errorf("error does not name the file and the fix; want %q in:\n%s", tc.wantErr, msg)
			}
			if n := strings.Count(msg, "ERROR:"); n != 1 {
				t.Errorf("want exactly one error message, got %d:\n%s", n, msg)
			}
		})
	}
}
