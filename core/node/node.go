// Package node is one shoal instance: the Raft groups it belongs to (group
// 0, the cluster configuration, and its replicaset's group), their storage,
// the key-value store its replicaset holds, and the event loop that ties
// them to the world through core/env. It is deterministic: given the same
// events it does the same things, in the simulator and in production.
//
// Each event (a message, a tick, a proposal) is handled to completion:
// raft steps, then every group's Ready is written to the node's
// write-ahead log in one write, synced once if any group needs it, and
// only then are messages sent, committed entries applied, reads served,
// and raft advanced.
package node

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shoaldb/shoal/core/bugs"
	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/raftlog"
	"github.com/shoaldb/shoal/core/store"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
)

// Config configures an instance. Every instance of a cluster is started
// with the same Spec.
type Config struct {
	// Spec is the topology the cluster bootstraps with.
	Spec cluster.Spec
	// TickInterval is the Raft clock's period; ElectionTicks and
	// HeartbeatTicks count it.
	TickInterval   time.Duration
	ElectionTicks  int
	HeartbeatTicks int
	// CompactEvery is how many applied entries a group keeps before it
	// snapshots its state machine and discards them; followers that fall
	// further behind are sent the snapshot.
	CompactEvery uint64
	// MaxSizePerMsg caps the entries in one append message.
	MaxSizePerMsg uint64
	// MaxInflight caps the append messages in flight to one follower.
	MaxInflight int
	// RequestTTL is how long the instance remembers a client request it
	// could not answer yet; the client has given up long before.
	RequestTTL time.Duration
	// Bugs switches planted bugs on (only in a shoalbugs build).
	Bugs bugs.Set
	// Join, for an instance joining a formed cluster, is what it starts
	// with instead of bootstrapping: its Raft ID and its peers, known from
	// the member that proposed its join (cluster.Join). It starts empty, as
	// a follower of no group, and catches up from the leaders once they
	// add it; Spec is not used. Give it at every start: a restart before
	// the instance applied its own join needs it again.
	Join *JoinInfo
	// SyncConfig has the instance confirm, once it starts, that it has
	// applied group 0 up to the leader's commit index at some moment
	// after the start (a ReadIndex on group 0, asked again every third
	// tick until answered), and trace config.synced when it
	// has. Until then what a restart brought back from disk may be old:
	// production trusts no access configuration before it. The simulator
	// does not ask, so its traces are as they were.
	SyncConfig bool
}

// JoinInfo is what a joining instance knows before it catches up.
type JoinInfo struct {
	RaftID uint64
	Peers  []cluster.Instance // names and Raft IDs of the cluster's instances
}

// Defaults for zero Config fields.
const (
	DefaultTickInterval   = 100 * time.Millisecond
	DefaultElectionTicks  = 10
	DefaultHeartbeatTicks = 1
	DefaultCompactEvery   = 1000
	DefaultMaxSizePerMsg  = 1 << 20
	DefaultMaxInflight    = 256
	DefaultRequestTTL     = 10 * time.Second
)

func (c Config) withDefaults() Config {
	if c.TickInterval <= 0 {
		c.TickInterval = DefaultTickInterval
	}
	if c.ElectionTicks <= 0 {
		c.ElectionTicks = DefaultElectionTicks
	}
	if c.HeartbeatTicks <= 0 {
		c.HeartbeatTicks = DefaultHeartbeatTicks
	}
	if c.CompactEvery == 0 {
		c.CompactEvery = DefaultCompactEvery
	}
	if c.MaxSizePerMsg == 0 {
		c.MaxSizePerMsg = DefaultMaxSizePerMsg
	}
	if c.MaxInflight <= 0 {
		c.MaxInflight = DefaultMaxInflight
	}
	if c.RequestTTL <= 0 {
		c.RequestTTL = DefaultRequestTTL
	}
	return c
}

// Node is one instance.
type Node struct {
	e       env.Env
	cfg     Config
	wal     *raftlog.WAL
	batch   raftlog.Batch
	store   *store.Store
	conf    *configMachine
	raftID  uint64   // this instance's, in every group
	groups  []*group // by group ID
	cfgSync configSync
	pending map[string]*request
	reads   map[string]*read
	// actions lists, in the order they came, the IDs of the Propose
	// requests still pending.
	actions []string

	readies []ready     // reused by process
	fields  []env.Field // reused by trace

	models modelCache    // the data model in force, parsed
	pipe   pipelineCache // the inbound pipeline in force, parsed

	consumers consumers // the kafka inbound connectors' consumers (consume.go)
	gov       governor  // on group 0's leader (governor.go)
	moveSeq   uint64    // numbers a destination's reads (move.go)

	// holding is set while Batch runs: Receive and Handle leave the
	// Ready processing to its end. stopped is set by Stop.
	holding, stopped bool
}

