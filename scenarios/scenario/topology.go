package scenario

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/yamlcheck"
	"github.com/shoaldb/shoal/nemesis"
)

// The topology's part of the format: cluster.governor, cluster.domains,
// and the operator actions (joins and expels) of a config workload.

// Limits on the topology's fields.
const (
	maxActions      = 64 // of one scenario
	maxDomainKeys   = 8  // in one failure domain
	maxDomainLen    = 64 // of a domain's key or value
	defaultActionTO = 10 * time.Second
)

var (
	actionFields   = []string{"at", "join", "expel", "via", "domain", "force", "timeout"}
	governorFields = []string{"offline_after"}
	domainKey      = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)
	viaWords       = []string{nemesis.TargetRandom, nemesis.TargetLeader}
)

// offlineAfter is the range of cluster.governor.offline_after
// (core/cluster's governor.offline_after, checked again there).
const (
	minOfflineAfter = time.Second
	maxOfflineAfter = 24 * time.Hour
)

// governor reads cluster.governor into the settings the cluster
// bootstraps with; nil when it sets none.
func (p *parser) governor(n *yaml.Node) map[string]string {
	f, ok := p.mapping(n, "governor", governorFields)
	if !ok {
		return nil
	}
	v := f.get("offline_after")
	if v == nil {
		return nil
	}
	d, ok := p.goDuration(v, "offline_after")
	if !ok {
		return nil
	}
	if d < minOfflineAfter || d > maxOfflineAfter {
		p.errorf(v, "`offline_after` must be in %s..%s, got %s", yamlcheck.ShortDuration(minOfflineAfter), yamlcheck.ShortDuration(maxOfflineAfter), asWritten(v))
		return nil
	}
	return map[string]string{"governor.offline_after": d.String()}
}

// domains reads cluster.domains: a failure domain for some of the
// instances n1..nN, by name.
func (p *parser) domains(n *yaml.Node, instances int) map[env.NodeID]map[string]string {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "`domains` must be a mapping of instances to their failure domains, got %s", yamlcheck.Describe(n))
		return nil
	}
	var out map[env.NodeID]map[string]string
	for k, v := range yamlcheck.Pairs(&p.report, n, "", "a key in domains must be an instance's name") {
		name := k.Value
		if !p.isBootNode(name, instances) {
			if nodePattern.MatchString(name) && instances > 0 {
				p.errorf(k, "unknown instance %s in domains (the cluster has n1..n%d)", yamlcheck.Quote(name), instances)
			} else {
				p.errorf(k, "unknown instance %s in domains: name one of n1..nN", yamlcheck.Quote(name))
			}
			continue
		}
		if yamlcheck.IsNull(v) {
			p.errorf(k, "`%s` has no value: give it a failure domain or leave it out", name)
			continue
		}
		if d, ok := p.domain(v, "domains."+name); ok {
			if out == nil {
				out = map[env.NodeID]map[string]string{}
			}
			out[env.NodeID(name)] = d
		}
	}
	return out
}

// isBootNode reports whether s is one of n1..n(instances) (any nN while
// instances is 0, unknown).
func (p *parser) isBootNode(s string, instances int) bool {
	if !nodePattern.MatchString(s) {
		return false
	}
	i, err := strconv.Atoi(s[1:])
	limit := instances
	if limit == 0 {
		limit = maxInstances
	}
	return err == nil && s == "n"+strconv.Itoa(i) && i >= 1 && i <= limit
}

