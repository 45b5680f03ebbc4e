package checker

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/shoaldb/shoal/core/env"
)

// MaxVoters is the most voters group 0 may have (core/cluster's
// VoterCount: 3 or 5 once there are enough instances).
const MaxVoters = 5

// voterCount is how many voters group 0 should have among n instances
// that are not expelled: all of one or two, 3 of three or four, 5 of
// five or more (Picodata's rule, as core/cluster's VoterCount).
func voterCount(n int) int {
	switch {
	case n <= 2:
		return n
	case n <= 4:
		return 3
	}
	return MaxVoters
}

// Topology checks how the cluster changed shape, from the trace: the
// operators' joins and expels (the runner's topology.action records and
// their prop.result), the governor's steps (governor.step and their
// prop.result), every group's Raft membership (raft.conf), the clients'
// answers (kv.response) and the configuration the run ended with (the
// runner's topology.final record):
//
//   - every join or expel the scenario made ended ok. One that was
//     refused (prop.result fail: the configuration would not take it,
//     say an expel of an instance not yet marked offline) makes the
//     verdict unknown: the run did not make the change the scenario is
//     about. One without an answer in time is explained when, at some
//     moment of its life, the instance it went through was down, paused
//     or cut off from a majority of group 0's voters; one that timed out
//     though that instance stayed connected to a majority of them for
//     five election timeouts (and its timeout was that long) is invalid,
//     as the quorum check judges every operator action;
//   - an expelled instance (the governor's step that made it so applied:
//     prop.result ok) is, in every group, never a member again once a
//     membership without it was recorded after it had been one; and it
//     answers no client request (a kv.response other than a redirect)
//     that reached it after it had applied its own expulsion (its
//     raft.state for group 0 reached the step's index);
//   - group 0 never has more than MaxVoters voters, in any membership
//     recorded or any voter change the governor made;
//   - at the end (topology.final, recorded once the configuration had
//     settled after the final recovery), group 0's voters are
//     voterCount of the instances not expelled, all of them among those
//     instances, and none offline while an online instance that does
//     not vote could take its place; group 0's last recorded Raft
//     membership has those voters and every other instance not
//     expelled as a learner; every replicaset's last recorded
//     membership is its members, all voters; every instance whose join
//     was answered ok is in the configuration, and every instance whose
//     expel was is expelled there. A configuration that had not settled
//     within the runner's limit makes the verdict unknown.
//
// NA when the trace has no action, no governor step and no
// topology.final.
func Topology(trace []env.Record) Result {
	res := Result{Checker: "topology"}
	t := readTopology(trace)
	if len(t.actions) == 0 && len(t.steps) == 0 && t.final == nil {
		res.Verdict, res.Explanation = NA, "no join, expel or governor step, and no final configuration recorded"
		return res
	}
	var unknown []string
	report := []string{}
	if bad := t.judgeActions(trace, &report, &unknown); bad != nil {
		return bad.into(res)
	}
	if bad := t.judgeVoterLimit(&report); bad != nil {
		return bad.into(res)
	}
	if bad := t.judgeExpelled(trace, &report); bad != nil {
		return bad.into(res)
	}
	if bad := t.judgeFinal(&report, &unknown); bad != nil {
		return bad.into(res)
	}
	res.Verdict = Valid
	if len(unknown) > 0 {
		res.Verdict = Unknown
		report = append(slices.Clone(unknown), report...)
	}
	res.Explanation = strings.Join(report, "; ")
	return res
}

// finding is what a judge found wrong: the event and the words.
type finding struct {
	r    *env.Record
	node string
	time int64
	why  string
}

func (f *finding) into(res Result) Result {
	res.Verdict, res.Explanation = Invalid, f.why
	if f.r != nil {
		res.First = eventCulprit(f.r, f.why)
	} else {
		res.First = &Culprit{Time: f.time, Node: f.node, What: f.why}
	}
	return res
}

func found(r *env.Record, format string, args ...any) *finding {
	return &finding{r: r, why: fmt.Sprintf(format, args...)}
}

// topoAction is an operator's join or expel, and what became of it.
type topoAction struct {
	rec      *env.Record
	id       string
	kind     string
	instance env.NodeID
	via      env.NodeID
	up       bool
	at, end  int64
	timeout  int64
	outcome  string // ok, fail, timeout; "" without an answer
	err      string
	index    int64
}

