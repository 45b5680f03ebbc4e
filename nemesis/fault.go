// Package nemesis is shoal's fault vocabulary: partitions of named shapes,
// link faults, process faults (kill, restart, pause), clock faults, disk
// faults, faults of the simulated endpoints outbound destinations
// deliver to and of the simulated Kafka brokers inbound connectors read,
// with their targets and timings. Schedule compiles a list of
// steps into actions on a simnet World; every choice a step makes (which
// node is "random", which side of a split a node falls on) is drawn from
// the world's seeded stream when the step fires, so a run replays exactly.
//
// Every occurrence of a step is traced as nemesis.start and nemesis.stop
// (node "nemesis") with what it did and whether it took effect.
package nemesis

import (
	"time"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/simnet"
)

// Kind names a fault.
type Kind string

// The fault kinds.
const (
	Partition Kind = "partition"
	Link      Kind = "link"
	Kill      Kind = "kill"
	Restart   Kind = "restart"
	Pause     Kind = "pause"
	Clock     Kind = "clock"
	Disk      Kind = "disk"
	Endpoint  Kind = "endpoint"
	Broker    Kind = "broker"
	DCLink    Kind = "dclink"
)

// Kinds lists every fault kind, in the order the documentation gives them.
var Kinds = []Kind{Partition, Link, Kill, Restart, Pause, Clock, Disk, Endpoint, Broker, DCLink}

// The partition shapes.
const (
	Halves         = "halves"          // n1..n⌊N/2⌋ | the rest
	RandomHalves   = "random-halves"   // two halves drawn from the seed
	One            = "one"             // one node drawn from the seed, alone
	MinorityThird  = "minority-third"  // ⌊N/3⌋ nodes (at least one) drawn from the seed, apart
	Majority       = "majority"        // a majority side and a minority side, drawn from the seed
	MajoritiesRing = "majorities-ring" // every node hears a majority, no two the same
	Bridge         = "bridge"          // two halves that hear one node between them
	IsolateLeader  = "isolate-leader"  // the leader of Fault.Group, alone
	IsolateVoters  = "isolate-voters"  // group 0's voters apart from every other instance
)

// Shapes lists the partition shapes.
var Shapes = []string{Halves, RandomHalves, One, MinorityThird, Majority, MajoritiesRing, Bridge, IsolateLeader, IsolateVoters}

// The targets of process, clock and disk faults. Any other target is an
// instance's name.
const (
	TargetRandom    = "random"    // one instance drawn from the seed
	TargetLeader    = "leader"    // the leader of Fault.Group, if it has one
	TargetFollowers = "followers" // Fault.Group's members other than its leader
	TargetFollower  = "follower"  // one of them, drawn from the seed
	TargetMinority  = "minority"  // ⌊(N-1)/2⌋ instances drawn from the seed
	TargetMajority  = "majority"  // ⌊N/2⌋+1 instances drawn from the seed
	TargetAll       = "all"       // every instance
)

// Targets lists the target words.
var Targets = []string{TargetRandom, TargetLeader, TargetFollowers, TargetFollower, TargetMinority, TargetMajority, TargetAll}

// The groups a fault may name: group 0, "the data replicaset" (the only
// one, or one drawn from the seed per occurrence), or a replicaset rsK.
const (
	GroupConfig = "config"
	GroupData   = "data"
)

// The disk operations a disk fault can fail.
const (
	DiskWrite = "write"
	DiskSync  = "sync"
	DiskRead  = "read"
)

// DiskOps lists them.
var DiskOps = []string{DiskWrite, DiskSync, DiskRead}

// The modes of an endpoint fault.
const (
	// EndpointDown cuts every link between the instances and the
	// endpoint, both ways: pushes go unanswered and time out.
	EndpointDown = "down"
	// EndpointFail makes the endpoint refuse items, each with
	// Fault.FailRate.
	EndpointFail = "fail"
	// EndpointSlow makes the endpoint answer Fault.Latency after each
	// push.
	EndpointSlow = "slow"
)

// EndpointModes lists them.
var EndpointModes = []string{EndpointDown, EndpointFail, EndpointSlow}

// The modes of a broker fault.
const (
	// BrokerDown makes the broker ignore every request, unanswered:
	// fetches and commits time out, and the instances fall out of the
	// consumer group.
	BrokerDown = "down"
	// BrokerSlow makes the broker answer each request Fault.Latency late.
	BrokerSlow = "slow"
	// BrokerRebalance starts a new generation of the broker's consumer
	// group, once: every commit of the generation before is refused. It
	// has no duration, as restart has none.
	BrokerRebalance = "rebalance"
)

