package cluster

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/shoaldb/shoal/core/env"
)

func spec(rf, buckets int, zones ...string) Spec {
	s := Spec{ReplicationFactor: rf, Buckets: buckets}
	for i, z := range zones {
		var d Domain
		if z != "" {
			d = Domain{"zone": z}
		}
		s.Instances = append(s.Instances, InstanceSpec{Name: env.NodeID(fmt.Sprintf("n%d", i+1)), Domain: d})
	}
	return s
}

func TestVoterCount(t *testing.T) {
	for n, want := range []int{0, 1, 2, 3, 3, 5, 5, 5, 5, 5, 5} {
		if got := VoterCount(n); got != want {
			t.Errorf("VoterCount(%d) = %d, want %d", n, got, want)
		}
	}
}

func TestBootstrap(t *testing.T) {
	for _, tc := range []struct {
		name        string
		spec        Spec
		replicasets []string // members, "n1,n2|n3,n4"
		voters      string
	}{
		{"one", spec(1, 4, ""), []string{"n1"}, "n1"},
		{"three, one replicaset", spec(3, 4, "", "", ""), []string{"n1,n2,n3"}, "n1,n2,n3"},
		{"five", spec(5, 4, "", "", "", "", ""), []string{"n1,n2,n3,n4,n5"}, "n1,n2,n3,n4,n5"},
		{"four, rf 2", spec(2, 4, "", "", "", ""), []string{"n1,n3", "n2,n4"}, "n1,n2,n3"},
		// Zones listed in a clustered order still end up one per zone in
		// each replicaset.
		{"six in three zones", spec(3, 4, "a", "a", "b", "b", "c", "c"), []string{"n1,n3,n5", "n2,n4,n6"}, "n1,n2,n3,n4,n5"},
		// Five voters from three zones: two, two and one, spread over the
		// replicasets too.
		{"nine in three zones", spec(3, 4, "a", "a", "a", "b", "b", "b", "c", "c", "c"),
			[]string{"n1,n4,n7", "n2,n5,n8", "n3,n6,n9"}, "n1,n2,n4,n5,n9"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Bootstrap(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for i, rs := range c.Replicasets {
				if rs.Name != fmt.Sprintf("rs%d", i+1) || rs.Group != uint64(i+1) {
					t.Errorf("replicaset %d is %s, group %d", i, rs.Name, rs.Group)
				}
				got = append(got, join(rs.Members))
				for _, m := range rs.Members {
					if inst, _ := c.Instance(m); inst.Replicaset != rs.Name {
						t.Errorf("%s is in %s but says %s", m, rs.Name, inst.Replicaset)
					}
				}
			}
			if !slices.Equal(got, tc.replicasets) {
				t.Errorf("replicasets %v, want %v", got, tc.replicasets)
			}
			if v := join(c.Voters); v != tc.voters {
				t.Errorf("voters %s, want %s", v, tc.voters)
			}
			if len(c.Voters)+len(c.Learners()) != len(c.Instances) {
				t.Errorf("%d voters and %d learners for %d instances", len(c.Voters), len(c.Learners()), len(c.Instances))
			}
			if len(c.Buckets) != tc.spec.Buckets || c.Buckets[0] != "rs1" {
				t.Errorf("buckets %v", c.Buckets)
			}
		})
	}
}

func TestBootstrapRejects(t *testing.T) {
	dup := spec(1, 4, "", "")
	dup.Instances[1].Name = "n1"
	for _, tc := range []struct {
		spec Spec
		want string
	}{
		{Spec{ReplicationFactor: 1, Buckets: 1}, "no instances"},
		{spec(0, 4, ""), "replication factor 0"},
		{spec(2, 4, "", "", ""), "3 instances are not a multiple of the replication factor 2"},
		{spec(1, 0, ""), "0 buckets"},
		{dup, `name "n1" is empty or repeated`},
	} {
		if _, err := Bootstrap(tc.spec); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Bootstrap: %v, want an error containing %q", err, tc.want)
		}
	}
}

func TestApplyAndEncode(t *testing.T) {
	c, err := Bootstrap(spec(3, 8, "a", "b", "c"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cmd  Command
		fail string
	}{
		{SetSetting("gc.interval", "5m"), ""},
		{MarkOffline("n2", "gone"), ""},
		{MarkOffline("n9", "gone"), `no instance named "n9"`},
		{SetSetting("", "x"), "no name"},
		{Command{Op: "explode"}, `unknown operation "explode"`},
	} {
		cmd, err := DecodeCommand(tc.cmd.Encode())
		if err != nil {
			t.Fatal(err)
		}
		err = c.Apply(cmd)
		if (err == nil) != (tc.fail == "") || (err != nil && !strings.Contains(err.Error(), tc.fail)) {
			t.Errorf("Apply(%+v) = %v, want %q", tc.cmd, err, tc.fail)
		}
	}
	back, err := Decode(c.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if string(back.Encode()) != string(c.Encode()) {
		t.Fatal("decoding and re-encoding changed the configuration")
	}
	if inst, _ := back.Instance("n2"); inst.Target != Offline || inst.Reason != "gone" || back.Settings["gc.interval"] != "5m" {
		t.Fatalf("the decoded configuration lost the applied commands: %+v", back)
	}
	if _, err := DecodeCommand([]byte(`{"op":"set","colour":"red"}`)); err == nil {
		t.Error("a command with an unknown field decoded")
	}
}

func join(ids []env.NodeID) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = string(id)
	}
	return strings.Join(s, ",")
}

func FuzzDecode(f *testing.F) {
	c, _ := Bootstrap(spec(3, 4, "a", "b", "c"))
	f.Add(c.Encode())
	f.Add(SetSetting("k", "v").Encode())
	f.Add(CreateToken(newToken(1, "root", RoleAdmin), true).Encode())
	f.Add(SetRole(Role{Name: "r", Read: []string{"*"}, Write: []string{"Order"}}).Encode())
	f.Add(RevokeToken("root").Encode())
	f.Add(Expel("n2", true).Encode())
	f.Add(SetVoters([]env.NodeID{"n1", "n3"}).Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := Decode(b); err == nil {
			// Whatever decodes must apply commands without panicking.
			for _, cmd := range []Command{SetSetting("k", "v"), MarkOffline("n1", "gone"), Expel("n1", true), SetState("n1", Expelled), SetVoters([]env.NodeID{"n1"})} {
				c.Apply(cmd)
			}
			c.Encode()
			if c.consistent() == nil {
				c.Govern(Health{Reachable: func(env.NodeID) bool { return true }, Settled: true})
			}
		}
		if cmd, err := DecodeCommand(b); err == nil {
			cmd.Encode()
			// Whatever decodes must apply, or be refused, without panicking.
			c, _ := Bootstrap(spec(1, 4, ""))
			c.Apply(cmd)
			c.Access().On()
		}
	})
}
