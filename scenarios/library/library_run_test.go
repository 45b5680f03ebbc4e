package library

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/scenarios/runner"
)

var (
	seeds      = flag.Int("seeds", 3, "run every built-in scenario on seeds 1..N and require it valid (make test-long passes 50)")
	claimSeeds = flag.Int("claim-seeds", 3, "check every built-in scenario's claim on seeds 1..N")
)

// TestLibraryScenariosAreValid runs every built-in scenario on seeds
// 1..-seeds and requires the verdict valid; on seeds 1..-claim-seeds it
// also checks, from the trace, that the scenario's faults did what its
// description claims (claims below), sharing the runs. Runs are
// sequential: a process holds one simulated World at a time.
func TestLibraryScenariosAreValid(t *testing.T) {
	n := max(*seeds, *claimSeeds)
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			s, err := Load(name)
			if err != nil {
				t.Fatal(err)
			}
			claim := claims[name]
			for seed := uint64(1); seed <= uint64(n); seed++ {
				o, err := runner.Run(s, runner.Options{Seed: seed})
				if err != nil {
					t.Fatalf("%s seed %d: %v", name, seed, err)
				}
				rerun := fmt.Sprintf("go run ./cmd/shoal sim run %s --seed %d", name, seed)
				if want := checker.Verdict(s.Expect); seed <= uint64(*seeds) && o.Results.Verdict != want {
					var bad []string
					for _, r := range o.Results.Checkers {
						if r.Verdict != checker.Valid && r.Verdict != checker.NA {
							bad = append(bad, fmt.Sprintf("%s %s: %s", r.Checker, r.Verdict, r.Explanation))
						}
					}
					t.Errorf("%s seed %d: verdict %s, want %s (%s):\n  %s", name, seed, o.Results.Verdict, want, rerun, strings.Join(bad, "\n  "))
				}
				if seed <= uint64(*claimSeeds) && claim != nil {
					if err := check(claim, o.Records); err != nil {
						t.Errorf("%s seed %d: the faults did not do what the scenario claims: %v (%s)", name, seed, err, rerun)
					}
				}
			}
		})
	}
}

// Every built-in scenario has a claim, and every claim a scenario.
func TestEveryScenarioHasAClaim(t *testing.T) {
	names := Names()
	for _, name := range names {
		if claims[name] == nil {
			t.Errorf("%s has no claim in library_run_test.go", name)
		}
	}
	for name := range claims {
		if !slices.Contains(names, name) {
			t.Errorf("claim for %s, which is no built-in scenario", name)
		}
	}
	if len(names) < 12 {
		t.Errorf("%d built-in scenarios, want at least 12", len(names))
	}
}

// check runs a claim; a trace without the occurrence a claim looks for
// fails it.
func check(claim func(*trace) error, recs []env.Record) (err error) {
	defer func() {
		if p := recover(); p != nil {
			missing, ok := p.(missingStep)
			if !ok {
				panic(p)
			}
			err = missing
		}
	}()
	return claim(newTrace(recs))
}

// missingStep is the panic of a trace lookup that found no such
// occurrence; check turns it into the claim's error.
type missingStep string

func (m missingStep) Error() string { return string(m) }

