package connector

import (
	"strings"
	"time"

	"github.com/shoaldb/shoal/core/env"
)

// The messages between the engine and an endpoint. They never cross a
// peer connection: the simulator delivers them to its simulated endpoints
// and core/live to its adapters in the same process, so they are plain Go
// values with no wire encoding.

// Push asks the endpoint of a destination to deliver messages. The engine
// never pushes two messages with the same OrderKey at once, so an
// endpoint may deliver a push's items in any order or in parallel.
type Push struct {
	ID          uint64 // the pusher's; the Pushed answer carries it
	Replicaset  string // the pusher's; the Pushed answer carries it
	Destination string
	Spec        OutboundSpec // the destination's parameters, as the engine read them
	// Timeout is the destination's timeout: the pusher counts a push not
	// answered within it as failed, so an endpoint gives up by then.
	Timeout time.Duration
	Items   []Item
}

// Kind names a Push in the trace.
func (*Push) Kind() string { return "connector.push" }

// Item is one message of a push.
type Item struct {
	Seq            uint64
	IdempotencyKey string
	OrderKey       string // messages of one order key are delivered in order
	Request        Request
}

// Pushed answers a Push: one result per item, by Seq.
type Pushed struct {
	ID          uint64
	Replicaset  string
	Destination string
	Results     []Result
}

// Kind names a Pushed in the trace.
func (*Pushed) Kind() string { return "connector.pushed" }

// Result is the fate of one pushed message.
type Result struct {
	Seq uint64
	Err string // "" when the endpoint took it
}

// InboundPrefix starts the NodeID of an inbound connector's endpoint,
// within EndpointPrefix: destination names have no slash, so the two never
// meet.
const InboundPrefix = EndpointPrefix + "in/"

// InboundEndpoint is the NodeID an instance sends an inbound connector's
// fetches and commits to: for Kafka, this instance's member of the
// connector's consumer group.
func InboundEndpoint(connector string) env.NodeID { return env.NodeID(InboundPrefix + connector) }

// IsInboundEndpoint reports whether id names an inbound connector's
// endpoint, and which connector.
func IsInboundEndpoint(id env.NodeID) (string, bool) {
	return strings.CutPrefix(string(id), InboundPrefix)
}

// Fetch asks an inbound connector's endpoint for the next records of the
// partitions the consumer group gives this instance. Member names the
// instance in the group.
type Fetch struct {
	ID        uint64
	Connector string
	Spec      InboundSpec
	Member    string
	Max       int // records at most
}

// Kind names a Fetch in the trace.
func (*Fetch) Kind() string { return "connector.fetch" }

// Fetched answers a Fetch: records in partition order and, within a
// partition, offset order; or Err. Generation is the consumer group's
// generation the partitions were assigned in: a commit must name it.
type Fetched struct {
	ID         uint64
	Connector  string
	Generation int64
	Records    []Record
	Err        string
}

// Kind names a Fetched in the trace.
func (*Fetched) Kind() string { return "connector.fetched" }

// Record is one record of a topic.
type Record struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   []Header
}

// Commit asks the endpoint to commit the group's offsets: the next offset
// to read in each partition. The engine commits only records whose
// messages are durably enqueued.
type Commit struct {
	ID         uint64
	Connector  string
	Spec       InboundSpec
	Member     string
	Generation int64
	Offsets    []Offset
}

// Kind names a Commit in the trace.
func (*Commit) Kind() string { return "connector.commit" }

// Offset is the next offset to read in one partition.
type Offset struct {
	Topic     string
	Partition int32
	Next      int64
}

// Committed answers a Commit. Err is set when the commit was refused,
// such as for a generation the group has left behind (a rebalance): the
// records will be fetched again, by this member or another.
type Committed struct {
	ID        uint64
	Connector string
	Err       string
}

// Kind names a Committed in the trace.
func (*Committed) Kind() string { return "connector.committed" }