// govStep is one step of the governor and its outcome.
type govStep struct {
	rec      *env.Record
	id       string
	op       string
	instance env.NodeID
	state    string
	voters   []env.NodeID
	outcome  string
	index    int64
	end      int64
}

// finalInstance is one instance of the configuration the run ended with.
type finalInstance struct {
	name                      env.NodeID
	state, target, replicaset string
}

// finalConf is the runner's topology.final record.
type finalConf struct {
	rec         *env.Record
	leader      env.NodeID
	settled     bool
	instances   []finalInstance
	voters      []env.NodeID
	replicasets map[string][]env.NodeID
}

// topology is what the trace says of the cluster's shape.
type topology struct {
	actions         []*topoAction
	steps           []*govStep
	final           *finalConf
	confs           map[string]confHistory
	electionTimeout int64
	traceEnd        int64
}

func readTopology(trace []env.Record) *topology {
	t := &topology{confs: confHistories(trace), electionTimeout: int64(time.Second)}
	if len(trace) > 0 {
		t.traceEnd = trace[len(trace)-1].Time
	}
	results := map[string]*env.Record{} // node + id → prop.result
	for i := range trace {
		r := &trace[i]
		switch r.Kind {
		case "node.bootstrap":
			if et, ok := r.Int("election_timeout"); ok && et > 0 {
				t.electionTimeout = et
			}
		case "topology.action":
			a := &topoAction{rec: r, at: r.Time}
			a.id, _ = r.Str("id")
			a.kind, _ = r.Str("action")
			inst, _ := r.Str("instance")
			via, _ := r.Str("via")
			a.instance, a.via = env.NodeID(inst), env.NodeID(via)
			a.up, _ = r.Bool("up")
			a.timeout, _ = r.Int("timeout")
			t.actions = append(t.actions, a)
		case "governor.step":
			s := &govStep{rec: r}
			s.id, _ = r.Str("id")
			s.op, _ = r.Str("op")
			inst, _ := r.Str("instance")
			s.instance = env.NodeID(inst)
			s.state, _ = r.Str("state")
			v, _ := r.Str("voters")
			s.voters = env.Split(v)
			t.steps = append(t.steps, s)
		case "prop.result":
			if g, _ := r.Str("group"); g == "config" {
				id, _ := r.Str("id")
				if _, seen := results[string(r.Node)+"\x00"+id]; !seen {
					results[string(r.Node)+"\x00"+id] = r
				}
			}
		case "topology.final":
			t.final = readFinal(r)
		}
	}
	for _, a := range t.actions {
		if r := results[string(a.via)+"\x00"+a.id]; r != nil && r.Time >= a.at {
			a.outcome, _ = r.Str("outcome")
			a.err, _ = r.Str("error")
			a.index, _ = r.Int("index")
			a.end = r.Time
		}
	}
	for _, s := range t.steps {
		if r := results[string(s.rec.Node)+"\x00"+s.id]; r != nil {
			s.outcome, _ = r.Str("outcome")
			s.index, _ = r.Int("index")
			s.end = r.Time
		}
	}
	return t
}

func readFinal(r *env.Record) *finalConf {
	f := &finalConf{rec: r, replicasets: map[string][]env.NodeID{}}
	l, _ := r.Str("leader")
	f.leader = env.NodeID(l)
	f.settled, _ = r.Bool("settled")
	insts, _ := r.Str("instances")
	for _, s := range strings.Split(insts, ",") {
		p := strings.Split(s, ":")
		if len(p) == 4 {
			f.instances = append(f.instances, finalInstance{env.NodeID(p[0]), p[1], p[2], p[3]})
		}
	}
	v, _ := r.Str("voters")
	f.voters = env.Split(v)
	sets, _ := r.Str("replicasets")
	for _, s := range strings.Split(sets, ",") {
		if name, members, ok := strings.Cut(s, "="); ok {
			f.replicasets[name] = env.Split(strings.ReplaceAll(members, "+", ","))
		}
	}
	return f
}

