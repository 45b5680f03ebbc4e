// Package runner runs a scenario in the simulator and judges it: it builds
// the World (network, cluster, workloads, fault schedule, final heal and
// reads), runs it, checks the trace, and writes the run directory. Check
// judges a recorded trace again, for `shoal check DIR`.
package runner

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/bugs"
	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/model"
	"github.com/shoaldb/shoal/core/node"
	"github.com/shoaldb/shoal/nemesis"
	"github.com/shoaldb/shoal/reports"
	"github.com/shoaldb/shoal/scenarios/rundir"
	"github.com/shoaldb/shoal/scenarios/scenario"
	"github.com/shoaldb/shoal/simnet"
	"github.com/shoaldb/shoal/simnet/client"
	"github.com/shoaldb/shoal/simnet/harness"
)

// Options are what a run needs beyond its scenario.
type Options struct {
	Seed uint64
	// Bugs names the planted bugs switched on (only a shoalbugs build has
	// any).
	Bugs []string
	// Dir is the run directory to write, already created; empty writes
	// nothing.
	Dir string
	// Command reproduces the run; Version and Commit identify the build.
	Command, Version, Commit string
	// Progress, if set, is called about every ProgressStep of virtual
	// time with the virtual time reached and the run's expected length
	// (which the final reads may stretch). It is called between chunks of
	// the World's run, never from a World event, so the trace is the same
	// with it and without it.
	Progress func(virtual, total time.Duration)
}

// ProgressStep is how much virtual time passes between calls of
// Options.Progress.
const ProgressStep = 100 * time.Millisecond

// Outcome is what a run produced.
type Outcome struct {
	Meta    rundir.Meta
	Results rundir.Results
	// Records is the parsed trace.
	Records []env.Record
	// Delivered counts the events the World handed to nodes.
	Delivered int64
	// Wall time spent simulating, checking and writing the run directory.
	Simulate, Check, Write time.Duration
}

// Drain is how long after the workloads stop the final reads begin: long
// enough for any operation still outstanding to end.
func Drain(s *scenario.Scenario) time.Duration {
	d := time.Duration(0)
	for _, w := range s.Workloads {
		d = max(d, w.Timeout)
	}
	return d + time.Second
}

// FinalReadLimit bounds the final-read phase; a reader not done by then
// has left its keys unread, which the durability check reports.
const FinalReadLimit = 30 * time.Second

// Settle is how long the groups settle after the final reads before
// every instance records its state digest.
const Settle = 2 * time.Second

// runWhile runs the world while cond holds, for limit at most, calling
// progress after each 100 ms; waited says whether it ran at all. It looks
// between chunks of the World's run, so the trace is the same however it
// is watched.
func runWhile(w *simnet.World, cond func() bool, limit time.Duration, progress func()) (waited bool, err error) {
	end := w.Now() + limit
	for cond() && w.Now() < end {
		waited = true
		if err := w.RunFor(100 * time.Millisecond); err != nil {
			return waited, err
		}
		progress()
	}
	return waited, nil
}

// drainWhile runs the world while cond holds, for limit at most (see
// runWhile); then, if it waited, for Settle more.
func drainWhile(w *simnet.World, cond func() bool, limit time.Duration, progress func()) error {
	waited, err := runWhile(w, cond, limit, progress)
	if err != nil || !waited {
		return err
	}
	return w.RunFor(Settle)
}

// runTo runs w to stop. With a Progress callback the World runs in
// chunks, calling progress after each; Run(until) leaves the event queue
// as one call to the end would, so the trace is the same.
func runTo(w *simnet.World, stop time.Duration, o Options, progress func()) error {
	chunk := stop
	if o.Progress != nil {
		chunk = ProgressStep
	}
	for t := time.Duration(0); t < stop; {
		t = min(t+chunk, stop)
		if err := w.Run(t); err != nil {
			return err
		}
		progress()
	}
	return nil
}

// ClientInterval is how often each of a workload's clients starts an
// operation, so that together they make the workload's rate.
func ClientInterval(wl scenario.Workload) time.Duration {
	return time.Duration(float64(wl.Clients) / wl.Rate * float64(time.Second))
}

// Mix is the operation generator of client k (from 0) of kv workload i
// (from 0).
func Mix(i, k int, wl scenario.Workload) *client.Mix {
	return &client.Mix{ID: fmt.Sprintf("w%dc%d", i+1, k+1), Keys: wl.Keys,
		Read: wl.Mix.Read, Write: wl.Mix.Write, CAS: wl.Mix.CAS, Delete: wl.Mix.Delete, StaleRead: wl.Mix.StaleRead}
}

// FinalKeys names the keys the final reads read: every key a workload of
// n keys may have written, k0..k(n-1).
func FinalKeys(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprint("k", i)
	}
	return names
}