// Batch runs fn, in which the caller hands the node several events
// (Receive, Handle), and processes what they produced once, at its end:
// one write-ahead-log sync and one message per peer for all of them,
// where each event alone would pay its own. Raft allows any number of
// steps and proposals between two Readies, so the outcome is the one the
// events would have had one by one, only later by the batch's length.
// The simulator hands the node one event at a time; the production
// runtime batches the events that queued while it was busy.
func (n *Node) Batch(fn func()) {
	n.holding = true
	fn()
	n.holding = false
	if !n.stopped {
		n.process()
	}
}

// Start returns the env.Start of an instance.
func Start(cfg Config) env.Start {
	cfg = cfg.withDefaults()
	return func(e env.Env) (env.Node, error) { return open(e, cfg) }
}

func open(e env.Env, cfg Config) (*Node, error) {
	// A disk that fails here (a read of the log, the new segment's write)
	// fails the start: the node stays down and may be restarted.
	wal, err := raftlog.Open(e.FS(), WALDir)
	if err != nil {
		return nil, fmt.Errorf("node: %s: %w", e.ID(), err)
	}
	st, err := store.Open(e, "data")
	if err != nil {
		wal.Close()
		return nil, fmt.Errorf("node: %s: %w", e.ID(), err)
	}
	n := &Node{e: e, cfg: cfg, wal: wal, store: st, pending: map[string]*request{}, reads: map[string]*read{}}
	if err := n.recover(); err != nil {
		n.Stop()
		return nil, err
	}
	e.After(cfg.TickInterval, tick{})
	return n, nil
}

// recover loads the groups, bootstrapping them on the very first start.
func (n *Node) recover() error {
	log0 := n.wal.Log(cluster.ConfigGroup)
	snap0, _ := log0.Snapshot()
	switch {
	case snap0.Metadata.Index == 0 && n.cfg.Join != nil:
		// Joining: nothing yet but who the peers are. Group 0's leader
		// sends the configuration once it adds this instance.
		// What the peers' replicasets are comes with the configuration:
		// until then the instances are names and Raft IDs alone, which
		// is a configuration that decodes (Configuration).
		peers := slices.Clone(n.cfg.Join.Peers)
		for i := range peers {
			peers[i].Replicaset = ""
		}
		n.conf = &configMachine{conf: &cluster.Config{Instances: peers, Settings: map[string]string{}}}
	case snap0.Metadata.Index == 0:
		if err := n.bootstrap(); err != nil {
			return err
		}
		snap0, _ = log0.Snapshot()
	}
	if n.conf == nil {
		n.conf = &configMachine{}
		if err := n.conf.restore(snap0.Data, snap0.Metadata.Index); err != nil {
			return err
		}
	}
	switch self, ok := n.conf.conf.Instance(n.e.ID()); {
	case ok:
		n.raftID = self.RaftID
	case n.cfg.Join != nil:
		n.raftID = n.cfg.Join.RaftID // its join is in the log, not yet applied
	default:
		return fmt.Errorf("node: %s is not in the stored configuration", n.e.ID())
	}
	if err := n.addGroup(log0, n.conf); err != nil {
		return err
	}
	if err := n.joinReplicaset(); err != nil {
		return err
	}
	n.noteExpelled()
	return nil
}

// joinReplicaset starts the group of this instance's replicaset, if the
// configuration names one and it has not started: at start, and when a
// joining instance applies its join.
func (n *Node) joinReplicaset() error {
	self, ok := n.conf.conf.Instance(n.e.ID())
	if !ok || self.Replicaset == "" {
		return nil
	}
	rs, ok := n.conf.conf.Replicaset(self.Replicaset)
	if !ok || n.group(rs.Group) != nil || self.State == cluster.Expelled {
		return nil
	}
	log := n.wal.Log(rs.Group)
	if snap, _ := log.Snapshot(); rs.Initial == self.Name && snap.Metadata.Index == 0 && raft.IsEmptyHardState(log.HardState()) {
		// This instance founds the replicaset: its group starts with it
		// as the one voter, and grows as the leader adds the others.
		meta := pb.SnapshotMetadata{Index: 1, Term: 1, ConfState: pb.ConfState{Voters: []uint64{self.RaftID}}}
		must(log.ApplySnapshot(&n.batch, pb.Snapshot{Metadata: meta}))
		persist(n.commit(true))
		n.trace("replicaset.found", env.Str("replicaset", rs.Name), env.Int("group", int64(rs.Group)))
	}
	m, err := kv.Open(n.store, rs.Group)
	if err != nil {
		return err
	}
	m.ForgetDedup = n.cfg.Bugs.Has(bugs.ForgetDedup)
	m.IgnoreStamps = n.cfg.Bugs.Has(bugs.LastArrivalWins)
	m.IgnoreFreeze = n.cfg.Bugs.Has(bugs.TwoOwners)
	m.OnReceived = n.traceReceived(rs.Name)
	return n.addGroup(log, dataMachine{m})
}