// judgeActions judges the operators' actions: refused ones are unknown,
// unanswered ones explained or invalid.
func (t *topology) judgeActions(trace []env.Record, report, unknown *[]string) *finding {
	if len(t.actions) == 0 {
		return nil
	}
	var tl *timeline
	var ok, explained []string
	for _, a := range t.actions {
		switch a.outcome {
		case "ok":
			ok = append(ok, a.id)
			continue
		case "fail":
			*unknown = append(*unknown, fmt.Sprintf("%s, made at %s via %s, was refused (%s): the run did not make the change the scenario asks for", a.id, at(a.at), a.via, a.err))
			continue
		}
		if !a.up {
			explained = append(explained, fmt.Sprintf("%s (via %s, down when it was made)", a.id, a.via))
			continue
		}
		if tl == nil {
			tl = newTimeline()
			tl.instances = instanceSet(trace)
			for i := range trace {
				tl.observe(&trace[i])
			}
			tl.finish()
		}
		end := a.at + a.timeout
		why := t.cutOff(tl, a.via, a.at, end)
		if why != "" {
			explained = append(explained, fmt.Sprintf("%s (%s)", a.id, why))
			continue
		}
		window := 5 * t.electionTimeout
		if a.timeout >= window && a.at+window <= t.traceEnd {
			if m := t.stablyConnected(tl, a.via, a.at, a.at+window); m != nil {
				outcome := "no answer"
				if a.outcome != "" {
					outcome = a.outcome
				}
				return found(a.rec, "%s, made at %s via %s, did not commit (%s by %s) though %s stayed connected to group 0's voters [%s] for five election timeouts (%s)",
					a.id, at(a.at), a.via, outcome, at(end), a.via, env.Join(m), time.Duration(window))
			}
		}
		explained = append(explained, fmt.Sprintf("%s (via %s: group 0's voters changed, or no majority stayed connected to it, during the action)", a.id, a.via))
	}
	s := fmt.Sprintf("%d of %d joins and expels ended ok", len(ok), len(t.actions))
	if len(explained) > 0 {
		s += fmt.Sprintf("; %d timed out, explained: %s", len(explained), strings.Join(explained, ", "))
	}
	*report = append(*report, s)
	return nil
}

// cutOff says how via was cut off from a majority of group 0's voters at
// some moment of [a, b], in every membership in force then; "" if it
// never was.
func (t *topology) cutOff(tl *timeline, via env.NodeID, a, b int64) string {
	confs := t.confs["config"].during(a, b)
	if len(confs) == 0 {
		return ""
	}
	for _, seg := range tl.overlapping(a, b) {
		comp := tl.component(seg, via)
		short := true
		for _, c := range confs {
			if countVoters(comp, c.voters) >= len(c.voters)/2+1 {
				short = false
				break
			}
		}
		if !short {
			continue
		}
		switch {
		case seg.st.down[via]:
			return fmt.Sprintf("%s was down at %s", via, at(max(seg.from, a)))
		case seg.st.paused[via]:
			return fmt.Sprintf("%s was paused at %s", via, at(max(seg.from, a)))
		}
		return fmt.Sprintf("%s was cut off from a majority of group 0's voters at %s, hearing [%s]", via, at(max(seg.from, a)), env.Join(comp))
	}
	return ""
}

// stablyConnected is the set of group 0's voters connected with via
// throughout [a, b], if they are a majority of every membership in force
// then; nil otherwise.
func (t *topology) stablyConnected(tl *timeline, via env.NodeID, a, b int64) []env.NodeID {
	confs := t.confs["config"].during(a, b)
	if len(confs) != 1 {
		return nil // the voters changed: who should have committed it is not one majority
	}
	m := tl.stableMajority(via, confs[0].voters, a, b)
	if len(m) < len(confs[0].voters)/2+1 {
		return nil
	}
	return m
}

