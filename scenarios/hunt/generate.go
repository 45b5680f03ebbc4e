// Package hunt looks for fault schedules that break the engine and cuts
// them down to the few faults that matter. Generate draws a scenario (a
// topology, workloads and a fault schedule from the whole nemesis
// vocabulary, ending with a heal and a recovery period) from a stream of
// choices: a seeded math/rand/v2 stream when hunting, rapid's when
// property testing. Reduce shrinks a failing scenario with delta
// debugging over its steps, then over each step's timing and targets, its
// workloads and its duration, each candidate a full deterministic run,
// within a budget counted in runs. Hunt puts the two together for `shoal
// sim hunt`.
//
// Everything here is a function of its seeds: the same hunt seed, base
// scenario, bugs and budget in runs give the same minimal scenario, byte
// for byte, on any machine.
package hunt

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/nemesis"
	"github.com/shoaldb/shoal/scenarios/scenario"
	"github.com/shoaldb/shoal/simnet"
)

// Source supplies a generator's choices.
type Source interface {
	// IntN returns a number in [0, n), n ≥ 1. label names the choice,
	// for a property test's report.
	IntN(n int, label string) int
}

// Rand is a Source drawn from a seeded PCG stream.
type Rand struct{ r *rand.Rand }

// NewRand returns the stream of seed; stream tells apart the streams of
// one seed (the hunt's schedules).
func NewRand(seed, stream uint64) *Rand { return &Rand{rand.New(rand.NewPCG(seed, stream))} }

// IntN implements Source.
func (r *Rand) IntN(n int, _ string) int { return r.r.IntN(n) }

// Uint64 draws a run's seed.
func (r *Rand) Uint64() uint64 { return r.r.Uint64() }

// gen draws values from a Source.
type gen struct {
	src Source
	s   *scenario.Scenario // the scenario being built: its cluster and duration
}

func (g *gen) intn(n int, label string) int {
	if n <= 1 {
		return 0
	}
	return g.src.IntN(n, label)
}

// between draws an integer in [lo, hi].
func (g *gen) between(lo, hi int, label string) int { return lo + g.intn(hi-lo+1, label) }

// chance is true with probability pct/100.
func (g *gen) chance(pct int, label string) bool { return g.intn(100, label) < pct }

func oneOf[T any](g *gen, label string, xs ...T) T { return xs[g.intn(len(xs), label)] }

// ms draws a duration in [lo, hi] in steps of step.
func (g *gen) ms(lo, hi, step time.Duration, label string) time.Duration {
	return lo + time.Duration(g.intn(int((hi-lo)/step)+1, label))*step
}

func (g *gen) nodes() []env.NodeID {
	ids := make([]env.NodeID, g.s.Cluster.Instances)
	for i := range ids {
		ids[i] = env.NodeID(fmt.Sprintf("n%d", i+1))
	}
	return ids
}

// subset draws a non-empty subset of the instances, in their order.
func (g *gen) subset(label string) []env.NodeID {
	var out []env.NodeID
	for _, id := range g.nodes() {
		if g.chance(40, label) {
			out = append(out, id)
		}
	}
	if len(out) == 0 {
		out = []env.NodeID{oneOf(g, label, g.nodes()...)}
	}
	return out
}

// group draws a group a leader target or isolate-leader names.
func (g *gen) group() string {
	groups := []string{nemesis.GroupData, nemesis.GroupData, nemesis.GroupConfig}
	for i := range g.s.Cluster.Instances / g.s.Cluster.ReplicationFactor {
		if g.s.Cluster.Instances != g.s.Cluster.ReplicationFactor {
			groups = append(groups, fmt.Sprintf("rs%d", i+1))
		}
	}
	return oneOf(g, "group", groups...)
}

// Limits of what Generate draws.
const (
	minDuration = 8 * time.Second
	maxDuration = 20 * time.Second
	// MinRecover is the shortest recovery after the heal that Generate
	// draws (and Reduce leaves): time for killed instances to restart,
	// elect and serve before the workloads stop.
	MinRecover = 6 * time.Second
	maxRecover = 10 * time.Second
	maxSteps   = 5
)

// topologies are the clusters Generate draws: three or five instances in
// one replicaset, or six in two replicasets of three (two replicasets of
// an odd size need six).
var topologies = []scenario.Cluster{{Instances: 3, ReplicationFactor: 3}, {Instances: 5, ReplicationFactor: 5}, {Instances: 6, ReplicationFactor: 3}}

