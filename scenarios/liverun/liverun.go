// Package liverun runs a scenario against a real cluster: `shoal serve`
// processes on loopback, each peer link routed through a proxy the
// harness controls (scenarios/liverun/proxy). The scenario's workloads
// run through the HTTP API with clients that record a history
// (scenarios/liverun/kvclient); its faults become proxy settings
// (partitions, link faults) and signals (SIGKILL and restart,
// SIGSTOP/SIGCONT), scheduled by the same nemesis as in the simulator.
// The instances write the engine's trace; the harness merges it with its
// own, checks it with the same checkers, and writes the same run
// directory and report. Faults real processes cannot take (clock skew,
// disk errors) are traced as taking no effect and listed in the report.
//
// A live run is not deterministic: the seed draws the nemesis's and the
// clients' choices, but the timing is the machine's.
package liverun

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/node"
	"github.com/shoaldb/shoal/nemesis"
	"github.com/shoaldb/shoal/scenarios/liverun/kvclient"
	"github.com/shoaldb/shoal/scenarios/liverun/proxy"
	"github.com/shoaldb/shoal/scenarios/rundir"
	"github.com/shoaldb/shoal/scenarios/runner"
	"github.com/shoaldb/shoal/scenarios/scenario"
	"github.com/shoaldb/shoal/simnet"
	"github.com/shoaldb/shoal/simnet/client"
	"github.com/shoaldb/shoal/simnet/harness"
)

// Options are what a live run needs beyond its scenario.
type Options struct {
	// Binary is the shoal binary each instance runs as `Binary serve ...`.
	Binary string
	// Nodes, if not zero, replaces the scenario's instance count; a
	// scenario whose replication factor equals its instance count keeps
	// one replicaset of them all.
	Nodes int
	Seed  uint64
	// Bugs are planted bugs every instance switches on (a shoalbugs
	// build of Binary only).
	Bugs []string
	// Dir is the run directory, already created.
	Dir string
	// Command reproduces the run; Version and Commit identify the build.
	Command, Version, Commit string
	// Logger receives the harness's log; nil discards it.
	Logger *slog.Logger
	// Progress, if set, is called about every second with the time since
	// the cluster became ready and the run's expected length.
	Progress func(elapsed, total time.Duration)
	// FormTimeout bounds the wait for the cluster to form (default 60s).
	FormTimeout time.Duration
}

// Outcome is what a live run produced.
type Outcome struct {
	Meta    rundir.Meta
	Results rundir.Results
	Records []env.Record
}

// Limits of a live run.
const (
	// MaxNodes is the most instances a live run starts.
	MaxNodes = 9
	// stopGrace is how long an instance has to exit after SIGTERM before
	// it is killed.
	stopGrace = 10 * time.Second
	// finalReadLimit bounds the final reads, as in the simulator.
	finalReadLimit = 30 * time.Second
	// settle is the quiet time before the state digests, as in the
	// simulator.
	settle = 2 * time.Second
	// digestWait bounds the wait for every instance to write its digests.
	digestWait = 10 * time.Second
)

// Run runs s against a real cluster and judges it. The processes it
// starts are stopped, by their PIDs, before it returns, also when ctx
// ends or the run fails.
func Run(ctx context.Context, s *scenario.Scenario, o Options) (*Outcome, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.FormTimeout <= 0 {
		o.FormTimeout = 60 * time.Second
	}
	s, unapplied, err := adapt(s, o.Nodes)
	if err != nil {
		return nil, err
	}
	r := &run{s: s, o: o, rec: &recorder{}, log: o.Logger}
	defer r.shutdown()
	if err := r.start(ctx); err != nil {
		return nil, err
	}
	if err := r.drive(ctx); err != nil {
		return nil, err
	}
	r.shutdown()
	return r.finish(unapplied)
}

