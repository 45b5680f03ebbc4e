// Package harness runs shoal's engine (core/node) in a simnet World: it
// starts the instances of a topology, remembers each one's current
// incarnation, and submits proposals, so that tests and scenarios can drive
// a cluster through simnet's own fault API and judge it from the trace.
package harness

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shoaldb/shoal/core/cluster"
	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/handler"
	"github.com/shoaldb/shoal/core/kv"
	"github.com/shoaldb/shoal/core/node"
	"github.com/shoaldb/shoal/simnet"
	"github.com/shoaldb/shoal/simnet/client"
	"github.com/shoaldb/shoal/simnet/endpoint"
)

// Cluster is a set of instances running in a World.
type Cluster struct {
	World *simnet.World
	// Name is the cluster's name (Topology.Name); "" for none.
	Name    string
	Names   []env.NodeID
	cfg     node.Config
	live    map[env.NodeID]*node.Node // the running incarnation, if any
	clients []env.NodeID
	final   *client.Stats // the final reader's outcomes
	keys    int           // the keys the final reader reads
	objects *client.Stats // the final object readers' outcomes
	objOps  int           // the reads they make, over all of them
	ingest  *client.Stats // the final ingest reader's outcomes
	ingOps  int
	// The simulated endpoints, and the mode last set for each: an
	// endpoint restarts in it.
	endpoints []env.NodeID
	modes     map[env.NodeID]endpoint.SetMode
	eps       map[env.NodeID]*endpoint.Endpoint // their running incarnations
	// The simulated Kafka brokers of inbound connectors, and their running
	// incarnations.
	brokers []env.NodeID
	kafkas  map[env.NodeID]*endpoint.Kafka
	// The gateways among the endpoints: those of destinations of type
	// shoal, each the link to another cluster of the World.
	gateways []env.NodeID
	gwCfg    map[env.NodeID]endpoint.GatewayConfig
	gws      map[env.NodeID]*endpoint.Gateway
	// joins holds the instances that joined the formed cluster (Join),
	// and what each learnt once admitted.
	joins map[env.NodeID]*joining
}

// Topology describes a cluster to start: instances n1..nN with optional
// failure domains (Domains[i] for n(i+1)), the replication factor and the
// bucket count.
type Topology struct {
	// Name, if set, names the cluster (cluster.Spec.Name, checked by
	// kv.CheckClusterName): its instances are then NAME-n1..NAME-nN and
	// its clients NAME-c1, ..., so that several clusters share a World
	// (StartAll). Without one, instances are n1..nN and clients c1, ...
	Name              string
	Instances         int
	ReplicationFactor int
	Buckets           int
	Domains           []cluster.Domain
	// Model, if set, is the data model (YAML) the cluster bootstraps with.
	Model []byte
	// Pipeline, if set, is the inbound pipeline (YAML) it bootstraps with,
	// and Settings its operator settings (the queue's limits, say).
	Pipeline []byte
	Settings map[string]string
	// Endpoints names the outbound destinations to simulate: each gets an
	// endpoint (simnet/endpoint) at connector.Endpoint(name), up at start;
	// a destination Pipeline declares of type shoal gets a gateway
	// (endpoint.Gateway) to the cluster it names instead, which must be
	// one of those StartAll starts. Endpoints are not instances:
	// Instances, Members and the cluster's spec leave them out.
	Endpoints []string
	// Brokers names the kafka inbound connectors to simulate: each gets a
	// broker (endpoint.Kafka) at connector.InboundEndpoint(name), with the
	// topic the pipeline declares for the connector (its name if it
	// declares none) and endpoint.DefaultPartitions partitions, up at
	// start. Brokers are not instances either.
	Brokers []string
}

// Start adds the instances to w and starts them. cfg.Spec is filled in
// from t.
func Start(w *simnet.World, t Topology, cfg node.Config) (*Cluster, error) {
	cs, err := StartAll(w, []Topology{t}, cfg)
	if err != nil {
		return nil, err
	}
	return cs[0], nil
}

