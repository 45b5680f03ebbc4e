// Package foreign runs shoal's scenarios against Go systems shoal did not
// write: a cluster of goroutine-based nodes (github.com/hashicorp/raft's,
// say) started in-process inside a testing/synctest bubble, where every
// timer and sleep runs on virtual time. The harness gives the nodes a
// simulated network (Net) that the nemesis controls, drives them with the
// scenario's key-value clients, schedules its faults with the same
// nemesis as the simulator, records everything in the simulator's trace
// format, judges the trace with the same checkers and writes the same run
// directory and report.
//
// What cannot be had is replay. The Go runtime schedules the target's
// goroutines, so the seed fixes the harness's draws (the nemesis's, the
// network's and the clients') and, through Target.Seed, the target's
// own, but not which goroutine takes which draw, nor when: the trace is
// the record of a run, and the report says so.
//
// A target implements Target: it starts its nodes on the Net (every
// message between them crosses it) and serves the clients' operations;
// scenarios/README.md ("Foreign targets") says what to implement and
// what is checked, and scenarios/foreign/hraftkv is the reference target.
package foreign

import (
	"context"
	"time"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
)

// Target is a system under test: how to start a cluster of it, and what
// the report should say about it.
type Target struct {
	// Name is short, for file and test names: "hraftkv".
	Name string
	// About says what runs, for the report and the trace: "a key-value
	// store on github.com/hashicorp/raft v1.8.0 (scenarios/foreign/hraftkv)".
	About string
	// NotExact says why a seed does not replay a run of it, beyond what
	// is true of every target (its goroutines are scheduled by the Go
	// runtime): where it draws randomness, and what the seed fixes of it.
	NotExact string
	// Seed, if set, seeds the randomness the target draws outside the
	// harness (math/rand's global source, say) from the run's seed, so
	// that two runs of one seed in one process start it from one state.
	// The harness calls it inside the bubble before Start; an error
	// (the source cannot be seeded) fails the run.
	Seed func(seed uint64) error
	// Group names its one replicated group in the trace ("rs1"): the
	// nemesis's `data` group, and the group its Raft records name.
	Group string
	// Kill says how a kill of one of its nodes differs from the
	// simulator's (what the node keeps across it), for the report of a
	// scenario that kills; empty when its nodes cannot be killed, and
	// kill and restart faults are then traced as taking no effect.
	Kill string
	// ElectionTimeout is the target's, for node.bootstrap.
	ElectionTimeout time.Duration
	// Start starts every node of a new cluster. It runs inside the
	// bubble, and so does everything the Cluster starts.
	Start func(Env) (Cluster, error)
}

// Env is what a target is started with.
type Env struct {
	// Nodes are the instances, n1..nN, each a voter of the one group.
	Nodes []env.NodeID
	// Net carries every message between nodes: a target's transport
	// sends with Net.Call and receives through the handler it gives
	// Net.Listen when a node starts.
	Net *Net
	// Trace records the target's own events, in the trace format of
	// simnet/README.md and core/README.md (raft.state, raft.apply, ...),
	// stamped with virtual time. Events of a node that is down are
	// dropped.
	Trace *Recorder
	// Group is Target.Group.
	Group string
}

// Cluster is a running target. The harness calls Kill, Restart and
// Leader from the nemesis's goroutine and Serve from many at once, so
// they must be safe for concurrent use.
type Cluster interface {
	// Kill stops node id as a crash would: it returns once the node's
	// goroutines have stopped. What the node keeps for its restart is
	// the target's model (Target.Kill says it).
	Kill(id env.NodeID) error
	// Restart starts node id again on what it kept, and calls
	// Net.Listen for it.
	Restart(id env.NodeID) error
	// Leader is the node that leads the group now, if one does; with
	// several that think they do, the one of the highest term.
	Leader() (env.NodeID, bool)
	// Serve carries out a client's operation on node id, which is up,
	// and answers it. ctx ends when the client has stopped waiting.
	Serve(ctx context.Context, id env.NodeID, req Request) Answer
	// State is what node id's state machine has applied: the log index
	// of the last entry it applied and a digest of its state (equal
	// digests at one index mean equal states). The harness asks every
	// node after the recovery, waits until they agree on the index, and
	// records them (sm.digest) for the convergence check.
	State(id env.NodeID) (applied uint64, digest string, err error)
	// Shutdown stops every node that is up; it returns once their
	// goroutines have stopped.
	Shutdown()
}

// Request is one client operation as a node receives it.
type Request struct {
	Client env.NodeID
	Seq    int64
	// F is kv.OpGet, OpPut, OpDelete or OpCAS.
	F        kv.Op
	Key      string
	Value    string   // put, cas: the value written
	Expected kv.Value // cas: the value it expects
	// Stale asks a get for the node's own state, without making sure it
	// is current (the scenario's stale_read): fast, and not linearizable.
	Stale bool

	// deadline is when the client stops waiting, in virtual time since
	// the run began.
	deadline time.Duration
}

// Status is the outcome of a client operation as the node that served it
// saw it.
type Status uint8

// The outcomes. Refused and Unknown are the ones a history needs told
// apart: refused is certain no effect, unknown may take effect later.
const (
	// OK: it took effect; a read read Answer.Value.
	OK Status = iota + 1
	// Mismatch: a cas found Answer.Value rather than what it expected,
	// and changed nothing.
	Mismatch
	// Refused: it certainly had no effect (this node does not lead, or it
	// refused the operation before it could take effect); Answer.Leader,
	// if set, is where to send it.
	Refused
	// Unknown: it may or may not take effect (it was proposed, and the
	// node lost track of it).
	Unknown
)

func (s Status) String() string {
	switch s {
	case OK:
		return "ok"
	case Mismatch:
		return "mismatch"
	case Refused:
		return "refused"
	case Unknown:
		return "unknown"
	}
	return "?"
}

// Answer is a node's answer to a Request.
type Answer struct {
	Status Status
	// Value is what a read read, or what a cas found (Mismatch).
	Value kv.Value
	// Index is the log index that served it (OK, Mismatch), if known.
	Index uint64
	// Leader is where a refused operation should go, if the node knows.
	Leader env.NodeID
	// Why says why it was refused or is unknown.
	Why string
}
