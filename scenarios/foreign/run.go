package foreign

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/nemesis"
	"github.com/shoaldb/shoal/scenarios/rundir"
	"github.com/shoaldb/shoal/scenarios/runner"
	"github.com/shoaldb/shoal/scenarios/scenario"
	"github.com/shoaldb/shoal/simnet"
	"github.com/shoaldb/shoal/simnet/client"
	"github.com/shoaldb/shoal/simnet/harness"
)

// Options are what a foreign run needs beyond its scenario and target.
type Options struct {
	Seed uint64
	// Dir is the run directory, already created (rundir.Create); empty
	// writes nothing.
	Dir string
	// Command says how to run it again (not exactly: see the package
	// comment); Version and Commit identify the harness's build.
	Command, Version, Commit string
}

// Outcome is what a foreign run produced.
type Outcome struct {
	Meta    rundir.Meta
	Results rundir.Results
	// Records is the trace.
	Records []env.Record
	// Unapplied lists what the run could not do as the scenario says
	// (the report shows them too).
	Unapplied []string
	// Leaders is every election won, in the order won.
	Leaders []LeaderChange
	// Virtual is the run's length in virtual time; Wall the wall time
	// the bubble took to run it; Check the wall time spent checking the
	// trace and writing the run directory.
	Virtual, Wall, Check time.Duration
}

// Speed is virtual seconds per wall second in the bubble.
func (o *Outcome) Speed() float64 { return o.Virtual.Seconds() / o.Wall.Seconds() }

// Limits of a foreign run, in virtual time.
const (
	// digestWait bounds the wait for the replicas to agree on what they
	// applied before their state digests are recorded.
	digestWait = 10 * time.Second
	// finalTimeout and finalRetries shape the final reader's operations,
	// as the live harness's.
	finalTimeout = 10 * time.Second
	finalRetries = 40
)

// Run runs s against target inside a synctest bubble of t, then judges
// its trace with the scenario's checks (runner.Check, as `shoal check`
// does) and writes the run directory. A scenario the target cannot run
// (Adapt) is an error; so is a run that fails inside (a node that would
// not restart).
func Run(t *testing.T, s *scenario.Scenario, target Target, o Options) (*Outcome, error) {
	t.Helper()
	s, unapplied, err := Adapt(s, target)
	if err != nil {
		return nil, err
	}
	var sim *simulation
	began := time.Now()
	synctest.Test(t, func(*testing.T) {
		sim, err = simulate(s, target, o.Seed, unapplied)
	})
	wall := time.Since(began)
	if err != nil {
		return nil, fmt.Errorf("%s against %s, seed %d: %w", s.Name, target.Name, o.Seed, err)
	}
	began = time.Now()
	out := &Outcome{Unapplied: unapplied, Virtual: sim.virtual, Wall: wall}
	if out.Records, err = env.ReadTrace(bytes.NewReader(sim.trace)); err != nil {
		return nil, fmt.Errorf("the trace: %w", err)
	}
	out.Leaders = LeaderHistory(out.Records, target.Group)
	sum := sha256.Sum256(sim.trace)
	var last int64
	if n := len(out.Records); n > 0 {
		last = out.Records[n-1].Time
	}
	out.Meta = rundir.Meta{ShoalVersion: o.Version, Commit: o.Commit, Scenario: s.Name, Seed: o.Seed,
		TraceSHA256: hex.EncodeToString(sum[:]), Command: o.Command, VirtualNanos: last, TraceEvents: int64(len(out.Records)),
		Foreign: target.About}
	results, lin := runner.Check(s, out.Records)
	out.Results = results
	if o.Dir != "" {
		if err := os.WriteFile(filepath.Join(o.Dir, rundir.ScenarioFile), scenario.Marshal(s), 0o644); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(o.Dir, rundir.TraceFile), sim.trace, 0o644); err != nil {
			return nil, err
		}
		if err := rundir.WriteJSON(o.Dir, rundir.MetaFile, out.Meta); err != nil {
			return nil, err
		}
		if err := runner.WriteResults(o.Dir, s, out.Meta, out.Records, results, lin); err != nil {
			return nil, err
		}
	}
	out.Check = time.Since(began)
	return out, nil
}