// Run runs s on a seed and judges it.
func Run(s *scenario.Scenario, o Options) (*Outcome, error) {
	var set bugs.Set
	for _, name := range o.Bugs {
		b, err := bugs.Parse(name)
		if err != nil {
			return nil, err
		}
		set |= b
	}
	start := time.Now()
	base := simnet.LinkConfig{Latency: s.Network.Latency, Loss: s.Network.Loss}
	w, err := simnet.New(simnet.Config{Seed: o.Seed, Network: &base, KeepTrace: true})
	if err != nil {
		return nil, err
	}
	defer w.Close()
	if len(s.Clusters) > 0 {
		err = runClusters(w, s, set, o)
	} else {
		err = runOne(w, s, set, o)
	}
	if err != nil {
		return nil, err
	}
	if err := w.RunFor(100 * time.Millisecond); err != nil {
		return nil, err
	}
	if o.Progress != nil {
		o.Progress(w.Now(), w.Now())
	}
	out := &Outcome{Delivered: w.Delivered()}
	var trace bytes.Buffer
	trace.Grow(int(w.TraceBytes()))
	if _, err := w.WriteTrace(&trace); err != nil {
		return nil, err
	}
	if out.Records, err = env.ReadTrace(bytes.NewReader(trace.Bytes())); err != nil {
		return nil, err
	}
	sum := w.TraceHash()
	out.Meta = rundir.Meta{
		ShoalVersion: o.Version,
		Commit:       o.Commit,
		Scenario:     s.Name,
		Seed:         o.Seed,
		Bugs:         o.Bugs,
		TraceSHA256:  hex.EncodeToString(sum[:]),
		Command:      o.Command,
		VirtualNanos: int64(w.Now()),
		TraceEvents:  w.TraceEvents(),
	}
	out.Simulate = time.Since(start)

	start = time.Now()
	results, lin := Check(s, out.Records)
	out.Results = results
	out.Check = time.Since(start)

	if o.Dir == "" {
		return out, nil
	}
	start = time.Now()
	if err := os.WriteFile(filepath.Join(o.Dir, rundir.ScenarioFile), scenario.Marshal(s), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(o.Dir, rundir.TraceFile), trace.Bytes(), 0o644); err != nil {
		return nil, err
	}
	if err := rundir.WriteJSON(o.Dir, rundir.MetaFile, out.Meta); err != nil {
		return nil, err
	}
	if err := WriteResults(o.Dir, s, out.Meta, out.Records, results, lin); err != nil {
		return nil, err
	}
	out.Write = time.Since(start)
	return out, nil
}

