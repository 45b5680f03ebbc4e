package cluster

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/core/env"
)

// govern runs the governor to its fixed point, as group 0's leader would
// (every step applied, Raft following every voter change at once), with
// the instances named in down unreachable, and returns the steps.
func govern(t *testing.T, c *Config, down ...env.NodeID) []string {
	t.Helper()
	var steps []string
	h := Health{Reachable: func(n env.NodeID) bool { return !slices.Contains(down, n) }, Unreachable: "not heard from", Settled: true}
	for range 100 {
		cmd, ok := c.Govern(h)
		if !ok {
			return steps
		}
		if err := c.Apply(cmd); err != nil {
			t.Fatalf("after %v, the governor's step %+v does not apply: %v", steps, cmd, err)
		}
		s := cmd.Op + " " + string(cmd.Instance)
		switch cmd.Op {
		case "state":
			s += " " + string(cmd.State)
		case "voters":
			s += join(cmd.Voters)
		}
		steps = append(steps, s)
	}
	t.Fatalf("the governor did not settle in 100 steps: %v", steps)
	return nil
}

func applyAll(t *testing.T, c *Config, cmds ...Command) {
	t.Helper()
	for _, cmd := range cmds {
		if err := c.Apply(cmd); err != nil {
			t.Fatalf("%+v: %v", cmd, err)
		}
	}
}

func members(c *Config) string {
	var s []string
	for _, rs := range c.Replicasets {
		s = append(s, rs.Name+":"+join(rs.Members))
	}
	return strings.Join(s, " ")
}

func TestJoinFormsReplicasets(t *testing.T) {
	c, err := Bootstrap(spec(3, 8, "a", "b", "c"))
	if err != nil {
		t.Fatal(err)
	}
	applyAll(t, c, Join("n4", Domain{"zone": "a"}), Join("n5", Domain{"zone": "b"}))
	if got, want := members(c), "rs1:n1,n2,n3 rs2:n4,n5"; got != want {
		t.Fatalf("replicasets %s, want %s", got, want)
	}
	if rs, _ := c.Replicaset("rs2"); rs.Initial != "n4" || rs.Group != 2 || c.Complete(rs) {
		t.Fatalf("rs2 = %+v: want group 2, founded by n4, not complete", rs)
	}
	// A second zone-a instance would share rs2's zone; a new replicaset
	// avoids that, and the next zone-c one completes rs2.
	applyAll(t, c, Join("n6", Domain{"zone": "a"}), Join("n7", Domain{"zone": "c"}))
	if got, want := members(c), "rs1:n1,n2,n3 rs2:n4,n5,n7 rs3:n6"; got != want {
		t.Fatalf("replicasets %s, want %s", got, want)
	}
	if rs, _ := c.Replicaset("rs2"); !c.Complete(rs) {
		t.Fatal("rs2 has three members and is not complete")
	}
	if in, _ := c.Instance("n7"); in.RaftID != 7 || in.State != Online || in.Target != Online {
		t.Fatalf("n7 = %+v", in)
	}
	// Buckets stay where they were: a join adds no data.
	for b, rs := range c.Buckets {
		if rs != "rs1" {
			t.Fatalf("bucket %d moved to %s on a join", b, rs)
		}
	}
	// Voters grow to five across the zones.
	govern(t, c)
	if got, want := join(c.Voters), "n1,n2,n3,n4,n5"; got != want {
		t.Fatalf("voters %s, want %s", got, want)
	}
	if err := c.Apply(Join("n2", nil)); err == nil || !strings.Contains(err.Error(), "already an instance") {
		t.Fatalf("a second join of n2: %v", err)
	}
}

