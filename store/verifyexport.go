package store

import (
	"bufio"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"time"
)

// ExportRecordsName is the records file `audit export --out DIR` writes: DIR/audit.csv or
// DIR/audit.jsonl; evidence frames go to DIR/ExportFramesDir.
const (
	ExportRecordsName = "audit"
	ExportFramesDir   = "frames"
)

// VerifyExport checks an export folder as `audit export --out dir` writes it (dir/audit.csv or
// dir/audit.jsonl, frames in dir/frames) against the audit key and a head value exported
// earlier, without the database:
//
//   - every record's MAC under key, rebuilt from its exported fields (so an edited field, a
//     forged record or one from another device is reported);
//   - the records form one unbroken run of sequence numbers, each linking to the one before
//     (so a deleted or reordered record is reported); a run starting at record 1 links to the
//     genesis value;
//   - the record named by head is in the export with the same MAC, or the export goes past it
//     (so a history cut below the head, or rewritten up to it, is reported); a zero head skips
//     this check;
//   - each kept evidence frame file (frames/evidence-<seq>.jpg) has the sha256 sealed into its
//     record; a frame the record calls pruned may be absent.
//
// A filtered export (by outcome or user) has gaps and cannot be verified; export a date range
// or everything. A broken export is reported in the VerifyReport with a nil error; an error
// means the folder could not be read.
func VerifyExport(dir string, head Head, key []byte) (VerifyReport, error) {
	var rep VerifyReport
	if len(key) != pinKeyLen {
		return rep, fmt.Errorf("store: verify export: audit key of %d bytes, want %d: %w", len(key), pinKeyLen, ErrKeyFile)
	}
	recs, err := readExport(dir)
	if err != nil {
		return rep, err
	}
	broken := func(seq uint64, format string, args ...any) {
		if rep.Problem == "" {
			rep.FirstBroken, rep.Problem = seq, fmt.Sprintf(format, args...)
		}
	}
	slices.SortFunc(recs, func(a, b Attempt) int {
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	root, err := os.OpenRoot(dir)
	if err != nil {
		return rep, fmt.Errorf("store: verify export %s: %w", dir, err)
	}
	defer root.Close()
	prev := ""
	for i, a := range recs {
		rep.Records++
		switch {
		case i == 0 && a.Seq == 1 && a.PrevHash != genesisHash:
			broken(a.Seq, "record 1 does not start the chain")
		case i > 0 && a.Seq != recs[i-1].Seq+1:
			broken(recs[i-1].Seq+1, "record %d is missing from the export (next is %d)", recs[i-1].Seq+1, a.Seq)
		case i > 0 && a.PrevHash != prev:
			broken(a.Seq, "record %d does not link to record %d (moved, swapped or altered)", a.Seq, a.Seq-1)
		}
		if rep.Problem != "" {
			break
		}
		enc, err := json.Marshal(bodyOf(a))
		if err != nil {
			return rep, fmt.Errorf("store: verify export record %d: %w", a.Seq, err)
		}
		if sum := chainMAC(key, a.PrevHash, enc); hex.EncodeToString(sum[:]) != a.Hash {
			broken(a.Seq, "record %d was altered or forged (MAC mismatch)", a.Seq)
			break
		}
		if a.Evidence != "" && !a.EvidencePruned {
			name := ExportFramesDir + "/" + evidenceKey(a.Seq)
			jpeg, err := root.ReadFile(name)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				broken(a.Seq, "the evidence frame %s of record %d is missing", name, a.Seq)
			case err != nil:
				return rep, fmt.Errorf("store: verify export frame %s: %w", name, err)
			case sha256Hex(jpeg) != a.EvidenceSHA256:
				broken(a.Seq, "the evidence frame %s of record %d was replaced (sha256 mismatch)", name, a.Seq)
			}
			if rep.Problem != "" {
				break
			}
		}
		prev = a.Hash
		if a.Seq == head.Seq {
			rep.Anchored = a.Hash == head.MAC
			if !rep.Anchored {
				broken(a.Seq, "record %d does not match the exported head (history rewritten)", a.Seq)
				break
			}
		}
	}
	if rep.Problem == "" && head.Seq > 0 && !rep.Anchored {
		switch {
		case len(recs) == 0 || head.Seq > recs[len(recs)-1].Seq:
			last := uint64(0)
			if len(recs) > 0 {
				last = recs[len(recs)-1].Seq
			}
			broken(last+1, "the export ends at record %d but the head is record %d: records were cut", last, head.Seq)
		default:
			broken(recs[0].Seq, "the export starts at record %d, after the head %d: cannot anchor it", recs[0].Seq, head.Seq)
		}
	}
	if len(recs) > 0 {
		rep.Head, rep.HeadSeq = recs[len(recs)-1].Hash, recs[len(recs)-1].Seq
	}
	rep.OK = rep.Problem == ""
	return rep, nil
}

// bodyOf rebuilds the canonical body of an exported record.
func bodyOf(a Attempt) attemptBody {
	d := a.Durations
	if d == nil {
		d = map[string]float64{}
	}
	return attemptBody{
		Seq: a.Seq, ID: a.ID, Start: a.Start.UnixNano(), End: a.End.UnixNano(), Outcome: a.Outcome,
		Method: a.Method, User: a.User, Name: a.Name, BestUser: a.BestUser, BestDistance: a.BestDistance,
		BestMargin: a.BestMargin, Frames: a.Frames, PinTries: a.PinTries, Durations: d, Reason: a.Reason,
		Evidence: a.Evidence, PrevHash: a.PrevHash, EvidenceSHA: a.EvidenceSHA256, EvDropped: a.EvidenceDropped,
		Policy: a.Policy, Duress: a.Duress, Mismatch: a.Mismatch, OpenForS: a.OpenForS, Liveness: a.Liveness,
	}
}

// readExport reads dir/audit.jsonl or dir/audit.csv (exactly one of them).
func readExport(dir string) ([]Attempt, error) {
	var found []string
	for _, f := range []string{"jsonl", "csv"} {
		if _, err := os.Stat(dir + "/" + ExportRecordsName + "." + f); err == nil {
			found = append(found, f)
		}
	}
	if len(found) != 1 {
		return nil, fmt.Errorf("store: verify export: want exactly one of %s/%s.jsonl and .csv, found %d: %w",
			dir, ExportRecordsName, len(found), ErrFormat)
	}
	f, err := os.Open(dir + "/" + ExportRecordsName + "." + found[0])
	if err != nil {
		return nil, fmt.Errorf("store: verify export: %w", err)
	}
	defer f.Close()
	if found[0] == "jsonl" {
		return readJSONL(f)
	}
	return readCSV(f)
}

// readJSONL parses one Attempt per line.
func readJSONL(r io.Reader) ([]Attempt, error) {
	var out []Attempt
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		var a Attempt
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			return nil, fmt.Errorf("store: verify export: line %d: %v: %w", n, err, ErrFormat)
		}
		out = append(out, a)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("store: verify export: %w", err)
	}
	return out, nil
}

