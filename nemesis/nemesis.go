package nemesis

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/simnet"
	"github.com/shoaldb/shoal/simnet/endpoint"
)

// Source is the node field of the nemesis's trace events.
const Source env.NodeID = "nemesis"

// World is what a schedule acts on: the simulator's *simnet.World, or a
// real cluster's processes and proxies (scenarios/liverun). Every callback
// given to At and After runs on one goroutine at a time, so the Nemesis
// needs no locks.
type World interface {
	Now() time.Duration
	At(t time.Duration, fn func())
	After(d time.Duration, fn func())
	// Note records a trace event.
	Note(source env.NodeID, kind string, fields ...env.Field)
	Rand() *rand.Rand

	Up(id env.NodeID) bool
	Paused(id env.NodeID) bool
	Kill(id env.NodeID) bool
	Restart(id env.NodeID) bool
	Pause(id env.NodeID) bool
	Resume(id env.NodeID) bool

	Cut(from, to env.NodeID)
	Uncut(from, to env.NodeID)
	Heal()
	SetLink(from, to env.NodeID, c simnet.LinkConfig) error
	Links() []simnet.LinkStats

	SetClockOffset(id env.NodeID, offset time.Duration)
	SetClockDrift(id env.NodeID, drift float64) error
	SetClockStrobe(id env.NodeID, amp, period time.Duration) error
	DiskErrors(id env.NodeID) int64
	SetDiskFaults(id env.NodeID, f simnet.DiskFaults) error
}

// Limited is a World that cannot apply every fault: real processes have
// no simulated clock or disk. Unsupported says why it cannot apply f, or
// "" when it can. A fault it cannot apply is traced as an occurrence that
// took no effect, with the reason, so the report lists it and the faults
// check counts it; it is never skipped in silence.
type Limited interface {
	Unsupported(f *Fault) string
}

// Cluster is what the nemesis needs to know of the system under test, asked
// at the moment a step fires.
type Cluster interface {
	// Instances lists the instances, n1..nN.
	Instances() []env.NodeID
	// Replicasets lists the data groups, rs1..rsK.
	Replicasets() []string
	// Members lists a group's instances ("config" has them all).
	Members(group string) []env.NodeID
	// Voters lists group 0's voters.
	Voters() []env.NodeID
	// Leader is the group's current leader, if any instance leads it.
	Leader(group string) (env.NodeID, bool)
}

// EndpointCluster is a Cluster whose world simulates the endpoints its
// outbound destinations deliver to (simnet/harness's Cluster does): what
// an endpoint fault needs. A Cluster without it, such as a real
// cluster's, whose destinations are real systems, takes no endpoint
// fault: each occurrence is traced as taking no effect, with the reason,
// as a Limited world's unsupported faults are.
type EndpointCluster interface {
	Cluster
	// Endpoints lists the simulated endpoints' node names,
	// connector.Endpoint(destination).
	Endpoints() []env.NodeID
	// SetEndpointMode sets an endpoint's mode now; it lasts until the
	// next, across the endpoint's restarts.
	SetEndpointMode(id env.NodeID, m endpoint.SetMode) error
}

// BrokerCluster is a Cluster whose world simulates the Kafka brokers its
// kafka inbound connectors read (simnet/harness's Cluster does): what a
// broker fault needs. A Cluster without it, such as a real cluster's,
// whose connectors read real brokers, takes no broker fault: each
// occurrence is traced as taking no effect, with the reason, as for an
// endpoint fault.
type BrokerCluster interface {
	Cluster
	// Brokers lists the simulated brokers' node names,
	// connector.InboundEndpoint(connector).
	Brokers() []env.NodeID
	// SetBrokerMode sets the mode of connector name's broker now.
	SetBrokerMode(name string, m endpoint.KafkaMode) error
	// Rebalance makes connector name's broker start a new generation of
	// its consumer group now.
	Rebalance(name string) error
}

// Config shapes a schedule.
type Config struct {
	// Network is how every link behaves outside link faults; a link fault
	// that ends restores it.
	Network simnet.LinkConfig
	// DiskDir is the directory of the files disk faults hit: files the
	// node touches only from its event loop (the Raft WAL), so that a
	// fault falls on the same operation in every run.
	DiskDir string
	// End is when the schedule ends: no occurrence starts at or after it.
	End time.Duration
	// DCs are the clusters of a world that holds several (none for one):
	// the first is the Cluster given to Schedule. Every link between the
	// Nodes of two of them is a dc link: it has DCLink's behaviour
	// outside dclink faults, which Schedule sets, and a dclink fault that
	// ends restores.
	DCs    []DC
	DCLink simnet.LinkConfig
}

