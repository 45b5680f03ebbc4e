package runner

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shoaldb/shoal/checker"
	"github.com/shoaldb/shoal/core/bugs"
	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/model"
	"github.com/shoaldb/shoal/core/node"
	"github.com/shoaldb/shoal/nemesis"
	"github.com/shoaldb/shoal/scenarios/scenario"
	"github.com/shoaldb/shoal/simnet"
	"github.com/shoaldb/shoal/simnet/client"
	"github.com/shoaldb/shoal/simnet/harness"
)

// Several clusters in one World (scenario.Clusters): one harness.Cluster
// each, named, its workloads, one nemesis over all of them, the final
// reads of each, and between the heal and the final reads a wait for
// replication to settle.

// ReplicationDrainLimit bounds how long after the workloads a run of
// several clusters waits for replication to settle: every cluster's
// outbound queues empty, and every receiving cluster's inbound queue.
const ReplicationDrainLimit = 2 * time.Minute

// View is the scenario as one of its clusters sees it: Cluster is that
// cluster, and Workloads are its own. For a scenario of one cluster it is
// the scenario.
func View(s *scenario.Scenario, name string) *scenario.Scenario {
	if len(s.Clusters) == 0 {
		return s
	}
	v := *s
	v.Clusters = nil
	v.Workloads = nil
	for _, c := range s.Clusters {
		if c.Name == name {
			v.Cluster = c
		}
	}
	for _, w := range s.Workloads {
		if w.Cluster == name {
			v.Workloads = append(v.Workloads, w)
		}
	}
	return &v
}

// qualify names instance nK of cluster name as the world does: NAME-nK;
// anything else (a target word, or any name in a world of one cluster)
// stays as it is.
func qualify(name, id string) string {
	if name == "" || len(id) < 2 || id[0] != 'n' || strings.Trim(id[1:], "0123456789") != "" {
		return id
	}
	return name + "-" + id
}

func qualifyAll(name string, ids []env.NodeID) []env.NodeID {
	if ids == nil {
		return nil
	}
	out := make([]env.NodeID, len(ids))
	for i, id := range ids {
		out[i] = env.NodeID(qualify(name, string(id)))
	}
	return out
}

// qualifyFault names the instances a fault of a scenario of several
// clusters names (n1, ...) as the world does.
func qualifyFault(f nemesis.Fault) nemesis.Fault {
	if f.Cluster == "" {
		return f
	}
	f.Target = qualify(f.Cluster, f.Target)
	f.From, f.To = qualifyAll(f.Cluster, f.From), qualifyAll(f.Cluster, f.To)
	if f.Components != nil {
		cs := make([][]env.NodeID, len(f.Components))
		for i, c := range f.Components {
			cs[i] = qualifyAll(f.Cluster, c)
		}
		f.Components = cs
	}
	return f
}

func qualifySteps(steps []nemesis.Step) []nemesis.Step {
	out := make([]nemesis.Step, len(steps))
	for i, st := range steps {
		if st.Fault != nil {
			f := qualifyFault(*st.Fault)
			st.Fault = &f
		}
		if st.Pick != nil {
			pick := make([]nemesis.Fault, len(st.Pick))
			for k, f := range st.Pick {
				pick[k] = qualifyFault(f)
			}
			st.Pick = pick
		}
		out[i] = st
	}
	return out
}

// dc is one cluster of a run of several, and what the run keeps of it.
type dc struct {
	name     string
	view     *scenario.Scenario
	c        *harness.Cluster
	m        *model.Model
	brokers  []string
	keys     int
	objKeys  int
	ingest   []*Ingest
	outbound bool // its pipeline declares destinations
}

