// Package scenario is the scenario file format: a YAML description of a
// cluster, its network, its workloads, a fault schedule and the checks
// that judge the run (scenarios/README.md documents every field, and
// scenario.schema.json is its JSON Schema). Parse is strict: an unknown or
// misspelt field, a duplicate key, a value of the wrong type or out of
// range is an error that names the file, the line and, for names, the
// nearest valid one. Marshal writes a scenario back with every default
// filled in; Parse(Marshal(s)) is s.
package scenario

import (
	"time"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/nemesis"
	"github.com/shoaldb/shoal/simnet"
)

// Scenario is one parsed scenario, every default filled in.
type Scenario struct {
	Name        string
	Description string
	// Cluster is the cluster, or the first of Clusters.
	Cluster Cluster
	// Clusters are the clusters of a scenario that runs several in one
	// world (`clusters`), each with its Name; nil with `cluster`.
	Clusters []Cluster
	Network  Network
	// DCLink is the one-way latency of the links between clusters (the
	// dc links: between their instances, and between a gateway and the
	// instances of the cluster it forwards to), with Clusters only.
	DCLink    simnet.Latency
	Workloads []Workload
	Duration  time.Duration
	Nemesis   []nemesis.Step
	Final     Final
	Checks    []string
	Expect    string // "valid" or "invalid"
}

// Cluster is the topology: Instances n1..nN in replicasets of
// ReplicationFactor instances each (rs1..rsK, K = Instances/ReplicationFactor).
type Cluster struct {
	// Name names a cluster of Scenario.Clusters; "" with `cluster`.
	Name              string
	Instances         int
	ReplicationFactor int
	// Buckets is how many buckets keys spread over; 0 for the cluster's
	// default (kv.DefaultBuckets). A scenario that grows the cluster
	// takes fewer, so that rebalancing ends within the run.
	Buckets int
	// Model names the built-in data model the cluster bootstraps with
	// (Models); empty for none.
	Model string
	// Pipeline names the built-in inbound pipeline the cluster bootstraps
	// with (Pipelines); empty for none. It needs a Model. The run
	// simulates an endpoint for each outbound destination it declares
	// (PipelineDestinations), and a Kafka broker for each kafka inbound
	// connector (PipelineBrokers).
	Pipeline string
	// Queue holds the inbound queue's settings the cluster bootstraps
	// with, keyed by the setting's name (queue.max_messages, ...), each
	// value as the cluster reads it: an integer in decimal, a duration in
	// time.Duration's String form. Nil when the file sets none; a setting
	// left out keeps the cluster's default.
	Queue map[string]string
	// Governor holds the governor's settings the cluster bootstraps with
	// (governor.offline_after), keyed and written as Queue's; nil when
	// the file sets none.
	Governor map[string]string
	// Domains are the failure domains (core/cluster's Domain: key=value
	// pairs such as zone=a) of the instances the file gives one, by
	// instance; nil when it gives none.
	Domains map[env.NodeID]map[string]string
}

// Network is every link's behaviour before any fault.
type Network struct {
	Latency simnet.Latency
	Loss    float64
}

// Workload kinds.
const (
	KV      = "kv"      // key-value clients
	Config  = "config"  // operator actions on group 0
	Objects = "objects" // clients writing and reading objects of the cluster's model
	Model   = "model"   // one proposal of a new data model, at a set time
	Ingest  = "ingest"  // clients sending messages with unique ids through the connector path
	Kafka   = "kafka"   // producers appending records to the simulated broker of a kafka connector
)