// DC is one cluster of a world of several.
type DC struct {
	Name    string
	Cluster Cluster
	// Nodes are the nodes whose links with another cluster's are dc
	// links: its instances, and its gateways to other clusters (a
	// gateway stands for the sending cluster's side of the link).
	Nodes []env.NodeID
}

// Nemesis runs a schedule of faults in a World.
type Nemesis struct {
	w     World
	c     Cluster
	cfg   Config
	steps []Step
	// active holds the occurrences that have started and not stopped, in
	// the order they started.
	active []*occurrence
	// cuts counts, per directed link, the active occurrences that cut it.
	cuts map[link]int
	// owner is the occurrence that killed or paused an instance, so that
	// only it brings the instance back.
	owner map[env.NodeID]*occurrence
	// skewed and faulty are the instances a clock or disk fault has
	// touched since the last heal.
	skewed, faulty map[env.NodeID]bool
	// modes holds, per endpoint, the occurrence whose fail or slow mode
	// is in force, and per broker the one whose down or slow mode is: the
	// latest to start of those still active.
	modes map[env.NodeID]*occurrence
	// dc is the cluster each node of a DC belongs to, to tell dc links
	// from the others.
	dc map[env.NodeID]int
}

// occurrence is one firing of a step.
type occurrence struct {
	step, n int // 1-based
	f       Fault
	c       Cluster // the cluster the fault hits
	flapCut bool    // a flapping dclink fault's links are cut now
	group   string
	targets []env.NodeID // the instances a process, clock or disk fault hit, or the endpoint or broker an endpoint or broker fault did
	links   []link       // the links a partition cut or a link fault changed; an endpoint or broker fault's links
	before  map[link]simnet.KindStats
	errors  map[env.NodeID]int64 // disk errors before the fault
	stopped bool
	// unsupported: the World could not apply the fault, so there is
	// nothing to undo.
	unsupported bool
}

// Schedule validates steps against the cluster and schedules every
// occurrence that starts before cfg.End. Faults with a duration are undone
// when it runs out; the others last until Heal.
func Schedule(w World, c Cluster, steps []Step, cfg Config) (*Nemesis, error) {
	if err := Check(c, steps, cfg); err != nil {
		return nil, err
	}
	n := &Nemesis{w: w, c: c, cfg: cfg, steps: steps, cuts: map[link]int{}, owner: map[env.NodeID]*occurrence{},
		skewed: map[env.NodeID]bool{}, faulty: map[env.NodeID]bool{}, modes: map[env.NodeID]*occurrence{}, dc: dcIndex(cfg.DCs)}
	for _, l := range n.dcLinks(nil) {
		must(w.SetLink(l.from, l.to, cfg.DCLink))
	}
	for i, s := range steps {
		for k, t := range s.Occurrences(cfg.End) {
			step, occ := i+1, k+1
			w.At(t, func() { n.fire(step, occ) })
		}
	}
	return n, nil
}

// Check validates steps against the cluster as Schedule does, without
// scheduling anything: a harness that must start real processes first
// checks the schedule before it does.
func Check(c Cluster, steps []Step, cfg Config) error {
	n := &Nemesis{c: c, cfg: cfg}
	if len(cfg.DCs) > 0 && cfg.DCs[0].Cluster != c {
		return fmt.Errorf("nemesis: the first of Config.DCs, %q, is not the cluster scheduled", cfg.DCs[0].Name)
	}
	for i, dc := range cfg.DCs {
		if slices.ContainsFunc(cfg.DCs[:i], func(d DC) bool { return d.Name == dc.Name }) {
			return fmt.Errorf("nemesis: cluster %q is among Config.DCs twice", dc.Name)
		}
	}
	if len(cfg.DCs) > 0 {
		if err := cfg.DCLink.Validate(); err != nil {
			return fmt.Errorf("nemesis: Config.DCLink: %w", err)
		}
	}
	for i, s := range steps {
		if (s.Fault == nil) == (len(s.Pick) == 0) {
			return fmt.Errorf("nemesis: step %d: want a fault or a pick, not both or neither", i+1)
		}
		alts := s.Pick
		if s.Fault != nil {
			alts = []Fault{*s.Fault}
		}
		for _, f := range alts {
			if err := n.validate(&f); err != nil {
				return fmt.Errorf("nemesis: step %d: %w", i+1, err)
			}
		}
		if s.Fault != nil && s.Fault.Kind == Broker && s.Fault.Mode == BrokerRebalance && s.For != 0 {
			return fmt.Errorf("nemesis: step %d: a broker rebalance has no duration, but For is %s", i+1, s.For)
		}
	}
	return nil
}