// Generate draws a scenario from src. With a base scenario, it keeps the
// base's cluster, network, workloads, duration, final phase and checks, and draws
// only the fault schedule: most often a mutation of the base's own steps
// (some dropped, the rest moved, lengthened or shortened, retargeted) with
// a few new steps, sometimes a schedule of its own. Without one it draws
// the topology and workloads too. Every schedule ends with a heal and a
// recovery period. The scenario has passed scenario.Parse: it is what
// its file, scenario.Marshal(s), reads back as.
func Generate(src Source, base *scenario.Scenario, name string) (*scenario.Scenario, error) {
	s := &scenario.Scenario{Name: name, Expect: "valid"}
	g := &gen{src: src, s: s}
	if base != nil {
		s.Cluster, s.Network, s.Duration = base.Cluster, base.Network, base.Duration
		s.Clusters, s.DCLink = base.Clusters, base.DCLink // drawn faults hit the first cluster
		s.Workloads = slices.Clone(base.Workloads)
		s.Final = scenario.Final{Heal: true, Recover: base.Final.Recover}
		s.Description = "A schedule drawn for the cluster and workloads of " + base.Name + "."
		if len(base.Nemesis) > 0 && !g.chance(25, "fresh schedule") {
			s.Nemesis = g.mutate(base.Nemesis)
		} else {
			s.Nemesis = g.steps(1, maxSteps-1)
		}
	} else {
		s.Cluster = oneOf(g, "topology", topologies...)
		s.Network = g.network()
		s.Workloads = g.workloads()
		s.Duration = time.Duration(g.between(int(minDuration/time.Second), int(maxDuration/time.Second), "duration s")) * time.Second
		s.Final = scenario.Final{Heal: true, Recover: g.ms(MinRecover, maxRecover, time.Second, "recover")}
		s.Description = "A schedule drawn with the cluster and workloads."
		s.Nemesis = g.steps(1, maxSteps)
	}
	s.Checks = Checks(s)
	if base != nil {
		s.Checks = within(s.Checks, base.Checks)
	}
	return Normalize(s)
}

// within keeps of checks those a scenario drawn from, or reduced from,
// one with the checks of had: a check the base leaves out stays out (the
// model check of clusters whose clients write the same objects judges
// each cluster by its own clients alone). Progress the base may lack
// only because it does not heal, which every drawn schedule does.
func within(checks, of []string) []string {
	return slices.DeleteFunc(checks, func(c string) bool {
		return c != scenario.CheckProgress && !slices.Contains(of, c)
	})
}

// Checks lists the checks of a generated scenario: every check that
// applies except faults. A drawn step may find nothing to hit (no leader
// to isolate), which says nothing about the engine.
func Checks(s *scenario.Scenario) []string {
	hasKV := slices.ContainsFunc(s.Workloads, func(w scenario.Workload) bool { return w.Kind == scenario.KV })
	hasConfig := slices.ContainsFunc(s.Workloads, func(w scenario.Workload) bool {
		return w.Kind == scenario.Config || w.Kind == scenario.Model
	})
	hasObjects := slices.ContainsFunc(s.Workloads, func(w scenario.Workload) bool { return w.Kind == scenario.Objects })
	hasIngest := slices.ContainsFunc(s.Workloads, func(w scenario.Workload) bool { return w.Kind == scenario.Ingest || w.Kind == scenario.Kafka })
	var out []string
	for _, c := range scenario.Checks {
		switch c {
		case scenario.CheckLinearizable, scenario.CheckDurability:
			if !hasKV {
				continue
			}
		case scenario.CheckQuorum:
			if !hasConfig {
				continue
			}
		case scenario.CheckModel:
			if !hasObjects {
				continue
			}
		case scenario.CheckDelivery:
			if !hasIngest {
				continue
			}
		case scenario.CheckOutbound:
			if len(scenario.PipelineDestinations(s.Cluster.Pipeline)) == 0 {
				continue
			}
		case scenario.CheckFaults:
			continue
		case scenario.CheckReplication:
			if len(s.Clusters) == 0 {
				continue // a drawn scenario has one cluster
			}
		case scenario.CheckTopology:
			// A drawn scenario makes no joins or expels; a base scenario
			// (--scenario-base) may.
			if !slices.ContainsFunc(s.Workloads, func(w scenario.Workload) bool { return len(w.Actions) > 0 }) && len(s.Cluster.Governor) == 0 {
				continue
			}
		}
		out = append(out, c)
	}
	return out
}