// bootstrap writes every group's initial snapshot, identical on every
// instance: index 1, term 1, the bootstrap configuration and membership.
func (n *Node) bootstrap() error {
	conf, err := cluster.Bootstrap(n.cfg.Spec)
	if err != nil {
		return err
	}
	self, ok := conf.Instance(n.e.ID())
	if !ok {
		return fmt.Errorf("node: %s is not in the bootstrap topology", n.e.ID())
	}
	rs, _ := conf.Replicaset(self.Replicaset)
	initial := pb.SnapshotMetadata{Index: 1, Term: 1}
	meta0 := initial
	meta0.ConfState = pb.ConfState{Voters: conf.RaftIDs(conf.Voters), Learners: conf.RaftIDs(conf.Learners())}
	must(n.wal.Log(cluster.ConfigGroup).ApplySnapshot(&n.batch, pb.Snapshot{Metadata: meta0, Data: conf.Encode()}))
	metaRS := initial
	metaRS.ConfState = pb.ConfState{Voters: conf.RaftIDs(rs.Members)}
	must(n.wal.Log(rs.Group).ApplySnapshot(&n.batch, pb.Snapshot{Metadata: metaRS}))
	if err := n.commit(true); err != nil {
		return err
	}
	n.trace("node.bootstrap", env.Int("instances", int64(len(conf.Instances))),
		env.Int("replicasets", int64(len(conf.Replicasets))), env.Str("replicaset", rs.Name),
		env.Str("voters", env.Join(conf.Voters)),
		env.Int("election_timeout", int64(n.cfg.TickInterval)*int64(n.cfg.ElectionTicks)))
	return nil
}

// addGroup starts a group's raft on its log. The state machine resumes
// after what it applied; if that is older than the log's snapshot (a crash
// came between installing a snapshot and applying it), it restores the
// snapshot first.
func (n *Node) addGroup(log *raftlog.Log, sm stateMachine) error {
	snap, _ := log.Snapshot()
	if sm.applied() < snap.Metadata.Index {
		if err := sm.restore(snap.Data, snap.Metadata.Index); err != nil {
			return err
		}
	}
	applied := sm.applied()
	hs := log.HardState()
	if n.cfg.Bugs.Has(bugs.SkipApplyOnRestart) && hs.Commit > applied {
		applied = hs.Commit
	}
	// The commit index (or the snapshot, which raft counts as committed)
	// is synced before anything is applied, so a state machine ahead of it
	// means the log lost writes it had reported
	// durable. Raft would panic; the instance refuses to start instead, as
	// a real one must on storage it cannot trust.
	if committed := max(hs.Commit, snap.Metadata.Index); applied > committed {
		return fmt.Errorf("node: %s: group %d: the state machine has applied up to index %d but the log is committed only to %d: the log lost synced writes",
			n.e.ID(), log.Group(), applied, committed)
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID:              n.raftID,
		ElectionTick:    n.cfg.ElectionTicks,
		HeartbeatTick:   n.cfg.HeartbeatTicks,
		Storage:         log,
		Applied:         applied,
		MaxSizePerMsg:   n.cfg.MaxSizePerMsg,
		MaxInflightMsgs: n.cfg.MaxInflight,
		CheckQuorum:     true,
		PreVote:         true,
		Logger:          raftLogger{},
	})
	if err != nil {
		return err
	}
	g := &group{
		id: log.Group(), name: n.conf.conf.GroupName(log.Group()), log: log, rn: rn, sm: sm,
		confState: snap.Metadata.ConfState, applied: applied,
	}
	n.groups = append(n.groups, g)
	n.traceConf(g, snap.Metadata.Index)
	n.traceState(g)
	return nil
}

// traceConf records a group's membership as of index.
func (n *Node) traceConf(g *group, index uint64) {
	n.trace("raft.conf", env.Str("group", g.name), env.Int("index", int64(index)),
		env.Str("voters", n.names(g.confState.Voters)), env.Str("learners", n.names(g.confState.Learners)))
}