// claims holds, for each built-in scenario, what its trace must show for
// the faults to have done what the description says, beyond the generic
// faults check (which only asks that each step took effect).
var claims = map[string]func(*trace) error{
	"stale-reads": func(tr *trace) error {
		// The cut-off instance answered reads while it was cut off: stale
		// ones, since a linearizable read needs the leader's ReadIndex.
		// And the verdict is invalid for the linearizable check alone.
		o := tr.occurrence(1, 1)
		cut := o.alone()
		served := 0
		for _, r := range tr.during(o.start, o.stop) {
			if isOK(r) && str(r, "f") == "read" && str(r, "note") == string(cut) {
				served++
			}
		}
		if served == 0 {
			return fmt.Errorf("%s, cut off from %s to %s, answered no read", cut, o.start, o.stop)
		}
		if tr.first(o.start, o.stop, isWriteOK) == nil {
			return fmt.Errorf("no write was acknowledged while %s was cut off", cut)
		}
		return nil
	},
	"stale-object-reads": func(tr *trace) error {
		// The cut-off instance answered stale object reads while it was
		// cut off, and no linearizable one; some stale reads returned
		// objects already replaced, which the linearizability check left
		// out (its verdict is required valid).
		o := tr.occurrence(1, 1)
		cut := o.alone()
		stale, linear := 0, 0
		for _, r := range tr.during(o.start, o.stop) {
			if isOK(r) && str(r, "f") == "read-object" && str(r, "note") == string(cut) {
				if b, _ := r.Bool("stale"); b {
					stale++
				} else {
					linear++
				}
			}
		}
		if stale == 0 || linear > 0 {
			return fmt.Errorf("%s, cut off from %s to %s, answered %d stale and %d linearizable object reads; want some and none", cut, o.start, o.stop, stale, linear)
		}
		s, err := Load("stale-object-reads")
		if err != nil {
			return err
		}
		_, replaced, err := runner.StaleObjectReads(s, tr.recs)
		if err != nil {
			return err
		}
		if replaced == 0 {
			return fmt.Errorf("no stale read returned an object already replaced")
		}
		return nil
	},
	"leader-isolation": func(tr *trace) error {
		// The isolated instance led the data group when it was cut off,
		// and another was elected while it was.
		o := tr.occurrence(1, 1)
		isolated := o.alone()
		if l := tr.leaderBefore(o.startAt, "rs1"); l != isolated {
			return fmt.Errorf("%s was isolated, but rs1's leader was %q", isolated, l)
		}
		if ls := tr.newLeaders("rs1", o.start, o.stop); len(without(ls, isolated)) == 0 {
			return fmt.Errorf("no other instance became rs1's leader while %s was isolated (%s..%s)", isolated, o.start, o.stop)
		}
		return nil
	},
	"majority-split": func(tr *trace) error {
		// No instance on the side of two answers ok while the split
		// lasts; the side of three does.
		o := tr.occurrence(1, 1)
		sides := o.sides()
		if len(sides) != 2 || len(sides[0]) != 2 || len(sides[1]) != 3 {
			return fmt.Errorf("split %v, want two against three", sides)
		}
		minority, majority := sides[0], sides[1]
		okMajority := 0
		for _, r := range tr.during(o.start, o.stop) {
			if r.Kind == "kv.response" && str(r, "status") == "ok" {
				if slices.Contains(minority, r.Node) {
					return fmt.Errorf("%s on the minority side %v answered ok at %s during the split", r.Node, minority, at(r.Time))
				}
				okMajority++
			}
		}
		if okMajority == 0 {
			return fmt.Errorf("the majority side %v answered nothing ok during the split", majority)
		}
		return nil
	},
	"majorities-ring": func(tr *trace) error {
		// Every instance was cut off from exactly two others, no two
		// heard the same set; the leader kept its term and writes were
		// acknowledged throughout.
		o := tr.occurrence(1, 1)
		deaf := o.deaf()
		seen := map[string]bool{}
		for _, id := range tr.instances {
			if len(deaf[id]) != 2 {
				return fmt.Errorf("%s could not hear %v, want two instances (%s)", id, deaf[id], o.what)
			}
			k := env.Join(deaf[id])
			if seen[k] {
				return fmt.Errorf("two instances heard the same majority (%s)", o.what)
			}
			seen[k] = true
		}
		return tr.keptServing(o.start, o.stop)
	},
	"bridge": func(tr *trace) error {
		// One instance heard every other; the other four each could not
		// hear the two across. Until the leader was paused it kept its
		// term and writes were acknowledged throughout; after the pause
		// writes were acknowledged again before the bridge ended.
		o, pause := tr.occurrence(1, 1), tr.occurrence(2, 1)
		deaf := o.deaf()
		bridges := 0
		for _, id := range tr.instances {
			switch len(deaf[id]) {
			case 0:
				bridges++
			case 2:
			default:
				return fmt.Errorf("%s could not hear %v (%s)", id, deaf[id], o.what)
			}
		}
		if bridges != 1 {
			return fmt.Errorf("%d instances heard every other, want one bridge (%s)", bridges, o.what)
		}
		if err := tr.keptServing(o.start, pause.start); err != nil {
			return err
		}
		if tr.first(pause.stop, o.stop, isWriteOK) == nil {
			return fmt.Errorf("no write was acknowledged between the pause's end at %s and the heal at %s", pause.stop, o.stop)
		}
		return nil
	},
	"rolling-kill": func(tr *trace) error {
		// Each instance was killed once, in turn, and restarted; a write
		// was acknowledged while each was down.
		for i, id := range tr.instances {
			o := tr.occurrence(int64(i+1), 1)
			if o.targets != string(id) {
				return fmt.Errorf("step %d hit %q, want %s", i+1, o.targets, id)
			}
			kills := tr.count(func(r *env.Record) bool { return r.Node == id && r.Kind == "node.kill" })
			if kills != 1 {
				return fmt.Errorf("%s was killed %d times, want once", id, kills)
			}
			if tr.first(o.start, o.start+1, func(r *env.Record) bool { return r.Node == id && r.Kind == "node.kill" }) == nil {
				return fmt.Errorf("%s was not killed at %s", id, o.start)
			}
			if tr.first(o.stop, o.stop+1, func(r *env.Record) bool { return r.Node == id && r.Kind == "node.start" }) == nil {
				return fmt.Errorf("%s was not restarted at %s", id, o.stop)
			}
			if tr.first(o.start, o.stop, isWriteOK) == nil {
				return fmt.Errorf("no write was acknowledged while %s was down (%s..%s)", id, o.start, o.stop)
			}
		}
		return nil
	},
	"model-rolling-kill": func(tr *trace) error {
		// Each instance killed once in turn and restarted, as in
		// rolling-kill; the model change (w2m) accepted while n3 was
		// down; the background migration rewrote objects, and rs1
		// snapshotted its state (objects included) after the change.
		for i, id := range tr.instances {
			o := tr.occurrence(int64(i+1), 1)
			if o.targets != string(id) {
				return fmt.Errorf("step %d hit %q, want %s", i+1, o.targets, id)
			}
			if kills := tr.count(func(r *env.Record) bool { return r.Node == id && r.Kind == "node.kill" }); kills != 1 {
				return fmt.Errorf("%s was killed %d times, want once", id, kills)
			}
		}
		down := tr.occurrence(3, 1)
		ok := tr.first(0, tr.end, func(r *env.Record) bool {
			return r.Kind == "prop.result" && str(r, "id") == "w2m" && str(r, "outcome") == "ok"
		})
		if ok == nil {
			return fmt.Errorf("the model change w2m was never accepted")
		}
		if t := at(ok.Time); t < down.start || t >= down.stop {
			return fmt.Errorf("the model change was accepted at %s, not while n3 was down (%s..%s)", t, down.start, down.stop)
		}
		if tr.first(at(ok.Time), tr.end, func(r *env.Record) bool { return r.Kind == "model.migrate" }) == nil {
			return fmt.Errorf("no object was rewritten after the model change")
		}
		if tr.first(at(ok.Time), tr.end, func(r *env.Record) bool { return r.Kind == "raft.compact" && str(r, "group") == "rs1" }) == nil {
			return fmt.Errorf("rs1 took no snapshot after the model change")
		}
		return nil
	},
	"kill-majority": func(tr *trace) error {
		// Three of five down: no client operation succeeds, from a
		// moment after the kill (answers already on their way) until the
		// restart; some do afterwards.
		o := tr.occurrence(1, 1)
		if n := len(strings.Split(o.targets, ",")); n != 3 {
			return fmt.Errorf("killed %s, want three instances", o.targets)
		}
		if r := tr.first(o.start+inFlight, o.stop, isOK); r != nil {
			return fmt.Errorf("%s succeeded at %s though %s were down (%s..%s)", str(r, "f"), at(r.Time), o.targets, o.start, o.stop)
		}
		if tr.first(o.stop, tr.end, isWriteOK) == nil {
			return fmt.Errorf("no write was acknowledged after the restart at %s", o.stop)
		}
		return nil
	},
	"leader-clock-strobe": func(tr *trace) error {
		// The strobed instance led the data group, and its wall clock
		// was set to strobe.
		o := tr.occurrence(1, 1)
		id := env.NodeID(o.targets)
		if l := tr.leaderBefore(o.startAt, "rs1"); l != id {
			return fmt.Errorf("strobed %s, but rs1's leader was %q", id, l)
		}
		r := tr.first(o.start, o.start+1, func(r *env.Record) bool { return r.Node == id && r.Kind == "clock.strobe" })
		if r == nil {
			return fmt.Errorf("no clock.strobe on %s at %s", id, o.start)
		}
		if amp, _ := r.Int("amp"); amp == 0 {
			return fmt.Errorf("clock.strobe on %s with no amplitude", id)
		}
		return nil
	},
	"lossy-network": func(tr *trace) error {
		// Between instances, while the fault lasted: messages lost,
		// messages delivered twice, and messages overtaken by later
		// ones on the same link.
		o := tr.occurrence(1, 1)
		lost := 0
		received := map[int64]int{}
		duplicated := 0
		last := map[[2]env.NodeID]int64{} // per link, the send time of the last delivery
		reordered := 0
		for _, r := range tr.during(o.start, o.stop) {
			from := env.NodeID(str(r, "from"))
			switch {
			case r.Kind == "net.drop" && str(r, "why") == "loss":
				lost++
			case r.Kind == "net.recv" && tr.isInstance(from) && tr.isInstance(r.Node):
				id, _ := r.Int("id")
				received[id]++
				if received[id] == 2 {
					duplicated++
				}
				sent, _ := r.Int("sent")
				l := [2]env.NodeID{from, r.Node}
				if sent < last[l] {
					reordered++
				}
				last[l] = max(last[l], sent)
			}
		}
		if lost == 0 || duplicated == 0 || reordered == 0 {
			return fmt.Errorf("%d messages lost, %d delivered twice, %d overtaken: want some of each", lost, duplicated, reordered)
		}
		return nil
	},
	"disk-errors": func(tr *trace) error {
		// Every fault hit a follower of the data group; disk errors and
		// crashes happened only on the instance a fault hit, never on a
		// leader; and some did.
		diskErrors, crashes := 0, 0
		for _, o := range tr.occurrences(1) {
			id := env.NodeID(o.targets)
			if l := tr.leaderBefore(o.startAt, "rs1"); l == id || l == "" || o.targets == "" {
				return fmt.Errorf("occurrence %d hit %q, rs1's leader was %q: want a follower", o.n, o.targets, l)
			}
			for _, r := range tr.during(o.start, o.stop) {
				switch r.Kind {
				case "disk.error", "node.crash":
					if r.Node != id {
						return fmt.Errorf("%s on %s at %s, but the fault hit %s", r.Kind, r.Node, at(r.Time), id)
					}
					if r.Kind == "disk.error" {
						diskErrors++
					} else {
						crashes++
					}
				}
			}
		}
		for i := range tr.recs {
			r := &tr.recs[i]
			if r.Kind == "disk.error" || r.Kind == "node.crash" {
				if l := tr.leaderBefore(i, "rs1"); l == r.Node {
					return fmt.Errorf("%s on rs1's leader %s at %s", r.Kind, r.Node, at(r.Time))
				}
			}
		}
		total := tr.count(func(r *env.Record) bool { return r.Kind == "disk.error" || r.Kind == "node.crash" })
		if diskErrors == 0 || crashes == 0 || diskErrors+crashes != total {
			return fmt.Errorf("%d disk errors and %d crashes while a fault lasted, %d in all: want some, and none outside", diskErrors, crashes, total)
		}
		return nil
	},
	"config-loses-quorum": func(tr *trace) error {
		// No side holds a majority of group 0's voters, each replicaset
		// holds a majority on one side. While the partition lasts no
		// operator action succeeds, and writes are acknowledged on both
		// replicasets (once each has a leader on its majority's side);
		// after the heal, actions succeed again.
		o := tr.occurrence(1, 1)
		voters := tr.voters()
		for _, side := range o.sides() {
			if n := len(intersect(side, voters)); n > len(voters)/2 {
				return fmt.Errorf("side %v holds %d of group 0's voters %v", side, n, voters)
			}
		}
		for rs, members := range tr.replicasets() {
			if !slices.ContainsFunc(o.sides(), func(side []env.NodeID) bool { return len(intersect(side, members)) > len(members)/2 }) {
				return fmt.Errorf("no side holds a majority of %s %v", rs, members)
			}
		}
		isActionOK := func(r *env.Record) bool {
			return r.Kind == "prop.result" && str(r, "group") == "config" && str(r, "outcome") == "ok"
		}
		if r := tr.first(o.start, o.stop, isActionOK); r != nil {
			return fmt.Errorf("operator action %s succeeded on %s at %s during the partition", str(r, "id"), r.Node, at(r.Time))
		}
		// Two election timeouts for a replicaset that lost its leader to
		// the other side to elect one.
		settled := o.start + 2*time.Second
		for rs, members := range tr.replicasets() {
			if tr.first(settled, o.stop, func(r *env.Record) bool {
				return isWriteOK(r) && slices.Contains(members, env.NodeID(str(r, "note")))
			}) == nil {
				return fmt.Errorf("no write was acknowledged on %s between %s and the heal at %s", rs, settled, o.stop)
			}
		}
		if tr.first(o.stop, tr.end, isActionOK) == nil {
			return fmt.Errorf("no operator action succeeded after the heal at %s", o.stop)
		}
		return nil
	},
	"model-change-partition": func(tr *trace) error {
		// The side of four holds a majority of group 0's voters and of
		// every replicaset, the side of two none. The model proposed on
		// the minority side (w3m, through n3) is never accepted; the one
		// proposed on the majority side (w4m, through n1) is, while the
		// partition lasts.
		o := tr.occurrence(1, 1)
		sides := o.sides()
		if len(sides) != 2 || len(sides[0])+len(sides[1]) != 6 || min(len(sides[0]), len(sides[1])) != 2 {
			return fmt.Errorf("split %v, want four against two", sides)
		}
		majority, minority := sides[0], sides[1]
		if len(majority) == 2 {
			majority, minority = minority, majority
		}
		if n, voters := len(intersect(majority, tr.voters())), tr.voters(); n <= len(voters)/2 {
			return fmt.Errorf("the side of four %v holds %d of group 0's voters %v", majority, n, voters)
		}
		for rs, members := range tr.replicasets() {
			if len(intersect(majority, members)) <= len(members)/2 {
				return fmt.Errorf("the side of four %v holds no majority of %s %v", majority, rs, members)
			}
		}
		result := func(id string) *env.Record {
			return tr.first(0, tr.end, func(r *env.Record) bool { return r.Kind == "prop.result" && str(r, "id") == id })
		}
		if r := result("w3m"); r == nil || str(r, "outcome") == "ok" || !slices.Contains(minority, r.Node) {
			return fmt.Errorf("the minority's proposal w3m ended %v, want not ok on one of %v", r, minority)
		}
		r := result("w4m")
		if r == nil || str(r, "outcome") != "ok" {
			return fmt.Errorf("the majority's proposal w4m ended %v, want ok", r)
		}
		if t := at(r.Time); t < o.start || t >= o.stop {
			return fmt.Errorf("the majority's proposal was accepted at %s, not during the partition (%s..%s)", t, o.start, o.stop)
		}
		return nil
	},
	"restart-storm": func(tr *trace) error {
		// n2 restarted all through the storm.
		if n := tr.count(func(r *env.Record) bool { return r.Node == "n2" && r.Kind == "node.start" }); n < 100 {
			return fmt.Errorf("n2 started %d times, want a restart every 300ms", n)
		}
		// Elections ran through the restarting go-between: n1 or n3 became
		// a candidate during the storm, which takes n2's pre-vote, and the
		// vote it then asks of n2 is the one n2 must remember.
		campaigned := tr.first(2*time.Second, 39*time.Second, func(r *env.Record) bool {
			return (r.Node == "n1" || r.Node == "n3") && r.Kind == "raft.state" && str(r, "role") == "candidate"
		})
		if campaigned == nil {
			return fmt.Errorf("neither n1 nor n3 became a candidate during the storm")
		}
		return nil
	},
	"pause-leader": func(tr *trace) error {
		// Each pause hit the data leader, and the others elected another
		// while it slept.
		for _, step := range []int64{1, 2} {
			o := tr.occurrence(step, 1)
			id := env.NodeID(o.targets)
			if l := tr.leaderBefore(o.startAt, "rs1"); l != id {
				return fmt.Errorf("paused %q at %s, but rs1's leader was %q", o.targets, o.start, l)
			}
			if tr.first(o.start, o.start+1, func(r *env.Record) bool { return r.Node == id && r.Kind == "node.pause" }) == nil {
				return fmt.Errorf("no node.pause on %s at %s", id, o.start)
			}
			if ls := tr.newLeaders("rs1", o.start, o.stop); len(without(ls, id)) == 0 {
				return fmt.Errorf("no new rs1 leader while %s was paused (%s..%s)", id, o.start, o.stop)
			}
		}
		return nil
	},
	"skewed-leader-isolation": func(tr *trace) error {
		// The cut-off instance led the data group and had its clock set
		// 30s fast; it had stepped down, and another led, before its
		// clock stepped back.
		cut, skew := tr.occurrence(1, 1), tr.occurrence(2, 1)
		id := cut.alone()
		if l := tr.leaderBefore(cut.startAt, "rs1"); l != id || skew.targets != string(id) {
			return fmt.Errorf("isolated %s and skewed %q, but rs1's leader was %q", id, skew.targets, l)
		}
		offsets := map[time.Duration]int64{}
		for _, r := range tr.during(skew.start, skew.stop+1) {
			if r.Node == id && r.Kind == "clock.offset" {
				offsets[at(r.Time)], _ = r.Int("offset")
			}
		}
		if offsets[skew.start] != int64(30*time.Second) {
			return fmt.Errorf("%s's clock offset at %s: %v, want 30s", id, skew.start, offsets)
		}
		if off, ok := offsets[skew.stop]; !ok || off != 0 {
			return fmt.Errorf("%s's clock was not stepped back at %s: %v", id, skew.stop, offsets)
		}
		if tr.first(cut.start, skew.stop, func(r *env.Record) bool {
			return r.Node == id && r.Kind == "raft.state" && str(r, "group") == "rs1" && str(r, "role") != "leader"
		}) == nil {
			return fmt.Errorf("%s had not stepped down by %s, when its clock stepped back", id, skew.stop)
		}
		if ls := tr.newLeaders("rs1", cut.start, skew.stop); len(without(ls, id)) == 0 {
			return fmt.Errorf("no other instance led rs1 by %s, when %s's clock stepped back", skew.stop, id)
		}
		return nil
	},
	"ingest-leader-isolation": func(tr *trace) error {
		// Cut off, the old leader acknowledged no message it had not
		// enqueued before the cut; the majority elected another leader,
		// which went on settling the queue during the cut; and messages
		// built to fail reached the repair queue.
		o := tr.occurrence(1, 1)
		old := o.alone()
		if r := tr.first(o.start+inFlight, o.stop, func(r *env.Record) bool {
			return isOK(r) && str(r, "f") == "enqueue" && str(r, "note") == string(old)
		}); r != nil {
			return fmt.Errorf("%s, cut off from %s, acknowledged message %s at %s", old, o.start, str(r, "key"), at(r.Time))
		}
		if len(without(tr.newLeaders("rs1", o.start, o.stop), old)) == 0 {
			return fmt.Errorf("no other instance led rs1 while %s was cut off", old)
		}
		if tr.first(o.start, o.stop, func(r *env.Record) bool {
			return r.Kind == "queue.settle" && r.Node != old && settled(r) > 0
		}) == nil {
			return fmt.Errorf("no other instance settled the queue while %s was cut off (%s..%s)", old, o.start, o.stop)
		}
		return repaired(tr)
	},
	"ingest-kill-handler": func(tr *trace) error {
		// At least one kill took a leader that had sent messages through
		// the handlers to settle, and died before applying that command;
		// a later leader ran the same messages through the pipeline again.
		// Every kill hit rs1's leader.
		hit := 0
		for step := int64(1); step <= 4; step++ {
			o := tr.occurrence(step, 1)
			id := env.NodeID(o.targets)
			var sent *env.Record
			for _, r := range tr.during(0, o.start) {
				switch {
				case r.Node == id && r.Kind == "queue.dispatch":
					sent = r
				case sent != nil && r.Node == id && r.Kind == "queue.settle" && str(r, "id") == dispatchID(sent):
					sent = nil
				}
			}
			if sent == nil {
				continue
			}
			from, _ := sent.Int("from")
			if tr.first(o.start, tr.end, func(r *env.Record) bool {
				lo, _ := r.Int("from")
				hi, _ := r.Int("to")
				return r.Kind == "queue.dispatch" && r.Node != id && lo <= from && from <= hi
			}) != nil {
				hit++
			}
		}
		if hit == 0 {
			return errors.New("no kill took a leader with messages sent to settle that another leader then ran again")
		}
		return repaired(tr)
	},
	"ingest-queue-full": func(tr *trace) error {
		// The queue filled to its limit (20) and the leader answered busy;
		// the pauses stopped the settling; it drained by the end.
		full := tr.first(0, tr.end, func(r *env.Record) bool {
			d, _ := r.Int("depth")
			return r.Kind == "queue.state" && d >= 20
		})
		if full == nil {
			return errors.New("the queue never held 20 messages")
		}
		if tr.count(func(r *env.Record) bool {
			return r.Kind == "client.fail" && str(r, "f") == "enqueue" && strings.HasPrefix(str(r, "note"), "busy")
		}) == 0 {
			return errors.New("no message was refused as busy")
		}
		for step := int64(1); step <= 2; step++ {
			o := tr.occurrence(step, 1)
			if tr.first(o.start+inFlight, o.stop, func(r *env.Record) bool {
				return r.Kind == "queue.settle" && r.Node == env.NodeID(o.targets)
			}) != nil {
				return fmt.Errorf("%s settled the queue while paused (%s..%s)", o.targets, o.start, o.stop)
			}
		}
		return repaired(tr)
	},
	"outbound-webhook-down": func(tr *trace) error {
		// While crm-sync's links were cut its receiver took and refused
		// nothing, pushes were dropped at the cut and the outbound queue
		// grew; after the heal the receiver took messages again, and at
		// the end nothing waited and nothing was repaired.
		o := tr.occurrence(1, 1)
		if r := tr.first(o.start+inFlight, o.stop, atEndpoint("crm-sync")); r != nil {
			return fmt.Errorf("crm-sync, cut off from %s to %s, recorded %s at %s", o.start, o.stop, r.Kind, at(r.Time))
		}
		if tr.first(o.start, o.stop, func(r *env.Record) bool {
			return r.Kind == "net.drop" && str(r, "to") == "ext/crm-sync" && str(r, "why") == "cut"
		}) == nil {
			return fmt.Errorf("no push to crm-sync was dropped at the cut (%s..%s)", o.start, o.stop)
		}
		if deepest := outboundDeepest(tr, "crm-sync", o.start, o.stop); deepest < 100 {
			return fmt.Errorf("crm-sync's outbound queue held at most %d messages while its receiver was down", deepest)
		}
		if tr.first(o.stop, tr.end, isReceipt("crm-sync")) == nil {
			return fmt.Errorf("crm-sync took nothing after its receiver came back at %s", o.stop)
		}
		return drained(tr)
	},
	"replication-dclink-cut": func(tr *trace) error {
		// While the dc links were cut nothing crossed between dc1 and dc2
		// and dc1 went on acknowledging writes; its pushes to dc2's
		// gateway failed meanwhile, and after the cut the gateway took
		// dc1's changes, and dc1's outbound queue drained.
		o := tr.occurrence(1, 1)
		dc1 := func(id string) bool { return strings.HasPrefix(id, "dc1-") || id == "ext/to-dc2" }
		dc2 := func(id string) bool { return strings.HasPrefix(id, "dc2-") }
		if r := tr.first(o.start+inFlight, o.stop, func(r *env.Record) bool {
			from, node := str(r, "from"), string(r.Node)
			return r.Kind == "net.recv" && (dc1(from) && dc2(node) || dc2(from) && dc1(node))
		}); r != nil {
			return fmt.Errorf("%s received from %s at %s, with the dc links cut (%s..%s)", r.Node, str(r, "from"), at(r.Time), o.start, o.stop)
		}
		for t := o.start; t+time.Second <= o.stop; t += time.Second {
			if tr.first(t, t+time.Second, func(r *env.Record) bool {
				return r.Kind == "client.ok" && str(r, "f") == "write-object" && dc1(string(r.Node))
			}) == nil {
				return fmt.Errorf("dc1 acknowledged no write between %s and %s, with the dc links cut", t, t+time.Second)
			}
		}
		if tr.first(o.start, o.stop, func(r *env.Record) bool {
			return r.Kind == "endpoint.refuse" && str(r, "destination") == "to-dc2"
		}) == nil {
			return fmt.Errorf("no push of dc1's changes to dc2 failed while the dc links were cut (%s..%s)", o.start, o.stop)
		}
		if tr.first(o.stop, tr.end, isReceipt("to-dc2")) == nil {
			return fmt.Errorf("dc2 took none of dc1's changes after the dc links came back at %s", o.stop)
		}
		return drainedIn(tr, "dc1")
	},
	"replication-bidirectional-cut": func(tr *trace) error {
		// Both clusters acknowledged writes while the dc links were cut;
		// after the cut each received changes of the other, applied some
		// and skipped some as stale (the conflict rule decided between
		// concurrent changes), and none received back a change it made.
		o := tr.occurrence(1, 1)
		for _, c := range []string{"dc1", "dc2"} {
			if tr.first(o.start+inFlight, o.stop, func(r *env.Record) bool {
				return r.Kind == "client.ok" && str(r, "f") == "write-object" && strings.HasPrefix(string(r.Node), c+"-")
			}) == nil {
				return fmt.Errorf("%s acknowledged no write while the dc links were cut (%s..%s)", c, o.start, o.stop)
			}
			for _, applied := range []bool{true, false} {
				if tr.first(o.stop, tr.end, func(r *env.Record) bool {
					a, _ := r.Bool("applied")
					return r.Kind == "repl.apply" && str(r, "cluster") == c && a == applied
				}) == nil {
					return fmt.Errorf("%s, after the cut, received no change it applied=%v: the clusters did not change the same objects concurrently", c, applied)
				}
			}
		}
		if r := tr.first(0, tr.end, func(r *env.Record) bool { return r.Kind == "repl.apply" && str(r, "cluster") == str(r, "origin") }); r != nil {
			return fmt.Errorf("%s received back a change its cluster %s made, at %s", r.Node, str(r, "cluster"), at(r.Time))
		}
		if err := drainedIn(tr, "dc1"); err != nil {
			return err
		}
		return drainedIn(tr, "dc2")
	},
	"replication-replica-restart": func(tr *trace) error {
		// Every instance of dc2 was down at once; dc2 took none of dc1's
		// changes meanwhile and they waited (dc1's outbound queue held
		// more than a second's writes); after the restart dc2 applied
		// dc1's changes again and dc1's queue drained.
		o := tr.occurrence(1, 1)
		if got := len(split(o.targets)); got != 3 {
			return fmt.Errorf("the kill hit %d instances of dc2, want all three", got)
		}
		if r := tr.first(o.start+inFlight, o.stop, isReceipt("to-dc2")); r != nil {
			return fmt.Errorf("dc2 took a change of dc1's at %s, while all its instances were down (%s..%s)", at(r.Time), o.start, o.stop)
		}
		if deepest := outboundDeepest(tr, "to-dc2", o.start, o.stop); deepest < 40 {
			return fmt.Errorf("dc1's queue for dc2 held at most %d changes while dc2 was down", deepest)
		}
		if tr.first(o.stop, tr.end, func(r *env.Record) bool {
			a, _ := r.Bool("applied")
			return r.Kind == "repl.apply" && str(r, "cluster") == "dc2" && a
		}) == nil {
			return fmt.Errorf("dc2 applied no change after its restart at %s", o.stop)
		}
		return drainedIn(tr, "dc1")
	},
	"outbound-flapping-leader-isolated": func(tr *trace) error {
		// The isolated instance led rs1 when it was cut off; another
		// became leader, and crm-sync took messages it pushed, some of
		// them again (the old leader had pushed them and could not settle
		// them); at the end nothing waited and nothing was repaired.
		o := tr.occurrence(2, 1)
		old := o.alone()
		if l := tr.leaderBefore(o.startAt, "rs1"); l != old {
			return fmt.Errorf("%s was isolated, but rs1's leader was %q", old, l)
		}
		next := without(tr.newLeaders("rs1", o.start, o.stop), old)
		if len(next) == 0 {
			return fmt.Errorf("no other instance became rs1's leader while %s was isolated (%s..%s)", old, o.start, o.stop)
		}
		if tr.first(o.start, tr.end, func(r *env.Record) bool {
			return isReceipt("crm-sync")(r) && slices.Contains(next, env.NodeID(str(r, "from")))
		}) == nil {
			return fmt.Errorf("crm-sync took nothing from %v, rs1's new leaders", next)
		}
		if tr.first(o.start, tr.end, func(r *env.Record) bool {
			dup, _ := r.Int("dup")
			return isReceipt("crm-sync")(r) && dup == 1 && slices.Contains(next, env.NodeID(str(r, "from")))
		}) == nil {
			return fmt.Errorf("crm-sync took nothing again from %v, rs1's new leaders: the old leader %s left nothing unsettled", next, old)
		}
		if len(tr.occurrences(1)) < 6 {
			return fmt.Errorf("crm-sync went down %d times, want one every 6s", len(tr.occurrences(1)))
		}
		return drained(tr)
	},
	"kafka-rebalance-partition": func(tr *trace) error {
		// The isolated leader stayed in the consumer group and kept
		// fetching, and committed nothing while cut off (it could enqueue
		// nothing); the broker forced rebalances during the cut; a commit
		// of a generation the group had left was refused; every record
		// produced was stored or repaired (the delivery check judges
		// them one by one).
		o := tr.occurrence(1, 1)
		alone := o.alone()
		byAlone := func(kind string) func(*env.Record) bool {
			return func(r *env.Record) bool { return r.Kind == kind && str(r, "member") == string(alone) }
		}
		if tr.first(o.start+inFlight, o.stop, byAlone("kafka.fetch")) == nil {
			return fmt.Errorf("%s, cut off from its peers (%s..%s), fetched nothing from the broker", alone, o.start, o.stop)
		}
		if r := tr.first(o.start+inFlight, o.stop, byAlone("kafka.commit")); r != nil {
			return fmt.Errorf("%s, cut off from its peers (%s..%s), committed partition %s at %s", alone, o.start, o.stop, str(r, "partition"), at(r.Time))
		}
		if tr.first(o.start, o.stop, func(r *env.Record) bool {
			return r.Kind == "kafka.rebalance" && str(r, "why") == "forced"
		}) == nil {
			return fmt.Errorf("the broker forced no rebalance during the cut (%s..%s)", o.start, o.stop)
		}
		if tr.count(func(r *env.Record) bool { return r.Kind == "kafka.refuse" && str(r, "what") == "commit" }) == 0 {
			return errors.New("the broker refused no commit: no rebalance caught a batch in flight")
		}
		return repaired(tr)
	},
	"snapshot-partition": func(tr *trace) error {
		// After its restart n3 was sent a snapshot that was lost at the
		// cut or sent before it; after the heal it was sent one again
		// and installed it.
		restart := tr.occurrence(1, 1).stop
		cut := tr.occurrence(3, 1)
		id := cut.alone()
		sentTo := func(r *env.Record) bool {
			return r.Kind == "raft.snapshot.send" && str(r, "group") == "rs1" && str(r, "to") == string(id)
		}
		lost := func(r *env.Record) bool {
			return r.Kind == "net.drop" && str(r, "msg") == "raft.MsgSnap" && str(r, "to") == string(id) && str(r, "why") == "cut"
		}
		if tr.first(restart, cut.start, sentTo) == nil && tr.first(cut.start, cut.stop, lost) == nil {
			return fmt.Errorf("no snapshot was sent to %s between its restart at %s and the cut at %s, nor lost at the cut", id, restart, cut.start)
		}
		if tr.first(cut.stop, tr.end, sentTo) == nil {
			return fmt.Errorf("no snapshot was sent to %s after the heal at %s", id, cut.stop)
		}
		if tr.first(cut.stop, tr.end, func(r *env.Record) bool {
			return r.Node == id && r.Kind == "raft.snapshot.install" && str(r, "group") == "rs1"
		}) == nil {
			return fmt.Errorf("%s installed no snapshot after the heal at %s", id, cut.stop)
		}
		return nil
	},
}

