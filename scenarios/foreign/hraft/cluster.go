// Package hraft is a reference cluster built on github.com/hashicorp/raft,
// the Raft that shoal does not use: N nodes applying key-value writes to a
// map, joined by hashicorp's in-memory transport and stores, meant to run
// inside a testing/synctest bubble so that its timers run on virtual time.
//
// It exists to measure what goroutine-based Raft costs under virtual time
// next to shoal's event-loop simulator, and to show why it cannot replay a
// seed: hashicorp/raft draws its election jitter from math/rand's global
// source and runs a goroutine per loop and per peer, so the scheduler and
// that source decide who wins an election, and no seed reaches either.
// The "seed" of a Workload chooses only the workload's keys. Measured
// with a fault-free run of the leader-isolation write load: with
// GODEBUG=randautoseed=0 and GOMAXPROCS=1, the first run in a process
// elected the same leader at the same virtual instant in 6 processes of
// 6; with GOMAXPROCS=2, 3 different first elections came out of 6; and a
// second run in one process draws on from where the first left the
// global source, so it elects differently.
package hraft

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Config returns the configuration every node of a Cluster runs. Its
// timing is shoal's engine's (core/node: an election timeout of ten
// 100ms ticks, a heartbeat every tick; hashicorp's leader heartbeats
// every HeartbeatTimeout/10), so that a virtual second costs the same
// protocol work in both. Virtual time needs no slack for a loaded
// machine, so nothing is padded. Snapshots are off: hashicorp/raft times
// them with the same unseeded jitter, and a short run never needs one.
// Logging is off.
func Config(id raft.ServerID) *raft.Config {
	c := raft.DefaultConfig()
	c.LocalID = id
	c.HeartbeatTimeout = time.Second
	c.ElectionTimeout = time.Second
	c.LeaderLeaseTimeout = 500 * time.Millisecond
	c.CommitTimeout = 50 * time.Millisecond
	c.SnapshotInterval = 24 * time.Hour
	c.SnapshotThreshold = 1 << 62
	c.NoSnapshotRestoreOnStart = true
	c.LogLevel = "off"
	c.LogOutput = io.Discard
	return c
}

// Node is one member of a Cluster.
type Node struct {
	ID    raft.ServerID
	Raft  *raft.Raft
	FSM   *FSM
	trans *raft.InmemTransport
}

// LeaderChange is one election won: when (virtual time since the
// cluster started), by whom, and for which term. A Cluster's history of
// them is what two runs of one seed are compared by.
type LeaderChange struct {
	At     time.Duration
	Leader raft.ServerID
	Term   uint64
}

func (l LeaderChange) String() string {
	return fmt.Sprintf("%s leads term %d from %s", l.Leader, l.Term, l.At)
}

// FirstDifference returns the index of the first change at which two
// leader histories differ, or -1 when they are identical.
func FirstDifference(a, b []LeaderChange) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// Cluster is n hashicorp/raft voters n1..nN, every one connected to every
// other through in-memory transports, with in-memory log, stable and
// snapshot stores. Create, use and shut it down inside one synctest
// bubble: its goroutines and timers belong to the bubble that created it.
type Cluster struct {
	Nodes []*Node
	start time.Time

	mu      sync.Mutex // guards leaders: raft goroutines append to it
	leaders []LeaderChange
}

// NewCluster bootstraps and starts n nodes as one cluster of voters.
func NewCluster(n int) (*Cluster, error) {
	if n < 1 {
		return nil, fmt.Errorf("a cluster needs at least one node, not %d", n)
	}
	c := &Cluster{start: time.Now()}
	var servers []raft.Server
	for i := range n {
		id := raft.ServerID(fmt.Sprint("n", i+1))
		_, trans := raft.NewInmemTransport(raft.ServerAddress(id))
		c.Nodes = append(c.Nodes, &Node{ID: id, FSM: NewFSM(), trans: trans})
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: id, Address: raft.ServerAddress(id)})
	}
	for _, a := range c.Nodes {
		for _, b := range c.Nodes {
			if a != b {
				a.trans.Connect(b.trans.LocalAddr(), b.trans)
			}
		}
	}
	for _, nd := range c.Nodes {
		conf := Config(nd.ID)
		logs, snaps := raft.NewInmemStore(), raft.NewInmemSnapshotStore()
		if err := raft.BootstrapCluster(conf, logs, logs, snaps, nd.trans, raft.Configuration{Servers: servers}); err != nil {
			c.Shutdown()
			return nil, fmt.Errorf("%s: bootstrap: %w", nd.ID, err)
		}
		r, err := raft.NewRaft(conf, nd.FSM, logs, logs, snaps, nd.trans)
		if err != nil {
			c.Shutdown()
			return nil, fmt.Errorf("%s: %w", nd.ID, err)
		}
		nd.Raft = r
		r.RegisterObserver(raft.NewObserver(nil, false, c.watch(nd.ID)))
	}
	return c, nil
}

