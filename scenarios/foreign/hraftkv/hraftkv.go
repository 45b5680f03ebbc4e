// Package hraftkv is a reference target of the foreign harness
// (scenarios/foreign): a key-value store on github.com/hashicorp/raft,
// the Raft that shoal does not use. N voters apply reads, writes, cas
// and deletes to a map through the log; their log and stable stores are
// hashicorp's in-memory ones, and every message between them crosses the
// harness's simulated network through a raft.Transport of this package.
// It runs inside a testing/synctest bubble, so its timers and sleeps run
// on virtual time.
//
// It cannot replay a seed: hashicorp/raft draws its election jitter from
// math/rand's global source and runs a goroutine per loop and per peer,
// so the scheduler and that source decide who wins an election, and no
// seed reaches either. Measured before this harness existed, with a
// fault-free run of the leader-isolation write load on hashicorp's
// in-memory transport: with GODEBUG=randautoseed=0 and GOMAXPROCS=1, the
// first run in a process elected the same leader at the same virtual
// instant in 6 processes of 6; with GOMAXPROCS=2, 3 different first
// elections came out of 6; and a second run in one process draws on from
// where the first left the global source, so it elects differently.
// Under this harness, on GOMAXPROCS=2, two runs of seed 1 of each
// built-in scenario it ran elected different leaders, or the same ones
// at other instants, every time (scenarios/foreign/README.md).
//
// A kill stops the node's goroutines and loses what it held in memory:
// its state machine and its commit index. Its log and stable stores
// survive whole, as if every write had been synced (the simulator's kill
// loses what was not), and it restarts on them as hashicorp's default
// has it, replaying its log as the leader tells it what is committed.
//
// What the trace holds, beside the harness's own records: each node's
// Raft state whenever its term, role, leader, vote, commit or applied
// index changed (raft.state; sampled every StatePoll and at every
// change of role or leader hashicorp reports to an observer), its
// membership at each start (raft.conf), every entry its state machine
// applied (raft.apply), and on a leader every append a follower
// acknowledged and its own (raft.ack), so that the raft-safety check
// judges hashicorp/raft as it judges shoal's engine. One difference: a
// raft.state's commit index is the highest the node has known over its
// restarts, since hashicorp/raft forgets it at a kill and the check
// holds every node to the engine's promise that it never goes back
// (Cluster.record).
package hraftkv

import (
	"time"

	"github.com/shoaldb/shoal/scenarios/foreign"
)

// Group is the name of the store's one Raft group in the trace, as the
// only replicaset of a shoal cluster is named.
const Group = "rs1"

// Target is the store as a target of the foreign harness.
func Target() foreign.Target {
	return foreign.Target{
		Name:  "hraftkv",
		About: "a key-value store on github.com/hashicorp/raft " + RaftVersion + " (scenarios/foreign/hraftkv)",
		NotExact: "hashicorp/raft draws its election timeouts from math/rand's global source, which no seed reaches, " +
			"and runs a goroutine per loop and per peer.",
		Group: Group,
		Kill: "unlike the simulator's kill, which loses what a node had not synced, a kill here loses nothing stored: " +
			"the node's goroutines stop and what it held in memory is lost (its state machine, its commit index), " +
			"but its in-memory log and stable stores survive, as if every write had been synced; it restarts on them " +
			"with an empty state machine, which replays the log as the leader tells it what is committed",
		ElectionTimeout: electionTimeout,
		Start: func(e foreign.Env) (foreign.Cluster, error) {
			return Start(e)
		},
	}
}

// RaftVersion is the version of github.com/hashicorp/raft that go.mod
// requires (a test binary records no module versions to read it from;
// TestRaftVersion keeps the two the same).
const RaftVersion = "v1.8.0"

// Timing, shared with shoal's engine (core/node: an election timeout of
// ten 100ms ticks, a heartbeat every tick; hashicorp's leader heartbeats
// every HeartbeatTimeout/10), so that a virtual second costs the same
// protocol work in both.
const (
	electionTimeout = time.Second
	// rpcTimeout bounds a call between nodes: a request or answer lost
	// (a cut link, a lost message) leaves the caller waiting this long,
	// as a connection's deadline would; hashicorp's in-memory transport
	// waits as long.
	rpcTimeout = 500 * time.Millisecond
	// applyTimeout bounds the wait to hand a client's command to the
	// leader's loop (raft.Apply's timeout), not its commit.
	applyTimeout = time.Second
	// StatePoll is how often each node's Raft state is looked at, for
	// the changes of its commit and applied indexes no observer reports.
	StatePoll = 10 * time.Millisecond
)