// settled is how many messages a queue.settle settled.
func settled(r *env.Record) int64 { n, _ := r.Int("settled"); return n }

// dispatchID is the id of the command a queue.dispatch sent.
func dispatchID(r *env.Record) string {
	from, _ := r.Int("from")
	to, _ := r.Int("to")
	return fmt.Sprintf("q/%s/%d/%d", str(r, "group"), from, to)
}

// repaired: the final read of the repair queue found entries, each with
// a reason (the delivery check judges them one by one).
func repaired(tr *trace) error {
	r := tr.first(0, tr.end, func(r *env.Record) bool {
		return isOK(r) && str(r, "f") == "read-queue" && strings.Contains(str(r, "value"), `"reason":"`)
	})
	if r == nil {
		return errors.New("the final read found no message in the repair queue")
	}
	return nil
}

// atEndpoint matches what a destination's endpoint recorded of a push:
// an item taken or refused.
func atEndpoint(dest string) func(*env.Record) bool {
	return func(r *env.Record) bool {
		return (r.Kind == "endpoint.receive" || r.Kind == "endpoint.refuse") && str(r, "destination") == dest
	}
}

// isReceipt matches an item a destination's endpoint took.
func isReceipt(dest string) func(*env.Record) bool {
	return func(r *env.Record) bool { return r.Kind == "endpoint.receive" && str(r, "destination") == dest }
}

