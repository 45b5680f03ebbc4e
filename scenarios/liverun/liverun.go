// Package liverun runs a scenario against a real cluster: `shoal serve`
// processes on loopback, each peer link routed through a proxy the
// harness controls (scenarios/liverun/proxy). The scenario's workloads
// run through the HTTP API with clients that record a history
// (scenarios/liverun/kvclient); its faults become proxy settings
// (partitions, link faults) and signals (SIGKILL and restart,
// SIGSTOP/SIGCONT), scheduled by the same nemesis as in the simulator.
// The instances write the engine's trace; the harness merges it with its
// own, checks it with the same checkers, and writes the same run
// directory and report. A scenario's pipeline and queue settings reach
// the instances as `shoal serve --pipeline FILE` (the file in the run
// directory, PipelineFile) and `--setting queue.KEY=VALUE`; its model, as
// a proposal through the API before the scenario's time begins. Faults
// real processes cannot take (clock skew, disk errors) are traced as
// taking no effect and listed in the report.
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
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/live"
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
	// Progress, if set, is called about every 250ms while the workloads
	// run with the time since the cluster became ready and the length of
	// the schedule and recovery (the final reads and digests follow).
	Progress func(elapsed, total time.Duration)
	// FormTimeout bounds the wait for the cluster to form (default 60s).
	FormTimeout time.Duration
	// Token, if set, turns authentication on: once the cluster is ready
	// the run makes it the cluster's first API token, an admin's (POST
	// /v1/tokens), checks that a request without it is refused, and every
	// request of the run carries it. It must be a token the API takes
	// (live.MinSuppliedToken bytes or more).
	Token string
	// GraphQL sends the objects workloads' operations through POST
	// /v1/graphql (kvclient.Config.GraphQL) instead of the REST data
	// API; the final reads stay REST, so the two APIs are checked
	// against each other. A scenario whose model changes is refused.
	GraphQL bool
}

// Outcome is what a live run produced.
type Outcome struct {
	Meta    rundir.Meta
	Results rundir.Results
	Records []env.Record
}

// PipelineFile is the file in the run directory that holds the
// scenario's pipeline, which every instance is started with.
const PipelineFile = "pipeline.yaml"

// Limits of a live run.
const (
	// MaxNodes is the most instances a live run starts.
	MaxNodes = 9
	// stopGrace is how long an instance has to exit after SIGTERM before
	// it is killed.
	stopGrace = 10 * time.Second
	// digestWait bounds the wait for the replicas to catch up before the
	// state digests, and the wait for every instance to write them.
	digestWait = 10 * time.Second
)

