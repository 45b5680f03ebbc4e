package live

import (
	"context"
	"fmt"

	"github.com/shoaldb/shoal/core/node"
)

// Node serves the HTTP API.
var _ Backend = (*Node)(nil)

// Cluster describes the cluster as this instance sees it: the
// configuration it applied from group 0, and its view of its groups.
func (n *Node) Cluster(ctx context.Context) (ClusterStatus, error) {
	type answer struct {
		st  ClusterStatus
		err error
	}
	ch := make(chan answer, 1)
	posted := n.post(func() {
		eng, ok := n.eng.(*node.Node)
		if !ok || eng == nil {
			ch <- answer{err: fmt.Errorf("%w: %w", ErrUnavailable, ErrNotFormed)}
			return
		}
		ch <- answer{st: clusterStatus(string(n.cfg.Name), eng)}
	})
	if !posted {
		return ClusterStatus{}, fmt.Errorf("%w: the instance is stopping", ErrUnavailable)
	}
	select {
	case a := <-ch:
		return a.st, a.err
	case <-ctx.Done():
		return ClusterStatus{}, fmt.Errorf("%w: the instance is busy: %w", ErrUnavailable, ctx.Err())
	}
}

// clusterStatus reads the engine's configuration and groups (on the loop).
func clusterStatus(self string, eng *node.Node) ClusterStatus {
	conf := eng.Configuration()
	st := ClusterStatus{Node: self, Instances: []InstanceStatus{}, Replicasets: []ReplicasetStatus{}, Voters: []string{}, Groups: []GroupStatus{}}
	for _, in := range conf.Instances {
		st.Instances = append(st.Instances, InstanceStatus{Name: string(in.Name), RaftID: in.RaftID, Replicaset: in.Replicaset,
			Domain: in.Domain, State: string(in.State)})
	}
	for _, v := range conf.Voters {
		st.Voters = append(st.Voters, string(v))
	}
	leaders := map[string]string{}
	for i, g := range eng.Status() {
		group := uint64(0)
		if i > 0 {
			if rs, ok := conf.Replicaset(g.Group); ok {
				group = rs.Group
			}
		}
		leaders[g.Group] = string(g.Leader)
		st.Groups = append(st.Groups, GroupStatus{Group: group, Name: g.Group, Term: g.Term, Role: g.Role, Leader: string(g.Leader),
			Commit: g.Commit, Applied: g.Applied})
	}
	for _, rs := range conf.Replicasets {
		members := make([]string, len(rs.Members))
		for i, m := range rs.Members {
			members[i] = string(m)
		}
		st.Replicasets = append(st.Replicasets, ReplicasetStatus{Name: rs.Name, Group: rs.Group, Members: members, Leader: leaders[rs.Name]})
	}
	return st
}

// Ready reports whether the instance can serve: its cluster formed, its
// engine runs, and every group it is in knows a leader.
func (n *Node) Ready() (bool, string) {
	select {
	case <-n.dead:
		return false, "the engine stopped: " + n.err.Error()
	default:
	}
	if !n.started.Load() {
		return false, ErrNotFormed.Error()
	}
	return n.metrics.ready()
}
