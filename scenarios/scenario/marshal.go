package scenario

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.yaml.in/yaml/v3"

	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/nemesis"
	"github.com/shoaldb/shoal/simnet"
)

const header = "# A shoal scenario with every default filled in.\n" +
	"# Format: scenarios/README.md; JSON Schema: scenarios/scenario/scenario.schema.json.\n"

// Marshal writes s as a scenario file, every field written out, durations
// in Go syntax. For any s that Parse returned, Parse(file, Marshal(s))
// returns a scenario equal to s.
func Marshal(s *Scenario) []byte {
	var doc block
	doc.str("name", s.Name)
	if s.Description != "" {
		doc.add("description", textNode(s.Description))
	}
	if len(s.Clusters) > 0 {
		cs := seq(0)
		for _, c := range s.Clusters {
			cs.Content = append(cs.Content, clusterNode(c))
		}
		doc.add("clusters", cs)
	} else {
		doc.add("cluster", clusterNode(s.Cluster))
	}

	var nw block
	nw.add("latency", latencyNode(s.Network.Latency))
	nw.float("loss", s.Network.Loss)
	doc.add("network", nw.node())
	if len(s.Clusters) > 0 {
		var dc block
		dc.add("latency", latencyNode(s.DCLink))
		doc.add("dc_link", dc.node())
	}

	switch len(s.Workloads) {
	case 0:
		doc.add("workload", seq(yaml.FlowStyle))
	case 1:
		doc.add("workload", workloadNode(s.Workloads[0]))
	default:
		ws := seq(0)
		for _, w := range s.Workloads {
			ws.Content = append(ws.Content, workloadNode(w))
		}
		doc.add("workload", ws)
	}
	doc.duration("duration", s.Duration)

	steps := seq(0)
	if len(s.Nemesis) == 0 {
		steps.Style = yaml.FlowStyle
	}
	for _, st := range s.Nemesis {
		steps.Content = append(steps.Content, stepNode(st, s.Final.Heal))
	}
	doc.add("nemesis", steps)

	var fin block
	fin.bool("heal", s.Final.Heal)
	fin.duration("recover", s.Final.Recover)
	doc.add("final", fin.node())

	doc.add("checks", strSeq(s.Checks))
	doc.str("expect", s.Expect)

	var b bytes.Buffer
	b.WriteString(header)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc.node()); err != nil {
		panic("scenario: encoding a node tree built here failed: " + err.Error())
	}
	if err := enc.Close(); err != nil {
		panic("scenario: encoding a node tree built here failed: " + err.Error())
	}
	return b.Bytes()
}

// clusterNode writes a cluster, its name first when it has one.
func clusterNode(cl Cluster) *yaml.Node {
	var c block
	if cl.Name != "" {
		c.str("name", cl.Name)
	}
	c.int("instances", cl.Instances)
	c.int("replication_factor", cl.ReplicationFactor)
	if cl.Buckets != 0 {
		c.int("buckets", cl.Buckets)
	}
	if cl.Model != "" {
		c.str("model", cl.Model)
	}
	if cl.Pipeline != "" {
		c.str("pipeline", cl.Pipeline)
	}
	if len(cl.Queue) > 0 {
		c.add("queue", queueNode(cl.Queue))
	}
	if len(cl.Governor) > 0 {
		c.add("governor", governorNode(cl.Governor))
	}
	if len(cl.Domains) > 0 {
		c.add("domains", domainsNode(cl.Domains))
	}
	return c.node()
}