// validate checks the names a fault uses against the cluster; the
// scenario loader reports the same mistakes with their lines.
func (n *Nemesis) validate(f *Fault) error {
	c, err := n.clusterOf(f)
	if err != nil {
		return err
	}
	nodes := c.Instances()
	node := func(id env.NodeID) error {
		if !slices.Contains(nodes, id) {
			return fmt.Errorf("no instance %q", id)
		}
		return nil
	}
	group := func(g string) error {
		if g != "" && g != GroupConfig && g != GroupData && !slices.Contains(c.Replicasets(), g) {
			return fmt.Errorf("no group %q", g)
		}
		return nil
	}
	if !slices.Contains(Kinds, f.Kind) {
		return fmt.Errorf("unknown fault %q", f.Kind)
	}
	if err := group(f.Group); err != nil {
		return err
	}
	switch f.Kind {
	case Partition:
		if f.Shape != "" && !slices.Contains(Shapes, f.Shape) {
			return fmt.Errorf("unknown partition shape %q", f.Shape)
		}
		for _, c := range f.Components {
			for _, id := range c {
				if err := node(id); err != nil {
					return err
				}
			}
		}
	case Link:
		for _, id := range append(slices.Clone(f.From), f.To...) {
			if err := node(id); err != nil {
				return err
			}
		}
	case Endpoint:
		return n.validateEndpoint(c, f)
	case Broker:
		return n.validateBroker(c, f)
	case DCLink:
		return n.validateDCLink(f)
	case Disk:
		if n.cfg.DiskDir == "" {
			return fmt.Errorf("disk faults need Config.DiskDir")
		}
		for _, e := range f.Errors {
			if !slices.Contains(DiskOps, e) {
				return fmt.Errorf("unknown disk operation %q", e)
			}
		}
		fallthrough
	default:
		if f.Target != "" && !slices.Contains(Targets, f.Target) {
			return node(env.NodeID(f.Target))
		}
	}
	return nil
}

// validateEndpoint checks an endpoint fault's mode and, when the cluster
// simulates endpoints, that it has the one the fault names.
func (n *Nemesis) validateEndpoint(c Cluster, f *Fault) error {
	if err := checkMode(f, EndpointModes, EndpointSlow); err != nil {
		return err
	}
	if f.Mode == EndpointFail && !(f.FailRate >= 0 && f.FailRate <= 1) {
		return fmt.Errorf("endpoint fault's fail rate %v is not a probability", f.FailRate)
	}
	ec, ok := c.(EndpointCluster)
	if !ok {
		return nil // the fault is traced as unsupported when it fires
	}
	return simulates("endpoint", f.Endpoint, ec.Endpoints(), connector.Endpoint, connector.IsEndpoint,
		"its pipeline declares no outbound destination")
}

// validateBroker checks a broker fault's mode and, when the cluster
// simulates brokers, that it has the one the fault names.
func (n *Nemesis) validateBroker(c Cluster, f *Fault) error {
	if err := checkMode(f, BrokerModes, BrokerSlow); err != nil {
		return err
	}
	bc, ok := c.(BrokerCluster)
	if !ok {
		return nil // the fault is traced as unsupported when it fires
	}
	return simulates("broker", f.Broker, bc.Brokers(), connector.InboundEndpoint, connector.IsInboundEndpoint,
		"its pipeline declares no kafka connector")
}

// checkMode checks that an endpoint or broker fault's mode is one of
// modes, and that in mode slow it has a latency.
func checkMode(f *Fault, modes []string, slow string) error {
	if !slices.Contains(modes, f.Mode) {
		return fmt.Errorf("unknown %s mode %q (want %s)", f.Kind, f.Mode, strings.Join(modes, ", "))
	}
	if f.Mode == slow && f.Latency <= 0 {
		return fmt.Errorf("%s fault in mode slow needs a latency above 0, got %s", f.Kind, f.Latency)
	}
	return nil
}

// simulates checks that the node a fault names is among those the cluster
// simulates (have), and else lists the ones there are. kind is the node's
// kind ("endpoint", "broker"), name the fault's name for it; id and nameOf
// map between names and node names; whyNone says why a cluster simulates
// none.
func simulates(kind, name string, have []env.NodeID, id func(string) env.NodeID, nameOf func(env.NodeID) (string, bool), whyNone string) error {
	if slices.Contains(have, id(name)) {
		return nil
	}
	if len(have) == 0 {
		return fmt.Errorf("no %s %q: the cluster simulates none (%s)", kind, name, whyNone)
	}
	names := make([]string, len(have))
	for i, h := range have {
		names[i], _ = nameOf(h)
	}
	return fmt.Errorf("no %s %q (the cluster simulates %s)", kind, name, strings.Join(names, ", "))
}