// runOne runs a scenario of one cluster in w, up to the moment every
// instance records its state digests.
func runOne(w *simnet.World, s *scenario.Scenario, set bugs.Set, o Options) error {
	base := simnet.LinkConfig{Latency: s.Network.Latency, Loss: s.Network.Loss}
	m, err := InitialModel(s)
	if err != nil {
		return err
	}
	endpoints, brokers := Endpoints(s), Brokers(s)
	topo := harness.Topology{Instances: s.Cluster.Instances, ReplicationFactor: s.Cluster.ReplicationFactor, Buckets: s.Cluster.Buckets,
		Domains:  Domains(s.Cluster),
		Pipeline: InitialPipeline(s), Settings: Settings(s.Cluster), Endpoints: endpoints, Brokers: brokers}
	if m != nil {
		topo.Model = m.Source()
	}
	c, err := harness.Start(w, topo, node.Config{Bugs: set})
	if err != nil {
		return err
	}
	end := s.Duration + s.Final.Recover
	keys, objectKeys := 0, 0
	var ingest []*Ingest
	for i, wl := range s.Workloads {
		switch wl.Kind {
		case scenario.Ingest, scenario.Kafka:
			var gens []*Ingest
			if wl.Kind == scenario.Kafka {
				if !slices.Contains(brokers, wl.Connector) {
					return fmt.Errorf("runner: workload %d produces to %q, which is no kafka connector of pipeline %q", i+1, wl.Connector, s.Cluster.Pipeline)
				}
				gens, err = startKafka(w, c, m, i, wl, end)
			} else {
				gens, err = startIngest(c, m, i, wl, end)
			}
			if err != nil {
				return err
			}
			ingest = append(ingest, gens...)
			continue
		}
		if err := startWorkload(w, c, m, i, wl, end); err != nil {
			return err
		}
		switch wl.Kind {
		case scenario.KV:
			keys = max(keys, wl.Keys)
		case scenario.Objects:
			objectKeys = max(objectKeys, wl.Keys)
		}
	}
	nem, err := scheduleNemesis(w, c, s, nemesis.Config{Network: base, DiskDir: node.WALDir, End: s.Duration})
	if err != nil {
		return err
	}
	if s.Final.Heal {
		w.At(s.Duration, nem.Heal)
	}
	// The final reads and the settling after them add at least settle.
	const settle = Settle + 100*time.Millisecond
	total := end + Drain(s) + settle
	progress := func() {
		if o.Progress != nil {
			o.Progress(w.Now(), max(total, w.Now()+settle))
		}
	}
	stop := end + Drain(s)
	if err := runTo(w, stop, o, progress); err != nil {
		return err
	}
	if len(brokers) > 0 {
		if err := drainKafka(w, c, brokers, progress); err != nil {
			return err
		}
	}
	if keys > 0 {
		if err := c.FinalRead(FinalKeys(keys)); err != nil {
			return err
		}
		if _, err := runWhile(w, func() bool { return !c.FinalReadDone() }, FinalReadLimit, progress); err != nil {
			return err
		}
	}
	// Let the groups settle, then record every instance's state for the
	// convergence check.
	if err := w.RunFor(Settle); err != nil {
		return err
	}
	if objectKeys > 0 {
		// Every replica's objects, read after the groups settled.
		if err := c.FinalObjectReads(FinalObjectReads(m, objectKeys)); err != nil {
			return err
		}
		if _, err := runWhile(w, func() bool { return !c.FinalObjectReadsDone() }, FinalReadLimit, progress); err != nil {
			return err
		}
	}
	if len(ingest) > 0 {
		var sent []client.Op
		for _, g := range ingest {
			sent = append(sent, g.Sent...)
		}
		if err := c.FinalIngestReads(FinalIngestReads(m, sent, c.Replicasets())); err != nil {
			return err
		}
		if _, err := runWhile(w, func() bool { return !c.FinalIngestReadsDone() }, FinalReadLimit, progress); err != nil {
			return err
		}
	}
	if len(endpoints) > 0 {
		if err := drainOutbound(w, c, progress); err != nil {
			return err
		}
		if err := recordOutboundFinals(w, c); err != nil {
			return err
		}
	}
	if slices.Contains(s.Checks, scenario.CheckTopology) {
		if err := recordTopology(w, c, progress); err != nil {
			return err
		}
	}
	c.RecordDigests()
	return nil
}

// startWorkload starts one workload's clients, which stop starting
// operations at until.
func startWorkload(w *simnet.World, c *harness.Cluster, m *model.Model, i int, wl scenario.Workload, until time.Duration) error {
	interval := ClientInterval(wl)
	switch wl.Kind {
	case scenario.Objects:
		if m == nil {
			return fmt.Errorf("runner: workload %d writes objects, and the cluster has no model", i+1)
		}
		_, err := c.AddClients(wl.Clients, client.Config{Target: wl.Target, Timeout: wl.Timeout, Retries: retries(wl.Retries),
			Interval: interval, Until: until}, func(int) client.Workload {
			return ObjectMix(m, wl)
		})
		return err
	case scenario.Model:
		w.At(wl.At, modelProposal(c, i, wl))
		return nil
	case scenario.KV:
		_, err := c.AddClients(wl.Clients, client.Config{Target: wl.Target, Timeout: wl.Timeout, Retries: retries(wl.Retries),
			Interval: interval, Until: until}, func(k int) client.Workload {
			return Mix(i, k, wl)
		})
		return err
	case scenario.Config:
		scheduleActions(w, c, wl)
		for k := range wl.Clients {
			a := &actions{w: w, c: c, wl: wl, prefix: fmt.Sprintf("w%da%d", i+1, k+1), interval: interval, until: until}
			// Spread the clients' starts over one interval.
			w.At(interval*time.Duration(k)/time.Duration(wl.Clients), a.next)
		}
		return nil
	}
	return fmt.Errorf("runner: unknown workload kind %q", wl.Kind)
}

// retries maps the scenario's count (0 means none) to the client's (0
// means the default, negative none).
func retries(n int) int {
	if n == 0 {
		return -1
	}
	return n
}

// actions is one client of a config workload: it proposes an operator
// action (a setting) on group 0 every interval, through the instance its
// target names. The outcome of each is traced as prop.result.
type actions struct {
	w        *simnet.World
	c        *harness.Cluster
	wl       scenario.Workload
	prefix   string
	interval time.Duration
	until    time.Duration
	seq      int
}

func (a *actions) next() {
	if a.w.Now() >= a.until {
		return
	}
	a.seq++
	at := a.target()
	id := fmt.Sprintf("%s-%d", a.prefix, a.seq)
	a.c.Propose(at, "config", id, cluster.SetSetting(a.prefix, fmt.Sprint(a.seq)).Encode(), a.wl.Timeout)
	a.w.After(a.interval, a.next)
}

