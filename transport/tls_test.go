package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/doorface/doorface/transport/client"
)

// TestSelfSignedCertificate: the first start makes a certificate with a private key (0600); later
// starts load the same one; a key other users can read is refused; the server speaks TLS 1.2+
// with AEAD suites only, and a client pinning the fingerprint connects.
func TestSelfSignedCertificate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	cert, created, err := LoadOrCreateCertificate(dir, now)
	if err != nil || !created {
		t.Fatalf("first start: created %v, %v", created, err)
	}
	st, err := os.Stat(filepath.Join(dir, KeyFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v, %v; want 0600", st.Mode().Perm(), err)
	}
	again, created, err := LoadOrCreateCertificate(dir, now.Add(time.Hour))
	if err != nil || created || Fingerprint(again) != Fingerprint(cert) {
		t.Fatalf("second start: created %v, fingerprint %s vs %s, %v", created, Fingerprint(again), Fingerprint(cert), err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil || !slices.Contains(leaf.DNSNames, "localhost") || leaf.NotAfter.Before(now.AddDate(9, 0, 0)) {
		t.Fatalf("certificate: %v names %v until %v", err, leaf.DNSNames, leaf.NotAfter)
	}
	if len(strings.Split(Fingerprint(cert), ":")) != 32 {
		t.Fatalf("fingerprint %q is not a SHA-256", Fingerprint(cert))
	}

	cfg := ServerTLS(cert)
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Fatalf("MinVersion %x", cfg.MinVersion)
	}
	for _, id := range cfg.CipherSuites {
		name := tls.CipherSuiteName(id)
		if !strings.Contains(name, "GCM") && !strings.Contains(name, "CHACHA20_POLY1305") || !strings.HasPrefix(name, "TLS_ECDHE_") {
			t.Fatalf("suite %s is not ECDHE with an AEAD cipher", name)
		}
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	srv.TLS = cfg
	srv.StartTLS()
	defer srv.Close()
	pinned := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, // the pin below is the check
		VerifyConnection: func(cs tls.ConnectionState) error {
			if Fingerprint(tls.Certificate{Certificate: [][]byte{cs.PeerCertificates[0].Raw}}) != Fingerprint(cert) {
				return errors.New("fingerprint mismatch")
			}
			return nil
		},
	}}}
	resp, err := pinned.Get(srv.URL)
	if err != nil {
		t.Fatalf("pinned client: %v", err)
	}
	resp.Body.Close()
	if resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("negotiated %x", resp.TLS.Version)
	}
	// The Go client's pinning, as replay and a laptop use it: the right fingerprint (with or
	// without colons) connects, another does not.
	for _, fp := range []string{Fingerprint(cert), strings.ReplaceAll(Fingerprint(cert), ":", "")} {
		if err := client.New(srv.URL, "", client.Pinned(fp)).Health(context.Background()); client.Status(err) == 0 && err != nil {
			t.Fatalf("pinned %q: %v", fp, err)
		}
	}
	wrong := strings.Repeat("00:", 31) + "00"
	if err := client.New(srv.URL, "", client.Pinned(wrong)).Health(context.Background()); err == nil || client.Status(err) != 0 {
		t.Fatalf("a wrong pin connected: %v", err)
	}
	old := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}}}
	if _, err := old.Get(srv.URL); err == nil {
		t.Fatal("a TLS 1.1 client was served")
	}

	if err := os.Chmod(filepath.Join(dir, KeyFile), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreateCertificate(dir, now); !errors.Is(err, ErrTLS) {
		t.Fatalf("world-readable key: %v, want ErrTLS", err)
	}
}
