package cluster

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/shoaldb/shoal/core/env"
)

// ReplicaFactor is how many members make a replicaset complete: the
// factor the cluster was bootstrapped with, or, for a configuration
// encoded before it was kept, the size of its largest replicaset.
func (c *Config) ReplicaFactor() int {
	if c.ReplicationFactor > 0 {
		return c.ReplicationFactor
	}
	rf := 1
	for _, rs := range c.Replicasets {
		rf = max(rf, len(rs.Members))
	}
	return rf
}

// Complete reports whether a replicaset has as many members as the
// replication factor asks: only a complete replicaset is given buckets.
func (c *Config) Complete(rs Replicaset) bool { return len(rs.Members) >= c.ReplicaFactor() }

// join adds an instance with the next Raft ID, online, as a learner of
// group 0, to the replicaset it is placed in (place), recording the
// action's id. Buckets do not move here: a new replicaset receives some
// once it is complete (rebalance). The join of an instance the cluster
// admitted under the same id succeeds again and changes nothing: the
// instance asks again when it crashed before it recorded its admission.
func (c *Config) join(id string, name env.NodeID, d Domain) error {
	if name == "" {
		return fmt.Errorf("join: the instance has no name")
	}
	if in := c.byName(name); in != nil {
		if in.State == Expelled || in.Target == Expelled {
			return fmt.Errorf("join: %s was expelled from the cluster, and its name is not given again: join under another name", name)
		}
		if id != "" && in.Joined == id {
			return nil
		}
		return fmt.Errorf("join: %s is already an instance of the cluster", name)
	}
	if len(c.Replicasets) == 0 {
		return fmt.Errorf("join: the cluster has no replicaset")
	}
	var raftID uint64
	for _, in := range c.Instances {
		raftID = max(raftID, in.RaftID)
	}
	rs := c.place(name, d)
	c.Instances = append(c.Instances, Instance{Name: name, RaftID: raftID + 1, Domain: d, Replicaset: rs.Name,
		State: Online, Target: Online, Reason: "joined", Joined: id})
	rs.Members = append(rs.Members, name)
	return nil
}

// place chooses the replicaset a joining instance becomes a member of:
// among those that lack members, the one sharing the fewest
// failure-domain values with d (counting only the keys on which the
// cluster has enough distinct values to keep a replicaset apart: a value
// every instance shares is no conflict), then the one with the most
// members (the nearest to complete, and so to taking buckets), then the
// first. A new replicaset, founded by the instance, is formed when none
// lacks members, or when every one that does holds an instance sharing
// a value with d where a new one would not. A replicaset left empty by
// expulsions is founded again, under a new group: its old group's log
// belongs to instances that left.
func (c *Config) place(name env.NodeID, d Domain) *Replicaset {
	rf := c.ReplicaFactor()
	spread := c.spreadKeys(d)
	conflicts := func(members []env.NodeID) int {
		n := 0
		for _, m := range members {
			o := c.byName(m).Domain
			for _, k := range spread {
				if v, ok := o[k]; ok && v == d[k] {
					n++
				}
			}
		}
		return n
	}
	best := -1
	var bestCost [2]int
	for r, rs := range c.Replicasets {
		if len(rs.Members) >= rf {
			continue
		}
		cost := [2]int{conflicts(rs.Members), -len(rs.Members)}
		if best < 0 || cost[0] < bestCost[0] || (cost[0] == bestCost[0] && cost[1] < bestCost[1]) {
			best, bestCost = r, cost
		}
	}
	var group uint64
	for _, rs := range c.Replicasets {
		group = max(group, rs.Group)
	}
	if best >= 0 && bestCost[0] == 0 {
		rs := &c.Replicasets[best]
		if len(rs.Members) == 0 {
			rs.Group, rs.Initial = group+1, name
		}
		return rs
	}
	c.Replicasets = append(c.Replicasets, Replicaset{Name: c.newReplicasetName(), Group: group + 1, Initial: name})
	return &c.Replicasets[len(c.Replicasets)-1]
}