// adapt fits a scenario to a live run: the instance count, and the
// workloads and checks real processes can take. What it leaves out is
// listed.
func adapt(in *scenario.Scenario, nodes int) (*scenario.Scenario, []string, error) {
	s := *in
	s.Workloads = slices.Clone(in.Workloads)
	if nodes != 0 {
		if s.Cluster.ReplicationFactor == s.Cluster.Instances {
			s.Cluster.ReplicationFactor = nodes
		}
		s.Cluster.Instances = nodes
	}
	if n := s.Cluster.Instances; n < 1 || n > MaxNodes {
		return nil, nil, fmt.Errorf("a live run starts 1 to %d instances, not %d", MaxNodes, n)
	}
	if s.Cluster.Instances%s.Cluster.ReplicationFactor != 0 {
		return nil, nil, fmt.Errorf("%d instances do not divide into replicasets of %d (replication_factor)", s.Cluster.Instances, s.Cluster.ReplicationFactor)
	}
	var unapplied []string
	kept := s.Workloads[:0]
	for i, w := range s.Workloads {
		if w.Kind != scenario.KV {
			unapplied = append(unapplied, fmt.Sprintf("workload %d (%s): not run: the HTTP API takes no operator actions on group 0 yet", i+1, w.Kind))
			continue
		}
		kept = append(kept, w)
	}
	s.Workloads = kept
	var checks []string
	for _, c := range s.Checks {
		if c == scenario.CheckPartitions {
			unapplied = append(unapplied, "check partitions: not run: it judges the simulated network from every message it traced, and a live run traces no message (the proxy keeps the cuts by construction)")
			continue
		}
		checks = append(checks, c)
	}
	s.Checks = checks
	for i, st := range s.Nemesis {
		alts := st.Pick
		if st.Fault != nil {
			alts = []nemesis.Fault{*st.Fault}
		}
		for _, f := range alts {
			if f.Kind == nemesis.Clock || f.Kind == nemesis.Disk {
				unapplied = append(unapplied, fmt.Sprintf("nemesis step %d (%s): not applied: real processes keep the machine's clock and a real disk; the trace records each occurrence as taking no effect", i+1, f.Kind))
				break
			}
		}
	}
	return &s, unapplied, nil
}

// run is one live run in progress.
type run struct {
	s   *scenario.Scenario
	o   Options
	rec *recorder
	log *slog.Logger

	procs   []*process
	proxy   *proxy.Proxy
	cluster *cluster
	world   *world
	origin  time.Time // when the cluster became ready: the scenario's time zero
	stopped sync.Once
	stopErr error
}