// Receive handles a message from another instance or a client.
func (n *Node) Receive(from env.NodeID, m env.Message) {
	switch msg := m.(type) {
	case *Message:
		n.step(from, msg)
	case *kv.Request:
		n.serve(from, msg)
	case *connector.Pushed:
		n.pushed(from, msg)
	case *kv.Response, *connector.Fetched, *connector.Committed:
		n.consumerReceive(from, msg)
	case *MoveRead:
		n.heardFrom(from)
		n.moveRead(from, msg)
	case *MovePage:
		n.heardFrom(from)
		n.movePage(from, msg)
	default:
		return
	}
	n.process()
}

func (n *Node) step(from env.NodeID, msg *Message) {
	n.heardFrom(from)
	g := n.group(msg.Group)
	if in, ok := n.conf.conf.Instance(from); ok && in.State == cluster.Expelled && g != nil &&
		!slices.Contains(g.confState.Voters, in.RaftID) && !slices.Contains(g.confState.Learners, in.RaftID) {
		// An expelled instance the group has removed may not know it
		// yet: what it says there no longer counts (its campaigns).
		// Until the removal applies it is a member like any other, and
		// its acknowledgements count towards removing it.
		return
	}
	if g == nil {
		n.trace("raft.stray", env.Str("from", string(from)), env.Int("group", int64(msg.Group)), env.Str("msg", msg.Kind()))
		return
	}
	if msg.Msg.Type == pb.MsgAppResp && !msg.Msg.Reject && g.role() == raft.StateLeader {
		n.trace("raft.ack", env.Str("group", g.name), env.Str("from", string(from)), env.Int("term", int64(msg.Msg.Term)),
			env.Int("index", int64(msg.Msg.Index)))
	}
	if err := g.rn.Step(msg.Msg); err != nil && !errors.Is(err, raft.ErrStepPeerNotFound) {
		n.trace("raft.step.error", env.Str("group", g.name), env.Str("from", string(from)), env.Str("error", err.Error()))
	}
}

// Handle handles ticks, proposals and their deadlines.
func (n *Node) Handle(ev env.Event) {
	switch ev := ev.(type) {
	case tick:
		n.askConfigSync()
		n.retryActions()
		n.noteModel()
		n.voteOnModels()
		n.migrate()
		n.settleQueues(true)
		n.deliverAll(true)
		n.consume()
		n.govern()
		n.moveTick()
		for _, g := range n.groups {
			n.reconcile(g)
			g.rn.Tick()
			if n.cfg.Bugs.Has(bugs.LeaseReadUnderSkew) && g.role() == raft.StateLeader {
				g.lease = n.e.Now().Add(n.cfg.TickInterval * time.Duration(n.cfg.ElectionTicks))
			}
		}
		n.e.After(n.cfg.TickInterval, tick{})
	case *Propose:
		n.propose(ev)
	case *expire:
		n.expire(ev.id)
	case *Digest:
		for _, g := range n.groups {
			n.trace("sm.digest", env.Str("group", g.name), env.Int("applied", int64(g.applied)), env.Str("digest", g.sm.digest()))
			if d, ok := g.sm.(dataMachine); ok {
				n.traceObjects(g, d.m)
			}
		}
		if cur := n.conf.conf.Model(); cur != nil {
			n.trace("model.state", env.Int("revision", int64(cur.Revision)), env.Str("digest", cur.Digest))
		}
	}
	n.process()
}

// request is a proposal this node made and still awaits: an operator's
// (answered in the trace) or a client's write (answered to the client).
type request struct {
	group   *group
	timer   env.TimerID
	replyTo env.NodeID // where to answer a client; "" for a Propose event
	client  string
	seq     uint64
	acked   bool // answered early (the ack-before-commit bug)
	// For a Propose request: the entry, and whether raft took it since
	// the group's leader last changed.
	entry    []byte
	proposed bool
	// deciding: a model proposal applied at index, waiting for group 0
	// to decide the change (decideModelProposals).
	deciding bool
	index    uint64
	// rewrite: a background migration's rewrite (migrate).
	rewrite bool
	// queue: a queue write (enqueue, repair), answered with a position.
	queue bool
	// done, if set, is called when a Propose-like request's entry
	// applies here (a move's step, move.go).
	done func(index uint64, out outcome)
}

