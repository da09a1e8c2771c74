package main

import (
	"log/slog"
	"path/filepath"
	"runtime"
	"runtime/debug"

	"github.com/doorface/doorface/config"
	"github.com/doorface/doorface/transport"
	"github.com/doorface/doorface/transport/api"
	"github.com/doorface/doorface/vision"
	"github.com/doorface/doorface/web"
)

// newWeb builds the browser pages and their cookie sessions (package web) for the daemon.
func newWeb(cfg config.Config, tokens transport.Tokens, log *slog.Logger) (*web.Handler, error) {
	h := api.Health{Version: "(devel)", Commit: "unknown", Go: runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH,
		DataDir: cfg.Data}
	if bi, ok := debug.ReadBuildInfo(); ok {
		h.Version = bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				h.Commit = s.Value
			}
		}
	}
	for _, name := range vision.ModelFiles(cfg.Vision.Engine) {
		h.Models = append(h.Models, api.Model{Name: name})
	}
	certFile := cfg.TLS.Cert
	if certFile == "" && !cfg.TLS.InsecureHTTP {
		certFile = filepath.Join(cfg.Data, transport.CertFile) // the self-signed certificate
	}
	return web.New(web.Options{
		Tokens: tokens, TLS: !cfg.TLS.InsecureHTTP, Heartbeat: cfg.HTTP.Heartbeat,
		Health: h, ModelsDir: cfg.Models, CertFile: certFile, DBFile: filepath.Join(cfg.Data, dbFile),
		Logger: log,
	})
}
