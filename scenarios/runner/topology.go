package runner

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/nemesis"
	"github.com/shoaldb/shoal/scenarios/scenario"
	"github.com/shoaldb/shoal/simnet"
	"github.com/shoaldb/shoal/simnet/harness"
)

// The topology's part of a run: the operator actions of config
// workloads (joins and expels), the cluster's settings and failure
// domains, and the record of the configuration the run ends with, which
// the topology check judges.

// Settings are the operator settings cl bootstraps with: its queue's and
// its governor's.
func Settings(cl scenario.Cluster) map[string]string {
	if len(cl.Queue) == 0 && len(cl.Governor) == 0 {
		return nil
	}
	out := maps.Clone(cl.Queue)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, cl.Governor)
	return out
}

// Domains lists the failure domains of n1..nN (nil for an instance
// without one), or nil when the scenario gives none.
func Domains(cl scenario.Cluster) []cluster.Domain {
	if len(cl.Domains) == 0 {
		return nil
	}
	out := make([]cluster.Domain, cl.Instances)
	for i := range out {
		if d, ok := cl.Domains[env.NodeID(fmt.Sprint("n", i+1))]; ok {
			out[i] = cluster.Domain(d)
		}
	}
	return out
}

// Joining lists the instances the scenario's actions join, in the order
// of their times.
func Joining(s *scenario.Scenario) []env.NodeID {
	var as []scenario.Action
	for _, wl := range s.Workloads {
		as = append(as, wl.Actions...)
	}
	slices.SortStableFunc(as, func(a, b scenario.Action) int { return int(a.At - b.At) })
	var out []env.NodeID
	for _, a := range as {
		if a.Kind == scenario.ActionJoin {
			out = append(out, a.Instance)
		}
	}
	return out
}

// scheduleActions makes a config workload's actions at their times.
func scheduleActions(w *simnet.World, c *harness.Cluster, wl scenario.Workload) {
	for _, a := range wl.Actions {
		w.At(a.At, func() { act(w, c, a) })
	}
}

// act makes one action now: it resolves via, records the action
// (topology.action, node runner: id, action, instance, via, up,
// timeout, and domain for a join, force for an expel), and proposes it
// there: a join through harness.Join, which also starts the joining
// instance's process, an expel as cluster.Expel on group 0. A via that
// is down drops the proposal, as a refused connection would: the action
// then has no outcome, which the record's up says.
func act(w *simnet.World, c *harness.Cluster, a scenario.Action) {
	via := actionVia(w, c, a.Via)
	fields := []env.Field{env.Str("id", a.ID()), env.Str("action", a.Kind), env.Str("instance", string(a.Instance)),
		env.Str("via", string(via)), env.Bool("up", via != "" && w.Up(via) && !w.Paused(via)), env.Int("timeout", int64(a.Timeout))}
	switch a.Kind {
	case scenario.ActionJoin:
		fields = append(fields, env.Str("domain", cluster.Domain(a.Domain).String()))
	case scenario.ActionExpel:
		fields = append(fields, env.Bool("force", a.Force))
	}
	w.Note(Source, "topology.action", fields...)
	if via == "" {
		return
	}
	switch a.Kind {
	case scenario.ActionJoin:
		if err := c.Join(a.Instance, via, cluster.Domain(a.Domain), a.Timeout); err != nil {
			panic(fmt.Sprintf("runner: joining %s: %v", a.Instance, err)) // scenario.Parse admits each join once
		}
	case scenario.ActionExpel:
		c.Propose(via, "config", a.ID(), cluster.Expel(a.Instance, a.Force).Encode(), a.Timeout)
	}
}

// actionVia resolves an action's via: the instance it names; group 0's
// leader for leader (else as random); for random, one drawn from the
// seed among the instances that serve (harness.Serving) and are up, as
// an operator's client would find one that answers; "" when none is.
func actionVia(w *simnet.World, c *harness.Cluster, via string) env.NodeID {
	switch via {
	case nemesis.TargetLeader:
		if l, ok := c.Leader("config"); ok {
			return l
		}
	case nemesis.TargetRandom:
	default:
		return env.NodeID(via)
	}
	var up []env.NodeID
	for _, name := range c.Serving() {
		if w.Up(name) && !w.Paused(name) {
			up = append(up, name)
		}
	}
	if len(up) == 0 {
		return ""
	}
	return up[w.Rand().IntN(len(up))]
}

