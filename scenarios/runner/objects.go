package runner

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/model"
	"github.com/shoaldb/shoal/scenarios/scenario"
	"github.com/shoaldb/shoal/simnet/client"
	"github.com/shoaldb/shoal/simnet/harness"
)

// InitialModel is the model a scenario's cluster bootstraps with, or nil.
func InitialModel(s *scenario.Scenario) (*model.Model, error) {
	if s.Cluster.Model == "" {
		return nil, nil
	}
	return model.Parse(s.Cluster.Model+".yaml", scenario.ModelSource(s.Cluster.Model))
}

// ObjectMix is the operation generator of one client of an objects
// workload over model m.
func ObjectMix(m *model.Model, wl scenario.Workload) client.Workload {
	return &objectMix{m: m, keys: wl.Keys, mix: wl.Mix}
}

// ModelProposalID is the ID of workload i's (from 0) model proposal: its
// prop.result in the simulator, its model.proposal in a live run.
func ModelProposalID(i int) string { return fmt.Sprintf("w%dm", i+1) }

// objectMix is the operation generator of one client of an objects
// workload: each operation picks a type of the model and one of keys
// keys, then reads, writes or deletes that object. A write is a random
// object (model.Type.Sample) at a random version of its type, with its
// key fields set from the key.
type objectMix struct {
	m    *model.Model
	keys int
	mix  scenario.Mix
}

// Next implements client.Workload.
func (w *objectMix) Next(r *rand.Rand) (client.Op, bool) {
	t := w.m.Types[r.IntN(len(w.m.Types))]
	k := r.IntN(max(w.keys, 1))
	x := r.Float64() * (w.mix.Read + w.mix.Write + w.mix.Delete + w.mix.StaleRead)
	var op client.Op
	var obj model.Object
	switch {
	case x < w.mix.Read:
		op.F = kv.OpGetObject
	case x < w.mix.Read+w.mix.Write:
		op.F = kv.OpPutObject
	case x < w.mix.Read+w.mix.Write+w.mix.Delete:
		op.F = kv.OpDeleteObject
	default:
		op.F, op.Stale = kv.OpGetObject, true
	}
	version := 1 + r.IntN(t.Latest())
	obj = t.Sample(version, r)
	pk := setKey(t, obj, k)
	op.Object = &kv.ObjectRequest{Type: t.Name}
	if op.F == kv.OpPutObject {
		op.Object.Version, op.Object.Value = version, model.Encode(obj)
	} else {
		op.Object.PK = pk
	}
	op.Key, op.Label = routeOf(t, pk), t.Name+"/"+t.KeyString(pk)
	return op, true
}

// setKey gives obj the k-th key of its type (model.Type.SampleKey) and
// returns its encoded primary key.
func setKey(t *model.Type, obj model.Object, k int) string {
	pk, err := t.SetKey(obj, t.SampleKey(k))
	if err != nil {
		panic(fmt.Sprintf("runner: %s: the key of a sampled object: %v", t.Name, err))
	}
	return pk
}

func routeOf(t *model.Type, pk string) string {
	route, err := t.RouteKey(pk)
	if err != nil {
		panic(fmt.Sprintf("runner: %s: the route of a sampled key: %v", t.Name, err))
	}
	return route
}

// FinalObjectReads lists a stale read of every object an objects
// workload of keys keys per type may have written.
func FinalObjectReads(m *model.Model, keys int) []client.Op {
	var ops []client.Op
	r := rand.New(rand.NewPCG(1, 2)) // only to fill the non-key fields, which a read ignores
	for _, t := range m.Types {
		for k := range keys {
			pk := setKey(t, t.Sample(1, r), k)
			ops = append(ops, client.Op{F: kv.OpGetObject, Stale: true, Key: routeOf(t, pk), Label: t.Name + "/" + t.KeyString(pk),
				Object: &kv.ObjectRequest{Type: t.Name, PK: pk}})
		}
	}
	return ops
}

// modelProposal is one model workload's proposal: it proposes its model
// at its time through the instance its target names: a node; group 0's
// leader (a running one; if none is known, as during an election, any
// running instance, which passes the proposal on once it knows one); or
// a running instance drawn from the seed. It is made once: a proposal to
// an instance that is down is lost, as an operator's would be.
func modelProposal(c *harness.Cluster, i int, wl scenario.Workload) func() {
	return func() {
		var at env.NodeID
		switch wl.Target {
		case "leader":
			at, _ = c.Leader("config")
		case "random", "":
		default:
			at = env.NodeID(wl.Target)
		}
		if at == "" {
			var up []env.NodeID
			for _, name := range c.Instances() {
				if c.World.Up(name) {
					up = append(up, name)
				}
			}
			if len(up) == 0 {
				up = c.Instances()
			}
			at = up[c.World.Rand().IntN(len(up))]
		}
		id := ModelProposalID(i)
		c.Propose(at, "config", id, cluster.ProposeModel(scenario.ModelSource(wl.ModelName)).Encode(), wl.Timeout)
	}
}

