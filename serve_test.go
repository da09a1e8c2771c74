package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/doorface/doorface/clock"
	"github.com/doorface/doorface/config"
	"github.com/doorface/doorface/hw"
	"github.com/doorface/doorface/internal/testkit"
)

// TestServeTLS: with tls.cert and tls.key the daemon answers HTTPS only, with the configured
// certificate; a plain-HTTP request to the port gets no answer from the API; a certificate that
// cannot be loaded refuses to start with an error naming TLS, and leaves the relay locked.
func TestServeTLS(t *testing.T) {
	models := testkit.Models(t)
	dir := t.TempDir()
	certPEM, keyPEM := selfSignedCert(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	withTLS := func(cert, key string) config.Config {
		cfg := config.Default()
		cfg.Data, cfg.Models, cfg.HW, cfg.Listen = t.TempDir(), models, "sim", testkit.FreePort(t)
		cfg.Vision.Workers = 1
		cfg.TLS.Cert, cfg.TLS.Key = cert, key
		return cfg
	}
	log := slog.New(slog.DiscardHandler)

	t.Run("serves HTTPS with the configured certificate", func(t *testing.T) {
		cfg := withTLS(certFile, keyFile)
		runInProcess(t, cfg, log)

		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(certPEM)
		client := &http.Client{Timeout: 5 * time.Second,
			Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "doorface.local"}}}
		var resp *http.Response
		var err error
		waitFor(t, "the HTTPS API", func() bool {
			resp, err = client.Get("https://" + cfg.Listen + "/healthz")
			return err == nil
		})
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
			t.Fatalf("healthz over HTTPS: %d, tls %+v", resp.StatusCode, resp.TLS)
		}
		plain := &http.Client{Timeout: 5 * time.Second}
		if presp, err := plain.Get("http://" + cfg.Listen + "/healthz"); err == nil {
			presp.Body.Close()
			if presp.StatusCode == http.StatusOK {
				t.Fatal("plain HTTP answered 200 on the TLS port")
			}
		}
		untrusting := &http.Client{Timeout: 5 * time.Second}
		if _, err := untrusting.Get("https://" + cfg.Listen + "/healthz"); err == nil {
			t.Fatal("a client that does not trust the certificate connected")
		}
	})

	t.Run("a bad certificate refuses to start", func(t *testing.T) {
		cfg := withTLS(keyFile, certFile) // swapped: neither parses as what it should be
		b, err := hw.OpenBoard(hw.ModeSim, cfg.Pins, clock.Real{}, log)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Halt()
		d, err := newDaemon(cfg, b, log, io.Discard)
		if err == nil {
			d.close()
			t.Fatal("newDaemon with a swapped certificate and key succeeded")
		}
		if !strings.Contains(err.Error(), "tls") || b.Relay.Unlocked() {
			t.Fatalf("err = %v, relay unlocked %v; want a TLS error and the relay locked", err, b.Relay.Unlocked())
		}
	})
}

// selfSignedCert returns a PEM certificate for doorface.local and 127.0.0.1, and its key.
func selfSignedCert(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "doorface.local"},
		DNSNames:     []string{"doorface.local"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}
