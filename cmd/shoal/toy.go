package main

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
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
	"github.com/shoaldb/shoal/simnet/toy"
)

const toyScenario = "toy-partition"

const toyDescription = "Toy nodes count ticks, log each count to disk (syncing every 5th) and gossip. " +
	"The network splits into a minority and a majority, then heals; a node is killed and restarted " +
	"(it must recover exactly its last synced count); another is paused; a clock is stepped."

// toyRun is the shape of the toy demo.
type toyRun struct {
	Seed     uint64
	Nodes    int
	Duration time.Duration
}

// faults returns the demo's schedule, scaled to its duration: a partition
// from 10% to 35%, a kill at 45% and restart at 55%, a pause from 65% to
// 72%, and a clock step at 80%.
func (r toyRun) faults(w *simnet.World, ids []env.NodeID) []string {
	at := func(pct int) time.Duration { return r.Duration * time.Duration(pct) / 100 }
	minority := ids[:len(ids)/2]
	majority := ids[len(ids)/2:]
	victim, sleeper, skewed := ids[len(ids)-1], ids[0], ids[len(ids)/2]
	w.At(at(10), func() { w.Partition(minority, majority) })
	w.At(at(35), w.Heal)
	w.At(at(45), func() { w.Kill(victim) })
	w.At(at(55), func() { w.Restart(victim) })
	w.At(at(65), func() { w.Pause(sleeper) })
	w.At(at(72), func() { w.Resume(sleeper) })
	w.At(at(80), func() { w.SetClockOffset(skewed, 2*time.Second) })
	return []string{
		fmt.Sprintf("{at: %s, fault: partition, components: [%s, %s], for: %s}", at(10), list(minority), list(majority), at(35)-at(10)),
		fmt.Sprintf("{at: %s, fault: kill, target: %s, for: %s}", at(45), victim, at(55)-at(45)),
		fmt.Sprintf("{at: %s, fault: pause, target: %s, for: %s}", at(65), sleeper, at(72)-at(65)),
		fmt.Sprintf("{at: %s, fault: clock, target: %s, offset: 2s}", at(80), skewed),
	}
}

func list(ids []env.NodeID) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = string(id)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