// Run runs s against a real cluster and judges it. The processes it
// starts are stopped, by their PIDs, before it returns, also when ctx
// ends or the run fails; should the harness itself die, the kernel kills
// them (Pdeathsig).
func Run(ctx context.Context, s *scenario.Scenario, o Options) (*Outcome, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.FormTimeout <= 0 {
		o.FormTimeout = 60 * time.Second
	}
	s, unapplied, err := Adapt(s, o.Nodes)
	if err != nil {
		return nil, err
	}
	if o.GraphQL {
		if err := CheckGraphQL(s); err != nil {
			return nil, err
		}
	}
	r := &run{s: s, o: o, rec: &recorder{}, log: o.Logger, topo: newTopology(s)}
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

// CheckGraphQL says why s cannot run with Options.GraphQL: it has no
// objects workload for GraphQL to carry, or its model changes (the
// GraphQL client builds its requests from the model the run starts
// with).
func CheckGraphQL(s *scenario.Scenario) error {
	objects := false
	for i, w := range s.Workloads {
		switch w.Kind {
		case scenario.Model:
			return fmt.Errorf("%s: workload %d changes the model, and the GraphQL client builds its requests from the model the run starts with", s.Name, i+1)
		case scenario.Objects:
			objects = true
		}
	}
	if !objects {
		return fmt.Errorf("%s: no objects workload: GraphQL carries object operations only", s.Name)
	}
	return nil
}

// Adapt fits a scenario to a live run of nodes instances (0: the
// scenario's count) and checks it against that cluster before anything
// starts: the workloads, checks and faults real processes can take. It
// returns the scenario as it will run and what it leaves out or does
// differently, for the report.
func Adapt(in *scenario.Scenario, nodes int) (*scenario.Scenario, []string, error) {
	s := *in
	s.Workloads = slices.Clone(in.Workloads)
	if nodes != 0 {
		if s.Cluster.ReplicationFactor == s.Cluster.Instances {
			s.Cluster.ReplicationFactor = nodes
		}
		s.Cluster.Instances = nodes
	}
	if n := s.Cluster.Instances; n < 1 || n > MaxNodes {
		return nil, nil, fmt.Errorf("%s: a live run starts 1 to %d instances, not %d", s.Name, MaxNodes, n)
	}
	if s.Cluster.Instances%s.Cluster.ReplicationFactor != 0 {
		return nil, nil, fmt.Errorf("%s: %d instances do not divide into replicasets of %d (its replication_factor)",
			s.Name, s.Cluster.Instances, s.Cluster.ReplicationFactor)
	}
	topo := newTopology(&s)
	var unapplied []string
	kept := s.Workloads[:0]
	for i, w := range s.Workloads {
		if w.Kind == scenario.Config && len(w.Actions) > 0 {
			return nil, nil, fmt.Errorf("%s: workload %d joins or expels instances, which a live run does not do (shoal serve --join and shoal expel are not driven by it)", s.Name, i+1)
		}
		if w.Kind == scenario.Config {
			unapplied = append(unapplied, fmt.Sprintf("workload %d (%s): not run: the HTTP API takes no operator actions on group 0 but model changes", i+1, w.Kind))
			continue
		}
		if w.Kind == scenario.Kafka {
			unapplied = append(unapplied, fmt.Sprintf("workload %d (%s): not run: a live run has no simulated broker to produce to (a real cluster's kafka connectors read a real broker)", i+1, w.Kind))
			continue
		}
		if w.Target != "random" && w.Target != "leader" && !slices.Contains(topo.instances, env.NodeID(w.Target)) {
			return nil, nil, fmt.Errorf("%s: workload %d targets %s, which a cluster of %d instances does not have", s.Name, i+1, w.Target, len(topo.instances))
		}
		if w.Target == "leader" && w.Kind != scenario.Model && len(topo.replicasets) > 1 {
			unapplied = append(unapplied, fmt.Sprintf("workload %d: target leader sends every operation to rs1's leader, which forwards those of other replicasets (the simulator's clients find each key's leader)", i+1))
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
	if err := nemesis.Check(topo, s.Nemesis, nemesis.Config{DiskDir: node.WALDir, End: s.Duration}); err != nil {
		return nil, nil, fmt.Errorf("%s on %d instances: %w", s.Name, len(topo.instances), err)
	}
	kinds := map[nemesis.Kind]bool{}
	for i, st := range s.Nemesis {
		alts := st.Pick
		if st.Fault != nil {
			alts = []nemesis.Fault{*st.Fault}
		}
		for _, f := range alts {
			kinds[f.Kind] = true
			if why := unsupported(&f); why != "" {
				what := fmt.Sprintf("nemesis step %d (%s): %s", i+1, f.Kind, why)
				if len(alts) > 1 {
					what += "; when an occurrence draws it, it is traced as taking no effect"
				}
				unapplied = append(unapplied, what)
			}
		}
	}
	if kinds[nemesis.Kill] || kinds[nemesis.Restart] {
		unapplied = append(unapplied, "kill and restart: SIGKILL ends the process, but the machine's page cache keeps what it wrote and had not synced, which the simulator's kill loses")
	}
	if kinds[nemesis.Partition] || kinds[nemesis.Link] {
		unapplied = append(unapplied, "partitions and link faults: each peer connection's hello, and the discovery exchanges, cross them; every other frame is cut, lost or delayed")
	}
	return &s, unapplied, nil
}

// run is one live run in progress.
type run struct {
	s    *scenario.Scenario
	o    Options
	rec  *recorder
	log  *slog.Logger
	topo topology

	procs   []*process
	proxy   *proxy.Proxy
	cluster *cluster
	world   *world
	origin  time.Time    // when the cluster became ready: the scenario's time zero
	hc      *http.Client // the harness's own requests: Options.Token's, if set
	stopped sync.Once
	stopErr error
}

// start lays out the instances' directories and ports, the proxy on
// every peer link, starts every instance, and waits for the cluster to
// form and be ready.
func (r *run) start(ctx context.Context) error {
	n := r.s.Cluster.Instances
	// The instances' ports stay held until the proxy has its own, so
	// that no proxy listener takes one.
	held, err := HoldPorts(2 * n)
	if err != nil {
		return fmt.Errorf("choosing the instances' ports: %w", err)
	}
	addrs := make([]string, len(held))
	for i, l := range held {
		addrs[i] = l.Addr().String()
	}
	release := func() {
		for _, l := range held {
			l.Close()
		}
		held = nil
	}
	defer release()
	r.rec.Note(env.WorldNode, "world.start", env.Int("format", 1), env.Uint("seed", r.o.Seed))
	r.proxy = proxy.New(r.o.Seed, r.log.With("component", "proxy"))
	base := simnet.LinkConfig{Latency: r.s.Network.Latency, Loss: r.s.Network.Loss}
	names := r.topo.instances
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
				return fmt.Errorf("the proxy for %s→%s: %w", names[i], names[j], err)
			}
			if err := r.proxy.SetLink(names[i], names[j], base); err != nil {
				return fmt.Errorf("the scenario's network: %w", err)
			}
		}
	}
	r.rec.Note(env.WorldNode, "net.links",
		env.Str("dist", base.Latency.Dist.String()), env.Int("min", int64(base.Latency.Min)), env.Int("max", int64(base.Latency.Max)),
		env.Float("loss", base.Loss), env.Float("duplicate", 0), env.Bool("reorder", false))
	// The cluster's own settings: what the simulator bootstraps with
	// (harness.Topology's Pipeline and Settings), each instance is given.
	var common []string
	if src := runner.InitialPipeline(r.s); src != nil {
		file := filepath.Join(r.o.Dir, PipelineFile)
		if err := os.WriteFile(file, src, 0o644); err != nil {
			return err
		}
		common = append(common, "--pipeline", file)
	}
	for _, k := range slices.Sorted(maps.Keys(r.s.Cluster.Queue)) {
		common = append(common, "--setting", k+"="+r.s.Cluster.Queue[k])
	}
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
		p.args = append(p.args, common...)
		for _, b := range r.o.Bugs {
			p.args = append(p.args, "--bug", b)
		}
		r.procs = append(r.procs, p)
	}
	r.hc = http.DefaultClient
	if r.o.Token != "" {
		r.hc = &http.Client{Transport: live.BearerTransport{Token: r.o.Token}}
	}
	r.cluster = newCluster(r.topo, r.procs, r.o.Token)
	release()
	for _, p := range r.procs {
		if err := p.start(); err != nil {
			return err
		}
		r.rec.Note(p.name, "node.start", env.Int("inc", 1))
		r.log.Info("started", "instance", p.name, "pid", p.pid(), "http", p.http)
	}
	deadline := time.Now().Add(r.o.FormTimeout)
	for {
		for _, p := range r.procs {
			if !p.up() {
				return fmt.Errorf("%s exited before the cluster formed; see %s", p.name, p.logFile())
			}
		}
		err := r.cluster.ready()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the cluster was not ready after %s: %v (logs under %s)", r.o.FormTimeout, err, filepath.Join(r.o.Dir, "nodes"))
		}
		select {
		case <-ctx.Done():
			return interrupted(ctx)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if err := r.turnAuthOn(ctx, deadline); err != nil {
		return err
	}
	if err := r.giveModel(ctx, deadline); err != nil {
		return err
	}
	if err := r.awaitPipeline(ctx, deadline); err != nil {
		return err
	}
	r.cluster.refresh()
	r.origin = time.Now()
	r.rec.origin = r.origin
	r.world = newWorld(r.origin, r.o.Seed, r.rec, r.procs, r.proxy)
	r.log.Info("the cluster is ready", "instances", n)
	return nil
}

