// Package cluster is the cluster's configuration, after Picodata: which
// instances exist, their failure domains and states, how they form
// replicasets, which of them vote in group 0, which replicaset owns each
// bucket, the operator's settings, and who may use the API (tokens.go).
// It is the state machine of group 0, the Raft group every instance
// belongs to (as a voter or a learner); every change to it is a Command
// committed there.
package cluster

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
)

// ConfigGroup is the Raft group holding the configuration. Replicaset rsK
// is group K.
const ConfigGroup uint64 = 0

// Domain is an instance's failure domain: key=value pairs such as
// zone=eu-1, rack=r7. Instances that share a value for a key can fail
// together.
type Domain map[string]string

// String renders the domain as "k1=v1,k2=v2", keys sorted.
func (d Domain) String() string {
	parts := make([]string, 0, len(d))
	for _, k := range slices.Sorted(maps.Keys(d)) {
		parts = append(parts, k+"="+d[k])
	}
	return strings.Join(parts, ",")
}

// shared counts the keys on which d and o have the same value.
func (d Domain) shared(o Domain) int {
	n := 0
	for _, k := range slices.Sorted(maps.Keys(d)) {
		if v, ok := o[k]; ok && v == d[k] {
			n++
		}
	}
	return n
}

// State is an instance's state.
type State string

// Instance states. An expelled instance has left the cluster for good:
// it belongs to no Raft group, and its name is not given again.
const (
	Online   State = "online"
	Offline  State = "offline"
	Expelled State = "expelled"
)

// Instance is one process of the cluster. Its state has a current value
// and a target: the target says where the instance should be (set by an
// operator, or by the governor when it stops or starts hearing from the
// instance), and the governor (governor.go) moves the current state
// there step by step, each step an entry of group 0.
type Instance struct {
	Name       env.NodeID `json:"name"`
	RaftID     uint64     `json:"raft_id"`
	Domain     Domain     `json:"domain,omitempty"`
	Replicaset string     `json:"replicaset"`
	State      State      `json:"state"`
	// Target is the state the instance is headed for; an encoding made
	// before targets has none, which reads as State (Decode).
	Target State `json:"target,omitempty"`
	// Reason says why the target was last set.
	Reason string `json:"reason,omitempty"`
	// Joined is the ID of the action that admitted the instance (none for
	// one formed at bootstrap): the same join asked again, by an instance
	// that crashed before it recorded its admission, is admitted again.
	Joined string `json:"joined,omitempty"`
}

// Replicaset is a set of instances that hold the same data, replicated by
// their own Raft group.
type Replicaset struct {
	Name    string       `json:"name"`
	Group   uint64       `json:"group"`
	Members []env.NodeID `json:"members"`
	// Initial, for a replicaset formed by a join, is the instance that
	// founded it: it starts the group alone, as its one voter, and every
	// later member is added by the group's leader. A replicaset formed at
	// bootstrap has none: every member starts the group from the same
	// snapshot.
	Initial env.NodeID `json:"initial,omitempty"`
}