// fire starts occurrence occ of a step.
func (n *Nemesis) fire(step, occ int) {
	s := n.steps[step-1]
	var f Fault
	if s.Fault != nil {
		f = *s.Fault
	} else {
		f = pick(n.w, s.Pick)
	}
	o := &occurrence{step: step, n: occ, f: f}
	o.c, _ = n.clusterOf(&f) // validated by Schedule
	what, why := n.start(o)
	fields := []env.Field{env.Int("step", int64(step)), env.Int("n", int64(occ)), env.Str("fault", string(f.Kind)),
		env.Str("group", o.group), env.Str("targets", env.Join(o.targets)), env.Str("what", what),
		env.Bool("effect", why == ""), env.Str("why", why)}
	switch f.Kind {
	case Endpoint:
		fields = append(fields, env.Str("endpoint", f.Endpoint), env.Str("mode", f.Mode))
	case Broker:
		fields = append(fields, env.Str("broker", f.Broker), env.Str("mode", f.Mode))
	case DCLink:
		fields = append(fields, env.Str("between", strings.Join(n.between(&f), ",")), env.Str("mode", f.Mode))
	}
	if f.Cluster != "" {
		fields = append(fields, env.Str("cluster", f.Cluster))
	}
	n.w.Note(Source, "nemesis.start", fields...)
	if f.instantaneous() {
		o.stopped = true
		return
	}
	n.active = append(n.active, o)
	if s.For > 0 {
		n.w.After(s.For, func() { n.stop(o, "") })
	}
}

// pick draws one alternative by weight.
func pick(w World, alts []Fault) Fault {
	total := 0
	for _, a := range alts {
		total += max(a.Weight, 1)
	}
	x := w.Rand().IntN(total)
	for _, a := range alts {
		x -= max(a.Weight, 1)
		if x < 0 {
			return a
		}
	}
	panic("nemesis: pick fell off its alternatives")
}

// start applies an occurrence's fault. It returns what it did and, when
// it took no effect, why not.
func (n *Nemesis) start(o *occurrence) (what, why string) {
	f := &o.f
	if l, ok := n.w.(Limited); ok {
		if why := l.Unsupported(f); why != "" {
			o.unsupported = true
			return string(f.Kind), why
		}
	}
	switch f.Kind {
	case Partition:
		g, why := n.grudge(o)
		name := f.Shape
		if name == "" {
			name = "components"
		}
		what := name + ": " + g.what
		if why != "" {
			return what, why
		}
		o.links = sortedLinks(g)
		n.snapshotLinks(o)
		for _, l := range o.links {
			n.cut(l)
		}
		if len(o.links) == 0 {
			return what, "the shape cuts no link"
		}
		return what, ""
	case Link:
		o.links = n.linkSet(o.c, f)
		n.snapshotLinks(o)
		if onlyLoss(f) {
			for _, l := range o.links {
				n.cut(l)
			}
		} else {
			n.relink(o.links, o)
		}
		return describeLink(f, len(o.links)), ""
	case Endpoint:
		return n.startEndpoint(o)
	case Broker:
		return n.startBroker(o)
	case DCLink:
		return n.startDCLink(o)
	}
	targets, why := n.targets(o)
	o.targets = targets
	if why != "" {
		return "", why
	}
	var hit []env.NodeID
	switch f.Kind {
	case Kill:
		for _, id := range targets {
			if n.w.Kill(id) {
				n.owner[id] = o
				hit = append(hit, id)
			}
		}
		return "killed " + env.Join(hit), none(hit, "every target was down already")
	case Restart:
		for _, id := range targets {
			n.w.Kill(id)
			if n.w.Restart(id) {
				hit = append(hit, id)
			}
		}
		return "restarted " + env.Join(hit), none(hit, "no target restarted")
	case Pause:
		for _, id := range targets {
			if n.w.Pause(id) {
				n.owner[id] = o
				hit = append(hit, id)
			}
		}
		return "paused " + env.Join(hit), none(hit, "every target was down or paused already")
	case Clock:
		for _, id := range targets {
			n.skewed[id] = true
			n.clock(id, f, true)
			if n.w.Up(id) {
				hit = append(hit, id)
			}
		}
		return describeClock(f), none(hit, "every target was down")
	case Disk:
		o.errors = map[env.NodeID]int64{}
		for _, id := range targets {
			n.faulty[id] = true
			o.errors[id] = n.w.DiskErrors(id)
			must(n.w.SetDiskFaults(id, n.diskFaults(f)))
		}
		return fmt.Sprintf("%s fail with probability %g under %s", strings.Join(f.Errors, ", "), f.Probability, n.cfg.DiskDir), ""
	}
	panic(fmt.Sprintf("nemesis: unknown fault %q", f.Kind))
}