// runClusters runs a scenario of several clusters in w, up to the
// moment every instance records its state digests.
func runClusters(w *simnet.World, s *scenario.Scenario, set bugs.Set, o Options) error {
	var dcs []*dc
	var ts []harness.Topology
	for _, cl := range s.Clusters {
		v := View(s, cl.Name)
		m, err := InitialModel(v)
		if err != nil {
			return err
		}
		d := &dc{name: cl.Name, view: v, m: m, brokers: Brokers(v), outbound: len(Endpoints(v)) > 0}
		t := harness.Topology{Name: cl.Name, Instances: cl.Instances, ReplicationFactor: cl.ReplicationFactor, Buckets: cl.Buckets,
			Pipeline: InitialPipeline(v), Settings: Settings(cl), Domains: Domains(cl), Endpoints: Endpoints(v), Brokers: d.brokers}
		if m != nil {
			t.Model = m.Source()
		}
		dcs, ts = append(dcs, d), append(ts, t)
	}
	cs, err := harness.StartAll(w, ts, node.Config{Bugs: set})
	if err != nil {
		return err
	}
	for k, d := range dcs {
		d.c = cs[k]
	}
	end := s.Duration + s.Final.Recover
	for i, wl := range s.Workloads {
		k := slices.IndexFunc(dcs, func(d *dc) bool { return d.name == wl.Cluster })
		if k < 0 {
			return fmt.Errorf("runner: workload %d runs on cluster %q, which the scenario lacks", i+1, wl.Cluster)
		}
		d := dcs[k]
		wl.Target = qualify(d.name, wl.Target)
		switch wl.Kind {
		case scenario.Ingest, scenario.Kafka:
			var gens []*Ingest
			if wl.Kind == scenario.Kafka {
				if !slices.Contains(d.brokers, wl.Connector) {
					return fmt.Errorf("runner: workload %d produces to %q, which is no kafka connector of cluster %s", i+1, wl.Connector, d.name)
				}
				gens, err = startKafka(w, d.c, d.m, i, wl, end)
			} else {
				gens, err = startIngest(d.c, d.m, i, wl, end)
			}
			if err != nil {
				return err
			}
			d.ingest = append(d.ingest, gens...)
			continue
		}
		if err := startWorkload(w, d.c, d.m, i, wl, end); err != nil {
			return err
		}
		switch wl.Kind {
		case scenario.KV:
			d.keys = max(d.keys, wl.Keys)
		case scenario.Objects:
			d.objKeys = max(d.objKeys, wl.Keys)
		}
	}
	cfg := nemesis.Config{Network: simnet.LinkConfig{Latency: s.Network.Latency, Loss: s.Network.Loss}, DiskDir: node.WALDir, End: s.Duration,
		DCLink: simnet.LinkConfig{Latency: s.DCLink}}
	for _, d := range dcs {
		cfg.DCs = append(cfg.DCs, nemesis.DC{Name: d.name, Cluster: d.c, Nodes: slices.Concat(d.c.Instances(), d.c.Gateways())})
	}
	nem, err := nemesis.Schedule(w, cs[0], qualifySteps(s.Nemesis), cfg)
	if err != nil {
		return err
	}
	if s.Final.Heal {
		w.At(s.Duration, nem.Heal)
	}
	const settle = Settle + 100*time.Millisecond
	stop := end + Drain(s)
	total := stop + settle
	progress := func() {
		if o.Progress != nil {
			o.Progress(w.Now(), max(total, w.Now()+settle))
		}
	}
	if err := runTo(w, stop, o, progress); err != nil {
		return err
	}
	for _, d := range dcs {
		if len(d.brokers) > 0 {
			if err := drainKafka(w, d.c, d.brokers, progress); err != nil {
				return err
			}
		}
	}
	if err := drainWhile(w, func() bool { return replicating(dcs) }, ReplicationDrainLimit, progress); err != nil {
		return err
	}
	if err := readAll(w, dcs, progress); err != nil {
		return err
	}
	for _, d := range dcs {
		if !d.outbound {
			continue
		}
		if err := drainOutbound(w, d.c, progress); err != nil {
			return err
		}
		if err := recordOutboundFinals(w, d.c); err != nil {
			return err
		}
	}
	for _, d := range dcs {
		d.c.RecordDigests()
	}
	return nil
}

// replicating reports whether replication has not settled: some
// cluster's outbound queue holds a message, or the inbound queue of a
// cluster another replicates to does (or cannot be read).
func replicating(dcs []*dc) bool {
	receivers := map[string]bool{}
	for _, d := range dcs {
		for _, g := range d.c.Gateways() {
			receivers[d.c.GatewayTo(g)] = true
		}
	}
	for _, d := range dcs {
		if d.outbound && outboundWaiting(d.c) {
			return true
		}
		if receivers[d.name] && inboundWaiting(d.c) {
			return true
		}
	}
	return false
}