// Config is group 0's state.
type Config struct {
	// Name is the cluster's name, given at bootstrap and never changed:
	// replication between clusters stamps every change with the name of
	// the cluster it was made in, and sends a change back to no cluster
	// of that name. "" for a cluster formed without one.
	Name        string       `json:"name,omitempty"`
	Instances   []Instance   `json:"instances"` // sorted by RaftID
	Replicasets []Replicaset `json:"replicasets"`
	// ReplicationFactor is how many members make a replicaset complete;
	// an encoding made before it has none (ReplicaFactor infers it).
	ReplicationFactor int `json:"replication_factor,omitempty"`
	// Voters are group 0's voters; every other instance that is not
	// expelled is a learner.
	Voters []env.NodeID `json:"voters"`
	// Buckets maps bucket i to the name of the replicaset that owns it.
	Buckets []string `json:"buckets"`
	// BucketIndex holds, for a bucket that moved, the log index of its
	// owner's group from which the owner holds it: a replica serves the
	// bucket once it has applied that far (rebalance.go).
	BucketIndex map[int]uint64 `json:"bucket_index,omitempty"`
	// Move is the bucket move under way, if any, and Moves counts the
	// moves ever started (the next one's ID is Moves+1).
	Move  *BucketMove `json:"move,omitempty"`
	Moves uint64      `json:"moves,omitempty"`
	// Garbage is the copies of buckets replicasets hold without owning
	// them, for their leaders to drop.
	Garbage  []Leftover        `json:"garbage,omitempty"`
	Settings map[string]string `json:"settings"`
	// Recent remembers the last actions applied, by ID, so that an action
	// proposed again (its first proposal's fate unknown after a leader
	// change) applies once.
	Recent []Applied `json:"recent,omitempty"`
	// Models are the data models the cluster accepted, oldest first; the
	// last is in force. ModelChange is one being validated, ModelAbort the
	// last one voted down.
	Models      []ModelRevision `json:"models,omitempty"`
	ModelChange *ModelChange    `json:"model_change,omitempty"`
	ModelAbort  *ModelAbort     `json:"model_abort,omitempty"`
	// Pipeline is the inbound pipeline in force (nil: none was ever set).
	Pipeline *PipelineRevision `json:"pipeline,omitempty"`
	// Tokens are the API tokens, oldest first, and Roles the custom roles
	// (tokens.go). Both are absent from an encoding made before them.
	Tokens []Token `json:"tokens,omitempty"`
	Roles  []Role  `json:"roles,omitempty"`
}

// Applied is an action that was applied, and why it was rejected if it
// was.
type Applied struct {
	ID    string `json:"id"`
	Error string `json:"error,omitempty"`
}

// RecentActions bounds Config.Recent.
const RecentActions = 1024

// Spec is the topology a cluster is bootstrapped with.
type Spec struct {
	// Name is the cluster's name (kv.CheckClusterName); "" for none.
	Name      string
	Instances []InstanceSpec
	// ReplicationFactor is the size of a replicaset; the number of
	// instances must be a multiple of it.
	ReplicationFactor int
	// Buckets is the number of buckets keys are spread over.
	Buckets int
	// Model, if set, is the data model (YAML) the cluster starts with, as
	// its revision 1.
	Model []byte
	// Pipeline, if set, is the inbound pipeline (YAML) the cluster starts
	// with, as its revision 1.
	Pipeline []byte
	// Settings are operator settings the cluster starts with.
	Settings map[string]string
}

// InstanceSpec names an instance and its failure domain.
type InstanceSpec struct {
	Name   env.NodeID
	Domain Domain
}

// VoterCount is how many of n instances vote in group 0: 1, 2, 3 for 3-4,
// and 5 from 5 on. An odd count of 3 or 5 tolerates 1 or 2 failures
// without the cost of more voters.
func VoterCount(n int) int {
	switch {
	case n <= 2:
		return n
	case n <= 4:
		return 3
	}
	return 5
}