func none(hit []env.NodeID, why string) string {
	if len(hit) == 0 {
		return why
	}
	return ""
}

// stop undoes an occurrence, if it is still active, and traces what it
// measured while it lasted.
func (n *Nemesis) stop(o *occurrence, note string) {
	if o.stopped {
		return
	}
	o.stopped = true
	n.active = slices.DeleteFunc(n.active, func(a *occurrence) bool { return a == o })
	fields := []env.Field{env.Int("step", int64(o.step)), env.Int("n", int64(o.n)), env.Str("fault", string(o.f.Kind))}
	var sent, dropped, duplicated, diskErrors int64
	if o.links != nil {
		sent, dropped, duplicated = n.linkDelta(o)
	}
	kind := o.f.Kind
	if o.unsupported {
		kind = ""
	}
	switch kind {
	case Partition:
		for _, l := range o.links {
			n.uncut(l)
		}
	case Link:
		if onlyLoss(&o.f) {
			for _, l := range o.links {
				n.uncut(l)
			}
		} else {
			n.relink(o.links, nil)
		}
	case Kill:
		for _, id := range o.targets {
			if n.owner[id] == o {
				delete(n.owner, id)
				n.w.Restart(id)
			}
		}
	case Pause:
		for _, id := range o.targets {
			if n.owner[id] == o {
				delete(n.owner, id)
				n.w.Resume(id)
			}
		}
	case Clock:
		for _, id := range o.targets {
			n.clock(id, &o.f, false)
		}
	case Endpoint:
		n.stopEndpoint(o)
	case Broker:
		n.stopBroker(o)
	case DCLink:
		n.stopDCLink(o)
	case Disk:
		for _, id := range o.targets {
			diskErrors += n.w.DiskErrors(id) - o.errors[id]
			must(n.w.SetDiskFaults(id, simnet.DiskFaults{}))
			// A node its disk crashed comes back, as a supervisor would
			// restart it, unless another fault holds it down.
			if !n.w.Up(id) && n.owner[id] == nil {
				n.w.Restart(id)
			}
		}
	}
	fields = append(fields, env.Int("sent", sent), env.Int("dropped", dropped), env.Int("duplicated", duplicated),
		env.Int("disk_errors", diskErrors), env.Str("note", note))
	if o.f.Cluster != "" {
		fields = append(fields, env.Str("cluster", o.f.Cluster))
	}
	n.w.Note(Source, "nemesis.stop", fields...)
}

// Heal ends every active occurrence and undoes everything a fault can
// leave behind: every link restored to the base network, every instance
// resumed, restarted if down, its clocks true and its disk sound.
func (n *Nemesis) Heal() {
	for len(n.active) > 0 {
		n.stop(n.active[0], "final heal")
	}
	n.w.Note(Source, "nemesis.heal")
	n.w.Heal()
	for _, id := range n.instances() {
		if n.w.Paused(id) {
			n.w.Resume(id)
		}
		if !n.w.Up(id) {
			n.w.Restart(id)
		}
		if n.skewed[id] {
			n.w.SetClockOffset(id, 0)
			must(n.w.SetClockStrobe(id, 0, 0))
			must(n.w.SetClockDrift(id, 0))
		}
		if n.faulty[id] {
			must(n.w.SetDiskFaults(id, simnet.DiskFaults{}))
		}
	}
	clear(n.owner)
	clear(n.skewed)
	clear(n.faulty)
	clear(n.modes)
}

// startEndpoint applies an endpoint fault: down cuts the endpoint's links
// with every instance both ways; fail and slow set its mode. It records
// the links either way, so that nemesis.stop counts the pushes and
// answers that crossed them while it lasted.
func (n *Nemesis) startEndpoint(o *occurrence) (what, why string) {
	f := &o.f
	ec, ok := o.c.(EndpointCluster)
	if !ok {
		o.unsupported = true
		return "endpoint " + f.Endpoint + " " + f.Mode, "not applied: this cluster's destinations are real systems, and only the simulator's endpoints take faults"
	}
	id := connector.Endpoint(f.Endpoint)
	o.targets = []env.NodeID{id}
	n.watchLinks(o, id)
	if f.Mode == EndpointDown {
		for _, l := range o.links {
			n.cut(l)
		}
		return fmt.Sprintf("%s down: %d links cut", f.Endpoint, len(o.links)), ""
	}
	n.modes[id] = o
	must(ec.SetEndpointMode(id, endpointMode(f)))
	what = describeEndpoint(f)
	if !n.w.Up(id) {
		return what, "the endpoint was down"
	}
	return what, ""
}

