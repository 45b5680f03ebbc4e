// Package env is the contract between shoal's engine and the world it runs
// in. The engine is a set of single-threaded state machines (one Node per
// process) that see time, the network, randomness and the disk only through
// an Env. Two worlds implement it: the deterministic simulator (simnet) and
// production (core/live). Because the engine touches nothing else, a run in
// the simulator is a pure function of its seed.
//
// The shape follows etcd raft's RawNode: a narrow boundary, with inputs
// delivered one at a time (Receive, Handle) and effects requested through
// the Env (Send, After, Trace, disk writes). A node that cannot go on
// because its disk failed a write it depends on panics with a Fatal, which
// both worlds treat as the process exiting.
package env

import (
	"math/rand/v2"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// NodeID names a process: an engine node ("n1".."nN" in the simulator) or a
// client. It is stable across restarts.
type NodeID string

// Join lists node names separated by commas, as trace fields carry them.
func Join(ids []NodeID) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(string(id))
	}
	return b.String()
}

// Split reads a list Join wrote: the names between the commas, empty
// ones left out ("" is none).
func Split(s string) []NodeID {
	var out []NodeID
	for _, n := range strings.Split(s, ",") {
		if n != "" {
			out = append(out, NodeID(n))
		}
	}
	return out
}

// TimerID identifies a timer set with Env.After. IDs are unique within one
// Env's world and never reused.
type TimerID uint64

// Message is a value sent between nodes. Kind names its type ("ping",
// "raft.MsgApp"): the simulator counts messages by kind and the trace
// records it. A message must not be modified after it is sent; the
// simulator delivers the same value it was given.
type Message interface {
	Kind() string
}

// Event is a value handed back to a node by a timer (Env.After) or posted to
// it from outside its event loop (a client request in production, a harness
// action in the simulator). Kind names it for the trace.
type Event interface {
	Kind() string
}

// Node is one process's state machine. The world calls exactly one of its
// methods at a time, and never concurrently; every effect goes through the
// Env the node was started with. Any of them, and Start, may panic with a
// Fatal to end the process.
type Node interface {
	// Receive handles a message that another node sent with Env.Send.
	Receive(from NodeID, m Message)
	// Handle handles a fired timer or a posted event.
	Handle(ev Event)
}

// Stopper is implemented by nodes that hold resources (an open pebble DB)
// worth releasing when the world discards them. In the simulator Stop runs
// after the node was killed and its disk crashed: the node's Env is already
// detached (its calls do nothing), and whatever Stop writes to its old disk
// is lost.
type Stopper interface {
	Stop()
}

// Start creates a node's state machine on e, recovering what it needs from
// e.FS(). It runs at start and at every restart; an error, or a Fatal
// panic, leaves the node down.
type Start func(e Env) (Node, error)

// Fatal is the value a node panics with when it cannot go on: its disk
// failed a write or sync it depends on, so its memory is ahead of its disk
// and no later step can be trusted, as for a real process whose fsync
// failed. The world treats it as the process exiting: the simulator crashes
// the node as Kill does (its disk keeps only what was synced) and traces
// node.crash (node.fail if it came from Start); production (core/live,
// later) stops the node and reports the error.
//
// Panic with the value, panic(env.Fatal{Err: err}), not a pointer and not
// wrapped in another error: any other panic value is a bug in the node,
// which the simulator reports as one (simnet.PanicError).
type Fatal struct{ Err error }

// Error is the message of the error the node died of.
func (f Fatal) Error() string {
	if f.Err == nil {
		return "env: fatal error"
	}
	return f.Err.Error()
}

// Unwrap returns the error the node died of.
func (f Fatal) Unwrap() error { return f.Err }

var _ error = Fatal{}

// Env is what a node may touch. All methods are called from inside the
// node's Receive, Handle or Start, never concurrently.
type Env interface {
	// ID is this node's name.
	ID() NodeID

	// Now is the node's wall clock. Like a real machine's clock under NTP it
	// can be stepped (offset), oscillate (strobe) and run fast or slow
	// (drift); it may jump backwards. Use it for timestamps, never to
	// measure intervals: intervals are measured by timers.
	Now() time.Time

	// After delivers ev to Handle once d has passed on the node's monotonic
	// clock. The monotonic clock moves only forward; drift changes its rate
	// and a paused process handles overdue timers when it resumes. After
	// with d <= 0 fires as soon as the node is next scheduled.
	After(d time.Duration, ev Event) TimerID

	// Cancel stops a timer. It reports whether the timer was still pending.
	Cancel(id TimerID) bool

	// Send hands m to the network for delivery to another node. Delivery is
	// not guaranteed: messages may be delayed, lost, duplicated or
	// reordered, as the world's network decides.
	Send(to NodeID, m Message)

	// Rand is the node's source of randomness. In the simulator it is
	// derived from the run's seed, the node's name and its incarnation.
	Rand() *rand.Rand

	// FS is the node's disk. In the simulator a crash keeps exactly the
	// data that was synced.
	FS() vfs.FS

	// PebbleOptions returns fresh options for a pebble store on FS(); call
	// it for every Open. In the simulator they forbid pebble any background
	// flush or compaction, whose timing would leak into what survives a
	// crash. Callers may add to the options but must not re-enable
	// background work, and must keep the rules that make pebble
	// deterministic (simnet/disk.PebbleOptions has the measurements): flush
	// (db.Flush) before the memtable entries written since the last flush
	// cost 128 KiB (len(key)+len(value)+195 bytes each); compact only with
	// db.Compact; call db.TestOnlyWaitForCleaning after Open, Flush,
	// Compact and releasing the last iterator or snapshot that pinned
	// files; and sync the store's parent directory once after creating it.
	PebbleOptions() *pebble.Options

	// Trace records a structured event: its kind and fields, stamped with
	// the time and this node's name. The simulator's trace is what
	// checkers and reports read, so every state change worth checking
	// belongs here.
	Trace(kind string, fields ...Field)
}
