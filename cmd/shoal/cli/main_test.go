package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/scenarios/rundir"
)

// mainEnv makes the test binary act as the shoal command, so that tests
// can run it in fresh processes with their own GOMAXPROCS.
const mainEnv = "SHOAL_TEST_MAIN"

func TestMain(m *testing.M) {
	// A fuzzing worker is this binary started with -test. flags: it runs
	// tests, not the command.
	worker := slices.ContainsFunc(os.Args[1:], func(a string) bool { return strings.HasPrefix(a, "-test.") })
	if os.Getenv(mainEnv) == "1" && !worker {
		if code, ok := crashingWorker(os.Args[1:]); ok {
			os.Exit(code)
		}
		os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
	}
	// The sweep's workers are this binary (os.Executable): make them act
	// as the shoal command too.
	os.Setenv(mainEnv, "1")
	os.Exit(m.Run())
}

func shoal(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(args, &out, &errb)
	return code, out.String(), errb.String()
}

// shoalProcess runs the command in a child process with the given
// GOMAXPROCS.
func shoalProcess(t *testing.T, procs string, args ...string) (code int, output string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), mainEnv+"=1", "GOMAXPROCS="+procs)
	out, err := cmd.CombinedOutput()
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatal(err)
		}
		return ee.ExitCode(), string(out)
	}
	return 0, string(out)
}

func TestSimRunWritesARunDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	code, out, errs := shoal(t, "sim", "run", "leader-isolation", "--seed", "3", "--out", dir)
	if code != exitValid {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	for _, f := range []string{rundir.ScenarioFile, rundir.MetaFile, rundir.TraceFile, rundir.HistoryFile, rundir.ResultsFile, rundir.ReportFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("run directory lacks %s: %v", f, err)
		}
	}
	for _, want := range []string{"report: " + filepath.Join(dir, rundir.ReportFile), "verdict: valid (as expected)", "partition (rs1)", "trace sha256: "} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	var meta rundir.Meta
	if err := rundir.ReadJSON(dir, rundir.MetaFile, &meta); err != nil {
		t.Fatal(err)
	}
	trace, err := os.ReadFile(filepath.Join(dir, rundir.TraceFile))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(trace)
	if meta.TraceSHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("meta.json trace_sha256 %s is not the SHA-256 of trace.jsonl (%x)", meta.TraceSHA256, sum)
	}
	if meta.Seed != 3 || meta.Scenario != "leader-isolation" || meta.Command != "shoal sim run leader-isolation --seed 3" {
		t.Errorf("meta = %+v", meta)
	}
	var res rundir.Results
	if err := rundir.ReadJSON(dir, rundir.ResultsFile, &res); err != nil {
		t.Fatal(err)
	}
	want := []string{"linearizable", "raft-safety", "durability", "convergence", "partitions", "progress", "faults"}
	if len(res.Checkers) != len(want) {
		t.Fatalf("checkers %+v, want %v", res.Checkers, want)
	}
	for i, c := range res.Checkers {
		if c.Checker != want[i] || c.Verdict != checker.Valid {
			t.Errorf("checker %d: %s %s: %s", i, c.Checker, c.Verdict, c.Explanation)
		}
		if c.Checker == "durability" && strings.Contains(c.Explanation, "not judged") {
			t.Errorf("the final reads should follow the clients' last writes: %s", c.Explanation)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, rundir.HistoryFile)); bytes.Count(b, []byte("\n")) < 5000 {
		t.Errorf("history.jsonl has %d lines; 200 ops/s for 40s should give over 5000", bytes.Count(b, []byte("\n")))
	}
	report, _ := os.ReadFile(filepath.Join(dir, rundir.ReportFile))
	for _, want := range []string{"leader-isolation", `class="verdict valid"`, meta.Command, meta.TraceSHA256} {
		if !bytes.Contains(report, []byte(want)) {
			t.Errorf("report lacks %q", want)
		}
	}

	// The same seed reproduces the same trace; a run never overwrites another.
	dir2 := filepath.Join(t.TempDir(), "again")
	if code, _, errs := shoal(t, "sim", "run", "--seed", "3", "--out", dir2, "leader-isolation"); code != exitValid {
		t.Fatalf("second run: exit %d: %s", code, errs)
	}
	trace2, _ := os.ReadFile(filepath.Join(dir2, rundir.TraceFile))
	if !bytes.Equal(trace, trace2) {
		t.Error("the same seed gave a different trace")
	}
	if code, _, errs := shoal(t, "sim", "run", "leader-isolation", "--seed", "3", "--out", dir); code != exitUsage || !strings.Contains(errs, "already holds a run") {
		t.Errorf("reusing a run directory: exit %d, %s", code, errs)
	}

	// shoal check rewrites the results from the trace alone.
	if err := os.Remove(filepath.Join(dir, rundir.ResultsFile)); err != nil {
		t.Fatal(err)
	}
	code, out, errs = shoal(t, "check", dir)
	if code != exitValid || !strings.Contains(out, "verdict: valid") {
		t.Fatalf("shoal check: exit %d\n%s\n%s", code, out, errs)
	}
	var again rundir.Results
	if err := rundir.ReadJSON(dir, rundir.ResultsFile, &again); err != nil {
		t.Fatal(err)
	}
	if len(again.Checkers) != len(res.Checkers) || again.Verdict != res.Verdict {
		t.Errorf("re-checked results %+v differ from the run's %+v", again, res)
	}
}