// stopEndpoint undoes an endpoint fault: its cuts, or its mode, which
// gives way to the latest other fail or slow fault still active on the
// endpoint, or to up.
func (n *Nemesis) stopEndpoint(o *occurrence) {
	if o.f.Mode == EndpointDown {
		for _, l := range o.links {
			n.uncut(l)
		}
		return
	}
	if next, ok := n.yieldMode(o); ok {
		must(o.c.(EndpointCluster).SetEndpointMode(o.targets[0], endpointMode(next)))
	}
}

// endpointMode is the mode a fail or slow fault sets, and up for none.
func endpointMode(f *Fault) endpoint.SetMode {
	if f == nil {
		return endpoint.SetMode{Mode: endpoint.Up}
	}
	if f.Mode == EndpointSlow {
		return endpoint.SetMode{Mode: endpoint.Slow, Delay: f.Latency}
	}
	return endpoint.SetMode{Mode: endpoint.Fail, FailRate: f.FailRate}
}

// startBroker applies a broker fault: down and slow set the broker's
// mode, and record its links with every instance, so that nemesis.stop
// counts the requests and answers that crossed them while it lasted;
// rebalance starts a new generation of its consumer group.
func (n *Nemesis) startBroker(o *occurrence) (what, why string) {
	f := &o.f
	bc, ok := o.c.(BrokerCluster)
	if !ok {
		o.unsupported = true
		return "broker " + f.Broker + " " + f.Mode, "not applied: this cluster's connectors read real brokers, and only the simulator's brokers take faults"
	}
	id := connector.InboundEndpoint(f.Broker)
	o.targets = []env.NodeID{id}
	if f.Mode == BrokerRebalance {
		must(bc.Rebalance(f.Broker))
		what = f.Broker + " rebalance: a new generation of its consumer group"
	} else {
		n.watchLinks(o, id)
		n.modes[id] = o
		must(bc.SetBrokerMode(f.Broker, brokerMode(f)))
		what = describeBroker(f)
	}
	if !n.w.Up(id) {
		return what, "the broker was down"
	}
	return what, ""
}

// stopBroker undoes a broker's down or slow fault: its mode gives way to
// the latest other down or slow fault still active on the broker, or to
// up.
func (n *Nemesis) stopBroker(o *occurrence) {
	if next, ok := n.yieldMode(o); ok {
		must(o.c.(BrokerCluster).SetBrokerMode(o.f.Broker, brokerMode(next)))
	}
}

// watchLinks records the links between id and every instance, both ways,
// and what has crossed them so far, so that nemesis.stop counts what
// crossed them while o lasted.
func (n *Nemesis) watchLinks(o *occurrence, id env.NodeID) {
	for _, inst := range o.c.Instances() {
		o.links = append(o.links, link{inst, id}, link{id, inst})
	}
	n.snapshotLinks(o)
}

// yieldMode ends o's mode on its endpoint or broker, if it is the one in
// force there, and reports whether it was: the mode then gives way to
// that of the latest other active fault setting one on the same node,
// which it returns, or to up (nil).
func (n *Nemesis) yieldMode(o *occurrence) (next *Fault, inForce bool) {
	id := o.targets[0]
	if n.modes[id] != o {
		return nil, false
	}
	delete(n.modes, id)
	for _, a := range slices.Backward(n.active) {
		if a.f.Kind == o.f.Kind && a.f.setsMode() && !a.unsupported && a.targets[0] == id {
			n.modes[id] = a
			return &a.f, true
		}
	}
	return nil, true
}

// brokerMode is the mode a down or slow fault sets, and up for none.
func brokerMode(f *Fault) endpoint.KafkaMode {
	if f == nil {
		return endpoint.KafkaMode{Mode: endpoint.Up}
	}
	if f.Mode == BrokerSlow {
		return endpoint.KafkaMode{Mode: endpoint.Slow, Delay: f.Latency}
	}
	return endpoint.KafkaMode{Mode: endpoint.Down}
}

func describeBroker(f *Fault) string {
	if f.Mode == BrokerSlow {
		return fmt.Sprintf("%s slow: answers %s late", f.Broker, f.Latency)
	}
	return f.Broker + " down: ignores every request"
}