// objectOp is one object operation of a run's history.
type objectOp struct {
	label, f     string
	value        string // written, or read; "" and absent for a delete or a read of nothing
	absent       bool
	version      int
	call, ret    time.Duration // ret is -1 while the outcome is unknown (info)
	outcome      string        // ok, fail, info; "" while running
	node         string        // the instance that answered, on ok
	invoke, done *env.Record
}

// CheckModel judges the objects of a run against its data model. The
// final object reads (one reader per instance, each read answered by a
// member of the object's replicaset from its own state) must find every
// object the same on every replica, in the latest shape of the model
// every instance ends with, and durable: the value read must be the
// upgrade of a write (or a delete, for nothing) that did not fail, and not
// one that an acknowledged write or delete had already replaced (every
// write that could have produced it ended before an acknowledged one to
// the key began). With a model workload, writes acknowledged both before
// and after its change are needed to test what the check claims; without
// them the verdict is unknown.
func CheckModel(s *scenario.Scenario, trace []env.Record) checker.Result {
	res := checker.Result{Checker: scenario.CheckModel}
	fail := func(v checker.Verdict, r *env.Record, format string, args ...any) checker.Result {
		res.Verdict, res.Explanation = v, fmt.Sprintf(format, args...)
		if r != nil && v == checker.Invalid {
			res.First = &checker.Culprit{Time: r.Time, Node: string(r.Node), What: res.Explanation}
		}
		return res
	}
	models, changes, err := candidateModels(s)
	if err != nil {
		v := checker.Unknown
		if s.Cluster.Model == "" {
			v = checker.NA
		}
		return fail(v, nil, "%v", err)
	}
	// When the change was accepted, and the operations.
	accepted := time.Duration(-1)
	var ops []*objectOp
	running := map[[2]int64]*objectOp{} // (process, seq) → its operation
	for i := range trace {
		r := &trace[i]
		switch r.Kind {
		case "prop.result", "model.proposal":
			// The simulator's proposal is answered in the engine's
			// trace; a live run's by the API, which the harness records.
			id, _ := r.Str("id")
			if out, _ := r.Str("outcome"); out == "ok" && slices.Contains(changes, id) && accepted < 0 {
				accepted = time.Duration(r.Time)
			}
		case "client.invoke", "client.ok", "client.fail", "client.info":
			f, _ := r.Str("f")
			if !strings.HasSuffix(f, "-object") {
				continue
			}
			p, _ := r.Int("process")
			seq, _ := r.Int("seq")
			id := [2]int64{p, seq}
			if r.Kind == "client.invoke" {
				o := &objectOp{f: f, call: time.Duration(r.Time), ret: -1, invoke: r}
				o.label, _ = r.Str("key")
				if f == "write-object" {
					o.value, _ = r.Str("value")
					v, _ := r.Int("version")
					o.version = int(v)
				}
				o.absent = f == "delete-object"
				running[id] = o
				ops = append(ops, o)
				continue
			}
			o := running[id]
			if o == nil {
				return fail(checker.Unknown, r, "%s of process %d, seq %d, which was never invoked", r.Kind, p, seq)
			}
			delete(running, id)
			o.outcome, o.done = strings.TrimPrefix(r.Kind, "client."), r
			if o.outcome != "info" {
				o.ret = time.Duration(r.Time)
			}
			if o.outcome == "ok" {
				o.node, _ = r.Str("note")
			}
			if f == "read-object" {
				o.value, _ = r.Str("value")
				o.absent, _ = r.Bool("absent")
				v, _ := r.Int("version")
				o.version = int(v)
			}
		}
	}
	groups := lastMembers(trace)
	m, err := finalModel(models, trace)
	if err != nil {
		v := checker.Unknown
		if errors.Is(err, errModelsDiffer) {
			v = checker.Invalid
		}
		return fail(v, nil, "%v", err)
	}
	finalDigest := m.Digest()
	var labels []string
	byLabel := map[string][]*objectOp{}
	for _, o := range ops {
		if _, seen := byLabel[o.label]; !seen {
			labels = append(labels, o.label)
		}
		byLabel[o.label] = append(byLabel[o.label], o)
	}
	checked, old := 0, 0
	for _, label := range labels {
		var reads, writes []*objectOp
		for _, o := range byLabel[label] {
			p, _ := o.invoke.Int("process")
			switch {
			case o.f == "read-object" && p > harness.FinalReadProcess:
				if o.done == nil {
					return fail(checker.Unknown, o.invoke, "the final read of %s by process %d never ended", label, p)
				}
				if o.outcome != "ok" {
					note, _ := o.done.Str("note")
					return fail(checker.Unknown, o.done, "the final read of %s by process %d ended %s: %s", label, p, o.outcome, note)
				}
				reads = append(reads, o)
			case o.f != "read-object":
				writes = append(writes, o)
			}
		}
		if len(reads) == 0 {
			continue
		}
		typ, _, _ := strings.Cut(label, "/")
		t, ok := m.Type(typ)
		if !ok {
			return fail(checker.Invalid, reads[0].done, "%s: the final model has no type %s", label, typ)
		}
		nodes := map[string]bool{}
		rd := reads[0]
		for _, o := range reads {
			nodes[o.node] = true
			if o.absent != rd.absent || o.value != rd.value {
				return fail(checker.Invalid, o.done, "%s reads differently on %s and %s: %s against %s", label, rd.node, o.node,
					show(rd.absent, rd.value), show(o.absent, o.value))
			}
		}
		if want := replicas(s, groups, nodes); len(nodes) < want {
			return fail(checker.Unknown, rd.done, "%s was read on %d instances, not on all %d of its replicaset", label, len(nodes), want)
		}
		if !rd.absent {
			if rd.version != t.Latest() {
				return fail(checker.Invalid, rd.done, "%s reads at version %d; the latest version of %s is %d", label, rd.version, typ, t.Latest())
			}
			obj, err := model.Decode([]byte(rd.value))
			if err == nil {
				err = t.Check(t.Latest(), obj)
			}
			if err != nil {
				return fail(checker.Invalid, rd.done, "%s does not have the latest shape of %s: %v", label, typ, err)
			}
		}
		// The writes that could have produced what was read: not failed,
		// and giving that value once upgraded (a delete gives nothing).
		var producers []*objectOp
		for _, w := range writes {
			if w.outcome == "fail" || w.absent != rd.absent {
				continue
			}
			if !w.absent {
				o, err := t.Validate(w.version, []byte(w.value))
				if err == nil {
					o, err = t.Upgrade(w.version, o)
				}
				if err != nil || string(model.Encode(o)) != rd.value {
					continue
				}
			}
			producers = append(producers, w)
		}
		acked := slices.ContainsFunc(writes, func(w *objectOp) bool { return w.outcome == "ok" })
		switch {
		case len(producers) == 0 && rd.absent && !acked:
			// Never written, or nothing acknowledged: nothing to lose.
		case len(producers) == 0 && rd.absent:
			return fail(checker.Invalid, rd.done, "%s is missing on every replica, though a write of it was acknowledged and no delete of it was made", label)
		case len(producers) == 0:
			return fail(checker.Invalid, rd.done, "%s reads %s, which is no upgrade of any object written to it", label, rd.value)
		default:
			// Lost: an acknowledged write of something else began after
			// every producer had ended.
			for _, w := range writes {
				if w.outcome != "ok" || slices.Contains(producers, w) {
					continue
				}
				if !slices.ContainsFunc(producers, func(p *objectOp) bool { return p.ret < 0 || p.ret > w.call }) {
					return fail(checker.Invalid, w.done, "%s reads %s, but the acknowledged %s invoked at %v, after every write that gives that had ended, was lost",
						label, show(rd.absent, rd.value), w.f, w.call)
				}
			}
			if !rd.absent && !slices.ContainsFunc(producers, func(p *objectOp) bool { return p.version >= t.Latest() }) {
				old++
			}
		}
		checked++
	}
	if checked == 0 {
		return fail(checker.Unknown, nil, "no object was read back at the end")
	}
	explain := fmt.Sprintf("%s read back alike on every replica, each in the latest shape of model %s and written by a write nothing acknowledged had replaced; %d of them written at an older version",
		plural(checked, "object"), finalDigest, old)
	if len(changes) > 0 {
		if accepted < 0 {
			return fail(checker.Unknown, nil, "the model change was never accepted; %s", explain)
		}
		before, after := 0, 0
		for _, o := range ops {
			if o.f == "write-object" && o.outcome == "ok" {
				if o.ret < accepted {
					before++
				} else {
					after++
				}
			}
		}
		if before == 0 || after == 0 {
			return fail(checker.Unknown, nil, "writes acknowledged before the model change (at %v): %d, after it: %d; both are needed", accepted, before, after)
		}
		explain += fmt.Sprintf("; the model changed at %v, with %d writes acknowledged before and %d after", accepted, before, after)
	}
	res.Verdict, res.Explanation = checker.Valid, explain
	return res
}

func show(absent bool, v string) string {
	if absent {
		return "nothing"
	}
	return v
}

func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