// newReplicasetName is rsK for the first K no replicaset has.
func (c *Config) newReplicasetName() string {
	for k := len(c.Replicasets) + 1; ; k++ {
		name := fmt.Sprintf("rs%d", k)
		if _, taken := c.Replicaset(name); !taken {
			return name
		}
	}
}

// spreadKeys are the failure-domain keys of d on which the instances
// that stay (d's among them) have at least as many distinct values as a
// replicaset has members: only on those can a replicaset's members all
// differ, so only there is a shared value avoidable. Sorted.
func (c *Config) spreadKeys(d Domain) []string {
	var keys []string
	for _, k := range slices.Sorted(maps.Keys(d)) {
		values := map[string]bool{d[k]: true}
		for _, in := range c.Instances {
			if v, ok := in.Domain[k]; ok && in.Target != Expelled {
				values[v] = true
			}
		}
		if len(values) >= c.ReplicaFactor() {
			keys = append(keys, k)
		}
	}
	return keys
}

// setTarget applies offline and online: the target state an operator or
// the governor asks for. An instance expelled, or being expelled, stays
// so.
func (c *Config) setTarget(name env.NodeID, target State, reason string) error {
	in := c.byName(name)
	switch {
	case in == nil:
		return fmt.Errorf("%s: no instance named %q", target, name)
	case in.Target == Expelled:
		return fmt.Errorf("%s: %s is expelled", target, name)
	}
	in.Target, in.Reason = target, reason
	return nil
}

// expel applies expel. An online instance is expelled only with force:
// an operator expels an instance that is gone, and forcing one that is
// running away is a decision of its own. The last member of a replicaset
// that owns buckets is not expelled: its data would go with it.
func (c *Config) expel(name env.NodeID, force bool) error {
	in := c.byName(name)
	switch {
	case in == nil:
		return fmt.Errorf("expel: no instance named %q", name)
	case in.Target == Expelled:
		return fmt.Errorf("expel: %s is already expelled", name)
	case in.State == Online && in.Target == Online && !force:
		return fmt.Errorf("expel: %s is online: expel an instance once it is offline, or force it", name)
	}
	left, healthy := 0, 0
	for _, o := range c.Instances {
		if o.Name != name && o.Target != Expelled {
			left++
			if o.State == Online && o.Target == Online {
				healthy++
			}
		}
	}
	switch {
	case left == 0:
		return fmt.Errorf("expel: %s is the last instance of the cluster", name)
	case healthy == 0:
		return fmt.Errorf("expel: no other instance is online to take over group 0's vote")
	}
	rs, _ := c.Replicaset(in.Replicaset)
	staying := 0
	for _, m := range rs.Members {
		if o := c.byName(m); m != name && o.Target != Expelled {
			staying++
		}
	}
	if staying == 0 && slices.Contains(c.Buckets, rs.Name) {
		return fmt.Errorf("expel: %s is the last member of %s, which owns buckets: its data would be lost", name, rs.Name)
	}
	in.Target, in.Reason = Expelled, "expelled by an operator"
	if force && in.State == Online {
		in.Reason = "expelled by an operator, online (forced)"
	}
	return nil
}

// setState applies state, a governor's step: the instance's current state
// becomes its target. An instance reaches expelled once it no longer
// votes in group 0; it then leaves its replicaset.
func (c *Config) setState(name env.NodeID, s State) error {
	in := c.byName(name)
	switch {
	case in == nil:
		return fmt.Errorf("state: no instance named %q", name)
	case s != in.Target:
		return fmt.Errorf("state: %s is headed for %s, not %s", name, in.Target, s)
	case in.State == Expelled:
		return fmt.Errorf("state: %s is expelled", name)
	case s == Expelled && slices.Contains(c.Voters, name):
		return fmt.Errorf("state: %s still votes in group 0", name)
	}
	in.State = s
	if s == Expelled {
		for r := range c.Replicasets {
			rs := &c.Replicasets[r]
			rs.Members = slices.DeleteFunc(rs.Members, func(m env.NodeID) bool { return m == name })
		}
	}
	return nil
}