// inboundWaiting reports whether some replicaset's inbound queue, as its
// most up-to-date replica applied it, holds a message (or cannot be
// read).
func inboundWaiting(c *harness.Cluster) bool {
	for _, rs := range c.Replicasets() {
		_, n := upToDate(c, rs)
		if n == nil {
			return true
		}
		st, err := n.Queue(rs, "")
		if err != nil || st.Depth > 0 {
			return true
		}
	}
	return false
}

// readAll runs every cluster's final reads as a run of one cluster
// does, each phase in every cluster at once.
func readAll(w *simnet.World, dcs []*dc, progress func()) error {
	err := readPhase(w, dcs, progress, func(d *dc) (bool, error) {
		if d.keys == 0 {
			return false, nil
		}
		return true, d.c.FinalRead(FinalKeys(d.keys))
	}, func(d *dc) bool { return d.c.FinalReadDone() })
	if err != nil {
		return err
	}
	if err := w.RunFor(Settle); err != nil {
		return err
	}
	err = readPhase(w, dcs, progress, func(d *dc) (bool, error) {
		if d.objKeys == 0 {
			return false, nil
		}
		return true, d.c.FinalObjectReads(FinalObjectReads(d.m, d.objKeys))
	}, func(d *dc) bool { return d.c.FinalObjectReadsDone() })
	if err != nil {
		return err
	}
	return readPhase(w, dcs, progress, func(d *dc) (bool, error) {
		if len(d.ingest) == 0 {
			return false, nil
		}
		var sent []client.Op
		for _, g := range d.ingest {
			sent = append(sent, g.Sent...)
		}
		return true, d.c.FinalIngestReads(FinalIngestReads(d.m, sent, d.c.Replicasets()))
	}, func(d *dc) bool { return d.c.FinalIngestReadsDone() })
}

// readPhase starts one phase of final reads in every cluster that has
// some to make (start says whether it started any, or why it could not),
// then runs the world until every one started is done.
func readPhase(w *simnet.World, dcs []*dc, progress func(), start func(*dc) (bool, error), done func(*dc) bool) error {
	var started []*dc
	for _, d := range dcs {
		ok, err := start(d)
		if err != nil {
			return err
		}
		if ok {
			started = append(started, d)
		}
	}
	_, err := runWhile(w, func() bool {
		return slices.ContainsFunc(started, func(d *dc) bool { return !done(d) })
	}, FinalReadLimit, progress)
	return err
}

// ClusterNodes lists, for a scenario of several clusters, each
// cluster's instances as the world names them (NAME-n1, ...).
func ClusterNodes(s *scenario.Scenario) map[string][]env.NodeID {
	out := map[string][]env.NodeID{}
	for _, c := range s.Clusters {
		for k := range c.Instances {
			out[c.Name] = append(out[c.Name], env.NodeID(fmt.Sprintf("%s-n%d", c.Name, k+1)))
		}
	}
	return out
}

// owner tells which cluster of a scenario of several a node belongs to:
// its instances, clients and final readers (NAME-...), and the
// endpoints, gateways and brokers of its pipeline (ext/...).
type owner struct {
	names []string
	ext   map[env.NodeID]string
}

func newOwner(s *scenario.Scenario) *owner {
	o := &owner{ext: map[env.NodeID]string{}}
	for _, c := range s.Clusters {
		o.names = append(o.names, c.Name)
		for _, d := range scenario.PipelineDestinations(c.Pipeline) {
			o.ext[connector.Endpoint(d)] = c.Name
		}
		for _, b := range scenario.PipelineBrokers(c.Pipeline) {
			o.ext[connector.InboundEndpoint(b)] = c.Name
		}
	}
	return o
}

// of is the cluster a node belongs to, "" for none.
func (o *owner) of(id string) string {
	if c, ok := o.ext[env.NodeID(id)]; ok {
		return c
	}
	for _, c := range o.names {
		if strings.HasPrefix(id, c+"-") {
			return c
		}
	}
	return ""
}