// domain reads a failure domain: a non-empty mapping of at most
// maxDomainKeys keys (lowercase names) to values (strings without `,`
// or `=`, which the domain's written form separates).
func (p *parser) domain(n *yaml.Node, field string) (map[string]string, bool) {
	if n.Kind != yaml.MappingNode {
		p.errorf(n, "`%s` must be a mapping of failure-domain keys to values, such as {zone: a}, got %s", field, yamlcheck.Describe(n))
		return nil, false
	}
	d := map[string]string{}
	ok := true
	for k, v := range yamlcheck.Pairs(&p.report, n, "", "a key of a failure domain must be a name") {
		switch {
		case len(k.Value) > maxDomainLen || !domainKey.MatchString(k.Value):
			p.errorf(k, "failure-domain key %s must be lowercase letters, digits, `_` and `-`, starting with a letter, at most %d characters", yamlcheck.Quote(k.Value), maxDomainLen)
			ok = false
			continue
		case yamlcheck.IsNull(v):
			p.errorf(k, "failure-domain key `%s` has no value", k.Value)
			ok = false
			continue
		}
		s, good := p.str(v, k.Value)
		if !good {
			ok = false
			continue
		}
		if s == "" || len(s) > maxDomainLen || strings.ContainsAny(s, ",=") || strings.TrimSpace(s) != s {
			p.errorf(v, "failure-domain value %s must be 1 to %d characters, without `,`, `=` or surrounding spaces", yamlcheck.Quote(s), maxDomainLen)
			ok = false
			continue
		}
		d[k.Value] = s
	}
	switch {
	case !ok:
		return nil, false
	case len(d) == 0:
		p.errorf(n, "`%s` must not be empty: leave it out for no failure domain", field)
		return nil, false
	case len(d) > maxDomainKeys:
		p.errorf(n, "`%s` has %d keys, at most %d", field, len(d), maxDomainKeys)
		return nil, false
	}
	return d, true
}

// pendingAction is an action read and not yet checked against the others
// (checkActions): its line and the lines of its fields.
type pendingAction struct {
	a         *Action
	node      *yaml.Node
	name, via *yaml.Node // the values of join/expel and via
}

// actions reads a config workload's actions; checkActions checks them
// together once every workload is read.
func (p *parser) actions(n *yaml.Node, w *Workload) {
	if p.multi {
		p.errorf(n, "`actions` needs a scenario of one cluster (`cluster`): joins and expels are not run with `clusters`")
		return
	}
	items, ok := p.list(n, "actions", maxActions)
	if !ok {
		return
	}
	if len(items) == 0 {
		p.errorf(n, "`actions` must not be empty: leave it out for periodic settings")
		return
	}
	w.Actions = make([]Action, 0, len(items))
	for _, item := range items {
		a, pa, ok := p.action(item)
		if !ok {
			continue
		}
		w.Actions = append(w.Actions, a)
		pa.a = &w.Actions[len(w.Actions)-1]
		p.pending = append(p.pending, pa)
	}
	if len(p.pending) > maxActions {
		p.errorf(n, "the config workloads make %d actions, at most %d", len(p.pending), maxActions)
	}
}

// action reads one action alone.
func (p *parser) action(n *yaml.Node) (Action, pendingAction, bool) {
	a := Action{Via: nemesis.TargetRandom, Timeout: defaultActionTO}
	pa := pendingAction{node: n}
	f, ok := p.mapping(n, "action", actionFields)
	if !ok {
		return a, pa, false
	}
	if v := f.get("at"); v == nil {
		p.errorf(n, "an action needs `at`")
		ok = false
	} else if d, good := p.nonNegative(v, "at"); !good {
		ok = false
	} else {
		if p.end > 0 && d >= p.end {
			p.errorf(v, "`at` %s is not before the end of the run (`duration` %s)", d, p.end)
			ok = false
		}
		a.At = d
	}
	switch {
	case f.has("join") && f.has("expel"):
		p.errorf(f.key("expel"), "`join` and `expel` are exclusive: one action each")
		return a, pa, false
	case f.has("join"):
		a.Kind, pa.name = ActionJoin, f.get("join")
	case f.has("expel"):
		a.Kind, pa.name = ActionExpel, f.get("expel")
	default:
		p.errorf(n, "an action needs `join` or `expel`")
		return a, pa, false
	}
	name, good := p.str(pa.name, a.Kind)
	if good && !isNodeName(name) {
		p.errorf(pa.name, "`%s` must name an instance nK, K at most %d, got %s", a.Kind, maxInstances, yamlcheck.Describe(pa.name))
		good = false
	}
	ok = ok && good
	a.Instance = env.NodeID(name)
	if v := f.get("via"); v != nil {
		pa.via = v
		s, good := p.str(v, "via")
		if good && !slices.Contains(viaWords, s) && !isNodeName(s) {
			p.errorf(v, "unknown via %s%s", yamlcheck.Quote(s), yamlcheck.Hint(s, viaWords))
			good = false
		}
		ok = ok && good
		a.Via = s
	}
	if v := f.get("domain"); v != nil {
		if a.Kind != ActionJoin {
			p.errorf(f.key("domain"), "`domain` applies only to join")
			ok = false
		} else {
			d, good := p.domain(v, "domain")
			ok = ok && good
			a.Domain = d
		}
	}
	if v := f.get("force"); v != nil {
		if a.Kind != ActionExpel {
			p.errorf(f.key("force"), "`force` applies only to expel")
			ok = false
		} else {
			b, good := p.boolean(v, "force")
			ok = ok && good
			a.Force = b
		}
	}
	if v := f.get("timeout"); v != nil {
		d, good := p.positive(v, "timeout")
		ok = ok && good
		a.Timeout = d
	}
	return a, pa, ok
}