// Bootstrap forms the initial configuration: instances get Raft IDs 1..N in
// the order given, replicasets rs1..rsK of ReplicationFactor instances
// each, and group 0's voters; buckets are dealt to replicasets in turn.
// Instances that share a failure-domain value are kept apart, in
// replicasets and among voters, as far as the topology allows.
func Bootstrap(spec Spec) (*Config, error) {
	n, rf := len(spec.Instances), spec.ReplicationFactor
	switch {
	case n == 0:
		return nil, fmt.Errorf("cluster: no instances")
	case rf < 1:
		return nil, fmt.Errorf("cluster: replication factor %d: want at least 1", rf)
	case n%rf != 0:
		return nil, fmt.Errorf("cluster: %d instances are not a multiple of the replication factor %d", n, rf)
	case spec.Buckets < 1:
		return nil, fmt.Errorf("cluster: %d buckets: want at least 1", spec.Buckets)
	}
	if spec.Name != "" {
		if err := kv.CheckClusterName(spec.Name); err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
	}
	c := &Config{Name: spec.Name, ReplicationFactor: rf, Settings: map[string]string{}}
	seen := map[env.NodeID]bool{}
	for i, s := range spec.Instances {
		if s.Name == "" || seen[s.Name] {
			return nil, fmt.Errorf("cluster: instance %d: name %q is empty or repeated", i+1, s.Name)
		}
		seen[s.Name] = true
		c.Instances = append(c.Instances, Instance{Name: s.Name, RaftID: uint64(i + 1), Domain: s.Domain, State: Online, Target: Online})
	}
	k := n / rf
	for i := range k {
		c.Replicasets = append(c.Replicasets, Replicaset{Name: fmt.Sprintf("rs%d", i+1), Group: uint64(i + 1)})
	}
	for _, idx := range placementOrder(c.Instances) {
		inst := &c.Instances[idx]
		best := -1
		var bestCost [2]int
		for r := range c.Replicasets {
			rs := &c.Replicasets[r]
			if len(rs.Members) == rf {
				continue
			}
			cost := [2]int{c.conflicts(inst.Domain, rs.Members), len(rs.Members)}
			if best < 0 || cost[0] < bestCost[0] || (cost[0] == bestCost[0] && cost[1] < bestCost[1]) {
				best, bestCost = r, cost
			}
		}
		rs := &c.Replicasets[best]
		rs.Members = append(rs.Members, inst.Name)
		inst.Replicaset = rs.Name
	}
	for r := range c.Replicasets {
		slices.SortFunc(c.Replicasets[r].Members, func(a, b env.NodeID) int { return c.byName(a).compare(c.byName(b)) })
	}
	c.Voters = c.chooseVoters()
	for b := range spec.Buckets {
		c.Buckets = append(c.Buckets, c.Replicasets[b%k].Name)
	}
	if spec.Model != nil {
		m, err := parseProposed(string(spec.Model))
		if err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
		c.Models = []ModelRevision{{Revision: 1, Source: string(spec.Model), Digest: m.Digest()}}
	}
	if spec.Pipeline != nil {
		if err := c.setPipeline(string(spec.Pipeline)); err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(spec.Settings)) {
		if err := c.Apply(SetSetting(k, spec.Settings[k])); err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
	}
	return c, nil
}

func (i *Instance) compare(o *Instance) int { return cmp.Compare(i.RaftID, o.RaftID) }

// placementOrder places the most constrained instances first: those that
// share failure-domain values with the most others, then in Raft ID order.
func placementOrder(insts []Instance) []int {
	shared := make([]int, len(insts))
	for i := range insts {
		for j := range insts {
			if i != j {
				shared[i] += insts[i].Domain.shared(insts[j].Domain)
			}
		}
	}
	order := make([]int, len(insts))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return shared[b] - shared[a] })
	return order
}

// conflicts counts the failure-domain values d shares with the named
// instances.
func (c *Config) conflicts(d Domain, names []env.NodeID) int {
	n := 0
	for _, name := range names {
		n += d.shared(c.byName(name).Domain)
	}
	return n
}

// chooseVoters picks VoterCount of the online instances (pickVoters).
func (c *Config) chooseVoters() []env.NodeID {
	var online []*Instance
	for i := range c.Instances {
		if c.Instances[i].State == Online {
			online = append(online, &c.Instances[i])
		}
	}
	return c.pickVoters(nil, online, VoterCount(len(online)))
}