// Part is the part of a trace of several clusters that concerns cluster
// name, for the checkers that judge one cluster: the events of its
// nodes; the world's events about links of its nodes, or about none in
// particular; the nemesis's and the runner's events about it, or about
// no cluster in particular (a dclink fault concerns them all).
func Part(s *scenario.Scenario, trace []env.Record, name string) []env.Record {
	o := newOwner(s)
	var out []env.Record
	for _, r := range trace {
		switch r.Node {
		case env.WorldNode:
			from, hasFrom := r.Str("from")
			to, hasTo := r.Str("to")
			if (!hasFrom && !hasTo) || o.of(from) == name || o.of(to) == name {
				out = append(out, r)
			}
		case nemesis.Source, Source:
			if c, ok := r.Str("cluster"); !ok || c == name {
				out = append(out, r)
			}
		default:
			if o.of(string(r.Node)) == name {
				out = append(out, r)
			}
		}
	}
	return out
}

// checkClusters judges a trace of several clusters: every check the
// scenario names but replication on each cluster's part of the trace
// (Part; the results named CHECK[NAME]), then replication on the whole.
func checkClusters(s *scenario.Scenario, trace []env.Record) ([]checker.Result, *checker.Linearizability) {
	var rs []checker.Result
	var lin *checker.Linearizability
	parts := map[string][]env.Record{}
	for _, c := range s.Clusters {
		parts[c.Name] = Part(s, trace, c.Name)
	}
	for _, name := range scenario.Checks {
		if !slices.Contains(s.Checks, name) {
			continue
		}
		if name == scenario.CheckReplication {
			rs = append(rs, checker.Replication(trace, ClusterNodes(s)))
			continue
		}
		for _, c := range s.Clusters {
			v := View(s, c.Name)
			if name == scenario.CheckLinearizable && receives(s, c.Name) {
				// Changes from other clusters rewrite its objects under
				// its own clients: their reads are linearizable to no
				// one, so only its kv workloads are judged.
				v.Workloads = slices.DeleteFunc(slices.Clone(v.Workloads), func(w scenario.Workload) bool { return w.Kind == scenario.Objects })
			}
			if why := lacks(v, name); why != "" {
				rs = append(rs, checker.Result{Checker: fmt.Sprintf("%s[%s]", name, c.Name), Verdict: checker.NA,
					Explanation: fmt.Sprintf("cluster %s has %s", c.Name, why)})
				continue
			}
			res, l := checkOne(v, parts[c.Name], name)
			if l != nil && (lin == nil || l.Result.Verdict == checker.Invalid && lin.Result.Verdict != checker.Invalid) {
				lin = l
			}
			res.Checker = fmt.Sprintf("%s[%s]", res.Checker, c.Name)
			rs = append(rs, res)
		}
	}
	return rs, lin
}

// receives reports whether another cluster of s replicates to cluster
// name.
func receives(s *scenario.Scenario, name string) bool {
	for _, c := range s.Clusters {
		for _, r := range scenario.PipelineReplications(c.Pipeline) {
			if r.Cluster == name && c.Name != name {
				return true
			}
		}
	}
	return false
}

// lacks says why check name has nothing to judge in one cluster of
// several (v, its View), though the scenario names it for another, or
// "" when it has something.
func lacks(v *scenario.Scenario, name string) string {
	has := func(kinds ...string) bool {
		return slices.ContainsFunc(v.Workloads, func(w scenario.Workload) bool { return slices.Contains(kinds, w.Kind) })
	}
	switch {
	case name == scenario.CheckLinearizable && !has(scenario.KV, scenario.Objects):
		return "no kv or objects workload"
	case name == scenario.CheckDurability && !has(scenario.KV):
		return "no kv workload"
	case name == scenario.CheckModel && !has(scenario.Objects):
		return "no objects workload"
	case name == scenario.CheckDelivery && !has(scenario.Ingest, scenario.Kafka):
		return "no ingest or kafka workload"
	case name == scenario.CheckQuorum && !has(scenario.Config, scenario.Model):
		return "no config or model workload"
	case name == scenario.CheckOutbound && len(Endpoints(v)) == 0:
		return "a pipeline that declares no outbound destination"
	}
	return ""
}