// judgeVoterLimit checks that group 0 never had more than MaxVoters
// voters, in Raft or in the governor's steps.
func (t *topology) judgeVoterLimit(report *[]string) *finding {
	most := 0
	for _, c := range t.confs["config"] {
		most = max(most, len(c.voters))
		if len(c.voters) > MaxVoters {
			return &finding{node: string(c.node), time: c.time, why: fmt.Sprintf("group 0 had %d voters [%s] at index %d (%s applied it at %s), more than %d",
				len(c.voters), env.Join(c.voters), c.index, c.node, at(c.time), MaxVoters)}
		}
	}
	steps := map[string]int{}
	for _, s := range t.steps {
		steps[s.op]++
		if s.op == "voters" && len(s.voters) > MaxVoters {
			return found(s.rec, "the governor proposed %d voters [%s] for group 0 at %s (%s), more than %d", len(s.voters), env.Join(s.voters), at(s.rec.Time), s.id, MaxVoters)
		}
	}
	s := fmt.Sprintf("group 0 had at most %s", count(most, "voter"))
	if len(t.steps) > 0 {
		var parts []string
		for _, op := range slices.Sorted(maps.Keys(steps)) {
			parts = append(parts, fmt.Sprintf("%d %s", steps[op], op))
		}
		ok := 0
		for _, st := range t.steps {
			if st.outcome == "ok" {
				ok++
			}
		}
		s += fmt.Sprintf("; the governor made %s (%s), %d applied", count(len(t.steps), "step"), strings.Join(parts, ", "), ok)
	}
	*report = append(*report, s)
	return nil
}

// judgeExpelled checks that an expelled instance stays out of every group
// and serves no client once it knows.
func (t *topology) judgeExpelled(trace []env.Record, report *[]string) *finding {
	// The index of group 0's entry that made each instance expelled.
	expelledAt := map[env.NodeID]*govStep{}
	for _, s := range t.steps {
		if s.op == "state" && s.state == "expelled" && s.outcome == "ok" && expelledAt[s.instance] == nil {
			expelledAt[s.instance] = s
		}
	}
	if len(expelledAt) == 0 {
		return nil
	}
	// In each group's memberships by index: once an expelled instance
	// was a member and then not, it is never one again.
	for _, g := range slices.Sorted(maps.Keys(t.confs)) {
		h := slices.Clone(t.confs[g])
		slices.SortStableFunc(h, func(a, b conf) int { return int(a.index - b.index) })
		for _, x := range slices.Sorted(maps.Keys(expelledAt)) {
			member, removed := false, int64(0)
			for _, c := range h {
				switch in := c.has(x); {
				case in && removed > 0:
					return &finding{node: string(c.node), time: c.time, why: fmt.Sprintf("%s, expelled at %s (%s, index %d of group 0), was removed from %s at index %d, and is a member again at index %d (%s applied it at %s: voters [%s], learners [%s])",
						x, at(expelledAt[x].end), expelledAt[x].id, expelledAt[x].index, g, removed, c.index, c.node, at(c.time), env.Join(c.voters), env.Join(c.learners))}
				case in:
					member = true
				case member && removed == 0:
					removed = c.index
				}
			}
		}
	}
	// No answer but a redirect to a request that reached it after it had
	// applied its expulsion.
	knows := map[env.NodeID]int64{} // the moment it knew
	type req struct {
		node   env.NodeID
		client string
		seq    int64
	}
	arrived := map[req]int64{}
	for i := range trace {
		r := &trace[i]
		x := r.Node
		s := expelledAt[x]
		if s == nil {
			continue
		}
		switch r.Kind {
		case "raft.state":
			if g, _ := r.Str("group"); g == "config" {
				if applied, _ := r.Int("applied"); applied >= s.index {
					if _, ok := knows[x]; !ok {
						knows[x] = r.Time
					}
				}
			}
		case "kv.request":
			client, _ := r.Str("client")
			seq, _ := r.Int("seq")
			arrived[req{x, client, seq}] = r.Time
		case "kv.response":
			since, ok := knows[x]
			status, _ := r.Str("status")
			if !ok || status == "redirect" {
				continue
			}
			client, _ := r.Str("client")
			seq, _ := r.Int("seq")
			if came, ok := arrived[req{x, client, seq}]; ok && came >= since {
				return found(r, "%s, expelled (%s applied at index %d of group 0, which %s had applied by %s), answered %s's request %d %s at %s",
					x, s.id, s.index, x, at(since), client, seq, status, at(r.Time))
			}
		}
	}
	xs := slices.Sorted(maps.Keys(expelledAt))
	*report = append(*report, fmt.Sprintf("expelled [%s]: none a member of a group again once removed, none answered a client after it knew", env.Join(xs)))
	return nil
}