// growing is the cluster as the nemesis sees it while it checks a
// schedule: with the instances the actions will join, which its steps
// may name from their join on (scenario.Parse checks when). Once the
// schedule is checked it is the cluster as it is: a joining instance is
// an instance from its join on (harness.Join starts its process then).
type growing struct {
	*harness.Cluster
	planned  []env.NodeID
	checking bool
}

func (g *growing) Instances() []env.NodeID {
	if g.checking {
		return slices.Concat(g.Cluster.Instances(), g.planned)
	}
	return g.Cluster.Instances()
}

// scheduleNemesis schedules s's nemesis on c, whose instances the
// scenario's actions may add to.
func scheduleNemesis(w *simnet.World, c *harness.Cluster, s *scenario.Scenario, cfg nemesis.Config) (*nemesis.Nemesis, error) {
	g := &growing{Cluster: c, planned: Joining(s), checking: true}
	nem, err := nemesis.Schedule(w, g, s.Nemesis, cfg)
	g.checking = false
	return nem, err
}

// TopologySettleLimit bounds how long a run whose checks include
// topology waits, before it records the configuration it ends with, for
// the governor to have nothing left to do.
const TopologySettleLimit = 30 * time.Second

// recordTopology waits until the configuration group 0's leader has
// applied is settled (every instance in its target state, group 0's
// voters those the governor wants), looking every 100ms for at most
// TopologySettleLimit, and then, if it waited, Settle more for the
// groups' leaders to follow it; then it records that configuration
// (topology.final, node runner: leader, instances as
// name:state:target:replicaset, voters, replicasets as
// name=member+member, settled), which the topology check compares
// with the groups' Raft membership.
func recordTopology(w *simnet.World, c *harness.Cluster, progress func()) error {
	settled := func() bool {
		l, ok := c.Leader("config")
		if !ok || c.Node(l) == nil {
			return false
		}
		conf := c.Node(l).Configuration()
		if !slices.Equal(conf.WantedVoters(), conf.Voters) {
			return false
		}
		for _, in := range conf.Instances {
			if in.State != in.Target {
				return false
			}
		}
		return true
	}
	if err := drainWhile(w, func() bool { return !settled() }, TopologySettleLimit, progress); err != nil {
		return err
	}
	l, ok := c.Leader("config")
	if !ok || c.Node(l) == nil {
		w.Note(Source, "topology.final", env.Str("leader", ""), env.Bool("settled", false))
		return nil
	}
	conf := c.Node(l).Configuration()
	var insts, sets []string
	for _, in := range conf.Instances {
		insts = append(insts, fmt.Sprintf("%s:%s:%s:%s", in.Name, in.State, in.Target, in.Replicaset))
	}
	for _, rs := range conf.Replicasets {
		names := make([]string, len(rs.Members))
		for i, m := range rs.Members {
			names[i] = string(m)
		}
		sets = append(sets, rs.Name+"="+strings.Join(names, "+"))
	}
	w.Note(Source, "topology.final", env.Str("leader", string(l)), env.Str("instances", strings.Join(insts, ",")),
		env.Str("voters", env.Join(conf.Voters)), env.Str("replicasets", strings.Join(sets, ",")), env.Bool("settled", settled()))
	return nil
}

// lastMembers maps each group to the instances of its membership of the
// highest index (raft.conf): those that apply its entries at the end; an
// instance expelled is not among them.
func lastMembers(trace []env.Record) map[string]map[env.NodeID]bool {
	index := map[string]int64{}
	out := map[string]map[env.NodeID]bool{}
	for i := range trace {
		r := &trace[i]
		if r.Kind != "raft.conf" {
			continue
		}
		g, _ := r.Str("group")
		x, _ := r.Int("index")
		if _, seen := out[g]; seen && x <= index[g] {
			continue
		}
		index[g], out[g] = x, map[env.NodeID]bool{}
		for _, field := range []string{"voters", "learners"} {
			v, _ := r.Str(field)
			for _, n := range strings.Split(v, ",") {
				if n != "" {
					out[g][env.NodeID(n)] = true
				}
			}
		}
	}
	return out
}

// replicas is how many instances should have read an object that those
// of read read: the members at the end of the replicaset they belong to
// (a join or an expel changes its size), or the replication factor when
// the trace does not say.
func replicas(s *scenario.Scenario, groups map[string]map[env.NodeID]bool, read map[string]bool) int {
	for g, members := range groups {
		if g == "config" {
			continue
		}
		all := len(read) > 0
		for n := range read {
			all = all && members[env.NodeID(n)]
		}
		if all {
			return len(members)
		}
	}
	return s.Cluster.ReplicationFactor
}
