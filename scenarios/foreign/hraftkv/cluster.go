package hraftkv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/scenarios/foreign"
)

// Config returns the configuration every node runs: shoal's engine's
// timing (hraftkv.go), hashicorp's pre-vote (the engine's etcd raft
// pre-votes too), and frequent snapshots (every SnapshotThreshold
// entries, looked for every SnapshotInterval, keeping TrailingLogs
// entries behind each), so that a node that falls behind for a few
// seconds of a run's load catches up from a snapshot (InstallSnapshot),
// as in shoal's snapshot-partition scenario. A restarted node starts as
// hashicorp's default has it: its state machine restored from its latest
// snapshot, its log and stable store as they were, a commit index of 0,
// and it replays its log after the snapshot as the leader tells it what
// is committed. (Its opt-in RestoreCommittedLogs, which would restart
// from a commit index the log store keeps, forgets the cluster's
// configuration in v1.8.0: TestRestoreCommittedLogsForgetsConfiguration.)
// Logging is off.
func Config(id raft.ServerID) *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = id
	c.HeartbeatTimeout = electionTimeout
	c.ElectionTimeout = electionTimeout
	c.LeaderLeaseTimeout = electionTimeout / 2
	c.CommitTimeout = 50 * time.Millisecond
	c.SnapshotInterval = SnapshotInterval
	c.SnapshotThreshold = SnapshotThreshold
	c.TrailingLogs = TrailingLogs
	c.LogLevel = "off"
	c.LogOutput = io.Discard
	return c
}

// The snapshot settings (Config). A run's load appends a few hundred
// entries a second, so a node snapshots every second or two, and one
// that misses a second of entries needs a snapshot to catch up.
const (
	SnapshotInterval  = time.Second
	SnapshotThreshold = 200
	TrailingLogs      = 100
)

// Cluster is a running store: n voters, each in its own goroutines,
// joined by the harness's Net.
type Cluster struct {
	e     foreign.Env
	nodes []*Node
}

// Node is one member of a Cluster: what survives its kills (its stores)
// and its current incarnation, if it is up.
type Node struct {
	ID    env.NodeID
	store *store
	snaps *raft.InmemSnapshotStore

	mu  sync.Mutex
	cur *life // nil while the node is down
}

// life is one incarnation of a node: its raft, state machine and
// transport, and the goroutine that polls its state.
type life struct {
	nd    *Node
	r     *raft.Raft
	fsm   *FSM
	trans *transport
	stop  chan struct{}
	done  chan struct{}

	mu       sync.Mutex // guards last: the observer and the poller both record
	last     state
	recorded bool
}

// state is what a raft.state record says.
type state struct {
	term            uint64
	role, lead, vot string
	commit, applied uint64
}

// Start bootstraps and starts every node of e as one cluster of voters.
func Start(e foreign.Env) (*Cluster, error) {
	if len(e.Nodes) < 1 {
		return nil, errors.New("hraftkv: a cluster needs at least one node")
	}
	c := &Cluster{e: e}
	var servers []raft.Server
	for _, id := range e.Nodes {
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(id), Address: raft.ServerAddress(id)})
	}
	for _, id := range e.Nodes {
		nd := &Node{ID: id, store: newStore(id), snaps: raft.NewInmemSnapshotStore()}
		c.nodes = append(c.nodes, nd)
		boot := newTransport(id, e.Net, c.note(id))
		if err := raft.BootstrapCluster(Config(raft.ServerID(id)), nd.store, nd.store, nd.snaps, boot, raft.Configuration{Servers: servers}); err != nil {
			c.Shutdown()
			return nil, fmt.Errorf("%s: bootstrap: %w", id, err)
		}
		nd.store.tracing(c.note(id))
	}
	for _, nd := range c.nodes {
		if err := c.start(nd); err != nil {
			c.Shutdown()
			return nil, err
		}
	}
	return c, nil
}

// note is node id's trace.
func (c *Cluster) note(id env.NodeID) func(kind string, fields ...env.Field) {
	return func(kind string, fields ...env.Field) { c.e.Trace.Note(id, kind, fields...) }
}

// start starts a new incarnation of nd on its stores.
func (c *Cluster) start(nd *Node) error {
	note := c.note(nd.ID)
	l := &life{nd: nd, fsm: newFSM(note), trans: newTransport(nd.ID, c.e.Net, note), stop: make(chan struct{}), done: make(chan struct{})}
	r, err := raft.NewRaft(Config(raft.ServerID(nd.ID)), l.fsm, nd.store, nd.store, nd.snaps, l.trans)
	if err != nil {
		return fmt.Errorf("%s: %w", nd.ID, err)
	}
	l.r = r
	nd.store.raft.Store(r)
	c.e.Net.Listen(nd.ID, l.trans.handle)
	r.RegisterObserver(raft.NewObserver(nil, false, func(*raft.Observation) bool {
		c.record(l)
		return false
	}))
	if f := r.GetConfiguration(); f.Error() == nil {
		var voters, learners []env.NodeID
		for _, s := range f.Configuration().Servers {
			if s.Suffrage == raft.Voter {
				voters = append(voters, env.NodeID(s.ID))
			} else {
				learners = append(learners, env.NodeID(s.ID))
			}
		}
		note("raft.conf", env.Str("group", Group), env.Int("index", int64(f.Index())),
			env.Str("voters", env.Join(voters)), env.Str("learners", env.Join(learners)))
	}
	c.record(l)
	go c.poll(l)
	nd.mu.Lock()
	nd.cur = l
	nd.mu.Unlock()
	return nil
}