// outboundDeepest is the most messages a leader recorded waiting for a
// destination between start and stop.
func outboundDeepest(tr *trace, dest string, start, stop time.Duration) int64 {
	var deepest int64
	for _, r := range tr.during(start, stop) {
		if r.Kind == "outbound.state" && str(r, "destination") == dest {
			d, _ := r.Int("depth")
			deepest = max(deepest, d)
		}
	}
	return deepest
}

// drained: the final read of every replicaset's outbound queue found
// messages given, none waiting and none in the outbound repair queue.
// drainedIn: cluster's outbound queue held changes and ended with none
// waiting or repaired.
func drainedIn(tr *trace, cluster string) error {
	final := tr.first(0, tr.end, func(r *env.Record) bool { return r.Kind == "outbound.final" && str(r, "cluster") == cluster })
	if final == nil {
		return fmt.Errorf("the run did not read %s's outbound queue at the end", cluster)
	}
	if tail, _ := final.Int("tail"); tail == 0 {
		return fmt.Errorf("%s's outbound queue never held a change", cluster)
	}
	if w, rep := str(final, "waiting"), str(final, "repaired"); w != "" || rep != "" {
		return fmt.Errorf("%s's outbound queue ended with positions %q waiting and origins %q repaired", cluster, w, rep)
	}
	return nil
}