// turnAuthOn makes Options.Token the cluster's first API token, an
// admin's, if it is set, and checks that authentication is on: a request
// without the token is refused 401.
func (r *run) turnAuthOn(ctx context.Context, deadline time.Time) error {
	if r.o.Token == "" {
		return nil
	}
	base := "http://" + r.procs[0].http
	body, _ := json.Marshal(map[string]string{"name": "live-run", "role": "admin", "token": r.o.Token})
	send := func(method, path string, body []byte) (int, string, error) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, method, base+path, bytes.NewReader(body))
		if err != nil {
			return 0, "", err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req) // without the token
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		return resp.StatusCode, string(bytes.TrimSpace(b)), nil
	}
	for {
		status, answer, err := send(http.MethodPost, "/v1/tokens", body)
		if err == nil && status == http.StatusCreated {
			break
		}
		if err == nil && status != http.StatusServiceUnavailable && status != http.StatusGatewayTimeout {
			return fmt.Errorf("making the run's API token: POST /v1/tokens: %d %s", status, answer)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("making the run's API token: %d %s %v", status, answer, err)
		}
		select {
		case <-ctx.Done():
			return interrupted(ctx)
		case <-time.After(100 * time.Millisecond):
		}
	}
	status, answer, err := send(http.MethodGet, "/v1/cluster", nil)
	if err != nil || status != http.StatusUnauthorized {
		return fmt.Errorf("authentication did not turn on: GET /v1/cluster without the token answered %d %s %v", status, answer, err)
	}
	r.log.Info("authentication is on: every request carries the run's token")
	return nil
}