// readCSV parses rows written under CSVHeader.
func readCSV(r io.Reader) ([]Attempt, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = 0 // every row as long as the header
	rows, err := cr.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("store: verify export: %v: %w", err, ErrFormat)
	}
	// Exports written before the access-policy columns lack the last five, before the liveness
	// column the last one.
	if len(rows) == 0 || !(slices.Equal(rows[0], CSVHeader) || slices.Equal(rows[0], CSVHeader[:csvColumnsV3]) ||
		slices.Equal(rows[0], CSVHeader[:csvColumnsV2])) {
		return nil, fmt.Errorf("store: verify export: CSV header is not the export's: %w", ErrFormat)
	}
	var out []Attempt
	for n, r := range rows[1:] {
		a, err := attemptFromRow(r)
		if err != nil {
			return nil, fmt.Errorf("store: verify export: row %d: %v: %w", n+2, err, ErrFormat)
		}
		out = append(out, a)
	}
	return out, nil
}

// attemptFromRow is the inverse of Export's CSV row.
func attemptFromRow(r []string) (Attempt, error) {
	var a Attempt
	var errs []error
	u := func(s string) uint64 { v, err := strconv.ParseUint(s, 10, 64); errs = append(errs, err); return v }
	i := func(s string) int { v, err := strconv.Atoi(s); errs = append(errs, err); return v }
	f := func(s string) float64 { v, err := strconv.ParseFloat(s, 64); errs = append(errs, err); return v }
	b := func(s string) bool { v, err := strconv.ParseBool(s); errs = append(errs, err); return v }
	tm := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		errs = append(errs, err)
		return v.UTC()
	}
	a.Seq, a.ID, a.Start, a.End, a.Outcome, a.Method = u(r[0]), r[1], tm(r[2]), tm(r[3]), r[4], r[5]
	a.User, a.Name, a.BestUser, a.BestDistance, a.BestMargin = r[6], r[7], r[8], f(r[9]), f(r[10])
	a.Frames, a.PinTries = i(r[11]), i(r[12])
	errs = append(errs, json.Unmarshal([]byte(r[13]), &a.Durations))
	a.Reason, a.Evidence, a.EvidencePruned, a.PrevHash, a.Hash = r[14], r[15], b(r[16]), r[17], r[18]
	a.EvidenceSHA256, a.EvidenceDropped = r[19], b(r[20])
	if len(r) > csvColumnsV2 {
		a.Policy, a.Duress, a.Mismatch, a.OpenForS = r[21], b(r[22]), r[23], f(r[24])
	}
	if len(r) > csvColumnsV3 && r[25] != "" {
		a.Liveness = &Liveness{}
		errs = append(errs, json.Unmarshal([]byte(r[25]), a.Liveness))
	}
	return a, errors.Join(errs...)
}