// isNodeName reports whether s is written as an instance's name, nK with
// K at most maxInstances.
func isNodeName(s string) bool {
	if !nodePattern.MatchString(s) {
		return false
	}
	i, err := strconv.Atoi(s[1:])
	return err == nil && i >= 1 && i <= maxInstances && s == "n"+strconv.Itoa(i)
}

// checkActions checks the actions of every config workload together, in
// the order of their times (file order among equal times): a join names
// an instance the cluster does not have yet, and each name joins once;
// an expel names an instance there by then, once; an action goes via an
// instance there by then that no earlier action expelled. (Names go up
// to n15, so the joins leave at most maxInstances instances.) It records
// when each instance
// joins, which the nemesis's steps are then checked against (joinedAt).
func (p *parser) checkActions() {
	if len(p.pending) == 0 {
		return
	}
	order := slices.Clone(p.pending)
	slices.SortStableFunc(order, func(x, y pendingAction) int { return cmpDuration(x.a.At, y.a.At) })
	type event struct {
		at   time.Duration
		line int
	}
	joined, expelled := map[env.NodeID]event{}, map[env.NodeID]event{}
	// The first join of each name, for messages about one not there yet.
	joins := map[env.NodeID]event{}
	for _, pa := range order {
		if _, seen := joins[pa.a.Instance]; pa.a.Kind == ActionJoin && !seen {
			joins[pa.a.Instance] = event{pa.a.At, pa.name.Line}
		}
	}
	present := func(name env.NodeID, at time.Duration) bool {
		if p.isBootNode(string(name), p.nodes) {
			return true
		}
		j, ok := joined[name]
		return ok && j.at < at
	}
	for _, pa := range order {
		a := pa.a
		switch a.Kind {
		case ActionJoin:
			switch j, dup := joined[a.Instance]; {
			case p.isBootNode(string(a.Instance), p.nodes) && p.nodes > 0:
				p.errorf(pa.name, "`join` %s: %s is already an instance of the cluster (n1..n%d): a joining instance needs a new name", a.Instance, a.Instance, p.nodes)
			case dup:
				p.errorf(pa.name, "%s joins twice (first at line %d)", a.Instance, j.line)
			default:
				joined[a.Instance] = event{a.At, pa.name.Line}
			}
		case ActionExpel:
			switch e, dup := expelled[a.Instance]; {
			case dup:
				p.errorf(pa.name, "%s is expelled twice (first at line %d)", a.Instance, e.line)
			case !present(a.Instance, a.At):
				p.errorf(pa.name, "`expel` %s: %s", a.Instance, p.absent(a.Instance, joins[a.Instance].at, joins[a.Instance].line, a.At))
			default:
				expelled[a.Instance] = event{a.At, pa.name.Line}
			}
		}
		if pa.via == nil || slices.Contains(viaWords, a.Via) {
			continue
		}
		via := env.NodeID(a.Via)
		switch e, gone := expelled[via]; {
		case via == a.Instance && a.Kind == ActionJoin:
			p.errorf(pa.via, "`via` %s is the joining instance: a join goes via an instance of the cluster", via)
		case !present(via, a.At):
			p.errorf(pa.via, "`via` %s: %s", via, p.absent(via, joins[via].at, joins[via].line, a.At))
		case gone && e.at < a.At:
			p.errorf(pa.via, "`via` %s was expelled at %s (line %d), before this action at %s", via, e.at, e.line, a.At)
		}
	}
	p.joinAt = map[env.NodeID]time.Duration{}
	p.joinLine = map[env.NodeID]int{}
	for name, j := range joined {
		p.joinAt[name], p.joinLine[name] = j.at, j.line
	}
}