func drained(tr *trace) error {
	finals := 0
	for _, r := range tr.during(0, tr.end) {
		if r.Kind != "outbound.final" {
			continue
		}
		finals++
		if tail, _ := r.Int("tail"); tail == 0 {
			return fmt.Errorf("%s's outbound queue never held a message", str(r, "replicaset"))
		}
		if w, rep := str(r, "waiting"), str(r, "repaired"); w != "" || rep != "" {
			return fmt.Errorf("%s's outbound queue ended with positions %q waiting and origins %q repaired", str(r, "replicaset"), w, rep)
		}
	}
	if finals == 0 {
		return errors.New("the run did not read the outbound queues at the end")
	}
	return nil
}

// inFlight is how long after a fault answers sent before it may still// inFlight is how long after a fault answers sent before it may still
// arrive: well above the scenarios' largest latency (5ms).
const inFlight = 50 * time.Millisecond

// trace is a run's records with what the claims ask of them.
type trace struct {
	recs      []env.Record
	instances []env.NodeID
	end       time.Duration
}

func newTrace(recs []env.Record) *trace {
	tr := &trace{recs: recs}
	for i := range recs {
		if recs[i].Kind == "node.bootstrap" {
			tr.instances = append(tr.instances, recs[i].Node)
		}
	}
	if len(recs) > 0 {
		tr.end = time.Duration(recs[len(recs)-1].Time) + 1
	}
	return tr
}

