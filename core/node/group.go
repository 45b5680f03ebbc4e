package node

import (
	"fmt"
	"strings"
	"time"

	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/raftlog"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// group is one Raft group on this instance.
type group struct {
	id        uint64
	name      string // "config" or the replicaset's name
	log       *raftlog.Log
	rn        *raft.RawNode
	sm        stateMachine
	confState pb.ConfState
	applied   uint64
	traced    raft.BasicStatus // as last recorded in the trace
	waiting   []*read          // reads with a confirmed index, waiting to be applied up to it
	lease     time.Time        // on a leader, the wall-clock end of its read lease (the lease-read-under-skew bug)
}

func (g *group) role() raft.StateType { return g.rn.BasicStatus().RaftState }

var roleNames = [...]string{
	raft.StateFollower:     "follower",
	raft.StateCandidate:    "candidate",
	raft.StateLeader:       "leader",
	raft.StatePreCandidate: "precandidate",
}

// traceState records the group's Raft state when it changed since it was
// last recorded: term, role, leader, vote, commit and applied index.
func (n *Node) traceState(g *group) {
	st := g.rn.BasicStatus()
	st.Applied = g.applied
	last := g.traced
	if st.Term == last.Term && st.RaftState == last.RaftState && st.Lead == last.Lead && st.Vote == last.Vote &&
		st.Commit == last.Commit && st.Applied == last.Applied && last.ID != 0 {
		return
	}
	if st.Lead != last.Lead && st.Lead != 0 && last.ID != 0 {
		n.leaderChanged(g)
	}
	g.traced = st
	n.trace("raft.state", env.Str("group", g.name), env.Int("term", int64(st.Term)), env.Str("role", roleNames[st.RaftState]),
		env.Str("leader", n.name(st.Lead)), env.Str("vote", n.name(st.Vote)),
		env.Int("commit", int64(st.Commit)), env.Int("applied", int64(st.Applied)))
}

// name is the instance with Raft ID id, or "" for none.
func (n *Node) name(id uint64) string {
	if id == 0 {
		return ""
	}
	if inst, ok := n.conf.conf.ByRaftID(id); ok {
		return string(inst.Name)
	}
	return "?"
}

func (n *Node) names(ids []uint64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = n.name(id)
	}
	return strings.Join(s, ",")
}

// Status is a group's Raft state on this instance.
type Status struct {
	Group   string
	Term    uint64
	Role    string
	Leader  env.NodeID
	Vote    env.NodeID
	Commit  uint64
	Applied uint64
	Digest  string // of the state machine
}

// Status reports every group's state, group 0 first.
func (n *Node) Status() []Status {
	out := make([]Status, 0, len(n.groups))
	for _, g := range n.groups {
		st := g.rn.BasicStatus()
		out = append(out, Status{Group: g.name, Term: st.Term, Role: roleNames[st.RaftState], Leader: env.NodeID(n.name(st.Lead)),
			Vote: env.NodeID(n.name(st.Vote)), Commit: st.Commit, Applied: g.applied, Digest: g.sm.digest()})
	}
	return out
}

// Configuration is the cluster configuration as of what this instance
// applied of group 0: a copy the caller may keep.
func (n *Node) Configuration() *cluster.Config {
	c, err := cluster.Decode(n.conf.conf.Encode())
	if err != nil {
		panic(fmt.Sprintf("node: the configuration does not decode from its own encoding: %v", err))
	}
	return c
}
