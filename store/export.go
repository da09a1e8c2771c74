package store

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// CSVHeader is the first line of a CSV export; the columns are the Attempt JSON names.
var CSVHeader = []string{"seq", "id", "start", "end", "outcome", "method", "user", "name", "best_user",
	"best_distance", "best_margin", "frames", "pin_tries", "durations", "reason", "evidence",
	"evidence_pruned", "prev_hash", "hash", "evidence_sha256", "evidence_dropped",
	"policy", "duress", "mismatch", "open_for_s", "liveness"}

// csvColumnsV2 is the number of columns of exports written before the access-policy columns
// (policy, duress, mismatch, open_for_s); VerifyExport still reads them.
const csvColumnsV2 = 21

// csvColumnsV3 is the number of columns of exports written before the liveness column (a JSON
// object, "" when the record has none); VerifyExport still reads them.
const csvColumnsV3 = 25

// Export writes the attempts matching f to w as "csv" (CSVHeader, then one row per record,
// durations as a JSON object, times RFC 3339 UTC) or "jsonl" (one Attempt JSON object per line),
// in Start order, and returns how many records it wrote. It streams: memory stays constant
// whatever the number of records. When frameDir is not "", every evidence frame still kept is
// written there as a file named evidence-<seq>.jpg (zero-padded to 10 digits, the name the
// record's "evidence" field holds), derived from the record's sequence number only and never a
// path taken from the data, written through an os.Root of frameDir (mode 0600); records whose
// frame was pruned say evidence_pruned=true and have no file. Works on a read-only DB (see
// ExportFile) and on the daemon's open DB alike.
func (db *DB) Export(w io.Writer, format string, f Filter, frameDir string) (int, error) {
	var write func(Attempt) error
	var flush func() error
	switch format {
	case "csv":
		cw := csv.NewWriter(w)
		if err := cw.Write(CSVHeader); err != nil {
			return 0, fmt.Errorf("store: export: %w", err)
		}
		row := make([]string, len(CSVHeader))
		write = func(a Attempt) error {
			durations, err := json.Marshal(a.Durations)
			if err != nil {
				return err
			}
			liveness := ""
			if a.Liveness != nil {
				b, err := json.Marshal(a.Liveness)
				if err != nil {
					return err
				}
				liveness = string(b)
			}
			row = append(row[:0], strconv.FormatUint(a.Seq, 10), a.ID, a.Start.UTC().Format(time.RFC3339Nano),
				a.End.UTC().Format(time.RFC3339Nano), a.Outcome, a.Method, a.User, a.Name, a.BestUser,
				strconv.FormatFloat(a.BestDistance, 'g', -1, 64), strconv.FormatFloat(a.BestMargin, 'g', -1, 64),
				strconv.Itoa(a.Frames), strconv.Itoa(a.PinTries), string(durations), a.Reason, a.Evidence,
				strconv.FormatBool(a.EvidencePruned), a.PrevHash, a.Hash, a.EvidenceSHA256,
				strconv.FormatBool(a.EvidenceDropped), a.Policy, strconv.FormatBool(a.Duress), a.Mismatch,
				strconv.FormatFloat(a.OpenForS, 'g', -1, 64), liveness)
			return cw.Write(row)
		}
		flush = func() error { cw.Flush(); return cw.Error() }
	case "jsonl":
		bw := bufio.NewWriterSize(w, 64<<10)
		enc := json.NewEncoder(bw)
		write = func(a Attempt) error { return enc.Encode(a) }
		flush = bw.Flush
	default:
		return 0, fmt.Errorf("store: export %q: %w", format, ErrFormat)
	}
	var root *os.Root // frames are written only inside frameDir, whatever a name says
	if frameDir != "" {
		if err := os.MkdirAll(frameDir, 0o700); err != nil {
			return 0, fmt.Errorf("store: export frames to %s: %w", frameDir, err)
		}
		var err error
		if root, err = os.OpenRoot(frameDir); err != nil {
			return 0, fmt.Errorf("store: export frames to %s: %w", frameDir, err)
		}
		defer root.Close()
	}
	n, frames := 0, 0
	err := db.Attempts(f, func(a Attempt) error {
		if frameDir != "" && a.Evidence != "" && !a.EvidencePruned {
			jpeg, err := db.frame(a.Evidence)
			switch {
			case errors.Is(err, ErrPruned):
				a.EvidencePruned = true // pruned between the scan and now
			case err != nil:
				return err
			default:
				// The file name comes from the record's sequence number alone, never from the
				// stored evidence name: a forged name must not choose where the export writes.
				name := evidenceKey(a.Seq)
				if err := root.WriteFile(name, jpeg, 0o600); err != nil {
					return fmt.Errorf("store: export frame of record %d: %w", a.Seq, err)
				}
				frames++
			}
		}
		if err := write(a); err != nil {
			return fmt.Errorf("store: export record %d: %w", a.Seq, err)
		}
		n++
		return nil
	})
	if ferr := flush(); err == nil && ferr != nil {
		err = fmt.Errorf("store: export: %w", ferr)
	}
	if err != nil {
		return n, wrapf(err, "export")
	}
	db.log.Info("audit exported", "format", format, "records", n, "frames", frames)
	return n, nil
}

// frame reads the JPEG under an evidence key in its own short transaction.
func (db *DB) frame(key string) ([]byte, error) {
	var out []byte
	err := db.view(func(tx *bolt.Tx) error {
		var err error
		out, err = frameTx(tx, key)
		return err
	})
	return out, err
}

// ExportFile is the offline export: it opens the database file at path read-only (shared lock,
// waiting at most o.OpenTimeout, then ErrLocked with a hint that the daemon holds it), checks
// it, exports as Export does and closes it. o.ReadOnly is forced; the PIN key is not needed.
func ExportFile(path string, w io.Writer, format string, f Filter, frameDir string, o Options) (int, error) {
	o.ReadOnly = true
	db, err := Open(path, o)
	if err != nil {
		return 0, err
	}
	n, err := db.Export(w, format, f, frameDir)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// Compact writes a compacted copy of the closed database src to the new file dst (bbolt never
// shrinks its file; this is `doorface db compact`). dst must not exist (ErrExists). src is
// opened read-only and ErrLocked is returned when the daemon holds it. The copy is checked
// with bbolt's consistency check and fsync'd. The PIN key file is not part of the database:
// keep pin.key beside dst.
func Compact(src, dst string) error {
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("store: compact to %s: %w", dst, ErrExists)
	}
	in, err := bolt.Open(src, 0o600, &bolt.Options{ReadOnly: true, Timeout: DefaultOpenTimeout})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return fmt.Errorf("store: compact %s: %w", src, ErrLocked)
		}
		return fmt.Errorf("store: compact: open %s: %w", src, err)
	}
	defer in.Close()
	out, err := bolt.Open(dst, 0o600, &bolt.Options{Timeout: DefaultOpenTimeout})
	if err != nil {
		return fmt.Errorf("store: compact: create %s: %w", dst, err)
	}
	if err := bolt.Compact(out, in, 64<<20); err != nil {
		out.Close()
		return fmt.Errorf("store: compact %s to %s: %w", src, dst, err)
	}
	err = out.View(func(tx *bolt.Tx) error {
		var problems []error
		for e := range tx.Check() {
			problems = append(problems, e)
		}
		return errors.Join(problems...)
	})
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("store: compacted copy %s: %w", dst, err)
	}
	return nil
}