func (n *Node) propose(p *Propose) {
	g := n.groupNamed(p.Group)
	n.trace("raft.propose", env.Str("group", p.Group), env.Str("id", p.ID), env.Int("size", int64(len(p.Data))),
		env.Int("timeout", int64(p.Timeout)))
	fail := func(why string) {
		n.trace("prop.result", env.Str("group", p.Group), env.Str("id", p.ID), env.Str("outcome", "fail"), env.Str("error", why))
	}
	if g == nil {
		fail(fmt.Sprintf("%s is not a member of group %q", n.e.ID(), p.Group))
		return
	}
	if _, dup := n.pending[p.ID]; dup {
		fail("a proposal with this ID is still pending")
		return
	}
	req := &request{group: g, timer: n.e.After(p.Timeout, &expire{id: p.ID}), entry: envelope(p.ID, p.Data)}
	n.pending[p.ID] = req
	n.actions = append(n.actions, p.ID)
	n.proposeAction(req)
	if n.cfg.Bugs.Has(bugs.ConfigLocalAck) && g.id == cluster.ConfigGroup && req.proposed {
		delete(n.pending, p.ID)
		n.e.Cancel(req.timer)
		n.trace("prop.result", env.Str("group", g.name), env.Str("id", p.ID), env.Str("outcome", "ok"))
	}
}

// proposeAction hands an action's entry to raft. Raft drops it when no
// leader is known, or a leadership transfer is under way; and an entry
// forwarded to a leader that then fails may be lost without a word. So an
// action is proposed again on every tick until raft takes it, and again
// whenever its group's leader changes, until it is applied or its time
// runs out; the configuration applies each action ID once.
func (n *Node) proposeAction(req *request) {
	req.proposed = req.group.rn.Propose(req.entry) == nil
}

// retryActions proposes the pending actions raft has not taken, in the
// order they came, and forgets those that are over.
func (n *Node) retryActions() {
	kept := n.actions[:0]
	for _, id := range n.actions {
		req, ok := n.pending[id]
		if !ok {
			continue
		}
		if !req.proposed && !req.deciding {
			n.proposeAction(req)
		}
		kept = append(kept, id)
	}
	n.actions = kept
}

// leaderChanged makes the group's pending actions be proposed again.
func (n *Node) leaderChanged(g *group) {
	for _, id := range n.actions {
		if req, ok := n.pending[id]; ok && req.group == g {
			req.proposed = false
		}
	}
}

func (n *Node) expire(id string) {
	if req, ok := n.pending[id]; ok {
		delete(n.pending, id)
		if req.rewrite {
			n.rewriteDone(req)
		} else if req.replyTo == "" {
			n.trace("prop.result", env.Str("group", req.group.name), env.Str("id", id), env.Str("outcome", "timeout"))
		}
	}
	if r, ok := n.reads[id]; ok {
		delete(n.reads, id)
		r.expired = true
	}
}

func (n *Node) group(id uint64) *group {
	for _, g := range n.groups {
		if g.id == id {
			return g
		}
	}
	return nil
}

func (n *Node) groupNamed(name string) *group {
	for _, g := range n.groups {
		if g.name == name {
			return g
		}
	}
	return nil
}

// process handles every group's Ready until none has one: persist, then
// send, then apply and serve reads, then advance.
func (n *Node) process() {
	if n.holding {
		return
	}
	for {
		readies := n.readies[:0]
		b := &n.batch
		sync := false
		for _, g := range n.groups {
			if !g.rn.HasReady() {
				continue
			}
			rd := g.rn.Ready()
			if !raft.IsEmptySnap(rd.Snapshot) {
				must(g.log.ApplySnapshot(b, rd.Snapshot))
			}
			g.log.Append(b, rd.Entries)
			if !raft.IsEmptyHardState(rd.HardState) {
				hs := rd.HardState
				if n.cfg.Bugs.Has(bugs.ForgetVote) {
					hs.Vote = 0
				}
				g.log.SetHardState(b, hs)
			}
			// The commit index is synced too, not only what raft needs
			// (raft.MustSync): a node's commit index must never go back,
			// not even across a crash.
			sync = sync || rd.MustSync || !raft.IsEmptyHardState(rd.HardState)
			readies = append(readies, ready{g, rd})
		}
		if len(readies) == 0 {
			// Everything applied: a leader whose queue's head settled
			// sends the next messages to settle, and their command is
			// processed in turn.
			if n.settleQueues(false) {
				continue
			}
			n.deliverAll(false)
			if n.hasReady() {
				continue
			}
			return
		}
		persist(n.commit(sync))
		for _, r := range readies {
			n.afterPersist(r.g, r.rd)
		}
		clear(readies)
		n.readies = readies
		n.maybeCompact()
	}
}

