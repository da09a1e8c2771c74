package transport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Names of the self-signed certificate and its key in the data directory.
const (
	CertFile = "tls.crt"
	KeyFile  = "tls.key"
)

// ErrTLS is wrapped by the certificate functions: a certificate or key that cannot be read,
// parsed or created, or a key file that other users can read.
var ErrTLS = errors.New("transport: TLS certificate problem")

// LoadOrCreateCertificate returns the data directory's certificate, creating a self-signed one
// (ECDSA P-256, ten years, for this host's names and addresses and localhost) with its key at mode
// 0600 when there is none. created says it was made now: pin its Fingerprint in the tablet.
func LoadOrCreateCertificate(dataDir string, now time.Time) (cert tls.Certificate, created bool, err error) {
	certPath, keyPath := filepath.Join(dataDir, CertFile), filepath.Join(dataDir, KeyFile)
	if _, err := os.Stat(certPath); err == nil {
		cert, err := LoadCertificate(certPath, keyPath)
		return cert, false, err
	} else if !errors.Is(err, os.ErrNotExist) {
		return tls.Certificate{}, false, fmt.Errorf("%w: %w", ErrTLS, err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return tls.Certificate{}, false, fmt.Errorf("%w: %w", ErrTLS, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, false, fmt.Errorf("%w: %w", ErrTLS, err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, false, fmt.Errorf("%w: %w", ErrTLS, err)
	}
	host, _ := os.Hostname()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "doorface " + host, Organization: []string{"doorface"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if host != "" {
		tmpl.DNSNames = append(tmpl.DNSNames, host, host+".local")
	}
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ipn.IP)
			}
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, false, fmt.Errorf("%w: %w", ErrTLS, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, false, fmt.Errorf("%w: %w", ErrTLS, err)
	}
	// The key first, private from its first byte; the certificate last, so a crash between the
	// two leaves no certificate without its key.
	if err := writePEM(keyPath, "EC PRIVATE KEY", keyDER, 0o600); err != nil {
		return tls.Certificate{}, false, err
	}
	if err := writePEM(certPath, "CERTIFICATE", der, 0o644); err != nil {
		return tls.Certificate{}, false, err
	}
	cert, err = LoadCertificate(certPath, keyPath)
	return cert, true, err
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrTLS, err)
	}
	if err := pem.Encode(f, &pem.Block{Type: typ, Bytes: der}); err != nil {
		f.Close()
		return fmt.Errorf("%w: %s: %w", ErrTLS, path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("%w: %s: %w", ErrTLS, path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrTLS, path, err)
	}
	return nil
}

// LoadCertificate loads a certificate and its key, refusing a key file other users can read.
func LoadCertificate(certPath, keyPath string) (tls.Certificate, error) {
	st, err := os.Stat(keyPath)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%w: %w", ErrTLS, err)
	}
	if st.Mode().Perm()&0o007 != 0 {
		return tls.Certificate{}, fmt.Errorf("%w: key %s has mode %04o: other users can read it; chmod 600 it",
			ErrTLS, keyPath, st.Mode().Perm())
	}
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("%w: %w", ErrTLS, err)
	}
	return cert, nil
}

// Fingerprint is the SHA-256 of the certificate (its first, leaf certificate), as colon-separated
// hex: what a tablet pins.
func Fingerprint(cert tls.Certificate) string {
	if len(cert.Certificate) == 0 {
		return ""
	}
	sum := sha256.Sum256(cert.Certificate[0])
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// ServerTLS is the server's TLS configuration: TLS 1.2 or newer, and on 1.2 only ECDHE key
// exchange with AEAD ciphers (1.3's suites are all AEAD).
func ServerTLS(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}
}