// Adapt checks that target can run s and returns the scenario as it will
// run and what it will not do as the scenario says. A foreign target is
// one group of every instance serving key-value clients: several
// clusters or replicasets, a data model or pipeline, and workloads other
// than kv are refused. Faults it cannot take (Unsupported) are listed,
// and traced as taking no effect when they fire, so that the faults
// check says unknown.
func Adapt(in *scenario.Scenario, t Target) (*scenario.Scenario, []string, error) {
	s := *in
	switch {
	case len(s.Clusters) > 0:
		return nil, nil, fmt.Errorf("%s: a foreign run has one cluster, and the scenario has %d", s.Name, len(s.Clusters))
	case s.Cluster.ReplicationFactor != s.Cluster.Instances:
		return nil, nil, fmt.Errorf("%s: %s is one group of every instance, and the scenario asks for replicasets of %d of its %d instances",
			s.Name, t.Name, s.Cluster.ReplicationFactor, s.Cluster.Instances)
	case s.Cluster.Model != "" || s.Cluster.Pipeline != "" || len(s.Cluster.Queue) > 0:
		return nil, nil, fmt.Errorf("%s: %s stores keys and values, and the scenario gives the cluster a data model or a pipeline", s.Name, t.Name)
	}
	for i, w := range s.Workloads {
		if w.Kind != scenario.KV {
			return nil, nil, fmt.Errorf("%s: workload %d is %s, and %s serves key-value operations only", s.Name, i+1, w.Kind, t.Name)
		}
		if w.Target != "random" && w.Target != "leader" && !slices.Contains(nodeNames(s.Cluster.Instances), env.NodeID(w.Target)) {
			return nil, nil, fmt.Errorf("%s: workload %d targets %s, which the cluster does not have", s.Name, i+1, w.Target)
		}
	}
	topo := &world{nodes: nodeNames(s.Cluster.Instances), t: t, up: map[env.NodeID]bool{}}
	if err := nemesis.Check(topo, s.Nemesis, nemesis.Config{DiskDir: "wal", End: s.Duration}); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", s.Name, err)
	}
	var unapplied []string
	kill := false
	for i, st := range s.Nemesis {
		alts := st.Pick
		if st.Fault != nil {
			alts = []nemesis.Fault{*st.Fault}
		}
		for _, f := range alts {
			kill = kill || (f.Kind == nemesis.Kill || f.Kind == nemesis.Restart)
			if why := unsupported(t, &f); why != "" {
				what := fmt.Sprintf("nemesis step %d (%s): %s", i+1, f.Kind, why)
				if len(alts) > 1 {
					what += "; when an occurrence draws it, it is traced as taking no effect"
				}
				unapplied = append(unapplied, what)
			}
		}
	}
	if kill && t.Kill != "" {
		unapplied = append(unapplied, "kill and restart: "+t.Kill)
	}
	return &s, unapplied, nil
}

func nodeNames(n int) []env.NodeID {
	out := make([]env.NodeID, n)
	for i := range out {
		out[i] = env.NodeID(fmt.Sprint("n", i+1))
	}
	return out
}

// simulation is what a run produced inside its bubble.
type simulation struct {
	trace   []byte
	virtual time.Duration
}

// run is one foreign run in progress, inside its bubble.
type run struct {
	s       *scenario.Scenario
	t       Target
	rec     *Recorder
	net     *Net
	world   *world
	cluster Cluster
	nodes   []env.NodeID
}

// simulate runs s inside the current bubble: the cluster, the schedule,
// the clients, the final reads and the state digests.
func simulate(s *scenario.Scenario, t Target, seed uint64, unapplied []string) (*simulation, error) {
	rec := NewRecorder()
	rec.Note(env.WorldNode, "world.start", env.Int("format", 1), env.Uint("seed", seed))
	rec.Note(env.WorldNode, "foreign.target", env.Str("target", t.About), env.Str("why", notExact(t)))
	for _, u := range unapplied {
		rec.Note(env.WorldNode, "foreign.unapplied", env.Str("what", u))
	}
	base := simnet.LinkConfig{Latency: s.Network.Latency, Loss: s.Network.Loss}
	net, err := NewNet(rec, seed, base)
	if err != nil {
		return nil, err
	}
	rec.Note(env.WorldNode, "net.links",
		env.Str("dist", base.Latency.Dist.String()), env.Int("min", int64(base.Latency.Min)), env.Int("max", int64(base.Latency.Max)),
		env.Float("loss", base.Loss), env.Float("duplicate", 0), env.Bool("reorder", false))
	r := &run{s: s, t: t, rec: rec, net: net, nodes: nodeNames(s.Cluster.Instances)}
	net.kv = r.serveKV
	if t.Seed != nil {
		if err := t.Seed(seed); err != nil {
			return nil, fmt.Errorf("seeding %s: %w", t.Name, err)
		}
	}
	r.world = newWorld(rec, net, t, r.nodes, seed)
	defer r.world.Close()
	for _, id := range r.nodes {
		r.world.started(id)
		rec.Note(id, "node.bootstrap", env.Int("instances", int64(len(r.nodes))), env.Int("replicasets", 1),
			env.Str("replicaset", t.Group), env.Str("voters", env.Join(r.nodes)), env.Int("election_timeout", int64(t.ElectionTimeout)))
	}
	if r.cluster, err = t.Start(Env{Nodes: r.nodes, Net: net, Trace: rec, Group: t.Group}); err != nil {
		net.wait()
		return nil, fmt.Errorf("starting %s: %w", t.Name, err)
	}
	r.world.c = r.cluster
	err = r.drive(seed)
	r.world.Close()
	r.cluster.Shutdown()
	net.wait()
	if err == nil {
		err = r.world.Err()
	}
	if err != nil {
		return nil, err
	}
	trace, _ := rec.Trace()
	return &simulation{trace: trace, virtual: rec.Now()}, nil
}