// setVoters applies voters, a governor's step: group 0's voters change by
// one instance, added or removed, which Raft can apply as one change. No
// instance headed anywhere but online is added.
func (c *Config) setVoters(voters []env.NodeID) error {
	for i, v := range voters {
		in := c.byName(v)
		switch {
		case in == nil:
			return fmt.Errorf("voters: no instance named %q", v)
		case slices.Contains(voters[:i], v):
			return fmt.Errorf("voters: %s is named twice", v)
		case in.State == Expelled:
			return fmt.Errorf("voters: %s is expelled", v)
		case !slices.Contains(c.Voters, v) && (in.Target != Online || in.State != Online):
			return fmt.Errorf("voters: %s is %s, headed for %s: only an online instance becomes a voter", v, in.State, in.Target)
		}
	}
	added, removed := 0, 0
	for _, v := range voters {
		if !slices.Contains(c.Voters, v) {
			added++
		}
	}
	for _, v := range c.Voters {
		if !slices.Contains(voters, v) {
			removed++
		}
	}
	switch {
	case len(voters) == 0:
		return fmt.Errorf("voters: group 0 needs a voter")
	case added+removed != 1:
		return fmt.Errorf("voters: %s differs from %s by %d instances, not one", env.Join(voters), env.Join(c.Voters), added+removed)
	}
	c.Voters = slices.Clone(voters)
	slices.SortFunc(c.Voters, func(a, b env.NodeID) int { return c.byName(a).compare(c.byName(b)) })
	return nil
}

// OfflineAfter is the setting that says how long the governor waits
// without hearing from an instance before it marks it offline, as a
// duration (DefaultOfflineAfter when unset).
const OfflineAfter = "governor.offline_after"

// DefaultOfflineAfter is OfflineAfter's value when it is not set.
const DefaultOfflineAfter = 10 * time.Second

// OfflineAfterSetting reads OfflineAfter.
func (c *Config) OfflineAfterSetting() time.Duration {
	if d, err := parseOfflineAfter(c.Settings[OfflineAfter]); err == nil && d > 0 {
		return d
	}
	return DefaultOfflineAfter
}

func parseOfflineAfter(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d < time.Second || d > 24*time.Hour {
		return 0, fmt.Errorf("must be a duration from 1s to 24h")
	}
	return d, nil
}

// checkGovernorSetting checks a governor.* setting; other keys pass.
func checkGovernorSetting(key, value string) error {
	switch {
	case key == OfflineAfter:
		if _, err := parseOfflineAfter(value); err != nil {
			return fmt.Errorf("set %s=%q: %w", key, value, err)
		}
	case strings.HasPrefix(key, "governor."):
		return fmt.Errorf("set: no governor setting is named %q (there is %s)", key, OfflineAfter)
	}
	return nil
}

// consistent checks that the configuration's names refer to what it
// holds: distinct instances with distinct Raft IDs, replicasets whose
// members are instances, voters that are instances, buckets owned by
// replicasets. Decode refuses a configuration that fails it.
func (c *Config) consistent() error {
	ids := map[uint64]bool{}
	names := map[env.NodeID]bool{}
	for _, in := range c.Instances {
		switch {
		case in.Name == "" || names[in.Name]:
			return fmt.Errorf("instance %q is unnamed or named twice", in.Name)
		case in.RaftID == 0 || ids[in.RaftID]:
			return fmt.Errorf("instance %s: Raft ID %d is zero or given twice", in.Name, in.RaftID)
		}
		names[in.Name], ids[in.RaftID] = true, true
	}
	for _, in := range c.Instances {
		if _, ok := c.Replicaset(in.Replicaset); !ok && in.Replicaset != "" {
			return fmt.Errorf("instance %s: no replicaset is named %q", in.Name, in.Replicaset)
		}
	}
	for _, rs := range c.Replicasets {
		for _, m := range rs.Members {
			if !names[m] {
				return fmt.Errorf("replicaset %s: member %q is no instance", rs.Name, m)
			}
		}
	}
	for _, v := range c.Voters {
		if !names[v] {
			return fmt.Errorf("voter %q is no instance", v)
		}
	}
	for b, rs := range c.Buckets {
		if _, ok := c.Replicaset(rs); !ok {
			return fmt.Errorf("bucket %d: no replicaset is named %q", b, rs)
		}
	}
	return c.consistentMoves()
}