// workloadNode writes the fields w's kind takes.
func workloadNode(w Workload) *yaml.Node {
	var b block
	b.str("kind", w.Kind)
	if w.Cluster != "" {
		b.str("cluster", w.Cluster)
	}
	if w.Kind == Config && len(w.Actions) > 0 {
		b.add("actions", actionsNode(w.Actions))
		return b.node()
	}
	if w.Kind == Model {
		b.duration("at", w.At)
		b.str("model", w.ModelName)
		b.str("target", w.Target)
		b.duration("timeout", w.Timeout)
		return b.node()
	}
	takes := func(field string) bool { return slices.Contains(kindWorkloadFields[w.Kind], field) }
	if takes("connector") {
		b.str("connector", w.Connector)
	}
	b.int("clients", w.Clients)
	if takes("keys") {
		b.int("keys", w.Keys)
	}
	b.float("rate", w.Rate)
	if takes("bad") {
		b.float("bad", w.Bad)
	}
	if takes("mix") {
		var m block
		m.float("read", w.Mix.Read)
		m.float("write", w.Mix.Write)
		if w.Kind != Objects {
			m.float("cas", w.Mix.CAS)
		}
		m.float("delete", w.Mix.Delete)
		if w.Mix.StaleRead != 0 {
			m.float("stale_read", w.Mix.StaleRead)
		}
		b.add("mix", m.flow())
	}
	if takes("target") {
		b.str("target", w.Target)
		b.duration("timeout", w.Timeout)
		b.int("retries", w.Retries)
	}
	return b.node()
}

// queueNode writes cluster.queue's settings: integers plain, durations
// as strings.
func queueNode(settings map[string]string) *yaml.Node {
	var b block
	for _, q := range queueSettings {
		v, ok := settings["queue."+q.field]
		switch {
		case !ok:
		case q.duration:
			b.str(q.field, v)
		default:
			b.add(q.field, plain(v))
		}
	}
	return b.node()
}

// stepNode writes a step; heal tells what a step without For lasts until.
func stepNode(st nemesis.Step, heal bool) *yaml.Node {
	var b block
	if st.Every > 0 {
		b.duration("every", st.Every)
		b.duration("start", st.Start)
	} else {
		b.duration("at", st.At)
	}
	if st.Fault == nil {
		forNode(&b, st.For, heal)
		alts := seq(0)
		for _, f := range st.Pick {
			var a block
			a.int("weight", f.Weight)
			faultFieldsOf(&a, f)
			alts.Content = append(alts.Content, a.flow())
		}
		b.add("pick", alts)
		return b.node()
	}
	faultFieldsOf(&b, *st.Fault)
	if !instantaneous(st.Fault) {
		forNode(&b, st.For, heal)
	}
	return b.node()
}

func forNode(b *block, d time.Duration, heal bool) {
	b.duration("for", d)
	switch {
	case d == 0 && heal:
		b.vals[len(b.vals)-1].LineComment = "# until the final heal"
	case d == 0:
		b.vals[len(b.vals)-1].LineComment = "# until the end of the run"
	}
}

// faultFieldsOf adds the fields of f that its kind takes.
func faultFieldsOf(b *block, f nemesis.Fault) {
	b.str("fault", string(f.Kind))
	if f.Cluster != "" {
		b.str("cluster", f.Cluster)
	}
	switch f.Kind {
	case nemesis.Partition:
		if f.Components != nil {
			cs := seq(yaml.FlowStyle)
			for _, c := range f.Components {
				cs.Content = append(cs.Content, nodeSeq(c))
			}
			b.add("components", cs)
		} else {
			b.str("shape", f.Shape)
		}
		if f.Group != "" {
			b.str("group", f.Group)
		}
	case nemesis.Link:
		if f.Loss != nil {
			b.float("loss", *f.Loss)
		}
		if f.Delay != nil {
			b.add("delay", latencyNode(*f.Delay))
		}
		if f.Duplicate != nil {
			b.float("duplicate", *f.Duplicate)
		}
		if f.Reorder != nil {
			b.bool("reorder", *f.Reorder)
		}
		if f.From != nil {
			b.add("from", nodeSeq(f.From))
		}
		if f.To != nil {
			b.add("to", nodeSeq(f.To))
		}
		b.bool("one_way", f.OneWay)
	case nemesis.Endpoint:
		b.str("endpoint", f.Endpoint)
		b.str("mode", f.Mode)
		switch f.Mode {
		case nemesis.EndpointFail:
			b.float("fail_rate", f.FailRate)
		case nemesis.EndpointSlow:
			b.duration("latency", f.Latency)
		}
	case nemesis.Broker:
		b.str("broker", f.Broker)
		b.str("mode", f.Mode)
		if f.Mode == nemesis.BrokerSlow {
			b.duration("latency", f.Latency)
		}
	case nemesis.DCLink:
		if f.Between != nil {
			b.add("between", strSeq(f.Between))
		}
		b.str("mode", f.Mode)
		if f.Delay != nil {
			b.add("delay", latencyNode(*f.Delay))
		}
		if f.Period != 0 {
			b.duration("period", f.Period)
		}
	default:
		b.str("target", f.Target)
		if f.Group != "" {
			b.str("group", f.Group)
		}
	}
	switch f.Kind {
	case nemesis.Clock:
		switch {
		case f.Offset != nil:
			b.duration("offset", *f.Offset)
		case f.Drift != nil:
			b.float("drift", *f.Drift)
		case f.Strobe != nil:
			var s block
			s.duration("offset", f.Strobe.Offset)
			s.duration("period", f.Strobe.Period)
			b.add("strobe", s.flow())
		}
	case nemesis.Disk:
		b.add("errors", strSeq(f.Errors))
		b.float("probability", f.Probability)
	}
}