func (a *actions) target() env.NodeID {
	names := a.c.Instances()
	switch a.wl.Target {
	case "leader":
		if l, ok := a.c.Leader("config"); ok {
			return l
		}
	case "random", "":
	default:
		if slices.Contains(names, env.NodeID(a.wl.Target)) {
			return env.NodeID(a.wl.Target)
		}
	}
	return names[a.w.Rand().IntN(len(names))]
}

// Check judges a run's trace with the scenario's checks, in the order of
// scenario.Checks. It returns the linearizability outcome too when that
// check ran, for its visualization.
func Check(s *scenario.Scenario, trace []env.Record) (rundir.Results, *checker.Linearizability) {
	if len(s.Clusters) > 0 {
		rs, lin := checkClusters(s, trace)
		return rundir.NewResults(rs), lin
	}
	var rs []checker.Result
	var lin *checker.Linearizability
	for _, name := range scenario.Checks {
		if !slices.Contains(s.Checks, name) {
			continue
		}
		r, l := checkOne(s, trace, name)
		if l != nil {
			lin = l
		}
		rs = append(rs, r)
	}
	return rundir.NewResults(rs), lin
}

// checkOne runs check name on the trace of one cluster, and returns the
// linearizability outcome too when that is the check.
func checkOne(s *scenario.Scenario, trace []env.Record, name string) (checker.Result, *checker.Linearizability) {
	switch name {
	case scenario.CheckLinearizable:
		return linearizable(s, trace)
	case scenario.CheckRaftSafety:
		return checker.RaftSafety(trace), nil
	case scenario.CheckQuorum:
		return checker.Quorum(trace), nil
	case scenario.CheckDurability:
		return checker.Durability(checker.FromTrace(trace)), nil
	case scenario.CheckConvergence:
		return checker.Convergence(trace), nil
	case scenario.CheckPartitions:
		return checker.Partitions(trace), nil
	case scenario.CheckFaults:
		return checker.Faults(trace), nil
	case scenario.CheckModel:
		return CheckModel(s, trace), nil
	case scenario.CheckDelivery:
		return checker.Delivery(trace, harness.FinalIngestProcess), nil
	case scenario.CheckOutbound:
		return CheckOutbound(trace), nil
	case scenario.CheckTopology:
		return checker.Topology(trace), nil
	case scenario.CheckBuckets:
		return checker.Buckets(trace), nil
	case scenario.CheckProgress:
		// Two election timeouts after the heal, every group with work
		// must have made progress.
		grace := 2 * time.Duration(node.DefaultElectionTicks) * node.DefaultTickInterval
		return checker.Progress(trace, s.Duration+grace), nil
	}
	panic(fmt.Sprintf("runner: unknown check %q", name)) // scenario.Parse admits only scenario.Checks
}

// WriteResults writes what checking a run produced into its directory:
// history.jsonl, results.json, report.html, and linearizability.html when
// the history is not linearizable (an older one is removed when it is).
func WriteResults(dir string, s *scenario.Scenario, meta rundir.Meta, trace []env.Record, results rundir.Results, lin *checker.Linearizability) error {
	var history bytes.Buffer
	if err := checker.FromTrace(trace).Write(&history); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, rundir.HistoryFile), history.Bytes(), 0o644); err != nil {
		return err
	}
	if err := rundir.WriteJSON(dir, rundir.ResultsFile, results); err != nil {
		return err
	}
	invalid := lin != nil && lin.Result.Verdict == checker.Invalid
	var report bytes.Buffer
	run := reports.Run{
		Scenario: s.Name, Description: s.Description, Seed: meta.Seed,
		Version: meta.ShoalVersion, Commit: meta.Commit, Command: meta.Command, TraceSHA256: meta.TraceSHA256,
		Verdict: results.Verdict, Results: results.Checkers, Trace: trace,
	}
	if invalid {
		run.LinViz = rundir.LinearizabilityFile
	}
	if l := meta.Live; l != nil {
		run.Live = &reports.Live{Instances: l.Instances, Unapplied: l.Unapplied}
	}
	err := reports.Write(&report, run)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, rundir.ReportFile), report.Bytes(), 0o644); err != nil {
		return err
	}
	vizFile := filepath.Join(dir, rundir.LinearizabilityFile)
	if !invalid {
		if err := os.Remove(vizFile); err != nil && !os.IsNotExist(err) {
			return err
		}
		return nil
	}
	var viz bytes.Buffer
	if err := lin.Visualize(&viz, reports.Annotations(trace)); err != nil {
		return err
	}
	return os.WriteFile(vizFile, viz.Bytes(), 0o644)
}