// Normalize returns s as its file reads back: scenario.Marshal, then
// scenario.Parse, which validates it.
func Normalize(s *scenario.Scenario) (*scenario.Scenario, error) {
	file := s.Name + ".yaml"
	out, err := scenario.Parse(file, scenario.Marshal(s))
	if err != nil {
		return nil, fmt.Errorf("hunt: a drawn scenario does not validate: %w\n%s", err, scenario.Marshal(s))
	}
	return out, nil
}

func (g *gen) network() scenario.Network {
	lo := g.ms(time.Millisecond, 3*time.Millisecond, time.Millisecond, "latency min")
	n := scenario.Network{Latency: simnet.Latency{Dist: simnet.Uniform, Min: lo, Max: lo + g.ms(0, 10*time.Millisecond, time.Millisecond, "latency spread")}}
	switch g.intn(3, "latency dist") {
	case 0:
		n.Latency = simnet.Latency{Dist: simnet.Constant, Min: lo}
	case 1:
		n.Latency.Dist = simnet.Exponential
	}
	// A loss that outlasts the heal slows recovery; a few percent is what
	// retries are for.
	n.Loss = oneOf(g, "network loss", 0, 0, 0, 0.01, 0.02, 0.05)
	return n
}

func (g *gen) workloads() []scenario.Workload {
	// Few clients per key, retries, and few cas: an operation whose
	// outcome is unknown stays concurrent with everything after it, and
	// many of them on one key (a cas-heavy mix under faults) make the
	// linearizability check's search explode: past its time budget the
	// verdict is unknown, and the run costs a minute.
	kv := scenario.Workload{
		Kind:    scenario.KV,
		Clients: g.between(2, 5, "kv clients"),
		Keys:    oneOf(g, "kv keys", 8, 16, 32),
		Rate:    oneOf(g, "kv rate", 40.0, 60, 80, 100),
		Mix: oneOf(g, "kv mix",
			scenario.Mix{Read: 0.5, Write: 0.4, CAS: 0.1},
			scenario.Mix{Read: 0.8, Write: 0.2},
			scenario.Mix{Read: 0.3, Write: 0.5, CAS: 0.1, Delete: 0.1},
			scenario.Mix{Read: 0.3, Write: 0.7},
		),
		Target:  oneOf(g, "kv target", "random", "random", "leader"),
		Timeout: oneOf(g, "kv timeout", time.Second, 2*time.Second),
		Retries: oneOf(g, "kv retries", 1, 3, 5),
	}
	ws := []scenario.Workload{kv}
	if g.chance(35, "config workload") {
		ws = append(ws, scenario.Workload{
			Kind: scenario.Config, Clients: g.between(1, 2, "config clients"), Rate: oneOf(g, "config rate", 2.0, 4),
			Target: oneOf(g, "config target", "random", "leader"), Timeout: time.Second, Retries: 3,
		})
	}
	return ws
}

// steps draws between lo and hi steps.
func (g *gen) steps(lo, hi int) []nemesis.Step {
	n := g.between(lo, hi, "steps")
	out := make([]nemesis.Step, 0, n)
	for range n {
		out = append(out, g.step())
	}
	return out
}

// mutate draws a schedule from a base's steps: each dropped now and then,
// the rest kept as they are or moved, lengthened or shortened; then up to
// two new steps.
func (g *gen) mutate(base []nemesis.Step) []nemesis.Step {
	var out []nemesis.Step
	for _, st := range base {
		if g.chance(10, "drop base step") {
			continue
		}
		st.Pick = slices.Clone(st.Pick)
		if st.Fault != nil {
			f := *st.Fault
			st.Fault = &f
		}
		if g.chance(50, "mutate base step") {
			g.jitter(&st)
		}
		out = append(out, st)
	}
	for range g.intn(3, "new steps") {
		out = append(out, g.step())
	}
	if len(out) == 0 {
		out = append(out, g.step())
	}
	return out
}

