package scenario

import (
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/yamlcheck"
	"github.com/shoaldb/shoal/nemesis"
	"github.com/shoaldb/shoal/simnet"
)

// Limits on a scenario file. They keep the work Parse does, and the run a
// scenario asks for, bounded whatever the input.
const (
	maxFileSize    = yamlcheck.MaxFileSize
	maxInstances   = 15
	maxWorkloads   = 16
	maxClients     = 1000
	maxProducers   = 64 // of a kafka workload
	maxKeys        = 100000
	maxRate        = 100000
	maxRetries     = 100
	maxSteps       = 1000
	maxPick        = 100
	maxWeight      = 1000000
	maxOccurrences = 10000 // of one repeating step
	maxDuration    = 24 * time.Hour
	maxNameLen     = 64
	maxClusters    = 8                   // in `clusters`
	maxErrors      = yamlcheck.MaxErrors // reported; Parse stops collecting a little past it
)

// The defaults of fields a file leaves out.
const (
	defaultInstances = 3
	defaultDuration  = 30 * time.Second
	defaultRecover   = 10 * time.Second
	defaultTimeout   = time.Second
	defaultModelWait = 10 * time.Second // a model workload's timeout
	defaultBad       = 0.1              // an ingest or kafka workload's share of messages that fail the pipeline
	defaultRetries   = 3
	defaultTarget    = "random"
	defaultExpect    = "valid"
)

var (
	defaultLatency = simnet.Latency{Dist: simnet.Constant, Min: time.Millisecond}
	// defaultDCLink is the one-way latency between two clusters: 20ms
	// ± 5ms, data centres a few hundred kilometres apart.
	defaultDCLink     = simnet.Latency{Dist: simnet.Uniform, Min: 15 * time.Millisecond, Max: 25 * time.Millisecond}
	defaultMix        = Mix{Read: 0.5, Write: 0.4, CAS: 0.1}
	defaultObjectsMix = Mix{Read: 0.5, Write: 0.5}
)

// defaultWorkload returns a workload of kind with every default filled in.
func defaultWorkload(kind string) Workload {
	w := Workload{Kind: kind, Target: defaultTarget, Timeout: defaultTimeout, Retries: defaultRetries}
	switch kind {
	case KV:
		w.Clients, w.Keys, w.Rate, w.Mix = 4, 8, 100, defaultMix
	case Config:
		w.Clients, w.Rate = 1, 2
	case Objects:
		w.Clients, w.Keys, w.Rate, w.Mix = 4, 8, 100, defaultObjectsMix
	case Model:
		// One proposal, made once: Clients and Rate are not in the file,
		// and are set so that a client interval (Clients/Rate) is sane.
		w.Clients, w.Rate, w.Timeout, w.Retries = 1, 1, defaultModelWait, 0
	case Ingest:
		w.Clients, w.Rate, w.Bad = 4, 100, defaultBad
	case Kafka:
		// Producers hand records to the broker, which takes them at
		// once: there is no target, timeout or retry.
		w = Workload{Kind: kind, Clients: 1, Rate: 100, Bad: defaultBad}
	}
	return w
}

// The fields of each mapping of the format, in the order Marshal writes
// them.
var (
	topFields      = []string{"name", "description", "cluster", "clusters", "network", "dc_link", "workload", "duration", "nemesis", "final", "checks", "expect"}
	clusterFields  = []string{"instances", "replication_factor", "buckets", "model", "pipeline", "queue", "governor", "domains"}
	namedFields    = slices.Concat([]string{"name"}, clusterFields) // of an entry of `clusters`
	dcLinkFields   = []string{"latency"}
	queueFields    = queueFieldNames()
	networkFields  = []string{"latency", "loss"}
	latencyFields  = []string{"dist", "min", "max"}
	workloadFields = []string{"kind", "cluster", "at", "model", "connector", "clients", "keys", "rate", "bad", "mix", "target", "timeout", "retries", "actions"}
	mixFields      = []string{"read", "write", "cas", "delete", "stale_read"}
	finalFields    = []string{"heal", "recover"}
	timingFields   = []string{"at", "every", "start", "for"}
	faultFields    = []string{"fault", "cluster", "shape", "components", "group", "loss", "delay", "duplicate", "reorder", "from", "to", "one_way", "target", "offset", "drift", "strobe", "errors", "probability", "endpoint", "broker", "between", "mode", "fail_rate", "latency", "period"}
	strobeFields   = []string{"offset", "period"}
	stepFields     = slices.Concat(timingFields, []string{"pick", "weight"}, faultFields)
	altFields      = slices.Concat([]string{"weight"}, faultFields, timingFields, []string{"pick"})
)

// workloadKinds lists the workload kinds, and kindWorkloadFields the
// fields each takes besides kind.
var (
	workloadKinds      = []string{KV, Config, Objects, Model, Ingest, Kafka}
	kindWorkloadFields = map[string][]string{
		KV:      {"clients", "keys", "rate", "mix", "target", "timeout", "retries"},
		Config:  {"clients", "rate", "target", "timeout", "retries", "actions"},
		Objects: {"clients", "keys", "rate", "mix", "target", "timeout", "retries"},
		Model:   {"at", "model", "target", "timeout"},
		Ingest:  {"clients", "rate", "bad", "target", "timeout", "retries"},
		Kafka:   {"connector", "clients", "rate", "bad"},
	}
)

// queueSetting is a field of cluster.queue: the cluster's setting
// "queue."+field, and the range core/cluster accepts for it (checked
// again there), nanoseconds for a duration.
type queueSetting struct {
	field    string
	lo, hi   int64
	duration bool
}

// queueSettings lists cluster.queue's fields in the order Marshal writes
// them.
var queueSettings = []queueSetting{
	{field: "max_messages", lo: 1, hi: 1 << 30},
	{field: "max_bytes", lo: 1, hi: 1 << 40},
	{field: "window", lo: 0, hi: int64(30 * 24 * time.Hour), duration: true},
	{field: "max_ids", lo: 1, hi: 1 << 30},
	{field: "batch", lo: 1, hi: 256},
	{field: "retry_after", lo: int64(time.Millisecond), hi: int64(time.Hour), duration: true},
}

func queueFieldNames() []string {
	names := make([]string, len(queueSettings))
	for i, q := range queueSettings {
		names[i] = q.field
	}
	return names
}

// kindFields lists the fields each fault kind takes, besides fault and
// weight.
var kindFields = map[nemesis.Kind][]string{
	nemesis.Partition: {"cluster", "shape", "components", "group"},
	nemesis.Link:      {"cluster", "loss", "delay", "duplicate", "reorder", "from", "to", "one_way"},
	nemesis.Kill:      {"cluster", "target", "group"},
	nemesis.Restart:   {"cluster", "target", "group"},
	nemesis.Pause:     {"cluster", "target", "group"},
	nemesis.Clock:     {"cluster", "target", "group", "offset", "drift", "strobe"},
	nemesis.Disk:      {"cluster", "target", "group", "errors", "probability"},
	nemesis.Endpoint:  {"cluster", "endpoint", "mode", "fail_rate", "latency"},
	nemesis.Broker:    {"cluster", "broker", "mode", "latency"},
	nemesis.DCLink:    {"between", "mode", "delay", "period"},
}

var (
	namePattern     = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	nodePattern     = regexp.MustCompile(`^n[0-9]+$`)
	replicaPattern  = regexp.MustCompile(`^rs[0-9]+$`)
	workloadTargets = []string{nemesis.TargetRandom, nemesis.TargetLeader}
	dists           = []string{simnet.Constant.String(), simnet.Uniform.String(), simnet.Exponential.String()}
	verdicts        = []string{"valid", "invalid"}
)