// hasReady reports whether a group has a Ready to handle.
func (n *Node) hasReady() bool {
	for _, g := range n.groups {
		if g.rn.HasReady() {
			return true
		}
	}
	return false
}

type ready struct {
	g  *group
	rd raft.Ready
}

// afterPersist does what may only follow the Ready's durability.
func (n *Node) afterPersist(g *group, rd raft.Ready) {
	if len(rd.Entries) > 0 && g.role() == raft.StateLeader {
		// The leader's own durable append counts towards the quorum.
		last := rd.Entries[len(rd.Entries)-1]
		n.trace("raft.ack", env.Str("group", g.name), env.Str("from", string(n.e.ID())), env.Int("term", int64(g.rn.BasicStatus().Term)),
			env.Int("index", int64(last.Index)))
		if n.cfg.Bugs.Has(bugs.AckBeforeCommit) {
			n.ackAppended(g, rd.Entries)
		}
	}
	var snapsSent []uint64
	for _, m := range rd.Messages {
		to, ok := n.conf.conf.ByRaftID(m.To)
		if !ok {
			continue
		}
		if m.Type == pb.MsgSnap {
			n.trace("raft.snapshot.send", env.Str("group", g.name), env.Str("to", string(to.Name)),
				env.Int("index", int64(m.Snapshot.Metadata.Index)))
			snapsSent = append(snapsSent, m.To)
		}
		n.e.Send(to.Name, &Message{Group: g.id, Msg: m})
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		must(g.sm.restore(rd.Snapshot.Data, rd.Snapshot.Metadata.Index))
		g.applied = rd.Snapshot.Metadata.Index
		g.confState = rd.Snapshot.Metadata.ConfState
		n.traceConf(g, rd.Snapshot.Metadata.Index)
		n.trace("raft.snapshot.install", env.Str("group", g.name), env.Int("index", int64(rd.Snapshot.Metadata.Index)),
			env.Int("term", int64(rd.Snapshot.Metadata.Term)), env.Str("digest", g.sm.digest()))
	}
	for _, e := range rd.CommittedEntries {
		n.apply(g, e)
	}
	persist(g.sm.flush(false))
	if g.id == cluster.ConfigGroup && (len(rd.CommittedEntries) > 0 || !raft.IsEmptySnap(rd.Snapshot)) {
		if err := n.joinReplicaset(); err != nil {
			// Its replicaset's storage cannot be trusted (a log that
			// lost synced writes): the instance ends, as it would at
			// start (open), and stays down.
			panic(env.Fatal{Err: err})
		}
		n.noteExpelled()
		n.noteModel()
		n.decideModelProposals()
		if len(rd.CommittedEntries) > 0 {
			n.moveTick()
			n.governStep()
		}
	}
	for _, rs := range rd.ReadStates {
		n.readIndexed(g, string(rs.RequestCtx), rs.Index)
	}
	n.serveReads(g)
	n.noteConfigSync(g)
	g.rn.Advance(rd)
	// A message is delivered whole or not at all. If a snapshot is lost,
	// the follower rejects the next append and the leader sends it again.
	for _, id := range snapsSent {
		g.rn.ReportSnapshot(id, raft.SnapshotFinish)
	}
	n.traceState(g)
}

