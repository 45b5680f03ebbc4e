package hunt

import (
	"slices"
	"time"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/nemesis"
	"github.com/shoaldb/shoal/scenarios/scenario"
)

// Trial is what one run of a candidate showed.
type Trial struct {
	// Failed is true when the run failed the way the reduction keeps: the
	// same check invalid.
	Failed bool
	// At is when the failure first showed, in virtual time, or -1 when
	// the check points at no moment.
	At time.Duration
	// Steps holds, by step index (from 0), the step's occurrences that
	// took effect, in order.
	Steps map[int][]Occurrence
	// Why is the failing check's explanation.
	Why string
}

// Occurrence is what one occurrence of a step did.
type Occurrence struct {
	At   time.Duration
	Kind nemesis.Kind // the fault, or the alternative a pick drew
	// Targets are the instances a process, clock or disk fault hit;
	// Sides, for a partition that split the instances into sides, those
	// sides.
	Targets []env.NodeID
	Sides   [][]env.NodeID
}

// first is the first occurrence of step i that took effect.
func (t Trial) first(i int) (Occurrence, bool) {
	if occ := t.Steps[i]; len(occ) > 0 {
		return occ[0], true
	}
	return Occurrence{}, false
}

// Test runs a candidate scenario in full and says whether it still fails.
// It must be a function of the scenario: the same candidate, the same
// Trial.
type Test func(*scenario.Scenario) (Trial, error)

// Reducer shrinks a failing scenario. Each candidate it tries is a whole
// run (Test), and it tries at most Budget of them, so that the result
// does not depend on the machine's speed. It keeps a candidate only if it
// still fails.
type Reducer struct {
	Test   Test
	Budget int

	runs  int
	cache map[string]bool
	best  *scenario.Scenario
	trial Trial
	err   error
}

// Runs is the number of candidates run so far.
func (r *Reducer) Runs() int { return r.runs }

// Trial is what the best scenario's run showed.
func (r *Reducer) Trial() Trial { return r.trial }

// Reduce returns the smallest failing scenario it found from s, which
// failed as trial shows. In turn, until nothing shrinks or the budget is
// spent: every step that draws from the seed resolved to what it did;
// delta debugging over the nemesis steps; the duration cut to
// just past the failure or the last fault; each step made simpler (one
// alternative of a pick, one occurrence of a repeating step, half its
// length, a named instance for a word target, explicit sides for a
// partition shape, fewer link effects and disk operations); the
// workloads lighter; the recovery shorter.
func (r *Reducer) Reduce(s *scenario.Scenario, trial Trial) (*scenario.Scenario, error) {
	r.best, r.trial = s, trial
	if r.cache == nil {
		r.cache = map[string]bool{}
	}
	r.cache[string(scenario.Marshal(s))] = true
	for r.err == nil && !r.spent() {
		before := r.runs
		changed := r.determinize()
		changed = r.steps() || changed
		changed = r.duration() || changed
		changed = r.simplify() || changed
		changed = r.workloads() || changed
		if !changed || r.runs == before {
			break
		}
	}
	return r.best, r.err
}

func (r *Reducer) spent() bool { return r.runs >= r.Budget }

// try runs a candidate, derived from the best scenario so far, unless it
// is invalid, was run before, or the budget is spent. A candidate that
// still fails becomes the best.
func (r *Reducer) try(c *scenario.Scenario) bool {
	if r.err != nil {
		return false
	}
	c.Checks = within(Checks(c), c.Checks) // c's are its origin's
	n, err := Normalize(c)
	if err != nil {
		return false
	}
	key := string(scenario.Marshal(n))
	if _, ok := r.cache[key]; ok {
		// Run before: the best so far, an earlier best, or no failure.
		return false
	}
	if r.spent() {
		return false
	}
	r.runs++
	t, err := r.Test(n)
	if err != nil {
		r.err = err
		return false
	}
	r.cache[key] = t.Failed
	if !t.Failed {
		return false
	}
	r.best, r.trial = n, t
	return true
}

// clone copies a scenario deeply enough that a candidate's changes do not
// reach the best.
func clone(s *scenario.Scenario) *scenario.Scenario {
	c := *s
	c.Workloads = slices.Clone(s.Workloads)
	c.Checks = slices.Clone(s.Checks)
	c.Nemesis = make([]nemesis.Step, len(s.Nemesis))
	for i, st := range s.Nemesis {
		c.Nemesis[i] = cloneStep(st)
	}
	return &c
}

func cloneStep(st nemesis.Step) nemesis.Step {
	if st.Fault != nil {
		f := *st.Fault
		st.Fault = &f
	}
	st.Pick = slices.Clone(st.Pick)
	return st
}