// Parse reads a scenario file. file names it in error messages. The
// error, when there is one, is an ErrorList of every problem found
// (each a *Error reading "FILE:LINE: problem"), sorted by line.
func Parse(file string, data []byte) (*Scenario, error) {
	p := &parser{report: yamlcheck.Report{File: file}, stepAt: -1}
	root := yamlcheck.Document(&p.report, data, "scenario")
	if root == nil {
		return nil, p.report.Err()
	}
	s := p.scenario(root)
	if err := p.report.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

// parser collects errors while it walks one file's nodes, and what it has
// learnt of the file so far that later fields are checked against.
type parser struct {
	report yamlcheck.Report

	nodes int           // instances; 0 while unknown (cluster invalid)
	sets  int           // replicasets; 0 while unknown
	end   time.Duration // the duration; 0 while unknown
	// model is cluster.model; modelKnown is false when the cluster
	// could not be read, so whether it has a model is unknown. pipeline
	// and pipelineKnown are the same for cluster.pipeline.
	model         string
	modelKnown    bool
	pipeline      string
	pipelineKnown bool
	// multi is true with `clusters`, and dcs holds what was learnt of
	// each cluster read, whose fields above a workload or fault of it is
	// checked against (enter).
	multi bool
	dcs   []dcInfo
	// pending holds the config workloads' actions until checkActions
	// checks them together; joinAt and joinLine then say when (and on
	// which line) each instance an action joins does, and stepAt is the
	// first occurrence of the nemesis step being read (-1 outside one):
	// a fault may name a joining instance only from its join on.
	pending  []pendingAction
	joinAt   map[env.NodeID]time.Duration
	joinLine map[env.NodeID]int
	stepAt   time.Duration
}

// dcInfo is what the parser learnt of one cluster of `clusters`.
type dcInfo struct {
	name                      string
	nodes, sets               int
	model, pipeline           string
	modelKnown, pipelineKnown bool
	line                      int
}

// errorf reports a problem at n's line.
func (p *parser) errorf(n *yaml.Node, format string, args ...any) {
	p.report.Addf(n, "", format, args...)
}

// check reports why (from a yamlcheck reader) as a problem of field,
// unless it is "", and returns whether it was.
func (p *parser) check(n *yaml.Node, field, why string) bool {
	if why != "" {
		p.errorf(n, "`%s` %s", field, why)
	}
	return why == ""
}

// fields is a mapping's entries by key.
type fields struct {
	node *yaml.Node
	keys map[string]*yaml.Node
	vals map[string]*yaml.Node
}

// get returns the value of key, or nil.
func (f fields) get(key string) *yaml.Node { return f.vals[key] }

// key returns the node of key, for messages about the key itself.
func (f fields) key(key string) *yaml.Node { return f.keys[key] }

func (f fields) has(key string) bool { return f.vals[key] != nil }

// mapping checks that n is a mapping whose keys are unique and among
// allowed, reporting every key that is not. in names the mapping in
// messages ("" for the top level). ok is false when n is no mapping.
func (p *parser) mapping(n *yaml.Node, in string, allowed []string) (f fields, ok bool) {
	where := ""
	if in != "" {
		where = " in " + in
	}
	if n.Kind != yaml.MappingNode {
		if in == "" {
			p.errorf(n, "a scenario must be a mapping of fields, got %s", yamlcheck.Describe(n))
		} else {
			p.errorf(n, "%s must be a mapping, got %s", subject(in), yamlcheck.Describe(n))
		}
		return fields{}, false
	}
	f = fields{node: n, keys: map[string]*yaml.Node{}, vals: map[string]*yaml.Node{}}
	for k, v := range yamlcheck.Pairs(&p.report, n, "", "a key"+where+" must be a field name") {
		f.keys[k.Value] = k
		if !slices.Contains(allowed, k.Value) {
			p.errorf(k, "unknown field %s%s%s", yamlcheck.Quote(k.Value), where, yamlcheck.Hint(k.Value, allowed))
			continue
		}
		if yamlcheck.IsNull(v) {
			p.errorf(k, "`%s` has no value: give it one or leave the field out", k.Value)
			continue
		}
		f.vals[k.Value] = v
	}
	return f, true
}

// subject names a mapping in a message: a field in backquotes, or a
// "nemesis step" or "pick alternative" as it is.
func subject(in string) string {
	if strings.Contains(in, " ") {
		return in
	}
	return "`" + in + "`"
}

// list checks that n is a list of at most max items and returns them.
func (p *parser) list(n *yaml.Node, field string, max int) ([]*yaml.Node, bool) {
	items, why := yamlcheck.List(n, max)
	return items, p.check(n, field, why)
}

func (p *parser) str(n *yaml.Node, field string) (string, bool) {
	s, why := yamlcheck.Str(n)
	return s, p.check(n, field, why)
}

func (p *parser) boolean(n *yaml.Node, field string) (bool, bool) {
	b, why := yamlcheck.Bool(n)
	return b, p.check(n, field, why)
}

// integer reads an integer in lo..hi.
func (p *parser) integer(n *yaml.Node, field string, lo, hi int) (int, bool) {
	i, why := yamlcheck.Int(n, lo, hi)
	return i, p.check(n, field, why)
}

// number reads a finite number for which in is true; rng describes in.
func (p *parser) number(n *yaml.Node, field string, in func(float64) bool, rng string) (float64, bool) {
	var x float64
	tag := n.ShortTag()
	if n.Kind != yaml.ScalarNode || (tag != "!!int" && tag != "!!float") || n.Decode(&x) != nil ||
		math.IsNaN(x) || math.IsInf(x, 0) {
		p.errorf(n, "`%s` must be a number, got %s", field, yamlcheck.Describe(n))
		return 0, false
	}
	if !in(x) {
		p.errorf(n, "`%s` must be %s, got %s", field, rng, yamlcheck.Describe(n))
		return 0, false
	}
	return x, true
}

func (p *parser) probability(n *yaml.Node, field string) (float64, bool) {
	return p.number(n, field, func(x float64) bool { return x >= 0 && x <= 1 }, "in [0, 1]")
}

// duration reads a Go duration of at most maxDuration either way.
func (p *parser) duration(n *yaml.Node, field string) (time.Duration, bool) {
	d, ok := p.goDuration(n, field)
	if ok && (d > maxDuration || d < -maxDuration) {
		p.errorf(n, "`%s` must be at most 24h either way, got %s", field, asWritten(n))
		return 0, false
	}
	return d, ok
}

// goDuration reads a Go duration, in time.Duration's whole range.
func (p *parser) goDuration(n *yaml.Node, field string) (time.Duration, bool) {
	tag := n.ShortTag()
	if n.Kind != yaml.ScalarNode || (tag != "!!str" && tag != "!!int" && tag != "!!float") {
		p.errorf(n, "`%s` must be a duration such as 1.5s or 300ms, got %s", field, yamlcheck.Describe(n))
		return 0, false
	}
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		if _, e := strconv.ParseFloat(n.Value, 64); e == nil {
			p.errorf(n, "`%s` needs a unit, such as 1.5s or 300ms, got %s", field, yamlcheck.Describe(n))
		} else {
			p.errorf(n, "`%s` must be a duration such as 1.5s or 300ms, got %s", field, yamlcheck.Describe(n))
		}
		return 0, false
	}
	return d, true
}

// nonNegative reads a duration ≥ 0.
func (p *parser) nonNegative(n *yaml.Node, field string) (time.Duration, bool) {
	d, ok := p.duration(n, field)
	if ok && d < 0 {
		p.errorf(n, "`%s` must not be negative, got %s", field, asWritten(n))
		return 0, false
	}
	return d, ok
}

// positive reads a duration > 0.
func (p *parser) positive(n *yaml.Node, field string) (time.Duration, bool) {
	d, ok := p.duration(n, field)
	if ok && d <= 0 {
		p.errorf(n, "`%s` must be positive, got %s", field, asWritten(n))
		return 0, false
	}
	return d, ok
}

// name reads one of candidates; what names the kind of name in messages.
func (p *parser) name(n *yaml.Node, field, what string, candidates []string) (string, bool) {
	s, ok := p.str(n, field)
	if !ok {
		return "", false
	}
	if !slices.Contains(candidates, s) {
		p.errorf(n, "unknown %s %s%s", what, yamlcheck.Quote(s), yamlcheck.Hint(s, candidates))
		return "", false
	}
	return s, true
}

// nodeNames returns n1..nN, or nil while N is unknown.
func (p *parser) nodeNames() []string {
	names := make([]string, p.nodes)
	for i := range names {
		names[i] = "n" + strconv.Itoa(i+1)
	}
	return names
}