func (tr *trace) isInstance(id env.NodeID) bool { return slices.Contains(tr.instances, id) }

// voters lists group 0's voters at bootstrap.
func (tr *trace) voters() []env.NodeID {
	for i := range tr.recs {
		if r := &tr.recs[i]; r.Kind == "node.bootstrap" {
			return split(str(r, "voters"))
		}
	}
	return nil
}

// replicasets maps each replicaset to its instances, from node.bootstrap.
func (tr *trace) replicasets() map[string][]env.NodeID {
	out := map[string][]env.NodeID{}
	for i := range tr.recs {
		if r := &tr.recs[i]; r.Kind == "node.bootstrap" {
			rs := str(r, "replicaset")
			out[rs] = append(out[rs], r.Node)
		}
	}
	return out
}

// occurrence is one firing of a nemesis step, from its nemesis.start and
// nemesis.stop.
type occurrence struct {
	step, n     int64
	start, stop time.Duration
	startAt     int // index of nemesis.start in the records
	targets     string
	what        string
}

// occurrences returns the occurrences of a step; with want, exactly that
// many (or it panics with missingStep, which fails the claim).
func (tr *trace) occurrences(step int64, want ...int) []occurrence {
	var out []occurrence
	for i := range tr.recs {
		r := &tr.recs[i]
		if s, _ := r.Int("step"); r.Node != "nemesis" || s != step {
			continue
		}
		n, _ := r.Int("n")
		switch r.Kind {
		case "nemesis.start":
			out = append(out, occurrence{step: step, n: n, start: time.Duration(r.Time), stop: tr.end, startAt: i,
				targets: str(r, "targets"), what: str(r, "what")})
		case "nemesis.stop":
			for k := range out {
				if out[k].n == n {
					out[k].stop = time.Duration(r.Time)
				}
			}
		}
	}
	if len(want) > 0 && len(out) != want[0] {
		panic(missingStep(fmt.Sprintf("step %d fired %d times, want %d", step, len(out), want[0])))
	}
	return out
}

