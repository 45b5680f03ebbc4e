package library

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shoaldb/shoal/core/env"
)

// The claims of the topology scenarios: joins, expels and the governor's
// voter changes did what the descriptions say.
func init() {
	claims["join-during-partition"] = func(tr *trace) error {
		// The partition cut off group 0's leader, the instance n5's join
		// went through: that join was answered ok only after the heal;
		// n6's, through the majority side, during the cut.
		o := tr.occurrence(1, 1)
		cut := o.alone()
		made, answered := tr.action("join-n5")
		if env.NodeID(str(made, "via")) != cut {
			return fmt.Errorf("join-n5 went via %s, not via %s, the instance cut off", str(made, "via"), cut)
		}
		if time.Duration(answered.Time) < o.stop {
			return fmt.Errorf("join-n5, via %s cut off until %s, was answered ok at %s", cut, o.stop, at(answered.Time))
		}
		made, answered = tr.action("join-n6")
		if env.NodeID(str(made, "via")) == cut || time.Duration(answered.Time) >= o.stop {
			return fmt.Errorf("join-n6 went via %s and was answered ok at %s: want the majority side, during the cut (%s..%s)", str(made, "via"), at(answered.Time), o.start, o.stop)
		}
		// n4 founded rs2, which ends with the three joined instances as
		// its voters.
		if tr.first(0, tr.end, func(r *env.Record) bool {
			return r.Kind == "replicaset.found" && r.Node == "n4" && str(r, "replicaset") == "rs2"
		}) == nil {
			return fmt.Errorf("n4 founded no replicaset rs2")
		}
		if rs2 := tr.lastConf("rs2"); !slices.Equal(slices.Sorted(slices.Values(split(str(rs2, "voters")))), []env.NodeID{"n4", "n5", "n6"}) {
			return fmt.Errorf("rs2's last membership has voters %s, want n4, n5 and n6", str(rs2, "voters"))
		}
		// The governor marked the cut-off instance offline during the cut
		// and back online after it.
		if tr.first(o.start, o.stop, tr.governs("offline", cut)) == nil {
			return fmt.Errorf("the governor did not mark %s offline while it was cut off (%s..%s)", cut, o.start, o.stop)
		}
		if tr.first(o.stop, tr.end, tr.governs("online", cut)) == nil {
			return fmt.Errorf("the governor did not mark %s online after the heal at %s", cut, o.stop)
		}
		if c := tr.lastConf("config"); len(split(str(c, "voters"))) != 5 {
			return fmt.Errorf("group 0 ends with voters %s, want five", str(c, "voters"))
		}
		return nil
	}
	claims["expel-voter"] = func(tr *trace) error {
		// n3, a voter, killed; marked offline before its expel; expelled,
		// removed from group 0 and rs1; n4 joins and votes in both; n3,
		// restarted at the heal, answers no client.
		kill := tr.occurrence(1, 1)
		if kill.targets != "n3" {
			return fmt.Errorf("step 1 killed %q, want n3", kill.targets)
		}
		expel, _ := tr.action("expel-n3")
		if tr.first(kill.start, time.Duration(expel.Time), tr.governs("offline", "n3")) == nil {
			return fmt.Errorf("the governor did not mark n3 offline between its kill at %s and its expel at %s", kill.start, at(expel.Time))
		}
		if tr.first(time.Duration(expel.Time), tr.end, tr.governsState("n3", "expelled")) == nil {
			return fmt.Errorf("the governor never made n3 expelled")
		}
		join, _ := tr.action("join-n4")
		for _, g := range []string{"config", "rs1"} {
			if v := split(str(tr.lastConf(g), "voters")); !slices.Equal(v, []env.NodeID{"n1", "n2", "n4"}) {
				return fmt.Errorf("%s ends with voters %v, want n1, n2 and n4", g, v)
			}
		}
		for _, span := range [][2]time.Duration{{time.Duration(expel.Time), time.Duration(join.Time)}, {time.Duration(join.Time), kill.stop}} {
			if tr.first(span[0], span[1], isWriteOK) == nil {
				return fmt.Errorf("no write was acknowledged between %s and %s", span[0], span[1])
			}
		}
		if r := tr.first(kill.stop, tr.end, func(r *env.Record) bool {
			return r.Node == "n3" && r.Kind == "kv.response" && str(r, "status") != "redirect"
		}); r != nil {
			return fmt.Errorf("n3, expelled, answered %s's request %s at %s after its restart", str(r, "client"), str(r, "status"), at(r.Time))
		}
		return nil
	}
	claims["lose-two-of-five-voters"] = func(tr *trace) error {
		// n1 and n2, voters, killed for good; the governor gave their
		// votes to the learners n6 and n7 before the operator's expels;
		// operator actions succeeded after that; the expels and the join
		// were answered ok.
		for step, id := range []string{1: "n1", 2: "n2"} {
			if id == "" {
				continue
			}
			if o := tr.occurrence(int64(step), 1); o.targets != id {
				return fmt.Errorf("step %d killed %q, want %s", step, o.targets, id)
			}
			if r := tr.first(tr.occurrence(int64(step), 1).start, tr.end, func(r *env.Record) bool { return r.Kind == "node.start" && string(r.Node) == id }); r != nil {
				return fmt.Errorf("%s started again at %s", id, at(r.Time))
			}
		}
		expel, _ := tr.action("expel-n1")
		var reselected *env.Record
		for _, r := range tr.during(0, time.Duration(expel.Time)) {
			if r.Kind == "raft.conf" && str(r, "group") == "config" && slices.Equal(split(str(r, "voters")), []env.NodeID{"n3", "n4", "n5", "n6", "n7"}) {
				reselected = r
				break
			}
		}
		if reselected == nil {
			return fmt.Errorf("group 0's voters never became n3..n7 before the expel of n1 at %s", at(expel.Time))
		}
		if tr.first(time.Duration(reselected.Time), time.Duration(expel.Time), func(r *env.Record) bool {
			return r.Kind == "prop.result" && str(r, "group") == "config" && str(r, "outcome") == "ok" && strings.HasPrefix(str(r, "id"), "w")
		}) == nil {
			return fmt.Errorf("no operator setting succeeded between the re-selection at %s and the expels", at(reselected.Time))
		}
		tr.action("expel-n2")
		tr.action("join-n8")
		return nil
	}
}