// start lays out the instances' directories and ports, the proxy on
// every peer link, starts every instance, and waits for the cluster to
// form and be ready.
func (r *run) start(ctx context.Context) error {
	n := r.s.Cluster.Instances
	addrs, err := freeAddrs(2 * n)
	if err != nil {
		return err
	}
	r.rec.Note(env.WorldNode, "world.start", env.Int("format", 1), env.Uint("seed", r.o.Seed))
	r.proxy = proxy.New(r.o.Seed, r.log.With("component", "proxy"))
	base := simnet.LinkConfig{Latency: r.s.Network.Latency, Loss: r.s.Network.Loss}
	names := make([]env.NodeID, n)
	for i := range n {
		names[i] = env.NodeID(fmt.Sprintf("n%d", i+1))
	}
	// routes[i][j] is where instance i dials instance j: the proxy's
	// listener for the link i→j.
	routes := make([]map[env.NodeID]string, n)
	for i := range n {
		routes[i] = map[env.NodeID]string{}
		for j := range n {
			if i == j {
				continue
			}
			if routes[i][names[j]], err = r.proxy.Listen(names[i], names[j], addrs[j]); err != nil {
				return err
			}
			if err := r.proxy.SetLink(names[i], names[j], base); err != nil {
				return err
			}
		}
	}
	r.rec.Note(env.WorldNode, "net.links",
		env.Str("dist", base.Latency.Dist.String()), env.Int("min", int64(base.Latency.Min)), env.Int("max", int64(base.Latency.Max)),
		env.Float("loss", base.Loss), env.Float("duplicate", 0), env.Bool("reorder", false))
	for i, name := range names {
		dir := filepath.Join(r.o.Dir, "nodes", string(name))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		p := &process{name: name, bin: r.o.Binary, dir: dir, http: addrs[n+i], onExit: r.exited}
		var join, route []string
		for _, peer := range names {
			if peer != name {
				join = append(join, routes[i][peer])
				route = append(route, string(peer)+"="+routes[i][peer])
			}
		}
		p.args = []string{"serve", "--name", string(name), "--peer-addr", addrs[i], "--http-addr", p.http,
			"--data-dir", filepath.Join(dir, "data"), "--trace", p.traceFile(), "--log-level", "debug"}
		if n > 1 {
			p.args = append(p.args, "--join", strings.Join(join, ","), "--bootstrap-expect", fmt.Sprint(n),
				"--route", strings.Join(route, ","))
		}
		p.args = append(p.args, "--replication-factor", fmt.Sprint(r.s.Cluster.ReplicationFactor))
		for _, b := range r.o.Bugs {
			p.args = append(p.args, "--bug", b)
		}
		r.procs = append(r.procs, p)
	}
	var replicasets []string
	for k := range n / r.s.Cluster.ReplicationFactor {
		replicasets = append(replicasets, fmt.Sprintf("rs%d", k+1))
	}
	r.cluster = newCluster(r.procs, replicasets)
	for _, p := range r.procs {
		if err := p.start(); err != nil {
			return err
		}
		r.rec.Note(p.name, "node.start", env.Int("inc", 1))
		r.log.Info("started", "instance", p.name, "pid", p.pid(), "http", p.http)
	}
	deadline := time.Now().Add(r.o.FormTimeout)
	for {
		err := r.cluster.ready()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the cluster was not ready after %s: %v (logs under %s)", r.o.FormTimeout, err, filepath.Join(r.o.Dir, "nodes"))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	r.cluster.refresh()
	r.origin = time.Now()
	r.rec.origin = r.origin
	r.world = newWorld(r.origin, r.o.Seed, r.rec, r.procs, r.proxy)
	r.log.Info("the cluster is ready", "instances", n)
	return nil
}

// exited records an instance's exit that no fault caused: it crashed.
func (r *run) exited(p *process, inc int, err error) {
	r.log.Warn("an instance exited by itself", "instance", p.name, "error", err)
	r.rec.Note(p.name, "node.crash", env.Int("inc", int64(inc)),
		env.Str("error", fmt.Sprintf("the process exited by itself (%v); see %s", err, p.logFile())))
}

// drive runs the schedule, the workloads, the final reads and the state
// digests.
func (r *run) drive(ctx context.Context) error {
	s := r.s
	nem, err := nemesis.Schedule(r.world, r.cluster, s.Nemesis, nemesis.Config{
		Network: simnet.LinkConfig{Latency: s.Network.Latency, Loss: s.Network.Loss}, DiskDir: node.WALDir, End: s.Duration})
	if err != nil {
		return err
	}
	if s.Final.Heal {
		r.world.At(s.Duration, nem.Heal)
	}
	end := s.Duration + s.Final.Recover
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	// Keep the clients' idea of the leaders fresh.
	var polling sync.WaitGroup
	polling.Add(1)
	go func() {
		defer polling.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				r.cluster.refresh()
				if r.o.Progress != nil {
					r.o.Progress(time.Since(r.origin), end)
				}
			}
		}
	}()
	defer polling.Wait()
	defer cancel()

	servers := map[env.NodeID]string{}
	for _, p := range r.procs {
		servers[p.name] = "http://" + p.http
	}
	leader := func() (env.NodeID, bool) {
		rs := r.cluster.Replicasets()
		return r.cluster.CachedLeader(rs[0])
	}
	keys := 0
	var clients sync.WaitGroup
	process := 0
	for i, wl := range s.Workloads {
		keys = max(keys, wl.Keys)
		interval := time.Duration(float64(wl.Clients) / wl.Rate * float64(time.Second))
		for k := range wl.Clients {
			cfg := kvclient.Config{
				Name: env.NodeID(fmt.Sprintf("c%d", process+1)), Servers: servers, Target: wl.Target, Leader: leader,
				Timeout: wl.Timeout, Retries: wl.Retries, Interval: interval, Until: r.origin.Add(end),
				Seed: r.o.Seed ^ uint64(process+1)*0x9e3779b97f4a7c15, Process: process, ProcessStride: harness.MaxClients,
				Recorder: r.rec,
			}
			work := &client.Mix{ID: fmt.Sprintf("w%dc%d", i+1, k+1), Keys: wl.Keys,
				Read: wl.Mix.Read, Write: wl.Mix.Write, CAS: wl.Mix.CAS, Delete: wl.Mix.Delete}
			process++
			clients.Add(1)
			go func() {
				defer clients.Done()
				kvclient.Run(ctx, cfg, work)
			}()
		}
	}
	clients.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	// As in the simulator, the final reads begin a drain after the
	// workloads stop: long enough for any operation still outstanding to
	// end.
	if wait := time.Until(r.origin.Add(end + runner.Drain(s))); wait > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	if err := r.world.err(); err != nil {
		return err
	}
	if keys > 0 {
		names := make([]string, keys)
		for i := range names {
			names[i] = fmt.Sprint("k", i)
		}
		fctx, fcancel := context.WithTimeout(ctx, finalReadLimit)
		kvclient.Run(fctx, kvclient.Config{
			Name: "final", Servers: servers, Target: "leader", Leader: leader, Timeout: 10 * time.Second, Retries: 40,
			Interval: time.Millisecond, Until: time.Now().Add(finalReadLimit), Seed: r.o.Seed, Process: harness.FinalReadProcess,
			ProcessStride: 1, Recorder: r.rec,
		}, &client.Reads{Keys: names})
		fcancel()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(settle):
	}
	r.world.close()
	return r.digests(ctx)
}