// judgeFinal compares the configuration the run ended with with the
// groups' last Raft memberships, and with the actions answered ok.
func (t *topology) judgeFinal(report, unknown *[]string) *finding {
	f := t.final
	if f == nil {
		*report = append(*report, "the final configuration was not recorded, so the end state is not judged")
		return nil
	}
	if f.leader == "" || !f.settled {
		*unknown = append(*unknown, "the configuration had not settled by the end of the run (an instance not in its target state, or group 0's voters not those the governor wants), so the end state is not judged")
		return nil
	}
	byName := map[env.NodeID]finalInstance{}
	var staying []env.NodeID
	for _, in := range f.instances {
		byName[in.name] = in
		if in.state != "expelled" {
			staying = append(staying, in.name)
		}
	}
	for _, a := range t.actions {
		if a.outcome != "ok" {
			continue
		}
		in, ok := byName[a.instance]
		switch {
		case a.kind == "join" && !ok:
			return found(f.rec, "%s was answered ok at %s, but %s is not in the configuration the run ended with", a.id, at(a.end), a.instance)
		case a.kind == "expel" && in.state != "expelled":
			return found(f.rec, "%s was answered ok at %s, but %s is %s at the end, not expelled", a.id, at(a.end), a.instance, in.state)
		}
	}
	want := voterCount(len(staying))
	if len(f.voters) != want {
		return found(f.rec, "group 0 ends with %s [%s], not %d: %d instances are not expelled [%s]", count(len(f.voters), "voter"), env.Join(f.voters), want, len(staying), env.Join(staying))
	}
	for _, v := range f.voters {
		if !slices.Contains(staying, v) {
			return found(f.rec, "group 0's voter %s is expelled at the end (voters [%s])", v, env.Join(f.voters))
		}
	}
	for _, v := range f.voters {
		in := byName[v]
		if in.state == "online" && in.target == "online" {
			continue
		}
		for _, l := range staying {
			li := byName[l]
			if !slices.Contains(f.voters, l) && li.state == "online" && li.target == "online" {
				return found(f.rec, "group 0's voter %s ends %s (target %s) while %s, online, does not vote (voters [%s])", v, in.state, in.target, l, env.Join(f.voters))
			}
		}
	}
	var learners []env.NodeID
	for _, n := range staying {
		if !slices.Contains(f.voters, n) {
			learners = append(learners, n)
		}
	}
	// An instance that is not online may not have caught up, and so not
	// be promoted: it may be a learner where the configuration has it
	// vote.
	down := map[env.NodeID]bool{}
	for _, in := range f.instances {
		down[in.name] = in.state != "online" || in.target != "online"
	}
	if bad := t.sameMembers(f, "config", f.voters, learners, down); bad != nil {
		return bad
	}
	sets := slices.Sorted(maps.Keys(f.replicasets))
	for _, rs := range sets {
		if bad := t.sameMembers(f, rs, f.replicasets[rs], nil, down); bad != nil {
			return bad
		}
	}
	*report = append(*report, fmt.Sprintf("at the end group 0's voters were [%s], %d of the %d instances not expelled, and the Raft memberships of group 0 and of %s matched the configuration",
		env.Join(f.voters), len(f.voters), len(staying), count(len(sets), "replicaset")))
	return nil
}

// sameMembers checks a group's last recorded Raft membership against the
// configuration's: the same instances, each online one in the same role.
func (t *topology) sameMembers(f *finalConf, group string, voters, learners []env.NodeID, down map[env.NodeID]bool) *finding {
	last, ok := t.confs[group].last()
	if !ok {
		if len(voters)+len(learners) == 0 {
			return nil
		}
		return found(f.rec, "%s has members [%s] at the end, and no Raft membership of it was recorded", group, env.Join(slices.Concat(voters, learners)))
	}
	same := func(a, b []env.NodeID) bool {
		return slices.Equal(slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b)))
	}
	online := func(ns []env.NodeID) []env.NodeID {
		return slices.DeleteFunc(slices.Clone(ns), func(n env.NodeID) bool { return down[n] })
	}
	if !same(slices.Concat(last.voters, last.learners), slices.Concat(voters, learners)) ||
		!same(online(last.voters), online(voters)) || !same(online(last.learners), online(learners)) {
		return found(f.rec, "%s's last Raft membership (index %d, applied by %s at %s) is voters [%s], learners [%s]; the configuration the run ended with says voters [%s], learners [%s]",
			group, last.index, last.node, at(last.time), env.Join(last.voters), env.Join(last.learners), env.Join(voters), env.Join(learners))
	}
	return nil
}