func (tr *trace) occurrence(step int64, n int64) occurrence {
	for _, o := range tr.occurrences(step) {
		if o.n == n {
			return o
		}
	}
	panic(missingStep(fmt.Sprintf("step %d did not fire %d times", step, n)))
}

// sides parses a partition's components ("majority: n1,n2|n3,n4,n5"),
// smallest first.
func (o occurrence) sides() [][]env.NodeID {
	_, desc, _ := strings.Cut(o.what, ": ")
	var out [][]env.NodeID
	for _, c := range strings.Split(desc, "|") {
		out = append(out, split(c))
	}
	slices.SortStableFunc(out, func(a, b []env.NodeID) int { return len(a) - len(b) })
	return out
}

// alone is the instance a partition set apart on its own ("n3|n1,n2").
func (o occurrence) alone() env.NodeID {
	sides := o.sides()
	if len(sides) != 2 || len(sides[0]) != 1 {
		panic(missingStep(fmt.Sprintf("step %d: partition %q sets no instance apart on its own", o.step, o.what)))
	}
	return sides[0][0]
}

// deaf parses a shape that is no set of components ("majorities-ring:
// n1-/-n3,n4 n2-/-n4,n5 ...") into the instances each cannot hear.
func (o occurrence) deaf() map[env.NodeID][]env.NodeID {
	_, desc, _ := strings.Cut(o.what, ": ")
	out := map[env.NodeID][]env.NodeID{}
	for _, part := range strings.Fields(desc) {
		a, b, _ := strings.Cut(part, "-/-")
		out[env.NodeID(a)] = split(b)
	}
	return out
}