// isNode reports whether s names an instance of the cluster (any nN while
// the cluster is unknown), one of n1..nN or one an action joins.
func (p *parser) isNode(s string) bool {
	if !nodePattern.MatchString(s) {
		return false
	}
	i, err := strconv.Atoi(s[1:])
	limit := p.nodes
	if limit == 0 {
		limit = maxInstances
	}
	if _, joins := p.joinAt[env.NodeID(s)]; joins {
		return true
	}
	return err == nil && s == "n"+strconv.Itoa(i) && i >= 1 && i <= limit
}

// unknownName reports s, which is none of words and no instance, as an
// unknown what.
func (p *parser) unknownName(n *yaml.Node, what, s string, words []string) {
	if nodePattern.MatchString(s) && p.nodes > 0 {
		p.errorf(n, "unknown %s %s%s", what, yamlcheck.Quote(s), p.hasNodes())
		return
	}
	p.errorf(n, "unknown %s %s%s", what, yamlcheck.Quote(s), yamlcheck.Hint(s, slices.Concat(words, p.nodeNames())))
}

// node reads an instance's name.
func (p *parser) node(n *yaml.Node, field string) (env.NodeID, bool) {
	s, ok := p.str(n, field)
	if !ok {
		return "", false
	}
	if !p.isNode(s) {
		p.unknownName(n, "node", s, nil)
		return "", false
	}
	if p.joinedLater(n, field, s) {
		return "", false
	}
	return env.NodeID(s), true
}

// nodeList reads a non-empty list of distinct instances.
func (p *parser) nodeList(n *yaml.Node, field string, seen map[env.NodeID]int) ([]env.NodeID, bool) {
	items, ok := p.list(n, field, maxInstances)
	if !ok {
		return nil, false
	}
	if len(items) == 0 {
		p.errorf(n, "`%s` must not be empty", field)
		return nil, false
	}
	var out []env.NodeID
	for _, item := range items {
		id, good := p.node(item, field)
		if !good {
			ok = false
			continue
		}
		if first, dup := seen[id]; dup {
			p.errorf(item, "`%s` names %s twice (first at line %d)", field, id, first)
			ok = false
			continue
		}
		seen[id] = item.Line
		out = append(out, id)
	}
	return out, ok
}

func (p *parser) scenario(root *yaml.Node) *Scenario {
	f, ok := p.mapping(root, "", topFields)
	if !ok {
		return nil
	}
	s := &Scenario{Duration: defaultDuration, Expect: defaultExpect}
	if v := f.get("name"); v == nil {
		p.errorf(root, "missing required field `name`")
	} else if name, ok := p.str(v, "name"); ok {
		switch {
		case len(name) > maxNameLen:
			p.errorf(v, "`name` is longer than %d characters", maxNameLen)
		case !namePattern.MatchString(name):
			p.errorf(v, "`name` must be lowercase letters, digits and dashes, got %s", yamlcheck.Describe(v))
		}
		s.Name = name
	}
	if v := f.get("description"); v != nil {
		s.Description, _ = p.str(v, "description")
	}
	switch {
	case f.has("cluster") && f.has("clusters"):
		p.errorf(f.key("clusters"), "`cluster` and `clusters` are exclusive: name every cluster in `clusters`")
		p.multi = true
		p.nodes, p.sets, p.modelKnown, p.pipelineKnown = 0, 0, false, false
	case f.has("clusters"):
		s.Clusters = p.clusters(f.get("clusters"))
		if len(s.Clusters) > 0 {
			s.Cluster = s.Clusters[0]
		}
	default:
		s.Cluster = p.cluster(f.get("cluster"))
		p.replicatesWithin(f.get("cluster"), s.Cluster.Pipeline)
	}
	s.Network = p.network(f.get("network"))
	if p.multi {
		s.DCLink = defaultDCLink
	}
	if v := f.get("dc_link"); v != nil {
		if !p.multi {
			p.errorf(f.key("dc_link"), "`dc_link` needs `clusters`: it is the links between clusters")
		} else {
			s.DCLink = p.dcLink(v)
		}
	}
	p.end = s.Duration
	if v := f.get("duration"); v != nil {
		d, ok := p.positive(v, "duration")
		s.Duration, p.end = d, d
		if !ok {
			s.Duration = defaultDuration
		}
	}
	s.Final = p.final(f.get("final"))
	var kindsKnown bool
	s.Workloads, kindsKnown = p.workloads(f.get("workload"))
	p.checkActions()
	for i := range s.Workloads {
		if s.Workloads[i].Cluster == "" && len(s.Clusters) > 0 {
			s.Workloads[i].Cluster = s.Clusters[0].Name // the default kv workload
		}
	}
	s.Nemesis = p.nemesis(f.get("nemesis"))
	s.Checks = p.checks(f.get("checks"), kindsKnown, s)
	if v := f.get("expect"); v != nil {
		if e, ok := p.name(v, "expect", "verdict", verdicts); ok {
			s.Expect = e
		}
	}
	return s
}

func (p *parser) cluster(n *yaml.Node) Cluster {
	c, _ := p.clusterIn(n, clusterFields)
	return c
}

// clusterIn reads a cluster's fields from n, a mapping of allowed, and
// returns its fields too; the parser then checks what follows against
// it.
func (p *parser) clusterIn(n *yaml.Node, allowed []string) (Cluster, fields) {
	c := Cluster{Instances: defaultInstances, ReplicationFactor: defaultInstances}
	p.nodes, p.sets, p.modelKnown, p.pipelineKnown = c.Instances, 1, true, true
	p.model, p.pipeline = "", ""
	if n == nil {
		return c, fields{}
	}
	f, ok := p.mapping(n, "cluster", allowed)
	if !ok {
		p.nodes, p.sets, p.modelKnown, p.pipelineKnown = 0, 0, false, false
		return c, fields{}
	}
	if v := f.get("model"); v != nil {
		c.Model, p.modelKnown = p.name(v, "model", "model", Models)
		p.model = c.Model
	}
	if v := f.get("pipeline"); v != nil {
		c.Pipeline, p.pipelineKnown = p.name(v, "pipeline", "pipeline", Pipelines)
		p.pipeline = c.Pipeline
		if f.key("model") == nil {
			p.errorf(f.key("pipeline"), "cluster.pipeline needs cluster.model")
		}
	}
	if v := f.get("queue"); v != nil {
		if f.key("pipeline") == nil {
			p.errorf(f.key("queue"), "cluster.queue needs cluster.pipeline")
		}
		c.Queue = p.queue(v)
	}
	instancesOK := true
	if v := f.get("instances"); v != nil {
		c.Instances, instancesOK = p.integer(v, "instances", 1, maxInstances)
	}
	c.ReplicationFactor = c.Instances
	rfOK := true
	if v := f.get("replication_factor"); v != nil {
		c.ReplicationFactor, rfOK = p.integer(v, "replication_factor", 1, maxInstances)
		if rfOK && instancesOK && c.Instances%c.ReplicationFactor != 0 {
			p.errorf(v, "`instances` %d is not a multiple of `replication_factor` %d", c.Instances, c.ReplicationFactor)
			rfOK = false
		}
	}
	if v := f.get("buckets"); v != nil {
		c.Buckets, _ = p.integer(v, "buckets", 1, kv.MaxBuckets)
	}
	p.nodes, p.sets = 0, 0
	if instancesOK {
		p.nodes = c.Instances
		if rfOK {
			p.sets = c.Instances / c.ReplicationFactor
		}
	}
	if v := f.get("governor"); v != nil {
		c.Governor = p.governor(v)
	}
	if v := f.get("domains"); v != nil {
		c.Domains = p.domains(v, p.nodes)
	}
	return c, f
}

// queue reads cluster.queue into the settings the cluster bootstraps
// with; nil when it sets none.
func (p *parser) queue(n *yaml.Node) map[string]string {
	f, ok := p.mapping(n, "queue", queueFields)
	if !ok {
		return nil
	}
	var settings map[string]string
	for _, q := range queueSettings {
		v := f.get(q.field)
		if v == nil {
			continue
		}
		if value, ok := p.queueValue(v, q); ok {
			if settings == nil {
				settings = map[string]string{}
			}
			settings["queue."+q.field] = value
		}
	}
	return settings
}

