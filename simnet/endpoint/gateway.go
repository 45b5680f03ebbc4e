package endpoint

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/shoaldb/shoal/core/connector"
	"github.com/shoaldb/shoal/core/env"
	"github.com/shoaldb/shoal/core/kv"
)

// Gateway is the simulator's link from one cluster to another: it stands
// at connector.Endpoint(destination) for an outbound destination of type
// shoal (connector.Replication) and forwards every item pushed to it to
// the receiving cluster as an enqueue, exactly as a client of that
// cluster would: a kv.Request to one of its instances, redirects
// followed, resent with the same (client, sequence) when unanswered. An
// item is answered ok ("") only once the receiving cluster acknowledged
// its enqueue (StatusOK, which a duplicate id gets too); busy, any other
// refusal, or no acknowledgement before the push's Timeout is an error,
// and the sending cluster tries the item again later. A production
// sender (core/live) does the same over HTTP.
//
// Its messages to and from the receiving cluster's instances cross the
// simulated network, so link faults and the dc links (nemesis fault
// dclink) apply to them.
//
// It takes SetMode as an endpoint does: fail refuses items without
// forwarding them, slow answers each push Delay after its last item
// settled; an endpoint fault in mode down cuts its links with the
// sending cluster's instances.
//
// Bounded: at most MaxInFlight enqueues outstanding (one per lane, a
// lane being one client of the receiving cluster with its own sequence
// numbers) and at most MaxWaiting items waiting for a lane; a push that
// would pass that is refused whole at once.
//
// Trace events, with the gateway's node name in the node field, as an
// endpoint's, so that the outbound check judges replication as any
// destination:
//
//	endpoint.mode     as an endpoint's
//	endpoint.receive  as an endpoint's, once the receiving cluster
//	                  acknowledged the item; plus cluster (the
//	                  receiving cluster) and via (the instance that
//	                  acknowledged it)
//	endpoint.refuse   as an endpoint's, plus cluster
type Gateway struct {
	e    env.Env
	dest string
	cfg  GatewayConfig
	mode SetMode
	// client prefixes the lanes' client names: the node, and a nonce of
	// this incarnation, so that a restarted gateway never reuses a
	// (client, sequence) the receiving cluster remembers, which it would
	// answer ok without enqueuing anything.
	client  string
	lanes   []*gwLane
	waiting []gwItem // items waiting for a lane, in push order
	pushes  []*gwPush
	leaders map[int]env.NodeID // bucket → the instance that last acknowledged for it
	taken   keyMemory
}

var _ env.Node = (*Gateway)(nil)

// GatewayConfig shapes a gateway.
type GatewayConfig struct {
	// Cluster is the receiving cluster's name, Servers its instances.
	Cluster string
	Servers []env.NodeID
	// Connector is the receiving cluster's inbound connector the items
	// are enqueued to (connector.Replication.Connector).
	Connector string
	// Buckets is the receiving cluster's bucket count, to remember
	// leaders by bucket; 0 is kv.DefaultBuckets.
	Buckets int
	// MaxInFlight bounds the enqueues outstanding; 0 is
	// DefaultGatewayInFlight.
	MaxInFlight int
	// MaxWaiting bounds the items waiting for a lane; 0 is
	// DefaultGatewayWaiting.
	MaxWaiting int
	// Retry is how long an enqueue waits for an answer before it is sent
	// again, to another instance; 0 is DefaultGatewayRetry.
	Retry time.Duration
	// Initial is the mode at every start, as Config.Initial.
	Initial SetMode
	// MaxKeys bounds the idempotency keys remembered; 0 is DefaultMaxKeys.
	MaxKeys int
}

// Defaults of a GatewayConfig.
const (
	DefaultGatewayInFlight = 64
	DefaultGatewayWaiting  = 4096
	DefaultGatewayRetry    = time.Second
	// gatewayTimeout is a push's deadline when it carries no Timeout.
	gatewayTimeout = 10 * time.Second
	// gatewayHops bounds the redirects one attempt follows: leaders
	// change, but not forever.
	gatewayHops = 8
)

// gwPush is a push being forwarded.
type gwPush struct {
	from    env.NodeID
	p       *connector.Push
	results []string
	settled []bool
	left    int
	done    bool
}