func describeEndpoint(f *Fault) string {
	if f.Mode == EndpointSlow {
		return fmt.Sprintf("%s slow: answers %s late", f.Endpoint, f.Latency)
	}
	if f.FailRate == 0 || f.FailRate == 1 {
		return f.Endpoint + " fails: refuses every item"
	}
	return fmt.Sprintf("%s fails: refuses %g of items", f.Endpoint, f.FailRate)
}

// group resolves a fault's group: data is the only replicaset, or one
// drawn from the seed.
func (n *Nemesis) group(c Cluster, name string) string {
	if name != GroupData {
		return name
	}
	rs := c.Replicasets()
	if len(rs) == 1 {
		return rs[0]
	}
	return rs[n.w.Rand().IntN(len(rs))]
}

// grudge resolves a partition.
func (n *Nemesis) grudge(o *occurrence) (grudge, string) {
	f := &o.f
	nodes := o.c.Instances()
	if f.Shape == "" {
		return split(nodes, f.Components), ""
	}
	var isolated []env.NodeID
	switch f.Shape {
	case IsolateLeader:
		o.group = n.group(o.c, f.Group)
		l, ok := o.c.Leader(o.group)
		if !ok {
			return grudge{what: "no leader"}, o.group + " had no leader"
		}
		isolated = []env.NodeID{l}
	case IsolateVoters:
		isolated = o.c.Voters()
	}
	return shape(f.Shape, nodes, n.w.Rand(), isolated), ""
}

// targets resolves the instances a process, clock or disk fault hits.
func (n *Nemesis) targets(o *occurrence) ([]env.NodeID, string) {
	nodes := o.c.Instances()
	r := n.w.Rand()
	switch o.f.Target {
	case TargetRandom, "":
		return []env.NodeID{nodes[r.IntN(len(nodes))]}, ""
	case TargetAll:
		return nodes, ""
	case TargetMinority:
		if len(nodes) < 3 {
			return nil, "no minority of fewer than three instances"
		}
		return sorted(nodes, shuffled(r, nodes)[:(len(nodes)-1)/2]), ""
	case TargetMajority:
		return sorted(nodes, shuffled(r, nodes)[:len(nodes)/2+1]), ""
	case TargetLeader, TargetFollowers, TargetFollower:
		o.group = n.group(o.c, o.f.Group)
		l, ok := o.c.Leader(o.group)
		if o.f.Target == TargetLeader {
			if !ok {
				return nil, o.group + " had no leader"
			}
			return []env.NodeID{l}, ""
		}
		var out []env.NodeID
		for _, id := range o.c.Members(o.group) {
			if id != l {
				out = append(out, id)
			}
		}
		if o.f.Target == TargetFollower && len(out) > 0 {
			out = []env.NodeID{out[r.IntN(len(out))]}
		}
		return out, ""
	}
	return []env.NodeID{env.NodeID(o.f.Target)}, ""
}