// queueValue reads the value of cluster.queue's field q and returns it
// as the cluster reads it.
func (p *parser) queueValue(n *yaml.Node, q queueSetting) (string, bool) {
	if q.duration {
		d, ok := p.goDuration(n, q.field)
		if !ok {
			return "", false
		}
		if int64(d) < q.lo || int64(d) > q.hi {
			p.errorf(n, "`%s` must be in %s..%s, got %s", q.field, yamlcheck.ShortDuration(time.Duration(q.lo)), yamlcheck.ShortDuration(time.Duration(q.hi)), asWritten(n))
			return "", false
		}
		return d.String(), true
	}
	// Not p.integer: max_bytes's range is past an int's on 32-bit platforms.
	var i int64
	if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" || n.Decode(&i) != nil {
		p.errorf(n, "`%s` must be an integer, got %s", q.field, yamlcheck.Describe(n))
		return "", false
	}
	if i < q.lo || i > q.hi {
		p.errorf(n, "`%s` must be in %d..%d, got %s", q.field, q.lo, q.hi, yamlcheck.Describe(n))
		return "", false
	}
	return strconv.FormatInt(i, 10), true
}

func (p *parser) network(n *yaml.Node) Network {
	nw := Network{Latency: defaultLatency}
	if n == nil {
		return nw
	}
	f, ok := p.mapping(n, "network", networkFields)
	if !ok {
		return nw
	}
	if v := f.get("latency"); v != nil {
		nw.Latency, _ = p.latency(v, "latency")
	}
	if v := f.get("loss"); v != nil {
		nw.Loss, _ = p.probability(v, "loss")
	}
	return nw
}

// latency reads a {dist, min, max} mapping. A constant latency has Max 0,
// as simnet.DefaultLink's.
func (p *parser) latency(n *yaml.Node, field string) (simnet.Latency, bool) {
	var l simnet.Latency
	f, ok := p.mapping(n, field, latencyFields)
	if !ok {
		return l, false
	}
	dist := simnet.Constant.String()
	if v := f.get("dist"); v != nil {
		if dist, ok = p.name(v, "dist", "dist", dists); !ok {
			return l, false
		}
	}
	l.Dist = simnet.Dist(slices.Index(dists, dist))
	good := true
	if v := f.get("min"); v == nil {
		p.errorf(n, "%s needs `min`", subject(field))
		good = false
	} else if l.Min, ok = p.nonNegative(v, "min"); !ok {
		good = false
	}
	if v := f.get("max"); v != nil {
		if l.Max, ok = p.nonNegative(v, "max"); !ok {
			good = false
		}
	} else if l.Dist != simnet.Constant {
		p.errorf(n, "%s with dist %s needs `max`", subject(field), dist)
		good = false
	}
	if !good {
		return l, false
	}
	if l.Dist == simnet.Constant {
		if f.has("max") && l.Max != l.Min {
			p.errorf(f.get("max"), "`max` must be absent or equal to `min` for dist constant, got %s", l.Max)
			return l, false
		}
		l.Max = 0
	} else if l.Max < l.Min {
		p.errorf(f.get("max"), "`max` %s is below `min` %s", l.Max, l.Min)
		return l, false
	}
	return l, true
}

func (p *parser) final(n *yaml.Node) Final {
	fin := Final{Heal: true, Recover: defaultRecover}
	if n == nil {
		return fin
	}
	f, ok := p.mapping(n, "final", finalFields)
	if !ok {
		return fin
	}
	if v := f.get("heal"); v != nil {
		if b, ok := p.boolean(v, "heal"); ok {
			fin.Heal = b
		}
	}
	if v := f.get("recover"); v != nil {
		if d, ok := p.nonNegative(v, "recover"); ok {
			fin.Recover = d
		}
	}
	return fin
}

// workloads reads one workload mapping or a list of them. known is false
// when a workload's kind could not be read, so that which kinds there are
// is unknown.
func (p *parser) workloads(n *yaml.Node) (ws []Workload, known bool) {
	if n == nil {
		return []Workload{defaultWorkload(KV)}, true
	}
	items := []*yaml.Node{n}
	switch n.Kind {
	case yaml.MappingNode:
	case yaml.SequenceNode:
		var ok bool
		if items, ok = p.list(n, "workload", maxWorkloads); !ok {
			return nil, false
		}
	default:
		p.errorf(n, "`workload` must be a mapping or a list of them, got %s", yamlcheck.Describe(n))
		return nil, false
	}
	known = true
	for _, item := range items {
		w, ok := p.workload(item)
		known = known && ok
		ws = append(ws, w)
	}
	return ws, known
}

// workload reads one workload; ok is false when its kind is unknown.
func (p *parser) workload(n *yaml.Node) (Workload, bool) {
	f, ok := p.mapping(n, "workload", workloadFields)
	if !ok {
		return Workload{}, false
	}
	kind := KV
	if v := f.get("kind"); v != nil {
		if kind, ok = p.name(v, "kind", "workload kind", workloadKinds); !ok {
			return Workload{}, false
		}
	}
	w := defaultWorkload(kind)
	w.Cluster, _ = p.enter(f)
	defer p.leave()
	// get returns the value of a field kind takes; any other is an error.
	get := func(field string) *yaml.Node {
		if !slices.Contains(kindWorkloadFields[kind], field) {
			return nil
		}
		return f.get(field)
	}
	for _, field := range workloadFields[2:] {
		if f.has(field) && !slices.Contains(kindWorkloadFields[kind], field) {
			p.errorf(f.key(field), "`%s` does not apply to workload kind %s", field, kind)
		}
	}
	if (kind == Objects || kind == Model) && p.modelKnown && p.model == "" {
		p.errorf(f.get("kind"), "workload kind %s needs cluster.model", kind)
	}
	if kind == Ingest && p.pipelineKnown && p.pipeline == "" {
		p.errorf(f.get("kind"), "workload kind ingest needs cluster.pipeline")
	}
	if kind == Kafka {
		w.Connector = p.producesTo(f)
	}
	if kind == Config && f.has("actions") {
		// Actions are made at their times: the workload has no clients.
		for _, field := range kindWorkloadFields[Config] {
			if field != "actions" && f.has(field) {
				p.errorf(f.key(field), "`%s` does not apply to a config workload with `actions`: give periodic settings a config workload of their own", field)
			}
		}
		w = Workload{Kind: Config, Cluster: w.Cluster}
		p.actions(f.get("actions"), &w)
		return w, true
	}
	if kind == Model {
		for _, field := range []string{"at", "model"} {
			if !f.has(field) {
				p.errorf(f.get("kind"), "workload kind model needs `%s`", field)
			}
		}
	}
	if v := get("at"); v != nil {
		if d, ok := p.nonNegative(v, "at"); ok {
			if p.end > 0 && d >= p.end {
				p.errorf(v, "`at` %s is not before the end of the run (`duration` %s)", d, p.end)
			}
			w.At = d
		}
	}
	if v := get("model"); v != nil {
		w.ModelName, _ = p.name(v, "model", "model", Models)
	}
	if v := get("clients"); v != nil {
		limit := maxClients
		if kind == Kafka {
			limit = maxProducers
		}
		w.Clients, _ = p.integer(v, "clients", 1, limit)
	}
	if v := get("keys"); v != nil {
		w.Keys, _ = p.integer(v, "keys", 1, maxKeys)
	}
	if v := get("rate"); v != nil {
		w.Rate, _ = p.number(v, "rate", func(x float64) bool { return x > 0 && x <= maxRate }, "in (0, 100000]")
	}
	if v := get("bad"); v != nil {
		w.Bad, _ = p.probability(v, "bad")
	}
	if v := get("mix"); v != nil {
		w.Mix = p.mix(v, kind)
	}
	if v := get("target"); v != nil {
		if s, ok := p.str(v, "target"); ok {
			if slices.Contains(workloadTargets, s) || p.isBootNode(s, p.nodes) {
				w.Target = s
			} else {
				p.unknownName(v, "workload target", s, workloadTargets)
			}
		}
	}
	if v := get("timeout"); v != nil {
		w.Timeout, _ = p.positive(v, "timeout")
	}
	if v := get("retries"); v != nil {
		w.Retries, _ = p.integer(v, "retries", 0, maxRetries)
	}
	return w, true
}