// Workload is one set of clients.
type Workload struct {
	Kind string
	// Cluster is the cluster of Scenario.Clusters the workload's clients
	// talk to (the first when the file names none); "" with `cluster`.
	Cluster string
	Clients int
	Keys    int     // kv: keys; objects: keys per type
	Rate    float64 // operations per second over all the workload's clients (kafka: records)
	Bad     float64 // ingest, kafka: the fraction of messages built to fail the pipeline
	Mix     Mix     // kv, objects
	Target  string  // random, leader, or an instance's name
	Timeout time.Duration
	Retries int
	// At and ModelName: a model workload proposes the built-in model
	// ModelName at At. It has Clients 1 and Rate 1, which its file does
	// not hold, and Retries 0.
	At        time.Duration
	ModelName string
	// Connector is the kafka inbound connector of cluster.pipeline a
	// kafka workload produces to (PipelineBrokers): its Clients are
	// producers appending Customer records to the connector's simulated
	// broker. A kafka workload has no Target, Timeout or Retries: they
	// are zero.
	Connector string
	// Actions, for a config workload that has them, are operator actions
	// made at set times: joins and expels. Such a workload has no
	// clients: Clients, Rate, Timeout and Retries are zero and Target is
	// empty (a workload of periodic settings is another config workload).
	Actions []Action
}

// Action kinds.
const (
	ActionJoin  = "join"  // an instance joins the running cluster
	ActionExpel = "expel" // an instance is expelled from it
)

// Action is an operator action of a config workload, made at At through
// Via: Instance joins (with Domain, its failure domain) or is expelled
// (with Force, even though it is online). The proposal is answered once
// group 0 has applied it, or times out after Timeout.
type Action struct {
	At       time.Duration
	Kind     string // ActionJoin or ActionExpel
	Instance env.NodeID
	// Via is the instance the action goes to: random, leader (group 0's
	// leader), or an instance's name.
	Via     string
	Domain  map[string]string // join only; nil for none
	Force   bool              // expel only
	Timeout time.Duration
}

// ID is the ID of the action's proposal, as the trace records it
// (prop.result): join-NAME or expel-NAME.
func (a Action) ID() string { return a.Kind + "-" + string(a.Instance) }

// Mix weighs a kv or objects workload's operations (an objects
// workload's has no CAS). StaleRead weighs reads that ask any replica for
// its own value (kv.Request.Stale), which may miss acknowledged writes:
// the checkers judge them as reads.
type Mix struct {
	Read, Write, CAS, Delete, StaleRead float64
}

// Final is what happens after the schedule: with Heal, every fault is
// undone and killed instances restarted at Duration; the workloads go on
// for Recover more, then the final reads run.
type Final struct {
	Heal    bool
	Recover time.Duration
}

// The checks a scenario may ask for.
const (
	CheckLinearizable = "linearizable"
	CheckRaftSafety   = "raft-safety"
	CheckQuorum       = "quorum"
	CheckDurability   = "durability"
	CheckConvergence  = "convergence"
	CheckPartitions   = "partitions"  // the simulated network kept its cuts
	CheckProgress     = "progress"    // every group made progress after the heal
	CheckFaults       = "faults"      // every nemesis step took effect
	CheckModel        = "model"       // every object reads back in the latest shape on every replica
	CheckDelivery     = "delivery"    // every acknowledged message or produced record stored exactly once or in the repair queue with its reason
	CheckOutbound     = "outbound"    // every outbound message delivered (its effect once, in order per key) or in the outbound repair queue
	CheckReplication  = "replication" // every cluster ends with the same latest change of every replicated object
	CheckTopology     = "topology"    // joins and expels ended ok, expelled instances stay out, group 0's voters and every replicaset end as configured
	CheckBuckets      = "buckets"     // every bucket had one owner at a time: no replicaset accepted a write to a bucket it did not own, no source one after its freeze
)

// Checks lists every check, in the order results are reported.
var Checks = []string{CheckLinearizable, CheckRaftSafety, CheckQuorum, CheckDurability, CheckConvergence, CheckPartitions, CheckProgress, CheckFaults, CheckModel, CheckDelivery, CheckOutbound, CheckReplication, CheckTopology, CheckBuckets}

// clusters lists the scenario's clusters: Clusters, or Cluster alone.
func (s *Scenario) clusters() []Cluster {
	if len(s.Clusters) > 0 {
		return s.Clusters
	}
	return []Cluster{s.Cluster}
}

// AllClusters lists the scenario's clusters: Clusters, or Cluster alone.
func (s *Scenario) AllClusters() []Cluster { return s.clusters() }
