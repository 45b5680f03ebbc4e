package cluster

import (
	"fmt"
	"slices"
	"testing"

	"github.com/shoaldb/shoal/core/env"
	"pgregory.net/rapid"
)

// A value every instance shares, or a key with fewer values than a
// replicaset has members, is no reason to found a replicaset: the joins
// fill the one that lacks members.
func TestJoinsWithUnavoidableSharedValues(t *testing.T) {
	s := spec(3, 8, "a", "b", "c")
	for i := range s.Instances {
		s.Instances[i].Domain["region"] = "eu"
	}
	c, err := Bootstrap(s)
	if err != nil {
		t.Fatal(err)
	}
	for i, z := range []string{"a", "b", "c"} {
		applyAll(t, c, Join(env.NodeID(fmt.Sprint("n", i+4)), Domain{"region": "eu", "zone": z}))
	}
	if got, want := members(c), "rs1:n1,n2,n3 rs2:n4,n5,n6"; got != want {
		t.Errorf("three joins in zones a, b, c of one region: %s, want %s", got, want)
	}
	// Two zones, three members a replicaset: a shared zone is unavoidable.
	c, err = Bootstrap(spec(3, 8, "a", "b", "a"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 4; i <= 9; i++ {
		applyAll(t, c, Join(env.NodeID(fmt.Sprint("n", i)), Domain{"zone": string(rune('a' + i%2))}))
	}
	if got, want := members(c), "rs1:n1,n2,n3 rs2:n4,n5,n6 rs3:n7,n8,n9"; got != want {
		t.Errorf("six joins over two zones: %s, want %s", got, want)
	}
}

// Expelling a voter of five that is gone: the first step drops it, not a
// healthy voter.
func TestVoterStepDropsTheUnhealthyFirst(t *testing.T) {
	c, err := Bootstrap(spec(5, 8, "a", "b", "c", "d", "e"))
	if err != nil {
		t.Fatal(err)
	}
	govern(t, c, "n5")
	applyAll(t, c, Expel("n5", false))
	cmd, ok := c.Govern(Health{Reachable: func(n env.NodeID) bool { return n != "n5" }, Settled: true})
	if !ok || cmd.Op != "voters" || join(cmd.Voters) != "n1,n2,n3,n4" {
		t.Fatalf("first step %+v, want voters n1,n2,n3,n4", cmd)
	}
}

// Shrinking from five voters to three keeps them in three zones.
func TestShrinkKeepsDomainsApart(t *testing.T) {
	c, err := Bootstrap(spec(5, 8, "a", "a", "b", "c", "b"))
	if err != nil {
		t.Fatal(err)
	}
	applyAll(t, c, Expel("n5", true))
	govern(t, c)
	zones := map[string]bool{}
	for _, v := range c.Voters {
		in, _ := c.Instance(v)
		zones[in.Domain["zone"]] = true
	}
	if len(c.Voters) != 3 || len(zones) != 3 {
		t.Errorf("voters %v: three voters in zones a, b, c were possible", c.Voters)
	}
}

// A configuration whose voters are out of order (Decode accepts it)
// governs like a sorted one.
func TestUnsortedVoters(t *testing.T) {
	c, _ := Bootstrap(spec(3, 4, "", "", ""))
	c.Voters = []env.NodeID{"n2", "n1", "n3"}
	back, err := Decode(c.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if cmd, ok := back.Govern(Health{Reachable: func(env.NodeID) bool { return true }, Settled: true}); ok {
		t.Errorf("the governor proposed %+v for voters that only differ in order", cmd)
	}
}

// A replicaset whose founder was expelled before anyone joined it is
// founded again by the next join, under a new group.
func TestEmptiedReplicasetIsFoundedAgain(t *testing.T) {
	c, _ := Bootstrap(spec(3, 8, "a", "b", "c"))
	applyAll(t, c, Join("n4", Domain{"zone": "a"}))
	govern(t, c, "n4")
	applyAll(t, c, Expel("n4", false))
	govern(t, c, "n4")
	applyAll(t, c, Join("n5", Domain{"zone": "b"}))
	rs, _ := c.Replicaset("rs2")
	if rs.Initial != "n5" || rs.Group != 3 || join(rs.Members) != "n5" {
		t.Errorf("rs2 = %+v, want founded by n5 under group 3", rs)
	}
	applyAll(t, c, Join("n6", Domain{"zone": "c"}))
	if rs, ok := c.Replicaset("rs3"); ok {
		t.Errorf("a third replicaset %+v formed while rs2 lacks members", rs)
	}
}

// Whatever joins, expulsions and failures happen, every step the governor
// proposes applies (a step that cannot would be proposed forever), and
// it reaches a fixed point.
func TestGovernStepsApply(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		zones := []string{"a", "b", "c", ""}
		n := rapid.IntRange(1, 6).Draw(t, "instances")
		rf := rapid.IntRange(1, n).Draw(t, "rf")
		if n%rf != 0 {
			n = rf * (n / rf)
		}
		var zs []string
		for range n {
			zs = append(zs, rapid.SampledFrom(zones).Draw(t, "zone"))
		}
		c, err := Bootstrap(spec(rf, 8, zs...))
		if err != nil {
			t.Fatal(err)
		}
		down := map[env.NodeID]bool{}
		next := n + 1
		for range rapid.IntRange(1, 40).Draw(t, "steps") {
			switch rapid.IntRange(0, 3).Draw(t, "action") {
			case 0:
				name := env.NodeID(fmt.Sprint("n", next))
				next++
				if err := c.Apply(Join(name, Domain{"zone": rapid.SampledFrom(zones[:3]).Draw(t, "zone")})); err != nil {
					t.Fatalf("join %s: %v", name, err)
				}
			case 1:
				in := rapid.SampledFrom(c.Instances).Draw(t, "expel")
				_ = c.Apply(Expel(in.Name, rapid.Bool().Draw(t, "force")))
			case 2:
				in := rapid.SampledFrom(c.Instances).Draw(t, "flip")
				down[in.Name] = !down[in.Name]
			}
			h := Health{Reachable: func(x env.NodeID) bool { return !down[x] }, Settled: true, Unreachable: "gone"}
			for i := 0; ; i++ {
				cmd, ok := c.Govern(h)
				if !ok {
					break
				}
				if i > 50 {
					t.Fatalf("the governor did not settle: last step %+v", cmd)
				}
				if err := c.Apply(cmd); err != nil {
					t.Fatalf("the governor's step %+v does not apply: %v", cmd, err)
				}
				if cmd.Op == "voters" && (len(c.Voters) == 0 || len(c.Voters) > 5) {
					t.Fatalf("voters %v", c.Voters)
				}
			}
			if err := c.consistent(); err != nil {
				t.Fatal(err)
			}
			for _, v := range c.Voters {
				if in, _ := c.Instance(v); in.State == Expelled || slices.Contains(c.Learners(), v) {
					t.Fatalf("voter %s is %+v", v, in)
				}
			}
		}
	})
}