// poll records l's Raft state every StatePoll while it lives: the
// changes of its commit and applied indexes, which no observer reports.
func (c *Cluster) poll(l *life) {
	defer close(l.done)
	t := time.NewTicker(StatePoll)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			c.record(l)
		}
	}
}

// record traces l's Raft state (raft.state) if it changed since it was
// last traced. Its commit index is the highest the node has known, over
// its restarts: hashicorp/raft keeps it in memory only (the Raft paper's
// volatile state), so a restarted node starts from 0 and learns it again
// from the leader, while the raft-safety check holds every node to
// shoal's engine's promise that it never goes back. The entries up to it
// are still committed, in the node's log or its snapshot. The term is
// read before and after the rest and the read taken again if it moved, so that a record never pairs a role with a
// term it did not have: hashicorp changes the role before the term when
// it steps down, and the term before the role when it becomes leader.
// A leader's record names itself as leader, which hashicorp sets only
// just after the role. Applied is read before commit, so that it is
// never past it.
func (c *Cluster) record(l *life) {
	var st state
	for {
		term := l.r.CurrentTerm()
		s := l.r.State()
		if s == raft.Shutdown {
			return
		}
		_, lead := l.r.LeaderWithID()
		st = state{term: term, role: strings.ToLower(s.String()), lead: string(lead)}
		if s == raft.Leader {
			st.lead = string(l.nd.ID)
		}
		st.applied = l.r.AppliedIndex()
		// A node that restored or installed a snapshot has applied its
		// entries, which were committed, before it learns the commit
		// index from the leader.
		st.commit = l.nd.store.know(max(l.r.CommitIndex(), st.applied))
		if l.r.CurrentTerm() == term {
			break
		}
	}
	st.vot = l.nd.store.vote(st.term)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.recorded && st == l.last {
		return
	}
	l.last, l.recorded = st, true
	c.e.Trace.Note(l.nd.ID, "raft.state", env.Str("group", Group), env.Int("term", int64(st.term)), env.Str("role", st.role),
		env.Str("leader", st.lead), env.Str("vote", st.vot), env.Int("commit", int64(st.commit)), env.Int("applied", int64(st.applied)))
}

func (c *Cluster) node(id env.NodeID) (*Node, error) {
	for _, nd := range c.nodes {
		if nd.ID == id {
			return nd, nil
		}
	}
	return nil, fmt.Errorf("hraftkv: no node %q", id)
}

// life returns node id's current incarnation, or nil if it is down.
func (c *Cluster) life(id env.NodeID) *life {
	nd, err := c.node(id)
	if err != nil {
		return nil
	}
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.cur
}

// Kill stops node id as a crash would and keeps its stores.
func (c *Cluster) Kill(id env.NodeID) error {
	nd, err := c.node(id)
	if err != nil {
		return err
	}
	nd.mu.Lock()
	l := nd.cur
	nd.cur = nil
	nd.mu.Unlock()
	if l == nil {
		return fmt.Errorf("hraftkv: %s is down already", id)
	}
	l.stopNode()
	nd.store.know(l.r.CommitIndex())
	return nil
}

// stopNode stops an incarnation and waits until its goroutines have.
// The transport closes first, so that calls in flight end at once
// rather than at their timeouts.
func (l *life) stopNode() {
	close(l.stop)
	<-l.done
	l.trans.Close()
	_ = l.r.Shutdown().Error() // always nil
}

// Restart starts node id again on its stores.
func (c *Cluster) Restart(id env.NodeID) error {
	nd, err := c.node(id)
	if err != nil {
		return err
	}
	if c.life(id) != nil {
		return fmt.Errorf("hraftkv: %s is up already", id)
	}
	return c.start(nd)
}

// Leader is the node that leads, of the highest term if several think
// they do.
func (c *Cluster) Leader() (env.NodeID, bool) {
	var best env.NodeID
	var term uint64
	for _, nd := range c.nodes {
		l := c.life(nd.ID)
		if l == nil || l.r.State() != raft.Leader {
			continue
		}
		if t := l.r.CurrentTerm(); best == "" || t > term {
			best, term = nd.ID, t
		}
	}
	return best, best != ""
}

