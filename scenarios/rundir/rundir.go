// Package rundir reads and writes run directories: the self-contained
// record of one simulated (or real) run that `shoal check` and `shoal sim
// replay` work from. scenarios/README.md documents the layout.
package rundir

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/shoaldb/shoal/checker"
)

// The files of a run directory.
const (
	ScenarioFile = "scenario.yaml" // the scenario as run, every default filled in
	MetaFile     = "meta.json"     // Meta
	TraceFile    = "trace.jsonl"   // the trace (simnet/README.md)
	HistoryFile  = "history.jsonl" // client operations (checker/README.md)
	ResultsFile  = "results.json"  // Results
	ReportFile   = "report.html"   // the report a person reads
	// LinearizabilityFile is porcupine's visualization, written when the
	// history is not linearizable.
	LinearizabilityFile = "linearizability.html"
)

// Meta identifies a run and how to reproduce it.
type Meta struct {
	ShoalVersion string `json:"shoal_version"`
	Commit       string `json:"commit"`
	Scenario     string `json:"scenario"`
	Seed         uint64 `json:"seed"`
	// Bugs names the planted bugs the run switched on.
	Bugs []string `json:"bugs,omitempty"`
	// TraceSHA256 is the hex SHA-256 of trace.jsonl, as the world computed
	// it while recording; a replay must reproduce it.
	TraceSHA256 string `json:"trace_sha256"`
	// Command reproduces the run.
	Command string `json:"command"`
	// VirtualNanos is the simulated duration of the run; TraceEvents the
	// number of trace lines.
	VirtualNanos int64 `json:"virtual_ns"`
	TraceEvents  int64 `json:"trace_events"`
	// Live is set for a run of real processes (shoal live run), which
	// cannot be replayed, only checked again. Its times are wall-clock
	// nanoseconds since the cluster became ready.
	Live *Live `json:"live,omitempty"`
	// Foreign names the target of a run of a system shoal did not write
	// (scenarios/foreign), which its seed does not replay either.
	Foreign string `json:"foreign,omitempty"`
}

// Live describes a run of real processes.
type Live struct {
	// Instances is how many shoal serve processes ran.
	Instances int `json:"instances"`
	// Binary is the shoal binary they ran.
	Binary string `json:"binary"`
	// Unapplied lists what the run could not do as its scenario says:
	// faults real processes cannot take, workloads it cannot drive,
	// checks that do not apply. The report shows them.
	Unapplied []string `json:"unapplied,omitempty"`
}

// Results is the verdict of a run and of each checker.
type Results struct {
	Verdict  checker.Verdict  `json:"verdict"`
	Checkers []checker.Result `json:"checkers"`
}

// NewResults combines checker results into a run's results.
func NewResults(rs []checker.Result) Results {
	return Results{Verdict: checker.Combine(rs), Checkers: rs}
}

// Create makes dir (and its parents) for a new run. It refuses a directory
// that already holds a run, so a run never overwrites another.
func Create(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, MetaFile)); err == nil {
		return fmt.Errorf("%s already holds a run (%s exists); choose another --out", dir, MetaFile)
	}
	return os.MkdirAll(dir, 0o755)
}

// WriteJSON writes v, indented, to the named file of dir.
func WriteJSON(dir, name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name), append(b, '\n'), 0o644)
}

// ReadJSON reads the named file of dir into v, rejecting unknown fields so
// that a damaged or foreign file is reported rather than half-read.
func ReadJSON(dir, name string, v any) error {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(dir, name), err)
	}
	return nil
}
