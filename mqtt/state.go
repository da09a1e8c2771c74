package mqtt

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// StateFile is the bridge's small state file in the data directory: the sequence numbers
// reserved so far and the lockdown.
const StateFile = "mqtt-state.json"

// seqBlock is how many sequence numbers are reserved by one write of the state file. A crash
// skips at most this many numbers (a collector sees a gap, never a duplicate number for two
// different events); a clean stop saves the exact number.
const seqBlock = 256

// persisted is the state file's content.
type persisted struct {
	Seq        uint64 `json:"seq"` // every number up to Seq may have been used
	Lockdown   bool   `json:"lockdown"`
	LockdownBy string `json:"lockdown_by,omitempty"`
}

func loadPersisted(dir string) (persisted, error) {
	var p persisted
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if errors.Is(err, os.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return p, fmt.Errorf("mqtt: state file: %w", err)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("mqtt: state file %s: %w", filepath.Join(dir, StateFile), err)
	}
	return p, nil
}

func savePersisted(dir string, p persisted) error {
	if err := writeFileAtomic(filepath.Join(dir, StateFile), mustJSON(p), 0o600); err != nil {
		return fmt.Errorf("mqtt: save state file: %w", err)
	}
	return nil
}