// watch returns an observer filter that records node id's elections. A
// filter runs synchronously in the raft goroutine that changed state, so
// the time and the term are those of the moment it became leader; it
// lets nothing through to a channel.
func (c *Cluster) watch(id raft.ServerID) raft.FilterFn {
	return func(o *raft.Observation) bool {
		if s, ok := o.Data.(raft.RaftState); ok && s == raft.Leader {
			c.mu.Lock()
			c.leaders = append(c.leaders, LeaderChange{At: time.Since(c.start), Leader: id, Term: o.Raft.CurrentTerm()})
			c.mu.Unlock()
		}
		return false
	}
}

// LeaderHistory returns every election won so far, in the order won.
func (c *Cluster) LeaderHistory() []LeaderChange {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.leaders)
}

// Leader returns the first node, in name order, that is leader, or nil.
func (c *Cluster) Leader() *Node {
	for _, nd := range c.Nodes {
		if nd.Raft != nil && nd.Raft.State() == raft.Leader {
			return nd
		}
	}
	return nil
}

// WaitLeader waits, polling every 10ms, until some node leads.
func (c *Cluster) WaitLeader(limit time.Duration) (*Node, error) {
	deadline := time.Now().Add(limit)
	for {
		if nd := c.Leader(); nd != nil {
			return nd, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no node of %d became leader within %s", len(c.Nodes), limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ErrNoLeader is Put's error when no node leads.
var ErrNoLeader = errors.New("no leader")

// Put writes value under key through the current leader and waits until
// the leader has applied it. timeout bounds only the wait to enqueue the
// write, as raft.Apply's does.
func (c *Cluster) Put(key, value string, timeout time.Duration) error {
	if strings.IndexByte(key, 0) >= 0 {
		return fmt.Errorf("key %q holds a NUL byte", key)
	}
	nd := c.Leader()
	if nd == nil {
		return ErrNoLeader
	}
	return nd.Raft.Apply([]byte(key+"\x00"+value), timeout).Error()
}

// WaitConverged waits, polling every 10ms, until every node has applied
// the same writes, at least atLeast of them, and holds the same state.
func (c *Cluster) WaitConverged(atLeast int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		first, firstDigest := c.Nodes[0].FSM.State()
		same := first >= atLeast
		for _, nd := range c.Nodes[1:] {
			n, d := nd.FSM.State()
			same = same && n == first && d == firstDigest
		}
		if same {
			return nil
		}
		if time.Now().After(deadline) {
			var states []string
			for _, nd := range c.Nodes {
				n, d := nd.FSM.State()
				states = append(states, fmt.Sprintf("%s applied %d writes, state %s", nd.ID, n, d[:12]))
			}
			return fmt.Errorf("not converged after %s (want at least %d writes): %s", limit, atLeast, strings.Join(states, "; "))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Shutdown stops every node and waits for its goroutines to end, which a
// synctest bubble requires before it can close.
func (c *Cluster) Shutdown() {
	for _, nd := range c.Nodes {
		if nd.Raft != nil {
			_ = nd.Raft.Shutdown().Error() // always nil; closes the transport
		} else {
			_ = nd.trans.Close()
		}
	}
}

// FSM is a node's state machine: a map from keys to values. A log entry
// is a write, its key and value joined by a NUL byte.
type FSM struct {
	mu      sync.Mutex // raft applies in its own goroutine; State reads from another
	data    map[string]string
	applied int
}

// NewFSM returns an empty state machine.
func NewFSM() *FSM { return &FSM{data: map[string]string{}} }

// Apply applies one write.
func (f *FSM) Apply(l *raft.Log) any {
	key, value, ok := bytes.Cut(l.Data, []byte{0})
	if !ok {
		return fmt.Errorf("entry %d is no write: %q", l.Index, l.Data)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.data[string(key)] = string(value)
	f.applied++
	return nil
}

// State returns how many writes the machine applied and a digest of
// what it holds.
func (f *FSM) State() (applied int, digest string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(f.data)) {
		fmt.Fprintf(h, "%q=%q\n", k, f.data[k])
	}
	return f.applied, hex.EncodeToString(h.Sum(nil))
}

// Snapshot captures the map, for raft's snapshots (off in Config, but
// the interface asks for them).
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return snapshot{data: maps.Clone(f.data), applied: f.applied}, nil
}

// Restore replaces the map with a snapshot's.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var s snapshotJSON
	if err := json.NewDecoder(rc).Decode(&s); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if s.Data == nil {
		s.Data = map[string]string{}
	}
	f.data, f.applied = s.Data, s.Applied
	return nil
}

type snapshot struct {
	data    map[string]string
	applied int
}

type snapshotJSON struct {
	Data    map[string]string `json:"data"`
	Applied int               `json:"applied"`
}

func (s snapshot) Persist(sink raft.SnapshotSink) error {
	if err := json.NewEncoder(sink).Encode(snapshotJSON{Data: s.data, Applied: s.applied}); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s snapshot) Release() {}