// withSteps is the best scenario with only the steps at the given
// indices.
func (r *Reducer) withSteps(keep []int) *scenario.Scenario {
	c := clone(r.best)
	c.Nemesis = nil
	for _, i := range keep {
		c.Nemesis = append(c.Nemesis, cloneStep(r.best.Nemesis[i]))
	}
	return c
}

// steps runs ddmin (Zeller and Hildebrandt) over the nemesis steps: no
// step at all first, then each of n chunks alone, then each complement,
// refining n until a chunk is a single step.
func (r *Reducer) steps() bool {
	if len(r.best.Nemesis) == 0 {
		return false
	}
	if r.try(r.withSteps(nil)) {
		return true
	}
	changed := false
	n := 2
	for len(r.best.Nemesis) >= 2 && !r.spent() && r.err == nil {
		all := make([]int, len(r.best.Nemesis))
		for i := range all {
			all[i] = i
		}
		chunks := split(all, n)
		reduced := false
		for _, c := range chunks {
			if r.try(r.withSteps(c)) {
				n, reduced = 2, true
				break
			}
		}
		if !reduced && n > 2 {
			for i := range chunks {
				var comp []int
				for j, c := range chunks {
					if j != i {
						comp = append(comp, c...)
					}
				}
				if r.try(r.withSteps(comp)) {
					n, reduced = max(n-1, 2), true
					break
				}
			}
		}
		if reduced {
			changed = true
			continue
		}
		if n >= len(r.best.Nemesis) {
			break
		}
		n = min(2*n, len(r.best.Nemesis))
	}
	return changed
}

// split cuts xs into n chunks of nearly equal length, in order.
func split(xs []int, n int) [][]int {
	var out [][]int
	for i := range n {
		lo, hi := i*len(xs)/n, (i+1)*len(xs)/n
		if hi > lo {
			out = append(out, xs[lo:hi])
		}
	}
	return out
}

const tick = 100 * time.Millisecond

// roundUp rounds d up to a whole second.
func roundUp(d time.Duration) time.Duration {
	return (d + time.Second - 1) / time.Second * time.Second
}

// duration cuts the schedule short: to a second past the moment the
// failure showed (the run up to then is the same, whatever comes after),
// or to the end of the last fault. Steps that would start at or after the
// new end go.
func (r *Reducer) duration() bool {
	var ends []time.Duration
	if r.trial.At >= 0 {
		ends = append(ends, roundUp(r.trial.At)+time.Second)
	}
	last := time.Duration(0)
	for _, st := range r.best.Nemesis {
		start := st.At
		if st.Every > 0 {
			start = st.Start
		}
		end := start + st.For
		if st.Every > 0 || st.For == 0 {
			end = r.best.Duration
		}
		last = max(last, end)
	}
	if last > 0 {
		ends = append(ends, roundUp(last)+time.Second)
	}
	changed := false
	for _, d := range ends {
		if d >= r.best.Duration || d <= 0 {
			continue
		}
		c := clone(r.best)
		c.Duration = d
		c.Nemesis = slices.DeleteFunc(c.Nemesis, func(st nemesis.Step) bool {
			if st.Every > 0 {
				return st.Start >= d
			}
			return st.At >= d
		})
		if r.try(c) {
			changed = true
		}
	}
	return changed
}

// simplify makes each step simpler in turn. It stops at a repeating step
// it expanded into its occurrences, for delta debugging to work on next.
func (r *Reducer) simplify() bool {
	changed := false
	for i := 0; i < len(r.best.Nemesis) && !r.spent() && r.err == nil; i++ {
		one, expanded := r.expand(i)
		if expanded {
			return true
		}
		changed = r.simplifyStep(i) || one || changed
	}
	return changed
}

// maxExpand bounds the occurrences a repeating step is expanded into.
const maxExpand = 16

// expand makes a repeating step one of its occurrences that took effect
// (each in turn, up to maxOccurrences), with the alternative a pick drew
// for it and, when it hit one instance, that instance by name, so that it
// draws nothing from the seed. When none fails alone, it replaces the step
// by all of them, each a step of its own, resolved alike: delta debugging
// can then keep the few that matter.
func (r *Reducer) expand(i int) (one, expanded bool) {
	st := r.best.Nemesis[i]
	occs := r.trial.Steps[i]
	if st.Every == 0 || len(occs) == 0 {
		return false, false
	}
	for _, o := range occs[:min(len(occs), maxOccurrences)] {
		if r.edit(i, func(s *nemesis.Step) { single(s, o) }) {
			return true, false
		}
	}
	if len(occs) < 2 || len(occs) > maxExpand || !draws(st) {
		return false, false
	}
	c := clone(r.best)
	var steps []nemesis.Step
	for _, o := range occs {
		steps = append(steps, resolve(st, o)...)
	}
	c.Nemesis = slices.Concat(c.Nemesis[:i], steps, c.Nemesis[i+1:])
	return false, r.try(c)
}