// jitter moves a step by up to a second either way and scales its length
// and period. A step that names an instance joining during the run moves
// only later: a fault may name it from its join on.
func (g *gen) jitter(st *nemesis.Step) {
	d := g.s.Duration
	shift := g.ms(-time.Second, time.Second, 100*time.Millisecond, "shift")
	if g.namesJoiner(st) {
		shift = max(shift, 0)
	}
	clamp := func(t time.Duration) time.Duration { return min(max(t+shift, 0), d-100*time.Millisecond) }
	if st.Every > 0 {
		st.Start = clamp(st.Start)
		st.Every = max(100*time.Millisecond, st.Every*time.Duration(oneOf(g, "period scale", 2, 4, 4, 8))/4)
	} else {
		st.At = clamp(st.At)
	}
	if st.For > 0 {
		st.For = max(100*time.Millisecond, st.For*time.Duration(oneOf(g, "for scale", 2, 3, 4, 5, 6, 8))/4)
	}
	if st.Fault != nil && g.chance(15, "retarget") {
		switch st.Fault.Kind {
		case nemesis.Kill, nemesis.Restart, nemesis.Pause, nemesis.Clock, nemesis.Disk:
			st.Fault.Target, st.Fault.Group = g.target()
		}
	}
}

// namesJoiner reports whether a step's faults name an instance that a
// config workload's action joins.
func (g *gen) namesJoiner(st *nemesis.Step) bool {
	joins := map[env.NodeID]bool{}
	for _, w := range g.s.Workloads {
		for _, a := range w.Actions {
			if a.Kind == scenario.ActionJoin {
				joins[a.Instance] = true
			}
		}
	}
	faults := slices.Clone(st.Pick)
	if st.Fault != nil {
		faults = append(faults, *st.Fault)
	}
	for _, f := range faults {
		named := slices.Concat(f.From, f.To)
		for _, c := range f.Components {
			named = append(named, c...)
		}
		if joins[env.NodeID(f.Target)] || slices.ContainsFunc(named, func(id env.NodeID) bool { return joins[id] }) {
			return true
		}
	}
	return false
}

// step draws one step of any fault kind.
func (g *gen) step() nemesis.Step {
	d := g.s.Duration
	var st nemesis.Step
	kind := oneOf(g, "fault", nemesis.Partition, nemesis.Partition, nemesis.Link, nemesis.Link, nemesis.Kill, nemesis.Kill,
		nemesis.Restart, nemesis.Restart, nemesis.Pause, nemesis.Pause, nemesis.Clock, nemesis.Clock, nemesis.Disk, nemesis.Disk)
	repeat := g.chance(30, "every")
	if kind == nemesis.Restart {
		// A restart lasts no time: one alone is a kill and a restart; a
		// storm of them tests what an instance remembers.
		repeat = g.chance(70, "restart storm")
	}
	if repeat {
		st.Every = oneOf(g, "every", 300*time.Millisecond, 500*time.Millisecond, time.Second, 2*time.Second, 4*time.Second)
		st.Start = g.ms(0, d/2, 100*time.Millisecond, "start")
	} else {
		st.At = g.ms(0, d-100*time.Millisecond, 100*time.Millisecond, "at")
	}
	if kind != nemesis.Restart {
		switch {
		case g.chance(10, "until heal"):
		case repeat:
			st.For = max(100*time.Millisecond, st.Every*time.Duration(g.between(1, 4, "for quarters"))/4)
		default:
			st.For = g.ms(500*time.Millisecond, d, 100*time.Millisecond, "for")
		}
	}
	if kind != nemesis.Restart && g.chance(10, "pick") {
		for range g.between(2, 3, "alternatives") {
			alt := g.fault(oneOf(g, "alternative", nemesis.Partition, nemesis.Link, nemesis.Kill, nemesis.Pause, nemesis.Clock, nemesis.Disk))
			alt.Weight = g.between(1, 3, "weight")
			st.Pick = append(st.Pick, alt)
		}
		return st
	}
	f := g.fault(kind)
	st.Fault = &f
	return st
}