// digests has every running instance record its groups' state digests
// (SIGUSR1, shoal serve) and waits until each has written them.
func (r *run) digests(ctx context.Context) error {
	before := map[env.NodeID]int{}
	// The instances answer one after another, not at one instant as in
	// the simulator: the marker tells the convergence check where the
	// round begins.
	r.rec.Note(env.WorldNode, "digest.round")
	for _, p := range r.procs {
		before[p.name] = countDigests(p.traceFile())
		if p.isPaused() {
			p.signal(syscall.SIGCONT)
		}
		p.signal(syscall.SIGUSR1)
	}
	deadline := time.Now().Add(digestWait)
	for _, p := range r.procs {
		for p.up() && countDigests(p.traceFile()) == before[p.name] {
			if time.Now().After(deadline) {
				return fmt.Errorf("%s wrote no state digest within %s of SIGUSR1", p.name, digestWait)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}

func countDigests(path string) int {
	b, _ := os.ReadFile(path)
	return bytes.Count(b, []byte(`"kind":"sm.digest"`))
}

// shutdown stops every process by its PID and closes the proxy; it runs
// once, however the run ends.
func (r *run) shutdown() {
	r.stopped.Do(func() {
		if r.world != nil {
			r.world.close()
		}
		var wg sync.WaitGroup
		errs := make([]error, len(r.procs))
		for i, p := range r.procs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = p.stop(stopGrace)
			}()
		}
		wg.Wait()
		if r.proxy != nil {
			r.proxy.Close()
		}
		r.stopErr = errors.Join(errs...)
		if r.stopErr != nil {
			r.log.Warn("stopping the instances", "error", r.stopErr)
		}
	})
}

// finish merges the traces, checks them and writes the run directory.
func (r *run) finish(unapplied []string) (*Outcome, error) {
	var files []string
	for _, p := range r.procs {
		files = append(files, p.traceFile())
	}
	trace, bad, err := r.rec.merge(files)
	if err != nil {
		return nil, err
	}
	if bad > 0 {
		unapplied = append(unapplied, fmt.Sprintf("%d trace lines an instance cut short when it was killed were left out", bad))
	}
	records, err := env.ReadTrace(bytes.NewReader(trace))
	if err != nil {
		return nil, fmt.Errorf("the merged trace: %w", err)
	}
	sum := sha256.Sum256(trace)
	var last int64
	if len(records) > 0 {
		last = records[len(records)-1].Time
	}
	out := &Outcome{Records: records}
	out.Meta = rundir.Meta{
		ShoalVersion: r.o.Version, Commit: r.o.Commit, Scenario: r.s.Name, Seed: r.o.Seed, Bugs: r.o.Bugs,
		TraceSHA256: hex.EncodeToString(sum[:]), Command: r.o.Command, VirtualNanos: last, TraceEvents: int64(len(records)),
		Live: &rundir.Live{Instances: len(r.procs), Binary: r.o.Binary, Unapplied: unapplied},
	}
	results, lin := runner.Check(r.s, records)
	out.Results = results
	if err := os.WriteFile(filepath.Join(r.o.Dir, rundir.ScenarioFile), scenario.Marshal(r.s), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(r.o.Dir, rundir.TraceFile), trace, 0o644); err != nil {
		return nil, err
	}
	if err := rundir.WriteJSON(r.o.Dir, rundir.MetaFile, out.Meta); err != nil {
		return nil, err
	}
	if err := runner.WriteResults(r.o.Dir, r.s, out.Meta, records, results, lin); err != nil {
		return nil, err
	}
	return out, nil
}

// recorder collects the harness's trace events (the clients', the
// nemesis's, the processes') with their wall-clock time; merge combines
// them with the instances' traces.
type recorder struct {
	mu     sync.Mutex
	recs   []env.Record // Time is wall-clock Unix nanoseconds until merge
	origin time.Time
}

func (r *recorder) Note(node env.NodeID, kind string, fields ...env.Field) {
	now := time.Now().UnixNano()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, env.Record{Time: now, Node: node, Kind: kind, Fields: slices.Clone(fields)})
}

