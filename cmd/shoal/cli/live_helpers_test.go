package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/scenarios/rundir"
)

// killLeader is the live harness's own scenario: the data leader of three
// instances is cut off, then killed, four times.
const killLeader = "../../../scenarios/liverun/testdata/kill-leader.yaml"

// liveRun runs `shoal live run` in this process and checks what every
// live run must leave: a complete run directory, each instance's log and
// trace, no process still running, and a report that says it was live.
func liveRun(t *testing.T, args ...string) (code int, out string, dir string, results rundir.Results) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "run")
	code, out, errs := shoal(t, append(append([]string{"live", "run"}, args...), "--out", dir)...)
	if code != exitValid && code != exitInvalid && code != exitUnknown {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s%s", code, out, errs, instanceLogs(dir))
	}
	for _, f := range []string{rundir.ScenarioFile, rundir.MetaFile, rundir.TraceFile, rundir.HistoryFile, rundir.ResultsFile, rundir.ReportFile,
		"nodes/n1/log", "nodes/n1/trace.jsonl"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("run directory lacks %s: %v", f, err)
		}
	}
	if left := processesUnder(t, dir); len(left) > 0 {
		t.Errorf("processes still running after the run: %v", left)
	}
	var meta rundir.Meta
	if err := rundir.ReadJSON(dir, rundir.MetaFile, &meta); err != nil {
		t.Fatal(err)
	}
	if meta.Live == nil || meta.Live.Instances == 0 {
		t.Errorf("meta.json does not say the run was live: %+v", meta)
	}
	if err := rundir.ReadJSON(dir, rundir.ResultsFile, &results); err != nil {
		t.Fatal(err)
	}
	report, err := os.ReadFile(filepath.Join(dir, rundir.ReportFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(report, []byte("A live run:")) {
		t.Errorf("the report does not say the run was live")
	}
	if t.Failed() {
		t.Logf("stdout:\n%s\nstderr:\n%s%s", out, errs, instanceLogs(dir))
	}
	return code, out, dir, results
}

// processesUnder lists the running shoal serve processes whose command
// line names dir: the instances a run started there.
func processesUnder(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Skipf("no /proc to list processes: %v", err)
	}
	var out []string
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if bytes.Contains(cmdline, []byte(dir)) && bytes.Contains(cmdline, []byte("\x00serve\x00")) {
			out = append(out, e.Name()+": "+strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	return out
}

// instanceLogs is the tail of every instance's log, for a failure.
func instanceLogs(dir string) string {
	var b strings.Builder
	logs, _ := filepath.Glob(filepath.Join(dir, "nodes", "*", "log"))
	for _, l := range logs {
		data, _ := os.ReadFile(l)
		if len(data) > 4000 {
			data = data[len(data)-4000:]
		}
		fmt.Fprintf(&b, "\n--- %s (tail)\n%s", l, data)
	}
	return b.String()
}