// instantaneous reports whether f has no duration, so that a step of it
// takes no `for`: a restart, or a broker rebalance.
func instantaneous(f *nemesis.Fault) bool {
	return f.Kind == nemesis.Restart || (f.Kind == nemesis.Broker && f.Mode == nemesis.BrokerRebalance)
}

func latencyNode(l simnet.Latency) *yaml.Node {
	var b block
	b.str("dist", l.Dist.String())
	b.duration("min", l.Min)
	if l.Dist != simnet.Constant {
		b.duration("max", l.Max)
	}
	return b.flow()
}

// block builds a mapping node, its keys in the order they are added.
type block struct {
	keys, vals []*yaml.Node
}

func (b *block) add(key string, v *yaml.Node) {
	b.keys = append(b.keys, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key})
	b.vals = append(b.vals, v)
}

func (b *block) str(key, v string) { b.add(key, strNode(v)) }

func (b *block) int(key string, v int) { b.add(key, plain(strconv.Itoa(v))) }

// float writes the shortest decimal that reads back as v exactly.
func (b *block) float(key string, v float64) {
	b.add(key, plain(strconv.FormatFloat(v, 'g', -1, 64)))
}

func (b *block) bool(key string, v bool) { b.add(key, plain(strconv.FormatBool(v))) }

func (b *block) duration(key string, d time.Duration) { b.add(key, strNode(d.String())) }

func (b *block) node() *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for i := range b.keys {
		n.Content = append(n.Content, b.keys[i], b.vals[i])
	}
	return n
}

func (b *block) flow() *yaml.Node {
	n := b.node()
	n.Style = yaml.FlowStyle
	return n
}

// strNode is a string, quoted by the encoder when it would read back as
// something else. Parse never returns invalid UTF-8, which YAML cannot
// hold; a scenario built in Go might, and gets U+FFFD in its place.
func strNode(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: strings.ToValidUTF8(s, "\uFFFD")}
}

// textNode is free text: left to the encoder when it is printable lines,
// double-quoted with escapes otherwise (the encoder's literal blocks do not
// read back every string: a line of a tab, for one).
func textNode(s string) *yaml.Node {
	n := strNode(s)
	odd := func(r rune) bool { return r != '\n' && r != ' ' && !unicode.IsPrint(r) }
	trailing := func(line string) bool { return strings.TrimRight(line, " ") != line }
	if strings.ContainsFunc(s, odd) || slices.ContainsFunc(strings.Split(s, "\n"), trailing) {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

// plain is a number or a boolean, written as it is.
func plain(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Value: s}
}

func seq(style yaml.Style) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: style}
}

func strSeq(ss []string) *yaml.Node {
	n := seq(yaml.FlowStyle)
	for _, s := range ss {
		n.Content = append(n.Content, strNode(s))
	}
	return n
}

func nodeSeq(ids []env.NodeID) *yaml.Node {
	n := seq(yaml.FlowStyle)
	for _, id := range ids {
		n.Content = append(n.Content, strNode(string(id)))
	}
	return n
}