// producesTo reads the connector a kafka workload produces to: the one
// it names, or the only kafka connector of the cluster's pipeline.
func (p *parser) producesTo(f fields) string {
	at, name := f.get("kind"), ""
	if v := f.get("connector"); v != nil {
		s, ok := p.str(v, "connector")
		if !ok {
			return ""
		}
		at, name = v, s
	}
	brokers := PipelineBrokers(p.pipeline)
	switch {
	case !p.pipelineKnown:
		return name
	case p.pipeline == "":
		p.errorf(at, "workload kind kafka needs cluster.pipeline, with a kafka inbound connector (such as example-kafka)")
	case len(brokers) == 0:
		p.errorf(at, "workload kind kafka needs a pipeline with a kafka inbound connector (cluster.pipeline %s declares none)", p.pipeline)
	case name != "":
		if !slices.Contains(brokers, name) {
			p.errorf(at, "unknown kafka connector %s%s", yamlcheck.Quote(name), yamlcheck.Hint(name, brokers))
		}
		return name
	case len(brokers) == 1:
		return brokers[0]
	default:
		p.errorf(at, "workload kind kafka needs `connector`: cluster.pipeline %s declares several kafka connectors (%s)", p.pipeline, strings.Join(brokers, ", "))
	}
	return ""
}

// mix reads a kv or objects workload's weights; an operation it leaves
// out weighs 0.
func (p *parser) mix(n *yaml.Node, kind string) Mix {
	var m Mix
	f, ok := p.mapping(n, "mix", mixFields)
	if !ok {
		return defaultWorkload(kind).Mix
	}
	weights := []*float64{&m.Read, &m.Write, &m.CAS, &m.Delete, &m.StaleRead}
	good := true
	for i, field := range mixFields {
		if field == "cas" && kind == Objects && f.has(field) {
			p.errorf(f.key(field), "`cas` does not apply to workload kind objects")
			good = false
			continue
		}
		if v := f.get(field); v != nil {
			var ok bool
			*weights[i], ok = p.number(v, field, func(x float64) bool { return x >= 0 }, "at least 0")
			good = good && ok
		}
	}
	if sum := m.Read + m.Write + m.CAS + m.Delete + m.StaleRead; good && !(sum > 0 && !math.IsInf(sum, 0)) {
		p.errorf(n, "`mix` weights must have a positive, finite sum")
	}
	return m
}

func (p *parser) nemesis(n *yaml.Node) []nemesis.Step {
	if n == nil {
		return nil
	}
	items, ok := p.list(n, "nemesis", maxSteps)
	if !ok {
		return nil
	}
	var steps []nemesis.Step
	for _, item := range items {
		if st, ok := p.step(item); ok {
			steps = append(steps, st)
		}
	}
	return steps
}

func (p *parser) step(n *yaml.Node) (nemesis.Step, bool) {
	var st nemesis.Step
	f, ok := p.mapping(n, "nemesis step", stepFields)
	if !ok {
		return st, false
	}
	ok = p.timing(f, &st) && ok
	p.stepAt = st.At
	if st.Every > 0 {
		p.stepAt = st.Start
	}
	defer func() { p.stepAt = -1 }()
	if f.has("weight") {
		p.errorf(f.key("weight"), "`weight` applies only to pick alternatives")
		ok = false
	}
	switch {
	case f.has("fault") && f.has("pick"):
		p.errorf(f.key("pick"), "`fault` and `pick` are exclusive")
		return st, false
	case f.has("pick"):
		for _, field := range faultFields {
			if f.has(field) {
				p.errorf(f.key(field), "`%s` does not apply to a pick step: it belongs in each alternative", field)
				ok = false
			}
		}
		alts, good := p.list(f.get("pick"), "pick", maxPick)
		if !good {
			return st, false
		}
		if len(alts) == 0 {
			p.errorf(f.get("pick"), "`pick` must not be empty")
			return st, false
		}
		for _, alt := range alts {
			af, good := p.mapping(alt, "pick alternative", altFields)
			if !good {
				ok = false
				continue
			}
			for _, field := range slices.Concat(timingFields, []string{"pick"}) {
				if af.has(field) {
					p.errorf(af.key(field), "`%s` belongs to the step, not to a pick alternative", field)
					good = false
				}
			}
			flt, fine := p.fault(af, true)
			ok = ok && good && fine
			st.Pick = append(st.Pick, flt)
		}
	case f.has("fault"):
		flt, good := p.fault(f, false)
		ok = ok && good
		if good && flt.Kind == nemesis.Restart && f.has("for") {
			p.errorf(f.key("for"), "`for` does not apply to fault restart")
			ok = false
		}
		if flt.Kind == nemesis.Broker && instantaneous(&flt) && f.has("for") {
			p.errorf(f.key("for"), "`for` does not apply to fault broker with mode rebalance: a rebalance happens at once")
			ok = false
		}
		st.Fault = &flt
	default:
		p.errorf(n, "a nemesis step needs `fault` or `pick`")
		ok = false
	}
	return st, ok
}

// timing reads a step's at, every, start and for.
func (p *parser) timing(f fields, st *nemesis.Step) bool {
	ok := true
	beforeEnd := func(v *yaml.Node, field string, d time.Duration) {
		if p.end > 0 && d >= p.end {
			p.errorf(v, "`%s` %s is not before the end of the run (`duration` %s)", field, d, p.end)
			ok = false
		}
	}
	switch {
	case f.has("at") && f.has("every"):
		p.errorf(f.key("every"), "`at` and `every` are exclusive")
		return false
	case f.has("at"):
		var good bool
		st.At, good = p.nonNegative(f.get("at"), "at")
		ok = ok && good
		if good {
			beforeEnd(f.get("at"), "at", st.At)
		}
		if f.has("start") {
			p.errorf(f.key("start"), "`start` applies only with `every`")
			ok = false
		}
	case f.has("every"):
		var good bool
		st.Every, good = p.positive(f.get("every"), "every")
		ok = ok && good
		startOK := true
		if v := f.get("start"); v != nil {
			st.Start, startOK = p.nonNegative(v, "start")
			if startOK {
				beforeEnd(v, "start", st.Start)
			}
			ok = ok && startOK
		}
		if good && startOK && p.end > st.Start {
			if n := (p.end - st.Start + st.Every - 1) / st.Every; n > maxOccurrences {
				p.errorf(f.get("every"), "`every` %s starts %d occurrences in `duration` %s, at most %d", st.Every, n, p.end, maxOccurrences)
				ok = false
			}
		}
	default:
		p.errorf(f.node, "a nemesis step needs `at` or `every`")
		ok = false
	}
	if v := f.get("for"); v != nil {
		var good bool
		st.For, good = p.nonNegative(v, "for")
		ok = ok && good
	}
	return ok
}

// fault reads a fault's fields from f, a step or a pick alternative.
func (p *parser) fault(f fields, inPick bool) (nemesis.Fault, bool) {
	var flt nemesis.Fault
	ok := true
	if inPick {
		flt.Weight = 1
		if v := f.get("weight"); v != nil {
			flt.Weight, ok = p.integer(v, "weight", 1, maxWeight)
		}
	}
	v := f.get("fault")
	if v == nil {
		p.errorf(f.node, "a pick alternative needs `fault`")
		return flt, false
	}
	kinds := make([]string, len(nemesis.Kinds))
	for i, k := range nemesis.Kinds {
		kinds[i] = string(k)
	}
	kind, good := p.name(v, "fault", "fault", kinds)
	if !good {
		return flt, false
	}
	flt.Kind = nemesis.Kind(kind)
	for _, field := range faultFields[1:] {
		if f.has(field) && !slices.Contains(kindFields[flt.Kind], field) {
			p.errorf(f.key(field), "`%s` does not apply to fault %s", field, kind)
			ok = false
		}
	}
	if slices.Contains(kindFields[flt.Kind], "cluster") {
		var good bool
		flt.Cluster, good = p.enter(f)
		ok = ok && good
		defer p.leave()
	}
	switch flt.Kind {
	case nemesis.Partition:
		ok = p.partition(f, &flt) && ok
	case nemesis.Link:
		ok = p.link(f, &flt) && ok
	case nemesis.Kill, nemesis.Restart, nemesis.Pause:
		ok = p.target(f, &flt) && ok
	case nemesis.Clock:
		ok = p.target(f, &flt) && ok
		ok = p.clock(f, &flt) && ok
	case nemesis.Disk:
		ok = p.target(f, &flt) && ok
		ok = p.disk(f, &flt) && ok
	case nemesis.Endpoint:
		ok = p.endpoint(f, &flt) && ok
	case nemesis.Broker:
		ok = p.broker(f, &flt) && ok
	case nemesis.DCLink:
		ok = p.dclink(f, &flt) && ok
	}
	return flt, ok
}

