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
// group 0's leader governs (cluster.Config.Govern). Time is counted in
// the node's ticks, not read from the clock: a clock that steps would
// otherwise mark every instance offline at once, or none for a minute.
type governor struct {
	tick int64 // ticks since the instance started
	// heard is the tick of the last message from each instance; first,
	// on group 0's leader, the tick this leadership first saw each
	// instance headed online (it gives it the full OfflineAfter before
	// judging it). Both start afresh with each new term led.
	heard, first map[env.NodeID]int64
	term         uint64
	step         string // the ID of the step under way, "" for none
	seq          int
	// move is the bucket move under way as this leadership first saw
	// it, and the tick it did: one under way for longer than the
	// setting rebalance.move_timeout is aborted.
	move      uint64
	moveSince int64
	// expelled is set once this instance learned it was expelled
	// (node.expelled traced).
	expelled bool
}

// heardFrom notes a message from another instance.
func (n *Node) heardFrom(from env.NodeID) {
	if n.gov.heard != nil {
		n.gov.heard[from] = n.gov.tick
	}
}

// govern runs on every tick: on group 0's leader, with no step under
// way, it proposes the next step the configuration asks for. A step
// proposed while leading is forgotten when the leadership goes: it is
// not proposed again to the next leader, whose own judgement counts
// (one raft already took may still commit; every step is checked when
// it applies).
func (n *Node) govern() {
	n.gov.tick++
	n.governStep()
}

// governStep proposes the governor's next step, if one is due: on the
// tick, and as soon as group 0 applied entries (the step before may be
// done: the next need not wait for the tick).
func (n *Node) governStep() {
	g := n.group(cluster.ConfigGroup)
	if g == nil || g.role() != raft.StateLeader {
		n.gov.heard, n.gov.first = nil, nil
		n.dropGovernorStep()
		return
	}
	if term := g.rn.BasicStatus().Term; n.gov.heard == nil || n.gov.term != term {
		n.dropGovernorStep()
		n.gov.heard, n.gov.first, n.gov.term = map[env.NodeID]int64{}, map[env.NodeID]int64{}, term
		n.gov.move = 0
	}
	if n.gov.step != "" {
		if _, pending := n.pending[n.gov.step]; pending {
			return
		}
		n.gov.step = ""
	}
	conf := n.conf.conf
	after := conf.OfflineAfterSetting()
	ticks := int64(after / n.cfg.TickInterval)
	now := n.gov.tick
	cmd, ok := conf.Govern(cluster.Health{
		Reachable: func(name env.NodeID) bool {
			if name == n.e.ID() {
				return true
			}
			last, heard := n.gov.heard[name]
			if !heard {
				in, _ := conf.Instance(name)
				if in.Target != cluster.Online {
					return false // only a message brings it back
				}
				if _, seen := n.gov.first[name]; !seen {
					n.gov.first[name] = now
				}
				last = n.gov.first[name]
			}
			return now-last < ticks
		},
		Unreachable: fmt.Sprintf("not heard from for %s", after),
		Settled:     n.votersSettled(g),
	})
	if mv := conf.Move; !ok && mv != nil {
		if n.gov.move != mv.ID {
			n.gov.move, n.gov.moveSince = mv.ID, now
		} else if timeout := conf.MoveTimeoutSetting(); now-n.gov.moveSince >= int64(timeout/n.cfg.TickInterval) {
			cmd, ok = cluster.AbortMove(mv.ID), true
			cmd.Move = mv
			cmd.Value = fmt.Sprintf("under way for %s", timeout)
		}
	}
	if !ok {
		return
	}
	n.gov.seq++
	id := fmt.Sprintf("gov-%s-%d-%d", n.e.ID(), n.gov.term, n.gov.seq)
	n.gov.step = id
	if mv := cmd.Move; mv != nil {
		n.trace("governor.step", env.Str("id", id), env.Str("op", cmd.Op), env.Int("bucket", int64(mv.Bucket)),
			env.Str("from", mv.From), env.Str("to", mv.To), env.Str("reason", cmd.Value))
	} else {
		n.trace("governor.step", env.Str("id", id), env.Str("op", cmd.Op), env.Str("instance", string(cmd.Instance)),
			env.Str("state", string(cmd.State)), env.Str("voters", env.Join(cmd.Voters)), env.Str("reason", cmd.Value))
	}
	req := &request{group: g, timer: n.e.After(governorTimeout, &expire{id: id}), entry: envelope(id, cmd.Encode())}
	n.pending[id] = req
	n.actions = append(n.actions, id)
	n.proposeAction(req)
}

// votersSettled reports whether group 0's Raft voters are all voters of
// the configuration, no membership change under way: what the governor
// waits for before the next voter change. A configured voter that Raft
// has not promoted yet (it never caught up) does not hold the governor
// back, so that the governor can take it out again.
func (n *Node) votersSettled(g *group) bool {
	if g.confPending {
		return false
	}
	voters, _ := n.conf.conf.Membership(cluster.ConfigGroup)
	for _, id := range g.confState.Voters {
		if !slices.Contains(voters, id) {
			return false
		}
	}
	return true
}

// dropGovernorStep forgets the step under way, if any: its outcome no
// longer matters here.
func (n *Node) dropGovernorStep() {
	if n.gov.step == "" {
		return
	}
	if req, ok := n.pending[n.gov.step]; ok {
		n.e.Cancel(req.timer)
		delete(n.pending, n.gov.step)
		n.trace("prop.result", env.Str("group", req.group.name), env.Str("id", n.gov.step), env.Str("outcome", "timeout"),
			env.Str("error", "the leadership of group 0 ended"))
	}
	n.gov.step = ""
}

// governorTimeout bounds a governor's step: one that neither applies nor
// fails by then is forgotten, and the governor decides again.
const governorTimeout = 5 * time.Second

// expelled reports whether the configuration says this instance is
// expelled: it serves nothing, and its peers ignore its messages.
func (n *Node) expelled() bool {
	self, ok := n.conf.conf.Instance(n.e.ID())
	return ok && self.State == cluster.Expelled
}

// noteExpelled traces node.expelled once this instance has applied its
// own expulsion. It also checks the Raft ID the configuration gives
// this instance.
func (n *Node) noteExpelled() {
	if self, ok := n.conf.conf.Instance(n.e.ID()); ok && self.RaftID != n.raftID {
		// A joiner started with the Raft ID its join was to give it; a
		// configuration that gave it another means two instances may
		// share one. It cannot go on.
		panic(env.Fatal{Err: fmt.Errorf("node: %s started as Raft ID %d, but the configuration gives it %d", n.e.ID(), n.raftID, self.RaftID)})
	}
	if !n.gov.expelled && n.expelled() {
		n.gov.expelled = true
		n.trace("node.expelled")
	}
}