func init() {
	claims["rebalance-kill-leaders"] = func(tr *trace) error {
		// n4 founded rs2; each kill hit a leader of one side of a move
		// under way, which committed after the kill; and rs2 ended with
		// half of the 64 buckets, nothing moving.
		if tr.first(0, tr.end, func(r *env.Record) bool {
			return r.Kind == "replicaset.found" && r.Node == "n4" && str(r, "replicaset") == "rs2"
		}) == nil {
			return fmt.Errorf("n4 founded no replicaset rs2")
		}
		for _, side := range []struct {
			step  int64
			group string
		}{{1, "rs1"}, {2, "rs2"}} {
			o := tr.occurrence(side.step, 1)
			if lead := tr.lastLeader(o.startAt, side.group); string(lead) != o.targets {
				return fmt.Errorf("step %d killed %s at %s, but %s's leader was %s", side.step, o.targets, o.start, side.group, lead)
			}
			if m := tr.moveAcross(o.start); m == "" {
				return fmt.Errorf("no move was under way when step %d killed %s at %s and committed after", side.step, o.targets, o.start)
			}
		}
		moved := map[int64]bool{} // by bucket
		for i := range tr.recs {
			if r := &tr.recs[i]; r.Kind == "bucket.owner" && str(r, "from") == "rs1" && str(r, "to") == "rs2" {
				b, _ := r.Int("bucket")
				moved[b] = true
			}
		}
		if len(moved) != 32 {
			return fmt.Errorf("%d buckets moved from rs1 to rs2, want 32 of 64", len(moved))
		}
		return nil
	}
}