// apply applies one committed entry and answers the request behind it if
// it was made here.
func (n *Node) apply(g *group, e pb.Entry) {
	if e.Index <= g.applied {
		// Already applied: a snapshot installed in the same Ready covers it.
		return
	}
	var typ [1]byte
	typ[0] = byte(e.Type)
	n.trace("raft.apply", env.Str("group", g.name), env.Int("index", int64(e.Index)), env.Int("term", int64(e.Term)),
		env.Str("hash", hashHex(typ[:], e.Data)))
	g.applied, g.appliedTerm = e.Index, e.Term
	switch e.Type {
	case pb.EntryNormal:
		if len(e.Data) == 0 {
			g.sm.skip(e.Index) // a new leader's empty entry
			return
		}
		id, data, err := openEnvelope(e.Data)
		if err != nil {
			panic(fmt.Sprintf("node: %s: group %s: entry %d: %v", n.e.ID(), g.name, e.Index, err))
		}
		if term, ok := moveStepTerm(id); ok && g.id != cluster.ConfigGroup && term != e.Term {
			// A move's step proposed in another term than its entry's:
			// forwarded or proposed again after its leadership ended.
			// Every replica skips it alike.
			g.sm.skip(e.Index)
			n.trace("move.stale", env.Str("group", g.name), env.Str("id", id), env.Int("index", int64(e.Index)),
				env.Int("entry_term", int64(e.Term)))
			n.answer(g, id, e.Index, outcome{rejected: fmt.Errorf("a move step of term %d in an entry of term %d", term, e.Term)})
			return
		}
		out, err := g.sm.apply(e.Index, id, data)
		if errors.Is(err, kv.ErrDiverged) {
			// The instance cannot go on: it ends, as raft's own
			// invariants end it, and the run goes on without it.
			panic(env.Fatal{Err: fmt.Errorf("%s%w", StateInvariant, err)})
		}
		must(err)
		if mv := out.moved; mv != nil {
			// Every replica records it: the first record is when the
			// configuration gave the bucket its new owner.
			n.trace("bucket.owner", env.Int("move", int64(mv.ID)), env.Int("bucket", int64(mv.Bucket)),
				env.Int("buckets", int64(len(n.conf.conf.Buckets))), env.Str("from", mv.From), env.Str("to", mv.To),
				env.Int("index", int64(out.movedAt)), env.Int("config_index", int64(e.Index)))
		}
		if strings.HasPrefix(id, "q/") && g.role() == raft.StateLeader {
			n.trace("queue.settle", env.Str("group", g.name), env.Str("id", id), env.Int("index", int64(e.Index)),
				env.Int("settled", int64(out.result.Revision)))
		}
		n.answer(g, id, e.Index, out)
	case pb.EntryConfChange, pb.EntryConfChangeV2:
		var cc pb.ConfChangeI
		var err error
		if e.Type == pb.EntryConfChange {
			var c pb.ConfChange
			err, cc = c.Unmarshal(e.Data), c
		} else {
			var c pb.ConfChangeV2
			err, cc = c.Unmarshal(e.Data), c
		}
		if err != nil {
			panic(fmt.Sprintf("node: %s: group %s: conf change %d: %v", n.e.ID(), g.name, e.Index, err))
		}
		g.confState = *g.rn.ApplyConfChange(cc)
		g.confPending, g.confWait = false, 0
		// A new member catches up from a snapshot, and raft installs only
		// a snapshot whose membership includes it: take one now.
		g.snapshotNow = true
		g.sm.skip(e.Index)
		n.traceConf(g, e.Index)
	}
}

// answer reports an applied command's outcome to whoever asked this node.
func (n *Node) answer(g *group, id string, index uint64, out outcome) {
	req, mine := n.pending[id]
	if !mine || req.group != g {
		return
	}
	if out.deciding && req.replyTo == "" {
		// Applied, the proposal has started a model change; it is
		// answered once group 0 decides it.
		req.deciding, req.index = true, index
		return
	}
	delete(n.pending, id)
	n.e.Cancel(req.timer)
	if req.rewrite {
		n.rewriteDone(req)
		if out.result.Status != kv.StatusOK {
			n.trace("model.migrate.skip", env.Str("group", g.name), env.Str("id", id), env.Str("status", out.result.Status.String()))
		}
		return
	}
	if req.replyTo != "" {
		if req.acked {
			return
		}
		if out.rejected != nil {
			// The log took a command the state machine cannot apply:
			// nothing changed, definitely.
			n.respond(req.replyTo, &kv.Response{Client: req.client, Seq: req.seq, Status: kv.StatusInvalid, Index: index,
				Error: out.rejected.Error()})
			return
		}
		r := &kv.Response{Client: req.client, Seq: req.seq, Status: out.result.Status,
			Value: out.result.Value, Index: index, Error: out.result.Error}
		if at := out.result.Index; at != 0 && at != index {
			// A retry answered from the dedup table: the write applied
			// before, at index at (of this log, or of the log of a
			// bucket's former owner, whose answers a move brought).
			n.trace("kv.replay", env.Str("client", req.client), env.Int("seq", int64(req.seq)), env.Int("index", int64(index)),
				env.Int("applied", int64(at)))
		}
		switch {
		case req.queue:
			// An enqueue's or a retry's position in the queue.
			r.Queue = &kv.QueueState{Replicaset: g.name, Tail: out.result.Revision}
			if r.Status == kv.StatusBusy {
				r.RetryAfter = int64(n.conf.conf.Queue().RetryAfter)
			}
		case out.result.Revision != 0:
			r.Object = &kv.ObjectRecord{Revision: out.result.Revision}
		}
		n.respond(req.replyTo, r)
		return
	}
	if out.rejected != nil {
		n.trace("prop.result", env.Str("group", g.name), env.Str("id", id), env.Str("outcome", "fail"),
			env.Int("index", int64(index)), env.Str("error", out.rejected.Error()))
	} else if r := out.result; r.Status != kv.StatusOK && req.done != nil {
		n.trace("prop.result", env.Str("group", g.name), env.Str("id", id), env.Str("outcome", "ok"), env.Int("index", int64(index)),
			env.Str("status", r.Status.String()), env.Str("error", r.Error))
	} else {
		n.trace("prop.result", env.Str("group", g.name), env.Str("id", id), env.Str("outcome", "ok"), env.Int("index", int64(index)))
	}
	if req.done != nil {
		req.done(index, out)
	}
}