// TestReplayAcrossProcesses runs scenarios in one process and replays
// them in another with a different GOMAXPROCS: a disk-fault scenario and
// the leader isolation. It also shows that a replay that diverges exits 4.
func TestReplayAcrossProcesses(t *testing.T) {
	for _, c := range []struct{ scenario, run, replay string }{
		{"disk-errors", "1", "2"},
		{"leader-isolation", "2", "1"},
	} {
		t.Run(c.scenario, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "run")
			code, out := shoalProcess(t, c.run, "sim", "run", c.scenario, "--seed", "5", "--out", dir)
			if code != exitValid {
				t.Fatalf("run with GOMAXPROCS=%s: exit %d\n%s", c.run, code, out)
			}
			if c.scenario == "disk-errors" && !strings.Contains(out, "fault at") {
				t.Fatalf("no fault in the run:\n%s", out)
			}
			code, out = shoalProcess(t, c.replay, "sim", "replay", dir)
			if code != exitValid || !strings.Contains(out, "replay identical") {
				t.Fatalf("replay with GOMAXPROCS=%s: exit %d\n%s", c.replay, code, out)
			}
			if c.scenario != "disk-errors" {
				return
			}
			trace, _ := os.ReadFile(filepath.Join(dir, rundir.TraceFile))
			for _, kind := range []string{`"kind":"disk.error"`, `"kind":"node.crash"`} {
				if !bytes.Contains(trace, []byte(kind)) {
					t.Errorf("the disk-fault run's trace has no %s", kind)
				}
			}
			// A recorded hash that the run does not reproduce is a divergence.
			var meta rundir.Meta
			if err := rundir.ReadJSON(dir, rundir.MetaFile, &meta); err != nil {
				t.Fatal(err)
			}
			meta.TraceSHA256 = strings.Repeat("0", 64)
			if err := rundir.WriteJSON(dir, rundir.MetaFile, meta); err != nil {
				t.Fatal(err)
			}
			if code, out, _ := shoal(t, "sim", "replay", dir); code != exitInternal || !strings.Contains(out, "DIVERGED") {
				t.Fatalf("a tampered hash: exit %d\n%s", code, out)
			}
			// A foreign target's run is not shoal's to replay.
			meta.Foreign = "a key-value store on github.com/hashicorp/raft"
			if err := rundir.WriteJSON(dir, rundir.MetaFile, meta); err != nil {
				t.Fatal(err)
			}
			if code, _, errs := shoal(t, "sim", "replay", dir); code != exitUsage || !strings.Contains(errs, "shoal did not write") {
				t.Fatalf("a foreign run: exit %d\n%s", code, errs)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"frobnicate"},
		{"sim", "run"},
		{"sim", "run", "no-such-scenario"},
		{"sim", "run", "missing.yaml"},
		{"sim", "run", "leader-isolation", "disk-errors"},
		{"sim", "run", "leader-isolation", "--seed", "minus-one"},
		{"sim", "run", "leader-isolation", "--bug", "skip-sync-typo"},
		{"sim", "replay"},
		{"sim", "replay", "/nonexistent/run"},
		{"check"},
		{"check", "/nonexistent/run"},
		{"version", "extra"},
		{"handlers", "extra"},
	} {
		code, _, errs := shoal(t, args...)
		if code != exitUsage || errs == "" {
			t.Errorf("shoal %s: exit %d, stderr %q; want exit 3 and a message", strings.Join(args, " "), code, errs)
		}
	}
	if code, out, _ := shoal(t, "help"); code != exitValid || !strings.Contains(out, "sim run") {
		t.Errorf("shoal help: exit %d:\n%s", code, out)
	}
	if code, out, _ := shoal(t, "version"); code != exitValid || !strings.HasPrefix(out, "shoal "+version) {
		t.Errorf("shoal version: exit %d: %s", code, out)
	}
	if _, _, errs := shoal(t, "sim", "run", "leader-isolaton"); !strings.Contains(errs, "leader-isolation") {
		t.Errorf("an unknown name should list the built-in scenarios: %s", errs)
	}
}

