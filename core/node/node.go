// Package node is one shoal instance: the Raft groups it belongs to (group
// 0, the cluster configuration, and its replicaset's group), their storage
// in one pebble store, and the event loop that ties them to the world
// through core/env. It is deterministic: given the same events it does the
// same things, in the simulator and in production.
//
// Each event (a message, a tick, a proposal) is handled to completion:
// raft steps, then every group's Ready is written to the node's
// write-ahead log in one write, synced once if any group needs it, and
// only then are messages sent, committed entries applied, and raft
// advanced.
package node

import (
	"errors"
	"fmt"
	"time"

	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/raftlog"
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
}

// Defaults for zero Config fields.
const (
	DefaultTickInterval   = 100 * time.Millisecond
	DefaultElectionTicks  = 10
	DefaultHeartbeatTicks = 1
	DefaultCompactEvery   = 1000
	DefaultMaxSizePerMsg  = 1 << 20
	DefaultMaxInflight    = 256
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
	return c
}

// Node is one instance.
type Node struct {
	e       env.Env
	cfg     Config
	wal     *raftlog.WAL
	batch   raftlog.Batch
	conf    *configMachine
	groups  []*group // by group ID
	pending map[string]*request

	readies []ready     // reused by process
	fields  []env.Field // reused by trace
}

// request is a proposal this node made and still awaits.
type request struct {
	group *group
	timer env.TimerID
}

// Start returns the env.Start of an instance.
func Start(cfg Config) env.Start {
	cfg = cfg.withDefaults()
	return func(e env.Env) (env.Node, error) { return open(e, cfg) }
}

func open(e env.Env, cfg Config) (*Node, error) {
	wal, err := raftlog.Open(e.FS(), "wal")
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	n := &Node{e: e, cfg: cfg, wal: wal, pending: map[string]*request{}}
	if err := n.recover(); err != nil {
		wal.Close()
		return nil, err
	}
	e.After(cfg.TickInterval, tick{})
	return n, nil
}

// recover loads the groups from the WAL, bootstrapping them on the very
// first start.
func (n *Node) recover() error {
	log0 := n.wal.Log(cluster.ConfigGroup)
	snap0, _ := log0.Snapshot()
	if snap0.Metadata.Index == 0 {
		return n.bootstrap()
	}
	conf, err := cluster.Decode(snap0.Data)
	if err != nil {
		return err
	}
	n.conf = &configMachine{conf: conf}
	self, ok := conf.Instance(n.e.ID())
	if !ok {
		return fmt.Errorf("node: %s is not in the stored configuration", n.e.ID())
	}
	rs, _ := conf.Replicaset(self.Replicaset)
	if err := n.addGroup(log0, n.conf); err != nil {
		return err
	}
	return n.addGroup(n.wal.Log(rs.Group), &chainMachine{})
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
	b := &n.batch
	initial := pb.SnapshotMetadata{Index: 1, Term: 1}
	log0 := n.wal.Log(cluster.ConfigGroup)
	meta0 := initial
	meta0.ConfState = pb.ConfState{Voters: conf.RaftIDs(conf.Voters), Learners: conf.RaftIDs(conf.Learners())}
	if err := log0.ApplySnapshot(b, pb.Snapshot{Metadata: meta0, Data: conf.Encode()}); err != nil {
		return err
	}
	logRS := n.wal.Log(rs.Group)
	metaRS := initial
	metaRS.ConfState = pb.ConfState{Voters: conf.RaftIDs(rs.Members)}
	chain := &chainMachine{}
	if err := logRS.ApplySnapshot(b, pb.Snapshot{Metadata: metaRS, Data: chain.snapshot()}); err != nil {
		return err
	}
	if err := n.commit(b, true); err != nil {
		return err
	}
	n.conf = &configMachine{conf: conf}
	n.trace("node.bootstrap", env.Int("instances", int64(len(conf.Instances))),
		env.Int("replicasets", int64(len(conf.Replicasets))), env.Str("replicaset", rs.Name),
		env.Str("voters", joinNames(conf.Voters)))
	if err := n.addGroup(log0, n.conf); err != nil {
		return err
	}
	return n.addGroup(logRS, chain)
}