func runSimToy(args []string, stdout, stderr io.Writer) (int, error) {
	fs := flag.NewFlagSet("shoal sim toy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	r := toyRun{}
	fs.Uint64Var(&r.Seed, "seed", 1, "the run's seed")
	fs.IntVar(&r.Nodes, "nodes", 5, "number of toy nodes (3 to 9)")
	fs.DurationVar(&r.Duration, "duration", 10*time.Second, "simulated duration")
	out := fs.String("out", "", "run directory to create (default runs/toy-partition-seed-N)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitValid, nil
		}
		return exitUsage, usageError{err.Error()}
	}
	switch {
	case fs.NArg() > 0:
		return exitUsage, usagef("unexpected argument %q", fs.Arg(0))
	case r.Nodes < 3 || r.Nodes > 9:
		return exitUsage, usagef("--nodes %d: want 3 to 9", r.Nodes)
	case r.Duration < time.Second || r.Duration > time.Hour:
		return exitUsage, usagef("--duration %s: want 1s to 1h", r.Duration)
	}
	dir := *out
	if dir == "" {
		dir = filepath.Join("runs", fmt.Sprintf("%s-seed-%d", toyScenario, r.Seed))
		dir = freeDir(dir)
	}
	if err := rundir.Create(dir); err != nil {
		return exitUsage, usageError{err.Error()}
	}

	start := time.Now()
	w, err := simnet.New(simnet.Config{Seed: r.Seed, KeepTrace: true,
		Network: &simnet.LinkConfig{Latency: simnet.Latency{Dist: simnet.Uniform, Min: time.Millisecond, Max: 5 * time.Millisecond}}})
	if err != nil {
		return exitInternal, err
	}
	defer w.Close()
	ids := make([]env.NodeID, r.Nodes)
	for i := range ids {
		ids[i] = env.NodeID(fmt.Sprintf("n%d", i+1))
	}
	for _, id := range ids {
		if err := w.AddNode(id, toy.Start(toy.Config{Peers: without(ids, id), Ping: true})); err != nil {
			return exitInternal, err
		}
	}
	steps := r.faults(w, ids)
	if err := w.Run(r.Duration); err != nil {
		return exitInternal, err
	}
	wall := time.Since(start)

	var trace bytes.Buffer
	if _, err := w.WriteTrace(&trace); err != nil {
		return exitInternal, err
	}
	records, err := checker.ReadTrace(bytes.NewReader(trace.Bytes()))
	if err != nil {
		return exitInternal, err
	}
	results := rundir.NewResults([]checker.Result{checker.Partitions(records), toyDurability(records)})
	sum := w.TraceHash()
	meta := rundir.Meta{
		ShoalVersion: version,
		Commit:       commit(),
		Scenario:     toyScenario,
		Seed:         r.Seed,
		TraceSHA256:  hex.EncodeToString(sum[:]),
		Command:      fmt.Sprintf("shoal sim toy --seed %d --nodes %d --duration %s", r.Seed, r.Nodes, r.Duration),
		VirtualNanos: int64(w.Now()),
		TraceEvents:  w.TraceEvents(),
	}
	scenario := fmt.Sprintf("# The toy demo, resolved. It predates the scenario format; `shoal sim toy` runs it.\n"+
		"name: %s\ndescription: %q\ncluster: {instances: %d}\nnetwork: {latency: {dist: uniform, min: 1ms, max: 5ms}}\n"+
		"duration: %s\nnemesis:\n  - %s\nchecks: [partitions, toy-durability]\n",
		toyScenario, toyDescription, r.Nodes, r.Duration, strings.Join(steps, "\n  - "))

	var report bytes.Buffer
	err = reports.Plain(&report, reports.Run{
		Scenario: toyScenario, Description: toyDescription, Seed: r.Seed,
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
		// The toy has no clients, so its history is empty.
		{rundir.HistoryFile, nil},
		{rundir.ReportFile, report.Bytes()},
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

	fmt.Fprintf(stdout, "%s, seed %d: %d toy nodes for %s of virtual time in %s of wall time (%d events delivered, %d trace lines)\n",
		toyScenario, r.Seed, r.Nodes, r.Duration, wall.Round(time.Millisecond), w.Delivered(), w.TraceEvents())
	for _, s := range steps {
		fmt.Fprintf(stdout, "  fault %s\n", s)
	}
	for _, c := range results.Checkers {
		fmt.Fprintf(stdout, "  %-15s %-8s %s\n", c.Checker, c.Verdict, c.Explanation)
	}
	fmt.Fprintf(stdout, "verdict: %s\ntrace sha256: %s\nreport: %s\n", results.Verdict, meta.TraceSHA256, filepath.Join(dir, rundir.ReportFile))
	return results.Verdict.ExitCode(), nil
}

// toyDurability checks the toy's promise: a node that restarts recovers
// exactly the count it last synced before it died.
func toyDurability(trace []env.Record) checker.Result {
	res := checker.Result{Checker: "toy-durability"}
	synced := map[env.NodeID]int64{}
	started := map[env.NodeID]bool{}
	var restarts []string
	for i := range trace {
		r := &trace[i]
		switch r.Kind {
		case "toy.sync":
			synced[r.Node], _ = r.Int("count")
		case "toy.recover":
			got, _ := r.Int("count")
			if got != synced[r.Node] {
				res.Verdict = checker.Invalid
				res.Explanation = fmt.Sprintf("%s recovered count %d at %s, but its last synced count was %d",
					r.Node, got, time.Duration(r.Time), synced[r.Node])
				return res
			}
			if started[r.Node] {
				restarts = append(restarts, fmt.Sprintf("%s recovered %d at %s", r.Node, got, time.Duration(r.Time)))
			}
			started[r.Node] = true
		}
	}
	if len(restarts) == 0 {
		res.Verdict = checker.NA
		res.Explanation = "no node restarted"
		return res
	}
	res.Verdict = checker.Valid
	res.Explanation = "every restart recovered exactly the last synced count: " + strings.Join(restarts, "; ")
	return res
}

func without(ids []env.NodeID, self env.NodeID) []env.NodeID {
	var out []env.NodeID
	for _, id := range ids {
		if id != self {
			out = append(out, id)
		}
	}
	return out
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