// giveModel has the cluster take the scenario's model, if it names one,
// before the scenario's time begins: a proposal through the first
// instance (PUT /v1/model), then every instance has it in force.
func (r *run) giveModel(ctx context.Context, deadline time.Time) error {
	m, err := runner.InitialModel(r.s)
	if err != nil || m == nil {
		return err
	}
	put := func() error {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+r.procs[0].http+"/v1/model", bytes.NewReader(m.Source()))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/yaml")
		resp, err := r.hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		if resp.StatusCode != http.StatusOK && !bytes.Contains(body, []byte("unchanged")) {
			return fmt.Errorf("PUT /v1/model: %d %s", resp.StatusCode, bytes.TrimSpace(body))
		}
		return nil
	}
	inForce := func(p *process) bool {
		resp, err := r.hc.Get("http://" + p.http + "/v1/model")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var b live.ModelBody
		return resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&b) == nil && b.Digest == m.Digest()
	}
	var last error
	for {
		if last = put(); last == nil {
			all := true
			for _, p := range r.procs {
				all = all && inForce(p)
			}
			if all {
				r.log.Info("the model is in force", "model", r.s.Cluster.Model, "digest", m.Digest())
				return nil
			}
			last = errors.New("not every instance has it in force")
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the cluster did not take model %s: %v", r.s.Cluster.Model, last)
		}
		select {
		case <-ctx.Done():
			return interrupted(ctx)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// awaitPipeline waits until every instance has the scenario's pipeline,
// if it names one, in force: each sets it (--pipeline) once it is ready,
// and the scenario's time begins once all have it.
func (r *run) awaitPipeline(ctx context.Context, deadline time.Time) error {
	src := runner.InitialPipeline(r.s)
	if src == nil {
		return nil
	}
	inForce := func(p *process) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.http+"/v1/pipeline", nil)
		if err != nil {
			return err
		}
		resp, err := r.hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var st live.PipelineStatus
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st); err != nil || resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: GET /v1/pipeline: %d (%v)", p.name, resp.StatusCode, err)
		}
		if st.Source != string(src) {
			return fmt.Errorf("%s has pipeline revision %d in force, not the scenario's", p.name, st.Revision)
		}
		return nil
	}
	for {
		var last error
		for _, p := range r.procs {
			if last = inForce(p); last != nil {
				break
			}
		}
		if last == nil {
			r.log.Info("the pipeline is in force", "pipeline", r.s.Cluster.Pipeline)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the cluster did not take pipeline %s (each instance sets it from %s; see their logs under %s): %v",
				r.s.Cluster.Pipeline, filepath.Join(r.o.Dir, PipelineFile), filepath.Join(r.o.Dir, "nodes"), last)
		}
		select {
		case <-ctx.Done():
			return interrupted(ctx)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// proposeModel runs a model workload: at its time, PUT /v1/model with its
// model to the instance its target names (group 0's leader for leader),
// recording the answer as model.proposal, as the simulator records
// prop.result.
func (r *run) proposeModel(ctx context.Context, i int, wl scenario.Workload) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(time.Until(r.origin.Add(wl.At))):
	}
	var at env.NodeID
	switch wl.Target {
	case "leader":
		at, _ = r.cluster.CachedLeader("config")
	case "random", "":
	default:
		at = env.NodeID(wl.Target)
	}
	if at == "" {
		at = r.procs[rand.New(rand.NewPCG(r.o.Seed, uint64(i))).IntN(len(r.procs))].name
	}
	id := runner.ModelProposalID(i)
	outcome, why := "fail", ""
	pctx, cancel := context.WithTimeout(ctx, wl.Timeout)
	defer cancel()
	var addr string
	for _, p := range r.procs {
		if p.name == at {
			addr = p.http
		}
	}
	req, err := http.NewRequestWithContext(pctx, http.MethodPut, "http://"+addr+"/v1/model", bytes.NewReader(scenario.ModelSource(wl.ModelName)))
	if err == nil {
		req.Header.Set("Content-Type", "application/yaml")
		var resp *http.Response
		if resp, err = r.hc.Do(req); err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
			resp.Body.Close()
			why = fmt.Sprintf("%d %s", resp.StatusCode, bytes.TrimSpace(body))
			switch resp.StatusCode {
			case http.StatusOK:
				outcome = "ok"
			case http.StatusGatewayTimeout:
				outcome = "timeout"
			}
		}
	}
	if err != nil {
		// Sent or not, nobody answered: its fate is unknown.
		outcome, why = "timeout", err.Error()
	}
	r.rec.Note(at, "model.proposal", env.Str("id", id), env.Str("outcome", outcome), env.Str("answer", why))
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
	m, err := runner.InitialModel(s)
	if err != nil {
		return err
	}
	keys, objectKeys := 0, 0
	var ingest []*runner.Ingest // every ingest client's generator, which keeps what it sent
	var clients sync.WaitGroup
	process := 0
	for i, wl := range s.Workloads {
		switch wl.Kind {
		case scenario.Model:
			clients.Add(1)
			go func() {
				defer clients.Done()
				defer r.recoverInto(cancel)
				r.proposeModel(ctx, i, wl)
			}()
			continue
		case scenario.Objects:
			objectKeys = max(objectKeys, wl.Keys)
		case scenario.Ingest:
			if m == nil {
				return fmt.Errorf("workload %d sends messages, and the cluster has no model", i+1)
			}
		default:
			keys = max(keys, wl.Keys)
		}
		for k := range wl.Clients {
			cfg := kvclient.Config{Token: r.o.Token,
				Name: env.NodeID(fmt.Sprintf("c%d", process+1)), Servers: servers, Target: wl.Target, Leader: leader,
				Timeout: wl.Timeout, Retries: wl.Retries, Interval: runner.ClientInterval(wl), Until: r.origin.Add(end),
				Seed: r.o.Seed ^ uint64(process+1)*0x9e3779b97f4a7c15, Process: process, ProcessStride: harness.MaxClients,
				Recorder: r.rec,
			}
			process++
			clients.Add(1)
			var work client.Workload
			switch wl.Kind {
			case scenario.Objects:
				work = runner.ObjectMix(m, wl)
				if r.o.GraphQL {
					cfg.GraphQL = m
				}
			case scenario.Ingest:
				// Named as the simulator names them, so that a message
				// id means the same in either history.
				g := &runner.Ingest{Model: m, Prefix: fmt.Sprintf("w%dc%d", i+1, k+1), Bad: wl.Bad}
				ingest = append(ingest, g)
				work = g
			default:
				work = runner.Mix(i, k, wl)
			}
			go func() {
				defer clients.Done()
				defer r.recoverInto(cancel)
				kvclient.Run(ctx, cfg, work)
			}()
		}
	}
	clients.Wait()
	if err := r.world.Err(); err != nil {
		return err
	}
	if ctx.Err() != nil {
		return interrupted(ctx)
	}
	// As in the simulator, the final reads begin a drain after the
	// workloads stop: long enough for any operation still outstanding to
	// end.
	if wait := time.Until(r.origin.Add(end + runner.Drain(s))); wait > 0 {
		select {
		case <-ctx.Done():
			return interrupted(ctx)
		case <-time.After(wait):
		}
	}
	if err := r.world.Err(); err != nil {
		return err
	}
	if keys > 0 {
		fctx, fcancel := context.WithTimeout(ctx, runner.FinalReadLimit)
		kvclient.Run(fctx, kvclient.Config{Token: r.o.Token,
			Name: "final", Servers: servers, Target: "leader", Leader: leader, Timeout: 10 * time.Second, Retries: 40,
			Interval: time.Millisecond, Until: time.Now().Add(runner.FinalReadLimit), Seed: r.o.Seed, Process: harness.FinalReadProcess,
			ProcessStride: 1, Recorder: r.rec,
		}, &client.Reads{Keys: runner.FinalKeys(keys)})
		fcancel()
	}
	select {
	case <-ctx.Done():
		return interrupted(ctx)
	case <-time.After(runner.Settle):
	}
	if objectKeys > 0 {
		// As in the simulator: every instance asked for every object,
		// from its own state (a member of the object's replicaset
		// answers, any other forwards to one).
		ops := runner.FinalObjectReads(m, objectKeys)
		fctx, fcancel := context.WithTimeout(ctx, runner.FinalReadLimit)
		var readers sync.WaitGroup
		for i, p := range r.procs {
			readers.Add(1)
			go func() {
				defer readers.Done()
				defer r.recoverInto(cancel)
				kvclient.Run(fctx, kvclient.Config{Token: r.o.Token,
					Name: env.NodeID("final-" + string(p.name)), Servers: servers, Target: string(p.name), Timeout: 10 * time.Second,
					Retries: 40, Interval: time.Millisecond, Until: time.Now().Add(runner.FinalReadLimit), Seed: r.o.Seed,
					Process: harness.FinalReadProcess + 1 + i, ProcessStride: 1, Recorder: r.rec,
				}, &client.List{Ops: ops})
			}()
		}
		readers.Wait()
		fcancel()
	}
	if len(ingest) > 0 {
		// The clients are done: what their generators sent is final.
		var sent []client.Op
		for _, g := range ingest {
			sent = append(sent, g.Sent...)
		}
		r.finalIngestReads(ctx, cancel, servers, leader, runner.FinalIngestReads(m, sent, r.cluster.Replicasets()))
	}
	r.world.Close()
	if err := r.world.Err(); err != nil {
		return err
	}
	return r.digests(ctx)
}