// merge reads the instances' trace files and returns the whole trace in
// the simulator's format: every record in wall-clock order, its time
// counted from the origin (records from before it, such as the cluster
// forming, at 0). A line an instance could not finish before it was
// killed is left out and counted.
func (r *recorder) merge(files []string) (trace []byte, bad int, err error) {
	r.mu.Lock()
	all := slices.Clone(r.recs)
	r.mu.Unlock()
	for _, path := range files {
		recs, skipped, err := readNodeTrace(path)
		if err != nil {
			return nil, 0, err
		}
		all = append(all, recs...)
		bad += skipped
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Time < all[j].Time })
	origin := r.origin.UnixNano()
	var b []byte
	for i := range all {
		rec := &all[i]
		b = env.AppendLine(b, max(rec.Time-origin, 0), rec.Node, rec.Kind, rec.Fields)
	}
	return b, bad, nil
}

// readNodeTrace reads an instance's trace file line by line. A line that
// does not parse is counted and skipped: SIGKILL can cut the last one.
func readNodeTrace(path string) ([]env.Record, int, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	var out []env.Record
	bad := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), env.MaxTraceLine)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		rec, err := env.ParseRecord(sc.Bytes())
		if err != nil {
			bad++
			continue
		}
		out = append(out, rec)
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		return nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	return out, bad, nil
}

// freeAddrs finds n free loopback ports. Another process may take one
// before an instance binds it; the instance then fails to start and the
// run says so.
func freeAddrs(n int) ([]string, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []string
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().String())
	}
	return out, nil
}
