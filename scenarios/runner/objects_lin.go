package runner

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/model"
	"github.com/shoaldb/shoal/scenarios/scenario"
	"github.com/shoaldb/shoal/simnet/harness"
)

// candidateModels are the models a run's objects may be in: the
// scenario's initial model and every model workload's, by digest, and
// the model workloads' proposal IDs in workload order.
func candidateModels(s *scenario.Scenario) (map[string]*model.Model, []string, error) {
	first, err := InitialModel(s)
	if err != nil {
		return nil, nil, err
	}
	if first == nil {
		return nil, nil, fmt.Errorf("the scenario has no data model")
	}
	models := map[string]*model.Model{first.Digest(): first}
	var changes []string
	for i, wl := range s.Workloads {
		if wl.Kind != scenario.Model {
			continue
		}
		m, err := model.Parse(wl.ModelName+".yaml", scenario.ModelSource(wl.ModelName))
		if err != nil {
			return nil, nil, fmt.Errorf("model %s does not parse: %v", wl.ModelName, err)
		}
		models[m.Digest()] = m
		changes = append(changes, ModelProposalID(i))
	}
	return models, changes, nil
}

// errModelsDiffer is finalModel's error when the instances end with
// different models: an invalid run, where other errors leave it unknown.
var errModelsDiffer = errors.New("the instances end with different models")

// finalModel is the model every instance of the run ends with (its
// model.state records), among models.
func finalModel(models map[string]*model.Model, trace []env.Record) (*model.Model, error) {
	final := map[env.NodeID]string{}
	members := lastMembers(trace)["config"]
	for i := range trace {
		// An instance expelled, which group 0 left behind, may hold an
		// older model: only the members count.
		if r := &trace[i]; r.Kind == "model.state" && (members == nil || members[r.Node]) {
			final[r.Node], _ = r.Str("digest")
		}
	}
	var digest string
	for _, name := range slices.Sorted(maps.Keys(final)) {
		if d := final[name]; digest == "" {
			digest = d
		} else if d != digest {
			return nil, fmt.Errorf("%w: %s has %s, another %s", errModelsDiffer, name, d, digest)
		}
	}
	m, ok := models[digest]
	if !ok {
		return nil, fmt.Errorf("no instance recorded a known model at the end (digest %q)", digest)
	}
	return m, nil
}

// objectValue is an object as a value of the linearizability check: its
// JSON in the latest shape of its type in m, upgraded from the version
// it was written at or read in, so that a write and a read of the same
// object meet whatever version each used and whatever model was in force.
func objectValue(m *model.Model, label, value string, version int) (string, error) {
	typ, _, _ := strings.Cut(label, "/")
	t, ok := m.Type(typ)
	if !ok {
		return "", fmt.Errorf("the final model has no type %s", typ)
	}
	obj, err := t.Validate(version, []byte(value))
	if err == nil {
		obj, err = t.Upgrade(version, obj)
	}
	if err != nil {
		return "", fmt.Errorf("%s at version %d: %v", label, version, err)
	}
	return string(model.Encode(obj)), nil
}

// staleRead is a stale object read that returned: what it read and when.
type staleRead struct {
	key       string
	value     checker.Value
	call, ret int64
}