func (p *parser) partition(f fields, flt *nemesis.Fault) bool {
	ok := true
	switch {
	case f.has("shape") && f.has("components"):
		p.errorf(f.key("components"), "`shape` and `components` are exclusive")
		return false
	case f.has("shape"):
		flt.Shape, ok = p.name(f.get("shape"), "shape", "shape", nemesis.Shapes)
	case f.has("components"):
		ok = p.components(f.get("components"), flt)
	default:
		p.errorf(f.node, "fault partition needs `shape` or `components`")
		return false
	}
	switch {
	case flt.Shape == nemesis.IsolateLeader:
		flt.Group = nemesis.GroupData
		if v := f.get("group"); v != nil {
			var good bool
			flt.Group, good = p.group(v)
			ok = ok && good
		}
	case f.has("group") && ok:
		p.errorf(f.key("group"), "`group` applies only to shape isolate-leader")
		ok = false
	}
	return ok
}

func (p *parser) components(n *yaml.Node, flt *nemesis.Fault) bool {
	items, ok := p.list(n, "components", maxInstances)
	if !ok {
		return false
	}
	if len(items) == 0 {
		p.errorf(n, "`components` must not be empty")
		return false
	}
	seen := map[env.NodeID]int{}
	for _, item := range items {
		c, good := p.nodeList(item, "components", seen)
		ok = ok && good
		flt.Components = append(flt.Components, c)
	}
	return ok
}

// group reads config, data or a replicaset rsK.
func (p *parser) group(n *yaml.Node) (string, bool) {
	s, ok := p.str(n, "group")
	if !ok {
		return "", false
	}
	words := []string{nemesis.GroupConfig, nemesis.GroupData}
	if slices.Contains(words, s) {
		return s, true
	}
	if replicaPattern.MatchString(s) {
		i, err := strconv.Atoi(s[2:])
		if err == nil && s == "rs"+strconv.Itoa(i) && i >= 1 && (p.sets == 0 || i <= p.sets) {
			return s, true
		}
		if p.sets > 0 {
			p.errorf(n, "unknown group %s (the cluster has rs1..rs%d)", yamlcheck.Quote(s), p.sets)
			return "", false
		}
	}
	sets := make([]string, p.sets)
	for i := range sets {
		sets[i] = "rs" + strconv.Itoa(i+1)
	}
	p.errorf(n, "unknown group %s%s", yamlcheck.Quote(s), yamlcheck.Hint(s, slices.Concat(words, sets)))
	return "", false
}

func (p *parser) link(f fields, flt *nemesis.Fault) bool {
	ok := true
	if !f.has("loss") && !f.has("delay") && !f.has("duplicate") && !f.has("reorder") {
		p.errorf(f.node, "fault link needs at least one of `loss`, `delay`, `duplicate`, `reorder`")
		ok = false
	}
	if v := f.get("loss"); v != nil {
		x, good := p.probability(v, "loss")
		flt.Loss, ok = &x, ok && good
	}
	if v := f.get("delay"); v != nil {
		l, good := p.latency(v, "delay")
		flt.Delay, ok = &l, ok && good
	}
	if v := f.get("duplicate"); v != nil {
		x, good := p.probability(v, "duplicate")
		flt.Duplicate, ok = &x, ok && good
	}
	if v := f.get("reorder"); v != nil {
		b, good := p.boolean(v, "reorder")
		flt.Reorder, ok = &b, ok && good
	}
	if v := f.get("from"); v != nil {
		var good bool
		flt.From, good = p.nodeList(v, "from", map[env.NodeID]int{})
		ok = ok && good
	}
	if v := f.get("to"); v != nil {
		var good bool
		flt.To, good = p.nodeList(v, "to", map[env.NodeID]int{})
		ok = ok && good
	}
	if v := f.get("one_way"); v != nil {
		var good bool
		flt.OneWay, good = p.boolean(v, "one_way")
		ok = ok && good
	}
	return ok
}

// target reads the target of a process, clock or disk fault, and its
// group when the target is a group's leader, its followers or one of them.
func (p *parser) target(f fields, flt *nemesis.Fault) bool {
	flt.Target = defaultTarget
	if v := f.get("target"); v != nil {
		s, ok := p.str(v, "target")
		if !ok {
			return false
		}
		if !slices.Contains(nemesis.Targets, s) && !p.isNode(s) {
			p.unknownName(v, "target", s, nemesis.Targets)
			return false
		}
		if p.joinedLater(v, "target", s) {
			return false
		}
		flt.Target = s
	}
	if flt.Target == nemesis.TargetLeader || flt.Target == nemesis.TargetFollowers || flt.Target == nemesis.TargetFollower {
		flt.Group = nemesis.GroupData
		if v := f.get("group"); v != nil {
			var ok bool
			flt.Group, ok = p.group(v)
			return ok
		}
	} else if f.has("group") {
		p.errorf(f.key("group"), "`group` applies only to targets leader, followers and follower")
		return false
	}
	return true
}

func (p *parser) clock(f fields, flt *nemesis.Fault) bool {
	var set []string
	for _, field := range []string{"offset", "drift", "strobe"} {
		if f.has(field) {
			set = append(set, field)
		}
	}
	switch len(set) {
	case 0:
		p.errorf(f.node, "fault clock needs one of `offset`, `drift`, `strobe`")
		return false
	case 1:
	default:
		p.errorf(f.key(set[1]), "`%s` and `%s` are exclusive", set[0], set[1])
		return false
	}
	ok := true
	switch set[0] {
	case "offset":
		d, good := p.duration(f.get("offset"), "offset")
		flt.Offset, ok = &d, good
	case "drift":
		x, good := p.number(f.get("drift"), "drift", func(x float64) bool { return x > -1 && x < 1 }, "in (-1, 1)")
		flt.Drift, ok = &x, good
	case "strobe":
		n := f.get("strobe")
		sf, good := p.mapping(n, "strobe", strobeFields)
		if !good {
			return false
		}
		var s nemesis.Strobe
		if v := sf.get("offset"); v == nil {
			p.errorf(n, "`strobe` needs `offset`")
			ok = false
		} else {
			s.Offset, good = p.duration(v, "offset")
			ok = ok && good
		}
		if v := sf.get("period"); v == nil {
			p.errorf(n, "`strobe` needs `period`")
			ok = false
		} else {
			s.Period, good = p.positive(v, "period")
			ok = ok && good
		}
		flt.Strobe = &s
	}
	return ok
}

func (p *parser) disk(f fields, flt *nemesis.Fault) bool {
	ok := true
	flt.Probability = 1
	if v := f.get("errors"); v == nil {
		p.errorf(f.node, "fault disk needs `errors`")
		ok = false
	} else if items, good := p.list(v, "errors", maxFileSize); !good {
		ok = false
	} else if len(items) == 0 {
		p.errorf(v, "`errors` must not be empty")
		ok = false
	} else {
		seen := map[string]int{}
		for _, item := range items {
			op, good := p.name(item, "errors", "disk operation", nemesis.DiskOps)
			if !good {
				ok = false
				continue
			}
			if first, dup := seen[op]; dup {
				p.errorf(item, "`errors` names %s twice (first at line %d)", op, first)
				ok = false
				continue
			}
			seen[op] = item.Line
			flt.Errors = append(flt.Errors, op)
		}
	}
	if v := f.get("probability"); v != nil {
		var good bool
		flt.Probability, good = p.number(v, "probability", func(x float64) bool { return x > 0 && x <= 1 }, "in (0, 1]")
		ok = ok && good
	}
	return ok
}