// absent says why name is not an instance at time at: it is none of
// n1..nN, and joins at joinAt (line, 0 for never), or not at all.
func (p *parser) absent(name env.NodeID, joinAt time.Duration, line int, at time.Duration) string {
	if line > 0 {
		return fmt.Sprintf("%s joins at %s (line %d), not before this action at %s", name, joinAt, line, at)
	}
	return fmt.Sprintf("no such instance%s", p.hasNodes())
}

// hasNodes describes the cluster's instances for a message: " (the
// cluster has n1..nN[, and n6, n7 join])", or "" while they are unknown.
func (p *parser) hasNodes() string {
	if p.nodes == 0 {
		return ""
	}
	s := fmt.Sprintf(" (the cluster has n1..n%d", p.nodes)
	if len(p.joinAt) > 0 {
		names := slices.SortedFunc(maps.Keys(p.joinAt), compareNodes)
		verb := "joins"
		if len(names) > 1 {
			verb = "join"
		}
		parts := make([]string, len(names))
		for i, n := range names {
			parts[i] = string(n)
		}
		s += fmt.Sprintf(", and %s %s", strings.Join(parts, ", "), verb)
	}
	return s + ")"
}

// compareNodes orders nK by K.
func compareNodes(a, b env.NodeID) int {
	i, _ := strconv.Atoi(string(a[1:]))
	j, _ := strconv.Atoi(string(b[1:]))
	return i - j
}

func cmpDuration(a, b time.Duration) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// joinedLater reports, for a fault naming instance s at the current
// step's first occurrence, whether s is an instance that joins after it:
// it is then reported, and the fault refused.
func (p *parser) joinedLater(n *yaml.Node, field, s string) bool {
	at, ok := p.joinAt[env.NodeID(s)]
	if !ok || p.stepAt < 0 || p.stepAt >= at {
		return false
	}
	p.errorf(n, "`%s` %s joins at %s (line %d): a fault may name it from then on, and this step starts at %s", field, s, at, p.joinLine[env.NodeID(s)], p.stepAt)
	return true
}

// actionsNode writes a config workload's actions, one flow mapping each.
func actionsNode(actions []Action) *yaml.Node {
	out := seq(0)
	for _, a := range actions {
		var b block
		b.duration("at", a.At)
		b.str(a.Kind, string(a.Instance))
		b.str("via", a.Via)
		if a.Domain != nil {
			b.add("domain", domainNode(a.Domain))
		}
		if a.Kind == ActionExpel {
			b.bool("force", a.Force)
		}
		b.duration("timeout", a.Timeout)
		out.Content = append(out.Content, b.flow())
	}
	return out
}

// domainNode writes a failure domain, keys sorted.
func domainNode(d map[string]string) *yaml.Node {
	var b block
	for _, k := range slices.Sorted(maps.Keys(d)) {
		b.str(k, d[k])
	}
	return b.flow()
}

// domainsNode writes cluster.domains, instances in order.
func domainsNode(ds map[env.NodeID]map[string]string) *yaml.Node {
	var b block
	for _, name := range slices.SortedFunc(maps.Keys(ds), compareNodes) {
		b.add(string(name), domainNode(ds[name]))
	}
	return b.node()
}

// governorNode writes cluster.governor.
func governorNode(settings map[string]string) *yaml.Node {
	var b block
	if v, ok := settings["governor.offline_after"]; ok {
		b.str("offline_after", v)
	}
	return b.node()
}