// finalIngestReads runs the reads that judge an ingest run, as the
// simulator does (harness.FinalIngestReads): harness.FinalIngestReaders
// readers share ops, every one recording as harness.FinalIngestProcess,
// each read linearizable, sent to the data leader (rs1's, which forwards
// another replicaset's) and sent again after a refusal, within ten
// seconds.
func (r *run) finalIngestReads(ctx context.Context, cancel context.CancelFunc, servers map[env.NodeID]string, leader func() (env.NodeID, bool), ops []client.Op) {
	fctx, fcancel := context.WithTimeout(ctx, runner.FinalReadLimit)
	defer fcancel()
	until := time.Now().Add(runner.FinalReadLimit)
	var readers sync.WaitGroup
	for i := range min(harness.FinalIngestReaders, len(ops)) {
		var mine client.List
		for k := i; k < len(ops); k += harness.FinalIngestReaders {
			mine.Ops = append(mine.Ops, ops[k])
		}
		readers.Add(1)
		go func() {
			defer readers.Done()
			defer r.recoverInto(cancel)
			kvclient.Run(fctx, kvclient.Config{Token: r.o.Token,
				Name: env.NodeID(fmt.Sprintf("final-ingest%d", i+1)), Servers: servers, Target: "leader", Leader: leader,
				Timeout: 10 * time.Second, Retries: 40, Interval: time.Millisecond, Until: until, Seed: r.o.Seed + uint64(i),
				Process: harness.FinalIngestProcess, ProcessStride: 1, Recorder: r.rec,
			}, &mine)
		}()
	}
	readers.Wait()
}