// StartAll starts several clusters in one World, in order, each as Start
// would: every topology but a lone one needs a Name, names unique, and
// the endpoints and brokers of all of them distinct nodes. A destination
// of type shoal in a cluster's pipeline gets a gateway to the cluster it
// names, which must be one of ts.
func StartAll(w *simnet.World, ts []Topology, cfg node.Config) ([]*Cluster, error) {
	if err := checkTopologies(ts); err != nil {
		return nil, err
	}
	var cs []*Cluster
	for i := range ts {
		c, err := startOne(w, ts, i, cfg)
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, nil
}

// checkTopologies checks what several clusters in one World must not
// share: their names, and the nodes of their endpoints and brokers (the
// instances send a destination's pushes to ext/NAME whatever the cluster,
// so two clusters with a destination of one name would share it).
func checkTopologies(ts []Topology) error {
	if len(ts) == 0 {
		return fmt.Errorf("harness: no cluster to start")
	}
	names := map[string]int{}
	nodes := map[env.NodeID]int{}
	for i, t := range ts {
		if t.Name != "" {
			if err := kv.CheckClusterName(t.Name); err != nil {
				return fmt.Errorf("harness: cluster %d: %w", i+1, err)
			}
		} else if len(ts) > 1 {
			return fmt.Errorf("harness: cluster %d has no name: each of several clusters in one world needs one", i+1)
		}
		if j, dup := names[t.Name]; dup {
			return fmt.Errorf("harness: clusters %d and %d are both named %q", j+1, i+1, t.Name)
		}
		names[t.Name] = i
		var ids []env.NodeID
		for _, d := range t.Endpoints {
			ids = append(ids, connector.Endpoint(d))
		}
		for _, b := range t.Brokers {
			ids = append(ids, connector.InboundEndpoint(b))
		}
		for _, id := range ids {
			if j, dup := nodes[id]; dup && j != i {
				return fmt.Errorf("harness: clusters %q and %q both simulate %s: destination and kafka connector names must be unique across the clusters of a world", ts[j].Name, t.Name, id)
			}
			nodes[id] = i
		}
	}
	return nil
}

// prefix is what a cluster's node names start with: "NAME-", or nothing.
func prefix(name string) string {
	if name == "" {
		return ""
	}
	return name + "-"
}

// startOne starts cluster ts[i]; the others are the gateways' receivers.
func startOne(w *simnet.World, ts []Topology, i int, cfg node.Config) (*Cluster, error) {
	t := ts[i]
	if t.Buckets == 0 {
		t.Buckets = 256
	}
	if t.ReplicationFactor == 0 {
		t.ReplicationFactor = t.Instances
	}
	if err := checkEndpoints(t.Endpoints); err != nil {
		return nil, err
	}
	if err := checkBrokers(t.Brokers); err != nil {
		return nil, err
	}
	gateways, err := gatewayConfigs(ts, i)
	if err != nil {
		return nil, err
	}
	cfg.Spec = cluster.Spec{Name: t.Name, ReplicationFactor: t.ReplicationFactor, Buckets: t.Buckets, Model: t.Model, Pipeline: t.Pipeline, Settings: t.Settings}
	c := &Cluster{World: w, Name: t.Name, cfg: cfg, live: map[env.NodeID]*node.Node{}}
	for k := range t.Instances {
		name := env.NodeID(fmt.Sprintf("%sn%d", prefix(t.Name), k+1))
		var d cluster.Domain
		if k < len(t.Domains) {
			d = t.Domains[k]
		}
		c.cfg.Spec.Instances = append(c.cfg.Spec.Instances, cluster.InstanceSpec{Name: name, Domain: d})
		c.Names = append(c.Names, name)
	}
	if _, err := cluster.Bootstrap(c.cfg.Spec); err != nil {
		return nil, err
	}
	for _, name := range c.Names {
		if err := c.add(name, c.cfg); err != nil {
			return nil, err
		}
	}
	for _, dest := range t.Endpoints {
		id := connector.Endpoint(dest)
		if g, ok := gateways[dest]; ok {
			err = c.addGateway(id, g)
		} else {
			err = c.addEndpoint(id)
		}
		if err != nil {
			return nil, err
		}
	}
	for _, name := range t.Brokers {
		if err := c.addBroker(name, t.Pipeline); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// gatewayConfigs reads the destinations of type shoal that ts[i]'s
// pipeline declares among its Endpoints, and configures a gateway to the
// cluster each names, which must be another of ts.
func gatewayConfigs(ts []Topology, i int) (map[string]endpoint.GatewayConfig, error) {
	t := ts[i]
	if len(t.Pipeline) == 0 || len(t.Endpoints) == 0 {
		return nil, nil
	}
	p, err := handler.ParseWith("pipeline.yaml", t.Pipeline, handler.Options{AllowUnknown: true})
	if err != nil || p.Connectors == nil {
		return nil, nil // the cluster itself refuses a pipeline it cannot read
	}
	out := map[string]endpoint.GatewayConfig{}
	for _, o := range p.Connectors.Outbound {
		r, ok := o.Spec.(*connector.Replication)
		if !ok || !slices.Contains(t.Endpoints, o.Name) {
			continue
		}
		to := slices.IndexFunc(ts, func(u Topology) bool { return u.Name == r.Cluster })
		switch {
		case to < 0:
			var names []string
			for _, u := range ts {
				names = append(names, fmt.Sprintf("%q", u.Name))
			}
			return nil, fmt.Errorf("harness: cluster %q: destination %s replicates to cluster %q, which is not in the world (it has %s)", t.Name, o.Name, r.Cluster, strings.Join(names, ", "))
		case to == i:
			return nil, fmt.Errorf("harness: cluster %q: destination %s replicates to the cluster itself", t.Name, o.Name)
		}
		recv := ts[to]
		g := endpoint.GatewayConfig{Cluster: recv.Name, Connector: r.Connector, Buckets: cmp.Or(recv.Buckets, 256)}
		for k := range recv.Instances {
			g.Servers = append(g.Servers, env.NodeID(fmt.Sprintf("%sn%d", prefix(recv.Name), k+1)))
		}
		out[o.Name] = g
	}
	return out, nil
}

// addGateway adds a gateway to another cluster at id. Every incarnation
// starts in the mode last set for it, as an endpoint's.
func (c *Cluster) addGateway(id env.NodeID, g endpoint.GatewayConfig) error {
	if c.modes == nil {
		c.modes = map[env.NodeID]endpoint.SetMode{}
	}
	if c.gws == nil {
		c.gws, c.gwCfg = map[env.NodeID]*endpoint.Gateway{}, map[env.NodeID]endpoint.GatewayConfig{}
	}
	c.gwCfg[id] = g
	if err := c.World.AddNode(id, func(e env.Env) (env.Node, error) {
		cfg := c.gwCfg[id]
		cfg.Initial = c.modes[id]
		n, err := endpoint.StartGateway(cfg)(e)
		if err != nil {
			return nil, err
		}
		c.gws[id] = n.(*endpoint.Gateway)
		return n, nil
	}); err != nil {
		return err
	}
	c.endpoints = append(c.endpoints, id)
	c.gateways = append(c.gateways, id)
	return nil
}

// Gateways lists the endpoints that are gateways to other clusters, in
// the order of Topology.Endpoints.
func (c *Cluster) Gateways() []env.NodeID { return c.gateways }

// Gateway returns the running gateway at id, or nil.
func (c *Cluster) Gateway(id env.NodeID) *endpoint.Gateway {
	if !slices.Contains(c.gateways, id) || !c.World.Up(id) {
		return nil
	}
	return c.gws[id]
}

// GatewayTo is the cluster a gateway forwards to.
func (c *Cluster) GatewayTo(id env.NodeID) string { return c.gwCfg[id].Cluster }

// checkBrokers checks Topology.Brokers: valid connector names, each once,
// at most connector.MaxConnectors.
func checkBrokers(names []string) error {
	if len(names) > connector.MaxConnectors {
		return fmt.Errorf("harness: %d brokers, more than the %d inbound connectors a pipeline may have", len(names), connector.MaxConnectors)
	}
	for i, name := range names {
		if !connector.ValidName(name) {
			return fmt.Errorf("harness: broker %q is not a valid connector name", name)
		}
		if slices.Contains(names[:i], name) {
			return fmt.Errorf("harness: broker %q is listed twice", name)
		}
	}
	return nil
}

// addBroker adds the simulated Kafka broker of inbound connector name,
// with the topic pipeline declares for it. A killed broker loses its
// records (endpoint.Kafka): restarting one is not a scenario we run.
func (c *Cluster) addBroker(name string, pipeline []byte) error {
	cfg := endpoint.KafkaConfig{}
	if len(pipeline) > 0 {
		if p, err := handler.ParseWith("pipeline.yaml", pipeline, handler.Options{AllowUnknown: true}); err == nil {
			if in := p.Connectors.Connector(name); in != nil {
				if k, ok := in.Spec.(*connector.KafkaInbound); ok {
					cfg.Topic = k.Topic
				}
			}
		}
	}
	if c.kafkas == nil {
		c.kafkas = map[env.NodeID]*endpoint.Kafka{}
	}
	id := connector.InboundEndpoint(name)
	start := endpoint.StartKafka(cfg)
	if err := c.World.AddNode(id, func(e env.Env) (env.Node, error) {
		n, err := start(e)
		if err != nil {
			return nil, err
		}
		c.kafkas[id] = n.(*endpoint.Kafka)
		return n, nil
	}); err != nil {
		return err
	}
	c.brokers = append(c.brokers, id)
	return nil
}

// Brokers lists the simulated brokers' node names, in the order of
// Topology.Brokers.
func (c *Cluster) Brokers() []env.NodeID { return c.brokers }

// Broker returns the running broker of inbound connector name, or nil.
func (c *Cluster) Broker(name string) *endpoint.Kafka {
	id := connector.InboundEndpoint(name)
	if !slices.Contains(c.brokers, id) || !c.World.Up(id) {
		return nil
	}
	return c.kafkas[id]
}

// broker is the node of connector name's broker, or an error.
func (c *Cluster) broker(name string) (env.NodeID, error) {
	id := connector.InboundEndpoint(name)
	if !slices.Contains(c.brokers, id) {
		return "", fmt.Errorf("harness: %q is not a broker of this cluster", name)
	}
	return id, nil
}

// Produce appends records to the topic of connector name's broker now
// (traced there as kafka.produce).
func (c *Cluster) Produce(name string, records ...endpoint.KafkaRecord) error {
	id, err := c.broker(name)
	if err != nil {
		return err
	}
	c.World.Post(id, endpoint.Produce{Records: records})
	return nil
}

// Rebalance makes connector name's broker start a new generation of its
// consumer group now (kafka.rebalance, why forced).
func (c *Cluster) Rebalance(name string) error {
	id, err := c.broker(name)
	if err != nil {
		return err
	}
	c.World.Post(id, endpoint.Rebalance{})
	return nil
}

// SetBrokerMode changes connector name's broker's mode now (up, down,
// slow; traced as kafka.mode).
func (c *Cluster) SetBrokerMode(name string, m endpoint.KafkaMode) error {
	id, err := c.broker(name)
	if err != nil {
		return err
	}
	if err := m.Validate(); err != nil {
		return err
	}
	c.World.Post(id, m)
	return nil
}

// checkEndpoints checks Topology.Endpoints: valid destination names, each
// once, at most connector.MaxConnectors.
func checkEndpoints(dests []string) error {
	if len(dests) > connector.MaxConnectors {
		return fmt.Errorf("harness: %d endpoints, more than the %d destinations a pipeline may have", len(dests), connector.MaxConnectors)
	}
	seen := map[string]bool{}
	for _, d := range dests {
		if !connector.ValidName(d) {
			return fmt.Errorf("harness: endpoint %q is not a valid destination name", d)
		}
		if seen[d] {
			return fmt.Errorf("harness: endpoint %q is listed twice", d)
		}
		seen[d] = true
	}
	return nil
}

// addEndpoint adds a simulated endpoint to the world. Every incarnation
// starts in the mode last set for it.
func (c *Cluster) addEndpoint(id env.NodeID) error {
	if c.modes == nil {
		c.modes = map[env.NodeID]endpoint.SetMode{}
	}
	if c.eps == nil {
		c.eps = map[env.NodeID]*endpoint.Endpoint{}
	}
	if err := c.World.AddNode(id, func(e env.Env) (env.Node, error) {
		n, err := endpoint.Start(endpoint.Config{Initial: c.modes[id]})(e)
		if err != nil {
			return nil, err
		}
		c.eps[id] = n.(*endpoint.Endpoint)
		return n, nil
	}); err != nil {
		return err
	}
	c.endpoints = append(c.endpoints, id)
	return nil
}

// Endpoints lists the simulated endpoints' node names, gateways
// included, in the order of Topology.Endpoints.
func (c *Cluster) Endpoints() []env.NodeID { return c.endpoints }

// Endpoint returns the running endpoint at id, or nil (a gateway is
// not one: see Gateway).
func (c *Cluster) Endpoint(id env.NodeID) *endpoint.Endpoint {
	if c.eps[id] == nil || !c.World.Up(id) {
		return nil
	}
	return c.eps[id]
}

// SetEndpointMode changes an endpoint's mode now (endpoint.SetMode,
// traced as endpoint.mode). The mode lasts until the next change,
// through crashes: an endpoint that is down when it is set, or is
// restarted later, starts in it.
func (c *Cluster) SetEndpointMode(id env.NodeID, m endpoint.SetMode) error {
	if !slices.Contains(c.endpoints, id) {
		return fmt.Errorf("harness: %q is not an endpoint of this cluster", id)
	}
	if err := m.Validate(); err != nil {
		return err
	}
	c.modes[id] = m
	c.World.Post(id, m)
	return nil
}

// add adds an instance to the world and starts it with cfg.
func (c *Cluster) add(name env.NodeID, cfg node.Config) error {
	start := node.Start(cfg)
	return c.World.AddNode(name, func(e env.Env) (env.Node, error) {
		n, err := start(e)
		if err != nil {
			delete(c.live, e.ID())
			return nil, err
		}
		c.live[e.ID()] = n.(*node.Node)
		return n, nil
	})
}

// Bootstrap is the cluster's initial configuration: its replicasets,
// voters and buckets.
func (c *Cluster) Bootstrap() *cluster.Config {
	conf, err := cluster.Bootstrap(c.cfg.Spec)
	if err != nil {
		panic(err) // Start checked the spec
	}
	return conf
}

// Config is the configuration every instance runs with.
func (c *Cluster) Config() node.Config { return c.cfg }

// Node returns the running incarnation of an instance, or nil if it is
// down.
func (c *Cluster) Node(name env.NodeID) *node.Node {
	if !c.World.Up(name) {
		return nil
	}
	return c.live[name]
}

// Status returns the named group's state on an instance, and whether the
// instance is up and in the group.
func (c *Cluster) Status(name env.NodeID, group string) (node.Status, bool) {
	n := c.Node(name)
	if n == nil {
		return node.Status{}, false
	}
	for _, st := range n.Status() {
		if st.Group == group {
			return st, true
		}
	}
	return node.Status{}, false
}

// Leader returns the instance that leads the group in the highest term any
// running member knows of, as that instance sees it.
func (c *Cluster) Leader(group string) (env.NodeID, bool) {
	var best env.NodeID
	var term uint64
	for _, name := range c.Names {
		st, ok := c.Status(name, group)
		if ok && st.Role == "leader" && st.Term >= term {
			best, term = name, st.Term
		}
	}
	return best, best != ""
}

// Propose posts a proposal to an instance now; its outcome appears in the
// trace as prop.result with the given id.
func (c *Cluster) Propose(at env.NodeID, group, id string, data []byte, timeout time.Duration) {
	c.World.Post(at, &node.Propose{ID: id, Group: group, Data: data, Timeout: timeout})
}

// MaxClients bounds the clients of one cluster, over every AddClients.
const MaxClients = 1024

// AddClients starts n more clients, named c(k+1)..c(k+n) after the k
// started before, that talk to every instance and run the workloads
// work(0)..work(n-1), beginning cfg.Delay from now. The client named c(j+1)
// records its history as process j, then j+MaxClients, j+2*MaxClients, ...
// after each unknown outcome.
func (c *Cluster) AddClients(n int, cfg client.Config, work func(i int) client.Workload) ([]env.NodeID, error) {
	if len(c.clients)+n > MaxClients {
		return nil, fmt.Errorf("harness: %d clients would pass the limit of %d", len(c.clients)+n, MaxClients)
	}
	var names []env.NodeID
	for i := range n {
		name := env.NodeID(fmt.Sprintf("%sc%d", prefix(c.Name), len(c.clients)+1))
		cc := cfg
		cc.Servers = c.Names
		cc.Process, cc.ProcessStride = len(c.clients), MaxClients
		if cc.Buckets == 0 {
			cc.Buckets = c.cfg.Spec.Buckets
		}
		if err := c.World.AddNode(name, client.Start(cc, work(i))); err != nil {
			return nil, err
		}
		c.clients = append(c.clients, name)
		names = append(names, name)
	}
	return names, nil
}

// FinalReadProcess is the process number of the final reader: beyond any
// client's, which would need a million unknown outcomes to reach it.
const FinalReadProcess = 1 << 30

// FinalRead starts the final-read phase now: one client reads every key
// in turn, retrying each for up to ten seconds, from the instances that
// serve (Serving: a joined one too, an expelled one not).
func (c *Cluster) FinalRead(keys []string) error {
	c.final, c.keys = &client.Stats{}, len(keys)
	cfg := client.Config{Servers: c.Serving(), Target: "leader", Timeout: 10 * time.Second, Retries: 40,
		Interval: time.Millisecond, Process: FinalReadProcess, Buckets: c.cfg.Spec.Buckets, Stats: c.final}
	return c.World.AddNode(env.NodeID(prefix(c.Name)+"final"), client.Start(cfg, &client.Reads{Keys: keys}))
}

// FinalObjectReads starts the final object reads now: for every
// instance that serves (Serving), a client that asks it for each of ops (get-object, stale: the
// instance answers from its own state if it holds the object's
// replicaset, else redirects to a member), retrying each for up to ten
// seconds. The readers record processes after the final reader's.
func (c *Cluster) FinalObjectReads(ops []client.Op) error {
	serving := c.Serving()
	c.objects, c.objOps = &client.Stats{}, len(ops)*len(serving)
	for i, name := range serving {
		cfg := client.Config{Servers: serving, Target: string(name), Timeout: 10 * time.Second, Retries: 40,
			Interval: time.Millisecond, Process: FinalReadProcess + 1 + i, Buckets: c.cfg.Spec.Buckets, Stats: c.objects}
		if err := c.World.AddNode(env.NodeID(prefix(c.Name)+"final-"+strings.TrimPrefix(string(name), prefix(c.Name))), client.Start(cfg, &client.List{Ops: ops})); err != nil {
			return err
		}
	}
	return nil
}

// FinalIngestProcess is the process number of the final ingest reader:
// beyond the final object readers'.
const FinalIngestProcess = FinalReadProcess + 1<<20

// FinalIngestReaders is how many clients share the final ingest reads.
const FinalIngestReaders = 16

// FinalIngestReads starts the final reads of an ingest run now:
// FinalIngestReaders clients, all recording as process FinalIngestProcess
// (each read is judged alone), share ops (the objects messages became,
// and the replicasets' queues) and send each to the leader of its
// replicaset, linearizably, retrying it for up to ten seconds.
func (c *Cluster) FinalIngestReads(ops []client.Op) error {
	c.ingest, c.ingOps = &client.Stats{}, len(ops)
	serving := c.Serving()
	for i := range FinalIngestReaders {
		var mine []client.Op
		for k := i; k < len(ops); k += FinalIngestReaders {
			mine = append(mine, ops[k])
		}
		cfg := client.Config{Servers: serving, Target: "leader", Timeout: 10 * time.Second, Retries: 40,
			Interval: time.Millisecond, Process: FinalIngestProcess, Buckets: c.cfg.Spec.Buckets, Stats: c.ingest}
		if err := c.World.AddNode(env.NodeID(fmt.Sprintf("%sfinal-ingest%d", prefix(c.Name), i+1)), client.Start(cfg, &client.List{Ops: mine})); err != nil {
			return err
		}
	}
	return nil
}

// FinalIngestReadsDone reports whether the final ingest reader has an
// outcome for every read.
func (c *Cluster) FinalIngestReadsDone() bool {
	return c.ingest != nil && c.ingest.OK+c.ingest.Fail+c.ingest.Info >= c.ingOps
}

// FinalObjectReadsDone reports whether the final object readers have an
// outcome for every read.
func (c *Cluster) FinalObjectReadsDone() bool {
	return c.objects != nil && c.objects.OK+c.objects.Fail+c.objects.Info >= c.objOps
}

// FinalReadDone reports whether the final reader has an outcome for every
// key.
func (c *Cluster) FinalReadDone() bool {
	return c.final != nil && c.final.OK+c.final.Fail+c.final.Info >= c.keys
}

// RecordDigests asks every running instance to record its groups' applied
// indexes and state digests in the trace now (sm.digest), for the
// convergence checker.
func (c *Cluster) RecordDigests() {
	for _, name := range c.Names {
		if c.World.Up(name) {
			c.World.Post(name, &node.Digest{})
		}
	}
}

// Put encodes a key-value write for Propose to a replicaset. A client's
// sequence numbers must increase: a write whose (client, seq) was applied
// already is not applied again.
func Put(client string, seq uint64, key, value string) []byte {
	cmd := kv.Command{Client: client, Seq: seq, Op: kv.OpPut, Key: key, Value: value}
	return cmd.Encode()
}

// ElectionTimeout is the configured election timeout in virtual time.
func (c *Cluster) ElectionTimeout() time.Duration {
	cfg := c.cfg
	tick, ticks := cfg.TickInterval, cfg.ElectionTicks
	if tick == 0 {
		tick = node.DefaultTickInterval
	}
	if ticks == 0 {
		ticks = node.DefaultElectionTicks
	}
	return tick * time.Duration(ticks)
}

// Instances lists the instances, n1..nN (NAME-n1..NAME-nN for a named
// cluster).
func (c *Cluster) Instances() []env.NodeID { return c.Names }

// Replicasets lists the replicasets' names, rs1..rsK.
func (c *Cluster) Replicasets() []string {
	var out []string
	for _, rs := range c.Bootstrap().Replicasets {
		out = append(out, rs.Name)
	}
	return out
}

// Members lists a group's instances: every instance for "config" (those
// that joined, and those expelled, included), a replicaset's members for
// its name, as group 0's leader knows them (Current).
func (c *Cluster) Members(group string) []env.NodeID {
	if group == "config" {
		return c.Names
	}
	rs, _ := c.Current().Replicaset(group)
	return rs.Members
}

// Voters lists group 0's voters, as its leader knows them (Current).
func (c *Cluster) Voters() []env.NodeID { return c.Current().Voters }