// endpoint reads an endpoint fault: the destination, one the cluster's
// pipeline declares, and the mode with the field it takes.
func (p *parser) endpoint(f fields, flt *nemesis.Fault) bool {
	var ok bool
	flt.Endpoint, flt.Mode, ok = p.nodeFault(f, "endpoint", nemesis.EndpointModes, PipelineDestinations,
		"outbound destinations (such as example-outbound)", "outbound destination (example-outbound does)")
	if flt.Mode == "" {
		return false
	}
	if flt.Mode == nemesis.EndpointFail {
		flt.FailRate = 1
		if v := f.get("fail_rate"); v != nil {
			var good bool
			flt.FailRate, good = p.number(v, "fail_rate", func(x float64) bool { return x > 0 && x <= 1 }, "in (0, 1]")
			ok = ok && good
		}
	} else if f.has("fail_rate") {
		p.errorf(f.key("fail_rate"), "`fail_rate` applies only to mode fail")
		ok = false
	}
	return p.slowLatency(f, "endpoint", flt.Mode == nemesis.EndpointSlow, flt) && ok
}

// nodeFault reads what an endpoint or broker fault (kind) names, in the
// field of the kind's name, which the cluster's pipeline must declare
// (see declared), and the fault's mode, one of modes. mode is "" when
// it is missing or unknown: the caller reads no field a mode takes.
func (p *parser) nodeFault(f fields, kind string, modes []string, list func(pipeline string) []string, with, none string) (name, mode string, ok bool) {
	ok = true
	if v := f.get(kind); v == nil {
		p.errorf(f.node, "fault %s needs `%s`", kind, kind)
		ok = false
	} else if s, good := p.str(v, kind); !good {
		ok = false
	} else {
		name = s
		ok = p.declared(v, kind, s, list, with, none) && ok
	}
	v := f.get("mode")
	if v == nil {
		p.errorf(f.node, "fault %s needs `mode`", kind)
		return name, "", false
	}
	mode, good := p.name(v, "mode", kind+" mode", modes)
	return name, mode, ok && good
}

// slowLatency reads the latency an endpoint or broker fault (kind)
// takes in mode slow, and only then.
func (p *parser) slowLatency(f fields, kind string, slow bool, flt *nemesis.Fault) bool {
	switch {
	case slow && !f.has("latency"):
		p.errorf(f.node, "fault %s with mode slow needs `latency`", kind)
		return false
	case slow:
		var ok bool
		flt.Latency, ok = p.positive(f.get("latency"), "latency")
		return ok
	case f.has("latency"):
		p.errorf(f.key("latency"), "`latency` applies only to mode slow")
		return false
	}
	return true
}

// declared checks that s, what a fault of the kind (endpoint, broker)
// names, is one of those the cluster's pipeline declares (list lists
// them), which the run simulates a node for. with is what the fault
// needs the pipeline to declare, none the thing a pipeline may declare
// none of; each comes with an example.
func (p *parser) declared(n *yaml.Node, kind, s string, list func(pipeline string) []string, with, none string) bool {
	if !p.pipelineKnown {
		return true
	}
	names := list(p.pipeline)
	switch {
	case slices.Contains(names, s):
		return true
	case p.pipeline == "":
		p.errorf(n, "fault %s needs cluster.pipeline, with %s", kind, with)
	case len(names) == 0:
		p.errorf(n, "unknown %s %s: pipeline %s declares no %s", kind, yamlcheck.Quote(s), p.pipeline, none)
	default:
		p.errorf(n, "unknown %s %s%s", kind, yamlcheck.Quote(s), yamlcheck.Hint(s, names))
	}
	return false
}

// broker reads a broker fault: the kafka connector, one the cluster's
// pipeline declares, and the mode with the field it takes.
func (p *parser) broker(f fields, flt *nemesis.Fault) bool {
	var ok bool
	flt.Broker, flt.Mode, ok = p.nodeFault(f, "broker", nemesis.BrokerModes, PipelineBrokers,
		"a kafka inbound connector (such as example-kafka)", "kafka inbound connector (example-kafka does)")
	if flt.Mode == "" {
		return false
	}
	return p.slowLatency(f, "broker", flt.Mode == nemesis.BrokerSlow, flt) && ok
}

// checks reads the list of checks, or picks every check that applies.
// kindsKnown is false when the workloads could not be read, so which
// kinds there are is unknown.
func (p *parser) checks(n *yaml.Node, kindsKnown bool, s *Scenario) []string {
	has := func(kind string) bool {
		return slices.ContainsFunc(s.Workloads, func(w Workload) bool { return w.Kind == kind })
	}
	needs := func(check string) string {
		switch {
		case check == CheckLinearizable && !has(KV) && !has(Objects):
			return "a kv or objects workload"
		case check == CheckDurability && !has(KV):
			return "a kv workload"
		case check == CheckModel && !has(Objects):
			return "an objects workload"
		case check == CheckDelivery && !has(Ingest) && !has(Kafka):
			return "an ingest or kafka workload"
		case check == CheckProgress && !s.Final.Heal:
			return "final.heal"
		case check == CheckOutbound && !slices.ContainsFunc(s.clusters(), func(c Cluster) bool { return len(PipelineDestinations(c.Pipeline)) > 0 }):
			return "a cluster.pipeline that declares outbound destinations"
		case check == CheckReplication && !slices.ContainsFunc(s.Clusters, func(c Cluster) bool { return len(PipelineReplications(c.Pipeline)) > 0 }):
			return "`clusters` one of which replicates to another (a pipeline such as example-dc1)"
		}
		return ""
	}
	// Quorum judges operator actions (config workloads, and model
	// proposals, which go through group 0) and faults the nemesis's
	// steps: without those, or without steps, they have nothing to
	// judge (n/a), so they are not defaults, though a scenario may still
	// name them.
	operator := has(Config) || has(Model)
	// Topology judges joins, expels and the governor's work: a default
	// when the scenario makes actions or tunes the governor. Buckets
	// judges the moves the governor makes as the cluster changes shape:
	// a default where topology is.
	topology := slices.ContainsFunc(s.Workloads, func(w Workload) bool { return len(w.Actions) > 0 }) ||
		slices.ContainsFunc(s.clusters(), func(c Cluster) bool { return len(c.Governor) > 0 })
	if n == nil {
		var out []string
		for _, c := range Checks {
			if needs(c) == "" && (c != CheckQuorum || operator) && (c != CheckFaults || len(s.Nemesis) > 0) && (c != CheckTopology && c != CheckBuckets || topology) {
				out = append(out, c)
			}
		}
		return out
	}
	items, ok := p.list(n, "checks", maxFileSize)
	if !ok {
		return nil
	}
	if len(items) == 0 {
		p.errorf(n, "`checks` must not be empty: leave it out to run every check that applies")
		return nil
	}
	seen := map[string]int{}
	for _, item := range items {
		c, ok := p.name(item, "checks", "check", Checks)
		if !ok {
			continue
		}
		if first, dup := seen[c]; dup {
			p.errorf(item, "`checks` names %s twice (first at line %d)", c, first)
			continue
		}
		seen[c] = item.Line
		known := kindsKnown
		if c == CheckOutbound || c == CheckReplication {
			known = p.pipelinesKnown()
		}
		if need := needs(c); need != "" && known {
			p.errorf(item, "check %s needs %s", c, need)
		}
	}
	var out []string
	for _, c := range Checks {
		if _, ok := seen[c]; ok {
			out = append(out, c)
		}
	}
	return out
}