// linkSet lists the directed links a link fault changes.
func (n *Nemesis) linkSet(c Cluster, f *Fault) []link {
	from, to := f.From, f.To
	if len(from) == 0 {
		from = c.Instances()
	}
	if len(to) == 0 {
		to = c.Instances()
	}
	seen := map[link]bool{}
	var out []link
	add := func(l link) {
		if l.from != l.to && !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	for _, a := range from {
		for _, b := range to {
			add(link{a, b})
			if !f.OneWay {
				add(link{b, a})
			}
		}
	}
	return out
}

// onlyLoss reports whether a link fault is a plain cut: loss 1 and nothing
// else. It is applied as a cut, so that the trace and the checkers see the
// links as unreachable rather than lossy.
func onlyLoss(f *Fault) bool {
	return f.Loss != nil && *f.Loss == 1 && f.Delay == nil && f.Duplicate == nil && f.Reorder == nil
}

// relink sets each link to the base network with every active link
// fault on it applied in the order they started.
func (n *Nemesis) relink(links []link, adding *occurrence) {
	active := n.active
	if adding != nil {
		active = append(slices.Clone(active), adding)
	}
	for _, l := range links {
		base := n.base(l)
		c := base
		for _, o := range active {
			if relinks(&o.f) && !o.stopped && slices.Contains(o.links, l) {
				if o.f.Kind == DCLink {
					slower(&c, *o.f.Delay)
				} else {
					apply(&c, &o.f, base)
				}
			}
		}
		must(n.w.SetLink(l.from, l.to, c))
	}
}

// apply adds a link fault to a link's configuration. Extra delay adds to
// the base latency's bounds and takes the fault's distribution.
func apply(c *simnet.LinkConfig, f *Fault, base simnet.LinkConfig) {
	if f.Loss != nil {
		c.Loss = *f.Loss
	}
	if f.Delay != nil {
		c.Latency = simnet.Latency{Dist: f.Delay.Dist, Min: base.Latency.Min + f.Delay.Min, Max: max(base.Latency.Min, base.Latency.Max) + f.Delay.Max}
	}
	if f.Duplicate != nil {
		c.Duplicate = *f.Duplicate
	}
	if f.Reorder != nil {
		c.Reorder = *f.Reorder
	}
}

func (n *Nemesis) cut(l link) {
	n.cuts[l]++
	if n.cuts[l] == 1 {
		n.w.Cut(l.from, l.to)
	}
}

func (n *Nemesis) uncut(l link) {
	n.cuts[l]--
	if n.cuts[l] == 0 {
		delete(n.cuts, l)
		n.w.Uncut(l.from, l.to)
	}
}

// snapshotLinks remembers the traffic counters of an occurrence's links.
func (n *Nemesis) snapshotLinks(o *occurrence) {
	o.before = n.linkStats(o.links)
}

func (n *Nemesis) linkStats(links []link) map[link]simnet.KindStats {
	want := map[link]bool{}
	for _, l := range links {
		want[l] = true
	}
	out := map[link]simnet.KindStats{}
	for _, ls := range n.w.Links() {
		l := link{ls.From, ls.To}
		if !want[l] {
			continue
		}
		var sum simnet.KindStats
		for _, k := range ls.Kinds {
			sum.Sent += k.Sent
			sum.Dropped += k.Dropped
			sum.Duplicated += k.Duplicated
		}
		out[l] = sum
	}
	return out
}

// linkDelta is the traffic on an occurrence's links while it lasted.
func (n *Nemesis) linkDelta(o *occurrence) (sent, dropped, duplicated int64) {
	after := n.linkStats(o.links)
	for _, l := range o.links {
		a, b := after[l], o.before[l]
		sent += int64(a.Sent - b.Sent)
		dropped += int64(a.Dropped - b.Dropped)
		duplicated += int64(a.Duplicated - b.Duplicated)
	}
	return sent, dropped, duplicated
}

// clock applies a clock fault to an instance, or takes it back.
func (n *Nemesis) clock(id env.NodeID, f *Fault, on bool) {
	var err error
	switch {
	case f.Offset != nil:
		off := *f.Offset
		if !on {
			off = 0
		}
		n.w.SetClockOffset(id, off)
	case f.Drift != nil:
		d := *f.Drift
		if !on {
			d = 0
		}
		err = n.w.SetClockDrift(id, d)
	case f.Strobe != nil:
		s := *f.Strobe
		if !on {
			s = Strobe{}
		}
		err = n.w.SetClockStrobe(id, s.Offset, s.Period)
	}
	must(err)
}

// must panics on an error from the World that Schedule's validation and
// the scenario loader rule out; the World reports the panic with the seed
// and the time.
func must(err error) {
	if err != nil {
		panic(fmt.Sprintf("nemesis: %v", err))
	}
}

// diskFaults is what a disk fault asks of the simulator.
func (n *Nemesis) diskFaults(f *Fault) simnet.DiskFaults {
	ops, err := simnet.DiskOps(f.Errors...)
	must(err)
	return simnet.DiskFaults{Ops: ops, Probability: f.Probability, Under: n.cfg.DiskDir}
}

func sortedLinks(g grudge) []link {
	var out []link
	for _, a := range g.nodes {
		for _, b := range g.nodes {
			if g.cut[link{a, b}] {
				out = append(out, link{a, b})
			}
		}
	}
	return out
}

func describeLink(f *Fault, links int) string {
	var parts []string
	if f.Loss != nil {
		parts = append(parts, fmt.Sprintf("loss %g", *f.Loss))
	}
	if f.Delay != nil {
		parts = append(parts, fmt.Sprintf("delay %s %s..%s", f.Delay.Dist, f.Delay.Min, f.Delay.Max))
	}
	if f.Duplicate != nil {
		parts = append(parts, fmt.Sprintf("duplicate %g", *f.Duplicate))
	}
	if f.Reorder != nil {
		parts = append(parts, fmt.Sprintf("reorder %t", *f.Reorder))
	}
	return fmt.Sprintf("%s on %d links", strings.Join(parts, ", "), links)
}

func describeClock(f *Fault) string {
	switch {
	case f.Offset != nil:
		return "offset " + f.Offset.String()
	case f.Drift != nil:
		return fmt.Sprintf("drift %g", *f.Drift)
	case f.Strobe != nil:
		return fmt.Sprintf("strobe %s every %s", f.Strobe.Offset, f.Strobe.Period)
	}
	return ""
}
