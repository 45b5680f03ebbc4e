package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/scenarios/rundir"
)

func shoal(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestSimToyWritesARunDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	code, out, errs := shoal(t, "sim", "toy", "--seed", "3", "--out", dir)
	if code != exitValid {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	for _, f := range []string{rundir.ScenarioFile, rundir.MetaFile, rundir.TraceFile, rundir.HistoryFile, rundir.ResultsFile, rundir.ReportFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("run directory lacks %s: %v", f, err)
		}
	}
	if !strings.Contains(out, "report: "+filepath.Join(dir, rundir.ReportFile)) {
		t.Errorf("output does not print the report's path:\n%s", out)
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
	if meta.Seed != 3 || meta.Command != "shoal sim toy --seed 3 --nodes 5 --duration 10s" {
		t.Errorf("meta = %+v", meta)
	}
	var res rundir.Results
	if err := rundir.ReadJSON(dir, rundir.ResultsFile, &res); err != nil {
		t.Fatal(err)
	}
	if res.Verdict != checker.Valid || len(res.Checkers) != 2 {
		t.Fatalf("results = %+v", res)
	}
	for _, c := range res.Checkers {
		if c.Verdict != checker.Valid {
			t.Errorf("%s: %s: %s", c.Checker, c.Verdict, c.Explanation)
		}
	}
	report, _ := os.ReadFile(filepath.Join(dir, rundir.ReportFile))
	for _, want := range []string{"toy-partition", `class="verdict valid"`, "partition n1,n2 | n3,n4,n5", "kill n5", "<svg", meta.Command} {
		if !bytes.Contains(report, []byte(want)) {
			t.Errorf("report lacks %q", want)
		}
	}

	// The same seed reproduces the same trace; a run never overwrites another.
	dir2 := filepath.Join(t.TempDir(), "again")
	if code, _, errs := shoal(t, "sim", "toy", "--seed", "3", "--out", dir2); code != exitValid {
		t.Fatalf("second run: exit %d: %s", code, errs)
	}
	trace2, _ := os.ReadFile(filepath.Join(dir2, rundir.TraceFile))
	if !bytes.Equal(trace, trace2) {
		t.Error("the same seed gave a different trace")
	}
	if code, _, errs := shoal(t, "sim", "toy", "--seed", "3", "--out", dir); code != exitUsage || !strings.Contains(errs, "already holds a run") {
		t.Errorf("reusing a run directory: exit %d, %s", code, errs)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"frobnicate"},
		{"sim", "toy", "--nodes", "2"},
		{"sim", "toy", "--duration", "1ms"},
		{"sim", "toy", "--seed", "minus-one"},
		{"sim", "toy", "extra"},
		{"version", "extra"},
	} {
		code, _, errs := shoal(t, args...)
		if code != exitUsage || errs == "" {
			t.Errorf("shoal %s: exit %d, stderr %q; want exit 3 and a message", strings.Join(args, " "), code, errs)
		}
	}
	if code, out, _ := shoal(t, "help"); code != exitValid || !strings.Contains(out, "sim toy") {
		t.Errorf("shoal help: exit %d:\n%s", code, out)
	}
	if code, out, _ := shoal(t, "version"); code != exitValid || !strings.HasPrefix(out, "shoal "+version) {
		t.Errorf("shoal version: exit %d: %s", code, out)
	}
}

func TestSimRaft(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	code, out, errs := shoal(t, "sim", "raft", "--seed", "1", "--instances", "6", "--rf", "3", "--out", dir)
	if code != exitValid {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errs)
	}
	var res rundir.Results
	if err := rundir.ReadJSON(dir, rundir.ResultsFile, &res); err != nil {
		t.Fatal(err)
	}
	want := []string{"linearizable", "durability", "raft-safety", "quorum", "convergence", "partitions", "progress"}
	if len(res.Checkers) != len(want) {
		t.Fatalf("%d checkers, want %v", len(res.Checkers), want)
	}
	for i, c := range res.Checkers {
		if c.Checker != want[i] || c.Verdict != checker.Valid {
			t.Errorf("checker %d: %s %s: %s", i, c.Checker, c.Verdict, c.Explanation)
		}
	}
	for _, c := range res.Checkers {
		if c.Checker == "durability" && strings.Contains(c.Explanation, "not judged") {
			t.Errorf("the final reads should follow the clients' last writes: %s", c.Explanation)
		}
		if c.Checker == "progress" && !strings.Contains(c.Explanation, "rs2") {
			t.Errorf("progress does not cover rs2: %s", c.Explanation)
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, rundir.HistoryFile)); err != nil || bytes.Count(b, []byte("\n")) < 500 {
		t.Errorf("history.jsonl has %d lines, %v", bytes.Count(b, []byte("\n")), err)
	}
	for _, args := range [][]string{{"--rf", "4"}, {"--instances", "0"}, {"--duration", "1s"}} {
		if code, _, _ := shoal(t, append([]string{"sim", "raft"}, args...)...); code != exitUsage {
			t.Errorf("shoal sim raft %v: exit %d, want 3", args, code)
		}
	}
}