// Serve carries out a client's operation on node id. A stale read reads
// the node's own map; every other operation goes through the log, on the
// leader only: another node refuses it and names the leader it knows.
// An operation raft refused before it entered the log (ErrNotLeader,
// ErrEnqueueTimeout, a leadership transfer) is refused; one raft lost
// track of once it was in the log (ErrLeadershipLost, ErrRaftShutdown)
// is unknown: it may still commit.
func (c *Cluster) Serve(_ context.Context, id env.NodeID, req foreign.Request) foreign.Answer {
	l := c.life(id)
	if l == nil {
		return foreign.Answer{Status: foreign.Refused, Why: string(id) + " is down"}
	}
	if req.Stale && req.F == kv.OpGet {
		v, index := l.fsm.Get(req.Key)
		return foreign.Answer{Status: foreign.OK, Value: v, Index: index}
	}
	if l.r.State() != raft.Leader {
		_, lead := l.r.LeaderWithID()
		return foreign.Answer{Status: foreign.Refused, Leader: env.NodeID(lead), Why: string(id) + " does not lead"}
	}
	data, err := encode(req.F, req.Key, req.Value, req.Expected)
	if err != nil {
		return foreign.Answer{Status: foreign.Refused, Why: err.Error()}
	}
	f := l.r.Apply(data, applyTimeout)
	switch err := f.Error(); {
	case err == nil:
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrEnqueueTimeout), errors.Is(err, raft.ErrLeadershipTransferInProgress):
		_, lead := l.r.LeaderWithID()
		return foreign.Answer{Status: foreign.Refused, Leader: env.NodeID(lead), Why: err.Error()}
	default:
		return foreign.Answer{Status: foreign.Unknown, Why: err.Error()}
	}
	switch res := f.Response().(type) {
	case result:
		if res.mismatch {
			return foreign.Answer{Status: foreign.Mismatch, Value: res.value, Index: f.Index()}
		}
		return foreign.Answer{Status: foreign.OK, Value: res.value, Index: f.Index()}
	case error:
		// The entry committed, and the state machine could not apply
		// it: it changed nothing.
		return foreign.Answer{Status: foreign.Refused, Why: res.Error()}
	}
	return foreign.Answer{Status: foreign.Unknown, Why: fmt.Sprintf("the state machine answered %T", f.Response())}
}

// State is node id's state machine's last applied index and digest.
func (c *Cluster) State(id env.NodeID) (uint64, string, error) {
	l := c.life(id)
	if l == nil {
		return 0, "", fmt.Errorf("hraftkv: %s is down", id)
	}
	applied, digest := l.fsm.State()
	return applied, digest, nil
}

// Shutdown stops every node that is up.
func (c *Cluster) Shutdown() {
	for _, nd := range c.nodes {
		nd.mu.Lock()
		l := nd.cur
		nd.cur = nil
		nd.mu.Unlock()
		if l != nil {
			l.stopNode()
		}
	}
}

// store is a node's log and stable store, hashicorp's in-memory one:
// it survives the node's kills. On a leader, each append of entries of
// its term it stores is its own acknowledgement of them (raft.ack),
// traced before raft counts it towards a commit; a follower's appends
// acknowledge nothing here (the leader traces its answer). It also
// holds, for the trace alone, the highest commit index the node has
// known (record).
type store struct {
	*raft.InmemStore
	id    env.NodeID
	known atomic.Uint64
	note  atomic.Pointer[func(string, ...env.Field)]
	// raft is the node's current incarnation's (or its last's, while it
	// is down, which is shut down and so leads nothing).
	raft atomic.Pointer[raft.Raft]
}

func newStore(id env.NodeID) *store { return &store{InmemStore: raft.NewInmemStore(), id: id} }

// tracing starts tracing the appends stored: after the bootstrap, whose
// configuration entry acknowledges nothing.
func (s *store) tracing(note func(string, ...env.Field)) { s.note.Store(&note) }

func (s *store) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

func (s *store) StoreLogs(logs []*raft.Log) error {
	if err := s.InmemStore.StoreLogs(logs); err != nil {
		return err
	}
	if note := s.note.Load(); note != nil && len(logs) > 0 {
		last := logs[len(logs)-1]
		if r := s.raft.Load(); r == nil || r.State() != raft.Leader || r.CurrentTerm() != last.Term {
			return nil
		}
		(*note)("raft.ack", env.Str("group", Group), env.Str("from", string(s.id)), env.Int("term", int64(last.Term)), env.Int("index", int64(last.Index)))
	}
	return nil
}

// know raises the highest commit index known to commit, if it is higher,
// and returns it.
func (s *store) know(commit uint64) uint64 {
	for {
		old := s.known.Load()
		if commit <= old {
			return old
		}
		if s.known.CompareAndSwap(old, commit) {
			return commit
		}
	}
}

// vote is the candidate the node voted for in term, if it did.
func (s *store) vote(term uint64) string {
	if t, err := s.GetUint64([]byte("LastVoteTerm")); err != nil || t != term {
		return ""
	}
	cand, _ := s.Get([]byte("LastVoteCand"))
	return string(cand)
}

var _ foreign.Cluster = (*Cluster)(nil)