// notExact says why a seed does not replay a run of t.
func notExact(t Target) string {
	why := "The Go runtime schedules its goroutines, and their order decides the run."
	if t.NotExact != "" {
		why += " " + t.NotExact
	}
	return why
}

// drive runs the schedule, the workloads, the final reads and the state
// digests.
func (r *run) drive(seed uint64) error {
	s := r.s
	base := simnet.LinkConfig{Latency: s.Network.Latency, Loss: s.Network.Loss}
	nem, err := nemesis.Schedule(r.world, r.world, s.Nemesis, nemesis.Config{Network: base, DiskDir: "wal", End: s.Duration})
	if err != nil {
		return err
	}
	if s.Final.Heal {
		r.world.At(s.Duration, nem.Heal)
	}
	end := s.Duration + s.Final.Recover
	var clients sync.WaitGroup
	keys, process := 0, 0
	for i, wl := range s.Workloads {
		keys = max(keys, wl.Keys)
		for k := range wl.Clients {
			name := env.NodeID(fmt.Sprintf("c%d", process+1))
			r.net.start(name)
			c := newClient(clientConfig{name: name, servers: r.nodes, target: wl.Target, timeout: wl.Timeout, retries: wl.Retries,
				interval: runner.ClientInterval(wl), until: end, seed: seed ^ uint64(process+1)*0x9e3779b97f4a7c15,
				process: process, stride: harness.MaxClients}, r.net, r.rec)
			process++
			work := runner.Mix(i, k, wl)
			clients.Go(func() { c.run(work) })
		}
	}
	clients.Wait()
	// As in the simulator, the final reads begin a drain after the
	// workloads stop: long enough for any operation still outstanding to
	// end.
	if wait := end + runner.Drain(s) - r.rec.Now(); wait > 0 {
		time.Sleep(wait)
	}
	if keys > 0 {
		r.net.start("final")
		c := newClient(clientConfig{name: "final", servers: r.nodes, target: "leader", timeout: finalTimeout, retries: finalRetries,
			interval: time.Millisecond, until: r.rec.Now() + runner.FinalReadLimit, seed: seed,
			process: harness.FinalReadProcess, stride: 1}, r.net, r.rec)
		c.run(&client.Reads{Keys: runner.FinalKeys(keys)})
	}
	time.Sleep(runner.Settle)
	return r.digests()
}

// digests waits until every running node has applied as far as the
// others (at most digestWait), then records each one's state digest, all
// at one instant, for the convergence check.
func (r *run) digests() error {
	type state struct {
		id      env.NodeID
		applied uint64
		digest  string
	}
	var states []state
	for waited := time.Duration(0); ; waited += 50 * time.Millisecond {
		states = states[:0]
		agree := true
		for _, id := range r.nodes {
			if !r.world.Up(id) {
				continue
			}
			applied, digest, err := r.cluster.State(id)
			if err != nil {
				return fmt.Errorf("the state of %s: %w", id, err)
			}
			states = append(states, state{id, applied, digest})
			agree = agree && applied == states[0].applied
		}
		if agree || waited >= digestWait {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.rec.Note(env.WorldNode, "digest.round")
	for _, st := range states {
		r.rec.Note(st.id, "sm.digest", env.Str("group", r.t.Group), env.Int("applied", int64(st.applied)), env.Str("digest", st.digest))
	}
	return nil
}

// LeaderChange is one election won: when (virtual time since the run
// began), by whom, and for which term.
type LeaderChange struct {
	At     time.Duration
	Leader env.NodeID
	Term   int64
}

func (l LeaderChange) String() string {
	return fmt.Sprintf("%s leads term %d from %s", l.Leader, l.Term, l.At)
}

// LeaderHistory reads the elections won in group from a trace's
// raft.state records: each time a node's record says leader for a term it
// did not lead before.
func LeaderHistory(trace []env.Record, group string) []LeaderChange {
	type led struct {
		term   int64
		leader bool
	}
	last := map[env.NodeID]led{}
	var out []LeaderChange
	for i := range trace {
		r := &trace[i]
		if r.Kind != "raft.state" {
			continue
		}
		if g, _ := r.Str("group"); g != group {
			continue
		}
		role, _ := r.Str("role")
		term, _ := r.Int("term")
		now := led{term, role == "leader"}
		if now.leader && last[r.Node] != now {
			out = append(out, LeaderChange{At: time.Duration(r.Time), Leader: r.Node, Term: term})
		}
		last[r.Node] = now
	}
	return out
}

// FirstDifference returns the index of the first change at which two
// leader histories differ, or -1 when they are identical.
func FirstDifference(a, b []LeaderChange) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}
