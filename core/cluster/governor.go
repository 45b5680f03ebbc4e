package cluster

import (
	"slices"

	"github.com/shoaldb/shoal/core/env"
)

// Health is what group 0's leader knows of the instances when it governs.
type Health struct {
	// Reachable reports whether the leader heard from the instance
	// within OfflineAfter.
	Reachable func(env.NodeID) bool
	// Unreachable is the reason recorded for an instance marked offline
	// for want of it ("not heard from for 10s").
	Unreachable string
	// Settled reports that group 0's Raft membership is what the
	// configuration says (Membership): the last voter change is done.
	Settled bool
}

// Govern is the governor's next step, if one is due: the one command
// that moves the configuration closer to its targets. The governor runs
// on group 0's leader and proposes one step at a time, asking again once
// it is applied; every replica applies the steps alike, so the decision
// may rest on what only the leader knows (who it hears from). In order:
//
//  1. Targets follow health: an instance headed online that the leader
//     does not hear from is headed offline, and back once it hears from
//     it again.
//  2. Once Raft follows the last voter change, group 0's voters move one
//     instance at a time towards the wanted set (Voters).
//  3. An instance's current state becomes its target; an instance headed
//     for expelled gets there once it no longer votes.
//  4. Buckets move towards an even distribution (RebalanceStep).
func (c *Config) Govern(h Health) (Command, bool) {
	for _, in := range c.Instances {
		switch reachable := h.Reachable(in.Name); {
		case in.Target == Online && !reachable:
			return MarkOffline(in.Name, h.Unreachable), true
		case in.Target == Offline && reachable:
			return MarkOnline(in.Name, "heard from again"), true
		}
	}
	if !h.Settled {
		return Command{}, false
	}
	if want := c.WantedVoters(); len(want) > 0 && !sameNames(want, c.Voters) {
		return SetVoters(c.voterStep(want)), true
	}
	for _, in := range c.Instances {
		if in.State != in.Target && !(in.Target == Expelled && slices.Contains(c.Voters, in.Name)) {
			return SetState(in.Name, in.Target), true
		}
	}
	return c.RebalanceStep()
}

// WantedVoters is the set of voters group 0 should have: VoterCount of
// the instances not headed for expulsion (3 or 5 once there are enough),
// kept where they are while they are healthy (online, headed online),
// the rest chosen among the healthy learners across failure domains
// (pickVoters), and, only when too few are healthy, voters that are not.
// An instance being expelled never votes.
func (c *Config) WantedVoters() []env.NodeID {
	var staying, healthy []*Instance
	for i := range c.Instances {
		in := &c.Instances[i]
		if in.Target == Expelled || in.State == Expelled {
			continue
		}
		staying = append(staying, in)
		if in.State == Online && in.Target == Online {
			healthy = append(healthy, in)
		}
	}
	want := VoterCount(len(staying))
	// The healthy voters stay, as many as are wanted, chosen across
	// failure domains when some must go.
	var current []*Instance
	for _, in := range healthy {
		if slices.Contains(c.Voters, in.Name) {
			current = append(current, in)
		}
	}
	keep := c.pickVoters(nil, current, want)
	voters := c.pickVoters(keep, healthy, want)
	var unhealthy []*Instance
	for _, in := range staying {
		if slices.Contains(c.Voters, in.Name) && !slices.Contains(voters, in.Name) {
			unhealthy = append(unhealthy, in)
		}
	}
	return c.pickVoters(voters, unhealthy, want)
}

// voterStep is the voters one change from the current ones towards want.
// Unless group 0 would grow, a voter that should go goes first, one that
// is not healthy (or is being expelled) before one that is: a replaced
// voter is usually one that does not answer, and dropping it first
// shrinks the quorum without losing a vote that answers, where adding
// its successor first would need every other voter. A lone voter is
// never removed before its successor comes.
func (c *Config) voterStep(want []env.NodeID) []env.NodeID {
	var leaving []env.NodeID
	for _, v := range c.Voters {
		if !slices.Contains(want, v) {
			leaving = append(leaving, v)
		}
	}
	slices.SortStableFunc(leaving, func(a, b env.NodeID) int {
		healthy := func(n env.NodeID) int {
			if in := c.byName(n); in.State == Online && in.Target == Online {
				return 1
			}
			return 0
		}
		return healthy(a) - healthy(b)
	})
	without := func(v env.NodeID) []env.NodeID {
		return slices.DeleteFunc(slices.Clone(c.Voters), func(x env.NodeID) bool { return x == v })
	}
	if len(leaving) > 0 && len(c.Voters) >= len(want) && len(c.Voters) > 1 {
		return without(leaving[0])
	}
	for _, v := range want {
		if !slices.Contains(c.Voters, v) {
			next := append(slices.Clone(c.Voters), v)
			slices.SortFunc(next, func(a, b env.NodeID) int { return c.byName(a).compare(c.byName(b)) })
			return next
		}
	}
	return without(leaving[0])
}

// sameNames reports whether a and b name the same instances, in any
// order.
func sameNames(a, b []env.NodeID) bool {
	if len(a) != len(b) {
		return false
	}
	for _, n := range a {
		if !slices.Contains(b, n) {
			return false
		}
	}
	return true
}