// pickVoters adds candidates to the voters chosen until there are want
// or no candidate is left, one at a time: each time the one sharing the
// fewest failure-domain values with the voters chosen, then the one
// whose replicaset has the fewest voters, then the lowest Raft ID. The
// result is sorted by Raft ID.
func (c *Config) pickVoters(chosen []env.NodeID, candidates []*Instance, want int) []env.NodeID {
	voters := slices.Clone(chosen)
	perRS := map[string]int{}
	for _, v := range voters {
		perRS[c.byName(v).Replicaset]++
	}
	for len(voters) < want {
		var best *Instance
		var bestCost [2]int
		for _, inst := range candidates {
			if slices.Contains(voters, inst.Name) {
				continue
			}
			cost := [2]int{c.conflicts(inst.Domain, voters), perRS[inst.Replicaset]}
			if best == nil || cost[0] < bestCost[0] || (cost[0] == bestCost[0] && cost[1] < bestCost[1]) {
				best, bestCost = inst, cost
			}
		}
		if best == nil {
			break
		}
		perRS[best.Replicaset]++
		voters = append(voters, best.Name)
	}
	slices.SortFunc(voters, func(a, b env.NodeID) int { return c.byName(a).compare(c.byName(b)) })
	return voters
}

// byName returns the named instance, or nil.
func (c *Config) byName(name env.NodeID) *Instance {
	for i := range c.Instances {
		if c.Instances[i].Name == name {
			return &c.Instances[i]
		}
	}
	return nil
}

// Instance returns the named instance.
func (c *Config) Instance(name env.NodeID) (Instance, bool) {
	if i := c.byName(name); i != nil {
		return *i, true
	}
	return Instance{}, false
}

// ByRaftID returns the instance with the given Raft ID.
func (c *Config) ByRaftID(id uint64) (Instance, bool) {
	for _, inst := range c.Instances {
		if inst.RaftID == id {
			return inst, true
		}
	}
	return Instance{}, false
}

// Replicaset returns the named replicaset.
func (c *Config) Replicaset(name string) (Replicaset, bool) {
	for _, rs := range c.Replicasets {
		if rs.Name == name {
			return rs, true
		}
	}
	return Replicaset{}, false
}

// GroupName names a Raft group: "config" for group 0, else its
// replicaset's name.
func (c *Config) GroupName(group uint64) string {
	if group == ConfigGroup {
		return "config"
	}
	for _, rs := range c.Replicasets {
		if rs.Group == group {
			return rs.Name
		}
	}
	return fmt.Sprintf("group%d", group)
}

// RaftIDs returns the Raft IDs of the named instances.
func (c *Config) RaftIDs(names []env.NodeID) []uint64 {
	ids := make([]uint64, 0, len(names))
	for _, n := range names {
		ids = append(ids, c.byName(n).RaftID)
	}
	return ids
}

// Learners are the instances of group 0 that do not vote: every other
// instance that is not expelled.
func (c *Config) Learners() []env.NodeID {
	var out []env.NodeID
	for _, inst := range c.Instances {
		if inst.State != Expelled && !slices.Contains(c.Voters, inst.Name) {
			out = append(out, inst.Name)
		}
	}
	return out
}

// Membership is the Raft membership a group should have under this
// configuration: group 0's voters and every other instance as a learner;
// a replicaset's members as voters.
func (c *Config) Membership(group uint64) (voters, learners []uint64) {
	if group == ConfigGroup {
		return c.RaftIDs(c.Voters), c.RaftIDs(c.Learners())
	}
	for _, rs := range c.Replicasets {
		if rs.Group == group {
			return c.RaftIDs(rs.Members), nil
		}
	}
	return nil, nil
}

// Encode is the configuration's canonical encoding: group 0's snapshot.
func (c *Config) Encode() []byte {
	b, err := json.Marshal(c)
	if err != nil {
		panic(fmt.Sprintf("cluster: encoding the configuration: %v", err))
	}
	return b
}

// Decode reads a configuration written by Encode.
func Decode(b []byte) (*Config, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("cluster: decoding the configuration: %w", err)
	}
	if c.Settings == nil {
		c.Settings = map[string]string{}
	}
	for i := range c.Instances {
		if c.Instances[i].Target == "" {
			c.Instances[i].Target = c.Instances[i].State
		}
	}
	if err := c.consistent(); err != nil {
		return nil, fmt.Errorf("cluster: decoding the configuration: %w", err)
	}
	return &c, nil
}