// withObjects is the run's key-value history with its objects workloads'
// operations added as the key-value check reads them: each object a
// register named by its label (Type/key), written by write-object,
// emptied by delete-object, read by read-object, every value in the
// final model's latest shape (objectValue). Stale reads (stale: true,
// the final reads among them) are left out of it and returned apart:
// they promise no linearizability.
func withObjects(s *scenario.Scenario, trace []env.Record) (*checker.History, []staleRead, error) {
	h := checker.FromTrace(trace)
	if !slices.ContainsFunc(s.Workloads, func(w scenario.Workload) bool { return w.Kind == scenario.Objects }) {
		return h, nil, nil
	}
	models, _, err := candidateModels(s)
	if err != nil {
		return nil, nil, err
	}
	m, err := finalModel(models, trace)
	if err != nil {
		return nil, nil, err
	}
	// FromTrace made one event of every client record, in trace order:
	// walk both together.
	events := h.Events[:0]
	staleAt := map[int]int{} // process → its running stale read, in stale
	var stale []staleRead
	j := 0
	for i := range trace {
		r := &trace[i]
		switch r.Kind {
		case "client.invoke", "client.ok", "client.fail", "client.info":
		default:
			continue
		}
		e := h.Events[j]
		j++
		f, ok := strings.CutSuffix(e.F, "-object")
		if !ok {
			events = append(events, e)
			continue
		}
		if isStale, _ := r.Bool("stale"); isStale {
			switch {
			case e.Process > harness.FinalReadProcess:
				// The final reads: every replica's state once healed,
				// for the model and convergence checks.
			case e.Type == checker.Invoke:
				staleAt[e.Process] = len(stale)
				stale = append(stale, staleRead{key: e.Key, call: e.Time, ret: -1})
			default:
				k, ok := staleAt[e.Process]
				if !ok {
					break
				}
				delete(staleAt, e.Process)
				if e.Type == checker.OK {
					stale[k].ret = e.Time
					if stale[k].value, err = objectEventValue(m, r, e); err != nil {
						return nil, nil, err
					}
				}
			}
			continue
		}
		e.F = f
		switch {
		case f == "read" && e.Type != checker.OK, f == "delete":
			e.Value = checker.Value{}
		default:
			if e.Value, err = objectEventValue(m, r, e); err != nil {
				return nil, nil, err
			}
		}
		events = append(events, e)
	}
	if j != len(h.Events) {
		return nil, nil, fmt.Errorf("runner: %d client records in the trace, %d events in its history", j, len(h.Events))
	}
	for k := range events {
		events[k].Line = k + 1
	}
	h.Events = events
	return h, slices.DeleteFunc(stale, func(r staleRead) bool { return r.ret < 0 }), nil
}

// objectEventValue is the value of an object event e, from its record r.
func objectEventValue(m *model.Model, r *env.Record, e checker.Event) (checker.Value, error) {
	if absent, _ := r.Bool("absent"); absent {
		return checker.Value{}, nil
	}
	value, _ := r.Str("value")
	version, _ := r.Int("version")
	v, err := objectValue(m, e.Key, value, int(version))
	if err != nil {
		return checker.Value{}, fmt.Errorf("line %d of the history: %v", e.Line, err)
	}
	return checker.Str(v), nil
}

// outdated counts the stale reads that returned a value already replaced
// when they began: an acknowledged write or delete of the key, of
// another value, had ended before the read began, after every operation
// that could have given the value read had ended (the key starts
// absent). A linearizable read never returns one.
func outdated(h *checker.History, stale []staleRead) int {
	byKey := map[string][]checker.Op{}
	for _, o := range h.Ops() {
		if o.F == "write" || o.F == "delete" {
			byKey[o.Key] = append(byKey[o.Key], o)
		}
	}
	n := 0
	for _, r := range stale {
		// lastGiver is when the last operation that could give the value
		// read ended; a running one could give it at any time.
		lastGiver := int64(0) // the key's absent start
		if r.value.Kind != checker.Null {
			lastGiver = -1
		}
		writes := byKey[r.key]
		for _, w := range writes {
			if w.Outcome == checker.Fail || w.Value != r.value || w.Call > r.ret {
				continue
			}
			if w.Outcome == checker.Info {
				lastGiver = r.ret // it may take effect at any time
				break
			}
			lastGiver = max(lastGiver, w.Return)
		}
		if lastGiver < 0 {
			continue // no write gives it: not this count's to judge
		}
		if slices.ContainsFunc(writes, func(w checker.Op) bool {
			return w.Outcome == checker.OK && w.Value != r.value && w.Call > lastGiver && w.Return < r.call
		}) {
			n++
		}
	}
	return n
}

// StaleObjectReads counts a run's stale object reads that returned (the
// final reads not among them), and those of them that returned a value
// already replaced when they began.
func StaleObjectReads(s *scenario.Scenario, trace []env.Record) (returned, replaced int, err error) {
	h, stale, err := withObjects(s, trace)
	if err != nil {
		return 0, 0, err
	}
	return len(stale), outdated(h, stale), nil
}

// linearizable runs the linearizability check on the run's key-value
// and object operations (withObjects), and says what its stale object
// reads returned.
func linearizable(s *scenario.Scenario, trace []env.Record) (checker.Result, *checker.Linearizability) {
	h, stale, err := withObjects(s, trace)
	if err != nil {
		return checker.Result{Checker: scenario.CheckLinearizable, Verdict: checker.Unknown, Explanation: err.Error()}, nil
	}
	lin := checker.Linearizable(h, 0)
	if len(stale) > 0 {
		lin.Result.Explanation += fmt.Sprintf("; %s left out, %d of them returning a value an acknowledged write had replaced before they began",
			plural(len(stale), "stale object read"), outdated(h, stale))
	}
	return lin.Result, lin
}
