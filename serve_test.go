package main

import (
	"encoding/json"
	"net/http"
	"testing"
)

func TestServeAnswersHealthz(t *testing.T) {
	d := startDaemon(t, nil, "--data", t.TempDir(), "--hw", "sim")
	resp, err := http.Get(d.url("/healthz"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct{ Status string }
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || body.Status != "ok" {
		t.Fatalf("healthz = %d %+v", resp.StatusCode, body)
	}
}