// TestMalformedScenariosExit3 runs sim run on broken scenario files: each
// is refused with exit 3 and a message naming the file, the line and the
// problem, and no run directory is made.
func TestMalformedScenariosExit3(t *testing.T) {
	cases := []struct{ file, want string }{
		{"name: x\nduraton: 10s\n", `:2: unknown field "duraton" (did you mean duration?)`},
		{"name: x\nduration: 10s\nduration: 20s\n", ":3: duplicate key \"duration\" (first at line 2)"},
		{"name: x\nduration: ten seconds\n", ":2: "},
		{"name: x\ncluster: {instances: 16}\n", ":2: "},
		{"name: x\ncluster: {instances: 5, replication_factor: 2}\n", ":2: "},
		{"name: x\nnetwork: {latency: {dist: gaussian, min: 1ms}}\n", `:2: unknown dist "gaussian" (one of constant, uniform, exponential)`},
		{"name: x\nnetwork: {loss: 1.5}\n", ":2: "},
		{"name: x\nworkload: {kind: kv, clients: 0}\n", ":2: "},
		{"name: x\nworkload: {kind: config, mix: {read: 1}}\n", ":2: "},
		{"name: x\nnemesis:\n  - at: 5s\n    fault: partiton\n", ":4: unknown fault \"partiton\" (did you mean partition?)"},
		{"name: x\nnemesis:\n  - at: 5s\n    fault: partition\n    shape: thirds\n", ":5: "},
		{"name: x\nnemesis:\n  - at: 5s\n    fault: kill\n    target: n9\n", ":5: "},
		{"name: x\nnemesis:\n  - at: 5s\n    fault: kill\n    shape: halves\n", ":5: `shape` does not apply to fault kill"},
		{"name: x\nnemesis:\n  - at: 5s\n    every: 2s\n    fault: kill\n", ":"},
		{"name: x\nduration: 10s\nnemesis:\n  - at: 15s\n    fault: kill\n", ":4: "},
		{"name: x\nnemesis:\n  - at: 1s\n    fault: clock\n    offset: 1s\n    drift: 0.1\n", ":"},
		{"name: x\nnemesis:\n  - at: 1s\n    fault: disk\n    errors: [flush]\n", ":5: "},
		{"name: x\nchecks: [linearisable]\n", "(did you mean linearizable?)"},
		{"name: x\nexpect: maybe\n", ":2: "},
		{"description: no name\n", ":1: "},
		{"name: x\n  bad: indentation\n", ":2: "},
		{"", "x"},
	}
	for i, c := range cases {
		dir := t.TempDir()
		path := filepath.Join(dir, "broken.yaml")
		if err := os.WriteFile(path, []byte(c.file), 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "run")
		code, stdout, errs := shoal(t, "sim", "run", path, "--out", out)
		if code != exitUsage || !strings.Contains(errs, path+":") || !strings.Contains(errs, c.want) {
			t.Errorf("case %d (%q): exit %d, stderr:\n%s\nwant exit 3 and %q after the file name\n%s", i, c.file, code, errs, c.want, stdout)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("case %d: a run directory was made for a broken scenario", i)
		}
	}
}