// A join asked again under the same action ID, long after it applied (an
// instance that crashed before it recorded its admission), is admitted
// again and changes nothing; under another ID it is refused.
func TestJoinAskedAgain(t *testing.T) {
	c, err := Bootstrap(spec(3, 8, "a", "b", "c"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ApplyAction("join-n4-1", Join("n4", Domain{"zone": "a"})); err != nil {
		t.Fatal(err)
	}
	for i := range RecentActions {
		if err := c.ApplyAction(fmt.Sprintf("other-%d", i), Command{Op: "set", Key: "governor.offline_after", Value: "20s"}); err != nil {
			t.Fatal(err)
		}
	}
	before := slices.Clone(c.Instances)
	if err := c.ApplyAction("join-n4-1", Join("n4", Domain{"zone": "a"})); err != nil {
		t.Fatalf("the same join again: %v", err)
	}
	if !reflect.DeepEqual(c.Instances, before) || members(c) != "rs1:n1,n2,n3 rs2:n4" {
		t.Fatalf("the same join again changed the instances: %s", members(c))
	}
	if in, _ := c.Instance("n4"); in.Joined != "join-n4-1" {
		t.Fatalf("n4 = %+v", in)
	}
	if err := c.ApplyAction("join-n4-2", Join("n4", nil)); err == nil || !strings.Contains(err.Error(), "already an instance") {
		t.Fatalf("a join of n4 under another ID: %v", err)
	}
}

func TestJoinPlacesWhenAllShareADomain(t *testing.T) {
	// Every replicaset lacking members is new and empty of n4's zone:
	// joins fill the incomplete one first.
	c, err := Bootstrap(spec(2, 4, "a", "b"))
	if err != nil {
		t.Fatal(err)
	}
	applyAll(t, c, Join("n3", nil), Join("n4", nil), Join("n5", nil))
	if got, want := members(c), "rs1:n1,n2 rs2:n3,n4 rs3:n5"; got != want {
		t.Fatalf("replicasets %s, want %s", got, want)
	}
}

// Five voters, two of them lost: the governor marks them offline,
// replaces them with the two healthy learners, one change at a time,
// never leaving fewer than three voters; when they come back they are
// online learners.
func TestLoseTwoOfFiveVoters(t *testing.T) {
	c, err := Bootstrap(spec(1, 8, "a", "b", "c", "d", "e", "f", "g"))
	if err != nil {
		t.Fatal(err)
	}
	if got := join(c.Voters); got != "n1,n2,n3,n4,n5" {
		t.Fatalf("voters %s", got)
	}
	steps := govern(t, c, "n2", "n4")
	want := []string{"offline n2", "offline n4", "voters n1,n3,n4,n5", "voters n1,n3,n4,n5,n6", "voters n1,n3,n5,n6",
		"voters n1,n3,n5,n6,n7", "state n2 offline", "state n4 offline"}
	if !slices.Equal(steps, want) {
		t.Fatalf("steps\n %v\nwant\n %v", steps, want)
	}
	if in, _ := c.Instance("n2"); in.Reason != "not heard from" {
		t.Fatalf("n2's reason is %q", in.Reason)
	}
	steps = govern(t, c)
	if want := []string{"online n2", "online n4", "state n2 online", "state n4 online"}; !slices.Equal(steps, want) {
		t.Fatalf("after the return: %v, want %v", steps, want)
	}
}

// Three voters, no learner: a lost voter stays a voter (nothing healthy
// replaces it), but it is marked offline.
func TestNoLearnerToReplaceAVoter(t *testing.T) {
	c, err := Bootstrap(spec(3, 8, "a", "b", "c"))
	if err != nil {
		t.Fatal(err)
	}
	if steps := govern(t, c, "n3"); !slices.Equal(steps, []string{"offline n3", "state n3 offline"}) {
		t.Fatalf("steps %v", steps)
	}
	if got := join(c.Voters); got != "n1,n2,n3" {
		t.Fatalf("voters %s", got)
	}
}

func TestExpel(t *testing.T) {
	c, err := Bootstrap(spec(3, 8, "a", "b", "c", "a", "b", "c"))
	if err != nil {
		t.Fatal(err)
	}
	applyAll(t, c, Join("n7", Domain{"zone": "c"}))
	govern(t, c)
	if got := join(c.Voters); got != "n1,n2,n3,n4,n5" {
		t.Fatalf("voters %s", got)
	}
	if err := c.Apply(Expel("n2", false)); err == nil || !strings.Contains(err.Error(), "is online") {
		t.Fatalf("expelling an online instance without force: %v", err)
	}
	// n2 goes away; the governor marks it offline, and the operator
	// expels it: it stops voting (n7 takes its place), then leaves rs.
	steps := govern(t, c, "n2")
	if want := []string{"offline n2", "voters n1,n3,n4,n5", "voters n1,n3,n4,n5,n7", "state n2 offline"}; !slices.Equal(steps, want) {
		t.Fatalf("steps %v, want %v", steps, want)
	}
	applyAll(t, c, Expel("n2", false))
	if steps := govern(t, c, "n2"); !slices.Equal(steps, []string{"state n2 expelled"}) {
		t.Fatalf("steps %v", steps)
	}
	in, _ := c.Instance("n2")
	if in.State != Expelled || slices.Contains(c.Learners(), "n2") || strings.Contains(members(c), "n2") {
		t.Fatalf("n2 = %+v, learners %v, replicasets %s", in, c.Learners(), members(c))
	}
	// Expelled stays expelled: not online again, no rejoin by name.
	for _, cmd := range []Command{MarkOnline("n2", "back"), Expel("n2", true), Join("n2", nil), SetVoters([]env.NodeID{"n1", "n2", "n3", "n4", "n5", "n6"})} {
		if err := c.Apply(cmd); err == nil {
			t.Errorf("%+v applied to an expelled instance", cmd)
		}
	}
	// A forced expel of an online voter; then the next join fills the
	// replicaset it left.
	applyAll(t, c, Expel("n5", true))
	govern(t, c)
	if got := join(c.Voters); got != "n1,n3,n4,n6,n7" {
		t.Fatalf("voters %s", got)
	}
	applyAll(t, c, Join("n8", Domain{"zone": "b"}))
	if got, want := members(c), "rs1:n1,n3,n8 rs2:n4,n6 rs3:n7"; got != want {
		t.Fatalf("replicasets %s, want %s", got, want)
	}
}

func TestExpelRefusals(t *testing.T) {
	c, err := Bootstrap(spec(1, 4, "", ""))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Apply(Expel("n1", true)); err == nil || !strings.Contains(err.Error(), "owns buckets") {
		t.Fatalf("expelling the last member of a replicaset with buckets: %v", err)
	}
	if err := c.Apply(Expel("n9", true)); err == nil || !strings.Contains(err.Error(), "no instance") {
		t.Fatalf("expelling no one: %v", err)
	}
	// A step that is not the target, and a voter change of two.
	for _, cmd := range []Command{SetState("n1", Offline), SetVoters([]env.NodeID{}), SetVoters([]env.NodeID{"n1", "n1"})} {
		if err := c.Apply(cmd); err == nil {
			t.Errorf("%+v applied", cmd)
		}
	}
}

// The governor changes no voter while Raft has not followed the last
// change.
func TestGovernWaitsForRaft(t *testing.T) {
	c, err := Bootstrap(spec(1, 8, "a", "b", "c", "d", "e", "f"))
	if err != nil {
		t.Fatal(err)
	}
	applyAll(t, c, MarkOffline("n1", "gone"))
	if cmd, ok := c.Govern(Health{Reachable: func(n env.NodeID) bool { return n != "n1" }}); ok {
		t.Fatalf("unsettled, the governor proposed %+v", cmd)
	}
}

func TestGovernorSetting(t *testing.T) {
	c, _ := Bootstrap(spec(1, 4, ""))
	if c.OfflineAfterSetting() != DefaultOfflineAfter {
		t.Fatal("default")
	}
	applyAll(t, c, SetSetting(OfflineAfter, "3s"))
	if c.OfflineAfterSetting().String() != "3s" {
		t.Fatalf("got %s", c.OfflineAfterSetting())
	}
	for _, bad := range []Command{SetSetting(OfflineAfter, "soon"), SetSetting(OfflineAfter, "1ms"), SetSetting("governor.speed", "1")} {
		if err := c.Apply(bad); err == nil {
			t.Errorf("%+v applied", bad)
		}
	}
}

func TestDecodeRefusesDanglingNames(t *testing.T) {
	c, _ := Bootstrap(spec(3, 4, "", "", ""))
	good := string(c.Encode())
	for _, bad := range []string{
		strings.Replace(good, `"voters":["n1"`, `"voters":["n9"`, 1),
		strings.Replace(good, `"buckets":["rs1"`, `"buckets":["rs7"`, 1),
		strings.Replace(good, `"raft_id":2`, `"raft_id":1`, 1),
	} {
		if bad == good {
			t.Fatal("the test's replacement did not apply")
		}
		if _, err := Decode([]byte(bad)); err == nil {
			t.Errorf("Decode accepted %s", bad)
		}
	}
}