// target draws the target of a process, clock or disk fault, and its
// group when the target is a leader or followers.
func (g *gen) target() (target, group string) {
	nodes := g.nodes()
	words := []string{nemesis.TargetRandom, nemesis.TargetLeader, nemesis.TargetLeader, nemesis.TargetFollowers,
		nemesis.TargetFollower, nemesis.TargetMinority, nemesis.TargetMajority, nemesis.TargetAll}
	if g.chance(35, "named target") {
		return string(oneOf(g, "target node", nodes...)), ""
	}
	target = oneOf(g, "target", words...)
	if target == nemesis.TargetLeader || target == nemesis.TargetFollowers || target == nemesis.TargetFollower {
		group = g.group()
	}
	return target, group
}

// fault draws a fault of a kind.
func (g *gen) fault(kind nemesis.Kind) nemesis.Fault {
	f := nemesis.Fault{Kind: kind}
	switch kind {
	case nemesis.Partition:
		if g.chance(20, "components") {
			nodes := g.nodes()
			// Shuffle, then cut into two or three sides.
			for i := len(nodes) - 1; i > 0; i-- {
				j := g.intn(i+1, "shuffle")
				nodes[i], nodes[j] = nodes[j], nodes[i]
			}
			cut := g.between(1, len(nodes)-1, "cut")
			f.Components = [][]env.NodeID{sortIDs(nodes[:cut])}
			if rest := nodes[cut:]; len(rest) > 1 && g.chance(40, "third side") {
				c := g.between(1, len(rest)-1, "second cut")
				f.Components = append(f.Components, sortIDs(rest[:c]))
			}
			return f
		}
		f.Shape = oneOf(g, "shape", nemesis.Shapes...)
		if f.Shape == nemesis.IsolateLeader {
			f.Group = g.group()
		}
	case nemesis.Link:
		if g.chance(60, "link loss") {
			f.Loss = ptr(oneOf(g, "loss", 0.1, 0.2, 0.5, 0.8, 1))
		}
		if g.chance(35, "link delay") {
			lo := oneOf(g, "delay min", time.Millisecond, 10*time.Millisecond, 50*time.Millisecond)
			f.Delay = &simnet.Latency{Dist: simnet.Uniform, Min: lo, Max: lo * time.Duration(oneOf(g, "delay spread", 2, 4, 10))}
		}
		if g.chance(25, "link duplicate") {
			f.Duplicate = ptr(oneOf(g, "duplicate", 0.1, 0.3))
		}
		if g.chance(25, "link reorder") || (f.Loss == nil && f.Delay == nil && f.Duplicate == nil) {
			f.Reorder = ptr(true)
		}
		if g.chance(50, "link subset") {
			f.From, f.To = g.subset("from"), g.subset("to")
			f.OneWay = g.chance(40, "one way")
		}
	case nemesis.Kill, nemesis.Restart, nemesis.Pause:
		f.Target, f.Group = g.target()
	case nemesis.Clock:
		f.Target, f.Group = g.target()
		switch g.intn(3, "clock") {
		case 0:
			off := oneOf(g, "offset", 500*time.Millisecond, 2*time.Second, 10*time.Second, 30*time.Second)
			if g.chance(50, "offset back") {
				off = -off
			}
			f.Offset = &off
		case 1:
			f.Drift = ptr(oneOf(g, "drift", -0.5, -0.1, -0.01, 0.01, 0.1, 0.5))
		default:
			f.Strobe = &nemesis.Strobe{
				Offset: oneOf(g, "strobe offset", 200*time.Millisecond, time.Second, 2*time.Second),
				Period: oneOf(g, "strobe period", 50*time.Millisecond, 100*time.Millisecond, 500*time.Millisecond),
			}
		}
	case nemesis.Disk:
		f.Target, f.Group = g.target()
		for _, op := range nemesis.DiskOps {
			if g.chance(50, "disk "+op) {
				f.Errors = append(f.Errors, op)
			}
		}
		if len(f.Errors) == 0 {
			f.Errors = []string{oneOf(g, "disk op", nemesis.DiskOps...)}
		}
		f.Probability = oneOf(g, "disk probability", 0.1, 0.5, 1)
	}
	return f
}

func ptr[T any](v T) *T { return &v }

// sortIDs sorts instance names by number (n2 before n10).
func sortIDs(ids []env.NodeID) []env.NodeID {
	out := slices.Clone(ids)
	slices.SortFunc(out, func(a, b env.NodeID) int {
		if len(a) != len(b) {
			return len(a) - len(b)
		}
		if a < b {
			return -1
		}
		if a > b {
			return 1
		}
		return 0
	})
	return out
}