func init() {
	claims["rebalance-isolate-destination"] = func(tr *trace) error {
		// Every cut isolated one member of rs2, and at least once with
		// a move to rs2 under way that committed after the cut began.
		cut := 0
		for _, o := range tr.occurrences(1) {
			side := o.sides()
			if len(side) != 2 || len(side[0]) != 1 || !slices.Contains([]env.NodeID{"n4", "n5", "n6"}, side[0][0]) {
				return fmt.Errorf("occurrence %d of step 1 was %s: want one member of rs2 cut off", o.n, o.what)
			}
			if tr.moveAcross(o.start) != "" {
				cut++
			}
		}
		if cut == 0 {
			return fmt.Errorf("no cut came with a move under way that committed after it began")
		}
		return nil
	}
}

// lastLeader is the instance whose raft.state last said it led group,
// among the records before index i.
func (tr *trace) lastLeader(i int, group string) env.NodeID {
	for k := i - 1; k >= 0; k-- {
		if r := &tr.recs[k]; r.Kind == "raft.state" && str(r, "group") == group && str(r, "role") == "leader" {
			return r.Node
		}
	}
	return ""
}

// moveAcross names a bucket move started before t and committed after
// it ("" for none).
func (tr *trace) moveAcross(t time.Duration) string {
	started := map[int64]bool{}
	for i := range tr.recs {
		r := &tr.recs[i]
		b, _ := r.Int("bucket")
		switch {
		case time.Duration(r.Time) < t && r.Kind == "governor.step" && str(r, "op") == "move.start":
			started[b] = true
		case time.Duration(r.Time) >= t && r.Kind == "bucket.owner" && started[b]:
			return fmt.Sprintf("bucket %d", b)
		}
	}
	return ""
}

// action returns the topology.action record of the action with this
// id, and the prop.result that answered it ok; a missing one, or one not
// answered ok, fails the claim.
func (tr *trace) action(id string) (made, answered *env.Record) {
	for i := range tr.recs {
		r := &tr.recs[i]
		switch {
		case r.Kind == "topology.action" && str(r, "id") == id:
			made = r
		case made != nil && r.Kind == "prop.result" && str(r, "id") == id && string(r.Node) == str(made, "via"):
			if str(r, "outcome") != "ok" {
				panic(missingStep(fmt.Sprintf("%s ended %s at %s: %s", id, str(r, "outcome"), at(r.Time), str(r, "error"))))
			}
			return made, r
		}
	}
	panic(missingStep(fmt.Sprintf("action %s was not made, or not answered", id)))
}

// lastConf is the raft.conf record of the group's highest index.
func (tr *trace) lastConf(group string) *env.Record {
	var best *env.Record
	var index int64
	for i := range tr.recs {
		r := &tr.recs[i]
		if r.Kind == "raft.conf" && str(r, "group") == group {
			if x, _ := r.Int("index"); best == nil || x > index {
				best, index = r, x
			}
		}
	}
	if best == nil {
		panic(missingStep("no membership of " + group + " was recorded"))
	}
	return best
}

// governs matches a governor's step that set an instance's target.
func (tr *trace) governs(op string, id env.NodeID) func(*env.Record) bool {
	return func(r *env.Record) bool {
		return r.Kind == "governor.step" && str(r, "op") == op && str(r, "instance") == string(id)
	}
}

// governsState matches a governor's step that moved an instance's
// current state.
func (tr *trace) governsState(id env.NodeID, state string) func(*env.Record) bool {
	return func(r *env.Record) bool {
		return r.Kind == "governor.step" && str(r, "op") == "state" && str(r, "instance") == string(id) && str(r, "state") == state
	}
}