// draws reports whether a step's occurrences draw from the seed: a pick,
// a word target (leader and followers resolve to whoever leads when it
// fires), a partition shape. Expanding one of them into its occurrences
// makes each what it was in the failing run; expanding a step that draws
// nothing (a restart storm of a named instance) would only lengthen the
// schedule.
func draws(st nemesis.Step) bool {
	if st.Fault == nil {
		return true
	}
	f := st.Fault
	switch f.Kind {
	case nemesis.Partition:
		return f.Shape != "" && f.Shape != nemesis.Halves
	case nemesis.Link:
		return false
	}
	return slices.Contains(nemesis.Targets, f.Target) && f.Target != nemesis.TargetAll
}

// edit tries the best scenario with step i changed by f.
func (r *Reducer) edit(i int, f func(st *nemesis.Step)) bool {
	c := clone(r.best)
	f(&c.Nemesis[i])
	return r.try(c)
}

func (r *Reducer) simplifyStep(i int) bool {
	changed := false
	st := func() nemesis.Step { return r.best.Nemesis[i] }

	// One occurrence of a repeating step (expand tried each that took
	// effect): the first, as it is.
	if st().Every > 0 && r.edit(i, func(s *nemesis.Step) { s.At, s.Every, s.Start = s.Start, 0, 0 }) {
		changed = true
	}
	// One alternative of a pick: the one drawn first, then each in turn.
	if alts := st().Pick; len(alts) > 0 {
		if o, ok := r.trial.first(i); ok && r.edit(i, func(s *nemesis.Step) { single(s, Occurrence{At: -1, Kind: o.Kind}) }) {
			changed = true
		} else {
			for _, alt := range alts {
				if r.edit(i, func(s *nemesis.Step) {
					f := alt
					f.Weight = 0
					s.Fault, s.Pick = &f, nil
				}) {
					changed = true
					break
				}
			}
		}
	}
	// Half as long, while it still fails.
	if st().Fault == nil || st().Fault.Kind != nemesis.Restart {
		start := st().At
		if st().Every > 0 {
			start = st().Start
		}
		d := st().For
		if d == 0 {
			d = r.best.Duration - start
		}
		for {
			d = d / 2 / tick * tick
			if d < tick || !r.edit(i, func(s *nemesis.Step) { s.For = d }) {
				break
			}
			changed = true
		}
	}
	if st().Fault == nil {
		return changed
	}
	f := *st().Fault
	switch f.Kind {
	case nemesis.Kill, nemesis.Restart, nemesis.Pause, nemesis.Clock, nemesis.Disk:
		// A named instance for a word target: the ones it hit in the
		// failing run.
		if o, ok := r.trial.first(i); ok && slices.Contains(nemesis.Targets, f.Target) {
			for _, id := range o.Targets {
				if r.edit(i, func(s *nemesis.Step) { s.Fault.Target, s.Fault.Group = string(id), "" }) {
					changed = true
					break
				}
			}
		}
	case nemesis.Partition:
		// Explicit sides for a shape: the sides it cut in the failing run.
		if o, ok := r.trial.first(i); ok && f.Shape != "" && len(o.Sides) > 1 {
			sides := o.Sides
			if r.edit(i, func(s *nemesis.Step) {
				s.Fault.Shape, s.Fault.Group, s.Fault.Components = "", "", sides[:len(sides)-1]
			}) {
				changed = true
			}
		}
	case nemesis.Link:
		// Fewer effects: each left out in turn, one at least kept.
		for effect := range 4 {
			g := *st().Fault
			set := []bool{g.Delay != nil, g.Duplicate != nil, g.Reorder != nil, g.Loss != nil}
			left := 0
			for _, on := range set {
				if on {
					left++
				}
			}
			if !set[effect] || left < 2 {
				continue
			}
			if r.edit(i, func(s *nemesis.Step) {
				switch effect {
				case 0:
					s.Fault.Delay = nil
				case 1:
					s.Fault.Duplicate = nil
				case 2:
					s.Fault.Reorder = nil
				case 3:
					s.Fault.Loss = nil
				}
			}) {
				changed = true
			}
		}
	}
	// One failing operation of a disk fault.
	if f.Kind == nemesis.Disk && len(f.Errors) > 1 {
		for _, op := range f.Errors {
			if r.edit(i, func(s *nemesis.Step) { s.Fault.Errors = []string{op} }) {
				changed = true
				break
			}
		}
	}
	return changed
}