// recoverInto turns a panic of a harness goroutine into the run's error,
// so that the run ends through shutdown rather than leave processes.
func (r *run) recoverInto(cancel context.CancelFunc) {
	if v := recover(); v != nil {
		r.world.Fail(fmt.Errorf("internal error: %v\n%s", v, debug.Stack()))
		cancel()
	}
}

// interrupted is the error of a run whose context ended.
func interrupted(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.Canceled) {
		return errors.New("interrupted")
	}
	return ctx.Err()
}

// digests waits until every replica of each group has applied all it
// has committed, and the same index as the others (at most digestWait),
// then has every running instance record its state digests (SIGUSR1,
// shoal serve) and waits until each has written them. A paused instance
// is left out, as the simulator leaves out a paused node: its digest
// would come at a resume the scenario did not ask for.
func (r *run) digests(ctx context.Context) error {
	deadline := time.Now().Add(digestWait)
	for !r.cluster.caughtUp() && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return interrupted(ctx)
		case <-time.After(50 * time.Millisecond):
		}
	}
	before := map[env.NodeID]int{}
	// The instances answer one after another, not at one instant as in
	// the simulator: the marker tells the convergence check where the
	// round begins.
	r.rec.Note(env.WorldNode, "digest.round")
	var asked []*process
	for _, p := range r.procs {
		if p.isPaused() {
			continue
		}
		before[p.name] = countDigests(p.traceFile())
		if p.signal(syscall.SIGUSR1) {
			asked = append(asked, p)
		}
	}
	deadline = time.Now().Add(digestWait)
	for _, p := range asked {
		for p.up() && countDigests(p.traceFile()) == before[p.name] {
			if time.Now().After(deadline) {
				return fmt.Errorf("%s wrote no state digest within %s of SIGUSR1; see %s", p.name, digestWait, p.logFile())
			}
			select {
			case <-ctx.Done():
				return interrupted(ctx)
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
			r.world.Close()
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
	trace, err := r.rec.merge(files)
	if err != nil {
		return nil, err
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
// forming, at 0).
func (r *recorder) merge(files []string) (trace []byte, err error) {
	r.mu.Lock()
	all := slices.Clone(r.recs)
	r.mu.Unlock()
	for _, path := range files {
		recs, err := readNodeTrace(path)
		if err != nil {
			return nil, err
		}
		all = append(all, recs...)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Time < all[j].Time })
	origin := r.origin.UnixNano()
	var b []byte
	for i := range all {
		rec := &all[i]
		b = env.AppendLine(b, max(rec.Time-origin, 0), rec.Node, rec.Kind, rec.Fields)
	}
	return b, nil
}

// readNodeTrace reads an instance's trace file. The instance writes each
// line with one write call, which a SIGKILL cannot cut in two, so a line
// that does not parse is an error, not the mark of a kill.
func readNodeTrace(path string) ([]env.Record, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []env.Record
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), env.MaxTraceLine)
	for line := 1; sc.Scan(); line++ {
		if len(sc.Bytes()) == 0 {
			continue
		}
		rec, err := env.ParseRecord(sc.Bytes())
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		out = append(out, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return out, nil
}