// gwItem is one item of a push.
type gwItem struct {
	push *gwPush
	i    int
}

// gwLane is one client of the receiving cluster, with at most one
// enqueue outstanding.
type gwLane struct {
	client   string
	seq      uint64
	cur      *gwItem
	req      *kv.Request
	attempts int
	hops     int
}

type (
	gwRetry struct {
		lane     int
		seq      uint64
		attempts int
	}
	gwDeadline struct{ push *gwPush }
)

func (gwRetry) Kind() string    { return "gateway.retry" }
func (gwDeadline) Kind() string { return "gateway.deadline" }

// StartGateway returns the env.Start of a gateway. The node must be named
// connector.Endpoint(destination).
func StartGateway(cfg GatewayConfig) env.Start {
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = DefaultGatewayInFlight
	}
	if cfg.MaxWaiting <= 0 {
		cfg.MaxWaiting = DefaultGatewayWaiting
	}
	if cfg.Retry <= 0 {
		cfg.Retry = DefaultGatewayRetry
	}
	if cfg.Buckets <= 0 {
		cfg.Buckets = kv.DefaultBuckets
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = DefaultMaxKeys
	}
	return func(e env.Env) (env.Node, error) {
		dest, ok := connector.IsEndpoint(e.ID())
		if !ok {
			return nil, fmt.Errorf("gateway: node %q is not named %s+destination", e.ID(), connector.EndpointPrefix)
		}
		switch {
		case len(cfg.Servers) == 0:
			return nil, fmt.Errorf("gateway %s: cluster %q has no instances to forward to", e.ID(), cfg.Cluster)
		case cfg.Connector == "":
			return nil, fmt.Errorf("gateway %s: no inbound connector of cluster %q named", e.ID(), cfg.Cluster)
		}
		if err := cfg.Initial.Validate(); err != nil {
			return nil, err
		}
		g := &Gateway{e: e, dest: dest, cfg: cfg, leaders: map[int]env.NodeID{},
			client: string(e.ID()) + "/" + strconv.FormatUint(e.Rand().Uint64(), 36), taken: newKeyMemory(cfg.MaxKeys)}
		g.setMode(cfg.Initial)
		return g, nil
	}
}

// Destination is the destination this gateway forwards for.
func (g *Gateway) Destination() string { return g.dest }

// Cluster is the receiving cluster's name.
func (g *Gateway) Cluster() string { return g.cfg.Cluster }

// InFlight is how many enqueues are outstanding, and Waiting how many
// items wait for a lane.
func (g *Gateway) InFlight() int {
	n := 0
	for _, l := range g.lanes {
		if l.cur != nil {
			n++
		}
	}
	return n
}

// Waiting is how many items wait for a lane.
func (g *Gateway) Waiting() int { return len(g.waiting) }

// Receive takes a push from the sending cluster, or an answer from the
// receiving one.
func (g *Gateway) Receive(from env.NodeID, m env.Message) {
	switch m := m.(type) {
	case *connector.Push:
		g.push(from, m)
	case *kv.Response:
		g.answered(from, m)
	}
}

// push starts forwarding a push's items, or refuses it.
func (g *Gateway) push(from env.NodeID, p *connector.Push) {
	gp := &gwPush{from: from, p: p, results: make([]string, len(p.Items)), settled: make([]bool, len(p.Items)), left: len(p.Items)}
	reason := ""
	switch {
	case p.Destination != g.dest:
		reason = fmt.Sprintf("destination %q is not %q", p.Destination, g.dest)
	case len(g.waiting)+len(p.Items) > g.cfg.MaxWaiting:
		reason = fmt.Sprintf("gateway to cluster %s is full: %d items wait for the link", g.cfg.Cluster, len(g.waiting))
	}
	for i := range p.Items {
		switch {
		case reason != "":
			g.settle(gp, i, reason, "")
		case g.mode.Mode == Fail && g.refuses():
			g.settle(gp, i, g.mode.Reason, "")
		default:
			g.waiting = append(g.waiting, gwItem{push: gp, i: i})
		}
	}
	if gp.left == 0 {
		g.answer(gp)
		return
	}
	g.pushes = append(g.pushes, gp)
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = gatewayTimeout
	}
	g.e.After(timeout, gwDeadline{push: gp})
	g.pump()
}

