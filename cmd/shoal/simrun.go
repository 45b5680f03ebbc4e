package main

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/reports"
	"github.com/shoaldb/shoal/scenarios/rundir"
	"github.com/shoaldb/shoal/simnet"
)

// simRun is a simulated run built by code, for the demos that predate the
// scenario format: it runs a world, checks its trace, and writes a run
// directory with a report.
type simRun struct {
	Scenario    string
	Description string
	Seed        uint64
	Duration    time.Duration
	Command     string // reproduces the run
	What        string // what runs, for the summary line: "5 toy nodes"
	Network     simnet.LinkConfig
	// Build adds the nodes and schedules the faults, returning each fault
	// as a line of the resolved scenario.
	Build func(w *simnet.World) ([]string, error)
	// Check judges the trace.
	Check func(trace []env.Record) []checker.Result
}

// uniformNetwork is the demos' network: 1–5 ms, FIFO, lossless.
var uniformNetwork = simnet.LinkConfig{Latency: simnet.Latency{Dist: simnet.Uniform, Min: time.Millisecond, Max: 5 * time.Millisecond}}

// run runs the world into dir and prints what happened; it returns the
// verdict's exit code.
func (s simRun) run(dir string, stdout io.Writer) (int, error) {
	start := time.Now()
	w, err := simnet.New(simnet.Config{Seed: s.Seed, KeepTrace: true, Network: &s.Network})
	if err != nil {
		return exitInternal, err
	}
	defer w.Close()
	steps, err := s.Build(w)
	if err != nil {
		return exitInternal, err
	}
	if err := w.Run(s.Duration); err != nil {
		return exitInternal, err
	}
	wall := time.Since(start)

	var trace bytes.Buffer
	if _, err := w.WriteTrace(&trace); err != nil {
		return exitInternal, err
	}
	records, err := env.ReadTrace(bytes.NewReader(trace.Bytes()))
	if err != nil {
		return exitInternal, err
	}
	// The clients' history, if there were clients, and its checks.
	history := checker.FromTrace(records)
	var checks []checker.Result
	var lin *checker.Linearizability
	if len(history.Events) > 0 {
		lin = checker.Linearizable(history, 0)
		checks = append(checks, lin.Result, checker.Durability(history))
	}
	results := rundir.NewResults(append(checks, s.Check(records)...))
	var historyFile bytes.Buffer
	if err := history.Write(&historyFile); err != nil {
		return exitInternal, err
	}
	sum := w.TraceHash()
	meta := rundir.Meta{
		ShoalVersion: version,
		Commit:       commit(),
		Scenario:     s.Scenario,
		Seed:         s.Seed,
		TraceSHA256:  hex.EncodeToString(sum[:]),
		Command:      s.Command,
		VirtualNanos: int64(w.Now()),
		TraceEvents:  w.TraceEvents(),
	}
	checkNames := make([]string, len(results.Checkers))
	for i, c := range results.Checkers {
		checkNames[i] = c.Checker
	}
	l := s.Network.Latency
	scenario := fmt.Sprintf("# Resolved. This demo predates the scenario format; `%s` runs it.\n"+
		"name: %s\ndescription: %q\nnetwork: {latency: {dist: %s, min: %s, max: %s}}\n"+
		"duration: %s\nnemesis:\n  - %s\nchecks: [%s]\n",
		s.Command, s.Scenario, s.Description, l.Dist, l.Min, l.Max, s.Duration, strings.Join(steps, "\n  - "), strings.Join(checkNames, ", "))

	var report bytes.Buffer
	err = reports.Plain(&report, reports.Run{
		Scenario: s.Scenario, Description: s.Description, Seed: s.Seed,
		Version: version, Commit: meta.Commit, Command: meta.Command, TraceSHA256: meta.TraceSHA256,
		Verdict: results.Verdict, Results: results.Checkers, Trace: records,
	})
	if err != nil {
		return exitInternal, err
	}
	writes := []struct {
		name string
		data []byte
	}{
		{rundir.ScenarioFile, []byte(scenario)},
		{rundir.TraceFile, trace.Bytes()},
		{rundir.HistoryFile, historyFile.Bytes()},
		{rundir.ReportFile, report.Bytes()},
	}
	if lin != nil && lin.Result.Verdict == checker.Invalid {
		var viz bytes.Buffer
		if err := lin.Visualize(&viz, nil); err != nil {
			return exitInternal, err
		}
		writes = append(writes, struct {
			name string
			data []byte
		}{rundir.LinearizabilityFile, viz.Bytes()})
	}
	for _, f := range writes {
		if err := os.WriteFile(filepath.Join(dir, f.name), f.data, 0o644); err != nil {
			return exitInternal, err
		}
	}
	if err := rundir.WriteJSON(dir, rundir.ResultsFile, results); err != nil {
		return exitInternal, err
	}
	if err := rundir.WriteJSON(dir, rundir.MetaFile, meta); err != nil {
		return exitInternal, err
	}

	fmt.Fprintf(stdout, "%s, seed %d: %s for %s of virtual time in %s of wall time (%d events delivered, %d trace lines)\n",
		s.Scenario, s.Seed, s.What, s.Duration, wall.Round(time.Millisecond), w.Delivered(), w.TraceEvents())
	for _, step := range steps {
		fmt.Fprintf(stdout, "  fault %s\n", step)
	}
	for _, c := range results.Checkers {
		fmt.Fprintf(stdout, "  %-15s %-8s %s\n", c.Checker, c.Verdict, c.Explanation)
	}
	fmt.Fprintf(stdout, "verdict: %s\ntrace sha256: %s\nreport: %s\n", results.Verdict, meta.TraceSHA256, filepath.Join(dir, rundir.ReportFile))
	return results.Verdict.ExitCode(), nil
}

// runDir returns the directory a run writes to, created: --out, or
// runs/NAME-seed-N (then -2, -3, ... if taken).
func runDir(out, scenario string, seed uint64) (string, error) {
	dir := out
	if dir == "" {
		dir = freeDir(filepath.Join("runs", fmt.Sprintf("%s-seed-%d", scenario, seed)))
	}
	if err := rundir.Create(dir); err != nil {
		return "", usageError{err.Error()}
	}
	return dir, nil
}

// freeDir returns dir, or dir-2, dir-3, ... whichever does not exist yet.
func freeDir(dir string) string {
	for i := 1; ; i++ {
		d := dir
		if i > 1 {
			d = fmt.Sprintf("%s-%d", dir, i)
		}
		if _, err := os.Stat(d); errors.Is(err, os.ErrNotExist) {
			return d
		}
	}
}

// nodeNames returns n1..nN.
func nodeNames(n int) []env.NodeID {
	ids := make([]env.NodeID, n)
	for i := range ids {
		ids[i] = env.NodeID(fmt.Sprintf("n%d", i+1))
	}
	return ids
}

func list(ids []env.NodeID) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = string(id)
	}
	return "[" + strings.Join(s, ", ") + "]"
}