// clusters reads `clusters`: a list of named clusters, each what
// `cluster` holds and its name. The parser then checks what follows
// against the first, but for workloads and faults that name another
// (enter).
func (p *parser) clusters(n *yaml.Node) []Cluster {
	p.multi = true
	items, ok := p.list(n, "clusters", maxClusters)
	if !ok {
		return nil
	}
	if len(items) == 0 {
		p.errorf(n, "`clusters` must not be empty")
		return nil
	}
	var out []Cluster
	all := true
	for _, item := range items {
		c, f := p.clusterIn(item, namedFields)
		if f.node == nil {
			all = false
			continue
		}
		if v := f.get("name"); v == nil {
			p.errorf(item, "a cluster of `clusters` needs `name`")
			all = false
		} else if name, good := p.str(v, "name"); !good {
			all = false
		} else if err := kv.CheckClusterName(name); err != nil {
			p.errorf(v, "`name` must be 1 to %d lower-case letters, digits and dashes, starting with a letter, got %s", kv.MaxClusterName, yamlcheck.Describe(v))
			all = false
		} else if i := slices.IndexFunc(p.dcs, func(d dcInfo) bool { return d.name == name }); i >= 0 {
			p.errorf(v, "cluster %s is named twice (first at line %d)", name, p.dcs[i].line)
			all = false
		} else {
			c.Name = name
			p.dcs = append(p.dcs, dcInfo{name: name, nodes: p.nodes, sets: p.sets, model: p.model, pipeline: p.pipeline,
				modelKnown: p.modelKnown, pipelineKnown: p.pipelineKnown, line: v.Line})
		}
		out = append(out, c)
	}
	if !all {
		p.dcs = nil
		p.nodes, p.sets, p.modelKnown, p.pipelineKnown = 0, 0, false, false
		return nil
	}
	p.checkReplication(items, out)
	p.leave()
	return out
}

// checkReplication checks what the clusters' pipelines declare against
// the clusters: every cluster a pipeline replicates to is one of them,
// not the cluster itself, and no two clusters declare a destination or
// kafka connector of one name (each is one simulated node of the world).
func (p *parser) checkReplication(items []*yaml.Node, cs []Cluster) {
	names := make([]string, len(cs))
	for i, c := range cs {
		names[i] = c.Name
	}
	owner := map[string]string{}
	for i, c := range cs {
		at := items[i]
		for _, r := range PipelineReplications(c.Pipeline) {
			switch {
			case r.Cluster == c.Name:
				p.errorf(at, "cluster %s: pipeline %s replicates to cluster %s itself (destination %s)", c.Name, c.Pipeline, r.Cluster, r.Destination)
			case !slices.Contains(names, r.Cluster):
				p.errorf(at, "cluster %s: pipeline %s replicates to cluster %s (destination %s), which `clusters` lacks%s", c.Name, c.Pipeline, r.Cluster, r.Destination,
					yamlcheck.Hint(r.Cluster, slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == c.Name })))
			}
		}
		for _, d := range slices.Concat(PipelineDestinations(c.Pipeline), PipelineBrokers(c.Pipeline)) {
			if first, dup := owner[d]; dup {
				p.errorf(at, "clusters %s and %s both declare %s in their pipelines: a destination or kafka connector is one simulated node of the world, so its name must be unique across clusters", first, c.Name, d)
				continue
			}
			owner[d] = c.Name
		}
	}
}

// replicatesWithin refuses, in a scenario of one cluster, a pipeline
// that replicates to another cluster: there is none to replicate to.
func (p *parser) replicatesWithin(n *yaml.Node, pipeline string) {
	if rs := PipelineReplications(pipeline); len(rs) > 0 {
		p.errorf(n, "pipeline %s replicates to cluster %s (destination %s): name the clusters with `clusters`", pipeline, rs[0].Cluster, rs[0].Destination)
	}
}

// pipelinesKnown reports whether every cluster's pipeline could be read.
func (p *parser) pipelinesKnown() bool {
	if !p.multi {
		return p.pipelineKnown
	}
	if len(p.dcs) == 0 {
		return false
	}
	for _, d := range p.dcs {
		if !d.pipelineKnown {
			return false
		}
	}
	return true
}

// dcLink reads `dc_link`: the links between clusters.
func (p *parser) dcLink(n *yaml.Node) simnet.Latency {
	f, ok := p.mapping(n, "dc_link", dcLinkFields)
	if !ok {
		return defaultDCLink
	}
	if v := f.get("latency"); v != nil {
		if l, ok := p.latency(v, "latency"); ok {
			return l
		}
	}
	return defaultDCLink
}

// enter reads the `cluster` of a workload or fault (f) and checks the
// fields after it against that cluster (the first when it names none);
// leave goes back to the first. It returns the cluster's name, "" in a
// scenario of one cluster, and whether it is one of `clusters`.
func (p *parser) enter(f fields) (string, bool) {
	v := f.get("cluster")
	if !p.multi {
		if v != nil {
			p.errorf(f.key("cluster"), "`cluster` names one of `clusters`, and this scenario has one cluster (`cluster`)")
			return "", false
		}
		return "", true
	}
	if len(p.dcs) == 0 {
		if v != nil {
			s, _ := p.str(v, "cluster")
			return s, true
		}
		return "", true
	}
	name := p.dcs[0].name
	if v != nil {
		s, ok := p.str(v, "cluster")
		if !ok {
			p.nodes, p.sets, p.modelKnown, p.pipelineKnown = 0, 0, false, false
			return name, false
		}
		names := make([]string, len(p.dcs))
		for i, d := range p.dcs {
			names[i] = d.name
		}
		if !slices.Contains(names, s) {
			p.errorf(v, "unknown cluster %s%s", yamlcheck.Quote(s), yamlcheck.Hint(s, names))
			p.nodes, p.sets, p.modelKnown, p.pipelineKnown = 0, 0, false, false
			return s, false
		}
		name = s
	}
	p.use(name)
	return name, true
}

// leave checks what follows against the first cluster again.
func (p *parser) leave() {
	if len(p.dcs) > 0 {
		p.use(p.dcs[0].name)
	}
}

func (p *parser) use(name string) {
	for _, d := range p.dcs {
		if d.name == name {
			p.nodes, p.sets, p.model, p.pipeline, p.modelKnown, p.pipelineKnown = d.nodes, d.sets, d.model, d.pipeline, d.modelKnown, d.pipelineKnown
		}
	}
}

// dclink reads a dclink fault: the two clusters it is between (every
// pair when it names none), its mode, and the delay (slow) or period
// (flap) the mode takes.
func (p *parser) dclink(f fields, flt *nemesis.Fault) bool {
	ok := true
	if !p.multi {
		p.errorf(f.get("fault"), "fault dclink needs `clusters`: it hits the links between clusters")
		ok = false
	}
	if v := f.get("between"); v != nil {
		items, good := p.list(v, "between", maxClusters)
		switch {
		case !good:
			ok = false
		case len(items) != 2:
			p.errorf(v, "`between` must name two clusters, got %d", len(items))
			ok = false
		default:
			for _, item := range items {
				s, good := p.str(item, "between")
				if !good {
					ok = false
					continue
				}
				if names := p.dcNames(); len(names) > 0 && !slices.Contains(names, s) {
					p.errorf(item, "unknown cluster %s%s", yamlcheck.Quote(s), yamlcheck.Hint(s, names))
					ok = false
					continue
				}
				flt.Between = append(flt.Between, s)
			}
			if ok && flt.Between[0] == flt.Between[1] {
				p.errorf(v, "`between` names %s twice: a dclink fault is between two clusters", flt.Between[0])
				ok = false
			}
		}
	}
	v := f.get("mode")
	if v == nil {
		p.errorf(f.node, "fault dclink needs `mode`")
		return false
	}
	mode, good := p.name(v, "mode", "dclink mode", nemesis.DCLinkModes)
	if !good {
		return false
	}
	flt.Mode = mode
	switch {
	case mode == nemesis.DCLinkSlow && !f.has("delay"):
		p.errorf(f.node, "fault dclink with mode slow needs `delay`")
		ok = false
	case mode == nemesis.DCLinkSlow:
		l, good := p.latency(f.get("delay"), "delay")
		flt.Delay, ok = &l, ok && good
	case f.has("delay"):
		p.errorf(f.key("delay"), "`delay` applies only to mode slow")
		ok = false
	}
	switch {
	case mode == nemesis.DCLinkFlap && !f.has("period"):
		p.errorf(f.node, "fault dclink with mode flap needs `period`")
		ok = false
	case mode == nemesis.DCLinkFlap:
		d, good := p.positive(f.get("period"), "period")
		flt.Period, ok = d, ok && good
	case f.has("period"):
		p.errorf(f.key("period"), "`period` applies only to mode flap")
		ok = false
	}
	return ok
}

func (p *parser) dcNames() []string {
	names := make([]string, len(p.dcs))
	for i, d := range p.dcs {
		names[i] = d.name
	}
	return names
}