// refuses draws whether fail mode refuses the next item, as an
// endpoint's.
func (g *Gateway) refuses() bool {
	r := g.mode.FailRate
	if r == 0 || r == 1 {
		return true
	}
	return g.e.Rand().Float64() < r
}

// pump hands waiting items to free lanes, opening lanes up to
// MaxInFlight.
func (g *Gateway) pump() {
	for len(g.waiting) > 0 {
		l := g.freeLane()
		if l < 0 {
			return
		}
		it := g.waiting[0]
		g.waiting = g.waiting[1:]
		g.forward(l, it)
	}
}

// freeLane is the lowest lane with nothing outstanding, a new one if
// every lane is busy and there is room, else -1.
func (g *Gateway) freeLane() int {
	for i, l := range g.lanes {
		if l.cur == nil {
			return i
		}
	}
	if len(g.lanes) >= g.cfg.MaxInFlight {
		return -1
	}
	g.lanes = append(g.lanes, &gwLane{client: g.client + "/" + strconv.Itoa(len(g.lanes))})
	return len(g.lanes) - 1
}

// forward sends one item as an enqueue on lane l.
func (g *Gateway) forward(l int, it gwItem) {
	lane := g.lanes[l]
	item := &it.push.p.Items[it.i]
	id := item.IdempotencyKey
	if v, ok := header(item.Request.Headers, "Idempotency-Key"); ok {
		id = v
	}
	hs := make([]kv.Header, len(item.Request.Headers))
	for i, h := range item.Request.Headers {
		hs[i] = kv.Header{Name: h.Name, Value: h.Value}
	}
	// kv.Message.Header looks names up by binary search.
	slices.SortStableFunc(hs, func(a, b kv.Header) int { return cmp.Compare(a.Name, b.Name) })
	lane.seq++
	lane.cur, lane.attempts, lane.hops = &it, 0, 0
	key := string(item.Request.Key)
	lane.req = &kv.Request{Client: lane.client, Seq: lane.seq, Op: kv.OpEnqueue, Key: key,
		Message: &kv.Message{ID: id, Connector: g.cfg.Connector, Headers: hs, Payload: item.Request.Body}}
	to, ok := g.leaders[kv.Bucket(key, g.cfg.Buckets)]
	if !ok {
		to = g.randomServer()
	}
	g.send(l, to)
}

func header(hs []connector.Header, name string) (string, bool) {
	for _, h := range hs {
		if h.Name == name {
			return h.Value, true
		}
	}
	return "", false
}

func (g *Gateway) randomServer() env.NodeID {
	return g.cfg.Servers[g.e.Rand().IntN(len(g.cfg.Servers))]
}

// send sends lane l's request to an instance, as a new attempt.
func (g *Gateway) send(l int, to env.NodeID) {
	lane := g.lanes[l]
	lane.attempts++
	lane.hops = 0
	g.e.Send(to, lane.req)
	g.e.After(g.cfg.Retry, gwRetry{lane: l, seq: lane.seq, attempts: lane.attempts})
}

// answered takes the receiving cluster's answer to an enqueue.
func (g *Gateway) answered(from env.NodeID, r *kv.Response) {
	l := slices.IndexFunc(g.lanes, func(l *gwLane) bool { return l.client == r.Client })
	if l < 0 {
		return
	}
	lane := g.lanes[l]
	if lane.cur == nil || r.Seq != lane.seq {
		return // an answer to an attempt of an item already settled
	}
	it := *lane.cur
	switch r.Status {
	case kv.StatusOK:
		g.leaders[kv.Bucket(lane.req.Key, g.cfg.Buckets)] = from
		g.release(lane)
		g.settle(it.push, it.i, "", from)
	case kv.StatusRedirect:
		to := r.Leader
		if to == "" {
			to = r.Hint
		}
		if to == "" || to == from || lane.hops >= gatewayHops {
			return // sent again at the retry
		}
		lane.hops++
		g.e.Send(to, lane.req)
		return
	case kv.StatusBusy:
		g.release(lane)
		g.settle(it.push, it.i, fmt.Sprintf("cluster %s is busy: %s", g.cfg.Cluster, r.Error), "")
	default:
		g.release(lane)
		g.settle(it.push, it.i, fmt.Sprintf("cluster %s refused the enqueue: %s: %s", g.cfg.Cluster, r.Status, r.Error), "")
	}
	if it.push.left == 0 {
		g.answer(it.push)
	}
	g.pump()
}

