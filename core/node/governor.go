package node

import (
	"fmt"
	"slices"
	"time"

	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/env"
	"go.etcd.io/raft/v3"
)

// governor is the governor's state on this instance: when it last heard
// from each peer, and the step it proposed, if one is under way. Only
// group 0's leader governs (cluster.Config.Govern).
type governor struct {
	heard map[env.NodeID]time.Time
	// term is the group-0 term this instance last led in; heard is reset
	// when a new one begins, so that a new leader gives every instance
	// the full OfflineAfter before it judges it.
	term uint64
	step string // the ID of the step under way, "" for none
	seq  int
	// expelled is set once this instance learned it was expelled
	// (node.expelled traced).
	expelled bool
}

// heardFrom notes a message from another instance.
func (n *Node) heardFrom(from env.NodeID) {
	if n.gov.heard != nil {
		n.gov.heard[from] = n.e.Now()
	}
}

// govern runs on every tick: on group 0's leader, with no step under
// way, it proposes the next step the configuration asks for.
func (n *Node) govern() {
	g := n.group(cluster.ConfigGroup)
	if g == nil || g.role() != raft.StateLeader {
		n.gov.heard = nil
		return
	}
	now := n.e.Now()
	if term := g.rn.BasicStatus().Term; n.gov.heard == nil || n.gov.term != term {
		n.gov.heard, n.gov.term = map[env.NodeID]time.Time{}, term
		for _, in := range n.conf.conf.Instances {
			n.gov.heard[in.Name] = now
		}
	}
	if n.gov.step != "" {
		if _, pending := n.pending[n.gov.step]; pending {
			return
		}
		n.gov.step = ""
	}
	conf := n.conf.conf
	after := conf.OfflineAfterSetting()
	voters, learners := conf.Membership(cluster.ConfigGroup)
	settled := sameMembers(voters, g.confState.Voters) && sameMembers(learners, g.confState.Learners) && !g.confPending
	cmd, ok := conf.Govern(cluster.Health{
		Reachable: func(name env.NodeID) bool {
			if name == n.e.ID() {
				return true
			}
			last, seen := n.gov.heard[name]
			if !seen {
				// An instance that joined in this term: heard of now.
				n.gov.heard[name], last = now, now
			}
			return now.Sub(last) < after
		},
		Unreachable: fmt.Sprintf("not heard from for %s", after),
		Settled:     settled,
	})
	if !ok {
		return
	}
	n.gov.seq++
	id := fmt.Sprintf("gov-%s-%d-%d", n.e.ID(), n.gov.term, n.gov.seq)
	n.gov.step = id
	n.trace("governor.step", env.Str("id", id), env.Str("op", cmd.Op), env.Str("instance", string(cmd.Instance)),
		env.Str("state", string(cmd.State)), env.Str("voters", env.Join(cmd.Voters)), env.Str("reason", cmd.Value))
	req := &request{group: g, timer: n.e.After(governorTimeout, &expire{id: id}), entry: envelope(id, cmd.Encode())}
	n.pending[id] = req
	n.actions = append(n.actions, id)
	n.proposeAction(req)
}

// governorTimeout bounds a governor's step: one that neither applies nor
// fails by then is forgotten, and the governor decides again.
const governorTimeout = 5 * time.Second

// sameMembers reports whether two sets of Raft IDs are equal.
func sameMembers(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for _, id := range a {
		if !slices.Contains(b, id) {
			return false
		}
	}
	return true
}

// expelled reports whether the configuration says this instance is
// expelled: it serves nothing, and its peers ignore its messages.
func (n *Node) expelled() bool {
	self, ok := n.conf.conf.Instance(n.e.ID())
	return ok && self.State == cluster.Expelled
}

// noteExpelled traces node.expelled once this instance has applied its
// own expulsion.
func (n *Node) noteExpelled() {
	if !n.gov.expelled && n.expelled() {
		n.gov.expelled = true
		n.trace("node.expelled")
	}
}
