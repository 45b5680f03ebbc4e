package kv

import "github.com/shoaldb/shoal/core/env"

// Request is a client's operation, sent to any instance. A write carries
// the client's name and a sequence number that a retry repeats.
type Request struct {
	Client   string
	Seq      uint64
	Op       Op
	Key      string
	Value    string // put, cas: the new value
	Expected Value  // cas
	// Stale asks, of a get, for the value of whichever member of the
	// key's replicaset receives it, from its own state machine: no
	// ReadIndex round, so it may lag the leader (it may miss writes
	// acknowledged before the read began). Opt-in, for reads that trade
	// linearizability for speed and for availability inside a minority.
	Stale bool
}

// Kind implements env.Message.
func (*Request) Kind() string { return "kv.request" }

// Command is the write the request asks for.
func (r *Request) Command() Command {
	return Command{Client: r.Client, Seq: r.Seq, Op: r.Op, Key: r.Key, Value: r.Value, Expected: r.Expected}
}

// Response answers a Request.
//
// Redirects: an instance that cannot serve the key (it is not in the key's
// replicaset, or not its leader) answers StatusRedirect and does nothing
// else. Leader names the replicaset's leader when the instance knows it
// (it is a member and has heard from a leader); otherwise Hint names a
// member of the right replicaset to ask instead.
type Response struct {
	Client string
	Seq    uint64
	Status Status
	Value  Value  // get: the value read; cas mismatch: the value found
	Index  uint64 // the Raft index that served the request
	Leader env.NodeID
	Hint   env.NodeID
}

// Kind implements env.Message.
func (*Response) Kind() string { return "kv.response" }