func (g *Gateway) release(lane *gwLane) { lane.cur, lane.req = nil, nil }

// settle records item i's fate: err "" is acknowledged by via.
func (g *Gateway) settle(gp *gwPush, i int, err string, via env.NodeID) {
	if gp.settled[i] {
		return
	}
	gp.settled[i], gp.results[i] = true, err
	gp.left--
	extra := []env.Field{env.Str("cluster", g.cfg.Cluster)}
	if err == "" {
		extra = append(extra, env.Str("via", string(via)))
	}
	traceFate(g.e, g.dest, &g.taken, gp.p, &gp.p.Items[i], gp.from, err, extra...)
}

// answer sends a push's results, once every item has one: at once, or
// Delay later in slow mode.
func (g *Gateway) answer(gp *gwPush) {
	if gp.done {
		return
	}
	gp.done = true
	g.pushes = slices.DeleteFunc(g.pushes, func(p *gwPush) bool { return p == gp })
	out := &connector.Pushed{ID: gp.p.ID, Replicaset: gp.p.Replicaset, Destination: gp.p.Destination,
		Results: make([]connector.Result, len(gp.p.Items))}
	for i := range gp.p.Items {
		out.Results[i] = connector.Result{Seq: gp.p.Items[i].Seq, Err: gp.results[i]}
	}
	if g.mode.Mode == Slow {
		g.e.After(g.mode.Delay, answer{to: gp.from, pushed: out})
		return
	}
	g.e.Send(gp.from, out)
}

// Handle handles retries, deadlines, mode changes and slow answers.
func (g *Gateway) Handle(ev env.Event) {
	switch ev := ev.(type) {
	case gwRetry:
		lane := g.lanes[ev.lane]
		if lane.cur == nil || lane.seq != ev.seq || lane.attempts != ev.attempts {
			return
		}
		g.send(ev.lane, g.randomServer())
	case gwDeadline:
		g.expire(ev.push)
	case SetMode:
		g.post(ev)
	case *SetMode:
		g.post(*ev)
	case answer:
		g.e.Send(ev.to, ev.pushed)
	}
}

// expire ends a push at its deadline: every item without an
// acknowledgement fails, its enqueue abandoned (it may still take effect
// in the receiving cluster; the sender sends it again, and the id makes
// the second enqueue a duplicate).
func (g *Gateway) expire(gp *gwPush) {
	if gp.done {
		return
	}
	why := fmt.Sprintf("no acknowledgement from cluster %s within %s", g.cfg.Cluster, cmp.Or(gp.p.Timeout, gatewayTimeout))
	g.waiting = slices.DeleteFunc(g.waiting, func(it gwItem) bool { return it.push == gp })
	for _, lane := range g.lanes {
		if lane.cur != nil && lane.cur.push == gp {
			g.release(lane)
		}
	}
	for i := range gp.p.Items {
		g.settle(gp, i, why, "")
	}
	g.answer(gp)
	g.pump()
}

func (g *Gateway) post(m SetMode) {
	if err := m.Validate(); err != nil {
		panic(fmt.Sprintf("gateway %s: posted %v", g.e.ID(), err))
	}
	g.setMode(m)
}

func (g *Gateway) setMode(m SetMode) { g.mode = traceMode(g.e, g.dest, m) }

// keyMemory remembers at most max idempotency keys, forgetting the
// oldest.
type keyMemory struct {
	taken map[string]struct{}
	keys  []string
	next  int
	max   int
}

func newKeyMemory(max int) keyMemory { return keyMemory{taken: map[string]struct{}{}, max: max} }

// take remembers key and reports whether it was new.
func (k *keyMemory) take(key string) bool {
	if _, seen := k.taken[key]; seen {
		return false
	}
	if len(k.keys) < k.max {
		k.keys = append(k.keys, key)
	} else {
		delete(k.taken, k.keys[k.next])
		k.keys[k.next] = key
		k.next = (k.next + 1) % k.max
	}
	k.taken[key] = struct{}{}
	return true
}
