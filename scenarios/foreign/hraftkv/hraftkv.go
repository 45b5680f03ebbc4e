// Package hraftkv is a reference target of the foreign harness
// (scenarios/foreign): a key-value store on github.com/hashicorp/raft,
// the Raft that shoal does not use. N voters apply reads, writes, cas
// and deletes to a map through the log; their log and stable stores are
// hashicorp's in-memory ones, and every message between them crosses the
// harness's simulated network through a raft.Transport of this package.
// It runs inside a testing/synctest bubble, so its timers and sleeps run
// on virtual time.
//
// It cannot replay a seed: hashicorp/raft draws its election and
// snapshot timeouts from math/rand's global source and runs a goroutine
// per loop and per peer. The harness seeds that source from the run's
// seed (Target.Seed, SeedGlobalRand), so two runs of one seed in one
// process draw the same sequence of timeouts; which node's timer takes
// which draw, and when each message is handled, the Go scheduler decides.
// Measured under this harness (scenarios/foreign/README.md), over two
// runs of seed 1 of each built-in partition scenario: at GOMAXPROCS 2,
// 2 of 7 pairs elected the same leaders for the same terms, 1 at the
// same instants too; at GOMAXPROCS 1, 5 and 4 of 7. First elections fell
// on the same few instants, often won by different nodes.
//
// A kill stops the node's goroutines and loses what it held in memory:
// its state machine and its commit index. Its log, stable and snapshot
// stores survive whole, as if every write had been synced (the
// simulator's kill loses what was not), and it restarts on them as
// hashicorp's default has it: its state machine restored from its latest
// snapshot, then its log replayed as the leader tells it what is
// committed.
//
// What the trace holds, beside the harness's own records: each node's
// Raft state whenever its term, role, leader, vote, commit or applied
// index changed (raft.state; sampled every StatePoll and at every
// change of role or leader hashicorp reports to an observer), its
// membership at each start (raft.conf), every entry its state machine
// applied (raft.apply), each snapshot it took (raft.compact) or restored
// (raft.snapshot.install), and on a leader each snapshot it sent
// (raft.snapshot.send) and every append of its term that a follower
// acknowledged, or it made itself, or that a snapshot a follower
// installed covers (raft.ack), so that the raft-safety and convergence
// checks judge hashicorp/raft as they judge shoal's engine. One
// difference: a raft.state's commit index is the highest the node has
// known over its restarts, or has applied, since hashicorp/raft forgets
// it at a kill and the check holds every node to the engine's promise
// that it never goes back (Cluster.record).
package hraftkv

import (
	"errors"
	"math/rand"
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
		NotExact: "hashicorp/raft draws its election and snapshot timeouts from math/rand's global source, which the harness " +
			"seeds from the run's seed, and runs a goroutine per loop and per peer: the seed fixes the sequence of draws, " +
			"and the scheduler decides which timer takes which draw.",
		Seed:  SeedGlobalRand,
		Group: Group,
		Kill: "unlike the simulator's kill, which loses what a node had not synced, a kill here loses nothing stored: " +
			"the node's goroutines stop and what it held in memory is lost (its state machine, its commit index), " +
			"but its in-memory log, stable and snapshot stores survive, as if every write had been synced; it restarts on them, " +
			"its state machine restored from its latest snapshot, and replays the log after it as the leader tells it what is committed",
		ElectionTimeout: electionTimeout,
		Start: func(e foreign.Env) (foreign.Cluster, error) {
			return Start(e)
		},
	}
}

// SeedGlobalRand seeds math/rand's global source, which hashicorp/raft
// draws its timeouts from, with seed (Target.Seed). Since Go 1.24
// rand.Seed does nothing unless the binary sets GODEBUG randseednop=0
// (hraftkv's tests do, with a //go:debug line); SeedGlobalRand checks
// that the seed took, and says what is missing if it did not.
func SeedGlobalRand(seed uint64) error {
	//lint:ignore SA1019 hashicorp/raft draws from the global source, so it is the one to seed
	rand.Seed(int64(seed))
	got, want := rand.Int63(), rand.New(rand.NewSource(int64(seed))).Int63()
	//lint:ignore SA1019 as above: start the run from the seed's first draw
	rand.Seed(int64(seed))
	if got != want {
		return errors.New("math/rand's global Seed has no effect in this binary: " +
			"add //go:debug randseednop=0 to its main package or to a _test.go file of the package tested")
	}
	return nil
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