func (n *Node) addGroup(log *raftlog.Log, sm stateMachine) error {
	snap, _ := log.Snapshot()
	if err := sm.restore(snap.Data); err != nil {
		return err
	}
	self, _ := n.conf.conf.Instance(n.e.ID())
	rn, err := raft.NewRawNode(&raft.Config{
		ID:              self.RaftID,
		ElectionTick:    n.cfg.ElectionTicks,
		HeartbeatTick:   n.cfg.HeartbeatTicks,
		Storage:         log,
		Applied:         snap.Metadata.Index,
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
		confState: snap.Metadata.ConfState, applied: snap.Metadata.Index,
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

// Receive handles a message from another instance.
func (n *Node) Receive(from env.NodeID, m env.Message) {
	msg, ok := m.(*Message)
	if !ok {
		return
	}
	g := n.group(msg.Group)
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
	n.process()
}

// Handle handles ticks, proposals and their deadlines.
func (n *Node) Handle(ev env.Event) {
	switch ev := ev.(type) {
	case tick:
		for _, g := range n.groups {
			g.rn.Tick()
		}
		n.e.After(n.cfg.TickInterval, tick{})
	case *Propose:
		n.propose(ev)
	case *expire:
		if req, ok := n.pending[ev.id]; ok {
			delete(n.pending, ev.id)
			n.trace("prop.result", env.Str("group", req.group.name), env.Str("id", ev.id), env.Str("outcome", "timeout"))
		}
	}
	n.process()
}

func (n *Node) propose(p *Propose) {
	var g *group
	for _, c := range n.groups {
		if c.name == p.Group {
			g = c
		}
	}
	n.trace("raft.propose", env.Str("group", p.Group), env.Str("id", p.ID), env.Int("size", int64(len(p.Data))))
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
	if err := g.rn.Propose(envelope(p.ID, p.Data)); err != nil {
		// Dropped before it reached any log: no leader is known, or a
		// leadership transfer is under way.
		fail(err.Error())
		return
	}
	n.pending[p.ID] = &request{group: g, timer: n.e.After(p.Timeout, &expire{id: p.ID})}
}

func (n *Node) group(id uint64) *group {
	for _, g := range n.groups {
		if g.id == id {
			return g
		}
	}
	return nil
}

// process handles every group's Ready until none has one: persist, then
// send, then apply, then advance.
func (n *Node) process() {
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
				g.log.SetHardState(b, rd.HardState)
			}
			// The commit index is synced too, not only what raft needs
			// (raft.MustSync): a node's commit index must never go back,
			// not even across a crash.
			sync = sync || rd.MustSync || !raft.IsEmptyHardState(rd.HardState)
			readies = append(readies, ready{g, rd})
		}
		if len(readies) == 0 {
			return
		}
		must(n.commit(b, sync))
		for _, r := range readies {
			n.afterPersist(r.g, r.rd)
		}
		clear(readies)
		n.readies = readies
		n.maybeCompact()
	}
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
		must(g.sm.restore(rd.Snapshot.Data))
		g.applied = rd.Snapshot.Metadata.Index
		g.confState = rd.Snapshot.Metadata.ConfState
		n.traceConf(g, rd.Snapshot.Metadata.Index)
		n.trace("raft.snapshot.install", env.Str("group", g.name), env.Int("index", int64(rd.Snapshot.Metadata.Index)),
			env.Int("term", int64(rd.Snapshot.Metadata.Term)), env.Str("digest", g.sm.digest()))
	}
	for _, e := range rd.CommittedEntries {
		n.apply(g, e)
	}
	g.rn.Advance(rd)
	// A message is delivered whole or not at all. If a snapshot is lost,
	// the follower rejects the next append and the leader sends it again.
	for _, id := range snapsSent {
		g.rn.ReportSnapshot(id, raft.SnapshotFinish)
	}
	n.traceState(g)
}

// apply applies one committed entry and answers the proposal behind it if
// it was made here.
func (n *Node) apply(g *group, e pb.Entry) {
	var typ [1]byte
	typ[0] = byte(e.Type)
	n.trace("raft.apply", env.Str("group", g.name), env.Int("index", int64(e.Index)), env.Int("term", int64(e.Term)),
		env.Str("hash", hashHex(typ[:], e.Data)))
	g.applied = e.Index
	switch e.Type {
	case pb.EntryNormal:
		if len(e.Data) == 0 {
			return // a new leader's empty entry
		}
		id, data, err := openEnvelope(e.Data)
		if err != nil {
			panic(fmt.Sprintf("node: %s: group %s: entry %d: %v", n.e.ID(), g.name, e.Index, err))
		}
		result := g.sm.apply(data)
		req, mine := n.pending[id]
		if !mine || req.group != g {
			return
		}
		delete(n.pending, id)
		n.e.Cancel(req.timer)
		if result != nil {
			n.trace("prop.result", env.Str("group", g.name), env.Str("id", id), env.Str("outcome", "fail"),
				env.Int("index", int64(e.Index)), env.Str("error", result.Error()))
			return
		}
		n.trace("prop.result", env.Str("group", g.name), env.Str("id", id), env.Str("outcome", "ok"), env.Int("index", int64(e.Index)))
	case pb.EntryConfChange, pb.EntryConfChangeV2:
		cc, err := pb.ConfChangeI(nil), error(nil)
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
		n.traceConf(g, e.Index)
	}
}

// maybeCompact snapshots every group that has applied CompactEvery entries
// since its last snapshot, discarding the entries the snapshot covers.
func (n *Node) maybeCompact() {
	b := &n.batch
	for _, g := range n.groups {
		snap, _ := g.log.Snapshot()
		if g.applied < snap.Metadata.Index+n.cfg.CompactEvery {
			continue
		}
		s, err := g.log.CreateSnapshot(b, g.applied, g.confState, g.sm.snapshot())
		must(err)
		n.trace("raft.compact", env.Str("group", g.name), env.Int("index", int64(s.Metadata.Index)),
			env.Int("term", int64(s.Metadata.Term)), env.Str("digest", g.sm.digest()))
	}
	// Losing a snapshot in a crash loses nothing: the entries it replaces
	// go with it, in the same record.
	must(n.commit(b, false))
}

// commit writes a batch to the WAL, synced if asked.
func (n *Node) commit(b *raftlog.Batch, sync bool) error {
	if err := n.wal.Commit(b, sync); err != nil {
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

// Stop closes the WAL of an instance the world discarded.
func (n *Node) Stop() { n.wal.Close() }

// must panics on an error that leaves the node's memory ahead of its disk:
// the node cannot continue, as a real process whose fsync failed cannot.
func must(err error) {
	if err != nil {
		panic(err)
	}
}
