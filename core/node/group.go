package node

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/raftlog"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
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
	// confPending is set while a membership change this instance proposed
	// as leader has not been applied.
	confPending bool
	confTerm    uint64 // the term it was proposed in
	confWait    int    // ticks left before a pending change is proposed again
	// appliedTerm is the term of the last entry applied: a leader changes
	// the membership only once it has applied an entry of its own term,
	// since raft drops (as an empty entry) a change proposed before.
	appliedTerm uint64
	snapshotNow bool         // snapshot at the next chance: the membership changed
	migration   migration    // on a replicaset's leader: the background migration
	queue       queueProc    // on a replicaset's leader: settling the inbound queue
	out         outboundProc // on a replicaset's leader: delivering the outbound queue
	moveIn      moveIn       // on a replicaset's leader: the move it receives
	moveOut     moveOut      // on a replicaset's leader: the move it sends, its leftovers
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

// catchUpLag is how far behind its leader's log a learner may be and still
// be promoted to voter: promoting one further behind would let it hold
// back commits until it catches up.
const catchUpLag = 64

// reconcile, on a group's leader, moves the group's Raft membership one
// step towards what the configuration says it should be: it adds missing
// instances as learners, promotes a learner that should vote once it has
// caught up, then demotes a voter that should not vote and removes an
// instance that should not be a member (an expelled one). One change is
// in flight at a time; a change proposed in an earlier term, which a
// leader change may have dropped, is proposed again. A leader that
// should itself leave or stop voting hands its leadership to a voter
// that stays first, so that no group is led by an instance outside it.
func (n *Node) reconcile(g *group) {
	if g.role() != raft.StateLeader {
		return
	}
	term := g.rn.BasicStatus().Term
	if g.appliedTerm != term {
		return
	}
	if g.confPending && g.confTerm == term {
		// A change raft took but never applied (it may have been dropped)
		// is proposed again after a while.
		if g.confWait--; g.confWait > 0 {
			return
		}
		g.confPending = false
	}
	voters, learners := n.conf.conf.Membership(g.id)
	if len(voters) == 0 {
		return
	}
	has := func(ids []uint64, id uint64) bool { return slices.Contains(ids, id) }
	st := g.rn.Status()
	var change *pb.ConfChangeSingle
	for _, id := range append(slices.Clone(voters), learners...) {
		if !has(g.confState.Voters, id) && !has(g.confState.Learners, id) {
			change = &pb.ConfChangeSingle{Type: pb.ConfChangeAddLearnerNode, NodeID: id}
			break
		}
	}
	if change == nil {
		for _, id := range voters {
			if has(g.confState.Learners, id) && caughtUp(st, id, n.raftID) {
				change = &pb.ConfChangeSingle{Type: pb.ConfChangeAddNode, NodeID: id}
				break
			}
		}
	}
	if change == nil {
		for _, id := range g.confState.Voters {
			switch {
			case has(learners, id):
				change = &pb.ConfChangeSingle{Type: pb.ConfChangeAddLearnerNode, NodeID: id}
			case !has(voters, id):
				change = &pb.ConfChangeSingle{Type: pb.ConfChangeRemoveNode, NodeID: id}
			default:
				continue
			}
			break
		}
	}
	if change == nil {
		for _, id := range g.confState.Learners {
			if !has(voters, id) && !has(learners, id) {
				change = &pb.ConfChangeSingle{Type: pb.ConfChangeRemoveNode, NodeID: id}
				break
			}
		}
	}
	if change == nil {
		return
	}
	if change.NodeID == n.raftID && change.Type != pb.ConfChangeAddNode {
		n.handOver(g, voters, st)
		return
	}
	if err := g.rn.ProposeConfChange(pb.ConfChangeV2{Changes: []pb.ConfChangeSingle{*change}}); err == nil {
		g.confPending, g.confTerm, g.confWait = true, term, confRetryTicks
		n.trace("raft.conf.propose", env.Str("group", g.name), env.Str("change", change.Type.String()), env.Str("instance", n.name(change.NodeID)))
	}
}

// handOver transfers the group's leadership to the voter that stays and
// is furthest along, if one has caught up; raft refuses a transfer while
// one is under way.
func (n *Node) handOver(g *group, voters []uint64, st raft.Status) {
	if st.LeadTransferee != 0 {
		return
	}
	var to uint64
	for _, id := range voters {
		if id != n.raftID && slices.Contains(g.confState.Voters, id) && (to == 0 || st.Progress[id].Match > st.Progress[to].Match) {
			to = id
		}
	}
	if to == 0 || !caughtUp(st, to, n.raftID) {
		return
	}
	n.trace("raft.transfer", env.Str("group", g.name), env.Str("to", n.name(to)), env.Str("why", "the leader leaves the group or stops voting"))
	g.rn.TransferLeader(to)
}

// confRetryTicks is how long a leader waits for a membership change it
// proposed to apply before it proposes one again.
const confRetryTicks = 30

// caughtUp reports whether, on the leader self, the follower id is
// replicating and within catchUpLag entries of the leader's log: one that
// never answered (a Match of 0) is not, however short the log.
func caughtUp(st raft.Status, id, self uint64) bool {
	pr, ok := st.Progress[id]
	return ok && pr.Match > 0 && pr.RecentActive && pr.State == tracker.StateReplicate &&
		pr.Match+catchUpLag >= st.Progress[self].Match
}