// maxOccurrences bounds the occurrences of a repeating step that the
// reducer tries alone.
const maxOccurrences = 8

// single makes a step the occurrence o of it: at o.At (unless o.At < 0),
// once, its pick resolved to the first alternative of o.Kind, and a word
// target that hit one instance replaced by that instance.
func single(s *nemesis.Step, o Occurrence) {
	if o.At >= 0 {
		s.At, s.Every, s.Start = o.At, 0, 0
	}
	if len(s.Pick) > 0 {
		for _, alt := range s.Pick {
			if alt.Kind == o.Kind {
				f := alt
				f.Weight = 0
				s.Fault, s.Pick = &f, nil
				break
			}
		}
	}
	if s.Fault == nil {
		return
	}
	switch s.Fault.Kind {
	case nemesis.Kill, nemesis.Restart, nemesis.Pause, nemesis.Clock, nemesis.Disk:
		if len(o.Targets) == 1 && slices.Contains(nemesis.Targets, s.Fault.Target) {
			s.Fault.Target, s.Fault.Group = string(o.Targets[0]), ""
		}
	case nemesis.Partition:
		if s.Fault.Shape != "" && len(o.Sides) > 1 {
			s.Fault.Shape, s.Fault.Group, s.Fault.Components = "", "", o.Sides[:len(o.Sides)-1]
		}
	}
}

// resolve is single, and a word target that hit several instances
// becomes as many steps, one for each instance by name.
func resolve(st nemesis.Step, o Occurrence) []nemesis.Step {
	s := cloneStep(st)
	single(&s, o)
	if s.Fault == nil || len(o.Targets) < 2 || !slices.Contains(nemesis.Targets, s.Fault.Target) || s.Fault.Kind == nemesis.Partition || s.Fault.Kind == nemesis.Link {
		return []nemesis.Step{s}
	}
	var out []nemesis.Step
	for _, id := range o.Targets {
		one := cloneStep(s)
		one.Fault.Target, one.Fault.Group = string(id), ""
		out = append(out, one)
	}
	return out
}

// determinize resolves, in one candidate, every step that draws from the
// seed into what it did in the failing run (resolve; a repeating step into
// its occurrences, up to maxExpand of them). Steps then draw nothing, so
// that leaving one out no longer changes what the others do, and delta
// debugging can take the schedule apart.
func (r *Reducer) determinize() bool {
	var steps []nemesis.Step
	changed := false
	for i, st := range r.best.Nemesis {
		occs := r.trial.Steps[i]
		if !draws(st) || len(occs) == 0 || len(occs) > maxExpand {
			steps = append(steps, cloneStep(st))
			continue
		}
		if st.Every == 0 {
			occs = occs[:1]
		}
		for _, o := range occs {
			steps = append(steps, resolve(st, o)...)
		}
		changed = true
	}
	if !changed {
		return false
	}
	c := clone(r.best)
	c.Nemesis = steps
	return r.try(c)
}

// workloads makes the workloads lighter: a workload fewer, fewer
// clients, a lower rate, while the failure stays; and the recovery as
// short as Generate draws it. The keys stay: fewer keys make each key's
// history longer, and the linearizability check of a long history costs
// far more than the run.
func (r *Reducer) workloads() bool {
	changed := false
	for i := 0; i < len(r.best.Workloads) && !r.spent() && r.err == nil; i++ {
		// A second workload left out.
		if len(r.best.Workloads) > 1 {
			c := clone(r.best)
			c.Workloads = slices.Delete(c.Workloads, i, i+1)
			if r.try(c) {
				changed = true
				i--
				continue
			}
		}
		shrink := func(get func(w *scenario.Workload) *int, floor int) {
			for {
				v := *get(&r.best.Workloads[i])
				next := v / 2
				if next < floor || next == v {
					return
				}
				c := clone(r.best)
				*get(&c.Workloads[i]) = next
				if !r.try(c) {
					return
				}
				changed = true
			}
		}
		shrink(func(w *scenario.Workload) *int { return &w.Clients }, 1)
		// A lower rate, down to minRate: enough requests for every
		// replicaset to show progress after the heal.
		for {
			w := r.best.Workloads[i]
			floor := float64(minRate)
			if w.Kind == scenario.Config {
				floor = 1
			}
			next := w.Rate / 2
			if next < floor {
				break
			}
			c := clone(r.best)
			c.Workloads[i].Rate = next
			if !r.try(c) {
				break
			}
			changed = true
		}
	}
	if r.best.Final.Recover > MinRecover {
		c := clone(r.best)
		c.Final.Recover = MinRecover
		if r.try(c) {
			changed = true
		}
	}
	return changed
}

// minRate is the lowest kv rate Reduce leaves.
const minRate = 20
