package web

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/doorface/doorface/transport/api"
)

// Health implements transport.Web: GET /v1/health answers the version, the models (sizes and
// SHA-256, read once), the certificate's fingerprint, the database size and the free disk space.
func (h *Handler) Health(w http.ResponseWriter, _ *http.Request) error {
	out := h.o.Health
	h.modelsOnce.Do(func() { h.models = h.readModels() })
	out.Models = h.models
	if h.o.CertFile != "" {
		out.TLS = true
		out.CertFingerprint = certFingerprint(h.o.CertFile)
	}
	if fi, err := os.Stat(h.o.DBFile); err == nil {
		out.DatabaseBytes = fi.Size()
	}
	if dir := out.DataDir; dir != "" {
		var st syscall.Statfs_t
		if err := syscall.Statfs(dir, &st); err == nil {
			out.DiskFreeBytes = int64(st.Bavail) * int64(st.Bsize)
			out.DiskTotalBytes = int64(st.Blocks) * int64(st.Bsize)
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// readModels reads each model file named in Options.Health.Models: size and SHA-256, or "" and 0
// when it is missing.
func (h *Handler) readModels() []api.Model {
	out := make([]api.Model, 0, len(h.o.Health.Models))
	for _, m := range h.o.Health.Models {
		m.Bytes, m.SHA256 = 0, ""
		if f, err := os.Open(filepath.Join(h.o.ModelsDir, m.Name)); err == nil {
			sum := sha256.New()
			if n, err := io.Copy(sum, f); err == nil {
				m.Bytes, m.SHA256 = n, hex.EncodeToString(sum.Sum(nil))
			}
			_ = f.Close()
		}
		out = append(out, m)
	}
	return out
}

// certFingerprint is the SHA-256 of the first certificate in a PEM file, as colon-separated hex
// (what a browser shows), or "" when it cannot be read.
func certFingerprint(file string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return ""
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
			return ""
		}
		sum := sha256.Sum256(blk.Bytes)
		hx := strings.ToUpper(hex.EncodeToString(sum[:]))
		parts := make([]string, 0, len(sum))
		for i := 0; i < len(hx); i += 2 {
			parts = append(parts, hx[i:i+2])
		}
		return strings.Join(parts, ":")
	}
}