// maybeCompact snapshots every group that has applied CompactEvery entries
// since its last snapshot, discarding the entries the snapshot covers.
func (n *Node) maybeCompact() {
	compacted := false
	for _, g := range n.groups {
		snap, _ := g.log.Snapshot()
		if g.applied < snap.Metadata.Index+n.cfg.CompactEvery && !(g.snapshotNow && g.applied > snap.Metadata.Index) {
			continue
		}
		g.snapshotNow = false
		data, err := g.sm.snapshot()
		must(err)
		// The state must be durable before the entries that rebuild it go.
		persist(g.sm.flush(true))
		s, err := g.log.CreateSnapshot(&n.batch, g.applied, g.confState, data)
		must(err)
		n.trace("raft.compact", env.Str("group", g.name), env.Int("index", int64(s.Metadata.Index)),
			env.Int("term", int64(s.Metadata.Term)), env.Str("digest", g.sm.digest()))
		compacted = true
	}
	if compacted {
		// Losing a snapshot in a crash loses nothing: the entries it
		// replaces go with it, in the same record.
		persist(n.commit(false))
	}
}

// commit writes the batch to the WAL, synced if asked.
func (n *Node) commit(sync bool) error {
	if n.cfg.Bugs.Has(bugs.SkipSync) {
		sync = false
	}
	if err := n.wal.Commit(&n.batch, sync); err != nil {
		return fmt.Errorf("node: %s: %w", n.e.ID(), err)
	}
	return nil
}

// trace records an event. It copies the fields into a buffer the node
// keeps, so that the caller's variadic slice stays on its stack: the
// engine traces several events per message.
func (n *Node) trace(kind string, fields ...env.Field) {
	n.fields = append(n.fields[:0], fields...)
	n.e.Trace(kind, n.fields...)
}

// Stop closes the storage of an instance the world discarded.
func (n *Node) Stop() {
	n.stopped = true
	n.wal.Close()
	n.store.Close()
}

// persist ends the process if a write or sync the node depends on failed:
// its memory is now ahead of its disk (raft believes entries durable, or
// applied state is gone from the store), and it cannot continue, as a real
// process whose fsync failed cannot. The world crashes it (env.Fatal); a
// restart recovers from what the disk kept.
func persist(err error) {
	if err != nil {
		panic(env.Fatal{Err: err})
	}
}

// must panics on a broken invariant: an error that no disk fault explains.
func must(err error) {
	if err != nil {
		panic(err)
	}
}

// configSyncID is the request context of the ReadIndex Config.SyncConfig
// asks group 0 for.
const configSyncID = "config-sync"

// configSync is the progress of Config.SyncConfig.
type configSync struct {
	index   uint64 // the read index group 0 confirmed
	indexed bool
	done    bool // applied up to index: config.synced traced
	wait    int  // ticks before asking again
}

// askConfigSync asks group 0 for a read index, if Config.SyncConfig
// wants one and none was confirmed yet; again every third tick, since a
// follower that knows no leader drops the request (and the instance
// serves nothing that needs the tokens until it is answered).
func (n *Node) askConfigSync() {
	s := &n.cfgSync
	g := n.group(cluster.ConfigGroup)
	if !n.cfg.SyncConfig || s.indexed || g == nil {
		return
	}
	if s.wait > 0 {
		s.wait--
		return
	}
	g.rn.ReadIndex([]byte(configSyncID))
	s.wait = 2 // a follower that knows no leader yet drops it: soon again
}

// noteConfigSync traces config.synced once group 0 has applied up to the
// read index it confirmed.
func (n *Node) noteConfigSync(g *group) {
	s := &n.cfgSync
	if g.id != cluster.ConfigGroup || !s.indexed || s.done || g.applied < s.index {
		return
	}
	s.done = true
	n.trace("config.synced", env.Int("index", int64(s.index)), env.Int("applied", int64(g.applied)))
}