// between returns the records from start (inclusive) to stop (exclusive).
func (tr *trace) between(start, stop time.Duration) []env.Record {
	i, _ := slices.BinarySearchFunc(tr.recs, int64(start), func(r env.Record, t int64) int { return cmp.Compare(r.Time, t) })
	j, _ := slices.BinarySearchFunc(tr.recs, int64(stop), func(r env.Record, t int64) int { return cmp.Compare(r.Time, t) })
	return tr.recs[i:max(i, j)]
}

// during is between as pointers, for ranging over.
func (tr *trace) during(start, stop time.Duration) []*env.Record {
	rs := tr.between(start, stop)
	out := make([]*env.Record, len(rs))
	for i := range rs {
		out[i] = &rs[i]
	}
	return out
}

// first returns the first record in [start, stop) that matches, or nil.
func (tr *trace) first(start, stop time.Duration, match func(*env.Record) bool) *env.Record {
	rs := tr.between(start, stop)
	for i := range rs {
		if match(&rs[i]) {
			return &rs[i]
		}
	}
	return nil
}

func (tr *trace) count(match func(*env.Record) bool) int {
	n := 0
	for i := range tr.recs {
		if match(&tr.recs[i]) {
			n++
		}
	}
	return n
}

// leaderBefore is the group's leader as the records before index i tell
// it: of the running instances whose last raft.state says leader, the one
// in the highest term (as the harness answers the nemesis).
func (tr *trace) leaderBefore(i int, group string) env.NodeID {
	type role struct {
		leader bool
		term   int64
	}
	roles := map[env.NodeID]role{}
	for k := range tr.recs[:i] {
		r := &tr.recs[k]
		switch r.Kind {
		case "raft.state":
			if str(r, "group") == group {
				term, _ := r.Int("term")
				roles[r.Node] = role{leader: str(r, "role") == "leader", term: term}
			}
		case "node.kill", "node.crash", "node.fail":
			delete(roles, r.Node)
		}
	}
	var best env.NodeID
	term := int64(-1)
	for _, id := range tr.instances {
		if ro, ok := roles[id]; ok && ro.leader && ro.term > term {
			best, term = id, ro.term
		}
	}
	return best
}

// newLeaders lists the instances that became the group's leader in
// [start, stop).
func (tr *trace) newLeaders(group string, start, stop time.Duration) []env.NodeID {
	var out []env.NodeID
	leading := map[env.NodeID]bool{}
	for i := range tr.recs {
		r := &tr.recs[i]
		if r.Kind != "raft.state" || str(r, "group") != group {
			continue
		}
		was := leading[r.Node]
		leading[r.Node] = str(r, "role") == "leader"
		if !was && leading[r.Node] && time.Duration(r.Time) >= start && time.Duration(r.Time) < stop && !slices.Contains(out, r.Node) {
			out = append(out, r.Node)
		}
	}
	return out
}

// keptServing: from start to stop rs1's leader stayed leader (no
// instance became leader) and writes were acknowledged all along, in
// every second of it.
func (tr *trace) keptServing(start, stop time.Duration) error {
	if ls := tr.newLeaders("rs1", start, stop); len(ls) > 0 {
		return fmt.Errorf("%v became rs1's leader during the partition (%s..%s)", ls, start, stop)
	}
	for t := start; t+time.Second <= stop; t += time.Second {
		if tr.first(t, t+time.Second, isWriteOK) == nil {
			return fmt.Errorf("no write was acknowledged between %s and %s, during the partition", t, t+time.Second)
		}
	}
	return nil
}

func isOK(r *env.Record) bool { return r.Kind == "client.ok" }

func isWriteOK(r *env.Record) bool { return r.Kind == "client.ok" && str(r, "f") == "write" }

func str(r *env.Record, key string) string {
	s, _ := r.Str(key)
	return s
}

func split(s string) []env.NodeID {
	var out []env.NodeID
	for _, id := range strings.Split(s, ",") {
		if id != "" {
			out = append(out, env.NodeID(id))
		}
	}
	return out
}

func intersect(a, b []env.NodeID) []env.NodeID {
	var out []env.NodeID
	for _, id := range a {
		if slices.Contains(b, id) {
			out = append(out, id)
		}
	}
	return out
}

func without(ids []env.NodeID, x env.NodeID) []env.NodeID {
	return slices.DeleteFunc(slices.Clone(ids), func(id env.NodeID) bool { return id == x })
}

func at(ns int64) time.Duration { return time.Duration(ns) }