// BrokerModes lists them.
var BrokerModes = []string{BrokerDown, BrokerSlow, BrokerRebalance}

// The modes of a dclink fault, on the links between two clusters
// (Config.DCs).
const (
	// DCLinkCut cuts them both ways: nothing crosses.
	DCLinkCut = "cut"
	// DCLinkSlow adds Fault.Delay to their latency.
	DCLinkSlow = "slow"
	// DCLinkFlap cuts them for Fault.Period, restores them for Period,
	// and so on while the fault lasts.
	DCLinkFlap = "flap"
)

// DCLinkModes lists them.
var DCLinkModes = []string{DCLinkCut, DCLinkSlow, DCLinkFlap}

// Strobe makes a wall clock jump by Offset every Period.
type Strobe struct {
	Offset, Period time.Duration
}

// Fault is one fault and its fields; which fields apply depends on Kind
// (scenarios/README.md has the table). A field that does not apply is
// zero.
type Fault struct {
	Kind Kind
	// Weight is the fault's weight among a step's Pick alternatives.
	Weight int

	// Partition: a Shape, or explicit Components (instances named in none
	// form one more component). Group names the group of isolate-leader,
	// and of the leader, followers and follower targets.
	Shape      string
	Components [][]env.NodeID
	Group      string

	// Link: each of Loss, Delay, Duplicate and Reorder is applied when
	// set, on the links from From to To (every instance when empty), both
	// ways unless OneWay. A loss of 1 alone cuts the links.
	Loss      *float64
	Delay     *simnet.Latency
	Duplicate *float64
	Reorder   *bool
	From, To  []env.NodeID
	OneWay    bool

	// Kill, restart, pause, clock, disk: the instances it hits.
	Target string

	// Clock: one of them.
	Offset *time.Duration
	Drift  *float64
	Strobe *Strobe

	// Disk: the operations that fail, each with Probability.
	Errors      []string
	Probability float64

	// Endpoint: the outbound destination whose simulated endpoint it
	// hits (Endpoint), and how (Mode, one of EndpointModes). In fail
	// mode each item is refused with FailRate (0 refuses every item, as
	// 1 does); in slow mode each push is answered Latency late.
	Endpoint string
	Mode     string
	FailRate float64
	Latency  time.Duration

	// Broker: the kafka inbound connector whose simulated broker it hits
	// (Broker), and how (Mode, one of BrokerModes); in slow mode each
	// request is answered Latency late.
	Broker string

	// Cluster names the cluster (Config.DCs) a fault on instances,
	// endpoints or brokers hits; "" is the first (the Cluster given to
	// Schedule).
	Cluster string

	// DCLink: the links between the two clusters of Between (every pair
	// of clusters when empty), and how (Mode, one of DCLinkModes): slow
	// adds Delay to their latency; flap alternates cut and restored every
	// Period.
	Between []string
	Period  time.Duration
}

// instantaneous reports whether f happens at once and has no duration:
// a restart, or a broker rebalance.
func (f *Fault) instantaneous() bool {
	return f.Kind == Restart || (f.Kind == Broker && f.Mode == BrokerRebalance)
}

// setsMode reports whether f sets its node's mode for as long as it
// lasts: an endpoint's fail or slow, a broker's down or slow (an
// endpoint's down cuts links instead; a broker's rebalance is
// instantaneous).
func (f *Fault) setsMode() bool {
	switch f.Kind {
	case Endpoint:
		return f.Mode != EndpointDown
	case Broker:
		return !f.instantaneous()
	}
	return false
}

// Step is one line of a schedule: a fault (or a weighted Pick of faults,
// one drawn from the seed per occurrence) that starts At, or Every period
// from Start, and lasts For (restart and a broker rebalance have no
// duration; any other fault without For lasts until the final heal).
type Step struct {
	At    time.Duration
	Every time.Duration
	Start time.Duration
	For   time.Duration
	Fault *Fault
	Pick  []Fault
}

// Occurrences returns the start times of the step's occurrences before
// end, in order.
func (s Step) Occurrences(end time.Duration) []time.Duration {
	if s.Every <= 0 {
		if s.At < end {
			return []time.Duration{s.At}
		}
		return nil
	}
	var out []time.Duration
	for t := s.Start; t < end; t += s.Every {
		out = append(out, t)
	}
	return out
}
